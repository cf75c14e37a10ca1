//! Leases: which worker processes which shard, and how far it got.
//!
//! A lease is one row of the lease table per shard, with the KCL's schema (the DynamoDB
//! attribute names are given on each field of [`Lease`]; the SQLite table uses them as
//! column names). [`LeaseTable`] is the storage-agnostic interface the coordinator and the
//! checkpointer use; [`SqliteLeaseTable`] implements it on one SQLite file, and
//! `DynamoLeaseTable` (cargo feature `dynamodb`) on a DynamoDB table that the Java KCL can
//! share or hand over.
//!
//! # Invariants every implementation keeps
//!
//! * **Every write is conditional.** `create_lease_if_not_exists` on the key not existing;
//!   every other write on `leaseCounter` being equal to the counter of the [`Lease`] the
//!   caller passes, i.e. on nothing having been written to the row since the caller read it.
//!   A failed condition is not an error: the method returns `Ok(None)` (or `Ok(false)`).
//! * **The counter counts owner activity.** Every write but `update_lease_meta` increments
//!   `leaseCounter` by one. Observers judge a lease expired when its counter has not changed
//!   for the failover time on *their own* monotonic clock, so no clock synchronisation
//!   between workers is needed.
//! * **A write touches only its own attributes.** A checkpoint never overwrites an owner, a
//!   renewal never overwrites a checkpoint, a meta update never touches the counter.
//! * **Handoff.** `checkpointOwner` set means a planned move is in progress: `leaseOwner` is
//!   the worker that will own the lease, `checkpointOwner` the worker that still processes
//!   it and may checkpoint. The new owner starts only once `checkpointOwner` is cleared (by
//!   the old owner after its last checkpoint) or the lease expired.
//!
//! # Reading the table cheaply
//!
//! A fleet of `W` workers on `N` shards that each scan the table every few seconds reads
//! `W × N` items per scan period. Tables that support it
//! ([`LeaseTable::supports_fleet`]) let the workers do much less (see [`fleet`] for the
//! protocol and [`leader`] for the elected leader's work):
//!
//! * [`LeaseTable::list_lease_keys_by_owner`] finds a worker's own leases through an index
//!   on `leaseOwner` (DynamoDB: the global secondary index `LeaseOwnerToLeaseKeyIndex`,
//!   keys only, as the KCL 3.x creates it; SQLite: an index), eventually consistent;
//! * the fleet row ([`FleetState`]) carries the leader election, each worker's heartbeat
//!   and the leader's assignment epoch, and every write to it returns it, so that a worker
//!   learns what it needs from its heartbeat without reading anything.

pub mod balance;
pub mod bounded;
pub mod coordinator;
pub mod counting;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod fleet;
pub mod leader;
pub mod sqlite;

pub use bounded::BoundedLeaseTable;
pub use counting::{CountingLeaseTable, LeaseCallCounts};
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoLeaseTable;
pub use fleet::{FleetState, LeaderUpdate};
pub use leader::FleetMember;
pub use sqlite::SqliteLeaseTable;

use crate::sequence::ExtendedSequenceNumber;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// One shard's lease, attribute for attribute the KCL lease schema.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lease {
    /// `leaseKey` (S, the hash key): the shard id.
    pub lease_key: String,
    /// `leaseOwner` (S): the worker id of the owner; `None` when nobody owns the lease.
    pub lease_owner: Option<String>,
    /// `leaseCounter` (N): incremented by every write of the owner (see the module docs).
    pub lease_counter: u64,
    /// `checkpoint` (S): a sequence number, or `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP`,
    /// `SHARD_END`.
    pub checkpoint: String,
    /// `checkpointSubSequenceNumber` (N).
    pub checkpoint_sub_sequence_number: u64,
    /// `pendingCheckpoint` (S): a prepared, not yet committed checkpoint.
    pub pending_checkpoint: Option<String>,
    /// `pendingCheckpointSubSequenceNumber` (N).
    pub pending_checkpoint_sub_sequence_number: Option<u64>,
    /// `pendingCheckpointState` (B): application state saved with the prepared checkpoint.
    pub pending_checkpoint_state: Option<Vec<u8>>,
    /// `ownerSwitchesSinceCheckpoint` (N).
    pub owner_switches_since_checkpoint: u64,
    /// `parentShardId` (SS): the shard's parents (one after a split, two after a merge).
    pub parent_shard_ids: BTreeSet<String>,
    /// `childShardIds` (SS): the shard's children, once known.
    pub child_shard_ids: BTreeSet<String>,
    /// `startingHashKey` (S): first hash key of the shard.
    pub starting_hash_key: Option<String>,
    /// `endingHashKey` (S): last hash key of the shard.
    pub ending_hash_key: Option<String>,
    /// `checkpointOwner` (S): during a handoff, the worker that may still checkpoint.
    pub checkpoint_owner: Option<String>,
    /// `rillBytesPerSecond` (N) and `rillRecordsPerSecond` (N): the load its owner measured
    /// on the shard, written with renewals (a rill extension; other readers ignore it).
    pub load: Option<ShardLoad>,
}

