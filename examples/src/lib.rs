//! Runnable examples for rill; see `examples/` in this package:
//!
//! * `quickstart`: creates a stream on the embedded engine, writes records with PutRecords and
//!   reads every one of them back from every shard, then prints a summary.
//!
//! ```
//! // The examples run with `cargo run --release --example <name>` from the workspace root.
//! assert!(!env!("CARGO_PKG_NAME").is_empty());
//! ```
