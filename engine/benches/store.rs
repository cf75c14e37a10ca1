//! Store benchmark: how long `Engine::open` takes against the data retained, and how small
//! calls fare while other clients drain 10 MiB GetRecords batches.
//!
//! Run: `cargo bench -p rill-engine --bench store` (both parts, 0.2 and 2 GB). Options:
//!
//! * `--only open` or `--only latency`: one part.
//! * `--sizes 0.2,2,20`: retained sizes of the open part, in GB (10^9 bytes of record data).
//! * `--data DIR`: fill (or reuse, when already filled) `DIR/<size>gb`, and keep it, so a
//!   large fill is not repeated between runs. Without it the data lives in a temporary
//!   directory under the target directory and is deleted at the end.
//! * `--runs N`: timed opens per size (default 5; the median is printed).
//! * `--cold`: also one open after dropping the page cache (`/proc/sys/vm/drop_caches`,
//!   needs root; says so when it cannot).
//! * `--seconds N`: length of each latency run (default 10).
//! * `--drainers N`: tasks draining 10 MiB batches in the latency part (default 2).
//!
//! The latency part runs an engine on a 2-worker multi-thread runtime. Two tasks (or
//! `--drainers`) drain a
//! one-shard stream of 1 MiB records (200 MiB) with GetRecords (about 10 MiB a call) from
//! TRIM_HORIZON, starting over at the end; meanwhile one task puts a 100 B record and one gets
//! one record (limit 1) on another stream, each every 2 ms, and their latencies are taken
//! from the tick they were due (so a stalled worker counts). A second run adds a task that
//! tags and untags a third stream every 2 ms (catalog writes: SQLite `synchronous=FULL`).
//! No assertions: figures are for reading and comparing.

use bytes::Bytes;
use rill_engine::api::*;
use rill_engine::embedded::{OnDemandScaling, ThroughputLimits};
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Opts {
    only: Option<String>,
    sizes: Vec<f64>,
    data: Option<PathBuf>,
    runs: usize,
    cold: bool,
    seconds: f64,
    drainers: usize,
}

