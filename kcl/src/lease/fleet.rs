//! The fleet row: leader election, heartbeats and the assignment epoch, in one row of the
//! lease table.
//!
//! # Why
//!
//! When every worker scans the whole lease table to find expired leases and balance, a
//! fleet of `W` workers on `N` shards reads `W × N` items per scan period (the Java KCL 2.x
//! scans about every 20 s: `W × N / 20` items per second). Here one elected leader reads
//! the whole table, and only when something changed (or every `2 × failover_time` as a
//! catch-all); the other workers read their own leases' keys through an index on
//! `leaseOwner` when the leader says it assigned something, or every `2 × failover_time`.
//! Everything else a worker needs comes back from its heartbeat, a write.
//!
//! # Format
//!
//! On DynamoDB the row is an item of the lease table with the key [`FLEET_KEY`]:
//!
//! | attribute                 | type | meaning                                                   |
//! |---------------------------|------|-----------------------------------------------------------|
//! | `leaseKey`                | S    | [`FLEET_KEY`]                                             |
//! | `leaseOwner`              | S    | the leader's worker id; absent when there is no leader    |
//! | `leaseCounter`            | N    | incremented by every write of the leader (0: never led)   |
//! | `checkpoint`              | S    | always `SHARD_END`, so that readers that take the row for a lease see a finished one |
//! | `rillAssignmentEpoch`     | N    | incremented by the leader after it assigned or moved leases |
//! | `rillChanges`             | N    | incremented by workers after they created or released leases |
//! | `rillBeat.<worker id>`    | N    | one per live worker: its heartbeat counter                |
//!
//! On SQLite the same state lives in two tables beside the lease table, `<table>__fleet`
//! (one row) and `<table>__beats` (one row per worker).
//!
//! # Protocol
//!
//! * **Heartbeats.** Every worker adds one to its `rillBeat.<id>` every taker interval with
//!   an unconditional write ([`LeaseTable::fleet_heartbeat`](crate::lease::LeaseTable::fleet_heartbeat)) whose answer is the whole
//!   row. A worker whose heartbeat did not change for `failover_time` (on the observer's
//!   monotonic clock, as for leases) is dead; a graceful shutdown removes its heartbeat.
//! * **Leadership** is a lease on this row: the leader increments `leaseCounter` every taker
//!   interval ([`LeaseTable::update_fleet_leader`](crate::lease::LeaseTable::update_fleet_leader), conditional on the counter it last
//!   wrote). A worker that sees no leader, or a counter unchanged for `failover_time`,
//!   claims the row with a write conditional on the counter it saw; one claim wins. A
//!   leader whose renewal fails its condition has been replaced and stops leading at once.
//!   Two leaders can therefore overlap for at most the time a write takes, and even then
//!   every lease write is still conditional on the lease's own counter.
//! * **Assignment.** The leader assigns a lease by writing its `leaseOwner`
//!   ([`LeaseTable::take_lease`](crate::lease::LeaseTable::take_lease) for a free lease, [`LeaseTable::hand_over_lease`](crate::lease::LeaseTable::hand_over_lease) for a
//!   planned move) and then increments `rillAssignmentEpoch`. A worker that sees a new
//!   epoch in its heartbeat's answer lists its own leases' keys by owner, and takes the
//!   ones it does not hold yet (a take of its own row, conditional on the counter).
//! * **Changes.** A worker that creates leases (shard ends) or releases them (shutdown)
//!   increments `rillChanges`; a leader that sees it change reads the table.
//!
//! Writers other than the leader never touch `leaseOwner`, `leaseCounter` or the epoch of
//! this row; the leader never touches a heartbeat but its own and those of workers dead for
//! longer than `failover_time` ([`LeaderUpdate::forget`]).

use super::LeaseError;
use std::collections::BTreeMap;

/// The fleet row's key in the lease table. Keys starting with `__rill` are never leases:
/// shard ids start with `shardId-` and multi-stream lease keys with an account id.
pub const FLEET_KEY: &str = "__rill_fleet";

/// Whether `key` names one of rill's coordination rows rather than a lease.
pub fn is_coordination_key(key: &str) -> bool {
    key.starts_with("__rill")
}

/// The fleet row as last written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetState {
    /// `leaseOwner`: the leader, if any.
    pub leader: Option<String>,
    /// `leaseCounter`: incremented by every write of the leader; 0 while nobody ever led.
    pub counter: u64,
    /// `rillAssignmentEpoch`: incremented by the leader after it assigned or moved leases.
    pub epoch: u64,
    /// `rillChanges`: incremented by workers that created or released leases.
    pub changes: u64,
    /// `rillBeat.<worker>`: each live worker's heartbeat counter.
    pub beats: BTreeMap<String, u64>,
}

/// A write of the leader part of the fleet row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderUpdate {
    /// The leader after the write: the writer's id to claim or renew, `None` to resign.
    pub leader: Option<String>,
    /// Increment `rillAssignmentEpoch`.
    pub bump_epoch: bool,
    /// Heartbeats to remove (workers dead for longer than the failover time).
    pub forget: Vec<String>,
}

/// The error of the fleet methods on a table that does not support them.
pub(crate) fn unsupported() -> LeaseError {
    LeaseError::Invalid {
        parameter: "lease_table",
        reason: "this lease table does not support the fleet row (supports_fleet is false)".into(),
    }
}
