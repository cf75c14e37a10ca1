//! Resharding and throughput limits of the embedded engine.

use rill_engine::api::*;
use rill_engine::embedded::{ManualClock, ThroughputLimits};
use rill_engine::{Engine, EngineConfig};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn engine(dir: &std::path::Path, limits: ThroughputLimits) -> TestResult<Engine> {
    Ok(Engine::open(
        dir,
        EngineConfig {
            limits,
            ..Default::default()
        },
    )
    .await?)
}

async fn create(k: &Engine, name: &str, shards: i32) -> TestResult {
    k.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        ..Default::default()
    })
    .await?;
    Ok(())
}

async fn shards(k: &Engine, name: &str) -> TestResult<Vec<Shard>> {
    Ok(k.list_shards(ListShardsInput {
        stream_name: Some(name.into()),
        ..Default::default()
    })
    .await?
    .shards)
}

fn open(shards: &[Shard]) -> Vec<&Shard> {
    shards
        .iter()
        .filter(|s| s.sequence_number_range.ending_sequence_number.is_none())
        .collect()
}

/// Reads a whole shard from TRIM_HORIZON; returns its records and, if it is closed and read
/// to the end, its children.
async fn drain(
    k: &Engine,
    name: &str,
    shard: &str,
) -> TestResult<(Vec<Record>, Option<Vec<ChildShard>>)> {
    let mut it = k
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some(name.into()),
            shard_id: shard.into(),
            shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
            ..Default::default()
        })
        .await?
        .shard_iterator;
    let mut out = Vec::new();
    while let Some(i) = it {
        let page = k
            .get_records(GetRecordsInput {
                shard_iterator: i,
                ..Default::default()
            })
            .await?;
        let empty = page.records.is_empty();
        out.extend(page.records);
        if page.next_shard_iterator.is_none() {
            return Ok((out, page.child_shards));
        }
        if empty {
            return Ok((out, None));
        }
        it = page.next_shard_iterator;
    }
    Ok((out, None))
}

fn err_text<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => format!("{}: {}", e.code(), e.message()),
    }
}

