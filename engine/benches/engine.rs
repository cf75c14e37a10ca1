//! Embedded engine benchmark: PutRecords throughput (100 B and 1 KiB records; 1, 16 and 128
//! shards; fsync on and off), GetRecords throughput, put-to-get latency, and what the
//! service model's check costs a call (GetRecords, DescribeStreamSummary).
//!
//! Run: `cargo bench -p rill-engine --bench engine` (add `-- --quick` for a short run, or
//! `-- --seconds N` to change how long each put run lasts). Each case runs three times on a
//! fresh engine and the median run is printed, with the machine and the settings. No
//! assertions: figures are for reading and comparing.

use bytes::Bytes;
use rill_engine::api::*;
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BATCH: usize = 500;
const CONCURRENCY: usize = 16;

struct Opts {
    seconds: f64,
    quick: bool,
    runs: usize,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1.0 } else { 3.0 });
    Opts {
        seconds,
        quick,
        runs: if quick { 1 } else { 3 },
    }
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

async fn fresh(
    fsync: FsyncPolicy,
    shards: i32,
) -> Result<(Engine, tempfile::TempDir), Box<dyn std::error::Error>> {
    // Under the target directory: on the same disk as the build, not a tmpfs.
    let base = std::env::var("CARGO_TARGET_TMPDIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let dir = tempfile::tempdir_in(base)?;
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            fsync,
            shard_limit: 10_000,
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "bench".into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .await?;
    Ok((engine, dir))
}

impl PutFigures {
    fn rate(&self) -> f64 {
        self.records as f64 / self.seconds
    }
}

struct PutFigures {
    records: u64,
    seconds: f64,
    bytes: u64,
    commits: u64,
    syncs: u64,
}

async fn put_case(
    engine: &Engine,
    size: usize,
    seconds: f64,
) -> Result<PutFigures, Box<dyn std::error::Error>> {
    let payload = Bytes::from(vec![b'x'; size]);
    let keys: Arc<Vec<String>> = Arc::new((0..4096).map(|i| format!("partition-{i}")).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONCURRENCY {
        let (engine, payload, keys, stop, done) = (
            engine.clone(),
            payload.clone(),
            Arc::clone(&keys),
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        tasks.push(tokio::spawn(async move {
            let mut k = c * 997;
            while !stop.load(Ordering::Relaxed) {
                let records = (0..BATCH)
                    .map(|_| {
                        k = (k + 1) % keys.len();
                        PutRecordsRequestEntry {
                            data: payload.clone(),
                            partition_key: keys[k].clone(),
                            explicit_hash_key: None,
                        }
                    })
                    .collect();
                let out = engine
                    .put_records(PutRecordsInput {
                        stream_name: Some("bench".into()),
                        records,
                        ..Default::default()
                    })
                    .await?;
                assert_eq!(out.failed_record_count, 0);
                done.fetch_add(BATCH as u64, Ordering::Relaxed);
            }
            Ok::<(), Error>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (commits, _, _, syncs) = engine.log_stats("bench").unwrap_or_default();
    let records = done.load(Ordering::Relaxed);
    Ok(PutFigures {
        records,
        seconds: elapsed,
        bytes: records * size as u64,
        commits,
        syncs,
    })
}

async fn drain(engine: &Engine) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let shards = engine
        .list_shards(ListShardsInput {
            stream_name: Some("bench".into()),
            ..Default::default()
        })
        .await?
        .shards;
    let start = Instant::now();
    let mut total = 0u64;
    for s in shards {
        let mut it = engine
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some("bench".into()),
                shard_id: s.shard_id,
                shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                ..Default::default()
            })
            .await?
            .shard_iterator;
        while let Some(i) = it {
            let page = engine
                .get_records(GetRecordsInput {
                    shard_iterator: i,
                    limit: Some(10_000),
                    ..Default::default()
                })
                .await?;
            if page.records.is_empty() {
                break;
            }
            total += page.records.len() as u64;
            it = page.next_shard_iterator;
        }
    }
    Ok((total, start.elapsed().as_secs_f64()))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One writer puts single records at about `rate`/s; one reader polls GetRecords without
/// pause and measures the time from the start of each put to the record's arrival.
async fn latency(
    fsync: FsyncPolicy,
    samples: usize,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let (engine, _dir) = fresh(fsync, 1).await?;
    let origin = Instant::now();
    // Take the iterator before the first put, so the reader sees every sample.
    let mut it = engine
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some("bench".into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(ShardIteratorType::Latest),
            ..Default::default()
        })
        .await?
        .shard_iterator
        .unwrap_or_default();
    let reader = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(samples);
            while lat.len() < samples {
                let page = engine
                    .get_records(GetRecordsInput {
                        shard_iterator: it.clone(),
                        ..Default::default()
                    })
                    .await?;
                let now = origin.elapsed().as_nanos() as u64;
                for r in &page.records {
                    let sent = u64::from_le_bytes(r.data[..8].try_into().unwrap_or_default());
                    lat.push((now - sent) as f64 / 1e6);
                }
                it = page.next_shard_iterator.unwrap_or_default();
                if page.records.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
            Ok::<Vec<f64>, Error>(lat)
        })
    };
    for _ in 0..samples {
        let sent = origin.elapsed().as_nanos() as u64;
        let mut data = sent.to_le_bytes().to_vec();
        data.resize(100, 0);
        engine
            .put_record(PutRecordInput {
                stream_name: Some("bench".into()),
                partition_key: "k".into(),
                data: data.into(),
                ..Default::default()
            })
            .await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut lat = reader.await??;
    lat.sort_by(f64::total_cmp);
    engine.close().await?;
    Ok(lat)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = opts();
    println!("rill-engine embedded benchmark");
    println!("machine: {}", machine());
    println!(
        "settings: PutRecords of {BATCH} records, {CONCURRENCY} concurrent callers, {:.1} s per run, median of {} runs per case (fresh engine each), random partition keys over 4096 keys, limits: none in the engine yet",
        o.seconds, o.runs
    );
    println!();
    println!(
        "| fsync | shards | record | records/s | MB/s | commits | records/commit | syncs | GetRecords drain records/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let shard_counts: &[i32] = if o.quick { &[16] } else { &[1, 16, 128] };
    for fsync in [FsyncPolicy::Never, FsyncPolicy::Always] {
        for &size in &[100usize, 1024] {
            for &shards in shard_counts {
                // Each case runs `runs` times on a fresh engine; the median run is reported.
                let mut runs: Vec<(PutFigures, f64)> = Vec::new();
                for _ in 0..o.runs {
                    let (engine, _dir) = fresh(fsync, shards).await?;
                    let f = put_case(&engine, size, o.seconds).await?;
                    let (read, read_s) = drain(&engine).await?;
                    engine.close().await?;
                    runs.push((f, read as f64 / read_s));
                }
                let mut reads: Vec<f64> = runs.iter().map(|r| r.1).collect();
                reads.sort_by(f64::total_cmp);
                runs.sort_by(|a, b| a.0.rate().total_cmp(&b.0.rate()));
                let f = &runs[runs.len() / 2].0;
                println!(
                    "| {} | {shards} | {size} B | {:.0} | {:.1} | {} | {:.0} | {} | {:.0} |",
                    if fsync == FsyncPolicy::Always {
                        "always"
                    } else {
                        "none"
                    },
                    f.rate(),
                    f.bytes as f64 / f.seconds / 1e6,
                    f.commits,
                    f.records as f64 / f.commits.max(1) as f64,
                    f.syncs,
                    reads[reads.len() / 2],
                );
            }
        }
    }
    println!();
    let samples = if o.quick { 300 } else { 2000 };
    println!(
        "put-to-get latency: 1 shard, one PutRecord of 100 B per ms, one reader polling GetRecords without pause, {samples} samples"
    );
    println!("| fsync | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---|---|---|---|");
    for fsync in [FsyncPolicy::Never, FsyncPolicy::Always] {
        let lat = latency(fsync, samples).await?;
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            if fsync == FsyncPolicy::Always {
                "always"
            } else {
                "none"
            },
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 0.999),
            lat.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!();
    call_costs(if o.quick { 2_000 } else { 20_000 }).await?;
    Ok(())
}

/// The median time of one call and of the service model's check of its input (serialized
/// to the wire's JSON and walked, as the embedded dispatch does before the handler): the
/// share of each call the model check costs.
async fn call_costs(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    use rill_engine::api::model;
    let (engine, _dir) = fresh(FsyncPolicy::Never, 1).await?;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let check = |op: &str, input: &serde_json::Value| {
        let shape = model::input(op).ok_or("no shape")?;
        model::check_value(shape, input).map_err(|e| e.to_string())
    };
    println!("call cost: {n} calls each on an idle 1-shard stream, median microseconds");
    println!("| call | call µs | model check µs | check share |");
    println!("|---|---|---|---|");
    // GetRecords at the tip (empty answers), following NextShardIterator.
    let mut it = engine
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some("bench".into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(ShardIteratorType::Latest),
            ..Default::default()
        })
        .await?
        .shard_iterator
        .ok_or("no iterator")?;
    let (mut calls, mut checks) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let input = GetRecordsInput {
            shard_iterator: it.clone(),
            ..Default::default()
        };
        let t = Instant::now();
        let value = serde_json::to_value(&input)?;
        check("GetRecords", &value)?;
        checks.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let out = engine.get_records(input).await?;
        calls.push(t.elapsed().as_secs_f64() * 1e6);
        it = out.next_shard_iterator.ok_or("no next iterator")?;
    }
    let (c, m) = (median(calls), median(checks));
    println!(
        "| GetRecords (empty, at the tip) | {c:.2} | {m:.2} | {:.1} % |",
        100.0 * m / c
    );
    let (mut calls, mut checks) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let input = DescribeStreamSummaryInput {
            stream_name: Some("bench".into()),
            ..Default::default()
        };
        let t = Instant::now();
        let value = serde_json::to_value(&input)?;
        check("DescribeStreamSummary", &value)?;
        checks.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        engine.describe_stream_summary(input).await?;
        calls.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (c, m) = (median(calls), median(checks));
    println!(
        "| DescribeStreamSummary | {c:.2} | {m:.2} | {:.1} % |",
        100.0 * m / c
    );
    engine.close().await?;
    Ok(())
}