/// The load a worker measured on a shard it processes, over the last renewal period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardLoad {
    /// Record data bytes processed per second.
    pub bytes_per_second: u64,
    /// Records processed per second.
    pub records_per_second: u64,
}

impl Lease {
    /// A new, unowned lease for `shard_id` starting at `checkpoint`.
    pub fn new(shard_id: impl Into<String>, checkpoint: ExtendedSequenceNumber) -> Lease {
        Lease {
            lease_key: shard_id.into(),
            checkpoint: checkpoint.sequence_number,
            checkpoint_sub_sequence_number: checkpoint.sub_sequence_number,
            ..Lease::default()
        }
    }

    /// The committed checkpoint as an extended sequence number.
    pub fn checkpoint(&self) -> ExtendedSequenceNumber {
        ExtendedSequenceNumber::new(self.checkpoint.clone(), self.checkpoint_sub_sequence_number)
    }

    /// The prepared checkpoint, if any.
    pub fn pending_checkpoint(&self) -> Option<ExtendedSequenceNumber> {
        self.pending_checkpoint.as_ref().map(|s| {
            ExtendedSequenceNumber::new(
                s.clone(),
                self.pending_checkpoint_sub_sequence_number.unwrap_or(0),
            )
        })
    }

    /// Whether the shard was processed to its end.
    pub fn is_shard_end(&self) -> bool {
        self.checkpoint == crate::sequence::SHARD_END
    }

    /// Whether a handoff to `lease_owner` waits for `checkpoint_owner` to finish.
    pub fn is_handoff_pending(&self) -> bool {
        self.checkpoint_owner.is_some() && self.checkpoint_owner != self.lease_owner
    }

    /// The shard's hash key range, when the lease records a valid one.
    pub fn hash_key_range(&self) -> Option<rill_engine::api::HashKeyRange> {
        let start = self.starting_hash_key.as_deref()?.parse().ok()?;
        let end = self.ending_hash_key.as_deref()?.parse().ok()?;
        Some(rill_engine::api::HashKeyRange { start, end })
    }
}

/// A checkpoint write: the committed checkpoint and, optionally, a prepared one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointUpdate {
    /// The new committed checkpoint (`checkpoint`, `checkpointSubSequenceNumber`).
    pub checkpoint: ExtendedSequenceNumber,
    /// The new pending checkpoint and its state; `None` clears them.
    pub pending: Option<(ExtendedSequenceNumber, Option<Vec<u8>>)>,
}