#[tokio::test]
async fn split_then_merge_under_a_concurrent_writer_loses_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = engine(dir.path(), ThroughputLimits::off()).await?;
    create(&k, "s", 2).await?;
    // A writer puts numbered records under 16 keys until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (k, stop) = (k.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut acked: Vec<(String, String, String)> = Vec::new();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let out = k
                    .put_records(PutRecordsInput {
                        stream_name: Some("s".into()),
                        records: (0..20)
                            .map(|i| PutRecordsRequestEntry {
                                data: format!("{}", n + i).into(),
                                partition_key: format!("key-{}", (n + i) % 16),
                                explicit_hash_key: None,
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .await?;
                assert_eq!(out.failed_record_count, 0);
                for (i, r) in out.records.into_iter().enumerate() {
                    acked.push((
                        format!("{}", n + i as u64),
                        r.shard_id.unwrap_or_default(),
                        r.sequence_number.unwrap_or_default(),
                    ));
                }
                n += 20;
                tokio::task::yield_now().await;
            }
            Ok::<_, Error>(acked)
        })
    };
    // Let some records in, then reshape the stream twice while the writer runs.
    let wait_for = |min: u64| {
        let k = k.clone();
        async move {
            loop {
                let (_, records, _, _) = k.log_stats("s").unwrap_or_default();
                if records >= min {
                    return;
                }
                tokio::task::yield_now().await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait_for(500)).await?;
    let before = shards(&k, "s").await?;
    let s0 = &before[0];
    let mid = (s0.hash_key_range.starting_hash_key.parse::<u128>()?
        + s0.hash_key_range.ending_hash_key.parse::<u128>()?)
        / 2;
    k.split_shard(SplitShardInput {
        stream_name: Some("s".into()),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: mid.to_string(),
        ..Default::default()
    })
    .await?;
    tokio::time::timeout(Duration::from_secs(20), wait_for(1500)).await?;
    // Children 2 and 3 of shard 0; merge 3 with shard 1 (adjacent: 3 ends where 1 starts).
    k.merge_shards(MergeShardsInput {
        stream_name: Some("s".into()),
        shard_to_merge: "shardId-000000000003".into(),
        adjacent_shard_to_merge: "shardId-000000000001".into(),
        ..Default::default()
    })
    .await?;
    tokio::time::timeout(Duration::from_secs(20), wait_for(2500)).await?;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let acked = writer.await??;

    let all = shards(&k, "s").await?;
    assert_eq!(
        all.len(),
        5,
        "0,1 closed; 2 open; 3 closed; 4 = merge of 3 and 1"
    );
    let open_ids: Vec<&str> = open(&all).iter().map(|s| s.shard_id.as_str()).collect();
    assert_eq!(
        open_ids,
        vec!["shardId-000000000002", "shardId-000000000004"]
    );
    let four = &all[4];
    assert_eq!(
        four.parent_shard_id.as_deref(),
        Some("shardId-000000000003")
    );
    assert_eq!(
        four.adjacent_parent_shard_id.as_deref(),
        Some("shardId-000000000001")
    );

    // Read parents before children, following ChildShards, and check every acknowledged
    // record is found once, where its ack said, with keys in order.
    let mut found: HashMap<String, (String, String)> = HashMap::new();
    let mut queue: Vec<String> = all
        .iter()
        .filter(|s| s.parent_shard_id.is_none())
        .map(|s| s.shard_id.clone())
        .collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut last_of_key: HashMap<String, (u64, String)> = HashMap::new();
    while let Some(id) = queue.pop() {
        if !done.insert(id.clone()) {
            continue;
        }
        let (records, children) = drain(&k, "s", &id).await?;
        for r in records {
            let payload = String::from_utf8(r.data.to_vec())?;
            let n: u64 = payload.parse()?;
            // Within a partition key, numbers increase, and so do sequence numbers, across
            // parents and children alike.
            if let Some((prev, prev_seq)) = last_of_key.get(&r.partition_key) {
                assert!(n > *prev, "{}: {n} after {prev}", r.partition_key);
                // Equal-width decimal strings: string order is numeric order.
                assert_eq!(prev_seq.len(), r.sequence_number.len());
                assert!(
                    r.sequence_number > *prev_seq,
                    "sequence numbers increase, into children too"
                );
            }
            last_of_key.insert(r.partition_key.clone(), (n, r.sequence_number.clone()));
            let prev = found.insert(payload.clone(), (id.clone(), r.sequence_number));
            assert!(prev.is_none(), "{payload} read twice");
        }
        if let Some(children) = children {
            for c in children {
                // Visit a child only when all its parents are done (merge children have two).
                let parents_done = c.parent_shards.iter().all(|p| done.contains(p) || *p == id);
                if parents_done {
                    queue.push(c.shard_id);
                }
            }
        }
    }
    assert!(acked.len() >= 2500);
    for (payload, shard, seq) in &acked {
        assert_eq!(
            found.get(payload),
            Some(&(shard.clone(), seq.clone())),
            "{payload}"
        );
    }
    assert_eq!(found.len(), acked.len());
    Ok(())
}

#[tokio::test]
async fn closed_shard_reads_to_its_end_then_names_its_children() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = engine(dir.path(), ThroughputLimits::off()).await?;
    create(&k, "s", 1).await?;
    for i in 0..5 {
        k.put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: format!("k{i}"),
            data: format!("{i}").into(),
            ..Default::default()
        })
        .await?;
    }
    let latest = k
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some("s".into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(ShardIteratorType::Latest),
            ..Default::default()
        })
        .await?
        .shard_iterator
        .unwrap_or_default();
    k.update_shard_count(UpdateShardCountInput {
        stream_name: Some("s".into()),
        target_shard_count: 2,
        scaling_type: Some(ScalingType::UniformScaling),
        ..Default::default()
    })
    .await?;
    let (records, children) = drain(&k, "s", "shardId-000000000000").await?;
    assert_eq!(records.len(), 5);
    let children = children.ok_or("a closed shard read to its end names its children")?;
    let ids: Vec<&str> = children.iter().map(|c| c.shard_id.as_str()).collect();
    assert_eq!(ids, vec!["shardId-000000000001", "shardId-000000000002"]);
    // An iterator taken at LATEST before the split now sits at the end.
    let page = k
        .get_records(GetRecordsInput {
            shard_iterator: latest,
            ..Default::default()
        })
        .await?;
    assert!(page.records.is_empty());
    assert!(page.next_shard_iterator.is_none());
    assert_eq!(page.child_shards.map(|c| c.len()), Some(2));
    // DescribeStream shows the parent's EndingSequenceNumber = its last record's.
    let all = shards(&k, "s").await?;
    assert_eq!(
        all[0]
            .sequence_number_range
            .ending_sequence_number
            .as_deref(),
        Some(records[4].sequence_number.as_str())
    );
    Ok(())
}

