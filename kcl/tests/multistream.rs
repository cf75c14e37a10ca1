//! A multi-stream application: two workers consume three streams through one SQLite lease
//! table; one stream is deleted midway.

mod common;

use bytes::Bytes;
use common::*;
use rill_engine::api::{
    CreateStreamInput, DeleteStreamInput, Kinesis, PutRecordsInput, PutRecordsRequestEntry,
};
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use rill_kcl::*;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (stream the input named, record data) of every delivery.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, String)>>>);

impl Seen {
    fn data(&self, stream: &str) -> HashSet<String> {
        self.0
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(s, _)| s == stream)
                    .map(|(_, d)| d.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn all(&self) -> Vec<(String, String)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

struct StreamRecorder {
    seen: Seen,
    init_stream: Option<(String, Option<String>)>,
}

#[async_trait::async_trait]
impl RecordProcessor for StreamRecorder {
    async fn initialize(&mut self, input: InitializationInput) {
        self.init_stream = Some((input.stream_name, input.stream_identifier));
    }
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        if let Ok(mut v) = self.seen.0.lock() {
            for r in &input.records {
                v.push((
                    input.stream_name.to_owned(),
                    String::from_utf8_lossy(&r.data).into_owned(),
                ));
            }
        }
        // The stream named at initialize is the one of every batch.
        if let Some((s, id)) = &self.init_stream {
            assert_eq!(s, input.stream_name);
            assert!(id.as_deref().is_some_and(|id| id.contains(s.as_str())));
        }
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
}

async fn put_to(kinesis: &dyn Kinesis, stream: &str, from: usize, to: usize) -> TestResult {
    let out = kinesis
        .put_records(PutRecordsInput {
            stream_name: Some(stream.into()),
            records: (from..to)
                .map(|n| PutRecordsRequestEntry {
                    data: Bytes::from(format!("{stream}-{n}")),
                    partition_key: format!("pk-{n}"),
                    explicit_hash_key: None,
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.failed_record_count, 0);
    Ok(())
}

fn expected(stream: &str, n: usize) -> HashSet<String> {
    (0..n).map(|i| format!("{stream}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_streams_one_deleted_midway() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(
        dir.path().join("engine"),
        EngineConfig {
            fsync: FsyncPolicy::Never,
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    for (name, shards) in [("alpha", 2), ("beta", 3), ("gamma", 2)] {
        engine
            .create_stream(CreateStreamInput {
                stream_name: name.into(),
                shard_count: Some(shards),
                ..Default::default()
            })
            .await?;
    }
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    for s in ["alpha", "beta", "gamma"] {
        put_to(kinesis.as_ref(), s, 0, 300).await?;
    }
    let table = SqliteLeaseTable::open(dir.path().join("leases.sqlite"), "multi")?;
    let seen = Seen::default();
    let streams = vec![
        StreamConfig::new("alpha", InitialPosition::TrimHorizon),
        StreamConfig::new("beta", InitialPosition::TrimHorizon),
        StreamConfig::new("gamma", InitialPosition::TrimHorizon),
    ];
    let mut handles = Vec::new();
    let mut runs = Vec::new();
    for w in ["w0", "w1"] {
        let seen = seen.clone();
        let scheduler = Scheduler::builder()
            .application_name("multi")
            .streams(streams.clone())
            .worker_id(w)
            .kinesis(kinesis.clone())
            .lease_table(Arc::new(table.clone()))
            .failover_time(FAST.failover)
            .renewal_interval(FAST.renewal)
            .taker_interval(FAST.taker)
            .shard_sync_interval(Duration::from_millis(300))
            .polling(polling())
            .processor_factory(move |_: &str| {
                Box::new(StreamRecorder {
                    seen: seen.clone(),
                    init_stream: None,
                }) as Box<dyn RecordProcessor>
            })
            .build()?;
        handles.push(scheduler.shutdown_handle());
        runs.push(tokio::spawn(scheduler.run()));
    }
    wait_until(
        Duration::from_secs(30),
        "the first 300 records of each stream",
        || async {
            ["alpha", "beta", "gamma"]
                .iter()
                .all(|s| seen.data(s) == expected(s, 300))
        },
    )
    .await?;
    // Lease keys name their stream.
    let leases = table.list_leases().await?;
    assert_eq!(leases.len(), 7);
    let mut per_stream: BTreeSet<String> = BTreeSet::new();
    for l in &leases {
        let (id, shard) =
            StreamIdentifier::split_lease_key(&l.lease_key).ok_or("not a multi-stream key")?;
        assert!(shard.starts_with("shardId-"), "{}", l.lease_key);
        assert!(id.creation_epoch > 0);
        per_stream.insert(id.stream_name);
    }
    assert_eq!(per_stream.len(), 3);

    // gamma is deleted while the others keep flowing.
    kinesis
        .delete_stream(DeleteStreamInput {
            stream_name: Some("gamma".into()),
            ..Default::default()
        })
        .await?;
    for i in (300..1500).step_by(300) {
        put_to(kinesis.as_ref(), "alpha", i, i + 300).await?;
        put_to(kinesis.as_ref(), "beta", i, i + 300).await?;
    }
    wait_until(
        Duration::from_secs(30),
        "every record of alpha and beta, and no lease of gamma",
        || async {
            let gamma_gone = table.list_leases().await.is_ok_and(|ls| {
                ls.len() == 5 && !ls.iter().any(|l| l.lease_key.contains(":gamma:"))
            });
            gamma_gone
                && seen.data("alpha") == expected("alpha", 1500)
                && seen.data("beta") == expected("beta", 1500)
        },
    )
    .await?;
    for h in &handles {
        h.shutdown().await;
    }
    for r in runs {
        r.await??;
    }
    // Every delivery was labelled with the stream its data came from.
    for (stream, data) in seen.all() {
        assert!(data.starts_with(&format!("{stream}-")), "{stream}: {data}");
    }
    assert!(
        table
            .list_leases()
            .await?
            .iter()
            .all(|l| l.lease_owner.is_none())
    );
    Ok(())
}
