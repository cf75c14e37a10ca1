//! Checkpoints: how far a processor got in its shard, written to its lease.
//!
//! # Invariants
//!
//! * A checkpoint lies between the last checkpoint (inclusive) and the last record
//!   delivered to the processor (inclusive); anything else is
//!   [`CheckpointError::Backwards`] or [`CheckpointError::BeyondDelivered`]. Once a
//!   shard's last record was delivered, the position "after it" is `SHARD_END`, and
//!   [`Checkpointer::checkpoint`] writes that.
//! * A checkpoint is written only while this worker may write it: it owns the lease, or it
//!   is the lease's `checkpointOwner` during a handoff. After the lease was lost every call
//!   fails with [`CheckpointError::LeaseLost`]. The write is conditional on the lease
//!   counter (see [`crate::lease`]); when the condition fails the row is re-read to tell a
//!   handoff (retry, and the processor will be asked to shut down) from a loss.
//! * A committed checkpoint clears the prepared one.

use crate::lease::coordinator::{HeldLease, LeaseSignal, may_checkpoint};
use crate::lease::{CheckpointUpdate, LeaseError, LeaseTable};
use crate::sequence::ExtendedSequenceNumber;
use std::sync::{Arc, Mutex};

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Below the last checkpoint.
    #[error("checkpoint {requested} is below the last checkpoint {last}")]
    Backwards {
        /// The checkpoint asked for.
        requested: ExtendedSequenceNumber,
        /// The last checkpoint.
        last: ExtendedSequenceNumber,
    },
    /// Beyond the last record delivered to the processor.
    #[error("checkpoint {requested} is beyond the last record delivered ({delivered:?})")]
    BeyondDelivered {
        /// The checkpoint asked for.
        requested: ExtendedSequenceNumber,
        /// The last delivered position, if any.
        delivered: Option<ExtendedSequenceNumber>,
    },
    /// The lease is no longer this worker's.
    #[error("lease of shard {0} was lost; checkpointing is no longer possible")]
    LeaseLost(String),
    /// The lease table failed; the checkpoint may or may not have been written.
    #[error(transparent)]
    LeaseTable(#[from] LeaseError),
}

#[derive(Debug)]
struct Positions {
    last_checkpoint: ExtendedSequenceNumber,
    largest_permitted: Option<ExtendedSequenceNumber>,
    pending: Option<ExtendedSequenceNumber>,
}

/// Writes the checkpoints of one shard. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    worker_id: String,
    held: Arc<HeldLease>,
    table: Arc<dyn LeaseTable>,
    positions: Mutex<Positions>,
}

/// A checkpoint prepared by [`Checkpointer::prepare_checkpoint`]; commit it with
/// [`PreparedCheckpointer::checkpoint`].
#[derive(Debug)]
pub struct PreparedCheckpointer {
    checkpointer: Checkpointer,
    at: ExtendedSequenceNumber,
}

impl PreparedCheckpointer {
    /// The prepared position.
    pub fn pending_checkpoint(&self) -> &ExtendedSequenceNumber {
        &self.at
    }

    /// Commits the prepared checkpoint.
    ///
    /// Cancel safety: as [`Checkpointer::checkpoint`].
    pub async fn checkpoint(self) -> Result<(), CheckpointError> {
        self.checkpointer.checkpoint_to(self.at, None).await
    }
}

impl Checkpointer {
    pub(crate) fn new(
        worker_id: String,
        held: Arc<HeldLease>,
        table: Arc<dyn LeaseTable>,
        last_checkpoint: ExtendedSequenceNumber,
        pending: Option<ExtendedSequenceNumber>,
    ) -> Checkpointer {
        Checkpointer {
            inner: Arc::new(Inner {
                worker_id,
                held,
                table,
                positions: Mutex::new(Positions {
                    last_checkpoint,
                    largest_permitted: None,
                    pending,
                }),
            }),
        }
    }

    fn positions(&self) -> std::sync::MutexGuard<'_, Positions> {
        self.inner
            .positions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The lease this checkpointer writes to: the shard id, or in a multi-stream
    /// application the lease key (`account:stream:creationEpoch:shardId`, see
    /// [`crate::streams`]).
    pub fn shard_id(&self) -> &str {
        &self.inner.held.key
    }

    /// The last checkpoint written (or the starting one).
    pub fn last_checkpoint(&self) -> ExtendedSequenceNumber {
        self.positions().last_checkpoint.clone()
    }

    /// The last position delivered (`SHARD_END` once the shard was read to its end).
    pub fn largest_permitted(&self) -> Option<ExtendedSequenceNumber> {
        self.positions().largest_permitted.clone()
    }