#[tokio::test]
async fn update_shard_count_1_2_4_2_gives_even_ranges_and_survives_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let k = engine(dir.path(), ThroughputLimits::off()).await?;
        create(&k, "s", 1).await?;
        // AWS allows at most doubling per call, so 1 -> 4 goes through 2.
        for (target, expect_current) in [(2, 1), (4, 2), (2, 4)] {
            let out = k
                .update_shard_count(UpdateShardCountInput {
                    stream_name: Some("s".into()),
                    target_shard_count: target,
                    scaling_type: Some(ScalingType::UniformScaling),
                    ..Default::default()
                })
                .await?;
            assert_eq!(out.current_shard_count, Some(expect_current));
            assert_eq!(out.target_shard_count, Some(target));
            let all = shards(&k, "s").await?;
            let open = open(&all);
            assert_eq!(open.len(), target as usize);
            let even = rill_engine::api::HashKeyRange::split_evenly(target as u32);
            for (s, r) in open.iter().zip(&even) {
                assert_eq!(s.hash_key_range.starting_hash_key, r.start.to_string());
                assert_eq!(s.hash_key_range.ending_hash_key, r.end.to_string());
                assert!(s.parent_shard_id.is_some());
            }
        }
        let summary = k
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some("s".into()),
                ..Default::default()
            })
            .await?;
        assert_eq!(summary.stream_description_summary.open_shard_count, 2);
        k.close().await?;
    }
    let k = engine(dir.path(), ThroughputLimits::off()).await?;
    let all = shards(&k, "s").await?;
    assert_eq!(open(&all).len(), 2, "the reshard is durable");
    // Records route to the open shards after the restart.
    let r = k
        .put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "x".into(),
            data: "y".into(),
            ..Default::default()
        })
        .await?;
    assert!(open(&all).iter().any(|s| s.shard_id == r.shard_id));
    Ok(())
}

#[tokio::test]
async fn reshard_errors_match_aws() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = Engine::open(
        dir.path(),
        EngineConfig {
            shard_limit: 4,
            ..Default::default()
        },
    )
    .await?;
    create(&k, "s", 3).await?;
    let split = |shard: &str, key: &str| SplitShardInput {
        stream_name: Some("s".into()),
        shard_to_split: shard.into(),
        new_starting_hash_key: key.into(),
        ..Default::default()
    };
    let t = err_text(k.split_shard(split("shardId-000000000000", "0")).await);
    assert!(t.starts_with("InvalidArgumentException: NewStartingHashKey 0 used in SplitShard() on shard shardId-000000000000 in stream s under account 000000000000 is not both greater than one plus the shard's StartingHashKey 0"), "{t}");
    let t = err_text(k.split_shard(split("shardId-000000000009", "5")).await);
    assert!(
        t.starts_with("ResourceNotFoundException: Could not find shard"),
        "{t}"
    );
    let t = err_text(
        k.merge_shards(MergeShardsInput {
            stream_name: Some("s".into()),
            shard_to_merge: "shardId-000000000000".into(),
            adjacent_shard_to_merge: "shardId-000000000002".into(),
            ..Default::default()
        })
        .await,
    );
    assert!(
        t.starts_with(
            "InvalidArgumentException: Shards shardId-000000000000 and shardId-000000000002"
        ),
        "{t}"
    );
    k.split_shard(split("shardId-000000000000", "1000")).await?;
    let t = err_text(k.split_shard(split("shardId-000000000000", "500")).await);
    assert!(t.contains("has already been merged or split"), "{t}");
    // 4 open shards = the limit: one more split is refused.
    let t = err_text(k.split_shard(split("shardId-000000000004", "2000")).await);
    assert!(
        t.starts_with("LimitExceededException: This request would exceed the shard limit"),
        "{t}"
    );
    let t = err_text(
        k.update_shard_count(UpdateShardCountInput {
            stream_name: Some("s".into()),
            target_shard_count: 9,
            scaling_type: Some(ScalingType::UniformScaling),
            ..Default::default()
        })
        .await,
    );
    assert!(t.contains("cannot scale up over double"), "{t}");
    let t = err_text(
        k.update_shard_count(UpdateShardCountInput {
            stream_name: Some("s".into()),
            target_shard_count: 1,
            scaling_type: Some(ScalingType::UniformScaling),
            ..Default::default()
        })
        .await,
    );
    assert!(t.contains("cannot scale down below half"), "{t}");
    Ok(())
}

