//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod dynalite;

use async_trait::async_trait;
use bytes::Bytes;
use rill_engine::api::{CreateStreamInput, Kinesis, PutRecordsInput, PutRecordsRequestEntry};
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use rill_kcl::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A lease table that sends each call to the next of several connections.
#[derive(Debug)]
pub struct RoundRobin {
    tables: Vec<Arc<dyn LeaseTable>>,
    next: AtomicUsize,
}

impl RoundRobin {
    pub fn new(tables: Vec<Arc<dyn LeaseTable>>) -> Self {
        RoundRobin {
            tables,
            next: AtomicUsize::new(0),
        }
    }
    fn pick(&self) -> &dyn LeaseTable {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.tables.len();
        self.tables[i].as_ref()
    }
}

#[async_trait]
impl LeaseTable for RoundRobin {
    async fn create_lease_if_not_exists(&self, l: &Lease) -> Result<bool, LeaseError> {
        self.pick().create_lease_if_not_exists(l).await
    }
    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        self.pick().list_leases().await
    }
    async fn get_lease(&self, k: &str) -> Result<Option<Lease>, LeaseError> {
        self.pick().get_lease(k).await
    }
    async fn renew_lease(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.pick().renew_lease(l).await
    }
    async fn take_lease(&self, l: &Lease, o: &str) -> Result<Option<Lease>, LeaseError> {
        self.pick().take_lease(l, o).await
    }
    async fn evict_lease(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.pick().evict_lease(l).await
    }
    async fn hand_over_lease(&self, l: &Lease, o: &str) -> Result<Option<Lease>, LeaseError> {
        self.pick().hand_over_lease(l, o).await
    }
    async fn complete_hand_over(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.pick().complete_hand_over(l).await
    }
    async fn update_checkpoint(
        &self,
        l: &Lease,
        u: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        self.pick().update_checkpoint(l, u).await
    }
    async fn update_lease_meta(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.pick().update_lease_meta(l).await
    }
    async fn delete_lease(&self, l: &Lease) -> Result<bool, LeaseError> {
        self.pick().delete_lease(l).await
    }
}

