//! The consumer across hosts: a fleet of 3 worker processes sharing a DynamoDB lease table
//! (dynalite) and reading with enhanced fan-out (SubscribeToShard) from `rill serve`; one
//! worker is killed with SIGKILL and its shards are taken over.
//!
//! The parent test runs the engine behind an in-process `rill serve`
//! (`rill_engine::server::serve` on 127.0.0.1:0) and dynalite, and spawns this very test
//! binary three times with `RILL_KCL_FLEET_CHILD` set, running only `fleet_child_worker`: a
//! worker that reaches the stream through `Remote`, appends every record it processes to
//! its own file (written before each checkpoint; it checkpoints every third batch and on
//! shutdown) and shuts down gracefully when its stdin closes.
//!
//! Ignored under plain `cargo test`; `scripts/test` runs it. By hand:
//!
//! ```text
//! scripts/peers && set -a && . .peers/env && set +a
//! cargo test -p rill-kcl --features dynamodb --test fanout_fleet -- --include-ignored
//! ```

mod common;

use common::dynalite::Dynalite;
use common::*;
use rill_engine::api::{CreateStreamInput, Kinesis, ListStreamConsumersInput};
use rill_engine::embedded::ThroughputLimits;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig, FsyncPolicy, Remote};
use rill_kcl::*;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD: &str = "RILL_KCL_FLEET_CHILD";

/// Writes every record to its file, and checkpoints after every third batch (so that a
/// killed worker leaves records above its checkpoints, to be delivered again).
struct FileRecorder {
    shard: String,
    out: std::fs::File,
    batches: u64,
}

#[async_trait::async_trait]
impl RecordProcessor for FileRecorder {
    async fn initialize(&mut self, input: InitializationInput) {
        self.shard = input.shard_id;
    }
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        let mut buf = String::new();
        for r in &input.records {
            let data = String::from_utf8_lossy(&r.data);
            buf.push_str(&format!(
                "{} {} {} {data}\n",
                self.shard, r.sequence_number, r.sub_sequence_number
            ));
        }
        self.batches += 1;
        if self.out.write_all(buf.as_bytes()).is_ok() && self.batches.is_multiple_of(3) {
            let _ = input.checkpointer.checkpoint().await;
        }
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
async fn fleet_child_worker() -> TestResult {
    if std::env::var_os(CHILD).is_none() {
        return Ok(());
    }
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} not set"));
    let endpoint = var("RILL_KCL_ENDPOINT")?;
    let worker = var("RILL_KCL_WORKER")?;
    let out_path = PathBuf::from(var("RILL_KCL_OUT")?);
    let leases = DynamoLeaseTable::from_endpoint(&var("RILL_KCL_DYNAMODB")?, "app")?;
    leases.create_table_if_not_exists().await?;
    let table: Arc<dyn LeaseTable> = Arc::new(leases);
    let kinesis: Arc<dyn Kinesis> = Arc::new(Remote::from_endpoint(&endpoint));
    let scheduler = Scheduler::builder()
        .application_name("app")
        .stream_name("s")
        .worker_id(worker)
        .kinesis(kinesis)
        .lease_table(table)
        .initial_position(InitialPosition::TrimHorizon)
        .failover_time(FAST.failover)
        .renewal_interval(FAST.renewal)
        .taker_interval(FAST.taker)
        .retrieval(RetrievalMode::FanOut {
            consumer_name: None,
        })
        .fan_out(fan_out())
        .processor_factory(move |shard: &str| {
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out_path);
            match out {
                Ok(out) => Box::new(FileRecorder {
                    shard: shard.into(),
                    out,
                    batches: 0,
                }) as Box<dyn RecordProcessor>,
                Err(e) => panic!("cannot open output file: {e}"),
            }
        })
        .build()?;
    let stop = scheduler.shutdown_handle();
    // Graceful shutdown when the parent closes our stdin.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stop.request_shutdown();
    });
    scheduler.run().await?;
    Ok(())
}

fn spawn_worker(endpoint: &str, dynamodb: &str, worker: &str, out: &Path) -> TestResult<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args([
            "fleet_child_worker",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RILL_KCL_ENDPOINT", endpoint)
        .env("RILL_KCL_DYNAMODB", dynamodb)
        .env("RILL_KCL_WORKER", worker)
        .env("RILL_KCL_OUT", out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?)
}

/// (shard, seq, sub, data) lines of every worker's file.
fn read_all(outs: &[PathBuf]) -> Vec<(String, String, u64, usize)> {
    let mut v = Vec::new();
    for p in outs {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if let [shard, seq, sub, data] = f[..]
                && let (Ok(sub), Ok(data)) = (sub.parse(), data.parse())
            {
                v.push((shard.to_string(), seq.to_string(), sub, data));
            }
        }
    }
    v
}

fn distinct(outs: &[PathBuf]) -> usize {
    read_all(outs)
        .iter()
        .map(|r| r.3)
        .collect::<HashSet<_>>()
        .len()
}

