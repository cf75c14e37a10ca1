//! The handoff from the producer handles to the pipeline task: a queue of messages under a
//! mutex, which the pipeline takes whole.
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

use crate::pipeline::Msg;

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
