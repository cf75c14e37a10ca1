//! The harnesses of rill's fuzz targets (see `fuzz/README.md`). The targets in
//! `fuzz/fuzz_targets/` call [`harness`]; `engine/tests/fuzz_corpus.rs` compiles the same file
//! to replay the committed corpus on the stable toolchain.

pub mod harness;
