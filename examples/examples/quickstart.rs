//! Quickstart: a producer and a fleet of consumer workers on the embedded engine.
//!
//! On a fresh data directory (temporary, or `--data-dir DIR`) it creates a stream of 8 shards
//! with AWS's per-shard limits, and runs in this one process:
//!
//! * an aggregating producer (rill-kpl) that sends `--records N` (default 200,000) records
//!   of about 100 bytes under 1,000 partition keys, pacing itself to the shards' limits;
//!   the records are sample page views made by the data generator of `rill-agent`
//!   ([`rill_agent::template::Template`], the same templates as `rill generate`);
//! * three consumer workers (rill-kcl) sharing the shards through a SQLite lease table;
//!   each record processor checkpoints after every batch.
//!
//! Halfway through, one worker is stopped abruptly (its task is aborted, as if its process
//! died): the other two take its shards once its leases expire, from its last checkpoints.
//! Progress bars show records produced and processed and each worker's shards; a summary
//! gives the counts, the duplicates (records processed twice: those after the dead worker's
//! last checkpoints) and the time from the worker's death to a full rebalance.
//!
//! Delivery guarantee shown here: **at least once**. Every acknowledged record is processed;
//! a record is processed twice only when a worker dies between processing it and
//! checkpointing it.
//!
//! Run: `cargo run --release --example quickstart [-- --records N] [--data-dir DIR]`

use async_trait::async_trait;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rill_agent::template::Template;
use rill_engine::api::*;
use rill_engine::{Engine, EngineConfig};
use rill_kcl::{
    InitialPosition, InitializationInput, ProcessRecordsInput, RecordProcessor, Scheduler,
    ShardEndedInput, ShutdownRequestedInput, SqliteLeaseTable,
};
use rill_kpl::{Producer, ProducerConfig, Record};
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STREAM: &str = "quickstart";
const SHARDS: i32 = 8;
const WORKERS: usize = 3;
/// Each record: a page view from the `rill generate` template language.
const DATA_TEMPLATE: &str = r#"{{seq}},{"ts":"{{timestamp}}","page":"{{pick "home" "search" "cart" "checkout"}}","ms":{{int 5 900}},"id":"{{uuid}}"}"#;
/// Each record's partition key: one of 1,000 users.
const KEY_TEMPLATE: &str = "user-{{int 1 1000}}";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// What the whole fleet has seen.
#[derive(Default)]
struct Seen {
    ids: Mutex<HashSet<u64>>,
    processed: AtomicU64,
    duplicates: AtomicU64,
}

/// One worker's view: how many shards it holds now.
struct WorkerState {
    shards: AtomicI64,
    bar: ProgressBar,
    name: String,
}

impl WorkerState {
    fn show(&self) {
        self.bar.set_message(format!(
            "{}: {} shards",
            self.name,
            self.shards.load(Ordering::SeqCst)
        ));
    }
}

struct Counter {
    seen: Arc<Seen>,
    worker: Arc<WorkerState>,
    processed_bar: ProgressBar,
    holding: bool,
}

impl Counter {
    fn release(&mut self) {
        if self.holding {
            self.holding = false;
            self.worker.shards.fetch_sub(1, Ordering::SeqCst);
            self.worker.show();
        }
    }
}

