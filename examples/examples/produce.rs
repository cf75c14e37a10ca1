//! `produce`: sends records through the aggregating producer (rill-kpl) and prints a one-line
//! JSON summary: `records`, `acked`, `failed`, `seconds`, `records_per_s`.
//!
//! Every payload starts with a unique id (`<run>:<n>,`, then `x` up to `--size` bytes) so
//! that `consume` can count distinct records. `--create-shards N` creates the stream if it
//! does not exist. `--rate R` paces the producer to R records per second (0: as fast as the
//! producer and the shards' limits allow).
//!
//! Delivery guarantee shown here: **at least once, per acknowledged record**. `acked` counts
//! records whose future resolved to an `Ack`: each is durably in the stream (on the embedded
//! engine: fsynced). A `failed` record may still be in the stream (a timed-out call may have
//! been applied), so consumers can see records that were never acknowledged, and a retried
//! aggregate can appear twice. Exits 1 if any record failed.
//!
//! ```sh
//! cargo run --release --example produce -- --data-dir ./data --stream s --create-shards 4 \
//!     --records 100000 --size 100
//! ```

use clap::Parser;
use rill_examples::{BoxError, ProduceSpec, TargetArgs, ensure_stream, produce, wait_active};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(about = "Send records through rill-kpl; print a JSON summary")]
struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// The stream.
    #[arg(long)]
    stream: String,
    /// Create the stream with this many shards if it does not exist.
    #[arg(long)]
    create_shards: Option<i32>,
    /// How many records.
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Records per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// One Kinesis record per user record (no KPL aggregation).
    #[arg(long)]
    no_aggregation: bool,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    rill_examples::init_tracing();
    let args = Args::parse();
    let connection = args.target.connect().await?;
    match args.create_shards {
        Some(n) => ensure_stream(&*connection.kinesis, &args.stream, n).await?,
        None => wait_active(&*connection.kinesis, &args.stream, Duration::from_secs(300)).await?,
    }
    let spec = ProduceSpec {
        stream: args.stream.clone(),
        records: args.records,
        size: args.size,
        rate: args.rate,
        aggregation: !args.no_aggregation,
        run: rand::random(),
    };
    let summary = produce(
        Arc::clone(&connection.kinesis),
        &spec,
        Arc::new(AtomicU64::new(0)),
    )
    .await?;
    connection.close().await?;
    println!("{}", serde_json::to_string(&summary)?);
    if summary.failed > 0 {
        return Err(format!("{} records failed", summary.failed).into());
    }
    Ok(())
}
