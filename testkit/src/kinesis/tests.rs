//! Unit tests of [`FaultyKinesis`](super::FaultyKinesis) over the embedded engine.

use super::*;
use futures::StreamExt;
use rill_engine::api::*;
use rill_engine::{Engine, EngineConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

async fn engine(
    shards: i32,
) -> std::result::Result<(Engine, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .await?;
    Ok((engine, dir))
}

/// Calls every operation of the table once (with mostly empty inputs) and returns each
/// one's error code (`None` on success).
async fn call_every_operation(k: &dyn Kinesis) -> Vec<(Operation, Option<String>)> {
    // The input of an operation: its `Default`, or placeholders for the two input types
    // whose required members have no natural default.
    macro_rules! blank {
        (SubscribeToShard) => {
            SubscribeToShardInput {
                consumer_arn: String::new(),
                shard_id: String::new(),
                starting_position: StartingPosition {
                    position_type: ShardIteratorType::TrimHorizon,
                    sequence_number: None,
                    timestamp: None,
                },
            }
        };
        (UpdateStreamMode) => {
            UpdateStreamModeInput {
                stream_arn: String::new(),
                stream_mode_details: StreamModeDetails {
                    stream_mode: StreamMode::OnDemand,
                },
            }
        };
        ($op:ident) => {
            Default::default()
        };
    }
    macro_rules! every_call {
        (required { $($required:tt)* } provided { $($provided:tt)* }) => {
            every_call!(@lines $($required)* $($provided)*)
        };
        (@lines $(($op:ident, $method:ident, $input:ty, $($rest:tt)*))*) => {{
            let mut out = Vec::new();
            $(
                let r: Result<()> = k.$method(blank!($op)).await.map(|_| ());
                out.push((Operation::$op, r.err().map(|e| e.code().to_string())));
            )*
            out
        }};
    }
    rill_engine::kinesis_operations!(every_call)
}

#[tokio::test]
async fn every_operation_is_forwarded_and_counted_under_its_name() -> TestResult {
    let (engine, _dir) = engine(1).await?;
    let faulty = FaultyKinesis::new(
        Arc::new(engine),
        FaultConfig::new(1).for_all(OperationFaults::none().with_errors(
            1.0,
            [InjectedError::Custom {
                code: "Injected".into(),
                message: "x".into(),
            }],
        )),
    );
    let results = call_every_operation(&faulty).await;
    assert_eq!(results.len(), Operation::ALL.len());
    for (op, code) in &results {
        assert_eq!(code.as_deref(), Some("Injected"), "{op}");
        let c = faulty.counts_for(*op);
        assert_eq!((c.calls, c.errors), (1, 1), "{op}");
    }
    assert_eq!(faulty.counts().errors, Operation::ALL.len() as u64);
    // Without faults, every call reaches the engine: none answers the trait's default
    // UnknownOperationException.
    faulty.set_enabled(false);
    for (op, code) in call_every_operation(&faulty).await {
        assert_ne!(code.as_deref(), Some("UnknownOperationException"), "{op}");
        assert_ne!(code.as_deref(), Some("Injected"), "{op}");
    }
    assert_eq!(faulty.counts().injected(), Operation::ALL.len() as u64);
    Ok(())
}

fn entries(n: usize) -> Vec<PutRecordsRequestEntry> {
    (0..n)
        .map(|i| PutRecordsRequestEntry {
            data: format!("{i}").into(),
            partition_key: format!("k{i}"),
            explicit_hash_key: None,
        })
        .collect()
}

async fn stored(k: &dyn Kinesis) -> std::result::Result<Vec<Record>, Error> {
    let it = k
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some("s".into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
            ..Default::default()
        })
        .await?;
    Ok(k.get_records(GetRecordsInput {
        shard_iterator: it.shard_iterator.unwrap_or_default(),
        ..Default::default()
    })
    .await?
    .records)
}

#[tokio::test]
async fn put_records_entries_fail_on_their_own() -> TestResult {
    let (engine, _dir) = engine(1).await?;
    let inner: Arc<dyn Kinesis> = Arc::new(engine);
    let faulty = FaultyKinesis::new(
        Arc::clone(&inner),
        FaultConfig::new(7).with_entry_failures(EntryFaults::new(0.3)),
    );
    let out = faulty
        .put_records(PutRecordsInput {
            records: entries(300),
            stream_name: Some("s".into()),
            stream_arn: None,
        })
        .await?;
    assert_eq!(out.records.len(), 300);
    let failed: Vec<_> = out
        .records
        .iter()
        .filter(|r| r.error_code.is_some())
        .collect();
    assert_eq!(failed.len(), out.failed_record_count as usize);
    assert!((50..130).contains(&failed.len()), "{}", failed.len());
    let codes: std::collections::HashSet<_> =
        failed.iter().filter_map(|r| r.error_code.clone()).collect();
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(failed.iter().all(|r| r.sequence_number.is_none()));
    assert_eq!(faulty.counts().failed_entries, failed.len() as u64);
    // Exactly the successful entries were written, at their sequence numbers.
    let got = stored(&*inner).await?;
    let ok: Vec<(String, String)> = out
        .records
        .iter()
        .zip(0..)
        .filter_map(|(r, i)| Some((r.sequence_number.clone()?, format!("{i}"))))
        .collect();
    let read: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r.sequence_number.clone(),
                String::from_utf8_lossy(&r.data).into_owned(),
            )
        })
        .collect();
    assert_eq!(read, ok);
    Ok(())
}

