//! The producer against the embedded engine, with and without injected faults.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use rill_engine::api::{
    DescribeStreamSummaryInput, HashKey, Kinesis, Shard, UpdateMaxRecordSizeInput,
};
use rill_kpl::{Ack, Producer, ProducerConfig, Record, RecordError, RecordFuture, TrySendError};

fn cfg() -> rill_kpl::ProducerConfigBuilder {
    ProducerConfig::builder()
        .record_max_buffered_time(Duration::from_millis(20))
        .retry_min_delay(Duration::from_millis(5))
        .retry_max_delay(Duration::from_millis(50))
}

async fn send_all(
    producer: &Producer,
    records: impl IntoIterator<Item = Record>,
) -> Result<Vec<(Record, RecordFuture)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for r in records {
        let fut = producer.send(r.clone()).await?;
        out.push((r, fut));
    }
    Ok(out)
}

async fn acks(
    sent: Vec<(Record, RecordFuture)>,
) -> Result<Vec<(Record, Ack)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for (r, fut) in sent {
        let ack = fut.await?;
        out.push((r, ack));
    }
    Ok(out)
}

/// Checks that the consumer's view holds every acknowledged record exactly once, at the
/// place its ack names, and nothing else.
async fn check_exactly_once(
    kinesis: &dyn Kinesis,
    stream: &str,
    acked: &[(Record, Ack)],
) -> TestResult {
    let view = consumer_view(kinesis, stream).await?;
    let mut at: HashMap<(String, String, u64), _> = HashMap::new();
    for (key, r) in view {
        assert!(
            at.insert(key.clone(), r).is_none(),
            "duplicate position {key:?}"
        );
    }
    assert_eq!(
        at.len(),
        acked.len(),
        "the consumer sees as many records as acked"
    );
    let mut seen_data = HashSet::new();
    for (record, ack) in acked {
        let key = (
            ack.shard_id().to_string(),
            ack.sequence_number().to_string(),
            ack.sub_sequence_number(),
        );
        let got = at
            .get(&key)
            .ok_or_else(|| format!("nothing read at the acked position {key:?}"))?;
        assert_eq!(got.data, record.data, "{key:?}");
        assert_eq!(got.partition_key, record.partition_key, "{key:?}");
        assert!(
            seen_data.insert(record.data.clone()),
            "data sent twice in test"
        );
    }
    Ok(())
}

fn numbered(stream: &Arc<str>, n: usize, keys: usize, size: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut data = format!("{i:08}").into_bytes();
            data.resize(size.max(8), b'.');
            Record::new(Arc::clone(stream), format!("key-{}", i % keys), data)
        })
        .collect()
}

