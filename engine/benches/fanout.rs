//! Enhanced fan-out benchmark: put-to-push latency of SubscribeToShard.
//!
//! One shard, limits off. A writer puts one 100-byte record every ~2 ms; each record carries
//! its send time (nanoseconds since an `Instant` taken at the start) and its index. 1, 5 or 20
//! registered consumers each hold their own subscription (LATEST, opened before the first
//! put); for every record and every consumer, latency = the time the event holding it was
//! received - its send time. Two paths:
//!
//! * embedded: `Engine::put_record` and `Engine::subscribe_to_shard` in process;
//! * HTTP: `rill serve` in this process on 127.0.0.1:0, the writer and each subscriber a
//!   `Remote::from_endpoint` (aws-sdk-kinesis; SubscribeToShard over
//!   `application/vnd.amazon.eventstream`), so a latency includes the PutRecord request.
//!
//! Each case is run with fsync always (the default: group commit, the put returns after
//! `fdatasync`) and none. Each subscriber checks that it got every record in order, once.
//!
//! Run: `cargo bench -p rill-engine --features server,remote --bench fanout`
//! (`-- --quick` for 200 records per case instead of 1000).

use futures::StreamExt;
use rill_engine::api::*;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig, FsyncPolicy, Remote};
use std::sync::Arc;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SIZE: usize = 100;
const INTERVAL: Duration = Duration::from_millis(2);
const SHARD: &str = "shardId-000000000000";
/// Records put first in each case and left out of the figures (connections, caches).
const WARMUP: u64 = 20;

/// The first 16 bytes of a payload: send time (ns since `origin`) and index, little endian.
fn payload(origin: Instant, index: u64) -> bytes::Bytes {
    let mut p = vec![0u8; SIZE];
    let sent = origin.elapsed().as_nanos() as u64;
    p[..8].copy_from_slice(&sent.to_le_bytes());
    p[8..16].copy_from_slice(&index.to_le_bytes());
    p.into()
}

fn decode(data: &[u8]) -> Option<(u64, u64)> {
    let sent = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
    let index = u64::from_le_bytes(data.get(8..16)?.try_into().ok()?);
    Some((sent, index))
}

/// Reads one subscription until record `total - 1`; returns the latencies (ns) of the
/// records after the warm-up. Fails on a gap, a repeat or a stream that ends early.
async fn consume(
    mut events: SubscribeToShardStream,
    origin: Instant,
    total: u64,
) -> Result<Vec<u64>, BoxError> {
    let mut latencies = Vec::with_capacity(total as usize);
    let mut next = 0u64;
    while next < total {
        let Some(event) = events.next().await else {
            return Err(format!("the subscription ended after {next} of {total} records").into());
        };
        let event = event?;
        let received = origin.elapsed().as_nanos() as u64;
        for r in &event.records {
            let (sent, index) = decode(&r.data).ok_or("a payload too short")?;
            if index != next {
                return Err(format!("expected record {next}, got {index}").into());
            }
            next += 1;
            if index >= WARMUP {
                latencies.push(received.saturating_sub(sent));
            }
        }
    }
    Ok(latencies)
}

struct Case<'a> {
    /// Registers consumers and puts (an `Engine` or a `Remote`).
    writer: Arc<dyn Kinesis>,
    /// Makes one subscriber's client (the engine again, or a new `Remote`).
    subscriber: &'a dyn Fn() -> Arc<dyn Kinesis>,
    consumers: usize,
    records: u64,
}

