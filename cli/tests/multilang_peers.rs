//! `rill multilang` driving record processors nobody here wrote, against `rill serve` (AWS
//! limits on) with leases on dynalite: amazon_kclpy's own sample application
//! (`samples/sample_kclpy_app.py` of the PyPI sdist, unmodified) and a processor on the npm
//! `aws-kcl` library (`tests/peers/multilang_node.js`). Both must see every record once per
//! shard, in order, parents before children across a split; the parent is checkpointed at
//! its end (the children are only read after that), and SIGTERM makes every child
//! checkpoint (shutdownRequested) before `rill multilang` exits 0.
//!
//! The peers come from `scripts/peers` (`RILL_PEERS_PYTHON`, `RILL_PEERS_KCLPY`,
//! `RILL_PEERS_NODE_DIR`, `RILL_PEERS_DYNALITE` in `.peers/env`).

mod common;

use common::dynalite::Dynalite;
use common::*;
use rill_engine::api::{
    HashKeyRange, Kinesis, PutRecordsInput, PutRecordsRequestEntry, SplitShardInput,
};
use rill_kcl::sequence::compare_sequence_numbers;
use rill_kcl::{DynamoLeaseTable, LeaseTable};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn peer(name: &str) -> TestResult<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
        format!("{name} is not set: run `scripts/peers && set -a && . .peers/env && set +a` (scripts/test does both)").into()
    })
}

/// A running `rill multilang`, killed by PID when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One delivery: partition key, and the shard when the processor tells it.
type Deliveries = Vec<(String, Option<String>)>;

struct Case {
    app: &'static str,
    executable: String,
    env: Vec<(String, String)>,
    /// Where the daemon's stderr goes (children's stderr passes through to it).
    stderr: PathBuf,
    /// Reads what was delivered so far, in order.
    delivered: Box<dyn Fn() -> Deliveries>,
    /// Whether the split parent's processor saw shardEnded and checkpointed.
    shard_ended: Box<dyn Fn() -> bool>,
    /// Whether every child processor saw shutdownRequested (and checkpointed).
    shut_down: Box<dyn Fn() -> bool>,
}