#[tokio::test]
async fn stream_is_updating_during_a_delayed_reshard() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = Engine::open(
        dir.path(),
        EngineConfig {
            update_delay: Duration::from_millis(200),
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    create(&k, "s", 1).await?;
    k.update_shard_count(UpdateShardCountInput {
        stream_name: Some("s".into()),
        target_shard_count: 2,
        scaling_type: Some(ScalingType::UniformScaling),
        ..Default::default()
    })
    .await?;
    let status = |k: Engine| async move {
        k.describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await
        .map(|s| {
            (
                s.stream_description_summary.stream_status,
                s.stream_description_summary.open_shard_count,
            )
        })
    };
    assert_eq!(status(k.clone()).await?, (Some(StreamStatus::Updating), 1));
    // Writes go on while UPDATING; another reshard is refused.
    k.put_record(PutRecordInput {
        stream_name: Some("s".into()),
        partition_key: "a".into(),
        data: "b".into(),
        ..Default::default()
    })
    .await?;
    let t = err_text(
        k.update_shard_count(UpdateShardCountInput {
            stream_name: Some("s".into()),
            target_shard_count: 2,
            scaling_type: Some(ScalingType::UniformScaling),
            ..Default::default()
        })
        .await,
    );
    assert_eq!(
        t,
        "ResourceInUseException: Stream s under account 000000000000 not ACTIVE, instead in state UPDATING"
    );
    // Wait for ACTIVE (a condition, with a deadline).
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok((Some(StreamStatus::Active), 2)) = status(k.clone()).await {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn write_limits_fail_entries_and_recover() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let k = Engine::open(
        dir.path(),
        EngineConfig {
            clock: clock.clone(),
            retention_interval: Duration::ZERO,
            ..Default::default()
        },
    )
    .await?;
    create(&k, "s", 1).await?;
    let batch = || PutRecordsInput {
        stream_name: Some("s".into()),
        records: (0..500)
            .map(|i| PutRecordsRequestEntry {
                data: vec![7u8; 100].into(),
                partition_key: format!("k{i}"),
                explicit_hash_key: None,
            })
            .collect(),
        ..Default::default()
    };
    // 1000 records/s per shard with a one-second burst: two batches fit, the third fails.
    for _ in 0..2 {
        assert_eq!(k.put_records(batch()).await?.failed_record_count, 0);
    }
    let out = k.put_records(batch()).await?;
    assert_eq!(out.failed_record_count, 500);
    let e = &out.records[0];
    assert_eq!(
        e.error_code.as_deref(),
        Some("ProvisionedThroughputExceededException")
    );
    assert_eq!(
        e.error_message.as_deref(),
        Some(
            "Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000."
        )
    );
    assert!(e.sequence_number.is_none() && e.shard_id.is_none());
    let t = err_text(
        k.put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            data: "x".into(),
            ..Default::default()
        })
        .await,
    );
    assert!(
        t.starts_with("ProvisionedThroughputExceededException: Rate exceeded for shard"),
        "{t}"
    );
    // A client that retries the failed entries with backoff gets through as time passes.
    let mut pending: Vec<PutRecordsRequestEntry> = batch().records;
    let mut delay = 50u64;
    let mut rounds = 0;
    while !pending.is_empty() {
        clock.advance(Duration::from_millis(delay));
        delay = (delay * 2).min(1000);
        let out = k
            .put_records(PutRecordsInput {
                stream_name: Some("s".into()),
                records: pending.clone(),
                ..Default::default()
            })
            .await?;
        pending = pending
            .into_iter()
            .zip(out.records)
            .filter(|(_, r)| r.error_code.is_some())
            .map(|(p, _)| p)
            .collect();
        rounds += 1;
        assert!(rounds < 20);
    }
    assert!(rounds > 1, "the retried batch needed several rounds");
    // With limits off nothing is refused.
    let dir2 = tempfile::tempdir()?;
    let k2 = engine(dir2.path(), ThroughputLimits::off()).await?;
    create(&k2, "s", 1).await?;
    for _ in 0..5 {
        assert_eq!(k2.put_records(batch()).await?.failed_record_count, 0);
    }
    Ok(())
}

