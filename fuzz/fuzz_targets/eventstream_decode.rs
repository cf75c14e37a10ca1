#![no_main]
//! Fuzz target `eventstream_decode`: runs [`rill_fuzz::harness::eventstream_decode`] on each input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rill_fuzz::harness::eventstream_decode(data));
