//! Cross-crate and cross-process tests for rill.
//!
//! The tests live in `tests/tests/`; helper binaries that the tests start as child processes
//! live in `src/bin/` (for example `crash_writer`, which writes through the embedded engine
//! until the crash test kills it with SIGKILL).
