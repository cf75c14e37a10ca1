#![no_main]
//! Fuzz target `store_recovery`: runs [`rill_fuzz::harness::store_recovery`] on each input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rill_fuzz::harness::store_recovery(data));
