//! `fleet`: a consumer fleet of separate processes that survives SIGKILL.
//!
//! Starts a `rill serve`-like server in this process (`rill_engine::server::serve` on
//! 127.0.0.1, port chosen by the OS, over an embedded engine in a temporary directory),
//! creates a stream, and starts `--workers N` worker processes: the `consume` example binary
//! (next to this one), all with one application name and one SQLite lease file, each with a
//! `--record-log`. While the producer (in this process) sends `--records` records at
//! `--rate` records/s, the fleet SIGKILLs `--kills` workers one after another (a third, two
//! thirds ... of the way through) and starts a replacement for each under a new worker id
//! (`worker-N`, numbered on from the first ones).
//! Once every acknowledged record was processed by some worker, the live workers get SIGTERM
//! (graceful shutdown) and print their summaries.
//!
//! It prints one JSON line: `produced` (acknowledged records), `workers` (per process: id,
//! pid, whether it was killed, its own summary if it lived to print one, and what its record
//! log shows), and `total` (`records` processed by the fleet, `distinct`, `duplicates`).
//!
//! Delivery guarantee shown here: **at least once**. Every acknowledged record is processed
//! (`total.distinct == produced`, else exit 1). Duplicates come only from killed workers: the
//! records each processed after its last checkpoint are delivered again to the worker that
//! takes the shard, once the lease expires (`--failover` seconds).
//!
//! ```sh
//! cargo build --release --examples
//! cargo run --release --example fleet -- --workers 3 --records 20000 --kills 2
//! ```

use clap::Parser;
use rill_engine::server::{ServerConfig, serve};
use rill_engine::{Engine, EngineConfig};
use rill_examples::{BoxError, ProduceSpec, ensure_stream, produce, round2};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const STREAM: &str = "fleet";

#[derive(Debug, Parser)]
#[command(about = "consume worker processes killed and restarted while records are produced")]
struct Args {
    /// Worker processes running at any time.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Shards of the stream.
    #[arg(long, default_value_t = 6)]
    shards: i32,
    /// Records to produce.
    #[arg(long, default_value_t = 20_000)]
    records: u64,
    /// Records per second (0: as fast as possible).
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Workers SIGKILLed (and replaced) while the producer runs.
    #[arg(long, default_value_t = 1)]
    kills: usize,
    /// Lease failover time of the workers, in seconds.
    #[arg(long, default_value_t = 3.0)]
    failover: f64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// The `consume` binary (default: next to this executable).
    #[arg(long)]
    consume_bin: Option<PathBuf>,
}

/// One worker process.
struct Worker {
    id: String,
    child: Child,
    log: PathBuf,
    killed: bool,
    summary: Option<serde_json::Value>,
}

fn spawn_worker(
    bin: &Path,
    endpoint: &str,
    dir: &Path,
    id: String,
    failover: f64,
) -> Result<Worker, BoxError> {
    let log = dir.join(format!("{id}.log"));
    let child = Command::new(bin)
        .args(["--endpoint", endpoint, "--stream", STREAM, "--app", "fleet"])
        .arg("--leases")
        .arg(format!("sqlite:{}", dir.join("leases.sqlite").display()))
        .args(["--worker-id", &id, "--failover", &failover.to_string()])
        .arg("--record-log")
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    Ok(Worker {
        id,
        child,
        log,
        killed: false,
        summary: None,
    })
}

/// The ids in a record log: every complete line (a worker may be writing the last one).
fn read_log(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().map(str::to_string).collect()
}

