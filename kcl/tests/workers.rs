//! Workers in one process on the embedded engine: balance, failover, graceful moves,
//! at-least-once counts, checkpoint rules.

mod common;

use common::*;
use rill_kcl::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sqlite(dir: &tempfile::TempDir) -> TestResult<Arc<dyn LeaseTable>> {
    Ok(Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "app",
    )?))
}

/// 3 workers on 12 shards settle at 4 leases each and stay there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_settle_at_four_each() -> TestResult {
    let (dir, kinesis) = engine(12).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for w in ["w0", "w1", "w2"] {
        let s = scheduler(kinesis.clone(), table.clone(), w, &log, true, &FAST)?;
        handles.push(s.shutdown_handle());
        tasks.push(tokio::spawn(s.run()));
    }
    let balanced = |m: &HashMap<String, usize>| {
        m.len() == 3 && ["w0", "w1", "w2"].iter().all(|w| m.get(*w) == Some(&4))
    };
    wait_until(Duration::from_secs(30), "4/4/4", || async {
        balanced(&owners(table.as_ref()).await)
    })
    .await?;
    // Stable: several scans later nothing moved.
    let before: Vec<Lease> = table.list_leases().await?;
    tokio::time::sleep(FAST.failover).await;
    let after: Vec<Lease> = table.list_leases().await?;
    let own = |v: &[Lease]| v.iter().map(|l| l.lease_owner.clone()).collect::<Vec<_>>();
    assert_eq!(own(&before), own(&after), "leases moved after settling");
    for h in &handles {
        h.shutdown().await;
    }
    for t in tasks {
        t.await??;
    }
    assert!(
        table
            .list_leases()
            .await?
            .iter()
            .all(|l| l.lease_owner.is_none()),
        "graceful shutdown releases every lease"
    );
    Ok(())
}

/// A worker dropped without shutdown: its shards are taken within failover time plus one
/// renewal interval (plus scheduling slack), and processing resumes from the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_stop_fails_over_from_checkpoint() -> TestResult {
    let (dir, kinesis) = engine(4).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    put(kinesis.as_ref(), 0, 2000).await?;
    let s0 = scheduler(kinesis.clone(), table.clone(), "w0", &log, true, &FAST)?;
    let h0 = s0.shutdown_handle();
    let t0 = tokio::spawn(s0.run());
    let s1 = scheduler(kinesis.clone(), table.clone(), "w1", &log, true, &FAST)?;
    let t1 = tokio::spawn(s1.run());
    wait_until(Duration::from_secs(30), "2/2 and all processed", || async {
        let m = owners(table.as_ref()).await;
        m.get("w0") == Some(&2) && m.get("w1") == Some(&2) && log.counts().0 == 2000
    })
    .await?;
    // Wait until every checkpoint is at the last record delivered on its shard.
    wait_until(Duration::from_secs(10), "checkpoints caught up", || async {
        let mut last: HashMap<String, ExtendedSequenceNumber> = HashMap::new();
        for d in log.snapshot() {
            let e = ExtendedSequenceNumber::new(d.seq, d.sub);
            let v = last.entry(d.shard).or_insert(e.clone());
            if e > *v {
                *v = e;
            }
        }
        let leases = table.list_leases().await.unwrap_or_default();
        leases
            .iter()
            .all(|l| last.get(&l.lease_key) == Some(&l.checkpoint()))
    })
    .await?;
    let w1_shards: Vec<Lease> = table
        .list_leases()
        .await?
        .into_iter()
        .filter(|l| l.lease_owner.as_deref() == Some("w1"))
        .collect();
    let delivered_before_kill = log.len();
    t1.abort();
    let killed = Instant::now();
    let _ = t1.await;
    put(kinesis.as_ref(), 2000, 4000).await?;
    wait_until(Duration::from_secs(30), "w0 owns all", || async {
        owners(table.as_ref()).await.get("w0") == Some(&4)
    })
    .await?;
    let took = killed.elapsed();
    let bound = FAST.failover + FAST.renewal + Duration::from_millis(700);
    assert!(took <= bound, "failover took {took:?}, bound {bound:?}");
    wait_until(Duration::from_secs(30), "all 4000 processed", || async {
        log.counts().0 == 4000
    })
    .await?;
    let (distinct, dups) = log.counts();
    assert_eq!(
        (distinct, dups),
        (4000, 0),
        "resumed exactly after the checkpoint"
    );
    for l in &w1_shards {
        let first = log
            .snapshot()
            .into_iter()
            .skip(delivered_before_kill)
            .find(|d| d.shard == l.lease_key && d.worker == "w0")
            .ok_or("w0 processed nothing of a taken shard")?;
        assert!(ExtendedSequenceNumber::new(first.seq, first.sub) > l.checkpoint());
    }
    h0.shutdown().await;
    t0.await??;
    Ok(())
}

