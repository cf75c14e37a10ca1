//! `stock_trades_writer`: the writer of the Kinesis Data Streams developer guide's stock trades
//! tutorial ("Process real-time stock data using KPL and KCL"), the rill way.
//!
//! It makes random stock trades (a ticker from a fixed list of 25 stocks, `BUY` or `SELL`, a
//! price within 20 % of the stock's reference price, a quantity of 1 to 10,000, and a
//! sequential id) and sends each as JSON through the producer (rill-kpl), with the ticker as
//! partition key, `--rate` trades per second (the tutorial: 10), until `--records N` were
//! sent (0: until Ctrl-C). The stream (`StockTradeStream` by default) is created with
//! `--shards` shards if it does not exist. At the end it prints a one-line JSON summary
//! (`records`, `acked`, `failed`, `seconds`). Read the trades with `stock_trades_processor`.
//!
//! Delivery guarantee shown here: **at least once, per acknowledged trade**: an acknowledged
//! trade is durably in the stream; one whose send failed is reported (and counted in
//! `failed`) but may still have been written.
//!
//! ```sh
//! cargo run --release --example stock_trades_writer -- --data-dir ./trades --records 1000
//! ```

use clap::Parser;
use rand::Rng;
use rill_examples::{BoxError, TargetArgs, ensure_stream, round2, shutdown_signal};
use rill_kpl::{Producer, ProducerConfig, Record};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Tickers and reference prices, as in the tutorial's `StockTradeGenerator`.
const STOCKS: [(&str, f64); 25] = [
    ("AAPL", 119.72),
    ("XOM", 91.56),
    ("GOOG", 527.83),
    ("BRK.A", 223_999.88),
    ("MSFT", 42.36),
    ("WFC", 54.21),
    ("JNJ", 99.78),
    ("WMT", 85.91),
    ("CHL", 66.96),
    ("GE", 24.64),
    ("NVS", 102.46),
    ("PG", 85.05),
    ("JPM", 57.82),
    ("RDS.A", 66.72),
    ("CVX", 110.43),
    ("PFE", 33.07),
    ("FB", 74.44),
    ("VZ", 49.09),
    ("PTR", 111.08),
    ("BUD", 120.39),
    ("ORCL", 43.40),
    ("KO", 41.23),
    ("T", 34.64),
    ("DIS", 101.73),
    ("AMZN", 370.56),
];
/// A trade's price is within this fraction of the reference price.
const MAX_DEVIATION: f64 = 0.2;
const MAX_QUANTITY: u64 = 10_000;
const PROBABILITY_SELL: f64 = 0.4;

#[derive(Debug, Parser)]
#[command(about = "Write random stock trades to a stream (the KDS stock trades tutorial)")]
struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// The stream.
    #[arg(long, default_value = "StockTradeStream")]
    stream: String,
    /// Shards of the stream if it has to be created.
    #[arg(long, default_value_t = 2)]
    shards: i32,
    /// Trades to write; 0 = until Ctrl-C.
    #[arg(long, default_value_t = 0)]
    records: u64,
    /// Trades per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 10)]
    rate: u64,
}

/// One trade, in the tutorial's JSON shape.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StockTrade {
    ticker_symbol: &'static str,
    trade_type: &'static str,
    price: f64,
    quantity: u64,
    id: u64,
}

fn random_trade(rng: &mut impl Rng, id: u64) -> StockTrade {
    let (ticker, reference) = STOCKS[rng.random_range(0..STOCKS.len())];
    let deviation = rng.random_range(-MAX_DEVIATION..MAX_DEVIATION);
    StockTrade {
        ticker_symbol: ticker,
        trade_type: if rng.random_bool(PROBABILITY_SELL) {
            "SELL"
        } else {
            "BUY"
        },
        price: ((reference * (1.0 + deviation)) * 100.0).round() / 100.0,
        quantity: rng.random_range(1..=MAX_QUANTITY),
        id,
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    rill_examples::init_tracing();
    let args = Args::parse();
    let connection = args.target.connect().await?;
    ensure_stream(&*connection.kinesis, &args.stream, args.shards).await?;
    let producer = Producer::new(
        Arc::clone(&connection.kinesis),
        ProducerConfig::builder().build()?,
    );
    let stream: Arc<str> = args.stream.as_str().into();
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut waiters = tokio::task::JoinSet::new();
    let started = Instant::now();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut sent = 0;
    while args.records == 0 || sent < args.records {
        if args.rate > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / args.rate as f64);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = &mut stop => break,
            }
        }
        // Ids start at 1 per run; with several runs, start the processor afresh.
        let trade = random_trade(&mut rand::rng(), sent + 1);
        let data = serde_json::to_vec(&trade)?;
        let future = producer
            .send(Record::new(Arc::clone(&stream), trade.ticker_symbol, data))
            .await?;
        sent += 1;
        let (acked, failed) = (Arc::clone(&acked), Arc::clone(&failed));
        waiters.spawn(async move {
            match future.await {
                Ok(_) => acked.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    eprintln!("trade {} not written: {e}", trade.id);
                    failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        });
        while waiters.try_join_next().is_some() {}
    }
    producer.flush().await;
    while waiters.join_next().await.is_some() {}
    producer.shutdown().await;
    let seconds = started.elapsed().as_secs_f64();
    connection.close().await?;
    println!(
        "{}",
        serde_json::json!({
            "records": sent,
            "acked": acked.load(Ordering::Relaxed),
            "failed": failed.load(Ordering::Relaxed),
            "seconds": round2(seconds),
        })
    );
    Ok(())
}
