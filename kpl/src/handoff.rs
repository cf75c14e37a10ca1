//! The protocol between the producer handles and the pipeline task: the messages
//! ([`Msg`]), the queue that carries them ([`Handoff`]: under a mutex, which the pipeline
//! takes whole) and the state both sides share ([`Shared`]: configuration, the buffer's
//! semaphores, the queue). The handles ([`crate::producer`]) and the task
//! ([`crate::pipeline`]) both depend on this module, not on each other.
//!
//! A channel costs several atomic operations per message on lines both sides touch (its
//! tail, a ready bit, the permit count, the receiver's waker). Here a message costs one
//! uncontended lock on the sending thread; the pipeline swaps the whole queue for an empty
//! one (the previous batch's buffer, so neither side allocates in the steady state), and
//! the sender wakes the pipeline only when it puts a message into an empty queue.
//!
//! # Invariants
//!
//! * Messages are taken in the order they were put (one queue, one lock).
//! * No lost wakeup: a message put into an empty queue is followed by `notify_one`, which
//!   stores a permit when the pipeline is not waiting, so its next wait returns at once.
//! * Once [`Handoff::close`] ran, `put` refuses every message and hands it back; `close`
//!   returns what was still queued, for the pipeline to fail.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use rill_engine::api::agg::UserRecord;
use tokio::sync::{Semaphore, oneshot};

use crate::aggregator::Meta;
use crate::config::ProducerConfig;

#[derive(Debug, Default)]
struct Queue {
    msgs: Vec<Msg>,
    closed: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    queue: Mutex<Queue>,
    notify: Notify,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is consistent between statements: a panic elsewhere cannot leave it
        // half-written.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message for the pipeline; hands it back once the pipeline has stopped.
    // The message is handed back whole (a record must not be lost); that path is rare.
    #[allow(clippy::result_large_err)]
    pub fn put(&self, msg: Msg) -> Result<(), Msg> {
        let first = {
            let mut q = self.lock();
            if q.closed {
                return Err(msg);
            }
            q.msgs.push(msg);
            q.msgs.len() == 1
        };
        if first {
            self.notify.notify_one();
        }
        Ok(())
    }

    /// Waits until a message may be queued (returns at once if one was queued since the
    /// last [`Handoff::take`]).
    pub async fn ready(&self) {
        self.notify.notified().await;
    }

    /// Takes every queued message, leaving `spare` (emptied) as the new queue; the taken
    /// messages are in `spare` afterwards.
    pub fn take(&self, spare: &mut Vec<Msg>) {
        spare.clear();
        let mut q = self.lock();
        std::mem::swap(&mut q.msgs, spare);
    }

    /// Refuses messages from now on; returns those still queued.
    pub fn close(&self) -> Vec<Msg> {
        let mut q = self.lock();
        q.closed = true;
        std::mem::take(&mut q.msgs)
    }
}

/// A message from the producer handles, in `send` order.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A user record to put.
    Record {
        stream: Arc<str>,
        record: UserRecord,
        meta: Meta,
    },
    /// Resolve when everything sent before is finished.
    Flush(oneshot::Sender<()>),
    /// Flush, then stop.
    Shutdown(oneshot::Sender<()>),
    /// The last producer handle is gone: flush, then stop.
    Dropped,
}

/// Records taken by `send` that may wait in the handoff queue before the pipeline task takes
/// them off. For `send` it also bounds what the pipeline takes between two scans: a larger
/// backlog of records already past their buffered time would seal a small aggregate per
/// shard at every scan, and small aggregates make the backlog worse.
pub(crate) const INTAKE: usize = 32 * 1024;

/// State shared by the handles and the pipeline task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: ProducerConfig,
    pub records: Semaphore,
    pub bytes: Semaphore,
    /// Records taken by `send` and not yet off the handoff queue (see [`INTAKE`]).
    pub intake: Semaphore,
    pub outstanding: AtomicUsize,
    pub closed: AtomicBool,
    /// Messages for the pipeline task.
    pub handoff: Handoff,
}
