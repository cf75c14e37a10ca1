//! Producer throughput into the embedded engine: user records/s and PutRecords calls per
//! 1,000 user records, for 100 B and 1 KiB records, aggregation on and off.
//!
//! `cargo bench -p rill-kpl --bench producer` (add `-- --quick` for one short run per case).
//! The engine runs in process with its default fsync policy (group commit) and its
//! throughput limits off; the producer's own rate limiter is opened up (RateLimit far above
//! 100 %) since a 16-shard stream is far below what the engine takes. One task sends with
//! `send().await` (waiting when the default buffer of 200,000 records is full) and a second
//! task awaits every result in order, so results are awaited too, not only buffered.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rill_engine::api::{CreateStreamInput, Kinesis};
use rill_engine::embedded::ThroughputLimits;
use rill_engine::{Engine, EngineConfig};
use rill_kpl::{Producer, ProducerConfig, Record};

const SHARDS: i32 = 16;
const KEYS: usize = 4096;

struct Figures {
    records: usize,
    secs: f64,
    calls: usize,
    kinesis_records: usize,
}

async fn run(
    size: usize,
    aggregation: bool,
    duration: Duration,
    buffer: usize,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).or_else(|_| tempfile::tempdir())?;
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "bench".into(),
            shard_count: Some(SHARDS),
            ..Default::default()
        })
        .await?;
    let counting = Arc::new(common::Faulty::new(Arc::new(engine.clone()), |_, _| {
        common::Plan::default()
    }));
    let producer = Producer::new(
        counting.clone(),
        ProducerConfig::builder()
            .aggregation_enabled(aggregation)
            .rate_limit(1_000_000)
            .buffer_max_records(buffer)
            .build()?,
    );
    let stream: Arc<str> = "bench".into();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("partition-key-{i}")).collect();
    let data = Bytes::from(vec![b'x'; size]);
    // Results are awaited in order by a second task, as an application would.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<rill_kpl::RecordFuture>();
    let awaiter = tokio::spawn(async move {
        let mut failed = 0usize;
        while let Some(f) = rx.recv().await {
            if f.await.is_err() {
                failed += 1;
            }
        }
        failed
    });
    let start = Instant::now();
    let mut sent = 0usize;
    while start.elapsed() < duration {
        for _ in 0..1000 {
            let record = Record::new(Arc::clone(&stream), keys[sent % KEYS].clone(), data.clone());
            if tx.send(producer.send(record).await?).is_err() {
                return Err("awaiter stopped".into());
            }
            sent += 1;
        }
    }
    producer.flush().await;
    drop(tx);
    let failed = awaiter.await?;
    if failed > 0 {
        return Err(format!("{failed} records failed").into());
    }
    let secs = start.elapsed().as_secs_f64();
    producer.shutdown().await;
    let figures = {
        let log = counting.log.lock().map_err(|e| e.to_string())?;
        Figures {
            records: sent,
            secs,
            calls: log.len(),
            kinesis_records: log.iter().map(|(n, _)| n).sum(),
        }
    };
    engine.close().await?;
    Ok(figures)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only 100:on` runs one case (size in bytes, aggregation on or off).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let duration = Duration::from_secs(if quick { 2 } else { 5 });
    // `--buffer N` sets BufferMaxRecords (default: the producer's, 200,000).
    let buffer = args
        .iter()
        .position(|a| a == "--buffer")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "settings: embedded Engine (fsync default = group commit, ThroughputLimits::off()), \
         {SHARDS} shards, {KEYS} partition keys, one task calling send().await, \
         one awaiting the results in order, {}s per case, 2-worker tokio runtime, \
         {} cores; producer defaults except RateLimit 1000000 % and BufferMaxRecords {buffer}",
        duration.as_secs(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
    );
    println!();
    println!(
        "| record | aggregation | user records/s | MB/s (user data) | PutRecords calls / 1,000 user records | user records / Kinesis record | CPU µs / user record |"
    );
    println!("|---|---|---|---|---|---|---|");
    for size in [100usize, 1024] {
        for aggregation in [true, false] {
            let case = format!("{size}:{}", if aggregation { "on" } else { "off" });
            if only.as_ref().is_some_and(|o| *o != case) {
                continue;
            }
            let cpu0 = cpu_secs();
            let f = rt.block_on(run(size, aggregation, duration, buffer))?;
            let cpu = cpu_secs() - cpu0;
            let rate = f.records as f64 / f.secs;
            println!(
                "| {size} B | {} | {:.0} | {:.1} | {:.3} | {:.1} | {:.2} |",
                if aggregation { "on" } else { "off" },
                rate,
                rate * size as f64 / 1e6,
                f.calls as f64 * 1000.0 / f.records as f64,
                f.records as f64 / f.kinesis_records.max(1) as f64,
                cpu * 1e6 / f.records as f64,
            );
        }
    }
    Ok(())
}

/// CPU time (user + system) of this process so far, in seconds (0 where /proc is missing).
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which ends with the last ')'): utime is the 12th,
    // stime the 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