#[tokio::test]
async fn read_limits_throttle_get_records() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let k = Engine::open(
        dir.path(),
        EngineConfig {
            clock: clock.clone(),
            retention_interval: Duration::ZERO,
            ..Default::default()
        },
    )
    .await?;
    create(&k, "s", 1).await?;
    let it = k
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some("s".into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
            ..Default::default()
        })
        .await?
        .shard_iterator
        .unwrap_or_default();
    let get = || GetRecordsInput {
        shard_iterator: it.clone(),
        ..Default::default()
    };
    for _ in 0..5 {
        k.get_records(get()).await?;
    }
    let t = err_text(k.get_records(get()).await);
    assert!(
        t.starts_with(
            "ProvisionedThroughputExceededException: Rate exceeded for shard shardId-000000000000"
        ),
        "{t}"
    );
    clock.advance(Duration::from_millis(200));
    k.get_records(get()).await?;
    Ok(())
}

#[tokio::test]
async fn creating_and_deleting_last_their_configured_delays() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = Engine::open(
        dir.path(),
        EngineConfig {
            create_delay: Duration::from_millis(150),
            delete_delay: Duration::from_millis(150),
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    create(&k, "s", 2).await?;
    let describe = |k: Engine| async move {
        k.describe_stream(DescribeStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await
        .map(|d| {
            (
                d.stream_description.stream_status,
                d.stream_description.shards.len(),
            )
        })
    };
    assert_eq!(
        describe(k.clone()).await?,
        (Some(StreamStatus::Creating), 0)
    );
    let t = err_text(
        k.put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "a".into(),
            data: "b".into(),
            ..Default::default()
        })
        .await,
    );
    assert!(t.contains("not ACTIVE, instead in state CREATING"), "{t}");
    tokio::time::timeout(Duration::from_secs(10), async {
        while describe(k.clone()).await.ok() != Some((Some(StreamStatus::Active), 2)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await?;
    k.delete_stream(DeleteStreamInput {
        stream_name: Some("s".into()),
        ..Default::default()
    })
    .await?;
    assert_eq!(describe(k.clone()).await?.0, Some(StreamStatus::Deleting));
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(describe(k.clone()).await, Err(Error::ResourceNotFound(_))) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn list_shards_filters_after_a_split() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = engine(dir.path(), ThroughputLimits::off()).await?;
    create(&k, "s", 2).await?;
    k.split_shard(SplitShardInput {
        stream_name: Some("s".into()),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: "1000".into(),
        ..Default::default()
    })
    .await?;
    let ids = |f: ShardFilter| {
        let k = k.clone();
        async move {
            k.list_shards(ListShardsInput {
                stream_name: Some("s".into()),
                shard_filter: Some(f),
                ..Default::default()
            })
            .await
            .map(|o| o.shards.into_iter().map(|s| s.shard_id).collect::<Vec<_>>())
        }
    };
    let f = |t: ShardFilterType| ShardFilter {
        filter_type: t,
        shard_id: None,
        timestamp: None,
    };
    let all = [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000002",
        "shardId-000000000003",
    ];
    assert_eq!(ids(f(ShardFilterType::FromTrimHorizon)).await?, all);
    assert_eq!(ids(f(ShardFilterType::AtLatest)).await?, &all[1..]);
    assert_eq!(ids(f(ShardFilterType::AtTrimHorizon)).await?, &all[..2]);
    let after = ShardFilter {
        filter_type: ShardFilterType::AfterShardId,
        shard_id: Some("shardId-000000000001".into()),
        timestamp: None,
    };
    assert_eq!(ids(after).await?, &all[2..]);
    Ok(())
}
