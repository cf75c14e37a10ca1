//! `loadgen`: the load generator of `scripts/bench`, one binary for every engine (rill serve,
//! kinesalite, kinesis-mock). It talks to `--endpoint URL` over aws-sdk-kinesis (dummy
//! credentials, us-east-1) and prints one JSON line per case.
//!
//! Cases (`--case`):
//! * `putrecords`: `--clients N` tasks, each with its own SDK client, send PutRecords of 500
//!   records of `--size` bytes in a loop for `--seconds`; records/s and MB/s of accepted
//!   records, call latency p50/p99.
//! * `drain`: fills a stream with `--records` records of `--size` bytes (16 clients, at most
//!   `--fill-seconds`, so slow engines get fewer), then reads everything back with one plain
//!   GetRecords loop per shard (`Limit` 10,000); records/s of the drain alone.
//! * `latency`: one shard, one writer sending one PutRecord of 100 B per ms (or as fast as the
//!   engine answers, if slower) for `--seconds`, one reader polling GetRecords without pause;
//!   put-to-get latency p50/p99/p99.9 (from before the PutRecord call to the record seen).
//! * `kpl`: rill-kpl (aggregation on, `RateLimit` opened up) through `Remote::from_endpoint`
//!   for `--seconds`; user records/s. Compare with `putrecords`.
//! * `kcl`: fills like `drain`, then one rill-kcl worker (polling, SQLite leases in a temporary
//!   directory, checkpoint after every batch) consumes the stream; records/s from `run()` to
//!   the last record. Compare with `drain`.
//! * `report --input FILE`: reads the JSON lines of a run and prints a Markdown table with the
//!   ratio of the first engine (rill) to each other engine.
//!
//! ```sh
//! cargo run --release -p rill-examples --example loadgen -- --endpoint http://127.0.0.1:4567 \
//!     --engine rill --case putrecords --size 100 --clients 16 --seconds 5
//! ```

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use rill_engine::api::Kinesis;
use rill_engine::remote::Remote;
use rill_examples::BoxError;
use rill_kcl::{
    InitialPosition, InitializationInput, PollingConfig, ProcessRecordsInput, RecordProcessor,
    Scheduler, ShardEndedInput, ShutdownRequestedInput, SqliteLeaseTable,
};
use rill_kpl::{Producer, ProducerConfig, Record};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Case {
    Putrecords,
    Drain,
    Latency,
    Kpl,
    Kcl,
    Report,
}

#[derive(Debug, Parser)]
#[command(about = "Load generator for scripts/bench; prints one JSON line per case")]
struct Args {
    /// The Kinesis endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4567")]
    endpoint: String,
    /// The engine's name, copied into the output.
    #[arg(long, default_value = "rill")]
    engine: String,
    /// What to run.
    #[arg(long, value_enum)]
    case: Case,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Concurrent clients (putrecords).
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Duration of a timed case.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Records to fill and drain (drain, kcl).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Upper bound on the fill of drain and kcl.
    #[arg(long, default_value_t = 60.0)]
    fill_seconds: f64,
    /// Shards of the stream (putrecords, drain, kpl, kcl).
    #[arg(long, default_value_t = 16)]
    shards: i32,
    /// JSON lines to summarise (report).
    #[arg(long)]
    input: Option<PathBuf>,
}

fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::from_static("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(conf)
}

/// A stream name unique to this process and case.
fn stream_name(case: &str) -> String {
    format!("bench-{case}-{:08x}", rand::random::<u32>())
}

