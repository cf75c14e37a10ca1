#![no_main]
//! Fuzz target `request_json`: runs [`rill_fuzz::harness::request_json`] on each input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rill_fuzz::harness::request_json(data));
