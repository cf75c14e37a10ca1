//! `rill_kcl::multilang` end to end, with no peer: a record processor written in POSIX sh
//! (`tests/multilang/child.sh`) driven by the `Scheduler` over an embedded engine and
//! SQLite leases. Records delivered once per shard, in order, KPL aggregates split with
//! sub-sequence numbers; checkpoints after each batch, at shard end after a split, and on
//! graceful shutdown; a child that dies has its lease released and its shard taken again.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use rill_engine::api::agg::{UserRecord, encode};
use rill_engine::api::{HashKeyRange, Kinesis, PutRecordInput, SplitShardInput};
use rill_kcl::multilang::MultiLangFactory;
use rill_kcl::{ExtendedSequenceNumber, LeaseTable, Scheduler, SqliteLeaseTable};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn child_command() -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/multilang/child.sh");
    vec!["sh".into(), script.to_string_lossy().into_owned()]
}

/// Every record the children got, by shard: (sequence number, sub, data), in arrival order.
fn delivered(out: &Path) -> BTreeMap<String, Vec<(String, u64, String)>> {
    let mut by_shard = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(out) else {
        return by_shard;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(shard) = name.strip_suffix(".records") else {
            continue;
        };
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let mut recs = Vec::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            for r in v["records"].as_array().cloned().unwrap_or_default() {
                assert_eq!(r["action"], "record");
                let data = STANDARD
                    .decode(r["data"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                recs.push((
                    r["sequenceNumber"].as_str().unwrap_or_default().to_string(),
                    r["subSequenceNumber"].as_u64().unwrap_or(u64::MAX),
                    String::from_utf8_lossy(&data).into_owned(),
                ));
            }
        }
        by_shard.insert(shard.to_string(), recs);
    }
    by_shard
}

fn total(out: &Path) -> usize {
    delivered(out).values().map(Vec::len).sum()
}

fn log(out: &Path, shard: &str) -> String {
    std::fs::read_to_string(out.join(format!("{shard}.log"))).unwrap_or_default()
}

fn scheduler(
    kinesis: Arc<dyn Kinesis>,
    table: Arc<dyn LeaseTable>,
    command: Vec<String>,
) -> TestResult<Scheduler> {
    Ok(Scheduler::builder()
        .application_name("app")
        .stream_name("s")
        .worker_id("w0")
        .kinesis(kinesis)
        .lease_table(table)
        .initial_position(rill_kcl::InitialPosition::TrimHorizon)
        .failover_time(FAST.failover)
        .renewal_interval(FAST.renewal)
        .taker_interval(FAST.taker)
        .shard_sync_interval(Duration::from_millis(500))
        .polling(polling())
        .processor_factory(MultiLangFactory::new(command, Duration::from_secs(5)))
        .build()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sh_child_processes_checkpoints_across_a_split_and_on_shutdown() -> TestResult {
    let (dir, kinesis) = engine(2).await?;
    let out: PathBuf = dir.path().join("out");
    std::fs::create_dir_all(&out)?;
    let mut command = vec!["env".to_string(), format!("ML_OUT={}", out.display())];
    command.extend(child_command());
    let table: Arc<dyn LeaseTable> =
        Arc::new(SqliteLeaseTable::open(dir.path().join("leases.db"), "app")?);
    put(kinesis.as_ref(), 0, 100).await?;
    // One KPL aggregate of 50 user records: split, with sub-sequence numbers 0..50.
    let users: Vec<UserRecord> = (100..150)
        .map(|n| UserRecord {
            partition_key: "agg".into(),
            explicit_hash_key: None,
            data: n.to_string().into(),
        })
        .collect();
    kinesis
        .put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "agg".into(),
            data: encode(&users).into(),
            ..Default::default()
        })
        .await?;
    let s = scheduler(Arc::clone(&kinesis), Arc::clone(&table), command)?;
    let stop = s.shutdown_handle();
    let worker = tokio::spawn(s.run());
    wait_until(Duration::from_secs(30), "150 records", || async {
        total(&out) >= 150
    })
    .await?;

    let r0 = HashKeyRange::split_evenly(2)[0];
    kinesis
        .split_shard(SplitShardInput {
            stream_name: Some("s".into()),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: (r0.start.0 + (r0.end.0 - r0.start.0) / 2 + 1).to_string(),
            ..Default::default()
        })
        .await?;
    put(kinesis.as_ref(), 150, 250).await?;
    wait_until(Duration::from_secs(30), "250 records", || async {
        total(&out) >= 250
    })
    .await?;
    stop.shutdown().await;
    worker.await??;

    let by_shard = delivered(&out);
    // Every record once.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for recs in by_shard.values() {
        for (_, _, data) in recs {
            *seen.entry(data.clone()).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 250, "distinct records");
    assert!(seen.values().all(|&n| n == 1), "a record delivered twice");
    // In order per shard, aggregates split with increasing sub-sequence numbers.
    for (shard, recs) in &by_shard {
        let positions: Vec<ExtendedSequenceNumber> = recs
            .iter()
            .map(|(s, sub, _)| ExtendedSequenceNumber::new(s.clone(), *sub))
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{shard}: out of order"
        );
    }
    let subs: Vec<u64> = by_shard
        .values()
        .flatten()
        .filter(|(_, _, d)| (100..150).contains(&d.parse::<i32>().unwrap_or(-1)))
        .map(|(_, sub, _)| *sub)
        .collect();
    assert_eq!(subs, (0..50).collect::<Vec<u64>>());
    // The split parent: shardEnded, checkpointed without error; its children were read.
    let parent = log(&out, "shardId-000000000000");
    let ended = parent
        .lines()
        .find(|l| l.starts_with("shardEnded "))
        .ok_or_else(|| format!("no shardEnded in {parent}"))?;
    assert!(!ended.contains("error"), "{ended}");
    assert!(
        parent.contains("\"sequenceNumber\":\"TRIM_HORIZON\""),
        "{parent}"
    );
    assert!(parent.ends_with("exit\n"), "the child exited: {parent}");
    assert!(
        by_shard
            .keys()
            .any(|k| k == "shardId-000000000002" || k == "shardId-000000000003"),
        "children read: {:?}",
        by_shard.keys()
    );
    // Graceful shutdown: each open shard's child checkpointed at its last record.
    for lease in table.list_leases().await? {
        let shard = lease.lease_key.clone();
        if lease.is_shard_end() {
            continue;
        }
        let l = log(&out, &shard);
        if let Some(last) = by_shard.get(&shard).and_then(|r| r.last()) {
            assert!(
                l.contains("shutdownRequested {\"action\":\"checkpoint\""),
                "{shard}: {l}"
            );
            assert_eq!(
                lease.checkpoint(),
                ExtendedSequenceNumber::new(last.0.clone(), last.1),
                "{shard}"
            );
            assert_eq!(lease.lease_owner, None, "{shard}: released");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_dies_gets_its_shard_taken_again() -> TestResult {
    let (dir, kinesis) = engine(1).await?;
    let out: PathBuf = dir.path().join("out");
    std::fs::create_dir_all(&out)?;
    let marker = dir.path().join("died");
    let mut command = vec![
        "env".to_string(),
        format!("ML_OUT={}", out.display()),
        format!("ML_DIE_ONCE={}", marker.display()),
    ];
    command.extend(child_command());
    let table: Arc<dyn LeaseTable> =
        Arc::new(SqliteLeaseTable::open(dir.path().join("leases.db"), "app")?);
    put(kinesis.as_ref(), 0, 20).await?;
    let s = scheduler(Arc::clone(&kinesis), Arc::clone(&table), command)?;
    let stop = s.shutdown_handle();
    let worker = tokio::spawn(s.run());
    wait_until(
        Duration::from_secs(30),
        "20 records after a restart",
        || async { total(&out) >= 20 },
    )
    .await?;
    stop.shutdown().await;
    worker.await??;
    assert!(marker.is_dir(), "the first child died");
    let recs = delivered(&out);
    let data: Vec<&str> = recs
        .values()
        .flatten()
        .map(|(_, _, d)| d.as_str())
        .collect();
    let want: Vec<String> = (0..20).map(|n| n.to_string()).collect();
    assert_eq!(data, want.iter().map(String::as_str).collect::<Vec<_>>());
    // Two children were initialized for the shard: the one that died, and its successor.
    let l = log(&out, "shardId-000000000000");
    assert_eq!(l.matches("\"action\":\"initialize\"").count(), 2, "{l}");
    Ok(())
}
