#![no_main]
//! Fuzz target `agg`: runs [`rill_fuzz::harness::agg`] on each input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rill_fuzz::harness::agg(data));
