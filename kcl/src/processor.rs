//! The application's side: a [`RecordProcessor`] per shard, made by a factory.
//!
//! # Life cycle
//!
//! For each shard lease a worker holds, the scheduler creates one processor and calls, in
//! this order and never concurrently:
//!
//! 1. [`initialize`](RecordProcessor::initialize) once, before any record;
//! 2. [`process_records`](RecordProcessor::process_records) for each batch, in shard order;
//! 3. exactly one of:
//!    * [`shard_ended`](RecordProcessor::shard_ended): the shard was closed by a split or
//!      merge and every record was delivered; the processor **must** call
//!      [`Checkpointer::checkpoint`] (which records `SHARD_END`), or the children of the
//!      shard are never processed;
//!    * [`shutdown_requested`](RecordProcessor::shutdown_requested): the worker shuts down
//!      or hands the lease to another worker; nothing more will be delivered, and a
//!      checkpoint at the last record delivered makes the move duplicate-free;
//!    * [`lease_lost`](RecordProcessor::lease_lost): another worker took the lease; the
//!      processor may no longer checkpoint, and the new owner re-delivers everything after
//!      the last checkpoint.
//!
//! Delivery is at least once: records after the last checkpoint are delivered again after
//! a crash or a lost lease.

use crate::checkpoint::Checkpointer;
use crate::record::KinesisClientRecord;
use crate::sequence::ExtendedSequenceNumber;
use async_trait::async_trait;

/// What [`RecordProcessor::initialize`] is told.
#[derive(Debug, Clone)]
pub struct InitializationInput {
    /// The shard.
    pub shard_id: String,
    /// The stream the shard belongs to.
    pub stream_name: String,
    /// In a multi-stream application, the stream as its lease keys name it
    /// (`account:stream:creationEpoch`, see [`crate::streams`]); `None` otherwise.
    pub stream_identifier: Option<String>,
    /// The checkpoint processing resumes after (a sentinel when nothing was checkpointed).
    pub extended_sequence_number: ExtendedSequenceNumber,
    /// A prepared checkpoint that was never committed, if any.
    pub pending_checkpoint: Option<ExtendedSequenceNumber>,
    /// The state saved with the prepared checkpoint.
    pub pending_checkpoint_state: Option<Vec<u8>>,
}

/// A batch for [`RecordProcessor::process_records`].
#[derive(Debug)]
pub struct ProcessRecordsInput<'a> {
    /// The stream the records come from.
    pub stream_name: &'a str,
    /// The records, in shard order; never empty.
    pub records: Vec<KinesisClientRecord>,
    /// How far behind the tip of the shard the batch was read, in milliseconds.
    pub millis_behind_latest: Option<i64>,
    /// Checkpoints for this shard.
    pub checkpointer: &'a Checkpointer,
}

/// What [`RecordProcessor::shard_ended`] is given.
#[derive(Debug)]
pub struct ShardEndedInput<'a> {
    /// Call [`Checkpointer::checkpoint`] on it.
    pub checkpointer: &'a Checkpointer,
}

/// What [`RecordProcessor::shutdown_requested`] is given.
#[derive(Debug)]
pub struct ShutdownRequestedInput<'a> {
    /// Checkpoints for this shard, valid until the method returns.
    pub checkpointer: &'a Checkpointer,
}

/// Processes the records of one shard. See the module docs for the life cycle.
///
/// Cancel safety: the scheduler awaits every call to completion, except when the whole
/// scheduler is dropped (abrupt stop), which drops the call's future mid-way; the records
/// of that batch are then delivered again to the next owner (after the last checkpoint).
#[async_trait]
pub trait RecordProcessor: Send + 'static {
    /// Called once before any record.
    async fn initialize(&mut self, input: InitializationInput);

    /// Called with each batch of records.
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>);

    /// The lease was taken by another worker; checkpointing is no longer possible.
    async fn lease_lost(&mut self) {}

    /// The shard ended; must call `input.checkpointer.checkpoint()`.
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>);

    /// The worker shuts down or hands the lease over; checkpoint to avoid re-delivery.
    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input;
    }

    /// Whether the processor broke for good (e.g. the child process of a MultiLang
    /// processor died). Looked at after `initialize` and after each `process_records`:
    /// `Some(reason)` stops the shard at once, with no further call, and releases the
    /// lease, so the shard is taken again (by this worker or another) from its last
    /// checkpoint, with a new processor. Default: never.
    fn failure(&mut self) -> Option<String> {
        None
    }
}

/// Makes a processor for each shard a worker starts processing.
pub trait RecordProcessorFactory: Send + Sync + 'static {
    /// A new processor for `shard_id`.
    fn create_processor(&self, shard_id: &str) -> Box<dyn RecordProcessor>;
}

impl<F> RecordProcessorFactory for F
where
    F: Fn(&str) -> Box<dyn RecordProcessor> + Send + Sync + 'static,
{
    fn create_processor(&self, shard_id: &str) -> Box<dyn RecordProcessor> {
        self(shard_id)
    }
}