/// CreateStream, then DescribeStream until ACTIVE (kinesalite and kinesis-mock take a while).
async fn create_stream(c: &Client, name: &str, shards: i32) -> Result<(), BoxError> {
    c.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = c.describe_stream().stream_name(name).send().await?;
        if d.stream_description().map(|s| s.stream_status()) == Some(&StreamStatus::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("stream {name} not ACTIVE after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn shard_ids(c: &Client, name: &str) -> Result<Vec<String>, BoxError> {
    let d = c.describe_stream().stream_name(name).send().await?;
    Ok(d.stream_description()
        .map(|s| {
            s.shards()
                .iter()
                .map(|s| s.shard_id().to_string())
                .collect()
        })
        .unwrap_or_default())
}

fn entries(size: usize, n: usize, seq: &mut u64) -> Result<Vec<PutRecordsRequestEntry>, BoxError> {
    let data = Blob::new(vec![b'x'; size]);
    (0..n)
        .map(|_| {
            *seq += 1;
            Ok(PutRecordsRequestEntry::builder()
                .data(data.clone())
                .partition_key(format!("pk-{}", *seq % 4096))
                .build()?)
        })
        .collect()
}

/// Percentile of sorted samples (nearest rank).
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// PutRecords of 500 from `clients` tasks until `until` or `limit` accepted records.
/// Returns (accepted records, call latencies in ms).
async fn put_loop(
    endpoint: &str,
    stream: &str,
    size: usize,
    clients: usize,
    until: Instant,
    limit: u64,
) -> Result<(u64, Vec<f64>), BoxError> {
    let accepted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..clients {
        let c = client(endpoint);
        let (stream, accepted) = (stream.to_string(), Arc::clone(&accepted));
        tasks.push(tokio::spawn(async move {
            let mut seq = t as u64 * 1_000_000_000;
            let mut lat = Vec::new();
            while Instant::now() < until && accepted.load(Ordering::Relaxed) < limit {
                let batch = entries(size, 500, &mut seq)?;
                let start = Instant::now();
                let out = c
                    .put_records()
                    .stream_name(&stream)
                    .set_records(Some(batch))
                    .send()
                    .await?;
                lat.push(start.elapsed().as_secs_f64() * 1e3);
                let failed = out.failed_record_count().unwrap_or(0) as u64;
                accepted.fetch_add(500 - failed, Ordering::Relaxed);
            }
            Ok::<_, BoxError>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    lat.sort_by(f64::total_cmp);
    Ok((accepted.load(Ordering::Relaxed), lat))
}

async fn putrecords(a: &Args) -> Result<Value, BoxError> {
    let c = client(&a.endpoint);
    let stream = stream_name("put");
    create_stream(&c, &stream, a.shards).await?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(a.seconds);
    let (n, lat) = put_loop(&a.endpoint, &stream, a.size, a.clients, until, u64::MAX).await?;
    let secs = start.elapsed().as_secs_f64();
    c.delete_stream().stream_name(&stream).send().await.ok();
    Ok(json!({
        "records": n, "seconds": r3(secs),
        "records_per_s": (n as f64 / secs).round() as u64,
        "mb_per_s": r3(n as f64 * a.size as f64 / secs / 1e6),
        "call_p50_ms": r3(pct(&lat, 50.0)), "call_p99_ms": r3(pct(&lat, 99.0)),
    }))
}

/// Creates a stream and fills it; returns (stream, records put, fill seconds).
async fn fill(a: &Args) -> Result<(String, u64, f64), BoxError> {
    let c = client(&a.endpoint);
    let stream = stream_name("drain");
    create_stream(&c, &stream, a.shards).await?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(a.fill_seconds);
    let (n, _) = put_loop(&a.endpoint, &stream, a.size, 16, until, a.records).await?;
    Ok((stream, n, start.elapsed().as_secs_f64()))
}

async fn drain(a: &Args) -> Result<Value, BoxError> {
    let (stream, filled, fill_secs) = fill(a).await?;
    let c = client(&a.endpoint);
    let shards = shard_ids(&c, &stream).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for shard in shards {
        let (c, stream) = (c.clone(), stream.clone());
        tasks.push(tokio::spawn(async move {
            let mut it = c
                .get_shard_iterator()
                .stream_name(&stream)
                .shard_id(shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            let (mut n, mut calls) = (0u64, 0u64);
            while let Some(i) = it {
                let out = c
                    .get_records()
                    .shard_iterator(i)
                    .limit(10_000)
                    .send()
                    .await?;
                calls += 1;
                n += out.records().len() as u64;
                if out.records().is_empty() && out.millis_behind_latest() == Some(0) {
                    break;
                }
                it = out.next_shard_iterator;
            }
            Ok::<_, BoxError>((n, calls))
        }));
    }
    let (mut read, mut calls) = (0u64, 0u64);
    for t in tasks {
        let (n, k) = t.await??;
        read += n;
        calls += k;
    }
    let secs = start.elapsed().as_secs_f64();
    c.delete_stream().stream_name(&stream).send().await.ok();
    Ok(json!({
        "records": read, "filled": filled, "fill_seconds": r3(fill_secs),
        "fill_records_per_s": (filled as f64 / fill_secs).round() as u64,
        "seconds": r3(secs), "get_records_calls": calls,
        "records_per_s": (read as f64 / secs).round() as u64,
        "mb_per_s": r3(read as f64 * a.size as f64 / secs / 1e6),
    }))
}

async fn latency(a: &Args) -> Result<Value, BoxError> {
    let c = client(&a.endpoint);
    let stream = stream_name("lat");
    create_stream(&c, &stream, 1).await?;
    let shard = shard_ids(&c, &stream).await?.pop().ok_or("no shard")?;
    let epoch = Instant::now();
    let until = epoch + Duration::from_secs_f64(a.seconds);
    let reader = {
        let (c, stream) = (client(&a.endpoint), stream.clone());
        tokio::spawn(async move {
            let mut it = c
                .get_shard_iterator()
                .stream_name(&stream)
                .shard_id(shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            let mut lat = Vec::new();
            let mut empty_after_end = 0;
            while let Some(i) = it {
                let out = c.get_records().shard_iterator(i).send().await?;
                let now = epoch.elapsed().as_secs_f64();
                for r in out.records() {
                    let d = r.data().as_ref();
                    let sent = d.get(..8).and_then(|b| b.try_into().ok());
                    if let Some(sent) = sent {
                        lat.push((now - f64::from_le_bytes(sent)) * 1e3);
                    }
                }
                if Instant::now() > until && out.records().is_empty() {
                    empty_after_end += 1;
                    if empty_after_end > 20 {
                        break;
                    }
                }
                it = out.next_shard_iterator;
            }
            Ok::<_, BoxError>(lat)
        })
    };
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        let mut data = vec![b'x'; 100];
        data[..8].copy_from_slice(&epoch.elapsed().as_secs_f64().to_le_bytes());
        c.put_record()
            .stream_name(&stream)
            .partition_key("k")
            .data(Blob::new(data))
            .send()
            .await?;
        sent += 1;
    }
    let mut lat = reader.await??;
    lat.sort_by(f64::total_cmp);
    c.delete_stream().stream_name(&stream).send().await.ok();
    Ok(json!({
        "records": sent, "samples": lat.len(),
        "p50_ms": r3(pct(&lat, 50.0)), "p99_ms": r3(pct(&lat, 99.0)),
        "p999_ms": r3(pct(&lat, 99.9)), "max_ms": r3(lat.last().copied().unwrap_or(0.0)),
    }))
}

async fn kpl(a: &Args) -> Result<Value, BoxError> {
    let c = client(&a.endpoint);
    let name = stream_name("kpl");
    create_stream(&c, &name, a.shards).await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(Remote::from_endpoint(&a.endpoint));
    let producer = Producer::new(
        kinesis,
        ProducerConfig::builder()
            .aggregation_enabled(true)
            .rate_limit(1_000_000)
            .build()?,
    );
    let stream: Arc<str> = name.as_str().into();
    let keys: Vec<String> = (0..4096).map(|i| format!("pk-{i}")).collect();
    let data = Bytes::from(vec![b'x'; a.size]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<rill_kpl::RecordFuture>();
    let awaiter = tokio::spawn(async move {
        let mut failed = 0u64;
        while let Some(f) = rx.recv().await {
            if f.await.is_err() {
                failed += 1;
            }
        }
        failed
    });
    let start = Instant::now();
    let duration = Duration::from_secs_f64(a.seconds);
    let mut sent = 0usize;
    while start.elapsed() < duration {
        for _ in 0..1000 {
            let record = Record::new(Arc::clone(&stream), keys[sent % 4096].clone(), data.clone());
            tx.send(producer.send(record).await?)
                .map_err(|_| "awaiter stopped")?;
            sent += 1;
        }
    }
    producer.flush().await;
    drop(tx);
    let failed = awaiter.await?;
    let secs = start.elapsed().as_secs_f64();
    producer.shutdown().await;
    c.delete_stream().stream_name(&name).send().await.ok();
    let ok = sent as u64 - failed;
    Ok(json!({
        "records": ok, "failed": failed, "seconds": r3(secs),
        "records_per_s": (ok as f64 / secs).round() as u64,
        "mb_per_s": r3(ok as f64 * a.size as f64 / secs / 1e6),
    }))
}

struct Count(Arc<AtomicU64>);

#[async_trait]
impl RecordProcessor for Count {
    async fn initialize(&mut self, _: InitializationInput) {}
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        self.0
            .fetch_add(input.records.len() as u64, Ordering::Relaxed);
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
}

async fn kcl(a: &Args) -> Result<Value, BoxError> {
    let (stream, filled, fill_secs) = fill(a).await?;
    let dir = tempfile::tempdir()?;
    let table = Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "bench",
    )?);
    let count = Arc::new(AtomicU64::new(0));
    let c2 = Arc::clone(&count);
    let scheduler = Scheduler::builder()
        .application_name("bench")
        .stream_name(stream.as_str())
        .worker_id("w0")
        .kinesis(Arc::new(Remote::from_endpoint(&a.endpoint)))
        .lease_table(table)
        .initial_position(InitialPosition::TrimHorizon)
        .polling(PollingConfig {
            idle_time_between_reads: Duration::from_millis(10),
            max_idle_time_between_reads: Duration::from_millis(50),
            ..Default::default()
        })
        .processor_factory(move |_: &str| {
            Box::new(Count(Arc::clone(&c2))) as Box<dyn RecordProcessor>
        })
        .build()?;
    let handle = scheduler.shutdown_handle();
    let start = Instant::now();
    let task = tokio::spawn(scheduler.run());
    let deadline = start + Duration::from_secs(600);
    while count.load(Ordering::Relaxed) < filled && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let read = count.load(Ordering::Relaxed);
    handle.shutdown().await;
    task.await??;
    client(&a.endpoint)
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await
        .ok();
    Ok(json!({
        "records": read, "filled": filled, "fill_seconds": r3(fill_secs),
        "seconds": r3(secs),
        "records_per_s": (read as f64 / secs).round() as u64,
        "mb_per_s": r3(read as f64 * a.size as f64 / secs / 1e6),
    }))
}

/// The Markdown table of a run: one row per case, one column per engine, then the ratio of
/// the first engine to each other one (a latency ratio is peer / rill, so > 1 favours rill).
fn report(path: &PathBuf) -> Result<(), BoxError> {
    let text = std::fs::read_to_string(path)?;
    let mut engines: Vec<String> = Vec::new();
    let mut rows: BTreeMap<(u8, String), BTreeMap<String, String>> = BTreeMap::new();
    let mut raw: BTreeMap<(u8, String), BTreeMap<String, f64>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line)?;
        let engine = v["engine"].as_str().unwrap_or("?").to_string();
        if !engines.contains(&engine) {
            engines.push(engine.clone());
        }
        let case = v["case"].as_str().unwrap_or("?");
        let size = v["size"].as_u64().unwrap_or(0);
        let (order, label, cell, key) = match case {
            "putrecords" => (
                0,
                format!(
                    "PutRecords 500 x {size} B, {} client(s)",
                    v["clients"].as_u64().unwrap_or(0)
                ),
                format!("{} rec/s, {} MB/s", v["records_per_s"], v["mb_per_s"]),
                v["records_per_s"].as_f64(),
            ),
            "kpl" => (
                1,
                format!("rill-kpl {size} B (aggregated), user records"),
                format!("{} rec/s, {} MB/s", v["records_per_s"], v["mb_per_s"]),
                v["records_per_s"].as_f64(),
            ),
            "drain" => (
                2,
                format!("GetRecords drain ({size} B), plain loop"),
                format!("{} rec/s ({} records)", v["records_per_s"], v["records"]),
                v["records_per_s"].as_f64(),
            ),
            "kcl" => (
                3,
                format!("rill-kcl consume ({size} B)"),
                format!("{} rec/s ({} records)", v["records_per_s"], v["records"]),
                v["records_per_s"].as_f64(),
            ),
            "latency" => (
                4,
                "put-to-get ms p50 / p99 / p99.9, polling (ratio: peer p99 / rill p99)".to_string(),
                format!(
                    "{} / {} / {} ({} samples)",
                    v["p50_ms"], v["p99_ms"], v["p999_ms"], v["samples"]
                ),
                v["p99_ms"]
                    .as_f64()
                    .map(|p| if p > 0.0 { 1.0 / p } else { 0.0 }),
            ),
            _ => (5, case.to_string(), v.to_string(), None),
        };
        let cell = match v["error"].as_str() {
            Some(e) => format!("error: {e}"),
            None => cell,
        };
        rows.entry((order, label.clone()))
            .or_default()
            .insert(engine.clone(), cell);
        if let (Some(k), None) = (key, v["error"].as_str()) {
            raw.entry((order, label)).or_default().insert(engine, k);
        }
    }
    let Some(first) = engines.first().cloned() else {
        return Err("no results".into());
    };
    let mut header = format!("| case | {} |", engines.join(" | "));
    let mut sep = format!("|---|{}", "---|".repeat(engines.len()));
    for e in engines.iter().skip(1) {
        header.push_str(&format!(" {first} / {e} |"));
        sep.push_str("---|");
    }
    println!("{header}\n{sep}");
    for (key, cells) in &rows {
        let mut line = format!("| {} |", key.1);
        for e in &engines {
            line.push_str(&format!(" {} |", cells.get(e).map_or("-", String::as_str)));
        }
        for e in engines.iter().skip(1) {
            let r = raw.get(key).and_then(|m| Some((m.get(&first)?, m.get(e)?)));
            match r {
                Some((a, b)) if *b > 0.0 => line.push_str(&format!(" {:.1}x |", a / b)),
                _ => line.push_str(" - |"),
            }
        }
        println!("{line}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let a = Args::parse();
    if a.case == Case::Report {
        return report(a.input.as_ref().ok_or("--input FILE")?);
    }
    let result = match a.case {
        Case::Putrecords => putrecords(&a).await,
        Case::Drain => drain(&a).await,
        Case::Latency => latency(&a).await,
        Case::Kpl => kpl(&a).await,
        Case::Kcl => kcl(&a).await,
        Case::Report => unreachable!(),
    };
    let mut line = json!({
        "engine": a.engine, "case": format!("{:?}", a.case).to_lowercase(),
        "size": a.size, "clients": a.clients,
    });
    match result {
        Ok(Value::Object(m)) => {
            for (k, v) in m {
                line[k] = v;
            }
        }
        Ok(v) => line["result"] = v,
        Err(e) => line["error"] = json!(e.to_string()),
    }
    println!("{line}");
    Ok(())
}
