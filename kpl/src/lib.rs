//! # rill-kpl: the rill producer
//!
//! The Rust counterpart of the Kinesis Producer Library: hand it user records, one at a time,
//! as fast as you make them; it aggregates them in the KPL format per predicted shard, keeps
//! each shard under its write limit, packs PutRecords calls, retries what failed, and tells
//! you for every record where it landed or why it could not. It talks to any
//! [`Kinesis`](rill_engine::api::Kinesis): the embedded engine, `rill serve` or Amazon
//! Kinesis Data Streams through `Remote`.
//!
//! ```
//! use std::sync::Arc;
//! use rill_engine::api::{CreateStreamInput, Kinesis};
//! use rill_engine::{Engine, EngineConfig};
//! use rill_kpl::{Producer, ProducerConfig, Record};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
//! engine
//!     .create_stream(CreateStreamInput {
//!         stream_name: "orders".into(),
//!         shard_count: Some(2),
//!         ..Default::default()
//!     })
//!     .await?;
//!
//! let producer = Producer::new(Arc::new(engine), ProducerConfig::builder().build()?);
//! let stream: Arc<str> = "orders".into();
//! let mut results = Vec::new();
//! for i in 0..1000 {
//!     let record = Record::new(Arc::clone(&stream), format!("customer-{}", i % 10), format!("order {i}"));
//!     // Waits only when the buffer is full.
//!     results.push(producer.send(record).await?);
//! }
//! producer.flush().await;
//! for result in results {
//!     let ack = result.await?;
//!     assert!(ack.shard_id().starts_with("shardId-"));
//! }
//! producer.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Delivery guarantee
//!
//! **At least once, per acknowledged record.** A record whose future resolves to an
//! [`Ack`] is durably in the shard named by the ack, at that sequence number and
//! sub-sequence number. A record whose future resolves to a [`RecordError`] may still be in
//! the stream: a PutRecords call that timed out (`RequestTimeout`) may have been applied
//! before its retry was, so a consumer can see a record twice. No record is forgotten:
//! every future resolves, also when the producer is dropped or shut down (then records are
//! flushed first) or its runtime stops ([`RecordError::Stopped`]).
//!
//! ## Ordering
//!
//! By default, records of one partition key leave in `send` order, but a shard may have
//! several requests in flight at once (up to `MaxConnections`), which the service may
//! apply in either order, and a failed aggregate is retried while later ones of the same
//! shard may already have succeeded. [`ProducerConfigBuilder::strict_order`] keeps the order of every
//! partition key even across retries, at a cost: each shard has at most one Kinesis record
//! (one aggregate, up to `AggregationMaxSize` bytes) in flight at a time, so a shard's
//! throughput is at most one aggregate per round trip (about 51 KB per round trip with the
//! defaults, which is above a shard's 1 MiB/s for round trips under 50 ms, but one *user*
//! record per round trip with aggregation off), and a record waiting for a retry holds back
//! every later record of its shard (head-of-line blocking) until it is put or fails.
//!
//! ## Configuration
//!
//! [`ProducerConfig::builder`] has one setter per option with the KPL's name and default in
//! its doc; `build()` names the first bad parameter. See the [`config`] module.
//!
//! ## Metrics
//!
//! Through the `metrics` facade with the KPL's names, labelled by stream and shard: see the
//! table in [`metrics`] (its docs). Install any recorder to collect them.
//!
//! ## Modules
//!
//! * [`config`]: options and validation.
//! * `aggregator`: the per-shard aggregator and the Kinesis record it seals.
//! * `shard_map`: ListShards into a hash-key routing table.
//! * `limiter`: per-shard token buckets.
//! * `pipeline`: the task that owns every buffered record (collector, sender, retrier).
//! * `producer`: the handle, validation and backpressure.

mod aggregator;
pub mod config;
mod handoff;
mod limiter;
pub mod metrics;
mod pipeline;
mod producer;
mod record;
mod shard_map;
mod slot;

pub use config::{ConfigError, ProducerConfig, ProducerConfigBuilder};
pub use producer::{Producer, RecordFuture};
pub use record::{Ack, Attempt, Record, RecordError, SendError, TrySendError};
