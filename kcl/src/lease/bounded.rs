//! A deadline on every lease table call: [`BoundedLeaseTable`].
//!
//! A lease table that stops answering (a DynamoDB endpoint that accepts connections and never
//! replies, a SQLite file on a hung network mount) would otherwise stall whatever waits on
//! it: a processor's checkpoint, a balancing scan, a shard sync. The scheduler wraps its
//! table in this, so such a call fails with [`LeaseError::Timeout`] after the configured
//! time and its caller retries it as any transient storage failure (renewals have a shorter
//! bound of their own, see the coordinator).
//!
//! A write given up this way may still be applied later, as a write whose response was
//! lost: the lease counter makes the next conditional write see it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{CheckpointUpdate, FleetState, LeaderUpdate, Lease, LeaseError, LeaseTable};

/// Wraps a [`LeaseTable`] so that every call answers within `timeout` (see the module docs).
#[derive(Debug, Clone)]
pub struct BoundedLeaseTable {
    inner: Arc<dyn LeaseTable>,
    timeout: Duration,
}

impl BoundedLeaseTable {
    /// Bounds every call to `inner` by `timeout`.
    pub fn new(inner: Arc<dyn LeaseTable>, timeout: Duration) -> BoundedLeaseTable {
        BoundedLeaseTable { inner, timeout }
    }

    /// The bound.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn bound<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, LeaseError>>,
    ) -> Result<T, LeaseError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(LeaseError::Timeout {
                operation,
                after: self.timeout,
            }),
        }
    }
}

#[async_trait]
impl LeaseTable for BoundedLeaseTable {
    async fn create_lease_if_not_exists(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.bound(
            "CreateLeaseIfNotExists",
            self.inner.create_lease_if_not_exists(lease),
        )
        .await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        self.bound("ListLeases", self.inner.list_leases()).await
    }

    async fn get_lease(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        self.bound("GetLease", self.inner.get_lease(key)).await
    }

    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.bound("RenewLease", self.inner.renew_lease(lease))
            .await
    }

    async fn take_lease(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        self.bound("TakeLease", self.inner.take_lease(lease, owner))
            .await
    }

    async fn evict_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.bound("EvictLease", self.inner.evict_lease(lease))
            .await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        new_owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        self.bound(
            "HandOverLease",
            self.inner.hand_over_lease(lease, new_owner),
        )
        .await
    }

    async fn complete_hand_over(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.bound("CompleteHandOver", self.inner.complete_hand_over(lease))
            .await
    }

    async fn update_checkpoint(
        &self,
        lease: &Lease,
        update: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        self.bound(
            "UpdateCheckpoint",
            self.inner.update_checkpoint(lease, update),
        )
        .await
    }

    async fn update_lease_meta(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.bound("UpdateLeaseMeta", self.inner.update_lease_meta(lease))
            .await
    }

    async fn delete_lease(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.bound("DeleteLease", self.inner.delete_lease(lease))
            .await
    }

    async fn list_lease_keys_by_owner(&self, owner: &str) -> Result<Vec<String>, LeaseError> {
        self.bound(
            "ListLeaseKeysByOwner",
            self.inner.list_lease_keys_by_owner(owner),
        )
        .await
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
        self.bound(
            "FleetHeartbeat",
            self.inner.fleet_heartbeat(worker, changed, leaving),
        )
        .await
    }

    async fn update_fleet_leader(
        &self,
        seen: &FleetState,
        update: &LeaderUpdate,
    ) -> Result<Option<FleetState>, LeaseError> {
        self.bound(
            "UpdateFleetLeader",
            self.inner.update_fleet_leader(seen, update),
        )
        .await
    }
}
