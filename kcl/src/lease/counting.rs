//! Counting lease table calls and items read: [`CountingLeaseTable`].
//!
//! The cost of coordination on DynamoDB is mostly items read (a scan reads every item; a
//! query of the owner index reads the keys it returns; a `GetItem` reads one item, found
//! or not). This wrapper counts, for any [`LeaseTable`], calls and the items each read
//! call returned, as DynamoDB would bill them, so that tests and benchmarks can compare a
//! fleet's reads with the Java KCL's. Writes read nothing (their answer comes with the
//! write).

use super::{CheckpointUpdate, FleetState, LeaderUpdate, Lease, LeaseError, LeaseTable};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`CountingLeaseTable`] counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseCallCounts {
    /// Every call.
    pub calls: u64,
    /// Read calls (`list_leases`, `get_lease`, `list_lease_keys_by_owner`).
    pub reads: u64,
    /// Items the read calls read (a full scan: every item; a get: one).
    pub items_read: u64,
    /// Full scans (`list_leases`).
    pub scans: u64,
    /// Write calls.
    pub writes: u64,
}

impl std::ops::Sub for LeaseCallCounts {
    type Output = LeaseCallCounts;
    fn sub(self, o: LeaseCallCounts) -> LeaseCallCounts {
        LeaseCallCounts {
            calls: self.calls.saturating_sub(o.calls),
            reads: self.reads.saturating_sub(o.reads),
            items_read: self.items_read.saturating_sub(o.items_read),
            scans: self.scans.saturating_sub(o.scans),
            writes: self.writes.saturating_sub(o.writes),
        }
    }
}

impl std::ops::Add for LeaseCallCounts {
    type Output = LeaseCallCounts;
    fn add(self, o: LeaseCallCounts) -> LeaseCallCounts {
        LeaseCallCounts {
            calls: self.calls + o.calls,
            reads: self.reads + o.reads,
            items_read: self.items_read + o.items_read,
            scans: self.scans + o.scans,
            writes: self.writes + o.writes,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    reads: AtomicU64,
    items_read: AtomicU64,
    scans: AtomicU64,
    writes: AtomicU64,
}

/// Wraps a [`LeaseTable`] and counts its calls and items read (see the module docs).
/// Cheap to clone; clones share the counts.
#[derive(Debug, Clone)]
pub struct CountingLeaseTable {
    inner: Arc<dyn LeaseTable>,
    counters: Arc<Counters>,
}

impl CountingLeaseTable {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<dyn LeaseTable>) -> CountingLeaseTable {
        CountingLeaseTable {
            inner,
            counters: Arc::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> LeaseCallCounts {
        let c = &self.counters;
        LeaseCallCounts {
            calls: c.calls.load(Ordering::Relaxed),
            reads: c.reads.load(Ordering::Relaxed),
            items_read: c.items_read.load(Ordering::Relaxed),
            scans: c.scans.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
        }
    }

    fn read(&self, items: usize) {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
        self.counters
            .items_read
            .fetch_add(items as u64, Ordering::Relaxed);
    }

    fn write(&self) {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl LeaseTable for CountingLeaseTable {
    async fn create_lease_if_not_exists(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.write();
        self.inner.create_lease_if_not_exists(lease).await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        let out = self.inner.list_leases().await;
        self.counters.scans.fetch_add(1, Ordering::Relaxed);
        // A scan also reads the coordination rows it filters out; count one for the fleet row.
        let fleet = usize::from(self.inner.supports_fleet());
        self.read(out.as_ref().map_or(0, |v| v.len() + fleet));
        out
    }

    async fn get_lease(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        self.read(1);
        self.inner.get_lease(key).await
    }

    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.write();
        self.inner.renew_lease(lease).await
    }

    async fn take_lease(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        self.write();
        self.inner.take_lease(lease, owner).await
    }

    async fn evict_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.write();
        self.inner.evict_lease(lease).await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        new_owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        self.write();
        self.inner.hand_over_lease(lease, new_owner).await
    }

    async fn complete_hand_over(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.write();
        self.inner.complete_hand_over(lease).await
    }

    async fn update_checkpoint(
        &self,
        lease: &Lease,
        update: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        self.write();
        self.inner.update_checkpoint(lease, update).await
    }

    async fn update_lease_meta(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.write();
        self.inner.update_lease_meta(lease).await
    }

    async fn delete_lease(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.write();
        self.inner.delete_lease(lease).await
    }

    async fn list_lease_keys_by_owner(&self, owner: &str) -> Result<Vec<String>, LeaseError> {
        let out = self.inner.list_lease_keys_by_owner(owner).await;
        self.read(out.as_ref().map_or(0, Vec::len));
        out
    }

    fn supports_fleet(&self) -> bool {
        self.inner.supports_fleet()
    }

    async fn fleet_heartbeat(
        &self,
        worker: &str,
        changed: bool,
        leaving: bool,
    ) -> Result<FleetState, LeaseError> {
        self.write();
        self.inner.fleet_heartbeat(worker, changed, leaving).await
    }

    async fn update_fleet_leader(
        &self,
        seen: &FleetState,
        update: &LeaderUpdate,
    ) -> Result<Option<FleetState>, LeaseError> {
        self.write();
        self.inner.update_fleet_leader(seen, update).await
    }
}
