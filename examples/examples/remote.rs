//! `remote`: the producer (rill-kpl) and a consumer worker (rill-kcl) against a Kinesis
//! endpoint over the network, with a DynamoDB lease table: the setup for Amazon Kinesis Data
//! Streams, and for any compatible server (`rill serve`, kinesalite).
//!
//! Credentials and region come from the standard AWS chain (`aws_config::defaults`):
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_PROFILE` and
//! `~/.aws/{config,credentials}` (including SSO and assumed roles), web identity tokens,
//! ECS and EC2 instance roles; the region from `AWS_REGION` or the profile. `--endpoint`
//! overrides the Kinesis endpoint and `--dynamodb-endpoint` the DynamoDB one (as do
//! `AWS_ENDPOINT_URL_KINESIS` and `AWS_ENDPOINT_URL_DYNAMODB`); requests are signed with the
//! chain's credentials either way.
//!
//! It creates the stream (`--create-shards N`, waiting until it is ACTIVE) unless it exists,
//! creates the lease table (on-demand billing, the KCL's schema; default `<app>` as the KCL
//! names it) unless it exists, starts one worker reading from TRIM_HORIZON (polling, or
//! enhanced fan-out with `--efo`, which registers the stream consumer `<app>`), sends
//! `--records` records and waits until the worker processed each of them, then shuts the
//! worker down gracefully and prints a one-line JSON summary (`produce`: the producer's,
//! `consume`: `records`, `distinct`, `duplicates` among this run's records, `seconds`).
//!
//! On Amazon Kinesis this costs money: the stream's shard-hours, the fan-out consumer, the
//! DynamoDB table. Delete them afterwards (`aws kinesis delete-stream`, `aws kinesis
//! deregister-stream-consumer`, `aws dynamodb delete-table`).
//!
//! Delivery guarantee shown here: **at least once**, end to end: every acknowledged record is
//! durably in the stream; the worker checkpoints after every batch in the DynamoDB table, so
//! after a crash a restarted worker (or another host's worker with the same `--app`)
//! re-delivers at most the records after the last checkpoint of each shard.
//!
//! ```sh
//! # Amazon Kinesis Data Streams, region and credentials from the environment:
//! AWS_REGION=eu-west-1 cargo run --release --example remote -- --stream rill-demo \
//!     --create-shards 2 --records 1000
//! # rill serve and DynamoDB Local:
//! cargo run --release --example remote -- --endpoint http://127.0.0.1:4567 \
//!     --dynamodb-endpoint http://127.0.0.1:8000 --stream s --create-shards 2
//! ```

use async_trait::async_trait;
use clap::Parser;
use rill_engine::Remote;
use rill_engine::api::Kinesis;
use rill_examples::{BoxError, ProduceSpec, ensure_stream, produce, record_id, round2};
use rill_kcl::{
    DynamoLeaseTable, InitialPosition, ProcessRecordsInput, RecordProcessor, RetrievalMode,
    Scheduler, ShardEndedInput, ShutdownRequestedInput,
};
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    about = "Producer and consumer against Amazon Kinesis (or any endpoint), DynamoDB leases"
)]
struct Args {
    /// Kinesis endpoint override (default: Amazon Kinesis in the configured region).
    #[arg(long)]
    endpoint: Option<String>,
    /// DynamoDB endpoint override (default: Amazon DynamoDB in the configured region).
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// The stream.
    #[arg(long)]
    stream: String,
    /// Create the stream with this many shards if it does not exist.
    #[arg(long)]
    create_shards: Option<i32>,
    /// The application name: the lease table's name unless `--lease-table` is given.
    #[arg(long, default_value = "rill-remote")]
    app: String,
    /// The DynamoDB lease table.
    #[arg(long)]
    lease_table: Option<String>,
    /// Enhanced fan-out instead of polling.
    #[arg(long)]
    efo: bool,
    /// Records to send.
    #[arg(long, default_value_t = 1000)]
    records: u64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
}