/// An engine on a temporary directory with one stream.
pub async fn engine(shards: i32) -> TestResult<(tempfile::TempDir, Arc<dyn Kinesis>)> {
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
    engine
        .create_stream(CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .await?;
    Ok((dir, Arc::new(engine)))
}

/// Puts records `from..to` (data = the number as text, partition key = the number).
pub async fn put(kinesis: &dyn Kinesis, from: usize, to: usize) -> TestResult {
    let mut i = from;
    while i < to {
        let end = (i + 500).min(to);
        let out = kinesis
            .put_records(PutRecordsInput {
                stream_name: Some("s".into()),
                records: (i..end)
                    .map(|n| PutRecordsRequestEntry {
                        data: Bytes::from(n.to_string()),
                        partition_key: format!("pk-{n}"),
                        explicit_hash_key: None,
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        assert_eq!(out.failed_record_count, 0);
        i = end;
    }
    Ok(())
}

/// One delivery of a record to a processor.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub worker: String,
    pub shard: String,
    pub seq: String,
    pub sub: u64,
    pub data: Bytes,
}

/// Everything processors delivered, in delivery order.
#[derive(Debug, Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<Delivery>>>);

impl Log {
    pub fn snapshot(&self) -> Vec<Delivery> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    pub fn len(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
    /// (distinct records, duplicate deliveries).
    pub fn counts(&self) -> (usize, usize) {
        let mut seen: HashMap<(String, u64), usize> = HashMap::new();
        for d in self.snapshot() {
            *seen.entry((d.seq, d.sub)).or_default() += 1;
        }
        let dups = seen.values().map(|c| c - 1).sum();
        (seen.len(), dups)
    }
    pub fn distinct_data(&self) -> std::collections::BTreeSet<usize> {
        self.snapshot()
            .iter()
            .filter_map(|d| std::str::from_utf8(&d.data).ok()?.parse().ok())
            .collect()
    }
}

/// Logs every record, checkpoints after every batch and on shutdown and shard end.
pub struct Recorder {
    pub worker: String,
    pub shard: String,
    pub log: Log,
    /// Checkpoint after each batch (else only on shutdown / shard end).
    pub checkpoint_each_batch: bool,
}

#[async_trait]
impl RecordProcessor for Recorder {
    async fn initialize(&mut self, input: InitializationInput) {
        self.shard = input.shard_id;
    }
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        if let Ok(mut log) = self.log.0.lock() {
            for r in &input.records {
                log.push(Delivery {
                    worker: self.worker.clone(),
                    shard: self.shard.clone(),
                    seq: r.sequence_number.clone(),
                    sub: r.sub_sequence_number,
                    data: r.data.clone(),
                });
            }
        }
        if self.checkpoint_each_batch
            && let Err(e) = input.checkpointer.checkpoint().await
        {
            tracing::info!(error = %e, "checkpoint failed");
        }
    }
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        if let Err(e) = input.checkpointer.checkpoint().await {
            tracing::info!(error = %e, "checkpoint on shutdown failed");
        }
    }
}

/// Fast timing knobs for tests.
pub struct Knobs {
    pub failover: Duration,
    pub renewal: Duration,
    pub taker: Duration,
}

pub const FAST: Knobs = Knobs {
    failover: Duration::from_millis(1500),
    renewal: Duration::from_millis(300),
    taker: Duration::from_millis(150),
};

pub fn polling() -> PollingConfig {
    PollingConfig {
        max_records: 1000,
        idle_time_between_reads: Duration::from_millis(20),
        max_idle_time_between_reads: Duration::from_millis(100),
        retry_min_backoff: Duration::from_millis(10),
        retry_max_backoff: Duration::from_millis(200),
        ..Default::default()
    }
}

pub fn scheduler(
    kinesis: Arc<dyn Kinesis>,
    table: Arc<dyn LeaseTable>,
    worker: &str,
    log: &Log,
    checkpoint_each_batch: bool,
    knobs: &Knobs,
) -> TestResult<Scheduler> {
    Ok(builder(kinesis, table, worker, log, checkpoint_each_batch, knobs).build()?)
}

/// The builder of [`scheduler`], to change more settings.
pub fn builder(
    kinesis: Arc<dyn Kinesis>,
    table: Arc<dyn LeaseTable>,
    worker: &str,
    log: &Log,
    checkpoint_each_batch: bool,
    knobs: &Knobs,
) -> SchedulerBuilder {
    let (w, l) = (worker.to_string(), log.clone());
    Scheduler::builder()
        .application_name("app")
        .stream_name("s")
        .worker_id(worker)
        .kinesis(kinesis)
        .lease_table(table)
        .initial_position(InitialPosition::TrimHorizon)
        .failover_time(knobs.failover)
        .renewal_interval(knobs.renewal)
        .taker_interval(knobs.taker)
        .max_leases_to_steal_at_once(2)
        .shard_sync_interval(Duration::from_millis(500))
        .polling(polling())
        .processor_factory(move |shard: &str| {
            Box::new(Recorder {
                worker: w.clone(),
                shard: shard.to_string(),
                log: l.clone(),
                checkpoint_each_batch,
            }) as Box<dyn RecordProcessor>
        })
}

/// Enhanced fan-out with fast retries (a new owner's subscription is refused for up to 5 s
/// after the previous owner's).
pub fn fan_out() -> FanOutConfig {
    FanOutConfig {
        silence_timeout: Duration::from_secs(10),
        retry_min_backoff: Duration::from_millis(20),
        retry_max_backoff: Duration::from_millis(500),
        consumer_poll_interval: Duration::from_millis(50),
        ..Default::default()
    }
}

/// The one polling helper of the tests (`rill_testkit::wait_until`).
#[allow(unused_imports)]
pub use rill_testkit::wait_until;

/// Leases per owner (owners with a handoff pending are counted as the new owner).
pub async fn owners(table: &dyn LeaseTable) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in table.list_leases().await.unwrap_or_default() {
        let o = l.lease_owner.unwrap_or_else(|| "-".into());
        let o = if l.checkpoint_owner.is_some() {
            format!("{o}(pending)")
        } else {
            o
        };
        *m.entry(o).or_default() += 1;
    }
    m
}
