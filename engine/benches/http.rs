//! `rill serve` benchmark: PutRecords throughput over HTTP against the embedded engine.
//!
//! Starts `rill serve` in this process on 127.0.0.1:0 (HTTP/1.1, fsync as given), and drives
//! it with aws-sdk-kinesis clients (one SDK client per caller, each with its own connection
//! pool), then runs the same load in process against the embedded engine, and prints both
//! and their ratio.
//!
//! Run: `cargo bench -p rill-engine --features server,remote --bench http`
//! (`-- --quick` for a short run; `-- --fsync none` to compare without fsync).

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry as SdkEntry;
use rill_engine::api::*;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BATCH: usize = 500;
const SIZE: usize = 100;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn sdk_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    let conf = aws_sdk_kinesis::config::Builder::new()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

async fn over_http(
    endpoint: &str,
    clients: usize,
    seconds: f64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = sdk_client(endpoint);
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let payload = Blob::new(vec![b'x'; SIZE]);
            let mut k = c * 7919;
            while !stop.load(Ordering::Relaxed) {
                let mut req = client.put_records().stream_name("bench");
                for _ in 0..BATCH {
                    k += 1;
                    req = req.records(
                        SdkEntry::builder()
                            .data(payload.clone())
                            .partition_key(format!("partition-{}", k % 4096))
                            .build()?,
                    );
                }
                let out = req.send().await?;
                if out.failed_record_count().unwrap_or(0) != 0 {
                    return Err("failed records".into());
                }
                done.fetch_add(BATCH as u64, Ordering::Relaxed);
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?.map_err(|e| e.to_string())?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

async fn embedded(
    engine: &Engine,
    callers: usize,
    seconds: f64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (engine, stop, done) = (engine.clone(), Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let payload = bytes::Bytes::from(vec![b'x'; SIZE]);
            let mut k = c * 7919;
            while !stop.load(Ordering::Relaxed) {
                let records = (0..BATCH)
                    .map(|_| {
                        k += 1;
                        PutRecordsRequestEntry {
                            data: payload.clone(),
                            partition_key: format!("partition-{}", k % 4096),
                            explicit_hash_key: None,
                        }
                    })
                    .collect();
                engine
                    .put_records(PutRecordsInput {
                        stream_name: Some("bench".into()),
                        records,
                        ..Default::default()
                    })
                    .await?;
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
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 1.0 } else { 3.0 };
    let fsync: FsyncPolicy = arg("--fsync").as_deref().unwrap_or("always").parse()?;
    let base = std::env::var("CARGO_TARGET_TMPDIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let dir = tempfile::tempdir_in(base)?;
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            fsync,
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "bench".into(),
            shard_count: Some(16),
            ..Default::default()
        })
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let srv = tokio::spawn(server::serve(
        listener,
        Arc::new(engine.clone()),
        ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    println!("rill serve benchmark: PutRecords over HTTP vs the embedded engine");
    println!(
        "settings: 16 shards, fsync {fsync:?}, {BATCH} x {SIZE} B per PutRecords, {seconds} s per case, aws-sdk-kinesis clients (HTTP/1.1, JSON), server and clients in one process on {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| concurrent clients | HTTP records/s | HTTP MB/s | embedded records/s | HTTP / embedded |"
    );
    println!("|---|---|---|---|---|");
    let cases: &[usize] = if quick { &[1, 16] } else { &[1, 2, 4, 8, 16] };
    for &c in cases {
        let http = over_http(&endpoint, c, seconds).await?;
        let emb = embedded(&engine, c, seconds).await?;
        println!(
            "| {c} | {http:.0} | {:.1} | {emb:.0} | {:.2} |",
            http * SIZE as f64 / 1e6,
            http / emb
        );
    }
    let _ = stop.send(());
    let _ = srv.await;
    engine.close().await?;
    Ok(())
}