fn opts() -> Result<Opts, BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sizes = match value("--sizes") {
        Some(s) => s
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![0.2, 2.0],
    };
    Ok(Opts {
        only: value("--only"),
        sizes,
        data: value("--data").map(PathBuf::from),
        runs: value("--runs").map(|v| v.parse()).transpose()?.unwrap_or(5),
        cold: args.iter().any(|a| a == "--cold"),
        drainers: value("--drainers")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(2),
        seconds: value("--seconds")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(10.0),
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

fn config(fsync: FsyncPolicy) -> EngineConfig {
    EngineConfig {
        fsync,
        limits: ThroughputLimits::off(),
        retention_interval: Duration::ZERO,
        on_demand: OnDemandScaling {
            check_interval: Duration::ZERO,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), BoxError> {
    let o = opts()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("store benchmark; machine: {}", machine());
    println!(
        "commit: {}",
        option_env!("RILL_BENCH_COMMIT").unwrap_or("(set RILL_BENCH_COMMIT at build time)")
    );
    // Under the target directory: on the same disk as the build, not a tmpfs.
    let base = std::env::var("CARGO_TARGET_TMPDIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let temp = tempfile::tempdir_in(&base)?;
    let data = o.data.clone().unwrap_or_else(|| temp.path().to_path_buf());
    if o.only.as_deref() != Some("latency") {
        rt.block_on(open_part(&o, &data))?;
    }
    if o.only.as_deref() != Some("open") {
        rt.block_on(latency_part(&o, temp.path()))?;
    }
    Ok(())
}

// ------------------------------------------------------------------------- open time

const OPEN_SHARDS: u32 = 4;
const OPEN_RECORD: usize = 1024;
const OPEN_BATCH: usize = 500;

async fn open_part(o: &Opts, data: &Path) -> Result<(), BoxError> {
    println!(
        "\n== open time against retained size: one stream of {OPEN_SHARDS} shards, {OPEN_RECORD} B records, fsync none, limits off, 64 MiB segments; Engine::open then close, median of {} warm opens{}",
        o.runs,
        if o.cold {
            " and one cold open (page cache dropped)"
        } else {
            ""
        }
    );
    let mut rows = Vec::new();
    for &gb in &o.sizes {
        let dir = data.join(format!("{gb}gb"));
        let filled = fill(&dir, gb).await?;
        let mut times = Vec::new();
        // One untimed open first, so every timed one finds the same page cache.
        reopen(&dir).await?;
        for _ in 0..o.runs {
            times.push(reopen(&dir).await?);
        }
        times.sort_by(f64::total_cmp);
        let cold = if o.cold {
            match drop_caches() {
                Ok(()) => Some(reopen(&dir).await?),
                Err(e) => {
                    println!("cold open skipped: cannot drop the page cache: {e}");
                    None
                }
            }
        } else {
            None
        };
        rows.push((gb, filled, percentile(&times, 0.5), times, cold));
    }
    let smallest = rows.first().map_or(1.0, |r| r.2);
    println!(
        "{:>8} {:>12} {:>12} {:>8} {:>12}  all warm opens (ms)",
        "size GB", "on disk GB", "open median", "ratio", "cold open"
    );
    for (gb, filled, median, times, cold) in rows {
        println!(
            "{:>8} {:>12.2} {:>9.1} ms {:>8.1} {:>12}  {:?}",
            gb,
            filled as f64 / 1e9,
            median,
            median / smallest,
            cold.map_or("-".into(), |c| format!("{c:.1} ms")),
            times
                .iter()
                .map(|t| (t * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// Bytes of segment files under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Fills `dir` with `gb` GB of record data, unless a previous run did.
async fn fill(dir: &Path, gb: f64) -> Result<u64, BoxError> {
    let marker = dir.join("FILLED");
    if marker.exists() {
        println!("reusing {}", dir.display());
        return Ok(disk_bytes(dir));
    }
    let started = Instant::now();
    let engine = Engine::open(dir, config(FsyncPolicy::Never)).await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "bench".into(),
            shard_count: Some(OPEN_SHARDS as i32),
            ..Default::default()
        })
        .await?;
    let total = (gb * 1e9) as u64;
    let batches = total.div_ceil((OPEN_RECORD * OPEN_BATCH) as u64);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let engine = engine.clone();
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let data = Bytes::from(vec![7u8; OPEN_RECORD]);
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return Ok::<(), Error>(());
                }
                let records = (0..OPEN_BATCH)
                    .map(|i| PutRecordsRequestEntry {
                        data: data.clone(),
                        explicit_hash_key: None,
                        partition_key: format!("k{}", (b as usize * OPEN_BATCH + i) % 4096),
                    })
                    .collect();
                let out = engine
                    .put_records(PutRecordsInput {
                        stream_name: Some("bench".into()),
                        records,
                        ..Default::default()
                    })
                    .await?;
                if out.failed_record_count > 0 {
                    return Err(Error::internal("fill", "a put failed"));
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    engine.close().await?;
    std::fs::write(&marker, b"")?;
    let bytes = disk_bytes(dir);
    println!(
        "filled {} with {:.2} GB in {:.1} s",
        dir.display(),
        bytes as f64 / 1e9,
        started.elapsed().as_secs_f64()
    );
    Ok(bytes)
}

/// Opens and closes the engine on `dir`; returns the open time in ms.
async fn reopen(dir: &Path) -> Result<f64, BoxError> {
    let started = Instant::now();
    let engine = Engine::open(dir, config(FsyncPolicy::Never)).await?;
    let took = started.elapsed().as_secs_f64() * 1e3;
    engine.close().await?;
    Ok(took)
}

fn drop_caches() -> std::io::Result<()> {
    // Write back dirty pages first, so that dropping the cache drops everything.
    std::process::Command::new("sync").status()?;
    std::fs::write("/proc/sys/vm/drop_caches", b"3")
}

// ------------------------------------------------------------------------- latency

const BIG_RECORD: usize = 1024 * 1024 - 16;
const BIG_RECORDS: usize = 200;
const TICK: Duration = Duration::from_millis(2);

async fn latency_part(o: &Opts, base: &Path) -> Result<(), BoxError> {
    println!(
        "\n== small calls while {} tasks drain 10 MiB GetRecords batches: runtime 2 workers, log fsync none, limits off; drained stream: 1 shard, {BIG_RECORDS} records of 1 MiB; small calls every {} ms each (PutRecord 100 B, GetRecords limit 1), latency from the tick they were due; {:.0} s per run",
        o.drainers,
        TICK.as_millis(),
        o.seconds
    );
    for tags in [false, true] {
        let dir = tempfile::tempdir_in(base)?;
        let engine = Engine::open(dir.path(), config(FsyncPolicy::Never)).await?;
        for name in ["big", "small", "tags"] {
            engine
                .create_stream(CreateStreamInput {
                    stream_name: name.into(),
                    shard_count: Some(1),
                    ..Default::default()
                })
                .await?;
        }
        let big = Bytes::from(vec![3u8; BIG_RECORD]);
        for i in 0..BIG_RECORDS {
            engine
                .put_record(PutRecordInput {
                    stream_name: Some("big".into()),
                    data: big.clone(),
                    partition_key: format!("k{i}"),
                    ..Default::default()
                })
                .await?;
        }
        run_latency(&engine, o.seconds, o.drainers, tags).await?;
        engine.close().await?;
    }
    Ok(())
}

async fn iterator(engine: &Engine, stream: &str, kind: ShardIteratorType) -> Result<String> {
    let out = engine
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some(stream.into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(kind),
            ..Default::default()
        })
        .await?;
    out.shard_iterator
        .ok_or_else(|| Error::internal("bench", "GetShardIterator returned no iterator"))
}

async fn run_latency(
    engine: &Engine,
    seconds: f64,
    drainers_n: usize,
    tags: bool,
) -> Result<(), BoxError> {
    let stop = Arc::new(AtomicBool::new(false));
    let drained = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let mut drainers = Vec::new();
    for _ in 0..drainers_n {
        let (engine, stop, drained, calls) = (
            engine.clone(),
            Arc::clone(&stop),
            Arc::clone(&drained),
            Arc::clone(&calls),
        );
        drainers.push(tokio::spawn(async move {
            let mut it = iterator(&engine, "big", ShardIteratorType::TrimHorizon).await?;
            while !stop.load(Ordering::Relaxed) {
                let out = engine
                    .get_records(GetRecordsInput {
                        shard_iterator: it.clone(),
                        limit: None,
                        stream_arn: None,
                    })
                    .await?;
                calls.fetch_add(1, Ordering::Relaxed);
                let bytes: usize = out.records.iter().map(|r| r.data.len()).sum();
                drained.fetch_add(bytes as u64, Ordering::Relaxed);
                it = match out.next_shard_iterator {
                    Some(next) if !out.records.is_empty() => next,
                    _ => iterator(&engine, "big", ShardIteratorType::TrimHorizon).await?,
                };
            }
            Ok::<(), Error>(())
        }));
    }
    type Lat = tokio::task::JoinHandle<Result<Vec<f64>, Error>>;
    let small = |op: &'static str| -> Lat {
        let (engine, stop) = (engine.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut it = iterator(&engine, "small", ShardIteratorType::TrimHorizon).await?;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = tick.tick().await;
                n += 1;
                match op {
                    "put" => {
                        engine
                            .put_record(PutRecordInput {
                                stream_name: Some("small".into()),
                                data: Bytes::from(vec![1u8; 100]),
                                partition_key: "p".into(),
                                ..Default::default()
                            })
                            .await?;
                    }
                    "get" => {
                        let out = engine
                            .get_records(GetRecordsInput {
                                shard_iterator: it.clone(),
                                limit: Some(1),
                                stream_arn: None,
                            })
                            .await?;
                        if let Some(next) = out.next_shard_iterator {
                            it = next;
                        }
                    }
                    _ => {
                        if n.is_multiple_of(2) {
                            engine
                                .add_tags_to_stream(AddTagsToStreamInput {
                                    stream_name: Some("tags".into()),
                                    tags: HashMap::from([("k".into(), n.to_string())]),
                                    ..Default::default()
                                })
                                .await?;
                        } else {
                            engine
                                .remove_tags_from_stream(RemoveTagsFromStreamInput {
                                    stream_name: Some("tags".into()),
                                    tag_keys: vec!["k".into()],
                                    ..Default::default()
                                })
                                .await?;
                        }
                    }
                }
                lat.push(due.elapsed().as_secs_f64() * 1e3);
            }
            Ok(lat)
        })
    };
    let mut ops = vec![
        ("PutRecord 100 B", small("put")),
        ("GetRecords limit 1", small("get")),
    ];
    if tags {
        ops.push(("Add/RemoveTags", small("tags")));
    }
    let started = Instant::now();
    // The stop comes from a thread of its own: when the drainers hold both workers, the
    // runtime's timers do not run, so a tokio sleep here could not end the run.
    let stopper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(seconds));
            stop.store(true, Ordering::Relaxed);
        })
    };
    for d in drainers {
        d.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if stopper.join().is_err() {
        return Err("the stopper thread panicked".into());
    }
    println!(
        "-- run: drain{}",
        if tags {
            " + tag writes on a third stream (catalog, synchronous=FULL)"
        } else {
            ""
        }
    );
    println!(
        "{:>20} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "call", "n", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for (name, task) in ops {
        let mut lat = task.await??;
        lat.sort_by(f64::total_cmp);
        println!(
            "{:>20} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            name,
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 0.999),
            lat.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "drain: {:.0} MiB/s, {:.0} GetRecords/s ({drainers_n} tasks, about 10 MiB a call)",
        drained.load(Ordering::Relaxed) as f64 / elapsed / (1024.0 * 1024.0),
        calls.load(Ordering::Relaxed) as f64 / elapsed
    );
    Ok(())
}
