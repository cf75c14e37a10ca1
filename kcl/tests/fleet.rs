//! The fleet protocol on SQLite: the leader's crash and graceful shutdown, and the
//! every-worker mode kept for tables without the fleet row.

mod common;

use common::*;
use rill_kcl::*;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The leader as the SQLite fleet table records it.
fn leader(path: &Path) -> Option<String> {
    let c = rusqlite::Connection::open(path).ok()?;
    c.query_row(
        "SELECT leaseOwner FROM \"app__fleet\" WHERE id = 1",
        [],
        |r| r.get::<_, Option<String>>(0),
    )
    .ok()
    .flatten()
}

/// Whether `live` hold every lease, `each` apiece, with no handoff in flight.
async fn spread(table: &dyn LeaseTable, live: &[&str], each: usize) -> bool {
    let m = owners(table).await;
    live.iter().all(|w| m.get(*w) == Some(&each)) && m.values().sum::<usize>() == live.len() * each
}

struct Fleet {
    handles: HashMap<String, ShutdownHandle>,
    runs: HashMap<String, tokio::task::JoinHandle<Result<(), KclError>>>,
}

async fn start(
    kinesis: &Arc<dyn rill_engine::api::Kinesis>,
    table: &Arc<dyn LeaseTable>,
    workers: &[&str],
    log: &Log,
    coordination: Coordination,
) -> TestResult<Fleet> {
    let mut fleet = Fleet {
        handles: HashMap::new(),
        runs: HashMap::new(),
    };
    for w in workers {
        let s = builder(kinesis.clone(), table.clone(), w, log, true, &FAST)
            .coordination(coordination)
            .build()?;
        fleet.handles.insert(w.to_string(), s.shutdown_handle());
        fleet.runs.insert(w.to_string(), tokio::spawn(s.run()));
    }
    Ok(fleet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_replaced_within_a_failover() -> TestResult {
    let (dir, kinesis) = engine(12).await?;
    let path = dir.path().join("leases.sqlite");
    let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(&path, "app")?);
    let log = Log::default();
    let all = ["w0", "w1", "w2", "w3"];
    let mut fleet = start(&kinesis, &table, &all, &log, Coordination::Auto).await?;
    wait_until(Duration::from_secs(20), "3 leases each", || {
        spread(table.as_ref(), &all, 3)
    })
    .await?;
    let old = leader(&path).ok_or("no leader")?;
    // A crash: the leader's future is dropped, nothing is released.
    fleet.runs.remove(&old).ok_or("leader not running")?.abort();
    let crashed = Instant::now();
    let live: Vec<&str> = all.iter().copied().filter(|w| *w != old).collect();
    wait_until(
        Duration::from_secs(20),
        "4 leases each on the others",
        || spread(table.as_ref(), &live, 4),
    )
    .await?;
    let took = crashed.elapsed();
    let new = leader(&path).ok_or("no leader after the crash")?;
    assert_ne!(new, old);
    // Failover plus the leader's failover (at once, not after): within one failover
    // time plus two renewal intervals, with scheduling slack.
    let bound = FAST.failover + FAST.renewal * 2 + Duration::from_millis(700);
    assert!(took <= bound, "took {took:?}, bound {bound:?}");
    for (_, h) in fleet.handles.iter().filter(|(w, _)| **w != old) {
        h.shutdown().await;
    }
    for (_, r) in fleet.runs {
        r.await??;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_shut_down_gracefully_hands_everything_over_at_once() -> TestResult {
    let (dir, kinesis) = engine(8).await?;
    let path = dir.path().join("leases.sqlite");
    let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(&path, "app")?);
    let log = Log::default();
    put(kinesis.as_ref(), 0, 2000).await?;
    let all = ["w0", "w1"];
    let mut fleet = start(&kinesis, &table, &all, &log, Coordination::Auto).await?;
    wait_until(
        Duration::from_secs(20),
        "4 leases each and 2000 records",
        || async { spread(table.as_ref(), &all, 4).await && log.counts().0 == 2000 },
    )
    .await?;
    let old = leader(&path).ok_or("no leader")?;
    let other = all.iter().copied().find(|w| *w != old).ok_or("no other")?;
    let only = [other];
    let stopped = Instant::now();
    fleet.handles[&old].shutdown().await;
    fleet.runs.remove(&old).ok_or("not running")?.await??;
    wait_until(Duration::from_secs(20), "every lease on the other", || {
        spread(table.as_ref(), &only, 8)
    })
    .await?;
    // The leader resigned and the leases were released: nothing waits for a failover.
    assert!(
        stopped.elapsed() < FAST.failover,
        "took {:?}",
        stopped.elapsed()
    );
    assert_eq!(leader(&path).as_deref(), Some(other));
    put(kinesis.as_ref(), 2000, 3000).await?;
    wait_until(Duration::from_secs(20), "3000 records", || async {
        log.counts().0 == 3000
    })
    .await?;
    assert_eq!(log.counts().1, 0, "a graceful move delivers nothing twice");
    fleet.handles[other].shutdown().await;
    for (_, r) in fleet.runs {
        r.await??;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_mode_still_spreads_evenly() -> TestResult {
    let (dir, kinesis) = engine(9).await?;
    let path = dir.path().join("leases.sqlite");
    let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(&path, "app")?);
    let log = Log::default();
    let all = ["w0", "w1", "w2"];
    let fleet = start(&kinesis, &table, &all, &log, Coordination::EveryWorker).await?;
    wait_until(Duration::from_secs(20), "3 leases each", || {
        spread(table.as_ref(), &all, 3)
    })
    .await?;
    assert_eq!(leader(&path), None, "nobody leads in every-worker mode");
    for h in fleet.handles.values() {
        h.shutdown().await;
    }
    for (_, r) in fleet.runs {
        r.await??;
    }
    Ok(())
}