#[tokio::test]
async fn error_after_success_writes_and_timeouts_hang() -> TestResult {
    let (engine, _dir) = engine(1).await?;
    let inner: Arc<dyn Kinesis> = Arc::new(engine);
    let put = || PutRecordInput {
        stream_name: Some("s".into()),
        partition_key: "k".into(),
        data: "x".into(),
        ..Default::default()
    };
    let faulty = FaultyKinesis::new(
        Arc::clone(&inner),
        FaultConfig::new(3).for_operation(
            Operation::PutRecord,
            OperationFaults::none()
                .with_errors(0.0, [InjectedError::ServiceUnavailable])
                .with_error_after_success(1.0),
        ),
    );
    let e = faulty.put_record(put()).await.err().ok_or("no error")?;
    assert_eq!(e.code(), "ServiceUnavailable");
    assert_eq!(stored(&*inner).await?.len(), 1, "written anyway");
    assert_eq!(faulty.counts().errors_after_success, 1);

    // Hang, then fail: not applied.
    let mut config = faulty.config();
    config.operations.insert(
        Operation::PutRecord,
        OperationFaults::none().with_timeouts(1.0, Timeout::fail_after(Duration::from_millis(80))),
    );
    faulty.set_config(config.clone());
    let start = Instant::now();
    let e = faulty.put_record(put()).await.err().ok_or("no error")?;
    assert!(start.elapsed() >= Duration::from_millis(80));
    assert_eq!(e.code(), "InternalFailure");
    assert!(e.message().contains("timed out"), "{e}");
    assert_eq!(stored(&*inner).await?.len(), 1, "not applied");
    // Hang forever, applied: the caller's own timeout ends it; the write happened.
    config.operations.insert(
        Operation::PutRecord,
        OperationFaults::none().with_timeouts(1.0, Timeout::forever().applied()),
    );
    faulty.set_config(config);
    let r = tokio::time::timeout(Duration::from_millis(100), faulty.put_record(put())).await;
    assert!(r.is_err(), "never answered");
    assert_eq!(stored(&*inner).await?.len(), 2, "applied");
    assert_eq!(faulty.counts_for(Operation::PutRecord).timeouts, 2);
    // Latency.
    faulty.set_config(FaultConfig::new(3).for_all(
        OperationFaults::none().with_latency(Duration::from_millis(60), Duration::from_millis(20)),
    ));
    let start = Instant::now();
    faulty.put_record(put()).await?;
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert_eq!(faulty.counts_for(Operation::PutRecord).delayed, 1);
    Ok(())
}

#[tokio::test]
async fn the_same_seed_injects_the_same_faults() -> TestResult {
    let (engine, _dir) = engine(1).await?;
    let inner: Arc<dyn Kinesis> = Arc::new(engine);
    let config = FaultConfig::new(99).for_all(OperationFaults::none().with_errors(
        0.5,
        [
            InjectedError::InternalFailure,
            InjectedError::LimitExceeded,
            InjectedError::ProvisionedThroughputExceeded,
        ],
    ));
    let mut runs = Vec::new();
    for _ in 0..2 {
        let faulty = FaultyKinesis::new(Arc::clone(&inner), config.clone());
        let mut codes = Vec::new();
        for _ in 0..64 {
            let r = faulty.list_shards(ListShardsInput {
                stream_name: Some("s".into()),
                ..Default::default()
            });
            codes.push(r.await.err().map(|e| e.code().to_string()));
        }
        runs.push(codes);
    }
    assert_eq!(runs[0], runs[1]);
    let failed = runs[0].iter().filter(|c| c.is_some()).count();
    assert!((16..48).contains(&failed), "{failed}");
    Ok(())
}

#[tokio::test]
async fn subscriptions_are_cut() -> TestResult {
    let (engine, _dir) = engine(1).await?;
    let faulty = FaultyKinesis::new(
        Arc::new(engine),
        FaultConfig::new(5).with_stream_cuts(StreamFaults {
            cut_rate: 0.2,
            error: Some(InjectedError::InternalFailure),
        }),
    );
    let event = |i: usize| SubscribeToShardEvent {
        records: Vec::new(),
        continuation_sequence_number: i.to_string(),
        millis_behind_latest: 0,
        child_shards: None,
    };
    let events: Vec<Result<SubscribeToShardEvent>> = (0..100).map(|i| Ok(event(i))).collect();
    let mut cut = faulty.cuttable(Box::pin(futures::stream::iter(events)));
    let mut got = Vec::new();
    while let Some(item) = cut.next().await {
        got.push(item);
    }
    assert!(got.len() < 100, "cut");
    let last = got.pop().ok_or("nothing")?;
    assert!(matches!(last, Err(Error::Internal { .. })));
    for (i, e) in got.iter().enumerate() {
        let e = e.as_ref().map_err(|e| e.to_string())?;
        assert_eq!(e.continuation_sequence_number, i.to_string());
    }
    assert_eq!(faulty.counts().streams_cut, 1);
    Ok(())
}