    pub(crate) fn delivered(&self, at: ExtendedSequenceNumber) {
        self.positions().largest_permitted = Some(at);
    }

    /// Checkpoints at the last record delivered (or `SHARD_END` at the end of a shard).
    /// Does nothing when that is the last checkpoint already.
    ///
    /// Cancel safety: not cancel safe in effect: if the future is dropped the checkpoint
    /// may or may not be written (it is never half written).
    pub async fn checkpoint(&self) -> Result<(), CheckpointError> {
        let at = {
            let p = self.positions();
            match &p.largest_permitted {
                Some(at) if *at == p.last_checkpoint && p.pending.is_none() => return Ok(()),
                Some(at) => at.clone(),
                None if p.pending.is_none() => return Ok(()),
                None => p.last_checkpoint.clone(),
            }
        };
        self.checkpoint_to(at, None).await
    }

    /// Checkpoints at a delivered record: `sequence_number` and `sub_sequence_number`
    /// (0 for plain records).
    ///
    /// Cancel safety: as [`checkpoint`](Self::checkpoint).
    pub async fn checkpoint_at(
        &self,
        sequence_number: &str,
        sub_sequence_number: u64,
    ) -> Result<(), CheckpointError> {
        let at = ExtendedSequenceNumber::new(sequence_number, sub_sequence_number);
        self.check(&at)?;
        self.checkpoint_to(at, None).await
    }

    /// Prepares a checkpoint at `at` (the last delivered record when `None`) with
    /// application `state`, without committing it: a worker that takes the lease over sees
    /// it in [`InitializationInput`](crate::InitializationInput).
    ///
    /// Cancel safety: as [`checkpoint`](Self::checkpoint).
    pub async fn prepare_checkpoint(
        &self,
        at: Option<(&str, u64)>,
        state: Option<Vec<u8>>,
    ) -> Result<PreparedCheckpointer, CheckpointError> {
        let at = match at {
            Some((s, sub)) => ExtendedSequenceNumber::new(s, sub),
            None => match self.largest_permitted() {
                Some(at) => at,
                None => self.last_checkpoint(),
            },
        };
        self.check(&at)?;
        let last = self.last_checkpoint();
        self.write(CheckpointUpdate {
            checkpoint: last,
            pending: Some((at.clone(), state)),
        })
        .await?;
        self.positions().pending = Some(at.clone());
        Ok(PreparedCheckpointer {
            checkpointer: self.clone(),
            at,
        })
    }

    fn check(&self, at: &ExtendedSequenceNumber) -> Result<(), CheckpointError> {
        let p = self.positions();
        if *at == p.last_checkpoint {
            return Ok(());
        }
        if *at < p.last_checkpoint {
            return Err(CheckpointError::Backwards {
                requested: at.clone(),
                last: p.last_checkpoint.clone(),
            });
        }
        if p.largest_permitted.as_ref().is_none_or(|l| at > l) {
            return Err(CheckpointError::BeyondDelivered {
                requested: at.clone(),
                delivered: p.largest_permitted.clone(),
            });
        }
        Ok(())
    }

    async fn checkpoint_to(
        &self,
        at: ExtendedSequenceNumber,
        pending: Option<(ExtendedSequenceNumber, Option<Vec<u8>>)>,
    ) -> Result<(), CheckpointError> {
        self.check(&at)?;
        self.write(CheckpointUpdate {
            checkpoint: at.clone(),
            pending,
        })
        .await?;
        let mut p = self.positions();
        p.last_checkpoint = at;
        p.pending = None;
        Ok(())
    }

    async fn write(&self, update: CheckpointUpdate) -> Result<(), CheckpointError> {
        let held = &self.inner.held;
        let me = self.inner.worker_id.as_str();
        let lost = || CheckpointError::LeaseLost(held.key.clone());
        // A failed condition after a fresh read means another worker wrote in between
        // (a handoff request racing this write); a few rounds always settle it.
        for _ in 0..8 {
            if held.current() == LeaseSignal::Lost {
                return Err(lost());
            }
            let mut lease = held.lease.lock().await;
            if !may_checkpoint(&lease, me) {
                return Err(lost());
            }
            match self.inner.table.update_checkpoint(&lease, &update).await? {
                Some(l) => {
                    *lease = l;
                    return Ok(());
                }
                None => match self.inner.table.get_lease(&held.key).await? {
                    Some(l) if may_checkpoint(&l, me) => {
                        if l.lease_owner.as_deref() != Some(me) {
                            held.raise(LeaseSignal::HandoffRequested);
                        }
                        *lease = l;
                    }
                    _ => {
                        held.raise(LeaseSignal::Lost);
                        return Err(lost());
                    }
                },
            }
        }
        Err(lost())
    }
}
