//! The fleet at scale on DynamoDB (dynalite): 64 shards, 8 worker processes with the
//! default timings (failover 10 s). Checks that the fleet spreads evenly within
//! failover + 2 renewal intervals of start and again after 2 workers are SIGKILLed, and
//! that at steady state it reads at most half the items the Java KCL 2.x would (every
//! worker scanning every 20 s: workers × shards / 20 items per second).
//!
//! Every child counts its lease table calls with `CountingLeaseTable` and writes the
//! counts to a file; the parent sums them.
//!
//! Ignored under plain `cargo test`; by hand:
//!
//! ```text
//! scripts/peers && set -a && . .peers/env && set +a
//! cargo test -p rill-kcl --features dynamodb --test fleet_dynamodb -- --include-ignored
//! ```

mod common;

use common::dynalite::Dynalite;
use common::*;
use rill_engine::api::{CreateStreamInput, Kinesis};
use rill_engine::embedded::ThroughputLimits;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig, FsyncPolicy, Remote};
use rill_kcl::lease::CountingLeaseTable;
use rill_kcl::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD: &str = "RILL_KCL_SCALE_CHILD";
const SHARDS: usize = 64;
const WORKERS: usize = 8;
const FAILOVER: Duration = Duration::from_secs(10);

struct Nothing;

#[async_trait::async_trait]
impl RecordProcessor for Nothing {
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

/// The worker process (does nothing unless spawned by the parent test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_child_worker() -> TestResult {
    if std::env::var_os(CHILD).is_none() {
        return Ok(());
    }
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} not set"));
    let endpoint = var("RILL_KCL_ENDPOINT")?;
    let worker = var("RILL_KCL_WORKER")?;
    let counts_path = PathBuf::from(var("RILL_KCL_COUNTS")?);
    let dynamo = DynamoLeaseTable::from_endpoint(&var("RILL_KCL_DYNAMO")?, "scale")?;
    let counting = CountingLeaseTable::new(Arc::new(dynamo));
    let kinesis: Arc<dyn Kinesis> = Arc::new(Remote::from_endpoint(&endpoint));
    let scheduler = Scheduler::builder()
        .application_name("scale")
        .stream_name("s")
        .worker_id(worker)
        .kinesis(kinesis)
        .lease_table(Arc::new(counting.clone()))
        .initial_position(InitialPosition::TrimHorizon)
        .failover_time(FAILOVER)
        .polling(PollingConfig {
            idle_time_between_reads: Duration::from_millis(500),
            max_idle_time_between_reads: Duration::from_secs(2),
            ..Default::default()
        })
        .processor_factory(|_: &str| Box::new(Nothing) as Box<dyn RecordProcessor>)
        .build()?;
    let stop = scheduler.shutdown_handle();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stop.request_shutdown();
    });
    // The counts, replaced atomically every 200 ms.
    let dump = tokio::spawn(async move {
        loop {
            let c = counting.counts();
            let tmp = counts_path.with_extension("tmp");
            let text = format!("{} {} {} {}\n", c.calls, c.reads, c.items_read, c.scans);
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &counts_path);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    scheduler.run().await?;
    dump.abort();
    Ok(())
}

fn spawn_worker(endpoint: &str, dynamo: &str, worker: &str, counts: &Path) -> TestResult<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args([
            "scale_child_worker",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RILL_KCL_ENDPOINT", endpoint)
        .env("RILL_KCL_DYNAMO", dynamo)
        .env("RILL_KCL_WORKER", worker)
        .env("RILL_KCL_COUNTS", counts)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// (calls, items read) summed over the children's count files.
fn counts(paths: &[PathBuf]) -> (u64, u64) {
    let mut total = (0, 0);
    for p in paths {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let f: Vec<u64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [calls, _reads, items, _scans] = f[..] {
            total.0 += calls;
            total.1 += items;
        }
    }
    total
}

/// Whether every active lease is owned by one of `live`, no handoff is in flight, and the
/// counts differ by at most one.
async fn evenly_spread(table: &dyn LeaseTable, live: &[String]) -> bool {
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
    leases.len() == SHARDS && max - min <= 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dynalite: run scripts/test"]
async fn sixty_four_shards_eight_processes_read_less_than_half_the_kcl() -> TestResult {
    if std::env::var_os(CHILD).is_some() {
        return Ok(());
    }
    let dynalite = Dynalite::start()?;
    let table = DynamoLeaseTable::from_endpoint(&dynalite.endpoint, "scale")?;
    table.ensure_table(true).await?;
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(
        dir.path().join("engine"),
        EngineConfig {
            fsync: FsyncPolicy::Never,
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(SHARDS as i32),
            ..Default::default()
        })
        .await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        kinesis.clone(),
        ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let renewal = FAILOVER / 3;
    let bound = FAILOVER + renewal * 2;
    let names: Vec<String> = (0..WORKERS).map(|i| format!("w{i}")).collect();
    let count_files: Vec<PathBuf> = names
        .iter()
        .map(|w| dir.path().join(format!("{w}.counts")))
        .collect();
    let started = Instant::now();
    let mut children = Vec::new();
    for (w, c) in names.iter().zip(&count_files) {
        children.push(spawn_worker(&endpoint, &dynalite.endpoint, w, c)?);
    }
    wait_until(bound, "an even spread after start", || {
        evenly_spread(&table, &names)
    })
    .await?;
    let spread = started.elapsed();

    // Steady state: after a settling period, a window longer than the catch-all period
    // (2 × failover) so that the periodic reads are in it.
    tokio::time::sleep(FAILOVER).await;
    let (calls0, items0) = counts(&count_files);
    let t0 = Instant::now();
    tokio::time::sleep(FAILOVER * 4).await;
    let (calls1, items1) = counts(&count_files);
    let secs = t0.elapsed().as_secs_f64();
    let items_per_s = (items1 - items0) as f64 / secs;
    let calls_per_s = (calls1 - calls0) as f64 / secs;
    let kcl = (WORKERS * SHARDS) as f64 / 20.0;
    assert!(
        evenly_spread(&table, &names).await,
        "the spread changed at steady state"
    );
    assert!(
        items_per_s <= kcl / 2.0,
        "{items_per_s:.1} items read/s at steady state; the KCL 2.x reads {kcl:.1}"
    );

    // Two workers die.
    for mut c in children.drain(WORKERS - 2..) {
        c.kill()?; // SIGKILL, by PID
        c.wait()?;
    }
    let killed = Instant::now();
    let live = &names[..WORKERS - 2];
    wait_until(bound, "an even spread after 2 workers died", || {
        evenly_spread(&table, live)
    })
    .await?;
    let respread = killed.elapsed();
    eprintln!(
        "{SHARDS} shards x {WORKERS} processes, failover {FAILOVER:?}: even spread {spread:.1?} after start, \
         {respread:.1?} after 2 SIGKILLs (bound {bound:.1?}); steady state {items_per_s:.2} items read/s, \
         {calls_per_s:.2} lease table calls/s (KCL 2.x: {kcl:.1} items read/s)"
    );
    for mut c in children {
        drop(c.stdin.take()); // graceful shutdown
        let status = c.wait()?;
        assert!(status.success(), "worker exited with {status}");
    }
    let _ = stop_server.send(());
    Ok(())
}
