#![no_main]
//! Fuzz target `request_cbor`: runs [`rill_fuzz::harness::request_cbor`] on each input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rill_fuzz::harness::request_cbor(data));
