//! A lease scan that fails after taking some leases (a later call to the table failed)
//! still hands every lease it took to the scheduler, through
//! `LeaseCoordinator::take_unstarted`: the worker holds and renews them, so a lease left
//! without a processing loop would stall its shard with nobody else allowed to take it.

use async_trait::async_trait;
use rill_kcl::lease::coordinator::LeaseCoordinator;
use rill_kcl::{
    CheckpointUpdate, ExtendedSequenceNumber, Lease, LeaseConfig, LeaseError, LeaseTable,
    SqliteLeaseTable,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// SQLite, except that the second `take_lease` fails (before touching the table).
#[derive(Debug)]
struct SecondTakeFails {
    inner: SqliteLeaseTable,
    takes: AtomicUsize,
}

#[async_trait]
impl LeaseTable for SecondTakeFails {
    async fn create_lease_if_not_exists(&self, l: &Lease) -> Result<bool, LeaseError> {
        self.inner.create_lease_if_not_exists(l).await
    }
    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        self.inner.list_leases().await
    }
    async fn get_lease(&self, k: &str) -> Result<Option<Lease>, LeaseError> {
        self.inner.get_lease(k).await
    }
    async fn renew_lease(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.renew_lease(l).await
    }
    async fn take_lease(&self, l: &Lease, o: &str) -> Result<Option<Lease>, LeaseError> {
        if self.takes.fetch_add(1, Ordering::SeqCst) == 1 {
            return Err(LeaseError::Storage {
                message: "take_lease (injected)".into(),
                source: "the second take fails".into(),
            });
        }
        self.inner.take_lease(l, o).await
    }
    async fn evict_lease(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.evict_lease(l).await
    }
    async fn hand_over_lease(&self, l: &Lease, o: &str) -> Result<Option<Lease>, LeaseError> {
        self.inner.hand_over_lease(l, o).await
    }
    async fn complete_hand_over(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.complete_hand_over(l).await
    }
    async fn update_checkpoint(
        &self,
        l: &Lease,
        u: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        self.inner.update_checkpoint(l, u).await
    }
    async fn update_lease_meta(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.update_lease_meta(l).await
    }
    async fn delete_lease(&self, l: &Lease) -> Result<bool, LeaseError> {
        self.inner.delete_lease(l).await
    }
}

#[tokio::test]
async fn a_failed_scan_still_hands_over_the_leases_it_took() -> R {
    let dir = tempfile::tempdir()?;
    let table = Arc::new(SecondTakeFails {
        inner: SqliteLeaseTable::open(dir.path().join("leases.sqlite"), "app")?,
        takes: AtomicUsize::new(0),
    });
    for key in ["shardId-000000000000", "shardId-000000000001"] {
        table
            .create_lease_if_not_exists(&Lease::new(key, ExtendedSequenceNumber::trim_horizon()))
            .await?;
    }
    let coordinator = LeaseCoordinator::new("w".into(), table.clone(), LeaseConfig::default());
    let scan = coordinator.take_leases().await;
    assert!(scan.is_err(), "the second take fails the scan: {scan:?}");
    let held = coordinator.held();
    assert_eq!(held.len(), 1, "the first take stands: the worker holds it");
    let unstarted = coordinator.take_unstarted();
    assert_eq!(unstarted.len(), 1, "and it is handed over to be processed");
    assert_eq!(unstarted[0].key, held[0].key);
    assert!(coordinator.take_unstarted().is_empty(), "once");
    // The next scan takes the other lease, and hands over only that one.
    coordinator.take_leases().await?;
    let next = coordinator.take_unstarted();
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].key, held[0].key);
    Ok(())
}
