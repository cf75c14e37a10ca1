//! # rill-kcl: the rill consumer (not built yet)
//!
//! This crate will hold the consumer of rill, the Rust counterpart of the Kinesis Client
//! Library: a scheduler that balances shards across workers through a lease table (SQLite or
//! DynamoDB), a `RecordProcessor` trait, checkpoints, polling and enhanced fan-out retrieval,
//! and deaggregation of KPL records. None of that exists yet; today the crate only fixes its
//! place in the workspace and its one dependency, the Kinesis API of `rill-engine`, which is
//! what the consumer will call:
//!
//! ```
//! use rill_engine::api::{GetRecordsInput, Kinesis};
//!
//! // The consumer's polling loop will be built from calls like this one.
//! async fn poll(kinesis: &dyn Kinesis, iterator: String) -> Result<Option<String>, rill_engine::api::Error> {
//!     let page = kinesis
//!         .get_records(GetRecordsInput { shard_iterator: iterator, ..Default::default() })
//!         .await?;
//!     Ok(page.next_shard_iterator)
//! }
//! ```
