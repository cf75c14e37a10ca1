//! The producer under injected faults (`rill_testkit::FaultyKinesis`): whole-call
//! errors, per-entry failures, throttling, latency, timeouts and errors after success.
//!
//! Under every kind: every `send` future resolves (an ack or an error, never a hang),
//! `flush()` completes, and every acknowledged record is in the stream at the shard,
//! sequence number and sub-sequence number of its ack (read back through the inner engine,
//! without faults). Faults that leave a write applied (a lost response, a hang after the
//! write) may duplicate records; the others must not.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{TestResult, consumer_view};
use rill_engine::api::{CreateStreamInput, Kinesis};
use rill_engine::embedded::ThroughputLimits;
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use rill_kpl::{Ack, Producer, ProducerConfig, ProducerConfigBuilder, Record, RecordError};
use rill_testkit::{
    EntryFaults, FaultConfig, FaultCounts, FaultyKinesis, InjectedError, Operation,
    OperationFaults, Timeout,
};

const STREAM: &str = "s";
const SHARDS: i32 = 4;
/// Longest the test waits for `flush()` or for all the acks.
const PATIENCE: Duration = Duration::from_secs(25);

/// An engine without throughput limits (only injected faults throttle).
async fn engine() -> Result<(Arc<dyn Kinesis>, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            fsync: FsyncPolicy::Never,
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: STREAM.into(),
            shard_count: Some(SHARDS),
            ..Default::default()
        })
        .await?;
    Ok((Arc::new(engine), dir))
}

/// Small batches and aggregates (many calls, so many faults), fast retries.
fn cfg() -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .record_max_buffered_time(Duration::from_millis(10))
        .retry_min_delay(Duration::from_millis(5))
        .retry_max_delay(Duration::from_millis(50))
        .collection_max_count(5)
        .aggregation_max_count(4)
        .request_timeout(Duration::from_millis(300))
        .record_ttl(Duration::from_secs(20))
}

/// What one run produced.
struct Run {
    acked: Vec<(Record, Ack)>,
    failed: Vec<(Record, RecordError)>,
    counts: FaultCounts,
    /// Deliveries per record data, as a consumer would see the stream.
    copies: HashMap<bytes::Bytes, usize>,
}

impl Run {
    fn duplicates(&self) -> usize {
        self.copies.values().map(|c| c.saturating_sub(1)).sum()
    }
}

/// Sends `n` records (unique data) through a producer on `faults`, flushes, awaits every
/// ack, reads the stream back through the inner engine, and checks that every acked record
/// is at its acked position. Panics (the test fails) on a hang.
async fn run(
    config: FaultConfig,
    producer: ProducerConfigBuilder,
    n: usize,
) -> Result<Run, Box<dyn std::error::Error>> {
    let (inner, _dir) = engine().await?;
    let faulty = Arc::new(FaultyKinesis::new(Arc::clone(&inner), config));
    let producer = Producer::new(faulty.clone(), producer.build()?);
    let stream: Arc<str> = STREAM.into();
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        let record = Record::new(
            Arc::clone(&stream),
            format!("key-{}", i % 97),
            format!("record-{i:06}-{}", "x".repeat(i % 50)),
        );
        let fut = tokio::time::timeout(PATIENCE, producer.send(record.clone()))
            .await
            .map_err(|_| format!("send of record {i} waited over {PATIENCE:?}"))??;
        sent.push((record, fut));
    }
    tokio::time::timeout(PATIENCE, producer.flush())
        .await
        .map_err(|_| format!("flush() did not complete within {PATIENCE:?}"))?;
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    let all = futures::future::join_all(sent.into_iter().map(|(r, f)| async move { (r, f.await) }));
    let results = tokio::time::timeout(PATIENCE, all)
        .await
        .map_err(|_| "a record future did not resolve after flush()")?;
    for (record, result) in results {
        match result {
            Ok(ack) => acked.push((record, ack)),
            Err(e) => failed.push((record, e)),
        }
    }
    assert_eq!(producer.outstanding(), 0);
    producer.shutdown().await;
    let counts = faulty.counts();
    faulty.set_enabled(false);

    // Read back through the engine itself.
    let view = consumer_view(&*inner, STREAM).await?;
    let mut at = HashMap::new();
    let mut copies: HashMap<bytes::Bytes, usize> = HashMap::new();
    for (key, r) in view {
        *copies.entry(r.data.clone()).or_default() += 1;
        assert!(
            at.insert(key.clone(), r).is_none(),
            "two user records at {key:?}"
        );
    }
    for (record, ack) in &acked {
        let key = (
            ack.shard_id().to_string(),
            ack.sequence_number().to_string(),
            ack.sub_sequence_number(),
        );
        let got = at
            .get(&key)
            .ok_or_else(|| format!("acked record lost: nothing at {key:?}"))?;
        assert_eq!(got.data, record.data, "another record at the acked {key:?}");
        assert_eq!(got.partition_key, record.partition_key, "{key:?}");
        let last = ack.attempts().last().ok_or("an ack without attempts")?;
        assert!(last.is_success(), "{:?}", ack.attempts());
    }
    // Nothing but what was sent is in the stream.
    let sent_data: std::collections::HashSet<_> = acked
        .iter()
        .map(|(r, _)| r.data.clone())
        .chain(failed.iter().map(|(r, _)| r.data.clone()))
        .collect();
    assert_eq!(sent_data.len(), n);
    for data in copies.keys() {
        assert!(
            sent_data.contains(data),
            "unknown record {data:?} in the stream"
        );
    }
    Ok(Run {
        acked,
        failed,
        counts,
        copies,
    })
}

