//! Fleet scale benchmark: an in-process fleet of workers on one lease table, each worker
//! with its own table handle (as separate hosts would have) behind a `CountingLeaseTable`.
//!
//! Run: `cargo bench -p rill-kcl --features dynamodb --bench fleet -- [options]`
//!
//! * `--backend sqlite|dynamodb` (default sqlite; dynamodb starts dynalite from
//!   `RILL_PEERS_DYNALITE`, see `scripts/peers`), `--shards N` (1024), `--workers N` (32),
//!   `--failover-ms N` (10000: the KCL's default, which the KCL 2.x figure assumes),
//!   `--window-s N` (40: the steady-state window), `--mode leader|every-worker` (leader).
//!
//! Prints, with the settings: the time from start to an even spread (every lease owned by
//! a live worker, counts within one, no handoff in flight); lease table calls, items read
//! and full scans per second at steady state, beside the Java KCL 2.x's items read per
//! second for the same fleet (every worker scans the table every 20 s:
//! `workers × shards / 20`); the time to an even spread again after a quarter of the
//! workers are dropped abruptly; and on a skewed stream (every eighth shard at 10 times
//! the others' rate) the time until every worker's load is within 15 % of the mean and the
//! spread (max/mean, min/mean) then. No assertions.

use async_trait::async_trait;
use bytes::Bytes;
use rill_engine::api::*;
use rill_engine::embedded::ThroughputLimits;
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use rill_kcl::lease::{CountingLeaseTable, LeaseCallCounts};
use rill_kcl::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Checkpointing;

#[async_trait]
impl RecordProcessor for Checkpointing {
    async fn initialize(&mut self, _: InitializationInput) {}
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
}

struct Args {
    backend: String,
    shards: usize,
    workers: usize,
    failover: Duration,
    window: Duration,
    mode: Coordination,
}

