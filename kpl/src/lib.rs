//! # rill-kpl: the rill producer (not built yet)
//!
//! This crate will hold the aggregating producer of rill, the Rust counterpart of the Kinesis
//! Producer Library: KPL-format aggregation, PutRecords collection, per-shard rate limiting,
//! retries with backoff and per-record results, over any `dyn Kinesis`. None of that exists
//! yet; today the crate only fixes its place in the workspace and its one dependency, the
//! Kinesis API of `rill-engine`, which is what the producer will call:
//!
//! ```
//! use rill_engine::api::{Kinesis, PutRecordsInput, PutRecordsRequestEntry};
//!
//! // The producer will turn many small user records into requests like this one.
//! async fn send(kinesis: &dyn Kinesis) -> Result<i32, rill_engine::api::Error> {
//!     let out = kinesis
//!         .put_records(PutRecordsInput {
//!             stream_name: Some("orders".into()),
//!             records: vec![PutRecordsRequestEntry {
//!                 data: "hello".into(),
//!                 partition_key: "customer-1".into(),
//!                 explicit_hash_key: None,
//!             }],
//!             ..Default::default()
//!         })
//!         .await?;
//!     Ok(out.failed_record_count)
//! }
//! ```
