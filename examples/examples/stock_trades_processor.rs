//! `stock_trades_processor`: the consumer of the Kinesis Data Streams developer guide's stock
//! trades tutorial, the rill way: a `RecordProcessor` (rill-kcl) that reads the trades
//! written by `stock_trades_writer` and, every `--window` seconds (default 10), prints the
//! window's statistics as one JSON line: the most popular stock being bought and being sold
//! (by number of trades) and the largest trade (by price × quantity).
//!
//! One worker runs here; start more processes with the same `--app` and `--leases` and they
//! share the shards. Each shard's processor checkpoints at most once per window (as the
//! tutorial's processor does once a minute), and when its shard ends or the worker shuts
//! down. `--expect N` stops (gracefully) once N distinct trades were processed, then prints
//! the last, partial window and a summary line (`{"summary": {"trades", "distinct",
//! "windows"}}`); otherwise it runs until SIGINT/SIGTERM.
//!
//! Delivery guarantee shown here: **at least once**. A trade is counted again only after a
//! crash, for the trades processed after the shard's last checkpoint (at most one window of
//! them): a window's statistics can then include trades already counted before the crash.
//! Exactly-once statistics would need the checkpoint and the statistics stored together.
//!
//! ```sh
//! cargo run --release --example stock_trades_processor -- --data-dir ./trades --window 10
//! ```

use async_trait::async_trait;
use clap::Parser;
use rill_examples::{BoxError, TargetArgs, open_lease_table, shutdown_signal};
use rill_kcl::{
    InitialPosition, PollingConfig, ProcessRecordsInput, RecordProcessor, Scheduler,
    ShardEndedInput, ShutdownRequestedInput,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Report stock trade statistics per window (the KDS stock trades tutorial)")]
struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// The stream.
    #[arg(long, default_value = "StockTradeStream")]
    stream: String,
    /// The application name.
    #[arg(long, default_value = "StockTradesProcessor")]
    app: String,
    /// The lease table: `sqlite:PATH` or `dynamodb:TABLE[@ENDPOINT]` (default: a SQLite
    /// file `stock-trades-leases.sqlite` in the data directory or the current directory).
    #[arg(long)]
    leases: Option<String>,
    /// Seconds per statistics window.
    #[arg(long, default_value_t = 10.0)]
    window: f64,
    /// Stop once this many distinct trades were processed.
    #[arg(long)]
    expect: Option<u64>,
    /// Stop after this many seconds (exit 1 if `--expect` was not reached).
    #[arg(long)]
    timeout: Option<f64>,
}

/// A trade as the writer sends it.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StockTrade {
    ticker_symbol: String,
    trade_type: String,
    price: f64,
    quantity: u64,
    id: u64,
}

impl StockTrade {
    fn value(&self) -> f64 {
        self.price * self.quantity as f64
    }
}

/// The statistics of one window, across the shards this worker processes.
#[derive(Default)]
struct StockStats {
    trades: u64,
    buys: HashMap<String, u64>,
    sells: HashMap<String, u64>,
    largest: Option<StockTrade>,
}

impl StockStats {
    fn add(&mut self, trade: StockTrade) {
        self.trades += 1;
        let counts = if trade.trade_type == "SELL" {
            &mut self.sells
        } else {
            &mut self.buys
        };
        *counts.entry(trade.ticker_symbol.clone()).or_default() += 1;
        if self
            .largest
            .as_ref()
            .is_none_or(|l| trade.value() > l.value())
        {
            self.largest = Some(trade);
        }
    }

    fn most_popular(counts: &HashMap<String, u64>) -> serde_json::Value {
        counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map_or(
                serde_json::Value::Null,
                |(ticker, n)| serde_json::json!({"ticker": ticker, "trades": n}),
            )
    }

    fn report(&self, window: u64) -> serde_json::Value {
        serde_json::json!({
            "window": window,
            "trades": self.trades,
            "most_popular_buy": Self::most_popular(&self.buys),
            "most_popular_sell": Self::most_popular(&self.sells),
            "largest_trade": self.largest.as_ref().map(|t| serde_json::json!({
                "trade": t,
                "value": (t.value() * 100.0).round() / 100.0,
            })),
        })
    }
}

#[derive(Default)]
struct Shared {
    window: StockStats,
    ids: HashSet<u64>,
    processed: u64,
}

