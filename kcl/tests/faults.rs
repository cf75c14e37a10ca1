//! A fleet of workers (SQLite lease table, embedded engine without throughput limits) under
//! injected faults: Kinesis faults (`rill_testkit::FaultyKinesis`), lease table
//! faults (`rill_testkit::FaultyLeaseTable`) and cut SubscribeToShard streams.
//!
//! Under every kind: every record is processed at least once, no checkpoint ever goes
//! backwards (checked on every checkpoint write that reaches the table), no worker dies,
//! and once the faults stop the fleet converges: every shard leased, every record
//! processed, every checkpoint at the last record of its shard.

mod common;

use common::*;
use rill_kcl::*;
use rill_testkit::{
    FaultConfig, FaultyKinesis, FaultyLeaseTable, InjectedError, LeaseFaultConfig, LeaseFaults,
    LeaseOperation, Operation, OperationFaults, StreamFaults, Timeout,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Below every worker: checks that each checkpoint written is not below the one it
/// replaces. Checkpoint writes are serialized so that the row read before a write is the
/// row the write replaced (no other write changes a checkpoint).
#[derive(Debug)]
struct CheckpointWatch {
    inner: Arc<dyn LeaseTable>,
    serial: tokio::sync::Mutex<()>,
    backwards: Mutex<Vec<String>>,
    written: Mutex<usize>,
}

impl CheckpointWatch {
    fn new(inner: Arc<dyn LeaseTable>) -> Arc<CheckpointWatch> {
        Arc::new(CheckpointWatch {
            inner,
            serial: tokio::sync::Mutex::new(()),
            backwards: Mutex::new(Vec::new()),
            written: Mutex::new(0),
        })
    }
    fn backwards(&self) -> Vec<String> {
        self.backwards.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn written(&self) -> usize {
        self.written.lock().map(|n| *n).unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl LeaseTable for CheckpointWatch {
    async fn create_lease_if_not_exists(&self, l: &Lease) -> Result<bool, LeaseError> {
        self.inner.create_lease_if_not_exists(l).await
    }
    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        self.inner.list_leases().await
    }
    async fn get_lease(&self, k: &str) -> Result<Option<Lease>, LeaseError> {
        self.inner.get_lease(k).await
    }
    async fn renew_lease(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.renew_lease(l).await
    }
    async fn take_lease(&self, l: &Lease, o: &str) -> Result<Option<Lease>, LeaseError> {
        self.inner.take_lease(l, o).await
    }
    async fn evict_lease(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.evict_lease(l).await
    }
    async fn hand_over_lease(&self, l: &Lease, o: &str) -> Result<Option<Lease>, LeaseError> {
        self.inner.hand_over_lease(l, o).await
    }
    async fn complete_hand_over(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.complete_hand_over(l).await
    }
    async fn update_checkpoint(
        &self,
        l: &Lease,
        u: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        let _serial = self.serial.lock().await;
        let before = self.inner.get_lease(&l.lease_key).await?;
        let after = self.inner.update_checkpoint(l, u).await?;
        if let (Some(b), Some(a)) = (&before, &after) {
            if let Ok(mut n) = self.written.lock() {
                *n += 1;
            }
            if a.checkpoint() < b.checkpoint() {
                let msg = format!(
                    "{}: checkpoint went from {} back to {} (by {:?})",
                    l.lease_key,
                    b.checkpoint(),
                    a.checkpoint(),
                    l.checkpoint_owner.as_ref().or(l.lease_owner.as_ref())
                );
                if let Ok(mut v) = self.backwards.lock() {
                    v.push(msg);
                }
            }
        }
        Ok(after)
    }
    async fn update_lease_meta(&self, l: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.inner.update_lease_meta(l).await
    }
    async fn delete_lease(&self, l: &Lease) -> Result<bool, LeaseError> {
        self.inner.delete_lease(l).await
    }
}

/// One worker with its own fault wrappers.
struct Worker {
    kinesis: Arc<FaultyKinesis>,
    table: Arc<FaultyLeaseTable>,
    handle: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), KclError>>,
}

type Tune = Box<dyn Fn(SchedulerBuilder) -> SchedulerBuilder>;
type Enough = Box<dyn Fn(&[Worker]) -> bool>;

/// What a fleet test does.
struct Scenario {
    shards: i32,
    workers: usize,
    /// The Kinesis faults of worker `i`.
    kinesis: Box<dyn Fn(u64) -> FaultConfig>,
    /// The lease table faults of worker `i`.
    leases: Box<dyn Fn(u64) -> LeaseFaultConfig>,
    /// Builder changes (retrieval mode).
    tune: Tune,
    /// Whether enough faults were injected to stop them (over every worker).
    enough: Enough,
}

fn injected(workers: &[Worker]) -> (u64, u64) {
    workers.iter().fold((0, 0), |(k, l), w| {
        (
            k + w.kinesis.counts().injected(),
            l + w.table.counts().injected(),
        )
    })
}

/// The last record delivered on each shard.
fn last_delivered(log: &Log) -> HashMap<String, ExtendedSequenceNumber> {
    let mut last: HashMap<String, ExtendedSequenceNumber> = HashMap::new();
    for d in log.snapshot() {
        let e = ExtendedSequenceNumber::new(d.seq, d.sub);
        let v = last.entry(d.shard).or_insert(e.clone());
        if e > *v {
            *v = e;
        }
    }
    last
}

/// Runs a fleet: records before and during the faults, faults on once every worker has
/// started, off once enough were injected and every record so far was processed, then
/// more records, and the checks of the module docs.
async fn fleet(s: Scenario) -> TestResult {
    let (dir, inner) = engine(s.shards).await?;
    let sqlite: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "app",
    )?);
    let watch = CheckpointWatch::new(Arc::clone(&sqlite));
    let log = Log::default();
    put(inner.as_ref(), 0, 2000).await?;
    let mut workers = Vec::new();
    for i in 0..s.workers {
        let kinesis = Arc::new(FaultyKinesis::new(
            Arc::clone(&inner),
            (s.kinesis)(i as u64),
        ));
        let table = Arc::new(FaultyLeaseTable::new(watch.clone(), (s.leases)(i as u64)));
        // Off until the worker has started: a worker fails only if its first shard sync
        // fails (documented); later failures are retried, and those are under test.
        kinesis.set_enabled(false);
        table.set_enabled(false);
        let scheduler = (s.tune)(builder(
            kinesis.clone(),
            table.clone(),
            &format!("w{i}"),
            &log,
            true,
            &FAST,
        ))
        .build()?;
        let handle = scheduler.shutdown_handle();
        let task = tokio::spawn(scheduler.run());
        workers.push(Worker {
            kinesis,
            table,
            handle,
            task,
        });
    }
    // A worker is past its first shard sync when its lease scan lists the table (the
    // sync lists it once before).
    wait_until(Duration::from_secs(10), "every worker started", || async {
        workers
            .iter()
            .all(|w| w.table.counts_for(LeaseOperation::ListLeases).calls >= 2)
    })
    .await?;
    for w in &workers {
        w.kinesis.set_enabled(true);
        w.table.set_enabled(true);
    }
    // Records during the faults, in steps (many batches, so many checkpoints).
    for from in (2000..4000).step_by(200) {
        put(inner.as_ref(), from, from + 200).await?;
        wait_until(
            Duration::from_secs(20),
            "processing under faults",
            || async { log.distinct_data().len() >= from + 200 },
        )
        .await?;
    }
    if let Err(e) = wait_until(
        Duration::from_secs(25),
        "faults injected and 4000 records processed under them",
        || async { (s.enough)(&workers) && log.distinct_data().len() >= 4000 },
    )
    .await
    {
        return Err(format!(
            "{e}; processed {} distinct, injected (kinesis, leases) {:?}, leases {:?}",
            log.distinct_data().len(),
            injected(&workers),
            owners(sqlite.as_ref()).await
        )
        .into());
    }
    let during = injected(&workers);
    for w in &workers {
        w.kinesis.set_enabled(false);
        w.table.set_enabled(false);
    }
    put(inner.as_ref(), 4000, 5000).await?;
    if let Err(e) = wait_until(
        Duration::from_secs(25),
        "converged: all shards leased, all records processed, checkpoints at the end",
        || async {
            let leases = sqlite.list_leases().await.unwrap_or_default();
            let last = last_delivered(&log);
            leases.len() == s.shards as usize
                && leases
                    .iter()
                    .all(|l| l.lease_owner.is_some() && l.checkpoint_owner.is_none())
                && log.distinct_data().len() == 5000
                && leases
                    .iter()
                    .all(|l| last.get(&l.lease_key) == Some(&l.checkpoint()))
        },
    )
    .await
    {
        let leases: Vec<_> = sqlite
            .list_leases()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|l| (l.lease_key.clone(), l.lease_owner.clone(), l.checkpoint()))
            .collect();
        let seen = log.distinct_data();
        let missing: Vec<_> = (0..5000).filter(|i| !seen.contains(i)).collect();
        return Err(format!(
            "{e}; processed {} distinct, MISSING {missing:?}, leases {leases:?}, last delivered {:?}",
            log.distinct_data().len(),
            last_delivered(&log)
        )
        .into());
    }
    assert_eq!(log.distinct_data(), (0..5000).collect());
    let backwards = watch.backwards();
    assert!(
        backwards.is_empty(),
        "checkpoints went backwards: {backwards:?}"
    );
    assert!(watch.written() > 0);
    for (i, w) in workers.iter().enumerate() {
        assert!(!w.task.is_finished(), "worker w{i} stopped");
    }
    for w in &workers {
        w.handle.shutdown().await;
    }
    for w in workers {
        w.task.await??;
    }
    let (dups_distinct, dups) = log.counts();
    tracing::info!(?during, dups_distinct, dups, "fleet done");
    Ok(())
}

