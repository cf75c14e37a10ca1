//! Runnable examples for rill, and the few helpers they share. The examples are in
//! `examples/` of this package; run them with `cargo run --release --example <name> -- ARGS`
//! from the workspace root:
//!
//! * `quickstart`: a producer and a 3-worker consumer fleet on the embedded engine, one
//!   worker killed midway.
//! * `produce` / `consume`: general tools (one JSON summary line each) for tests, benchmarks
//!   and trying things out, against the embedded engine (`--data-dir`) or any endpoint
//!   (`--endpoint`).
//! * `stock_trades_writer` / `stock_trades_processor`: the Kinesis developer guide's stock
//!   trades tutorial.
//! * `fleet`: `consume` worker processes killed and restarted while records are produced.
//! * `remote`: producer and consumer against Amazon Kinesis (or any endpoint) with DynamoDB
//!   leases and the standard AWS credential chain.
//!
//! ```
//! // Record payloads written by `produce` start with a unique id that `consume` counts.
//! assert_eq!(rill_examples::record_id(b"7f3a:12,xxxx"), Some("7f3a:12"));
//! ```

use rill_engine::api::{
    CreateStreamInput, DescribeStreamSummaryInput, Error as KinesisError, Kinesis, StreamStatus,
};
use rill_engine::{Engine, EngineConfig, Remote};
use rill_kcl::{DynamoLeaseTable, LeaseTable, SqliteLeaseTable};
use rill_kpl::{Producer, ProducerConfig, Record};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The error type of the examples.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the stream lives: `--endpoint URL` (`rill serve`, kinesalite, or any
/// Kinesis-compatible server, with dummy credentials) or `--data-dir DIR` (an embedded
/// engine opened in this process; one process per directory at a time).
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// A Kinesis endpoint, e.g. http://127.0.0.1:4567 for `rill serve`.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The data directory of an embedded engine (created if missing).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// A connection made from [`TargetArgs`]: the `Kinesis` to use and, for `--data-dir`, the
/// engine to close at the end.
pub struct Connection {
    /// The service.
    pub kinesis: Arc<dyn Kinesis>,
    /// The embedded engine, if any.
    pub engine: Option<Engine>,
}

impl TargetArgs {
    /// Opens the engine or makes the client.
    pub async fn connect(&self) -> Result<Connection, BoxError> {
        if let Some(url) = &self.endpoint {
            return Ok(Connection {
                kinesis: Arc::new(Remote::from_endpoint(url)),
                engine: None,
            });
        }
        let dir = self.data_dir.clone().ok_or("--endpoint or --data-dir")?;
        // The defaults: fsync before every ack, AWS's per-shard limits.
        let engine = Engine::open(dir, EngineConfig::default()).await?;
        Ok(Connection {
            kinesis: Arc::new(engine.clone()),
            engine: Some(engine),
        })
    }
}

impl Connection {
    /// Closes the embedded engine (syncs and closes every log); nothing for an endpoint.
    pub async fn close(self) -> Result<(), BoxError> {
        if let Some(engine) = self.engine {
            engine.close().await?;
        }
        Ok(())
    }
}

/// Creates `stream` with `shards` shards unless it exists, then waits until it is ACTIVE
/// (immediately on rill, tens of seconds on Amazon Kinesis).
pub async fn ensure_stream(
    kinesis: &dyn Kinesis,
    stream: &str,
    shards: i32,
) -> Result<(), BoxError> {
    match kinesis
        .create_stream(CreateStreamInput {
            stream_name: stream.into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .await
    {
        Ok(()) | Err(KinesisError::ResourceInUse(_)) => {}
        Err(e) => return Err(e.into()),
    }
    wait_active(kinesis, stream, Duration::from_secs(300)).await
}

/// Waits until `stream` is ACTIVE.
pub async fn wait_active(
    kinesis: &dyn Kinesis,
    stream: &str,
    timeout: Duration,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + timeout;
    loop {
        let summary = kinesis
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some(stream.into()),
                ..Default::default()
            })
            .await?
            .stream_description_summary;
        if summary.stream_status == Some(StreamStatus::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("stream {stream} not ACTIVE after {timeout:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The unique id at the start of a payload written by [`produce`]: the text before the
/// first `,`.
pub fn record_id(data: &[u8]) -> Option<&str> {
    let end = data.iter().position(|&b| b == b',')?;
    std::str::from_utf8(&data[..end]).ok()
}

/// What [`produce`] sends.
#[derive(Debug, Clone)]
pub struct ProduceSpec {
    /// The stream.
    pub stream: String,
    /// How many records.
    pub records: u64,
    /// Payload size in bytes (at least the id and its comma).
    pub size: usize,
    /// Records per second; 0 = as fast as the producer takes them.
    pub rate: u64,
    /// Whether the producer aggregates (KPL format).
    pub aggregation: bool,
    /// The run tag that starts every id (`<run>:<n>`); pick it at random
    /// (`rand::random()`) so that runs on one stream have distinct ids.
    pub run: u32,
}

/// The outcome of [`produce`], printed as JSON by the `produce` example.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProduceSummary {
    /// Records sent.
    pub records: u64,
    /// Records acknowledged (durably in the stream).
    pub acked: u64,
    /// Records whose future resolved to an error (they may still be in the stream).
    pub failed: u64,
    /// From the first send to the last ack.
    pub seconds: f64,
    /// Acknowledged records per second.
    pub records_per_s: f64,
}

/// Sends `spec.records` records through a [`Producer`] and waits for every ack.
///
/// Each payload is `<run>:<n>,` followed by `x` up to `spec.size` bytes, where `<run>` is
/// `spec.run` in 8 hex digits, so that consumers can count distinct records across runs
/// ([`record_id`]). Partition keys spread over 1,000 values. `sent` counts records handed to
/// the producer, for callers that act on progress.
pub async fn produce(
    kinesis: Arc<dyn Kinesis>,
    spec: &ProduceSpec,
    sent: Arc<AtomicU64>,
) -> Result<ProduceSummary, BoxError> {
    let config = ProducerConfig::builder()
        .aggregation_enabled(spec.aggregation)
        .build()?;
    let producer = Producer::new(kinesis, config);
    let stream: Arc<str> = spec.stream.as_str().into();
    let run = spec.run;
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut waiters = tokio::task::JoinSet::new();
    for i in 0..spec.records {
        if spec.rate > 0 {
            // Pace: record i goes out at i / rate seconds.
            let due = started + Duration::from_secs_f64(i as f64 / spec.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let mut data = format!("{run:08x}:{i},");
        if data.len() < spec.size {
            data.extend(std::iter::repeat_n('x', spec.size - data.len()));
        }
        let future = producer
            .send(Record::new(
                Arc::clone(&stream),
                format!("pk-{}", i % 1000),
                data,
            ))
            .await?;
        sent.fetch_add(1, Ordering::Relaxed);
        let (acked, failed) = (Arc::clone(&acked), Arc::clone(&failed));
        waiters.spawn(async move {
            match future.await {
                Ok(_) => acked.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(error = %e, "record failed");
                    failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        });
        // Reap finished waiters now and then so the set stays small.
        while waiters.try_join_next().is_some() {}
    }
    producer.flush().await;
    while waiters.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    producer.shutdown().await;
    let acked = acked.load(Ordering::Relaxed);
    Ok(ProduceSummary {
        records: spec.records,
        acked,
        failed: failed.load(Ordering::Relaxed),
        seconds: round2(seconds),
        records_per_s: (acked as f64 / seconds.max(1e-9)).round(),
    })
}

/// Rounds to two decimals, for summaries.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Opens a lease table from `sqlite:PATH` or `dynamodb:TABLE[@ENDPOINT]`. A DynamoDB table
/// without an endpoint uses the standard AWS credential and region chain (Amazon DynamoDB);
/// with one, dummy credentials (DynamoDB Local, dynalite). DynamoDB tables are created if
/// missing.
pub async fn open_lease_table(spec: &str, app: &str) -> Result<Arc<dyn LeaseTable>, BoxError> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        return Ok(Arc::new(SqliteLeaseTable::open(path, app)?));
    }
    if let Some(rest) = spec.strip_prefix("dynamodb:") {
        let table = match rest.split_once('@') {
            Some((table, endpoint)) => DynamoLeaseTable::from_endpoint(endpoint, table)?,
            None => {
                let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                DynamoLeaseTable::new(aws_sdk_dynamodb::Client::new(&conf), rest)?
            }
        };
        table.ensure_table(true).await?;
        return Ok(Arc::new(table));
    }
    Err(format!("--leases {spec:?}: expected sqlite:PATH or dynamodb:TABLE[@ENDPOINT]").into())
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Logs to stderr, at `RUST_LOG` or `error` by default, so stdout holds only the output.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