/// Kills the remaining children when the test fails midway.
struct Fleet(Vec<Child>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dynalite: run scripts/test"]
async fn three_processes_dynamodb_fan_out_one_sigkilled() -> TestResult {
    if std::env::var_os(CHILD).is_some() {
        return Ok(());
    }
    let dynalite = Dynalite::start()?;
    let table = DynamoLeaseTable::from_endpoint(&dynalite.endpoint, "app")?;
    table.create_table_if_not_exists().await?;
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
            shard_count: Some(6),
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
    put(kinesis.as_ref(), 0, 3000).await?;
    let outs: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("w{i}.out")))
        .collect();
    let mut fleet = Fleet(Vec::new());
    for (i, out) in outs.iter().enumerate() {
        fleet.0.push(spawn_worker(
            &endpoint,
            &dynalite.endpoint,
            &format!("w{i}"),
            out,
        )?);
    }
    wait_until(
        Duration::from_secs(90),
        "2/2/2 and 3000 processed",
        || async {
            let m = owners(&table).await;
            ["w0", "w1", "w2"].iter().all(|w| m.get(*w) == Some(&2)) && distinct(&outs) == 3000
        },
    )
    .await?;
    // The fleet shares one stream consumer, named after the application.
    let stream_arn = kinesis
        .describe_stream_summary(rill_engine::api::DescribeStreamSummaryInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn;
    let consumers = kinesis
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn,
            ..Default::default()
        })
        .await?
        .consumers;
    assert_eq!(
        consumers
            .iter()
            .map(|c| c.consumer_name.as_str())
            .collect::<Vec<_>>(),
        ["app"]
    );
    let feeder = {
        let k = kinesis.clone();
        tokio::spawn(async move {
            for i in (3000..9000).step_by(300) {
                put(k.as_ref(), i, i + 300).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            TestResult::Ok(())
        })
    };
    // Kill w2 once it is processing the new flow.
    wait_until(
        Duration::from_secs(30),
        "w2 processing new records",
        || async { read_all(&outs[2..]).iter().any(|r| r.3 >= 3000) },
    )
    .await?;
    let mut victim = fleet.0.pop().ok_or("no child")?;
    victim.kill()?; // SIGKILL
    let killed = Instant::now();
    victim.wait()?;
    let at_kill: HashMap<String, ExtendedSequenceNumber> = table
        .list_leases()
        .await?
        .into_iter()
        .filter(|l| l.lease_owner.as_deref() == Some("w2"))
        .map(|l| (l.lease_key.clone(), l.checkpoint()))
        .collect();
    assert_eq!(at_kill.len(), 2, "w2 held 2 leases when killed");
    wait_until(Duration::from_secs(30), "w2's leases taken", || async {
        let m = owners(&table).await;
        !m.contains_key("w2")
            && m.get("w0").copied().unwrap_or(0) + m.get("w1").copied().unwrap_or(0) == 6
    })
    .await?;
    let took = killed.elapsed();
    let bound = FAST.failover + FAST.renewal + Duration::from_millis(1500);
    assert!(took <= bound, "failover took {took:?}, bound {bound:?}");
    wait_until(Duration::from_secs(30), "survivors at 3/3", || async {
        let m = owners(&table).await;
        m.get("w0") == Some(&3) && m.get("w1") == Some(&3)
    })
    .await?;
    feeder.await??;
    wait_until(Duration::from_secs(60), "9000 processed", || async {
        distinct(&outs) == 9000
    })
    .await?;
    for mut c in std::mem::take(&mut fleet.0) {
        drop(c.stdin.take()); // graceful shutdown
        let status = c.wait()?;
        assert!(status.success(), "worker exited with {status}");
    }
    let _ = stop_server.send(());
    // Exact accounting: every record once, except records of w2's shards above their
    // checkpoint at the kill, which may have been processed twice.
    let all = read_all(&outs);
    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    for (_, seq, sub, _) in &all {
        *seen.entry((seq.clone(), *sub)).or_default() += 1;
    }
    let data: HashSet<usize> = all.iter().map(|r| r.3).collect();
    assert_eq!(data, (0..9000).collect());
    assert_eq!(seen.len(), 9000);
    let dups: Vec<_> = all
        .iter()
        .filter(|(_, seq, sub, _)| seen.get(&(seq.clone(), *sub)).copied().unwrap_or(0) > 1)
        .collect();
    for (shard, seq, sub, _) in &dups {
        let cp = at_kill
            .get(shard)
            .ok_or_else(|| format!("duplicate on {shard}, which the killed worker did not own"))?;
        assert!(
            ExtendedSequenceNumber::new(seq.clone(), *sub) > *cp,
            "{shard} {seq}/{sub} re-delivered at or below the killed worker's checkpoint {cp}"
        );
    }
    eprintln!(
        "9000 records, {} duplicate deliveries (all on the killed worker's shards above its checkpoints), failover {took:?}",
        dups.len() / 2
    );
    Ok(())
}
