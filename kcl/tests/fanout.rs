//! Enhanced fan-out retrieval (SubscribeToShard) on the embedded engine: graceful moves
//! between workers deliver nothing twice, resharding keeps parents before children, and the
//! stream consumer is registered once for the application.

mod common;

use common::*;
use rill_engine::api::{
    ConsumerStatus, DescribeStreamConsumerInput, DescribeStreamSummaryInput, Kinesis,
    ListStreamConsumersInput,
};
use rill_kcl::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn sqlite(dir: &tempfile::TempDir) -> TestResult<Arc<dyn LeaseTable>> {
    Ok(Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "app",
    )?))
}

fn fan_out_scheduler(
    kinesis: Arc<dyn Kinesis>,
    table: Arc<dyn LeaseTable>,
    worker: &str,
    log: &Log,
    checkpoint_each_batch: bool,
) -> TestResult<Scheduler> {
    Ok(
        builder(kinesis, table, worker, log, checkpoint_each_batch, &FAST)
            .retrieval(RetrievalMode::FanOut {
                consumer_name: None,
            })
            .fan_out(fan_out())
            .build()?,
    )
}

async fn stream_arn(kinesis: &dyn Kinesis) -> TestResult<String> {
    Ok(kinesis
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn)
}

/// Two workers with enhanced fan-out on 4 shards while records flow: a worker joins (half
/// the leases move to it), then the first shuts down (the rest move). Processors
/// checkpoint only when asked to shut down, so a single record delivered twice would show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_graceful_moves_deliver_every_record_once() -> TestResult {
    let (dir, kinesis) = engine(4).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    let total = 12_000;
    let producer = {
        let k = kinesis.clone();
        tokio::spawn(async move {
            for i in (0..total).step_by(200) {
                put(k.as_ref(), i, i + 200).await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            TestResult::Ok(())
        })
    };
    let s0 = fan_out_scheduler(kinesis.clone(), table.clone(), "w0", &log, false)?;
    let h0 = s0.shutdown_handle();
    let t0 = tokio::spawn(s0.run());
    wait_until(Duration::from_secs(20), "w0 owns 4", || async {
        owners(table.as_ref()).await.get("w0") == Some(&4) && log.len() > 0
    })
    .await?;
    let s1 = fan_out_scheduler(kinesis.clone(), table.clone(), "w1", &log, false)?;
    let h1 = s1.shutdown_handle();
    let t1 = tokio::spawn(s1.run());
    wait_until(Duration::from_secs(30), "2/2", || async {
        let m = owners(table.as_ref()).await;
        m.get("w0") == Some(&2) && m.get("w1") == Some(&2)
    })
    .await?;
    // w1 receives on both of its shards (its subscriptions waited out the 5 s rule).
    wait_until(Duration::from_secs(30), "w1 processing", || async {
        let shards: std::collections::HashSet<String> = log
            .snapshot()
            .into_iter()
            .filter(|d| d.worker == "w1")
            .map(|d| d.shard)
            .collect();
        shards.len() == 2
    })
    .await?;
    let moved_while_flowing = log.len() < total;
    h0.shutdown().await;
    t0.await??;
    wait_until(Duration::from_secs(20), "w1 owns 4", || async {
        owners(table.as_ref()).await.get("w1") == Some(&4)
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
    assert_eq!(log.distinct_data(), (0..total).collect());
    // Each shard's records in shard order, whoever delivered them.
    let mut last: HashMap<String, ExtendedSequenceNumber> = HashMap::new();
    for d in log.snapshot() {
        let at = ExtendedSequenceNumber::new(d.seq.clone(), d.sub);
        if let Some(prev) = last.insert(d.shard.clone(), at.clone()) {
            assert!(prev < at, "{} out of order: {prev} then {at}", d.shard);
        }
    }
    // One stream consumer, named after the application, shared by both workers.
    let arn = stream_arn(kinesis.as_ref()).await?;
    let consumers = kinesis
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: arn,
            ..Default::default()
        })
        .await?
        .consumers;
    let names: Vec<&str> = consumers.iter().map(|c| c.consumer_name.as_str()).collect();
    assert_eq!(names, ["app"]);
    let by_worker = log.snapshot().iter().fold(HashMap::new(), |mut m, d| {
        *m.entry(d.worker.clone()).or_insert(0usize) += 1;
        m
    });
    eprintln!("moved while flowing: {moved_while_flowing}; deliveries by worker: {by_worker:?}");
    Ok(())
}

/// A split and then a merge during consumption with enhanced fan-out: every record
/// processed, each child only after its parents finished (the last event of a parent hands
/// its ChildShards to shard sync), nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_parents_before_children() -> TestResult {
    use rill_engine::api::{MergeShardsInput, SplitShardInput};
    let (dir, kinesis) = engine(2).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    put(kinesis.as_ref(), 0, 2000).await?;
    let s0 = fan_out_scheduler(kinesis.clone(), table.clone(), "w0", &log, true)?;
    let s1 = fan_out_scheduler(kinesis.clone(), table.clone(), "w1", &log, true)?;
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
    wait_until(Duration::from_secs(60), "6000 records", || async {
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
    let (distinct, dups) = log.counts();
    assert_eq!((distinct, dups), (6000, 0));
    h0.shutdown().await;
    h1.shutdown().await;
    t0.await??;
    t1.await??;
    Ok(())
}

/// A named consumer is registered (or found when it exists) and used; a name Kinesis would
/// refuse is a configuration error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_consumer_is_registered_and_bad_names_refused() -> TestResult {
    let (dir, kinesis) = engine(1).await?;
    let table = sqlite(&dir)?;
    let log = Log::default();
    put(kinesis.as_ref(), 0, 100).await?;
    let s = builder(kinesis.clone(), table.clone(), "w0", &log, true, &FAST)
        .retrieval(RetrievalMode::FanOut {
            consumer_name: Some("my-consumer".into()),
        })
        .fan_out(fan_out())
        .build()?;
    let h = s.shutdown_handle();
    let t = tokio::spawn(s.run());
    wait_until(Duration::from_secs(20), "100 records", || async {
        log.distinct_data().len() == 100
    })
    .await?;
    h.shutdown().await;
    t.await??;
    let d = kinesis
        .describe_stream_consumer(DescribeStreamConsumerInput {
            stream_arn: Some(stream_arn(kinesis.as_ref()).await?),
            consumer_name: Some("my-consumer".into()),
            ..Default::default()
        })
        .await?
        .consumer_description;
    assert_eq!(d.consumer_status, Some(ConsumerStatus::Active));
    // Again, with the consumer already registered: found, not registered twice.
    let s = builder(kinesis.clone(), table, "w0", &log, true, &FAST)
        .retrieval(RetrievalMode::FanOut {
            consumer_name: Some("my-consumer".into()),
        })
        .fan_out(fan_out())
        .build()?;
    let h = s.shutdown_handle();
    let t = tokio::spawn(s.run());
    put(kinesis.as_ref(), 100, 200).await?;
    wait_until(Duration::from_secs(20), "200 records", || async {
        log.distinct_data().len() == 200
    })
    .await?;
    h.shutdown().await;
    t.await??;
    assert_eq!(log.counts(), (200, 0));

    let bad = builder(kinesis, sqlite(&dir)?, "w0", &log, true, &FAST)
        .retrieval(RetrievalMode::FanOut {
            consumer_name: Some("no spaces".into()),
        })
        .build();
    assert!(
        matches!(&bad, Err(KclError::Config { parameter, .. }) if *parameter == "retrieval.consumer_name"),
        "{bad:?}"
    );
    Ok(())
}
