//! Fault injection: a [`Kinesis`](rill_engine::api::Kinesis) wrapper that fails, slows down and hangs calls, by
//! configuration, to test what is built on top of a Kinesis service (producers, consumers,
//! your own code) against the failures Amazon Kinesis Data Streams really has.
//!
//! [`FaultyKinesis`] forwards every operation to an inner [`Kinesis`](rill_engine::api::Kinesis) (the embedded
//! `Engine`, a `Remote`, another wrapper) and, per call,
//! as its [`FaultConfig`] says:
//!
//! * **adds latency**: a fixed delay plus uniform jitter, before the call;
//! * **fails the call** with an injected error ([`InjectedError`]: `InternalFailure`,
//!   `ServiceUnavailable`, `ProvisionedThroughputExceededException`,
//!   `LimitExceededException`, ...) without calling the inner service;
//! * **hangs** ([`Timeout`]): the call does not answer for a while and then fails with an
//!   `InternalFailure` "timed out", or never answers (until the caller gives up and drops
//!   the future); optionally after the inner call was made (the request was applied);
//! * **fails after success**: the inner call is made and succeeds, but the caller gets an
//!   error, as when the response of an applied write is lost. This is what makes a producer
//!   write a record twice;
//! * **fails PutRecords entries** ([`EntryFaults`]): some entries of a call fail on their
//!   own with `ProvisionedThroughputExceededException` or `InternalFailure` while the others
//!   are written, as AWS answers a partially throttled PutRecords;
//! * **cuts SubscribeToShard streams** ([`StreamFaults`]): an event is replaced by an error
//!   (or the stream just ends) mid-subscription.
//!
//! Decisions come from a seeded random generator ([`FaultConfig::seed`]): the same sequence
//! of calls meets the same faults. The configuration can be replaced while the wrapper is in
//! use ([`FaultyKinesis::set_config`]) and faults switched off and on
//! ([`FaultyKinesis::set_enabled`]), to test recovery after an outage. Counters
//! ([`FaultyKinesis::counts`]) tell what was injected.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rill_engine::api::*;
//! use rill_testkit::kinesis::{FaultConfig, FaultyKinesis, InjectedError, Operation, OperationFaults};
//! use rill_engine::{Engine, EngineConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
//! let faulty = FaultyKinesis::new(
//!     Arc::new(engine),
//!     FaultConfig::new(42)
//!         // Every operation: 1 to 3 ms of latency.
//!         .for_all(OperationFaults::none().with_latency(Duration::from_millis(1), Duration::from_millis(2)))
//!         // PutRecord: always throttled.
//!         .for_operation(
//!             Operation::PutRecord,
//!             OperationFaults::none().with_errors(1.0, [InjectedError::ProvisionedThroughputExceeded]),
//!         ),
//! );
//! faulty
//!     .create_stream(CreateStreamInput {
//!         stream_name: "s".into(),
//!         shard_count: Some(1),
//!         ..Default::default()
//!     })
//!     .await?;
//! let put = faulty
//!     .put_record(PutRecordInput {
//!         stream_name: Some("s".into()),
//!         partition_key: "k".into(),
//!         data: "x".into(),
//!         ..Default::default()
//!     })
//!     .await;
//! assert!(matches!(put, Err(Error::ProvisionedThroughputExceeded(_))));
//! assert_eq!(faulty.counts_for(Operation::PutRecord).errors, 1);
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

mod config;
mod counts;
#[cfg(test)]
mod tests;
mod wrapper;

pub use config::{EntryFaults, FaultConfig, InjectedError, OperationFaults, StreamFaults, Timeout};
pub use counts::FaultCounts;
pub use wrapper::FaultyKinesis;

/// The operations faults are configured and counted by: the engine's operation table's
/// [`Operation`].
pub use rill_engine::api::Operation;
