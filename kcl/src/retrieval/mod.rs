//! Retrieval: getting a shard's records from Kinesis to its processor.
//!
//! Both kinds run a task per shard that hands [`Fetched`] items to the shard's processing
//! loop through a bounded channel; the loop sees only a [`Fetcher`] and cannot tell them
//! apart.
//!
//! * [`polling`] calls GetRecords, ahead of the processor (the default).
//! * [`fanout`] subscribes to the shard with SubscribeToShard (enhanced fan-out): records are
//!   pushed as they arrive, with a dedicated read throughput per consumer.

pub mod fanout;
pub mod polling;

use crate::record::KinesisClientRecord;
use crate::sequence::ExtendedSequenceNumber;
use rill_engine::api::{ChildShard, Error, Timestamp};
use tokio::sync::mpsc;

/// A task that is aborted when its handle is dropped, so that dropping a worker abruptly
/// stops everything it spawned.
#[derive(Debug)]
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a fetch task hands to the processing loop.
#[derive(Debug)]
pub enum Fetched {
    /// A non-empty batch.
    Records {
        /// User records, in shard order.
        records: Vec<KinesisClientRecord>,
        /// MillisBehindLatest of the call or event.
        millis_behind_latest: Option<i64>,
    },
    /// The shard is closed and was read to its end.
    ShardEnd {
        /// Its children, as GetRecords or the last SubscribeToShard event reported them.
        child_shards: Vec<ChildShard>,
    },
    /// Retrieval failed for good.
    Failed(Error),
}

/// Where to start reading a shard.
#[derive(Debug, Clone)]
pub struct StartPosition {
    /// The checkpoint to resume after.
    pub checkpoint: ExtendedSequenceNumber,
    /// The timestamp for an `AT_TIMESTAMP` checkpoint.
    pub timestamp: Option<Timestamp>,
}

/// A running fetch task (polling or fan-out); dropping it stops the task.
#[derive(Debug)]
pub struct Fetcher {
    /// Batches, in order.
    pub rx: mpsc::Receiver<Fetched>,
    _task: AbortOnDrop<()>,
}

impl Fetcher {
    /// Spawns `task`, which sends into the sender of `rx`.
    pub(crate) fn spawn(
        rx: mpsc::Receiver<Fetched>,
        task: impl std::future::Future<Output = ()> + Send + 'static,
        span: tracing::Span,
    ) -> Fetcher {
        let handle = tokio::spawn(tracing::Instrument::instrument(task, span));
        Fetcher {
            rx,
            _task: AbortOnDrop(handle),
        }
    }
}

/// Throttling and transient failures, retried with backoff.
pub(crate) fn transient(e: &Error) -> bool {
    e.is_retryable()
}
