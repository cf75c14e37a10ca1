//! Result slots: where the pipeline leaves each user record's result and where its
//! [`RecordFuture`](crate::RecordFuture) finds it.
//!
//! A oneshot channel per record would cost an allocation per record, freed on another
//! thread. Slots instead come in blocks of [`BLOCK`] allocated by the sending thread and
//! handed out in order: per record, the two ends each clone the block's `Arc`, and the
//! slots of one aggregate are completed one after the other in memory (by the task that
//! made its PutRecords call, or by the pipeline for failures).
//!
//! Each slot is a small mutex-protected state (waiting with the receiver's waker, ready
//! with the result, or taken; an error result is boxed so that a slot stays 32 bytes). The
//! sending end
//! ([`ResultTx`]) completes it once: with the result, or with [`RecordError::Stopped`] when
//! it is dropped unsent (the pipeline stopped). The receiving end ([`ResultRx`]) takes the
//! result when it is there, or leaves its waker. A block is freed when the last of its
//! slots' ends is dropped.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::record::{Ack, RecordError};

/// Slots per block.
pub(crate) const BLOCK: usize = 256;

/// What a slot delivers.
pub(crate) type Output = Result<Ack, RecordError>;

/// A slot's state, kept small (a block's slots share cache lines): the error is boxed.
enum State {
    /// No result yet; the receiving end's waker once it has polled.
    Waiting(Option<Waker>),
    /// The result, not taken yet.
    Ready(Result<Ack, Box<RecordError>>),
    /// The result was taken (or the sending end was dropped after it was taken).
    Taken,
}

struct Block {
    slots: [Mutex<State>; BLOCK],
}

impl Block {
    fn slot(&self, index: u8) -> MutexGuard<'_, State> {
        // A slot's state is consistent between statements: a panic elsewhere cannot leave it
        // half-written.
        self.slots[usize::from(index) % BLOCK]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pipeline's end of a slot.
pub(crate) struct ResultTx {
    block: Option<Arc<Block>>,
    index: u8,
}

/// The [`RecordFuture`](crate::RecordFuture)'s end of a slot.
pub(crate) struct ResultRx {
    block: Arc<Block>,
    index: u8,
}

thread_local! {
    /// The block this thread hands slots out of, and the next free slot in it.
    static CURRENT: RefCell<(Option<Arc<Block>>, usize)> = const { RefCell::new((None, BLOCK)) };
}

/// A new slot's two ends.
pub(crate) fn slot() -> (ResultTx, ResultRx) {
    CURRENT.with_borrow_mut(|(current, next)| {
        let block = match current {
            Some(block) if *next < BLOCK => Arc::clone(block),
            _ => {
                let block = Arc::new(Block {
                    slots: std::array::from_fn(|_| Mutex::new(State::Waiting(None))),
                });
                *current = Some(Arc::clone(&block));
                *next = 0;
                block
            }
        };
        let index = *next as u8;
        *next += 1;
        (
            ResultTx {
                block: Some(Arc::clone(&block)),
                index,
            },
            ResultRx { block, index },
        )
    })
}

fn complete(block: &Block, index: u8, result: Output) {
    let waker = {
        let mut state = block.slot(index);
        match &mut *state {
            State::Waiting(waker) => {
                let waker = waker.take();
                *state = State::Ready(result.map_err(Box::new));
                waker
            }
            State::Ready(_) | State::Taken => return,
        }
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl std::fmt::Debug for ResultTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultTx")
            .field("index", &self.index)
            .field("sent", &self.block.is_none())
            .finish()
    }
}

impl std::fmt::Debug for ResultRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultRx")
            .field("index", &self.index)
            .finish()
    }
}

impl ResultTx {
    /// Delivers the result (the receiving end may be gone: then it is dropped).
    pub(crate) fn send(mut self, result: Output) {
        self.complete(result);
    }

    /// Delivers the result now, leaving this end spent: a later `send` (or drop) does
    /// nothing.
    pub(crate) fn complete(&mut self, result: Output) {
        if let Some(block) = self.block.take() {
            complete(&block, self.index, result);
        }
    }
}

impl Drop for ResultTx {
    fn drop(&mut self) {
        if let Some(block) = self.block.take() {
            complete(&block, self.index, Err(RecordError::Stopped));
        }
    }
}

impl ResultRx {
    /// The result once it is there.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Output> {
        let mut state = self.block.slot(self.index);
        match &mut *state {
            State::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Ready(_) => match std::mem::replace(&mut *state, State::Taken) {
                State::Ready(result) => Poll::Ready(result.map_err(|e| *e)),
                // Just matched as ready.
                State::Waiting(_) | State::Taken => Poll::Ready(Err(RecordError::Stopped)),
            },
            // Polled again after it returned its result.
            State::Taken => Poll::Ready(Err(RecordError::Stopped)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[test]
    fn a_slot_is_small() {
        assert!(std::mem::size_of::<Mutex<State>>() <= 32);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn results_reach_their_own_slot_across_blocks_and_threads() {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..3 * BLOCK + 5).map(|_| slot()).unzip();
        let sender = tokio::spawn(async move {
            for (i, tx) in txs.into_iter().enumerate() {
                if i % 7 == 0 {
                    drop(tx); // unsent: Stopped
                } else {
                    tx.send(Err(RecordError::Rejected {
                        code: i.to_string(),
                        message: String::new(),
                        attempts: Arc::from(Vec::new()),
                    }));
                }
                tokio::task::yield_now().await;
            }
        });
        for (i, mut rx) in rxs.into_iter().enumerate() {
            let got = poll_fn(|cx| rx.poll(cx)).await;
            match got {
                Err(RecordError::Stopped) => assert_eq!(i % 7, 0, "slot {i}"),
                Err(RecordError::Rejected { code, .. }) => assert_eq!(code, i.to_string()),
                other => panic!("slot {i}: {other:?}"),
            }
        }
        assert!(sender.await.is_ok());
    }
}
