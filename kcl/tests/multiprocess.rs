//! Several worker processes on one SQLite lease file, one killed with SIGKILL.
//!
//! The parent test runs the engine behind `rill serve` (HTTP on 127.0.0.1:0) and spawns
//! this very test binary three times with `RILL_KCL_CHILD` set, running only
//! `child_worker`: a worker that reaches the stream through `Remote`, appends every record
//! it processes to its own file (flushed before each checkpoint) and shuts down gracefully
//! when its stdin closes.

mod common;

use common::*;
use rill_engine::api::{CreateStreamInput, Kinesis};
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

struct FileRecorder {
    shard: String,
    out: std::fs::File,
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
        if self.out.write_all(buf.as_bytes()).is_ok() {
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
async fn child_worker() -> TestResult {
    if std::env::var_os("RILL_KCL_CHILD").is_none() {
        return Ok(());
    }
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} not set"));
    let endpoint = var("RILL_KCL_ENDPOINT")?;
    let worker = var("RILL_KCL_WORKER")?;
    let out_path = PathBuf::from(var("RILL_KCL_OUT")?);
    let table: Arc<dyn LeaseTable> =
        Arc::new(SqliteLeaseTable::open(var("RILL_KCL_LEASES")?, "app")?);
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
        .polling(polling())
        .processor_factory(move |shard: &str| {
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out_path);
            match out {
                Ok(out) => Box::new(FileRecorder {
                    shard: shard.into(),
                    out,
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

fn spawn_worker(endpoint: &str, leases: &Path, worker: &str, out: &Path) -> TestResult<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(["child_worker", "--exact", "--nocapture", "--test-threads=1"])
        .env("RILL_KCL_CHILD", "1")
        .env("RILL_KCL_ENDPOINT", endpoint)
        .env("RILL_KCL_LEASES", leases)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_one_sigkilled() -> TestResult {
    if std::env::var_os("RILL_KCL_CHILD").is_some() {
        return Ok(());
    }
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
    let leases = dir.path().join("leases.sqlite");
    let table = SqliteLeaseTable::open(&leases, "app")?;
    put(kinesis.as_ref(), 0, 3000).await?;
    let outs: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("w{i}.out")))
        .collect();
    let mut children = Vec::new();
    for (i, out) in outs.iter().enumerate() {
        children.push(spawn_worker(&endpoint, &leases, &format!("w{i}"), out)?);
    }
    wait_until(
        Duration::from_secs(60),
        "2/2/2 and 3000 processed",
        || async {
            let m = owners(&table).await;
            ["w0", "w1", "w2"].iter().all(|w| m.get(*w) == Some(&2))
                && read_all(&outs)
                    .iter()
                    .map(|r| r.3)
                    .collect::<HashSet<_>>()
                    .len()
                    == 3000
        },
    )
    .await?;
    // Kill w2 while records flow.
    let feeder = {
        let k = kinesis.clone();
        tokio::spawn(async move {
            for i in (3000..9000).step_by(500) {
                put(k.as_ref(), i, i + 500).await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
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
    let mut victim = children.pop().ok_or("no child")?;
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
    assert_eq!(at_kill.len(), 2);
    wait_until(Duration::from_secs(30), "w2's leases taken", || async {
        let m = owners(&table).await;
        !m.contains_key("w2")
            && m.get("w0").copied().unwrap_or(0) + m.get("w1").copied().unwrap_or(0) == 6
    })
    .await?;
    let took = killed.elapsed();
    let bound = FAST.failover + FAST.renewal + Duration::from_millis(700);
    assert!(took <= bound, "failover took {took:?}, bound {bound:?}");
    feeder.await??;
    wait_until(Duration::from_secs(60), "9000 processed", || async {
        read_all(&outs)
            .iter()
            .map(|r| r.3)
            .collect::<HashSet<_>>()
            .len()
            == 9000
    })
    .await?;
    for mut c in children {
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
    assert_eq!(data.len(), 9000);
    assert_eq!(seen.len(), 9000);
    let dups: Vec<_> = all
        .iter()
        .filter(|(_, seq, sub, _)| seen.get(&(seq.clone(), *sub)).copied().unwrap_or(0) > 1)
        .collect();
    for (shard, seq, sub, _) in &dups {
        let cp = at_kill
            .get(shard)
            .ok_or("duplicate on a shard the killed worker did not own")?;
        assert!(
            ExtendedSequenceNumber::new(seq.clone(), *sub) > *cp,
            "re-delivered at or below the checkpoint"
        );
    }
    eprintln!(
        "9000 records, {} duplicate deliveries (all above the killed worker's checkpoints), failover {took:?}",
        dups.len() / 2
    );
    Ok(())
}