async fn put(
    k: &dyn Kinesis,
    from: u32,
    to: u32,
    acks: &mut HashMap<String, (String, String)>,
) -> TestResult {
    let out = k
        .put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: (from..to)
                .map(|i| PutRecordsRequestEntry {
                    data: format!("rec-{i}").into(),
                    partition_key: format!("pk-{i}"),
                    explicit_hash_key: None,
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.failed_record_count, 0);
    for (i, r) in (from..to).zip(out.records) {
        acks.insert(
            format!("pk-{i}"),
            (
                r.shard_id.unwrap_or_default(),
                r.sequence_number.unwrap_or_default(),
            ),
        );
    }
    Ok(())
}

async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn run_case(dir: &Path, case: Case) -> TestResult {
    let dynalite = Dynalite::start()?;
    let served = serve(&dir.join("data"), &[])?;
    let e = served.endpoint.clone();
    rill_ok(&["stream", "create", "s", "--shards", "2", "--endpoint", &e])?;
    let k = rill_engine::Remote::from_endpoint(&e);
    let mut acks = HashMap::new();
    put(&k, 0, 100, &mut acks).await?;

    let props = dir.join("app.properties");
    std::fs::write(
        &props,
        format!(
            "# written by multilang_peers.rs\n\
             executableName = {exe}\n\
             streamName = s\n\
             applicationName = {app}\n\
             initialPositionInStream = TRIM_HORIZON\n\
             regionName = us-east-1\n\
             kinesisEndpoint = {e}\n\
             dynamoDBEndpoint = {ddb}\n\
             failoverTimeMillis = 3000\n\
             shardSyncIntervalMillis = 1000\n\
             idleTimeBetweenReadsInMillis = 100\n\
             AwsCredentialsProvider = DefaultCredentialsProvider\n\
             processingLanguage = test\n",
            exe = case.executable,
            app = case.app,
            ddb = dynalite.endpoint,
        ),
    )?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
    cmd.args(["multilang", "--properties"])
        .arg(&props)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&case.stderr)?);
    for (key, v) in &case.env {
        cmd.env(key, v);
    }
    let mut daemon = Daemon(cmd.spawn()?);
    let stderr = || std::fs::read_to_string(&case.stderr).unwrap_or_default();

    wait_for("100 records", 60, || (case.delivered)().len() >= 100)
        .await
        .map_err(|e| format!("{e}\n{}", stderr()))?;
    let r = HashKeyRange::split_evenly(2)[0];
    k.split_shard(SplitShardInput {
        stream_name: Some("s".into()),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (r.start.0 + (r.end.0 - r.start.0) / 2 + 1).to_string(),
        ..Default::default()
    })
    .await?;
    put(&k, 100, 200, &mut acks).await?;
    wait_for("200 records and the parent's shard end", 60, || {
        (case.delivered)().len() >= 200 && (case.shard_ended)()
    })
    .await
    .map_err(|e| format!("{e}\n{}", stderr()))?;

    let pid = libc::pid_t::try_from(daemon.0.id())?;
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on the PID of the child this test started and has not reaped.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = daemon.0.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            return Err(format!("rill multilang did not stop on SIGTERM\n{}", stderr()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}\n{}", stderr());
    assert!(
        (case.shut_down)(),
        "every child was asked to shut down and checkpointed\n{}",
        stderr()
    );

    // Once per record, in order per shard, the parent before its children.
    let delivered = (case.delivered)();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (pk, _) in &delivered {
        *count.entry(pk.as_str()).or_default() += 1;
    }
    assert_eq!(count.len(), 200, "distinct records");
    assert!(count.values().all(|&n| n == 1), "a record delivered twice");
    let mut last_in_shard: HashMap<&str, &str> = HashMap::new();
    let mut child_started = false;
    for (pk, shard_told) in &delivered {
        let (shard, seq) = acks.get(pk).ok_or_else(|| format!("unknown record {pk}"))?;
        if let Some(told) = shard_told {
            assert_eq!(told, shard, "{pk} delivered for the wrong shard");
        }
        if let Some(prev) = last_in_shard.insert(shard, seq) {
            assert_eq!(
                compare_sequence_numbers(prev, seq),
                Ordering::Less,
                "{shard}: out of order at {pk}"
            );
        }
        if shard != "shardId-000000000000" && shard != "shardId-000000000001" {
            child_started = true;
        } else if shard == "shardId-000000000000" {
            assert!(!child_started, "parent record {pk} after a child's");
        }
    }
    assert!(child_started, "the split's children were processed");
    // The lease table: each open shard checkpointed at its last record, released.
    let table = DynamoLeaseTable::from_endpoint(&dynalite.endpoint, case.app)?;
    for lease in table.list_leases().await? {
        if lease.is_shard_end() {
            continue;
        }
        let shard = lease.lease_key.as_str();
        if let Some(last) = last_in_shard.get(shard) {
            assert_eq!(
                lease.checkpoint().sequence_number,
                *last,
                "{shard}: checkpoint at its last record"
            );
            assert_eq!(lease.lease_owner, None, "{shard}: lease released");
        }
    }
    drop(served);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs amazon_kclpy: run scripts/test"]
async fn kclpy_sample_app_under_rill_multilang() -> TestResult {
    let python = peer("RILL_PEERS_PYTHON")?;
    let kclpy = peer("RILL_PEERS_KCLPY")?;
    peer("RILL_PEERS_DYNALITE")?;
    let dir = tempfile::tempdir()?;
    let sample = Path::new(&kclpy).join("samples/sample_kclpy_app.py");
    let stderr = dir.path().join("stderr");
    let log = stderr.clone();
    let text = move || std::fs::read_to_string(&log).unwrap_or_default();
    let t1 = text.clone();
    let t2 = text.clone();
    let case = Case {
        app: "KclpySample",
        executable: format!("{python} {}", sample.display()),
        env: vec![
            ("PYTHONPATH".into(), kclpy.clone()),
            // One write per message, so children's lines do not interleave.
            ("PYTHONUNBUFFERED".into(), "1".into()),
        ],
        stderr,
        delivered: Box::new(move || {
            // The sample logs "Record (Partition Key: K, Sequence Number: S, ..." per record.
            text()
                .split("Record (Partition Key: ")
                .skip(1)
                .filter_map(|s| s.split(',').next().map(|k| (k.to_string(), None)))
                .collect()
        }),
        shard_ended: Box::new(move || t1().contains("Shard has ended checkpointing")),
        shut_down: Box::new(move || {
            t2().matches("Shutdown has been requested, checkpointing.")
                .count()
                >= 3
        }),
    };
    run_case(dir.path(), case).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs aws-kcl: run scripts/test"]
async fn aws_kcl_node_processor_under_rill_multilang() -> TestResult {
    let node_dir = peer("RILL_PEERS_NODE_DIR")?;
    peer("RILL_PEERS_DYNALITE")?;
    let dir = tempfile::tempdir()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/multilang_node.js");
    let out = dir.path().join("events.jsonl");
    let events = {
        let out = out.clone();
        move || -> Vec<serde_json::Value> {
            std::fs::read_to_string(&out)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        }
    };
    let (e1, e2, e3) = (events.clone(), events.clone(), events.clone());
    let case = Case {
        app: "NodeSample",
        executable: format!("node {}", script.display()),
        env: vec![
            ("NODE_PATH".into(), format!("{node_dir}/node_modules")),
            ("ML_OUT".into(), out.to_string_lossy().into_owned()),
        ],
        stderr: dir.path().join("stderr"),
        delivered: Box::new(move || {
            e1().into_iter()
                .filter(|v| v["event"] == "record")
                .map(|v| {
                    assert_eq!(
                        v["data"].as_str().map(|d| d.replace("rec-", "pk-")),
                        v["partitionKey"].as_str().map(String::from)
                    );
                    (
                        v["partitionKey"].as_str().unwrap_or_default().to_string(),
                        v["shardId"].as_str().map(String::from),
                    )
                })
                .collect()
        }),
        shard_ended: Box::new(move || {
            e2().iter().any(|v| {
                v["event"] == "shardEnded"
                    && v["shardId"] == "shardId-000000000000"
                    && v["error"].is_null()
            })
        }),
        shut_down: Box::new(move || {
            let ev = e3();
            assert!(
                ev.iter()
                    .filter(|v| v["event"] == "checkpoint")
                    .all(|v| v["error"].is_null()),
                "a checkpoint failed: {ev:?}"
            );
            ev.iter()
                .filter(|v| v["event"] == "shutdownRequested" && v["error"].is_null())
                .count()
                >= 3
        }),
    };
    run_case(dir.path(), case).await
}
