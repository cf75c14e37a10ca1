//! Shared by the test files that run the Kinesis behaviour suite (`tests/api.rs` against the
//! embedded engine, `tests/remote_suite.rs` against `Remote` and `rill serve`).

pub mod newer;
pub mod suite;