/// A worker joining (steal by handoff) and a graceful shutdown move leases while records
/// flow, and no record is processed twice — even though processors checkpoint only when
/// asked to shut down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_shutdown_move_leases_without_duplicates() -> TestResult {
    let (dir, kinesis) = engine(8).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    let total = 24_000;
    let producer = {
        let k = kinesis.clone();
        tokio::spawn(async move {
            for i in (0..total).step_by(500) {
                put(k.as_ref(), i, i + 500).await?;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            TestResult::Ok(())
        })
    };
    let s0 = scheduler(kinesis.clone(), table.clone(), "w0", &log, false, &FAST)?;
    let h0 = s0.shutdown_handle();
    let t0 = tokio::spawn(s0.run());
    wait_until(Duration::from_secs(20), "w0 owns 8", || async {
        owners(table.as_ref()).await.get("w0") == Some(&8) && log.len() > 0
    })
    .await?;
    let s1 = scheduler(kinesis.clone(), table.clone(), "w1", &log, false, &FAST)?;
    let h1 = s1.shutdown_handle();
    let t1 = tokio::spawn(s1.run());
    wait_until(Duration::from_secs(30), "4/4", || async {
        let m = owners(table.as_ref()).await;
        m.get("w0") == Some(&4) && m.get("w1") == Some(&4)
    })
    .await?;
    let moved_while_flowing = log.len() < total;
    h0.shutdown().await;
    t0.await??;
    wait_until(Duration::from_secs(20), "w1 owns 8", || async {
        owners(table.as_ref()).await.get("w1") == Some(&8)
    })
    .await?;
    producer.await??;
    wait_until(Duration::from_secs(30), "all processed", || async {
        log.counts().0 == total
    })
    .await?;
    h1.shutdown().await;
    t1.await??;
    let (distinct, dups) = log.counts();
    assert_eq!(distinct, total);
    assert_eq!(dups, 0, "a planned move processed records twice");
    assert!(log.distinct_data().len() == total);
    let by_worker = log.snapshot().iter().fold(HashMap::new(), |mut m, d| {
        *m.entry(d.worker.clone()).or_insert(0usize) += 1;
        m
    });
    assert!(by_worker.get("w1").copied().unwrap_or(0) > 0);
    eprintln!("moved while flowing: {moved_while_flowing}; deliveries by worker: {by_worker:?}");
    Ok(())
}