/// Why a lease table operation failed (a failed condition is not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The storage failed (I/O, SQLite, network); the source says why.
    #[error("lease table storage failed: {message}")]
    Storage {
        /// What was being done.
        message: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A stored row does not hold a valid lease.
    #[error("lease table row {key:?} is invalid: {reason}")]
    Corrupt {
        /// The lease key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The lease table does not exist (DynamoDB's `ResourceNotFoundException`).
    #[error(
        "lease table {table:?} does not exist: create it, or let the consumer create it \
         (DynamoLeaseTable::create_table_if_not_exists)"
    )]
    TableNotFound {
        /// The table name.
        table: String,
    },
    /// The table exists but is not a lease table (its key schema is not `leaseKey` (S) as
    /// the only key).
    #[error("table {table:?} is not a KCL lease table: {reason}")]
    TableSchema {
        /// The table name.
        table: String,
        /// What is wrong with its schema.
        reason: String,
    },
    /// An attribute of a stored row is missing, of the wrong type, or out of range.
    #[error("lease table row {key:?}: attribute {attribute} {reason}")]
    MalformedAttribute {
        /// The lease key (`?` when the key itself is the malformed attribute).
        key: String,
        /// The attribute's name, as in the KCL schema (e.g. `leaseCounter`).
        attribute: String,
        /// What is wrong (e.g. `must be a number (N), found S`).
        reason: String,
    },
    /// The call did not answer within the bound set by the consumer
    /// ([`BoundedLeaseTable`], `SchedulerBuilder::lease_call_timeout`). A write may still be
    /// applied later, as one whose response was lost.
    #[error("lease table call {operation} did not answer within {after:?}")]
    Timeout {
        /// The operation (`UpdateCheckpoint`, `TakeLease`, ...).
        operation: &'static str,
        /// The bound.
        after: std::time::Duration,
    },
    /// The table name or another parameter is invalid.
    #[error("invalid lease table parameter {parameter}: {reason}")]
    Invalid {
        /// The parameter.
        parameter: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The lease table, independent of its storage.
///
/// Conditional writes take the lease as the caller last saw it and return the lease as
/// written (`Some`), or `None` when the row changed since (its counter differs) or is gone.
///
/// Cancel safety: dropping the future of a write may or may not leave the write applied,
/// like a request whose response was lost; the row is never left half written. Reads are
/// cancel safe.
#[async_trait]
pub trait LeaseTable: Send + Sync + std::fmt::Debug {
    /// Creates `lease` if no lease has its key. Returns whether it was created.
    async fn create_lease_if_not_exists(&self, lease: &Lease) -> Result<bool, LeaseError>;

    /// Every lease, in key order.
    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError>;

    /// The lease with key `key`, if any.
    async fn get_lease(&self, key: &str) -> Result<Option<Lease>, LeaseError>;

    /// Renews a lease its owner holds: increments the counter, if the counter and owner are
    /// still those of `lease`; writes `lease.load` when it is `Some`.
    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError>;

    /// Takes a lease for `owner` (expired, unowned, or finishing a handoff): sets the owner,
    /// clears `checkpointOwner`, increments the counter and, if the owner changes,
    /// `ownerSwitchesSinceCheckpoint`.
    async fn take_lease(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError>;

    /// Releases a lease: no owner, no `checkpointOwner`, counter incremented.
    async fn evict_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError>;

    /// Starts a graceful handoff to `new_owner`: `checkpointOwner` becomes the current owner,
    /// `leaseOwner` becomes `new_owner`, counter incremented.
    async fn hand_over_lease(
        &self,
        lease: &Lease,
        new_owner: &str,
    ) -> Result<Option<Lease>, LeaseError>;

    /// Ends a handoff: clears `checkpointOwner`, counter incremented.
    async fn complete_hand_over(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError>;

    /// Writes a checkpoint (and the pending checkpoint) and increments the counter; resets
    /// `ownerSwitchesSinceCheckpoint` when the committed checkpoint changes.
    async fn update_checkpoint(
        &self,
        lease: &Lease,
        update: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError>;

    /// Writes the shard's metadata (`parentShardId`, `childShardIds`, `startingHashKey`,
    /// `endingHashKey`) from `lease`, without touching the counter.
    async fn update_lease_meta(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError>;

    /// Deletes a lease. Returns whether it was deleted.
    async fn delete_lease(&self, lease: &Lease) -> Result<bool, LeaseError>;

    /// The keys of the leases whose `leaseOwner` is `owner`, in key order. May be
    /// eventually consistent (the DynamoDB index is): a change of the last moments may be
    /// missing. The default filters [`list_leases`](Self::list_leases).
    async fn list_lease_keys_by_owner(&self, owner: &str) -> Result<Vec<String>, LeaseError> {
        Ok(self
            .list_leases()
            .await?
            .into_iter()
            .filter(|l| l.lease_owner.as_deref() == Some(owner))
            .map(|l| l.lease_key)
            .collect())
    }

    /// Whether the fleet row methods below work on this table. Default `false`: workers
    /// then each scan the table to balance (see [`coordinator`]).
    fn supports_fleet(&self) -> bool {
        false
    }

    /// Adds one to `worker`'s heartbeat in the fleet row (creating the row, unowned, if it
    /// does not exist) and, if `changed`, to the row's change count; unconditional.
    /// `leaving` removes the worker's heartbeat instead (a graceful shutdown). Returns the
    /// row as written.
    async fn fleet_heartbeat(
        &self,
        worker: &str,
        changed: bool,
        leaving: bool,
    ) -> Result<FleetState, LeaseError> {
        let _ = (worker, changed, leaving);
        Err(fleet::unsupported())
    }

    /// Writes the leader part of the fleet row if its `leaseCounter` is still `seen`'s
    /// (the claim, renewal and resignation of the leadership); increments the counter.
    /// Returns the row as written, or `None` when the condition failed.
    async fn update_fleet_leader(
        &self,
        seen: &FleetState,
        update: &LeaderUpdate,
    ) -> Result<Option<FleetState>, LeaseError> {
        let _ = (seen, update);
        Err(fleet::unsupported())
    }
}
