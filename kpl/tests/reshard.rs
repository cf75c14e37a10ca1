//! Resharding while producing: a split then a merge while records keep coming; every acked
//! user record is read back exactly once, in the shard its ack names, at its sequence and
//! sub-sequence number, by a reader that follows parents then children and drops
//! sub-records outside the reading shard's hash key range (as the KCL does).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::TestResult;

/// Waits until the writer has produced 4,000 more records (about 0.2 s at its pace), so each
/// reshard step happens with records flowing before and after it.
async fn produce_more(produced: &AtomicU64) -> Result<(), tokio::time::error::Elapsed> {
    let target = produced.load(Ordering::SeqCst) + 4_000;
    tokio::time::timeout(Duration::from_secs(30), async {
        while produced.load(Ordering::SeqCst) < target {
            tokio::task::yield_now().await;
        }
    })
    .await
}
use rill_engine::api::agg;
use rill_engine::api::*;
use rill_engine::embedded::ThroughputLimits;
use rill_engine::{Engine, EngineConfig};
use rill_kpl::{Ack, Producer, ProducerConfig, Record};

type Position = (String, String, u64);

/// Reads one shard from TRIM_HORIZON to its end (closed) or to the last record (open);
/// returns its Kinesis records and, for a closed shard, its children.
async fn drain(
    k: &dyn Kinesis,
    stream: &str,
    shard: &str,
) -> Result<(Vec<rill_engine::api::Record>, Vec<ChildShard>), Box<dyn std::error::Error>> {
    let mut it = k
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some(stream.into()),
            shard_id: shard.into(),
            shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
            ..Default::default()
        })
        .await?
        .shard_iterator;
    let mut out = Vec::new();
    while let Some(i) = it {
        // Reads are limited too (5 calls/s per shard with the AWS limits): wait and retry.
        let page = loop {
            match k
                .get_records(GetRecordsInput {
                    shard_iterator: i.clone(),
                    limit: Some(10_000),
                    ..Default::default()
                })
                .await
            {
                Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(200)).await,
                other => break other?,
            }
        };
        let empty = page.records.is_empty();
        out.extend(page.records);
        match page.next_shard_iterator {
            None => return Ok((out, page.child_shards.unwrap_or_default())),
            // An open shard read to its tip.
            Some(_) if empty && page.millis_behind_latest == Some(0) => break,
            next => it = next,
        }
    }
    Ok((out, Vec::new()))
}

/// What a KCL consumer delivers, by position: parents before children, aggregates
/// deaggregated, sub-records outside the reading shard's range dropped.
async fn consumer_view(
    k: &dyn Kinesis,
    stream: &str,
) -> Result<HashMap<Position, agg::UserRecord>, Box<dyn std::error::Error>> {
    let shards = k
        .list_shards(ListShardsInput {
            stream_name: Some(stream.into()),
            ..Default::default()
        })
        .await?
        .shards;
    let mut ranges: HashMap<String, (u128, u128)> = HashMap::new();
    for s in &shards {
        ranges.insert(
            s.shard_id.clone(),
            (
                s.hash_key_range.starting_hash_key.parse::<HashKey>()?.0,
                s.hash_key_range.ending_hash_key.parse::<HashKey>()?.0,
            ),
        );
    }
    let mut queue: Vec<String> = shards
        .iter()
        .filter(|s| s.parent_shard_id.is_none() && s.adjacent_parent_shard_id.is_none())
        .map(|s| s.shard_id.clone())
        .collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut view = HashMap::new();
    while let Some(id) = queue.pop() {
        if !done.insert(id.clone()) {
            continue;
        }
        let (lo, hi) = ranges[&id];
        let (records, children) = drain(k, stream, &id).await?;
        for r in records {
            let aggregated = agg::decode(&r.data).is_ok();
            let subs = agg::deaggregate(&r.partition_key, None, r.data.clone());
            for (i, sub) in subs.into_iter().enumerate() {
                let hash = match &sub.explicit_hash_key {
                    Some(key) => key.parse::<HashKey>()?.0,
                    None => HashKey::from_partition_key(&sub.partition_key).0,
                };
                if aggregated && !(lo <= hash && hash <= hi) {
                    continue;
                }
                let at = (id.clone(), r.sequence_number.clone(), i as u64);
                assert!(
                    view.insert(at.clone(), sub).is_none(),
                    "two records at {at:?}"
                );
            }
        }
        for c in children {
            if c.parent_shards.iter().all(|p| done.contains(p)) {
                queue.push(c.shard_id);
            }
        }
    }
    let all: HashSet<&String> = ranges.keys().collect();
    assert_eq!(
        done.iter().collect::<HashSet<_>>(),
        all,
        "every shard reached"
    );
    Ok(view)
}

async fn open_shards(k: &dyn Kinesis, stream: &str) -> Result<Vec<Shard>, Error> {
    Ok(k.list_shards(ListShardsInput {
        stream_name: Some(stream.into()),
        ..Default::default()
    })
    .await?
    .shards
    .into_iter()
    .filter(|s| s.sequence_number_range.ending_sequence_number.is_none())
    .collect())
}

