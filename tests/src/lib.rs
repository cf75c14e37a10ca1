//! Cross-crate and cross-process tests for rill.
//!
//! The tests live in `tests/tests/` (crash recovery, the examples as smoke tests); helper
//! binaries that the tests start as child processes live in `src/bin/` (for example
//! `crash_writer`, which writes through the embedded engine until the crash test kills it
//! with SIGKILL). This crate depends on every other crate with all features on, so that
//! `cargo test --workspace` builds and runs every feature-gated test.
//!
//! ```
//! // The tests run with `cargo test -p rill-tests`; the peers they need come from scripts/peers.
//! assert_eq!(env!("CARGO_PKG_NAME"), "rill-tests");
//! ```