/// Every record acked, each exactly once in the stream.
fn assert_all_acked_exactly_once(run: &Run, n: usize) {
    let failed: Vec<String> = run.failed.iter().map(|(_, e)| e.to_string()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert_eq!(run.acked.len(), n);
    assert_eq!(run.copies.len(), n);
    assert_eq!(
        run.duplicates(),
        0,
        "a fault that applies nothing duplicated records"
    );
}

fn codes(run: &Run) -> std::collections::BTreeSet<String> {
    run.acked
        .iter()
        .flat_map(|(_, a)| a.attempts().iter().filter_map(|t| t.error_code.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_call_errors_are_retried() -> TestResult {
    let n = 2000;
    let config = FaultConfig::new(11).for_all(OperationFaults::none().with_errors(
        0.3,
        [
            InjectedError::InternalFailure,
            InjectedError::ServiceUnavailable,
            InjectedError::LimitExceeded,
        ],
    ));
    let run = run(config, cfg(), n).await?;
    assert!(run.counts.errors > 20, "{:?}", run.counts);
    assert_all_acked_exactly_once(&run, n);
    let codes = codes(&run);
    for code in [
        "InternalFailure",
        "ServiceUnavailable",
        "LimitExceededException",
    ] {
        assert!(
            codes.contains(code),
            "{code} not among the attempts: {codes:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entries_are_retried_alone() -> TestResult {
    let n = 2000;
    let config = FaultConfig::new(12).with_entry_failures(EntryFaults::new(0.3));
    let run = run(config, cfg(), n).await?;
    assert!(run.counts.failed_entries > 50, "{:?}", run.counts);
    assert_all_acked_exactly_once(&run, n);
    let codes = codes(&run);
    assert!(codes.contains("InternalFailure"), "{codes:?}");
    assert!(
        codes.contains("ProvisionedThroughputExceededException"),
        "{codes:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_of_calls_and_entries_is_retried() -> TestResult {
    let n = 2000;
    let throttled = [InjectedError::ProvisionedThroughputExceeded];
    let config = FaultConfig::new(13)
        .for_operation(
            Operation::PutRecords,
            OperationFaults::none().with_errors(0.4, throttled.clone()),
        )
        .with_entry_failures(EntryFaults::with_errors(0.4, throttled));
    let run = run(config, cfg(), n).await?;
    assert!(
        run.counts.errors > 10 && run.counts.failed_entries > 50,
        "{:?}",
        run.counts
    );
    assert_all_acked_exactly_once(&run, n);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_only_slows_down() -> TestResult {
    let n = 1500;
    let config = FaultConfig::new(14).for_all(
        OperationFaults::none().with_latency(Duration::from_millis(20), Duration::from_millis(150)),
    );
    // Some calls take longer than the request timeout: abandoned and retried. Mostly not
    // applied (the latency comes before the call), but a call whose latency ends just before
    // the timeout may be applied and still answer too late: only such records (with a
    // RequestTimeout attempt) may be in the stream twice.
    let run = run(config, cfg().request_timeout(Duration::from_millis(150)), n).await?;
    assert!(run.counts.delayed > 10, "{:?}", run.counts);
    assert!(run.failed.is_empty(), "{} failed", run.failed.len());
    assert_eq!(run.acked.len(), n);
    assert_eq!(run.copies.len(), n);
    for (record, ack) in &run.acked {
        if run.copies.get(&record.data).copied().unwrap_or(0) > 1 {
            assert!(
                ack.attempts()
                    .iter()
                    .any(|a| a.error_code.as_deref() == Some("RequestTimeout")),
                "a record without a timed-out attempt is in the stream twice: {:?}",
                ack.attempts()
            );
        }
    }
    assert!(codes(&run).contains("RequestTimeout"), "{:?}", codes(&run));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_end_at_the_request_timeout() -> TestResult {
    let n = 1500;
    // Not applied: hangs forever or fails after a while; exactly once.
    let config = FaultConfig::new(15).for_operation(
        Operation::PutRecords,
        OperationFaults::none().with_timeouts(0.25, Timeout::forever()),
    );
    let run1 = run(config, cfg(), n).await?;
    assert!(run1.counts.timeouts > 5, "{:?}", run1.counts);
    assert_all_acked_exactly_once(&run1, n);
    assert!(
        codes(&run1).contains("RequestTimeout"),
        "{:?}",
        codes(&run1)
    );
    let timed_out = run1
        .acked
        .iter()
        .flat_map(|(_, a)| a.attempts())
        .find(|t| t.error_code.as_deref() == Some("RequestTimeout"))
        .ok_or("no timed out attempt")?;
    assert!(
        timed_out.duration >= Duration::from_millis(300),
        "{timed_out:?}"
    );

    // Applied, then hanging (the response is lost): duplicates allowed, losses not.
    let config = FaultConfig::new(16).for_operation(
        Operation::PutRecords,
        OperationFaults::none().with_timeouts(0.25, Timeout::forever().applied()),
    );
    let run2 = run(config, cfg(), n).await?;
    assert!(run2.counts.timeouts > 5, "{:?}", run2.counts);
    assert!(run2.failed.is_empty(), "{} failed", run2.failed.len());
    assert_eq!(run2.copies.len(), n, "every record is in the stream");
    assert!(run2.duplicates() > 0, "lost responses duplicate records");

    // Hangs that end in an error before the request timeout.
    let config = FaultConfig::new(17).for_operation(
        Operation::PutRecords,
        OperationFaults::none()
            .with_timeouts(0.25, Timeout::fail_after(Duration::from_millis(100))),
    );
    let run3 = run(config, cfg(), n).await?;
    assert_all_acked_exactly_once(&run3, n);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_after_success_may_duplicate_but_never_lose() -> TestResult {
    let n = 2000;
    let config = FaultConfig::new(18).for_operation(
        Operation::PutRecords,
        OperationFaults::none()
            .with_errors(
                0.0,
                [
                    InjectedError::InternalFailure,
                    InjectedError::ServiceUnavailable,
                ],
            )
            .with_error_after_success(0.3),
    );
    let run = run(config, cfg(), n).await?;
    assert!(run.counts.errors_after_success > 10, "{:?}", run.counts);
    assert!(run.failed.is_empty(), "{} failed", run.failed.len());
    assert_eq!(run.acked.len(), n);
    assert_eq!(run.copies.len(), n, "every record is in the stream");
    assert!(run.duplicates() > 0, "lost responses duplicate records");
    Ok(())
}

/// Everything at once, also on ListShards, with strict ordering and without aggregation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_at_once() -> TestResult {
    for (seed, producer) in [
        (21, cfg()),
        (22, cfg().strict_order(true)),
        (23, cfg().aggregation_enabled(false)),
    ] {
        let n = 800;
        let config = FaultConfig::new(seed)
            .for_all(
                OperationFaults::none()
                    .with_errors(
                        0.1,
                        [
                            InjectedError::InternalFailure,
                            InjectedError::ServiceUnavailable,
                            InjectedError::ProvisionedThroughputExceeded,
                        ],
                    )
                    .with_latency(Duration::ZERO, Duration::from_millis(20))
                    .with_timeouts(0.05, Timeout::forever().applied())
                    .with_error_after_success(0.1),
            )
            .with_entry_failures(EntryFaults::new(0.1));
        let run = run(config, producer, n).await?;
        assert!(run.counts.injected() > 10, "{:?}", run.counts);
        assert!(
            run.failed.is_empty(),
            "seed {seed}: {} failed",
            run.failed.len()
        );
        assert_eq!(
            run.copies.len(),
            n,
            "seed {seed}: every record is in the stream"
        );
    }
    Ok(())
}