async fn split_then_merge_while_producing(limits: ThroughputLimits) -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            limits,
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(2),
            ..Default::default()
        })
        .await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let producer = Producer::new(
        Arc::clone(&kinesis),
        ProducerConfig::builder()
            .record_max_buffered_time(Duration::from_millis(20))
            .retry_min_delay(Duration::from_millis(5))
            .retry_max_delay(Duration::from_millis(50))
            .shard_map_max_age(Duration::from_secs(3600))
            .build()?,
    );

    // One task produces numbered records under 97 keys (and some explicit hash keys) until
    // told to stop, paced at about 20,000 records/s.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = {
        let (producer, stop, produced) =
            (producer.clone(), Arc::clone(&stop), Arc::clone(&produced));
        tokio::spawn(async move {
            let stream: Arc<str> = "s".into();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                for _ in 0..100 {
                    let mut record = Record::new(
                        Arc::clone(&stream),
                        format!("key-{}", n % 97),
                        format!("{n:010}"),
                    );
                    if n.is_multiple_of(13) {
                        let hash = u128::MAX / 13 * u128::from((n / 13) % 13);
                        record = record.with_explicit_hash_key(hash.to_string());
                    }
                    let future = producer.send(record.clone()).await?;
                    if sent_tx.send((record, future)).is_err() {
                        return Err("receiver gone".into());
                    }
                    n += 1;
                }
                produced.store(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(n)
        })
    };
    // Acks are collected as they come, by another task.
    let collector = tokio::spawn(async move {
        let mut acked: Vec<(Record, Ack)> = Vec::new();
        while let Some((record, future)) = sent_rx.recv().await {
            let future: rill_kpl::RecordFuture = future;
            match future.await {
                Ok(ack) => acked.push((record, ack)),
                Err(e) => return Err(format!("{record:?} failed: {e}")),
            }
        }
        Ok(acked)
    });

    produce_more(&produced).await?;
    let s0 = open_shards(&*kinesis, "s")
        .await?
        .into_iter()
        .find(|s| s.shard_id == "shardId-000000000000")
        .ok_or("no shard 0")?;
    let mid = (s0.hash_key_range.starting_hash_key.parse::<u128>()?
        + s0.hash_key_range.ending_hash_key.parse::<u128>()?)
        / 2;
    kinesis
        .split_shard(SplitShardInput {
            stream_name: Some("s".into()),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: mid.to_string(),
            ..Default::default()
        })
        .await?;
    produce_more(&produced).await?;
    // Children 2 and 3 of shard 0; 3 ends where 1 starts: merge them into 4.
    kinesis
        .merge_shards(MergeShardsInput {
            stream_name: Some("s".into()),
            shard_to_merge: "shardId-000000000003".into(),
            adjacent_shard_to_merge: "shardId-000000000001".into(),
            ..Default::default()
        })
        .await?;
    produce_more(&produced).await?;
    stop.store(true, Ordering::SeqCst);
    let sent = writer.await?.map_err(|e| e.to_string())?;
    producer.flush().await;
    assert_eq!(producer.outstanding(), 0);
    let acked = collector.await??;
    assert_eq!(acked.len() as u64, sent, "every record acknowledged");
    producer.shutdown().await;

    let open: Vec<String> = open_shards(&*kinesis, "s")
        .await?
        .into_iter()
        .map(|s| s.shard_id)
        .collect();
    assert_eq!(open, ["shardId-000000000002", "shardId-000000000004"]);
    // Production went on through both reshapes: every shard got acked records.
    let by_shard: HashSet<&str> = acked.iter().map(|(_, a)| a.shard_id()).collect();
    for shard in 0..5 {
        let id = format!("shardId-{shard:012}");
        assert!(by_shard.contains(id.as_str()), "no ack names {id}");
    }

    // The stale map was noticed: aggregates for the split shard landed on a child, which
    // kept what it owns; the other records went again.
    let rerouted = acked
        .iter()
        .filter(|(_, a)| {
            a.attempts()
                .iter()
                .any(|t| t.error_code.as_deref() == Some("WrongShard"))
        })
        .count();
    let mut per_shard: Vec<(&str, usize)> = Vec::new();
    for (_, a) in &acked {
        match per_shard.iter_mut().find(|(id, _)| *id == a.shard_id()) {
            Some((_, n)) => *n += 1,
            None => per_shard.push((a.shard_id(), 1)),
        }
    }
    eprintln!(
        "{} records acked, {rerouted} after landing on a shard that does not own them; {per_shard:?}",
        acked.len()
    );

    assert!(
        rerouted > 0,
        "the split was noticed through a misplaced aggregate"
    );

    let view = consumer_view(&*kinesis, "s").await?;
    let mut seen = HashSet::new();
    for (record, ack) in &acked {
        let at = (
            ack.shard_id().to_owned(),
            ack.sequence_number().to_owned(),
            ack.sub_sequence_number(),
        );
        let got = view
            .get(&at)
            .ok_or_else(|| format!("{record:?}: nothing read at its ack {at:?}"))?;
        assert_eq!(got.data, record.data, "{at:?}");
        assert_eq!(got.partition_key, record.partition_key, "{at:?}");
        assert_eq!(got.explicit_hash_key, record.explicit_hash_key, "{at:?}");
        assert!(seen.insert(at), "two acks name one position");
    }
    // Nothing else is delivered: each acked record is found exactly once.
    assert_eq!(
        view.len(),
        acked.len(),
        "the consumer sees only acked records"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_while_producing_lose_nothing_with_aws_limits() -> TestResult {
    split_then_merge_while_producing(ThroughputLimits::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_while_producing_lose_nothing_without_limits() -> TestResult {
    split_then_merge_while_producing(ThroughputLimits::off()).await
}
