//! The lease table suite (`rill_testkit::lease_suite`) against the SQLite table, plus a
//! two-connection race (as two processes on one file), and `BoundedLeaseTable` over calls
//! that never answer.

mod common;

use rill_kcl::lease::BoundedLeaseTable;
use rill_kcl::{LeaseError, LeaseTable, SqliteLeaseTable};
use rill_testkit::lease_suite as suite;
use rill_testkit::{FaultyLeaseTable, LeaseFaultConfig, LeaseFaults, Timeout};
use std::sync::Arc;
use std::time::Duration;

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn table() -> Result<(tempfile::TempDir, SqliteLeaseTable), Box<dyn std::error::Error + Send + Sync>>
{
    let dir = tempfile::tempdir()?;
    let t = SqliteLeaseTable::open(dir.path().join("leases.sqlite"), "app")?;
    Ok((dir, t))
}

#[tokio::test]
async fn create_get_list() -> R {
    let (_d, t) = table()?;
    suite::create_get_list(&t).await
}

#[tokio::test]
async fn writes_are_conditional_on_counter() -> R {
    let (_d, t) = table()?;
    suite::writes_are_conditional_on_counter(&t).await
}

#[tokio::test]
async fn checkpoints() -> R {
    let (_d, t) = table()?;
    suite::checkpoints(&t).await
}

#[tokio::test]
async fn handoff_and_meta() -> R {
    let (_d, t) = table()?;
    suite::handoff_and_meta(&t).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_race_one_connection() -> R {
    let (_d, t) = table()?;
    suite::take_race(Arc::new(t)).await
}

/// Several connections (as several processes) on one file race through a router that
/// alternates between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races_across_connections() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("leases.sqlite");
    let conns: Vec<Arc<dyn LeaseTable>> = (0..4)
        .map(|_| SqliteLeaseTable::open(&path, "app").map(|t| Arc::new(t) as Arc<dyn LeaseTable>))
        .collect::<Result<_, _>>()?;
    let router = Arc::new(common::RoundRobin::new(conns));
    suite::take_race(router.clone()).await?;
    suite::steal_vs_renew_race(router).await
}

#[test]
fn bad_table_name_is_refused() {
    let dir = tempfile::tempdir().ok();
    let path = dir
        .as_ref()
        .map(|d| d.path().join("x.sqlite"))
        .unwrap_or_default();
    assert!(SqliteLeaseTable::open(&path, "bad\"name").is_err());
    assert!(SqliteLeaseTable::open(&path, "").is_err());
}

#[tokio::test]
async fn keys_by_owner_and_load() -> R {
    let (_d, t) = table()?;
    suite::keys_by_owner_and_load(&t).await
}

#[tokio::test]
async fn fleet_row() -> R {
    let (_d, t) = table()?;
    suite::fleet_row(&t).await
}

/// A lease file made before the load columns existed opens, gets them, and keeps its rows.
#[tokio::test]
async fn old_files_get_the_load_columns() -> R {
    let d = tempfile::tempdir()?;
    let path = d.path().join("old.sqlite");
    {
        let c = rusqlite::Connection::open(&path)?;
        c.execute_batch(
            "CREATE TABLE \"app\" (leaseKey TEXT PRIMARY KEY NOT NULL, leaseOwner TEXT,
             leaseCounter INTEGER NOT NULL, checkpoint TEXT NOT NULL,
             checkpointSubSequenceNumber INTEGER NOT NULL, pendingCheckpoint TEXT,
             pendingCheckpointSubSequenceNumber INTEGER, pendingCheckpointState BLOB,
             ownerSwitchesSinceCheckpoint INTEGER NOT NULL, parentShardId TEXT,
             childShardIds TEXT, startingHashKey TEXT, endingHashKey TEXT, checkpointOwner TEXT);
             INSERT INTO \"app\" VALUES ('shardId-000000000000', 'w', 3, 'TRIM_HORIZON', 0,
             NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL);",
        )?;
    }
    let t = rill_kcl::SqliteLeaseTable::open(&path, "app")?;
    let l = t
        .get_lease("shardId-000000000000")
        .await?
        .ok_or("row lost")?;
    assert_eq!((l.lease_counter, l.load), (3, None));
    assert_eq!(t.list_lease_keys_by_owner("w").await?, vec![l.lease_key]);
    Ok(())
}

/// `BoundedLeaseTable` over a table whose calls never answer (rill-testkit's
/// `FaultyLeaseTable`): each call fails with `LeaseError::Timeout` at the bound.
#[tokio::test]
async fn a_bounded_call_that_hangs_fails_with_timeout_at_the_bound()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let sqlite: Arc<dyn LeaseTable> =
        Arc::new(SqliteLeaseTable::open(dir.path().join("l.sqlite"), "app")?);
    let hanging = Arc::new(FaultyLeaseTable::new(
        Arc::clone(&sqlite),
        LeaseFaultConfig::new(1)
            .for_all(LeaseFaults::none().with_timeouts(1.0, Timeout::forever())),
    ));
    let bounded = BoundedLeaseTable::new(hanging.clone(), Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    match bounded.list_leases().await {
        Err(LeaseError::Timeout { operation, after }) => {
            assert_eq!(operation, "ListLeases");
            assert_eq!(after, Duration::from_millis(100));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(100));
    // Answers pass through unchanged.
    hanging.set_enabled(false);
    assert_eq!(bounded.list_leases().await?.len(), 0);
    Ok(())
}