fn args() -> R<Args> {
    let mut a = Args {
        backend: "sqlite".into(),
        shards: 1024,
        workers: 32,
        failover: Duration::from_secs(10),
        window: Duration::from_secs(40),
        mode: Coordination::Leader,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--backend" => a.backend = v()?,
            "--shards" => a.shards = v()?.parse()?,
            "--workers" => a.workers = v()?.parse()?,
            "--failover-ms" => a.failover = Duration::from_millis(v()?.parse()?),
            "--window-s" => a.window = Duration::from_secs(v()?.parse()?),
            "--mode" => {
                a.mode = match v()?.as_str() {
                    "leader" => Coordination::Leader,
                    "every-worker" => Coordination::EveryWorker,
                    m => return Err(format!("unknown mode {m}").into()),
                }
            }
            "--bench" => {}
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(a)
}

/// Makes one table handle per call (one per worker, and one for the harness).
type TableMaker = Box<dyn Fn() -> R<Arc<dyn LeaseTable>>>;

/// A running dynalite, killed (by PID) when dropped.
struct Peer(Option<std::process::Child>);

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn backend(a: &Args, dir: &std::path::Path) -> R<(TableMaker, Peer)> {
    match a.backend.as_str() {
        "sqlite" => {
            let path = dir.join("leases.sqlite");
            Ok((
                Box::new(move || {
                    Ok(Arc::new(SqliteLeaseTable::open(&path, "bench")?) as Arc<dyn LeaseTable>)
                }),
                Peer(None),
            ))
        }
        #[cfg(feature = "dynamodb")]
        "dynamodb" => {
            let cli = std::env::var("RILL_PEERS_DYNALITE")
                .map_err(|_| "RILL_PEERS_DYNALITE not set: run scripts/peers, source .peers/env")?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let child = std::process::Command::new("node")
                .arg(&cli)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--createTableMs", "50", "--deleteTableMs", "50"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()?;
            let peer = Peer(Some(child));
            let endpoint = format!("http://127.0.0.1:{port}");
            let t = DynamoLeaseTable::from_endpoint(&endpoint, "bench")?;
            let start = Instant::now();
            while let Err(e) = t.ensure_table(true).await {
                if start.elapsed() > Duration::from_secs(20) {
                    return Err(format!("dynalite did not come up: {e}").into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok((
                Box::new(move || {
                    Ok(
                        Arc::new(DynamoLeaseTable::from_endpoint(&endpoint, "bench")?)
                            as Arc<dyn LeaseTable>,
                    )
                }),
                peer,
            ))
        }
        other => {
            Err(format!("unknown backend {other} (dynamodb needs --features dynamodb)").into())
        }
    }
}

/// Whether every active lease is owned by one of `live`, counts within one, no handoff.
async fn even(table: &dyn LeaseTable, live: &[String], shards: usize) -> bool {
    let Ok(leases) = table.list_leases().await else {
        return false;
    };
    let mut per: HashMap<&str, usize> = live.iter().map(|w| (w.as_str(), 0)).collect();
    for l in &leases {
        if l.checkpoint_owner.is_some() {
            return false;
        }
        match l.lease_owner.as_deref().and_then(|o| per.get_mut(o)) {
            Some(c) => *c += 1,
            None => return false,
        }
    }
    let max = per.values().max().copied().unwrap_or(0);
    let min = per.values().min().copied().unwrap_or(0);
    leases.len() == shards && max - min <= 1
}

async fn wait_even(table: &dyn LeaseTable, live: &[String], shards: usize) -> R<Duration> {
    let start = Instant::now();
    while !even(table, live, shards).await {
        if start.elapsed() > Duration::from_secs(600) {
            return Err("no even spread within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(start.elapsed())
}

fn hot(shard: usize) -> bool {
    shard.is_multiple_of(8)
}

/// (max/mean, min/mean) of the workers' loads by the feed's rates (10 per hot shard, 1 per
/// other), or `None` while a handoff is in flight.
async fn load_spread(table: &dyn LeaseTable, live: &[String]) -> Option<(f64, f64)> {
    let mut per: HashMap<&str, f64> = live.iter().map(|w| (w.as_str(), 0.0)).collect();
    for l in table.list_leases().await.ok()? {
        if l.checkpoint_owner.is_some() {
            return None;
        }
        let shard: usize = l.lease_key.get(8..)?.parse().ok()?;
        *per.get_mut(l.lease_owner.as_deref()?)? += if hot(shard) { 10.0 } else { 1.0 };
    }
    let mean = per.values().sum::<f64>() / per.len() as f64;
    let max = per.values().copied().fold(f64::MIN, f64::max);
    let min = per.values().copied().fold(f64::MAX, f64::min);
    Some((max / mean, min / mean))
}

fn sum(counters: &[(String, CountingLeaseTable)], live: &[String]) -> LeaseCallCounts {
    counters
        .iter()
        .filter(|(w, _)| live.contains(w))
        .fold(LeaseCallCounts::default(), |acc, (_, c)| acc + c.counts())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> R {
    let a = args()?;
    let dir = tempfile::tempdir()?;
    let (make, _peer) = backend(&a, dir.path()).await?;
    let engine = Engine::open(
        dir.path().join("engine"),
        EngineConfig {
            fsync: FsyncPolicy::Never,
            limits: ThroughputLimits::off(),
            shard_limit: u32::MAX,
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(a.shards as i32),
            ..Default::default()
        })
        .await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let harness = make()?;
    // The leases exist before the workers start (as in a fleet that restarts), so that the
    // start measures coordination, not the first shard sync's creates.
    rill_kcl::shard_sync::sync(
        kinesis.as_ref(),
        harness.as_ref(),
        "s",
        InitialPosition::Latest,
    )
    .await?;
    let mode = match a.mode {
        Coordination::EveryWorker => "every worker scans",
        _ => "elected leader",
    };
    println!(
        "fleet: {} shards, {} workers, {} lease table ({mode}), failover {:?} (renewal {:?}, taker {:?}), steady window {:?}",
        a.shards,
        a.workers,
        a.backend,
        a.failover,
        a.failover / 3,
        a.failover / 6,
        a.window
    );
    let names: Vec<String> = (0..a.workers).map(|i| format!("w{i:02}")).collect();
    let mut counters = Vec::new();
    let mut runs = HashMap::new();
    let started = Instant::now();
    for w in &names {
        let counting = CountingLeaseTable::new(make()?);
        counters.push((w.clone(), counting.clone()));
        let s = Scheduler::builder()
            .application_name("bench")
            .stream_name("s")
            .worker_id(w)
            .kinesis(kinesis.clone())
            .lease_table(Arc::new(counting))
            .initial_position(InitialPosition::Latest)
            .failover_time(a.failover)
            .coordination(a.mode)
            .polling(PollingConfig {
                idle_time_between_reads: Duration::from_secs(1),
                max_idle_time_between_reads: Duration::from_secs(4),
                ..Default::default()
            })
            .processor_factory(|_: &str| Box::new(Checkpointing) as Box<dyn RecordProcessor>)
            .build()?;
        runs.insert(w.clone(), tokio::spawn(s.run()));
    }
    wait_even(harness.as_ref(), &names, a.shards).await?;
    let spread = started.elapsed();
    println!("  start to even spread: {:.1} s", spread.as_secs_f64());

    tokio::time::sleep(a.failover).await;
    let c0 = sum(&counters, &names);
    let t0 = Instant::now();
    tokio::time::sleep(a.window).await;
    let d = sum(&counters, &names) - c0;
    let secs = t0.elapsed().as_secs_f64();
    let kcl = (a.workers * a.shards) as f64 / 20.0;
    let items = d.items_read as f64 / secs;
    println!(
        "  steady state: {:.1} lease table calls/s ({:.1} reads/s, {:.1} writes/s), {:.2} items read/s, {:.3} full scans/s",
        d.calls as f64 / secs,
        d.reads as f64 / secs,
        d.writes as f64 / secs,
        items,
        d.scans as f64 / secs
    );
    println!(
        "  KCL 2.x for this fleet: {kcl:.1} items read/s (workers x shards / 20); rill/KCL = {:.3}",
        items / kcl
    );

    // A quarter of the workers die.
    let dead = a.workers / 4;
    for w in &names[a.workers - dead..] {
        if let Some(r) = runs.remove(w) {
            r.abort();
        }
    }
    let live: Vec<String> = names[..a.workers - dead].to_vec();
    let respread = wait_even(harness.as_ref(), &live, a.shards).await?;
    println!(
        "  {dead} of {} workers dropped: even spread again after {:.1} s",
        a.workers,
        respread.as_secs_f64()
    );

    // A skewed stream: every eighth shard at 10x.
    let feeding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let feeder = {
        let (k, feeding, shards) = (kinesis.clone(), feeding.clone(), a.shards);
        tokio::spawn(async move {
            let mut n = 0u64;
            while feeding.load(std::sync::atomic::Ordering::Relaxed) {
                let mut batch = Vec::new();
                for shard in 0..shards {
                    // The engine's even split: floor(2^128 / shards).
                    let step = if shards.is_power_of_two() {
                        1u128
                            .checked_shl(128 - shards.trailing_zeros())
                            .unwrap_or(0)
                    } else {
                        u128::MAX / shards as u128
                    };
                    for _ in 0..if hot(shard) { 10 } else { 1 } {
                        n += 1;
                        batch.push(PutRecordsRequestEntry {
                            data: Bytes::from(format!("{n:0100}")),
                            partition_key: "pk".into(),
                            explicit_hash_key: Some((step * shard as u128).to_string()),
                        });
                        if batch.len() == 500 {
                            let _ = k
                                .put_records(PutRecordsInput {
                                    stream_name: Some("s".into()),
                                    records: std::mem::take(&mut batch),
                                    ..Default::default()
                                })
                                .await;
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = k
                        .put_records(PutRecordsInput {
                            stream_name: Some("s".into()),
                            records: batch,
                            ..Default::default()
                        })
                        .await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let before = load_spread(harness.as_ref(), &live).await;
    let t = Instant::now();
    let mut balanced = None;
    while t.elapsed() < Duration::from_secs(300) {
        if let Some((hi, lo)) = load_spread(harness.as_ref(), &live).await
            && hi <= 1.15
            && lo >= 0.85
        {
            balanced = Some((t.elapsed(), hi, lo));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    feeding.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = feeder.await;
    if let Some((hi, lo)) = before {
        println!(
            "  skewed stream (1 in 8 shards at 10x): load spread before {hi:.2}/{lo:.2} of the mean (max/min)"
        );
    }
    match balanced {
        Some((took, hi, lo)) => println!(
            "  skewed stream: every worker within 15 % of the mean after {:.1} s (max {hi:.2}, min {lo:.2} of the mean)",
            took.as_secs_f64()
        ),
        None => println!("  skewed stream: not within 15 % of the mean after 300 s"),
    }
    for (_, r) in runs {
        r.abort();
    }
    Ok(())
}
