#![no_main]
//! Fuzz target `eventstream_roundtrip`: runs [`rill_fuzz::harness::eventstream_roundtrip`] on each input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rill_fuzz::harness::eventstream_roundtrip(data));