fn no_lease_faults(seed: u64) -> LeaseFaultConfig {
    LeaseFaultConfig::new(seed)
}

fn no_kinesis_faults(seed: u64) -> FaultConfig {
    FaultConfig::new(seed)
}

/// Errors of every kind on every operation, latency, hangs that end in errors, errors
/// after success, and expired iterators on GetRecords.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_under_kinesis_faults() -> TestResult {
    let faults = |errors: Vec<InjectedError>| {
        OperationFaults::none()
            .with_errors(0.2, errors)
            .with_latency(Duration::ZERO, Duration::from_millis(10))
            .with_timeouts(0.03, Timeout::fail_after(Duration::from_millis(300)))
            .with_error_after_success(0.05)
    };
    let common = vec![
        InjectedError::InternalFailure,
        InjectedError::ServiceUnavailable,
        InjectedError::ProvisionedThroughputExceeded,
        InjectedError::LimitExceeded,
    ];
    fleet(Scenario {
        shards: 6,
        workers: 3,
        kinesis: Box::new(move |seed| {
            let mut get_records = common.clone();
            get_records.push(InjectedError::ExpiredIterator);
            FaultConfig::new(100 + seed)
                .for_all(faults(common.clone()))
                .for_operation(Operation::GetRecords, faults(get_records))
        }),
        leases: Box::new(no_lease_faults),
        tune: Box::new(|b| b),
        enough: Box::new(|w| injected(w).0 >= 50),
    })
    .await
}