#[async_trait]
impl RecordProcessor for Counter {
    async fn initialize(&mut self, _input: InitializationInput) {
        self.holding = true;
        self.worker.shards.fetch_add(1, Ordering::SeqCst);
        self.worker.show();
    }

    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        for r in &input.records {
            let id = std::str::from_utf8(&r.data)
                .ok()
                .and_then(|t| t.split(',').next())
                .and_then(|n| n.parse::<u64>().ok());
            let Some(id) = id else { continue };
            self.seen.processed.fetch_add(1, Ordering::Relaxed);
            let fresh = self
                .seen
                .ids
                .lock()
                .map(|mut s| s.insert(id))
                .unwrap_or(false);
            if fresh {
                self.processed_bar.inc(1);
            } else {
                self.seen.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Checkpoint after every batch: a new owner resumes after it.
        if let Err(e) = input.checkpointer.checkpoint().await {
            tracing::debug!(error = %e, "checkpoint refused (lease moved)");
        }
    }

    async fn lease_lost(&mut self) {
        self.release();
    }

    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
        self.release();
    }

    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
        self.release();
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let records: u64 = arg("--records").map_or(Ok(200_000), |s| s.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = arg("--data-dir").map_or_else(|| temp.path().to_path_buf(), Into::into);

    // The engine: durable (fsync per group commit) and with AWS's per-shard limits.
    let engine = Engine::open(dir.join("engine"), EngineConfig::default()).await?;
    match engine
        .create_stream(CreateStreamInput {
            stream_name: STREAM.into(),
            shard_count: Some(SHARDS),
            ..Default::default()
        })
        .await
    {
        Ok(()) | Err(Error::ResourceInUse(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine.clone());
    println!(
        "rill quickstart: stream {STREAM:?} of {SHARDS} shards on {} (AWS limits, fsync on), {records} records, {WORKERS} workers",
        dir.display()
    );

    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {per_sec} {msg}")?
            .progress_chars("=> ");
    let produced_bar = multi.add(
        ProgressBar::new(records)
            .with_style(style.clone())
            .with_prefix("produced"),
    );
    let processed_bar = multi.add(
        ProgressBar::new(records)
            .with_style(style)
            .with_prefix("processed"),
    );
    let seen = Arc::new(Seen::default());

    // The consumer fleet.
    let leases = dir.join("leases.sqlite");
    let mut workers = Vec::new();
    let mut states = Vec::new();
    for w in 0..WORKERS {
        let state = Arc::new(WorkerState {
            shards: AtomicI64::new(0),
            bar: multi.add(ProgressBar::new_spinner()),
            name: format!("worker-{w}"),
        });
        state.show();
        let (seen, st, pbar) = (Arc::clone(&seen), Arc::clone(&state), processed_bar.clone());
        let scheduler = Scheduler::builder()
            .application_name("quickstart")
            .stream_name(STREAM)
            .worker_id(format!("worker-{w}"))
            .kinesis(Arc::clone(&kinesis))
            .lease_table(Arc::new(SqliteLeaseTable::open(&leases, "quickstart")?))
            .initial_position(InitialPosition::TrimHorizon)
            .failover_time(Duration::from_secs(3))
            .processor_factory(move |_shard: &str| {
                Box::new(Counter {
                    seen: Arc::clone(&seen),
                    worker: Arc::clone(&st),
                    processed_bar: pbar.clone(),
                    holding: false,
                }) as Box<dyn RecordProcessor>
            })
            .build()?;
        let stop = scheduler.shutdown_handle();
        workers.push((stop, tokio::spawn(scheduler.run())));
        states.push(state);
    }

    // The producer.
    let started = Instant::now();
    let producer = Producer::new(Arc::clone(&kinesis), ProducerConfig::builder().build()?);
    let stream: Arc<str> = STREAM.into();
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut killed_at: Option<Instant> = None;
    let mut pending = Vec::with_capacity(records as usize);
    // `{{seq}},` first: the processors count records by that number.
    let data_template = Template::parse(DATA_TEMPLATE)?;
    let key_template = Template::parse(KEY_TEMPLATE)?;
    let mut rng = rand::rng();
    let (key, data) = (
        key_template.render(0, &mut rng),
        data_template.render(0, &mut rng),
    );
    multi.suspend(|| println!("records like: key {key} data {data}"));
    for i in 0..records {
        let data = data_template.render(i, &mut rng);
        let key = key_template.render(i, &mut rng);
        let future = producer
            .send(Record::new(Arc::clone(&stream), key, data))
            .await?;
        let (acked, failed, bar) = (
            Arc::clone(&acked),
            Arc::clone(&failed),
            produced_bar.clone(),
        );
        pending.push(tokio::spawn(async move {
            match future.await {
                Ok(_) => {
                    acked.fetch_add(1, Ordering::Relaxed);
                    bar.inc(1);
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        // Halfway: one worker dies (no shutdown, no checkpoint, no lease release).
        if i == records / 2 && killed_at.is_none() {
            let (_, task) = workers.remove(WORKERS - 1);
            task.abort();
            let dead = states.remove(WORKERS - 1);
            dead.bar
                .finish_with_message(format!("{}: stopped abruptly", dead.name));
            killed_at = Some(Instant::now());
        }
    }
    producer.flush().await;
    for p in pending {
        p.await?;
    }
    let produce_s = started.elapsed().as_secs_f64();
    producer.shutdown().await;
    produced_bar.finish();

    // Wait until the survivors hold every shard, then until every acknowledged record is in.
    let total_shards = SHARDS as i64;
    let mut rebalance: Option<Duration> = None;
    let want = acked.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held: i64 = states.iter().map(|s| s.shards.load(Ordering::SeqCst)).sum();
        if rebalance.is_none() && held == total_shards {
            rebalance = killed_at.map(|k| k.elapsed());
        }
        let distinct = seen.ids.lock().map(|s| s.len() as u64).unwrap_or(0);
        if distinct >= want && rebalance.is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("timed out: {distinct} of {want} records processed").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total_s = started.elapsed().as_secs_f64();
    processed_bar.finish();
    for (stop, task) in workers {
        stop.shutdown().await;
        task.await??;
    }
    for s in &states {
        s.bar.finish();
    }
    engine.close().await?;

    let distinct = seen.ids.lock().map(|s| s.len() as u64).unwrap_or(0);
    let duplicates = seen.duplicates.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "records": records,
        "acked": want,
        "failed": failed.load(Ordering::Relaxed),
        "processed_distinct": distinct,
        "duplicates": duplicates,
        "produce_seconds": (produce_s * 100.0).round() / 100.0,
        "producer_records_per_s": (want as f64 / produce_s).round(),
        "end_to_end_seconds": (total_s * 100.0).round() / 100.0,
        "rebalance_seconds": rebalance.map(|d| (d.as_secs_f64() * 100.0).round() / 100.0),
    });
    println!();
    println!("summary: {summary}");
    println!(
        "{want} records acknowledged and {distinct} processed ({duplicates} processed twice, after the stopped worker's last checkpoints); the survivors held all {SHARDS} shards {:.1} s after the worker stopped",
        rebalance.map_or(0.0, |d| d.as_secs_f64())
    );
    if distinct != want {
        return Err(format!(
            "{} acknowledged records were not processed",
            want - distinct
        )
        .into());
    }
    println!("ok: at-least-once delivery held through a worker failure");
    Ok(())
}
