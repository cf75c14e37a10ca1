//! Unit tests of [`FaultyLeaseTable`](super::FaultyLeaseTable) over a SQLite table.

use super::*;
use rill_kcl::ExtendedSequenceNumber;
use rill_kcl::lease::{Lease, LeaseError, LeaseTable, SqliteLeaseTable};
use std::sync::Arc;
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn error_after_success_writes_and_errors_do_not() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inner: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(dir.path().join("l"), "app")?);
    let lease = Lease::new("shard-0", ExtendedSequenceNumber::trim_horizon());
    inner.create_lease_if_not_exists(&lease).await?;
    let faulty = FaultyLeaseTable::new(
        Arc::clone(&inner),
        LeaseFaultConfig::new(1).for_operation(
            LeaseOperation::TakeLease,
            LeaseFaults::none().with_error_after_success(1.0),
        ),
    );
    let e = faulty.take_lease(&lease, "w").await;
    assert!(matches!(e, Err(LeaseError::Storage { .. })), "{e:?}");
    let now = inner.get_lease("shard-0").await?.ok_or("gone")?;
    assert_eq!(now.lease_owner.as_deref(), Some("w"), "taken anyway");
    assert_eq!(faulty.counts().errors_after_success, 1);
    faulty.set_config(LeaseFaultConfig::new(1).for_all(LeaseFaults::none().with_error_rate(1.0)));
    assert!(faulty.evict_lease(&now).await.is_err());
    let after = inner.get_lease("shard-0").await?.ok_or("gone")?;
    assert_eq!(after, now, "not written");
    // Hangs: fail after a while, or never answer.
    faulty.set_config(LeaseFaultConfig::new(2).for_all(
        LeaseFaults::none().with_timeouts(1.0, Timeout::fail_after(Duration::from_millis(30))),
    ));
    let start = std::time::Instant::now();
    assert!(faulty.list_leases().await.is_err());
    assert!(start.elapsed() >= Duration::from_millis(30));
    faulty.set_config(
        LeaseFaultConfig::new(2)
            .for_all(LeaseFaults::none().with_timeouts(1.0, Timeout::forever().applied())),
    );
    let r = tokio::time::timeout(Duration::from_millis(50), faulty.evict_lease(&now)).await;
    assert!(r.is_err(), "never answered");
    let evicted = inner.get_lease("shard-0").await?.ok_or("gone")?;
    assert_eq!(evicted.lease_owner, None, "applied before hanging");
    // Off: straight through.
    faulty.set_enabled(false);
    assert_eq!(faulty.list_leases().await?.len(), 1);
    assert_eq!(faulty.counts().timeouts, 2);
    assert_eq!(faulty.counts().errors, 1);
    Ok(())
}

#[tokio::test]
async fn the_fleet_row_and_the_owner_index_are_forwarded_with_faults() -> TestResult {
    let dir = tempfile::tempdir()?;
    let inner: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(dir.path().join("l"), "app")?);
    let mut lease = Lease::new("shard-0", ExtendedSequenceNumber::trim_horizon());
    lease.lease_owner = Some("w".into());
    inner.create_lease_if_not_exists(&lease).await?;
    let faulty = FaultyLeaseTable::new(
        Arc::clone(&inner),
        LeaseFaultConfig::new(1).with_fleet(true).for_operation(
            LeaseOperation::FleetHeartbeat,
            LeaseFaults::none().with_error_rate(1.0),
        ),
    );
    assert_eq!(faulty.supports_fleet(), inner.supports_fleet());
    let hidden = FaultyLeaseTable::new(Arc::clone(&inner), LeaseFaultConfig::new(1));
    assert!(
        !hidden.supports_fleet(),
        "fleet support is offered only with_fleet(true)"
    );
    let e = faulty.fleet_heartbeat("w", false, false).await;
    assert!(matches!(e, Err(LeaseError::Storage { .. })), "{e:?}");
    assert_eq!(faulty.counts_for(LeaseOperation::FleetHeartbeat).errors, 1);
    // Not injected: the call reaches the table.
    assert_eq!(faulty.list_lease_keys_by_owner("w").await?, vec!["shard-0"]);
    let c = faulty.counts_for(LeaseOperation::ListLeaseKeysByOwner);
    assert_eq!((c.calls, c.errors), (1, 0));
    faulty.set_enabled(false);
    let row = faulty.fleet_heartbeat("w", false, false).await?;
    let again = inner.fleet_heartbeat("w", false, false).await?;
    assert_ne!(row, again, "the heartbeat was written to the inner table");
    Ok(())
}