/// Storage errors, latency, hangs that end in errors, and writes that happened but were
/// reported failed, on every lease table method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_under_lease_table_faults() -> TestResult {
    fleet(Scenario {
        shards: 6,
        workers: 3,
        kinesis: Box::new(no_kinesis_faults),
        leases: Box::new(|seed| {
            LeaseFaultConfig::new(200 + seed)
                .for_all(
                    LeaseFaults::none()
                        .with_error_rate(0.1)
                        .with_latency(Duration::ZERO, Duration::from_millis(10))
                        .with_timeouts(0.02, Timeout::fail_after(Duration::from_millis(400))),
                )
                .for_operation(
                    LeaseOperation::UpdateCheckpoint,
                    LeaseFaults::none()
                        .with_error_rate(0.1)
                        .with_error_after_success(0.3),
                )
                .for_operations(
                    LeaseOperation::WRITES
                        .iter()
                        .copied()
                        .filter(|op| *op != LeaseOperation::UpdateCheckpoint),
                    LeaseFaults::none()
                        .with_error_rate(0.1)
                        .with_latency(Duration::ZERO, Duration::from_millis(10))
                        .with_timeouts(
                            0.02,
                            Timeout::fail_after(Duration::from_millis(400)).applied(),
                        )
                        .with_error_after_success(0.1),
                )
        }),
        tune: Box::new(|b| b),
        enough: Box::new(|w| {
            injected(w).1 >= 50
                && w.iter().any(|w| {
                    w.table
                        .counts_for(LeaseOperation::UpdateCheckpoint)
                        .errors_after_success
                        > 0
                })
        }),
    })
    .await
}