#[tokio::test]
async fn acks_name_where_each_record_is_read_back() -> TestResult {
    let (engine, _dir) = engine(&[("s", 4)]).await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let producer = Producer::new(Arc::clone(&kinesis), cfg().build()?);
    let stream: Arc<str> = "s".into();
    let mut records = numbered(&stream, 3000, 37, 40);
    // Some with explicit hash keys, spread over the space.
    for (i, r) in records.iter_mut().enumerate().step_by(7) {
        *r = r
            .clone()
            .with_explicit_hash_key((u128::MAX / 7 * (i as u128 % 7)).to_string());
    }
    let sent = send_all(&producer, records).await?;
    producer.flush().await;
    assert_eq!(producer.outstanding(), 0);
    let acked = acks(sent).await?;
    // Aggregation happened, and sub-sequence numbers are positions.
    let mut by_seq: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for (_, ack) in &acked {
        assert_eq!(ack.attempts().len(), 1);
        assert!(ack.attempts()[0].is_success());
        by_seq
            .entry((ack.shard_id().into(), ack.sequence_number().into()))
            .or_default()
            .push(ack.sub_sequence_number());
    }
    assert!(by_seq.len() < 3000 / 10, "{} Kinesis records", by_seq.len());
    for subs in by_seq.values_mut() {
        subs.sort_unstable();
        assert_eq!(*subs, (0..subs.len() as u64).collect::<Vec<_>>());
    }
    // Each acked shard owns the record's hash key.
    for (record, ack) in &acked {
        let hash = match &record.explicit_hash_key {
            Some(k) => k.parse::<HashKey>()?.0,
            None => HashKey::from_partition_key(&record.partition_key).0,
        };
        let shard = u128::from(ack.shard_id()[8..].parse::<u8>()?);
        let step = u128::MAX / 4 + 1;
        assert_eq!(hash / step, shard, "{record:?}");
    }
    check_exactly_once(&*kinesis, "s", &acked).await?;
    producer.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn aggregation_off_puts_plain_records() -> TestResult {
    let (engine, _dir) = engine(&[("s", 2)]).await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let producer = Producer::new(
        Arc::clone(&kinesis),
        cfg().aggregation_enabled(false).build()?,
    );
    let stream: Arc<str> = "s".into();
    let sent = send_all(&producer, numbered(&stream, 700, 5, 10)).await?;
    let acked = acks(sent).await?;
    for (_, ack) in &acked {
        assert_eq!(ack.sub_sequence_number(), 0);
        assert!(!ack.is_aggregated());
    }
    let stored = read_all(&*kinesis, "s").await?;
    assert_eq!(stored.len(), 700);
    assert!(
        stored
            .iter()
            .all(|s| !rill_engine::api::agg::is_aggregated(&s.data))
    );
    check_exactly_once(&*kinesis, "s", &acked).await?;
    Ok(())
}

#[tokio::test]
async fn shard_map_is_paginated_and_refreshed_when_a_put_lands_elsewhere() -> TestResult {
    let (engine, _dir) = engine(&[("s", 5)]).await?;
    let real: Arc<dyn Kinesis> = Arc::new(engine);
    let mut faulty = Faulty::new(Arc::clone(&real), |_, _| Plan::default());
    faulty.list_page = Some(2);
    // The first map is a lie: one shard owning everything (as before a split).
    let mut shards = real
        .list_shards(rill_engine::api::ListShardsInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?
        .shards;
    let mut only: Shard = shards.remove(0);
    only.hash_key_range.ending_hash_key = u128::MAX.to_string();
    *faulty.fake_shards.lock().map_err(|e| e.to_string())? = Some((vec![only], 1));
    let faulty = Arc::new(faulty);
    let producer = Producer::new(faulty.clone(), cfg().build()?);
    let stream: Arc<str> = "s".into();
    let sent = send_all(&producer, numbered(&stream, 2000, 101, 30)).await?;
    producer.flush().await;
    let acked = acks(sent).await?;
    assert!(
        faulty.list_calls.load(std::sync::atomic::Ordering::SeqCst) >= 4,
        "refreshed, 3 pages"
    );
    let wrong: Vec<_> = acked
        .iter()
        .filter(|(_, a)| {
            a.attempts()
                .iter()
                .any(|t| t.error_code.as_deref() == Some("WrongShard"))
        })
        .collect();
    assert!(!wrong.is_empty(), "some records were routed again");
    let shards_used: HashSet<_> = acked
        .iter()
        .map(|(_, a)| a.shard_id().to_string())
        .collect();
    assert_eq!(shards_used.len(), 5);
    check_exactly_once(&*real, "s", &acked).await?;
    Ok(())
}

#[tokio::test]
async fn failed_entries_whole_call_errors_and_timeouts_are_retried_and_recorded() -> TestResult {
    let (engine, _dir) = engine(&[("s", 2)]).await?;
    let real: Arc<dyn Kinesis> = Arc::new(engine);
    let faulty = Arc::new(Faulty::new(Arc::clone(&real), |n, input| match n {
        0 => Plan {
            whole: Some(("InternalFailure".into(), "injected whole-call".into())),
            ..Default::default()
        },
        1 => Plan {
            delay: Some(Duration::from_millis(400)),
            ..Default::default()
        },
        n if n < 8 => Plan {
            fail: (0..input.records.len())
                .filter(|i| i % 2 == n % 2)
                .map(|i| {
                    let code = if i % 4 < 2 {
                        "ProvisionedThroughputExceededException"
                    } else {
                        "InternalFailure"
                    };
                    (i, code)
                })
                .collect(),
            ..Default::default()
        },
        _ => Plan::default(),
    }));
    let producer = Producer::new(
        faulty.clone(),
        cfg()
            .request_timeout(Duration::from_millis(150))
            .collection_max_count(10)
            .aggregation_max_count(5)
            .build()?,
    );
    let stream: Arc<str> = "s".into();
    let sent = send_all(&producer, numbered(&stream, 400, 13, 20)).await?;
    let acked = acks(sent).await?;
    let codes: HashSet<String> = acked
        .iter()
        .flat_map(|(_, a)| a.attempts().iter().filter_map(|t| t.error_code.clone()))
        .collect();
    for code in [
        "InternalFailure",
        "RequestTimeout",
        "ProvisionedThroughputExceededException",
    ] {
        assert!(
            codes.contains(code),
            "{code} recorded in attempts: {codes:?}"
        );
    }
    for (_, a) in &acked {
        let attempts = a.attempts();
        assert!(attempts.last().is_some_and(|t| t.is_success()));
        assert!(
            attempts[..attempts.len() - 1]
                .iter()
                .all(|t| !t.is_success())
        );
        for t in &attempts[..attempts.len() - 1] {
            assert!(t.error_message.is_some());
        }
    }
    let timed_out = acked
        .iter()
        .flat_map(|(_, a)| a.attempts())
        .find(|t| t.error_code.as_deref() == Some("RequestTimeout"))
        .ok_or("no timeout")?;
    assert!(
        timed_out.duration >= Duration::from_millis(150),
        "{timed_out:?}"
    );
    assert!(acked.iter().any(|(_, a)| a.attempts().len() >= 3));
    check_exactly_once(&*real, "s", &acked).await?;
    Ok(())
}

#[tokio::test]
async fn records_past_their_ttl_fail_with_their_attempts() -> TestResult {
    let (engine, _dir) = engine(&[("s", 1)]).await?;
    let real: Arc<dyn Kinesis> = Arc::new(engine);
    let faulty = Arc::new(Faulty::new(Arc::clone(&real), |_, input| Plan {
        fail: (0..input.records.len())
            .map(|i| (i, "ProvisionedThroughputExceededException"))
            .collect(),
        ..Default::default()
    }));
    let producer = Producer::new(
        faulty,
        cfg().record_ttl(Duration::from_millis(300)).build()?,
    );
    let stream: Arc<str> = "s".into();
    let started = std::time::Instant::now();
    let sent = send_all(&producer, numbered(&stream, 50, 3, 10)).await?;
    for (_, fut) in sent {
        match fut.await {
            Err(err @ RecordError::Expired { .. }) => {
                assert!(!err.attempts().is_empty());
                assert!(err.to_string().contains("RecordTtl"), "{err}");
                assert!(
                    err.to_string()
                        .contains("ProvisionedThroughputExceededException"),
                    "{err}"
                );
            }
            other => panic!("expected Expired, got {other:?}"),
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(producer.outstanding(), 0);
    Ok(())
}

#[tokio::test]
async fn fail_if_throttled_and_non_retryable_errors_reject() -> TestResult {
    let (engine, _dir) = engine(&[("s", 1)]).await?;
    let real: Arc<dyn Kinesis> = Arc::new(engine);
    let faulty = Arc::new(Faulty::new(Arc::clone(&real), |_, input| Plan {
        fail: vec![(0, "ProvisionedThroughputExceededException")]
            .into_iter()
            .filter(|_| !input.records.is_empty())
            .collect(),
        ..Default::default()
    }));
    let producer = Producer::new(faulty, cfg().fail_if_throttled(true).build()?);
    let fut = producer.send(Record::new("s", "k", "x")).await?;
    match fut.await {
        Err(RecordError::Rejected { code, attempts, .. }) => {
            assert_eq!(code, "ProvisionedThroughputExceededException");
            assert_eq!(attempts.len(), 1);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    // A stream that does not exist: ListShards says ResourceNotFoundException.
    let producer = Producer::new(real, cfg().build()?);
    let fut = producer.send(Record::new("missing", "k", "x")).await?;
    match fut.await {
        Err(RecordError::Rejected { code, .. }) => assert_eq!(code, "ResourceNotFoundException"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    // Invalid records are handed back.
    for bad in [
        Record::new("s", "", "x"),
        Record::new("s", "k".repeat(257), "x"),
        Record::new("s", "k", "x").with_explicit_hash_key("01"),
        Record::new("s", "k", vec![0u8; 1024 * 1024]),
    ] {
        let err = producer.send(bad.clone()).await.expect_err("invalid");
        assert_eq!(err.into_record(), bad);
    }
    Ok(())
}

#[tokio::test]
async fn strict_order_keeps_each_partition_key_in_order_under_retries() -> TestResult {
    for aggregation in [true, false] {
        let (engine, _dir) = engine(&[("s", 2)]).await?;
        let real: Arc<dyn Kinesis> = Arc::new(engine);
        // Fail about a third of the entries of the first 40 calls, throttling or failing.
        let faulty = Arc::new(Faulty::new(Arc::clone(&real), |n, input| Plan {
            fail: (0..input.records.len())
                .filter(|i| n < 40 && (i + n) % 3 == 0)
                .map(|i| {
                    (
                        i,
                        if n % 2 == 0 {
                            "ProvisionedThroughputExceededException"
                        } else {
                            "InternalFailure"
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }));
        let producer = Producer::new(
            faulty.clone(),
            cfg()
                .strict_order(true)
                .aggregation_enabled(aggregation)
                .aggregation_max_count(4)
                .record_max_buffered_time(Duration::from_millis(1))
                .build()?,
        );
        let stream: Arc<str> = "s".into();
        let sent = send_all(&producer, numbered(&stream, 300, 6, 8)).await?;
        let acked = acks(sent).await?;
        assert!(
            acked.iter().any(|(_, a)| a.attempts().len() > 1),
            "retries happened (aggregation {aggregation})"
        );
        check_exactly_once(&*real, "s", &acked).await?;
        // Read back in shard order: per partition key, data numbers increase.
        let mut last: HashMap<String, u64> = HashMap::new();
        for (_, r) in consumer_view(&*real, "s").await? {
            let n: u64 = std::str::from_utf8(&r.data[..8])?.parse()?;
            if let Some(prev) = last.insert(r.partition_key.clone(), n) {
                assert!(
                    prev < n,
                    "{}: {prev} then {n} (aggregation {aggregation})",
                    r.partition_key
                );
            }
        }
        assert_eq!(last.len(), 6);
    }
    Ok(())
}

#[tokio::test]
async fn backpressure_try_send_is_full_and_send_waits() -> TestResult {
    let (engine, _dir) = engine(&[("s", 1)]).await?;
    let real: Arc<dyn Kinesis> = Arc::new(engine);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    // Every call takes 300 ms the first time around.
    let faulty = Arc::new(Faulty::new(Arc::clone(&real), move |_, _| Plan {
        delay: (g.available_permits() == 0).then_some(Duration::from_millis(300)),
        ..Default::default()
    }));
    let producer = Producer::new(
        faulty,
        cfg()
            .buffer_max_records(10)
            .record_max_buffered_time(Duration::ZERO)
            .build()?,
    );
    let mut futs = Vec::new();
    for i in 0..10 {
        futs.push(
            producer
                .try_send(Record::new("s", format!("k{i}"), "x"))
                .map_err(|e| format!("{e}"))?,
        );
    }
    assert_eq!(producer.outstanding(), 10);
    match producer.try_send(Record::new("s", "k", "eleven")) {
        Err(TrySendError::Full(r)) => assert_eq!(r.data, Bytes::from("eleven")),
        other => panic!("expected Full, got {other:?}"),
    }
    // send waits until records finish.
    let waiting = tokio::time::timeout(
        Duration::from_millis(50),
        producer.send(Record::new("s", "k", "x")),
    )
    .await;
    assert!(waiting.is_err(), "send must wait while full");
    gate.add_permits(1);
    let later = tokio::time::timeout(
        Duration::from_secs(10),
        producer.send(Record::new("s", "k", "eleven")),
    )
    .await??;
    for f in futs {
        f.await?;
    }
    later.await?;
    // Byte limit too.
    let producer = Producer::new(real, cfg().buffer_max_bytes(1024 * 1024).build()?);
    let big = producer
        .try_send(Record::new("s", "k", vec![0u8; 1024 * 1024 - 1]))
        .map_err(|e| format!("{e}"))?;
    assert!(matches!(
        producer.try_send(Record::new("s", "k", vec![0u8; 10])),
        Err(TrySendError::Full(_))
    ));
    big.await?;
    Ok(())
}

#[tokio::test]
async fn dropping_or_shutting_down_resolves_every_record() -> TestResult {
    let (engine, _dir) = engine(&[("s", 2)]).await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let stream: Arc<str> = "s".into();
    // Drop without flush: the pipeline flushes.
    let producer = Producer::new(
        Arc::clone(&kinesis),
        cfg()
            .record_max_buffered_time(Duration::from_secs(10))
            .build()?,
    );
    let clone = producer.clone();
    let sent = send_all(&producer, numbered(&stream, 1000, 9, 16)).await?;
    drop(producer);
    drop(clone);
    let acked = tokio::time::timeout(Duration::from_secs(5), acks(sent)).await??;
    assert_eq!(acked.len(), 1000);
    // Shutdown: flushes, then refuses.
    let producer = Producer::new(
        Arc::clone(&kinesis),
        cfg()
            .record_max_buffered_time(Duration::from_secs(10))
            .build()?,
    );
    let sent = send_all(
        &producer,
        (0..500).map(|i| Record::new(Arc::clone(&stream), "k", format!("second {i}"))),
    )
    .await?;
    tokio::time::timeout(Duration::from_secs(5), producer.shutdown()).await?;
    assert_eq!(producer.outstanding(), 0);
    let mut all = acked;
    all.extend(acks(sent).await?);
    assert!(matches!(
        producer.send(Record::new("s", "k", "late")).await,
        Err(rill_kpl::SendError::Closed(_))
    ));
    check_exactly_once(&*kinesis, "s", &all).await?;
    Ok(())
}

#[test]
fn a_stopped_runtime_resolves_records_as_stopped() -> TestResult {
    let rt = tokio::runtime::Runtime::new()?;
    let (sent, _dir) = rt.block_on(async {
        let (engine, dir) = engine(&[("s", 1)]).await?;
        let faulty = Arc::new(Faulty::new(Arc::new(engine), |_, _| Plan {
            delay: Some(Duration::from_secs(3600)),
            ..Default::default()
        }));
        let producer = Producer::new(faulty, cfg().build()?);
        let mut sent = Vec::new();
        for i in 0..20 {
            sent.push(producer.send(Record::new("s", format!("{i}"), "x")).await?);
        }
        // Let the calls start (and hang).
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, Box<dyn std::error::Error>>((sent, dir))
    })?;
    drop(rt);
    let rt = tokio::runtime::Runtime::new()?;
    for fut in sent {
        assert!(matches!(rt.block_on(fut), Err(RecordError::Stopped)));
    }
    Ok(())
}

/// Far above one shard's write limit (1000 records/s, 1 MiB/s): with the engine's limits on
/// (the default once they exist) the producer's limiter and retries must still deliver every
/// record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_far_above_a_shards_limit_is_delivered_exactly_once() -> TestResult {
    let (engine, _dir) = engine(&[("s", 1)]).await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let producer = Producer::new(Arc::clone(&kinesis), ProducerConfig::default());
    let stream: Arc<str> = "s".into();
    // 5,000 records and about 2.6 MB: five seconds of the record limit at once, per shard.
    let sent = send_all(&producer, numbered(&stream, 5000, 50, 500)).await?;
    let acked = tokio::time::timeout(Duration::from_secs(25), acks(sent)).await??;
    assert_eq!(acked.len(), 5000);
    check_exactly_once(&*kinesis, "s", &acked).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_up_to_the_streams_larger_maximum_are_sent_and_those_above_5_mib_by_put_record()
-> TestResult {
    // Limits off: this is about transport; at 1 MiB/s per shard the records would take
    // 20 s to be let through.
    let dir = tempfile::tempdir()?;
    let engine = rill_engine::Engine::open(
        dir.path(),
        rill_engine::EngineConfig {
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    for name in ["big", "default"] {
        engine
            .create_stream(rill_engine::api::CreateStreamInput {
                stream_name: name.into(),
                shard_count: Some(1),
                ..Default::default()
            })
            .await?;
    }
    let arn = engine
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("big".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn;
    engine
        .update_max_record_size(UpdateMaxRecordSizeInput {
            stream_arn: arn,
            max_record_size_in_kib: 10240,
        })
        .await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine.clone());
    let producer = Producer::new(
        Arc::clone(&kinesis),
        // Strict order: without it two requests of one shard may be in flight at once
        // (the 100 B record's PutRecords and the 6 MiB PutRecord) and land in either order.
        cfg()
            .stream_max_record_size("big", 10 << 20)
            .strict_order(true)
            .build()?,
    );
    let big: Arc<str> = "big".into();
    // One key, so the records keep their order in the one shard; sizes around and far
    // above the PutRecords request limit (5 MiB), up to the record limit less the key.
    let sizes = [100, 6 << 20, 2 << 20, (10 << 20) - 16, 300];
    let records: Vec<Record> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut data = vec![b'a' + i as u8; n];
            data[..8].copy_from_slice(format!("{i:08}").as_bytes());
            Record::new(Arc::clone(&big), "k", data)
        })
        .collect();
    let acked = acks(send_all(&producer, records.clone()).await?).await?;
    let stored = common::read_all(kinesis.as_ref(), "big").await?;
    let lengths: Vec<usize> = stored.iter().map(|s| s.data.len()).collect();
    assert!(
        stored.len() >= sizes.len(),
        "stored record sizes: {lengths:?}"
    );
    for (record, ack) in &acked {
        let here = stored
            .iter()
            .find(|s| s.sequence_number == ack.sequence_number())
            .ok_or("acked record not stored")?;
        // Large records are never aggregated: the stored record is the user record.
        if record.data.len() > 1 << 20 {
            assert_eq!(here.data, record.data, "{} bytes", record.data.len());
            assert!(!ack.is_aggregated());
            assert_eq!(ack.sub_sequence_number(), 0);
        }
    }
    let seqs: Vec<_> = acked
        .iter()
        .map(|(_, a)| a.sequence_number().to_owned())
        .collect();
    let mut sorted = seqs.clone();
    // Fixed-width decimal strings: text order is numeric order.
    sorted.sort();
    assert_eq!(seqs, sorted, "one key keeps its order");

    // A default stream (1 MiB) refuses a 2 MiB record before it is sent.
    let default: Arc<str> = "default".into();
    match producer
        .send(Record::new(default, "k", vec![0u8; 2 << 20]))
        .await
    {
        Err(rill_kpl::SendError::Invalid { .. }) => {}
        Err(e) => return Err(format!("2 MiB on a default stream: {e}").into()),
        Ok(_) => return Err("2 MiB on a default stream was accepted".into()),
    }
    producer.shutdown().await;
    Ok(())
}