/// Runs one case on a fresh one-shard stream; returns the latencies (ns), all consumers.
async fn run_case(name: &str, case: Case<'_>) -> Result<Vec<u64>, BoxError> {
    let k = &case.writer;
    k.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(1),
        ..Default::default()
    })
    .await?;
    let stream_arn = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some(name.into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn;
    let origin = Instant::now();
    let total = case.records + WARMUP;
    let mut tasks = Vec::new();
    for c in 0..case.consumers {
        let consumer_arn = k
            .register_stream_consumer(RegisterStreamConsumerInput {
                stream_arn: stream_arn.clone(),
                consumer_name: format!("consumer-{c}"),
            })
            .await?
            .consumer
            .consumer_arn;
        let client = (case.subscriber)();
        let events = client
            .subscribe_to_shard(SubscribeToShardInput {
                consumer_arn,
                shard_id: SHARD.into(),
                starting_position: StartingPosition {
                    position_type: ShardIteratorType::Latest,
                    sequence_number: None,
                    timestamp: None,
                },
            })
            .await?;
        tasks.push(tokio::spawn(async move {
            let _client = client;
            consume(events, origin, total).await
        }));
    }
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..total {
        tick.tick().await;
        k.put_record(PutRecordInput {
            stream_name: Some(name.into()),
            data: payload(origin, i),
            partition_key: "one-key".into(),
            ..Default::default()
        })
        .await?;
    }
    let mut all = Vec::with_capacity(case.consumers * case.records as usize);
    for t in tasks {
        let got = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .map_err(|_| "a subscriber did not get every record within 60 s")???;
        all.extend(got);
    }
    Ok(all)
}

/// The value at quantile `q` of sorted `v`, in milliseconds.
fn quantile_ms(v: &[u64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i] as f64 / 1e6
}

fn row(fsync: &str, path: &str, consumers: usize, mut lat: Vec<u64>) {
    lat.sort_unstable();
    println!(
        "| {fsync} | {path} | {consumers} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
        lat.len(),
        quantile_ms(&lat, 0.5),
        quantile_ms(&lat, 0.99),
        quantile_ms(&lat, 0.999),
        lat.last().map_or(f64::NAN, |&m| m as f64 / 1e6),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let records: u64 = if quick { 200 } else { 1000 };
    let base = std::env::var("CARGO_TARGET_TMPDIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    println!("enhanced fan-out benchmark: put-to-push latency of SubscribeToShard");
    println!(
        "settings: 1 shard, limits off, one PutRecord of {SIZE} B every {INTERVAL:?} (send time in the payload), {records} records per case after {WARMUP} warm-up records, each consumer registered with its own subscription (LATEST), latency = receive - send per record per consumer; embedded = Engine::put_record + Engine::subscribe_to_shard; HTTP = in-process rill serve on 127.0.0.1:0, writer and subscribers Remote::from_endpoint (aws-sdk-kinesis, one client each); tokio multi-thread runtime with 2 workers, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| fsync | path | consumers | samples | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for (fsync_name, fsync) in [
        ("always", FsyncPolicy::Always),
        ("none", FsyncPolicy::Never),
    ] {
        let dir = tempfile::tempdir_in(&base)?;
        let engine = Engine::open(
            dir.path(),
            EngineConfig {
                fsync,
                limits: rill_engine::embedded::ThroughputLimits::off(),
                ..Default::default()
            },
        )
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
        let embedded = {
            let engine = engine.clone();
            move || Arc::new(engine.clone()) as Arc<dyn Kinesis>
        };
        let remote = || Arc::new(Remote::from_endpoint(&endpoint)) as Arc<dyn Kinesis>;
        for consumers in [1, 5, 20] {
            let lat = run_case(
                &format!("embedded-{consumers}"),
                Case {
                    writer: embedded(),
                    subscriber: &embedded,
                    consumers,
                    records,
                },
            )
            .await?;
            row(fsync_name, "embedded", consumers, lat);
        }
        for consumers in [1, 5, 20] {
            let lat = run_case(
                &format!("http-{consumers}"),
                Case {
                    writer: remote(),
                    subscriber: &remote,
                    consumers,
                    records,
                },
            )
            .await?;
            row(fsync_name, "HTTP", consumers, lat);
        }
        // A server-side subscription notices its closed connection at its next write (at the
        // latest the 5 s heartbeat), so the graceful stop may wait that long.
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), srv).await;
        engine.close().await?;
    }
    Ok(())
}