/// Lease table calls of every kind that never answer (some applied before the hang): each
/// is given up after `lease_call_timeout` and retried, so no checkpoint, balancing scan or
/// shard sync stalls a worker. Without the bound, a processor whose checkpoint hangs never
/// takes its next batch, and the fleet never converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_under_lease_calls_that_never_answer() -> TestResult {
    fleet(Scenario {
        shards: 4,
        workers: 2,
        kinesis: Box::new(no_kinesis_faults),
        leases: Box::new(|seed| {
            LeaseFaultConfig::new(300 + seed)
                .for_all(LeaseFaults::none().with_timeouts(0.03, Timeout::forever()))
                .for_operations(
                    LeaseOperation::WRITES.iter().copied(),
                    LeaseFaults::none().with_timeouts(0.03, Timeout::forever().applied()),
                )
                .for_operation(
                    LeaseOperation::UpdateCheckpoint,
                    LeaseFaults::none().with_timeouts(0.1, Timeout::forever()),
                )
        }),
        tune: Box::new(|b| b.lease_call_timeout(Duration::from_millis(400))),
        enough: Box::new(|w| {
            w.iter()
                .map(|w| {
                    w.table
                        .counts_for(LeaseOperation::UpdateCheckpoint)
                        .timeouts
                })
                .sum::<u64>()
                >= 3
                && injected(w).1 >= 10
        }),
    })
    .await
}

/// Enhanced fan-out with subscriptions cut mid-stream and refused now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_fleet_under_cut_subscriptions() -> TestResult {
    fleet(Scenario {
        shards: 2,
        workers: 2,
        kinesis: Box::new(|seed| {
            FaultConfig::new(300 + seed)
                .for_operation(
                    Operation::SubscribeToShard,
                    OperationFaults::none().with_errors(0.2, [InjectedError::InternalFailure]),
                )
                .with_stream_cuts(StreamFaults {
                    cut_rate: 0.2,
                    error: Some(InjectedError::ServiceUnavailable),
                })
        }),
        leases: Box::new(no_lease_faults),
        tune: Box::new(|b| {
            b.retrieval(RetrievalMode::FanOut {
                consumer_name: None,
            })
            .fan_out(fan_out())
        }),
        enough: Box::new(|w| {
            w.iter()
                .map(|w| w.kinesis.counts().streams_cut)
                .sum::<u64>()
                >= 2
        }),
    })
    .await
}