/// End to end: plain and KPL-aggregated records, two workers, exact counts, shard order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_exact_counts_with_aggregates() -> TestResult {
    use bytes::Bytes;
    use rill_engine::api::{PutRecordsInput, PutRecordsRequestEntry, agg};
    let (dir, kinesis) = engine(4).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    put(kinesis.as_ref(), 0, 10_000).await?;
    // 100 aggregates of 10 user records each, all with the aggregate's explicit hash key.
    let ranges = rill_engine::api::HashKeyRange::split_evenly(4);
    let mut entries = Vec::new();
    for a in 0..100usize {
        let ehk = ranges[a % 4].start.0 + 1;
        let users: Vec<agg::UserRecord> = (0..10)
            .map(|j| agg::UserRecord {
                partition_key: format!("agg-{a}-{j}"),
                explicit_hash_key: Some(ehk.to_string()),
                data: Bytes::from((100_000 + a * 10 + j).to_string()),
            })
            .collect();
        entries.push(PutRecordsRequestEntry {
            data: Bytes::from(agg::encode(&users)),
            partition_key: format!("agg-{a}"),
            explicit_hash_key: Some(ehk.to_string()),
        });
    }
    kinesis
        .put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: entries,
            ..Default::default()
        })
        .await?;
    let s0 = scheduler(kinesis.clone(), table.clone(), "w0", &log, true, &FAST)?;
    let s1 = scheduler(kinesis.clone(), table.clone(), "w1", &log, true, &FAST)?;
    let (h0, h1) = (s0.shutdown_handle(), s1.shutdown_handle());
    let (t0, t1) = (tokio::spawn(s0.run()), tokio::spawn(s1.run()));
    wait_until(Duration::from_secs(30), "11000 records", || async {
        log.counts().0 == 11_000
    })
    .await?;
    h0.shutdown().await;
    h1.shutdown().await;
    t0.await??;
    t1.await??;
    let (distinct, dups) = log.counts();
    assert_eq!(distinct, 11_000);
    // Both workers start at once, so a lease may move once by steal; planned moves
    // checkpoint, so the count of duplicates is exactly zero.
    assert_eq!(dups, 0);
    let data = log.distinct_data();
    assert_eq!(data.len(), 11_000);
    let subs = log.snapshot().iter().filter(|d| d.sub == 9).count();
    assert_eq!(subs, 100, "every aggregate delivered its tenth sub-record");
    // Per shard, deliveries strictly increase.
    let mut last: HashMap<String, ExtendedSequenceNumber> = HashMap::new();
    for d in log.snapshot() {
        let e = ExtendedSequenceNumber::new(d.seq, d.sub);
        if let Some(prev) = last.insert(d.shard.clone(), e.clone()) {
            assert!(e > prev, "out of order on {}", d.shard);
        }
    }
    Ok(())
}

/// Checkpointer rules: beyond delivered, backwards, after lease loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpointer_rules() -> TestResult {
    use tokio::sync::mpsc;
    struct Probe(mpsc::UnboundedSender<String>);
    #[async_trait::async_trait]
    impl RecordProcessor for Probe {
        async fn initialize(&mut self, _: InitializationInput) {}
        async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
            let cp = input.checkpointer;
            let r = &input.records;
            if r.len() < 3 {
                let res = cp.checkpoint().await;
                let _ = self.0.send(format!("later:{}", res.is_ok()));
                return;
            }
            let beyond = cp
                .checkpoint_at(&format!("{}0", r[r.len() - 1].sequence_number), 0)
                .await;
            let _ = self.0.send(format!(
                "beyond:{}",
                matches!(beyond, Err(CheckpointError::BeyondDelivered { .. }))
            ));
            let ok = cp.checkpoint_at(&r[2].sequence_number, 0).await;
            let _ = self.0.send(format!("at:{}", ok.is_ok()));
            let back = cp.checkpoint_at(&r[1].sequence_number, 0).await;
            let _ = self.0.send(format!(
                "back:{}",
                matches!(back, Err(CheckpointError::Backwards { .. }))
            ));
            let prepared = cp.prepare_checkpoint(None, Some(b"state".to_vec())).await;
            let _ = self.0.send(format!("prepare:{}", prepared.is_ok()));
        }
        async fn lease_lost(&mut self) {
            let _ = self.0.send("lost".into());
        }
        async fn shard_ended(&mut self, _: ShardEndedInput<'_>) {}
    }
    let (dir, kinesis) = engine(1).await?;
    let table = sqlite(&dir)?;
    put(kinesis.as_ref(), 0, 10).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let s = Scheduler::builder()
        .application_name("app")
        .stream_name("s")
        .worker_id("w0")
        .kinesis(kinesis.clone())
        .lease_table(table.clone())
        .initial_position(InitialPosition::TrimHorizon)
        .failover_time(FAST.failover)
        .renewal_interval(FAST.renewal)
        .taker_interval(FAST.taker)
        .polling(polling())
        .processor_factory(move |_: &str| Box::new(Probe(tx.clone())) as Box<dyn RecordProcessor>)
        .build()?;
    let h = s.shutdown_handle();
    let t = tokio::spawn(s.run());
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await?
                .ok_or("closed")?,
        );
    }
    assert_eq!(
        got,
        vec!["beyond:true", "at:true", "back:true", "prepare:true"]
    );
    let lease = table
        .get_lease("shardId-000000000000")
        .await?
        .ok_or("no lease")?;
    assert!(lease.pending_checkpoint.is_some());
    assert_eq!(
        lease.pending_checkpoint_state.as_deref(),
        Some(&b"state"[..])
    );
    // Another worker takes the lease away; the next checkpoint fails and lease_lost follows.
    table.take_lease(&lease, "intruder").await?.ok_or("take")?;
    put(kinesis.as_ref(), 10, 11).await?;
    let mut rest = Vec::new();
    while rest.len() < 2 {
        rest.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await?
                .ok_or("closed")?,
        );
    }
    rest.sort();
    assert_eq!(rest, vec!["later:false", "lost"]);
    h.shutdown().await;
    t.await??;
    Ok(())
}