fn union(workers: &[Worker]) -> (u64, HashSet<String>) {
    let mut records = 0;
    let mut ids = HashSet::new();
    for w in workers {
        for id in read_log(&w.log) {
            records += 1;
            ids.insert(id);
        }
    }
    (records, ids)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    rill_examples::init_tracing();
    let args = Args::parse();
    let bin = match &args.consume_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("consume"),
    };
    if !bin.exists() {
        return Err(format!(
            "{} not found: build the examples first (cargo build --examples)",
            bin.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;

    // The server: an embedded engine (fsync on, AWS's limits) behind the Kinesis wire
    // protocol, as `rill serve` runs it.
    let engine = Engine::open(dir.path().join("engine"), EngineConfig::default()).await?;
    ensure_stream(&engine, STREAM, args.shards).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(engine.clone()),
        ServerConfig::default(),
        async move {
            let _ = server_stopped.await;
        },
    ));

    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.workers {
        workers.push(spawn_worker(
            &bin,
            &endpoint,
            dir.path(),
            format!("worker-{w}"),
            args.failover,
        )?);
    }

    // The producer, in this process, straight into the engine.
    let sent = Arc::new(AtomicU64::new(0));
    let spec = ProduceSpec {
        stream: STREAM.into(),
        records: args.records,
        size: 100,
        rate: args.rate,
        aggregation: true,
        run: rand::random(),
    };
    let producer = {
        let (kinesis, sent) = (Arc::new(engine.clone()), Arc::clone(&sent));
        tokio::spawn(async move { produce(kinesis, &spec, sent).await })
    };

    // Kill a worker at 1/(k+1), 2/(k+1), ... of the records, and start a replacement.
    let mut kills_done = 0;
    while !producer.is_finished() {
        if kills_done < args.kills {
            let due = args.records * (kills_done as u64 + 1) / (args.kills as u64 + 1);
            if sent.load(Ordering::Relaxed) >= due {
                let victim = kills_done % args.workers;
                let live: Vec<usize> = (0..workers.len()).filter(|&i| !workers[i].killed).collect();
                let i = live[victim % live.len()];
                // Child::kill is SIGKILL on Unix: no shutdown, no checkpoint, no release.
                workers[i].child.kill()?;
                workers[i].child.wait()?;
                workers[i].killed = true;
                eprintln!(
                    "fleet: SIGKILLed {} (pid {}) after {} records sent",
                    workers[i].id,
                    workers[i].child.id(),
                    sent.load(Ordering::Relaxed)
                );
                let id = format!("worker-{}", workers.len());
                workers.push(spawn_worker(
                    &bin,
                    &endpoint,
                    dir.path(),
                    id,
                    args.failover,
                )?);
                kills_done += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let produced = producer.await??;

    // Wait until the fleet processed every acknowledged record.
    let deadline = started + Duration::from_secs_f64(args.timeout);
    loop {
        let (_, ids) = union(&workers);
        if ids.len() as u64 >= produced.acked {
            break;
        }
        if Instant::now() > deadline {
            eprintln!(
                "fleet: timed out with {} of {} records processed",
                ids.len(),
                produced.acked
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Graceful shutdown of the live workers (SIGTERM), then their summaries.
    for w in workers.iter().filter(|w| !w.killed) {
        let status = Command::new("kill")
            .args(["-TERM", &w.child.id().to_string()])
            .status()?;
        if !status.success() {
            eprintln!("fleet: kill -TERM {} failed", w.child.id());
        }
    }
    for w in workers.iter_mut().filter(|w| !w.killed) {
        let mut out = String::new();
        if let Some(mut stdout) = w.child.stdout.take() {
            stdout.read_to_string(&mut out)?;
        }
        let status = w.child.wait()?;
        if !status.success() {
            eprintln!("fleet: {} exited with {status}", w.id);
        }
        w.summary = out.lines().find_map(|l| serde_json::from_str(l).ok());
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop_server.send(());
    server.await??;
    engine.close().await?;

    let (records, ids) = union(&workers);
    let distinct = ids.len() as u64;
    let report: Vec<serde_json::Value> = workers
        .iter()
        .map(|w| {
            let logged = read_log(&w.log);
            let logged_distinct = logged.iter().collect::<HashSet<_>>().len();
            serde_json::json!({
                "worker": w.id,
                "pid": w.child.id(),
                "killed": w.killed,
                "summary": w.summary,
                "logged_records": logged.len(),
                "logged_distinct": logged_distinct,
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "produced": produced.acked,
            "failed": produced.failed,
            "workers": report,
            "total": {
                "records": records,
                "distinct": distinct,
                "duplicates": records - distinct,
            },
            "seconds": round2(seconds),
        })
    );
    if distinct != produced.acked {
        return Err(format!(
            "{} of {} acknowledged records processed",
            distinct, produced.acked
        )
        .into());
    }
    Ok(())
}
