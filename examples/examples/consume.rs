//! `consume`: one consumer worker (rill-kcl) that counts the records of a stream and prints a
//! one-line JSON summary: `records` (processed, duplicates included), `distinct`,
//! `duplicates`, `shards` (shards this worker processed), `seconds`.
//!
//! Records are told apart by the id that `produce` puts at the start of each payload (the
//! text before the first `,`). Run several `consume` processes with the same `--app` and
//! `--leases` and they share the shards (see `fleet`).
//!
//! Delivery guarantee shown here: **at least once**. The processor checkpoints after every
//! batch, and in `shutdown_requested` and `shard_ended`: a record is delivered again only if
//! this worker dies (or loses its lease) between processing it and checkpointing it; then the
//! next owner of the shard delivers it once more, and that shows up in `duplicates`. A
//! graceful stop (SIGINT, SIGTERM, `--expect` reached, `--timeout`) hands every shard over
//! with a checkpoint and duplicates nothing.
//!
//! `--record-log FILE` appends the id of every processed record to FILE, one per line,
//! before the batch is checkpointed, so that whoever kills this worker can still tell what
//! it processed (that is how `fleet` counts).
//!
//! ```sh
//! cargo run --release --example consume -- --data-dir ./data --stream s --app counter \
//!     --leases sqlite:./leases.sqlite --from trim-horizon --expect 10000
//! ```

use async_trait::async_trait;
use clap::Parser;
use rill_examples::{BoxError, TargetArgs, open_lease_table, record_id, round2, shutdown_signal};
use rill_kcl::{
    InitialPosition, InitializationInput, PollingConfig, ProcessRecordsInput, RecordProcessor,
    RetrievalMode, Scheduler, ShardEndedInput, ShutdownRequestedInput,
};
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Count a stream's records with one rill-kcl worker; print a JSON summary")]
struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// The stream.
    #[arg(long)]
    stream: String,
    /// The application name (workers of one application share the shards).
    #[arg(long, default_value = "consume")]
    app: String,
    /// The lease table: `sqlite:PATH` or `dynamodb:TABLE[@ENDPOINT]`.
    #[arg(long)]
    leases: String,
    /// Enhanced fan-out (SubscribeToShard) instead of polling.
    #[arg(long)]
    efo: bool,
    /// Where shards without a checkpoint start.
    #[arg(long, value_enum, default_value = "trim-horizon")]
    from: From,
    /// Stop (gracefully) once this many distinct records were processed.
    #[arg(long)]
    expect: Option<u64>,
    /// This worker's id (default: consume-<pid>).
    #[arg(long)]
    worker_id: Option<String>,
    /// Stop (gracefully) after this many seconds; with `--expect` not reached, exit 1.
    #[arg(long)]
    timeout: Option<f64>,
    /// Lease failover time in seconds (the KCL's default is 10).
    #[arg(long, default_value_t = 10.0)]
    failover: f64,
    /// Append each processed record's id to this file before checkpointing.
    #[arg(long)]
    record_log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum From {
    TrimHorizon,
    Latest,
}

/// What this worker has processed.
#[derive(Default)]
struct Tally {
    ids: HashSet<String>,
    records: u64,
    shards: HashSet<String>,
    log: Option<std::fs::File>,
}

struct Counter {
    tally: Arc<Mutex<Tally>>,
    /// Woken after each batch so that main can check `--expect`.
    progress: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl RecordProcessor for Counter {
    async fn initialize(&mut self, input: InitializationInput) {
        if let Ok(mut t) = self.tally.lock() {
            t.shards.insert(input.shard_id);
        }
    }

    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        if let Ok(mut t) = self.tally.lock() {
            let mut lines = String::new();
            for r in &input.records {
                let Some(id) = record_id(&r.data) else {
                    continue;
                };
                t.records += 1;
                if t.log.is_some() {
                    lines.push_str(id);
                    lines.push('\n');
                }
                if !t.ids.contains(id) {
                    t.ids.insert(id.to_string());
                }
            }
            if let Some(log) = t.log.as_mut()
                && let Err(e) = log.write_all(lines.as_bytes())
            {
                eprintln!("consume: cannot write the record log: {e}");
            }
        }
        // Checkpoint after every batch: a new owner of the shard resumes after it.
        if let Err(e) = input.checkpointer.checkpoint().await {
            tracing::info!(error = %e, "checkpoint refused (lease moved)");
        }
        self.progress.notify_one();
    }

    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }

    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    rill_examples::init_tracing();
    let args = Args::parse();
    let connection = args.target.connect().await?;
    let leases = open_lease_table(&args.leases, &args.app).await?;
    let worker_id = args
        .worker_id
        .clone()
        .unwrap_or_else(|| format!("consume-{}", std::process::id()));
    let log = match &args.record_log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => None,
    };
    let tally = Arc::new(Mutex::new(Tally {
        log,
        ..Tally::default()
    }));
    let progress = Arc::new(tokio::sync::Notify::new());

    let failover = Duration::from_secs_f64(args.failover);
    let (t, p) = (Arc::clone(&tally), Arc::clone(&progress));
    let mut builder = Scheduler::builder()
        .application_name(args.app.as_str())
        .stream_name(args.stream.as_str())
        .worker_id(worker_id)
        .kinesis(Arc::clone(&connection.kinesis))
        .lease_table(leases)
        .initial_position(match args.from {
            From::TrimHorizon => InitialPosition::TrimHorizon,
            From::Latest => InitialPosition::Latest,
        })
        .failover_time(failover)
        .polling(PollingConfig {
            // Short pauses at the tip of a shard, so that new records show up quickly.
            idle_time_between_reads: Duration::from_millis(250),
            max_idle_time_between_reads: Duration::from_secs(1),
            ..PollingConfig::default()
        })
        .processor_factory(move |_shard: &str| {
            Box::new(Counter {
                tally: Arc::clone(&t),
                progress: Arc::clone(&p),
            }) as Box<dyn RecordProcessor>
        });
    if args.efo {
        builder = builder.retrieval(RetrievalMode::FanOut {
            consumer_name: None,
        });
    }
    let scheduler = builder.build()?;
    let stop = scheduler.shutdown_handle();
    let started = Instant::now();
    let mut worker = tokio::spawn(scheduler.run());

    let distinct = || tally.lock().map(|t| t.ids.len() as u64).unwrap_or(0);
    let deadline = args.timeout.map(|s| started + Duration::from_secs_f64(s));
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut timed_out = false;
    let mut finished = None;
    loop {
        if args.expect.is_some_and(|n| distinct() >= n) {
            break;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = progress.notified() => {}
            _ = &mut signal => break,
            _ = sleep => { timed_out = true; break; }
            result = &mut worker => { finished = Some(result); break; }
        }
    }
    // Graceful shutdown: every processor checkpoints in shutdown_requested, leases are
    // released.
    let result = match finished {
        Some(result) => result,
        None => {
            stop.shutdown().await;
            worker.await
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    connection.close().await?;
    let (records, distinct, shards) = {
        let t = tally.lock().map_err(|_| "tally poisoned")?;
        (t.records, t.ids.len() as u64, t.shards.len())
    };
    println!(
        "{}",
        serde_json::json!({
            "records": records,
            "distinct": distinct,
            "duplicates": records - distinct,
            "shards": shards,
            "seconds": round2(seconds),
        })
    );
    result??;
    if timed_out && args.expect.is_some_and(|n| distinct < n) {
        return Err(format!("timed out with {distinct} of {:?} records", args.expect).into());
    }
    Ok(())
}