#[test]
fn builder_names_the_bad_parameter() {
    let err = Scheduler::builder().application_name("a").build();
    assert!(matches!(
        err,
        Err(KclError::Config {
            parameter: "stream_name",
            ..
        })
    ));
}

/// A split and then a merge during consumption: every record processed, each child only
/// after its parents finished, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_parents_before_children() -> TestResult {
    use rill_engine::api::{MergeShardsInput, SplitShardInput};
    let (dir, kinesis) = engine(2).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    put(kinesis.as_ref(), 0, 2000).await?;
    let s0 = scheduler(kinesis.clone(), table.clone(), "w0", &log, true, &FAST)?;
    let s1 = scheduler(kinesis.clone(), table.clone(), "w1", &log, true, &FAST)?;
    let (h0, h1) = (s0.shutdown_handle(), s1.shutdown_handle());
    let (t0, t1) = (tokio::spawn(s0.run()), tokio::spawn(s1.run()));
    wait_until(Duration::from_secs(20), "some records", || async {
        log.len() > 0
    })
    .await?;
    let r0 = rill_engine::api::HashKeyRange::split_evenly(2)[0];
    let mid = r0.start.0 + (r0.end.0 - r0.start.0) / 2 + 1;
    kinesis
        .split_shard(SplitShardInput {
            stream_name: Some("s".into()),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: mid.to_string(),
            ..Default::default()
        })
        .await?;
    put(kinesis.as_ref(), 2000, 4000).await?;
    kinesis
        .merge_shards(MergeShardsInput {
            stream_name: Some("s".into()),
            shard_to_merge: "shardId-000000000002".into(),
            adjacent_shard_to_merge: "shardId-000000000003".into(),
            ..Default::default()
        })
        .await?;
    put(kinesis.as_ref(), 4000, 6000).await?;
    wait_until(Duration::from_secs(30), "6000 records", || async {
        log.distinct_data().len() == 6000
    })
    .await?;
    let deliveries = log.snapshot();
    let first = |s: &str| deliveries.iter().position(|d| d.shard == s);
    let last = |s: &str| deliveries.iter().rposition(|d| d.shard == s);
    let id = |i: u32| format!("shardId-{i:012}");
    for (child, parents) in [(2, vec![0]), (3, vec![0]), (4, vec![2, 3])] {
        let Some(c) = first(&id(child)) else {
            return Err(format!("child {child} delivered nothing").into());
        };
        for p in parents {
            if let Some(p_last) = last(&id(p)) {
                assert!(p_last < c, "child {child} started before parent {p} ended");
            }
        }
    }
    let (_, dups) = log.counts();
    assert_eq!(dups, 0);
    // Finished parents are cleaned up once their children started.
    wait_until(Duration::from_secs(10), "parent leases deleted", || async {
        let keys: Vec<String> = table
            .list_leases()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.lease_key)
            .collect();
        !keys.contains(&id(0))
    })
    .await?;
    h0.shutdown().await;
    h1.shutdown().await;
    t0.await??;
    t1.await??;
    Ok(())
}