struct StockTradeRecordProcessor {
    shared: Arc<Mutex<Shared>>,
    checkpoint_interval: Duration,
    last_checkpoint: Instant,
    progress: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl RecordProcessor for StockTradeRecordProcessor {
    async fn initialize(&mut self, input: rill_kcl::InitializationInput) {
        eprintln!("processing {}", input.shard_id);
    }

    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        if let Ok(mut shared) = self.shared.lock() {
            for r in &input.records {
                match serde_json::from_slice::<StockTrade>(&r.data) {
                    Ok(trade) => {
                        shared.processed += 1;
                        shared.ids.insert(trade.id);
                        shared.window.add(trade);
                    }
                    Err(e) => eprintln!("skipping a record that is not a trade: {e}"),
                }
            }
        }
        // Checkpoint as we go, at most once per window.
        if self.last_checkpoint.elapsed() >= self.checkpoint_interval {
            if let Err(e) = input.checkpointer.checkpoint().await {
                eprintln!("checkpoint failed: {e}");
            }
            self.last_checkpoint = Instant::now();
        }
        self.progress.notify_one();
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
    let connection = args.target.connect().await?;
    let leases = match &args.leases {
        Some(spec) => spec.clone(),
        None => {
            let dir = args.target.data_dir.clone().unwrap_or_else(|| ".".into());
            format!(
                "sqlite:{}",
                dir.join("stock-trades-leases.sqlite").display()
            )
        }
    };
    let lease_table = open_lease_table(&leases, &args.app).await?;
    let window = Duration::from_secs_f64(args.window);
    let shared = Arc::new(Mutex::new(Shared::default()));
    let progress = Arc::new(tokio::sync::Notify::new());
    let (s, p) = (Arc::clone(&shared), Arc::clone(&progress));
    let scheduler = Scheduler::builder()
        .application_name(args.app.as_str())
        .stream_name(args.stream.as_str())
        .worker_id(format!("stock-trades-{}", std::process::id()))
        .kinesis(Arc::clone(&connection.kinesis))
        .lease_table(lease_table)
        .initial_position(InitialPosition::TrimHorizon)
        .polling(PollingConfig {
            idle_time_between_reads: Duration::from_millis(250),
            max_idle_time_between_reads: Duration::from_secs(1),
            ..PollingConfig::default()
        })
        .processor_factory(move |_shard: &str| {
            Box::new(StockTradeRecordProcessor {
                shared: Arc::clone(&s),
                checkpoint_interval: window,
                last_checkpoint: Instant::now(),
                progress: Arc::clone(&p),
            }) as Box<dyn RecordProcessor>
        })
        .build()?;
    let stop = scheduler.shutdown_handle();
    let started = Instant::now();
    let mut worker = tokio::spawn(scheduler.run());

    let mut windows = 0u64;
    let mut report = |shared: &Mutex<Shared>| {
        if let Ok(mut s) = shared.lock() {
            windows += 1;
            println!("{}", s.window.report(windows));
            s.window = StockStats::default();
        }
    };
    let distinct = |shared: &Mutex<Shared>| shared.lock().map_or(0, |s| s.ids.len() as u64);
    let mut ticker = tokio::time::interval_at((Instant::now() + window).into(), window);
    let deadline = args.timeout.map(|t| started + Duration::from_secs_f64(t));
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut finished = None;
    let mut timed_out = false;
    loop {
        if args.expect.is_some_and(|n| distinct(&shared) >= n) {
            break;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ticker.tick() => report(&shared),
            _ = progress.notified() => {}
            _ = &mut signal => break,
            _ = sleep => { timed_out = true; break; }
            result = &mut worker => { finished = Some(result); break; }
        }
    }
    let result = match finished {
        Some(r) => r,
        None => {
            stop.shutdown().await;
            worker.await
        }
    };
    // The last, partial window.
    if shared.lock().map_or(0, |s| s.window.trades) > 0 {
        report(&shared);
    }
    connection.close().await?;
    let (trades, distinct) = shared
        .lock()
        .map(|s| (s.processed, s.ids.len() as u64))
        .map_err(|_| "poisoned")?;
    println!(
        "{}",
        serde_json::json!({"summary": {"trades": trades, "distinct": distinct, "windows": windows}})
    );
    result??;
    if timed_out && args.expect.is_some_and(|n| distinct < n) {
        return Err(format!("timed out with {distinct} of {:?} trades", args.expect).into());
    }
    Ok(())
}
