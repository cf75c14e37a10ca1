//! # rill-kcl: the rill consumer
//!
//! The Rust counterpart of the Kinesis Client Library. Workers of one application share a
//! stream's shards through a lease table, survive the loss of any worker, and follow
//! resharding; the application implements a [`RecordProcessor`] per shard.
//!
//! * [`Scheduler`] runs one worker: shard sync, lease renewal, the fleet protocol (an
//!   elected leader reads the lease table, assigns free leases and balances by measured
//!   load; the others find their own leases through an owner index: [`lease::fleet`]), a
//!   processing loop per leased shard ([`scheduler`]).
//! * Several streams per application with the KCL's multi-stream lease keys
//!   ([`streams`], [`SchedulerBuilder::streams`]).
//! * [`RecordProcessor`] and [`RecordProcessorFactory`]: the application's side
//!   ([`processor`]), with a [`Checkpointer`] per shard ([`checkpoint`]).
//! * [`LeaseTable`] with the KCL's lease schema, and its SQLite implementation
//!   [`SqliteLeaseTable`] for workers of one host ([`lease`]); with the cargo feature
//!   `dynamodb`, `DynamoLeaseTable` for fleets across hosts (schema-compatible with the
//!   Java KCL's lease tables).
//! * Polling retrieval with prefetch, or enhanced fan-out (SubscribeToShard) selected with
//!   [`SchedulerBuilder::retrieval`] ([`retrieval`]); KPL deaggregation ([`record`]).
//! * Metrics with the KCL's names through the `metrics` facade ([`metrics`]).
//! * The MultiLangDaemon's protocol: record processors in other languages (amazon_kclpy,
//!   aws-kcl), one child process per shard ([`multilang`]).
//!
//! Delivery is **at least once**: records after a shard's last checkpoint are delivered
//! again after a crash. Planned moves (a graceful shutdown, a worker joining) deliver
//! nothing twice when processors checkpoint in `shutdown_requested`.
//!
//! ```
//! use rill_kcl::{
//!     InitialPosition, ProcessRecordsInput, RecordProcessor, Scheduler, ShardEndedInput,
//!     ShutdownRequestedInput, InitializationInput, SqliteLeaseTable,
//! };
//! use std::sync::Arc;
//!
//! struct Printer;
//!
//! #[async_trait::async_trait]
//! impl RecordProcessor for Printer {
//!     async fn initialize(&mut self, input: InitializationInput) {
//!         println!("starting {} after {}", input.shard_id, input.extended_sequence_number);
//!     }
//!     async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
//!         for r in &input.records {
//!             println!("{} {:?}", r.partition_key, r.data);
//!         }
//!         // Checkpoint after the batch: a restart resumes after it.
//!         let _ = input.checkpointer.checkpoint().await;
//!     }
//!     async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
//!         let _ = input.checkpointer.checkpoint().await;
//!     }
//!     async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
//!         let _ = input.checkpointer.checkpoint().await;
//!     }
//! }
//!
//! async fn consume(
//!     kinesis: Arc<dyn rill_engine::api::Kinesis>,
//!     leases: &std::path::Path,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     let scheduler = Scheduler::builder()
//!         .application_name("printer")
//!         .stream_name("events")
//!         .worker_id("worker-1")
//!         .kinesis(kinesis)
//!         .lease_table(Arc::new(SqliteLeaseTable::open(leases, "printer")?))
//!         .initial_position(InitialPosition::TrimHorizon)
//!         .processor_factory(|_shard: &str| Box::new(Printer) as Box<dyn RecordProcessor>)
//!         .build()?;
//!     let stop = scheduler.shutdown_handle();
//!     let worker = tokio::spawn(scheduler.run());
//!     // ... later, e.g. on SIGTERM:
//!     stop.shutdown().await;
//!     worker.await??;
//!     Ok(())
//! }
//! ```

pub mod checkpoint;
pub mod config;
mod consumer;
pub mod error;
pub mod lease;
pub mod metrics;
pub mod multilang;
pub mod processor;
pub mod record;
pub mod retrieval;
pub mod scheduler;
pub mod sequence;
pub mod shard_sync;
pub mod streams;

pub use checkpoint::{CheckpointError, Checkpointer, PreparedCheckpointer};
pub use config::{
    Coordination, FanOutConfig, InitialPosition, LeaseConfig, PollingConfig, RetrievalMode,
};
pub use error::KclError;
#[cfg(feature = "dynamodb")]
pub use lease::DynamoLeaseTable;
pub use lease::{CheckpointUpdate, Lease, LeaseError, LeaseTable, ShardLoad, SqliteLeaseTable};
pub use processor::{
    InitializationInput, ProcessRecordsInput, RecordProcessor, RecordProcessorFactory,
    ShardEndedInput, ShutdownRequestedInput,
};
pub use record::KinesisClientRecord;
pub use scheduler::{Scheduler, SchedulerBuilder, ShutdownHandle};
pub use sequence::ExtendedSequenceNumber;
pub use streams::{StreamConfig, StreamIdentifier, StreamTracker};
