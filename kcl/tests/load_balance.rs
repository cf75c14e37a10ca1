//! Load-aware balancing: a skewed stream (4 of 16 shards at 10 times the others' rate) on
//! 4 workers ends with every worker's load within 15 % of the mean, by planned moves
//! (graceful handoffs) that deliver nothing twice.
//!
//! One worker starts alone and measures every shard's load; three join. The hot shards
//! are 0, 4, 8 and 12, the ones a count-based spread in key order gives to one worker.

mod common;

use bytes::Bytes;
use common::*;
use rill_engine::api::{Kinesis, PutRecordsInput, PutRecordsRequestEntry};
use rill_kcl::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const SHARDS: usize = 16;
const HOT: usize = 4;
const WORKERS: usize = 4;

fn is_hot(shard: usize) -> bool {
    shard.is_multiple_of(SHARDS / HOT)
}

/// One round of the feed: 10 records to each hot shard, 1 to each other, 100 bytes each.
async fn feed_round(kinesis: &dyn Kinesis, next: &mut usize) -> TestResult {
    let mut records = Vec::new();
    for shard in 0..SHARDS {
        let n = if is_hot(shard) { 10 } else { 1 };
        for _ in 0..n {
            let data = format!("{:0100}", *next);
            *next += 1;
            records.push(PutRecordsRequestEntry {
                data: Bytes::from(data),
                partition_key: "pk".into(),
                explicit_hash_key: Some(((shard as u128) << 124).to_string()),
            });
        }
    }
    let out = kinesis
        .put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records,
            ..Default::default()
        })
        .await?;
    assert_eq!(out.failed_record_count, 0);
    Ok(())
}

/// Each worker's load by the rates the feed writes (10 per hot shard, 1 per other).
async fn true_loads(table: &dyn LeaseTable) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for l in table.list_leases().await.unwrap_or_default() {
        let Some(owner) = l.lease_owner.clone() else {
            continue;
        };
        if l.checkpoint_owner.is_some() {
            return HashMap::new(); // a move in flight
        }
        let shard: usize = l.lease_key[8..].parse().unwrap_or(usize::MAX);
        *per.entry(owner).or_default() += if is_hot(shard) { 10 } else { 1 };
    }
    per
}

fn within_tolerance(per: &HashMap<String, usize>) -> bool {
    let total: usize = per.values().sum();
    let mean = total as f64 / WORKERS as f64;
    per.len() == WORKERS
        && per
            .values()
            .all(|l| (*l as f64 - mean).abs() <= 0.15 * mean)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_stream_is_balanced_by_load_without_duplicates() -> TestResult {
    let (dir, kinesis) = engine(SHARDS as i32).await?;
    let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "app",
    )?);
    let log = Log::default();
    let mut handles = Vec::new();
    let mut runs = Vec::new();
    let s = scheduler(kinesis.clone(), table.clone(), "w0", &log, true, &FAST)?;
    handles.push(s.shutdown_handle());
    runs.push(tokio::spawn(s.run()));
    let feeding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let feeder = {
        let (k, feeding) = (kinesis.clone(), feeding.clone());
        tokio::spawn(async move {
            let mut next = 0usize;
            while feeding.load(std::sync::atomic::Ordering::Relaxed) {
                feed_round(k.as_ref(), &mut next).await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            TestResult::Ok(next)
        })
    };
    wait_until(
        Duration::from_secs(30),
        "w0 measured every shard",
        || async {
            let leases = table.list_leases().await.unwrap_or_default();
            leases.len() == SHARDS
                && leases
                    .iter()
                    .all(|l| l.lease_owner.as_deref() == Some("w0") && l.load.is_some())
        },
    )
    .await?;
    for i in 1..WORKERS {
        let s = scheduler(
            kinesis.clone(),
            table.clone(),
            &format!("w{i}"),
            &log,
            true,
            &FAST,
        )?;
        handles.push(s.shutdown_handle());
        runs.push(tokio::spawn(s.run()));
    }
    let balanced = wait_until(
        Duration::from_secs(60),
        "every worker's load within 15 % of the mean, twice in a row",
        || async {
            if !within_tolerance(&true_loads(table.as_ref()).await) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            within_tolerance(&true_loads(table.as_ref()).await)
        },
    )
    .await;
    if balanced.is_err() {
        for l in table.list_leases().await? {
            eprintln!(
                "{} owner {:?} handoff {:?} load {:?}",
                l.lease_key, l.lease_owner, l.checkpoint_owner, l.load
            );
        }
    }
    balanced?;
    let hot_per_worker: HashMap<String, usize> =
        table
            .list_leases()
            .await?
            .iter()
            .fold(HashMap::new(), |mut m, l| {
                let shard: usize = l.lease_key[8..].parse().unwrap_or(usize::MAX);
                if is_hot(shard) {
                    *m.entry(l.lease_owner.clone().unwrap_or_default())
                        .or_default() += 1;
                }
                m
            });
    assert!(
        hot_per_worker.values().all(|n| *n == 1),
        "{hot_per_worker:?}"
    );
    feeding.store(false, std::sync::atomic::Ordering::Relaxed);
    let total = feeder.await??;
    wait_until(
        Duration::from_secs(30),
        "every record processed",
        || async { log.counts().0 == total },
    )
    .await?;
    for h in &handles {
        h.shutdown().await;
    }
    for r in runs {
        r.await??;
    }
    let (distinct, dups) = log.counts();
    if dups > 0 {
        let mut by: HashMap<(String, u64), Vec<(String, String)>> = HashMap::new();
        for d in log.snapshot() {
            by.entry((d.seq.clone(), d.sub))
                .or_default()
                .push((d.worker.clone(), d.shard.clone()));
        }
        let mut shown = 0;
        for (k, v) in &by {
            if v.len() > 1 && shown < 10 {
                eprintln!("dup {k:?}: {v:?}");
                shown += 1;
            }
        }
    }
    assert_eq!(distinct, total);
    assert_eq!(dups, 0, "planned moves delivered records twice");
    eprintln!("{total} records, balanced by load, 0 duplicates");
    Ok(())
}
