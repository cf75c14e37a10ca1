//! What [`FaultyLeaseTable`](super::FaultyLeaseTable) injects and counts.

#[allow(unused_imports)]
use rill_kcl::lease::{LeaseError, LeaseTable};
use std::collections::HashMap;
use std::fmt;

use crate::plan::Faults;

/// A [`LeaseTable`] method, to configure and count faults per method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LeaseOperation {
    /// [`LeaseTable::create_lease_if_not_exists`].
    CreateLeaseIfNotExists,
    /// [`LeaseTable::list_leases`].
    ListLeases,
    /// [`LeaseTable::get_lease`].
    GetLease,
    /// [`LeaseTable::renew_lease`].
    RenewLease,
    /// [`LeaseTable::take_lease`].
    TakeLease,
    /// [`LeaseTable::evict_lease`].
    EvictLease,
    /// [`LeaseTable::hand_over_lease`].
    HandOverLease,
    /// [`LeaseTable::complete_hand_over`].
    CompleteHandOver,
    /// [`LeaseTable::update_checkpoint`].
    UpdateCheckpoint,
    /// [`LeaseTable::update_lease_meta`].
    UpdateLeaseMeta,
    /// [`LeaseTable::delete_lease`].
    DeleteLease,
    /// [`LeaseTable::list_lease_keys_by_owner`] (the owner index).
    ListLeaseKeysByOwner,
    /// [`LeaseTable::fleet_heartbeat`] (the fleet row).
    FleetHeartbeat,
    /// [`LeaseTable::update_fleet_leader`] (the fleet row's leader part).
    UpdateFleetLeader,
}

impl LeaseOperation {
    /// Every method of [`LeaseTable`].
    pub const ALL: &'static [LeaseOperation] = &[
        LeaseOperation::CreateLeaseIfNotExists,
        LeaseOperation::ListLeases,
        LeaseOperation::GetLease,
        LeaseOperation::RenewLease,
        LeaseOperation::TakeLease,
        LeaseOperation::EvictLease,
        LeaseOperation::HandOverLease,
        LeaseOperation::CompleteHandOver,
        LeaseOperation::UpdateCheckpoint,
        LeaseOperation::UpdateLeaseMeta,
        LeaseOperation::DeleteLease,
        LeaseOperation::ListLeaseKeysByOwner,
        LeaseOperation::FleetHeartbeat,
        LeaseOperation::UpdateFleetLeader,
    ];

    /// The conditional writes of leases (every lease method but the reads; the fleet row's
    /// writes are not among them).
    pub const WRITES: &'static [LeaseOperation] = &[
        LeaseOperation::CreateLeaseIfNotExists,
        LeaseOperation::RenewLease,
        LeaseOperation::TakeLease,
        LeaseOperation::EvictLease,
        LeaseOperation::HandOverLease,
        LeaseOperation::CompleteHandOver,
        LeaseOperation::UpdateCheckpoint,
        LeaseOperation::UpdateLeaseMeta,
        LeaseOperation::DeleteLease,
    ];

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseOperation::CreateLeaseIfNotExists => "create_lease_if_not_exists",
            LeaseOperation::ListLeases => "list_leases",
            LeaseOperation::GetLease => "get_lease",
            LeaseOperation::RenewLease => "renew_lease",
            LeaseOperation::TakeLease => "take_lease",
            LeaseOperation::EvictLease => "evict_lease",
            LeaseOperation::HandOverLease => "hand_over_lease",
            LeaseOperation::CompleteHandOver => "complete_hand_over",
            LeaseOperation::UpdateCheckpoint => "update_checkpoint",
            LeaseOperation::UpdateLeaseMeta => "update_lease_meta",
            LeaseOperation::DeleteLease => "delete_lease",
            LeaseOperation::ListLeaseKeysByOwner => "list_lease_keys_by_owner",
            LeaseOperation::FleetHeartbeat => "fleet_heartbeat",
            LeaseOperation::UpdateFleetLeader => "update_fleet_leader",
        }
    }
}

impl fmt::Display for LeaseOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The faults of one lease table method (or of all, see [`LeaseFaultConfig::all`]): see
/// [`Faults`]. The error injected is always a [`LeaseError::Storage`], so `errors` stays
/// empty.
pub type LeaseFaults = Faults<std::convert::Infallible>;

/// What [`FaultyLeaseTable`](super::FaultyLeaseTable) injects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseFaultConfig {
    /// Seeds the random generator that makes every decision.
    pub seed: u64,
    /// The faults of every method without an entry in [`operations`](Self::operations).
    pub all: LeaseFaults,
    /// Faults per method; an entry replaces [`all`](Self::all) for its method.
    pub operations: HashMap<LeaseOperation, LeaseFaults>,
    /// Whether the wrapper offers the fleet protocol (leader row, owner index) when the
    /// wrapped table does. Off by default: workers over a faulty table then coordinate by
    /// scanning, the protocol every table supports. With it on, the fleet calls
    /// (`fleet_heartbeat`, `update_fleet_leader`, `list_lease_keys_by_owner`) are forwarded
    /// with faults like every other call.
    pub fleet: bool,
}

impl LeaseFaultConfig {
    /// No faults, with a seed.
    pub fn new(seed: u64) -> LeaseFaultConfig {
        LeaseFaultConfig {
            seed,
            ..LeaseFaultConfig::default()
        }
    }

    /// Offers the fleet protocol when the wrapped table does (see [`fleet`](Self::fleet)).
    pub fn with_fleet(mut self, fleet: bool) -> LeaseFaultConfig {
        self.fleet = fleet;
        self
    }

    /// Sets the faults of every method without its own.
    pub fn for_all(mut self, faults: LeaseFaults) -> LeaseFaultConfig {
        self.all = faults;
        self
    }

    /// Sets the faults of one method.
    pub fn for_operation(mut self, op: LeaseOperation, faults: LeaseFaults) -> LeaseFaultConfig {
        self.operations.insert(op, faults);
        self
    }

    /// Sets the faults of several methods (e.g. [`LeaseOperation::WRITES`]).
    pub fn for_operations(
        mut self,
        ops: impl IntoIterator<Item = LeaseOperation>,
        faults: LeaseFaults,
    ) -> LeaseFaultConfig {
        for op in ops {
            self.operations.insert(op, faults.clone());
        }
        self
    }

    /// The faults of `op`.
    pub fn faults_for(&self, op: LeaseOperation) -> &LeaseFaults {
        self.operations.get(&op).unwrap_or(&self.all)
    }
}

/// What was injected (per method, or in total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseFaultCounts {
    /// Calls made to the wrapper.
    pub calls: u64,
    /// Calls failed without reaching the table.
    pub errors: u64,
    /// Calls that hung.
    pub timeouts: u64,
    /// Calls that succeeded in the table and were answered with an error.
    pub errors_after_success: u64,
    /// Calls given added latency.
    pub delayed: u64,
}

impl LeaseFaultCounts {
    /// Every injected fault but latency.
    pub fn injected(&self) -> u64 {
        self.errors + self.timeouts + self.errors_after_success
    }
}