/// Counts this run's records (ids starting with `prefix`).
struct Counter {
    prefix: String,
    seen: Arc<Mutex<(u64, HashSet<String>)>>,
}

#[async_trait]
impl RecordProcessor for Counter {
    async fn initialize(&mut self, _input: rill_kcl::InitializationInput) {}

    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        if let Ok(mut seen) = self.seen.lock() {
            for r in &input.records {
                if let Some(id) = record_id(&r.data).filter(|id| id.starts_with(&self.prefix)) {
                    seen.0 += 1;
                    seen.1.insert(id.to_string());
                }
            }
        }
        if let Err(e) = input.checkpointer.checkpoint().await {
            eprintln!("checkpoint refused: {e}");
        }
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

    // The standard chain: environment, profile, SSO, web identity, container and instance
    // credentials; region from the environment or the profile.
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let mut kinesis_conf = aws_sdk_kinesis::config::Builder::from(&conf);
    if let Some(url) = &args.endpoint {
        kinesis_conf = kinesis_conf.endpoint_url(url);
    }
    let kinesis: Arc<dyn Kinesis> = Arc::new(Remote::new(aws_sdk_kinesis::Client::from_conf(
        kinesis_conf.build(),
    )));
    let mut dynamo_conf = aws_sdk_dynamodb::config::Builder::from(&conf);
    if let Some(url) = &args.dynamodb_endpoint {
        dynamo_conf = dynamo_conf.endpoint_url(url);
    }
    let lease_table = DynamoLeaseTable::new(
        aws_sdk_dynamodb::Client::from_conf(dynamo_conf.build()),
        args.lease_table.as_deref().unwrap_or(&args.app),
    )?;
    lease_table.ensure_table(true).await?;

    match args.create_shards {
        Some(n) => ensure_stream(&*kinesis, &args.stream, n).await?,
        None => {
            rill_examples::wait_active(&*kinesis, &args.stream, Duration::from_secs(300)).await?
        }
    }

    let run: u32 = rand::random();
    let seen = Arc::new(Mutex::new((0u64, HashSet::new())));
    let (prefix, s) = (format!("{run:08x}:"), Arc::clone(&seen));
    let mut builder = Scheduler::builder()
        .application_name(args.app.as_str())
        .stream_name(args.stream.as_str())
        .worker_id(format!("remote-{}", std::process::id()))
        .kinesis(Arc::clone(&kinesis))
        .lease_table(Arc::new(lease_table))
        .initial_position(InitialPosition::TrimHorizon)
        .processor_factory(move |_shard: &str| {
            Box::new(Counter {
                prefix: prefix.clone(),
                seen: Arc::clone(&s),
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
    let worker = tokio::spawn(scheduler.run());

    let spec = ProduceSpec {
        stream: args.stream.clone(),
        records: args.records,
        size: args.size,
        rate: 0,
        aggregation: true,
        run,
    };
    let produced = produce(Arc::clone(&kinesis), &spec, Arc::new(AtomicU64::new(0))).await?;

    let deadline = started + Duration::from_secs_f64(args.timeout);
    let distinct = || seen.lock().map_or(0, |s| s.1.len() as u64);
    while distinct() < produced.acked && Instant::now() < deadline && !worker.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.shutdown().await;
    worker.await??;
    let (records, distinct) = seen
        .lock()
        .map(|s| (s.0, s.1.len() as u64))
        .map_err(|_| "poisoned")?;
    println!(
        "{}",
        serde_json::json!({
            "produce": produced,
            "consume": {
                "records": records,
                "distinct": distinct,
                "duplicates": records - distinct,
                "seconds": round2(started.elapsed().as_secs_f64()),
            },
        })
    );
    if distinct < produced.acked {
        return Err(format!("{distinct} of {} records consumed", produced.acked).into());
    }
    Ok(())
}
