//! End-to-end tests of `rill agent run` and `rill generate` (the rill-agent library): an
//! embedded engine served in this process on 127.0.0.1:0 (`rill_engine::server::serve`), the
//! `rill` binary run as a child process with
//! `endpoint = ...`, and the stream read back through the engine while the agent runs.

use rill_engine::api::agg::deaggregate;
use rill_engine::api::{
    CreateStreamInput, GetRecordsInput, GetShardIteratorInput, Kinesis, ListShardsInput,
    ShardIteratorType,
};
use rill_engine::embedded::ThroughputLimits;
use rill_engine::server::{ServerConfig, serve};
use rill_engine::{Engine, EngineConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// An engine served on 127.0.0.1, with a temp dir for files.
struct Harness {
    tmp: tempfile::TempDir,
    engine: Engine,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    async fn start(streams: &[&str]) -> Result<Harness, Box<dyn std::error::Error + Send + Sync>> {
        let tmp = tempfile::tempdir()?;
        let engine = Engine::open(
            tmp.path().join("data"),
            EngineConfig {
                limits: ThroughputLimits::off(),
                ..EngineConfig::default()
            },
        )
        .await?;
        for s in streams {
            engine
                .create_stream(CreateStreamInput {
                    stream_name: (*s).into(),
                    shard_count: Some(2),
                    ..Default::default()
                })
                .await?;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let kinesis: Arc<dyn Kinesis> = Arc::new(engine.clone());
        tokio::spawn(serve(listener, kinesis, ServerConfig::default(), async {
            let _ = rx.await;
        }));
        std::fs::create_dir_all(tmp.path().join("logs"))?;
        Ok(Harness {
            tmp,
            engine,
            url,
            stop: Some(tx),
        })
    }

    fn logs(&self) -> PathBuf {
        self.tmp.path().join("logs")
    }

    fn db(&self) -> PathBuf {
        self.tmp.path().join("checkpoints.sqlite")
    }

    /// Writes a config with one flow over `logs/*.log` and returns its path.
    fn config(&self, stream: &str, extra: &str) -> Result<PathBuf, std::io::Error> {
        let path = self.tmp.path().join(format!("{stream}.toml"));
        let text = format!(
            "endpoint = {:?}\ncheckpoint_db = {:?}\n[[flows]]\nfiles = {:?}\nstream = {stream:?}\n{extra}\n",
            self.url,
            self.db(),
            self.logs().join("*.log"),
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Every user record of the stream: (shard, partition key, data), in shard order.
    async fn read(
        &self,
        stream: &str,
    ) -> Result<Vec<(String, String, String)>, Box<dyn std::error::Error + Send + Sync>> {
        let shards = self
            .engine
            .list_shards(ListShardsInput {
                stream_name: Some(stream.into()),
                ..Default::default()
            })
            .await?
            .shards;
        let mut out = Vec::new();
        for shard in shards {
            let mut iterator = self
                .engine
                .get_shard_iterator(GetShardIteratorInput {
                    stream_name: Some(stream.into()),
                    shard_id: shard.shard_id.clone(),
                    shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                    ..Default::default()
                })
                .await?
                .shard_iterator;
            while let Some(it) = iterator {
                let page = self
                    .engine
                    .get_records(GetRecordsInput {
                        shard_iterator: it,
                        limit: None,
                        stream_arn: None,
                    })
                    .await?;
                if page.records.is_empty() {
                    break;
                }
                for r in page.records {
                    for u in deaggregate(&r.partition_key, None, r.data) {
                        out.push((
                            shard.shard_id.clone(),
                            u.partition_key,
                            String::from_utf8_lossy(&u.data).into_owned(),
                        ));
                    }
                }
                iterator = page.next_shard_iterator;
            }
        }
        Ok(out)
    }

    /// The data of every user record.
    async fn data(
        &self,
        stream: &str,
    ) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.read(stream).await?.into_iter().map(|r| r.2).collect())
    }

    /// Waits until the stream holds at least `n` user records.
    async fn wait_for(
        &self,
        stream: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
        let deadline = Instant::now() + timeout;
        loop {
            let data = self.data(stream).await?;
            if data.len() >= n {
                return Ok(data);
            }
            if Instant::now() > deadline {
                return Err(
                    format!("{stream}: {} of {n} records after {timeout:?}", data.len()).into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The agent as a child process.
struct Agent {
    child: Option<Child>,
}

impl Agent {
    fn start(config: &Path) -> Result<Agent, std::io::Error> {
        let child = Command::new(env!("CARGO_BIN_EXE_rill"))
            .args(["agent", "run", "--config"])
            .arg(config)
            .env("RUST_LOG", "rill_agent=info,warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Agent { child: Some(child) })
    }

    /// SIGTERM, wait, and the JSON summary.
    async fn stop(mut self) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let child = self.child.take().ok_or("no child")?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        assert!(status.success());
        let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        assert!(
            output.status.success(),
            "agent exited with {}",
            output.status
        );
        let text = String::from_utf8(output.stdout)?;
        Ok(serde_json::from_str(text.trim())?)
    }

    /// SIGKILL.
    fn kill(mut self) -> Result<(), std::io::Error> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn append(path: &Path, lines: impl IntoIterator<Item = String>) -> Result<(), std::io::Error> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
}

/// Counts of each value.
fn counts(data: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for d in data {
        *m.entry(d.as_str()).or_insert(0) += 1;
    }
    m
}

fn assert_once(data: &[String], expected: &[String]) {
    let c = counts(data);
    for e in expected {
        assert_eq!(c.get(e.as_str()).copied().unwrap_or(0), 1, "line {e:?}");
    }
    assert_eq!(data.len(), expected.len(), "unexpected extra records");
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_lines_arrive_once_in_order_and_new_files_are_picked_up() -> TestResult {
    let h = Harness::start(&["s"]).await?;
    let config = h.config("s", "partition_key = { json_field = \"k\" }")?;
    let a = h.logs().join("a.log");
    let line = |f: &str, i: usize| format!(r#"{{"k":"k{}","f":"{f}","n":{i}}}"#, i % 5);
    append(&a, (0..100).map(|i| line("a", i)))?;
    let agent = Agent::start(&config)?;
    let mut expected: Vec<String> = (0..100).map(|i| line("a", i)).collect();
    // Appends while the agent runs, one with a partial line completed later.
    for batch in 1..5 {
        let lines: Vec<String> = (batch * 100..batch * 100 + 100)
            .map(|i| line("a", i))
            .collect();
        expected.extend(lines.iter().cloned());
        append(&a, lines)?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&a)?;
        f.write_all(br#"{"k":"k0","f":"a","#)?;
        f.flush()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        f.write_all(b"\"n\":500}\n")?;
        expected.push(line("a", 500));
    }
    // A malformed line for the JSON partition key: counted, sent with a random key.
    append(&a, ["not json".to_string()])?;
    expected.push("not json".into());
    // A new file matching the pattern, and one that does not match.
    let b = h.logs().join("b.log");
    append(&b, (0..100).map(|i| line("b", i)))?;
    expected.extend((0..100).map(|i| line("b", i)));
    append(&h.logs().join("c.txt"), ["ignored".to_string()])?;

    h.wait_for("s", expected.len(), WAIT).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let records = h.read("s").await?;
    let data: Vec<String> = records.iter().map(|r| r.2.clone()).collect();
    assert_once(&data, &expected);
    // File order per partition key: within each (shard, key), "n" increases per file.
    let mut last: HashMap<(String, String), i64> = HashMap::new();
    for (shard, key, d) in &records {
        let Ok(v) = serde_json::from_str::<Value>(d) else {
            continue;
        };
        let (Some(f), Some(n)) = (v["f"].as_str(), v["n"].as_i64()) else {
            continue;
        };
        assert_eq!(v["k"].as_str(), Some(key.as_str()));
        let prev = last.insert((shard.clone(), format!("{key}/{f}")), n);
        assert!(prev.is_none_or(|p| p < n), "{key}/{f}: {prev:?} then {n}");
    }
    let summary = agent.stop().await?;
    assert_eq!(summary["lines_malformed"], 1, "{summary}");
    assert_eq!(summary["records_acked"], expected.len(), "{summary}");
    assert!(
        summary["checkpoints_written"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
    // Checkpoints are at each file's end.
    let conn = rusqlite::Connection::open(h.db())?;
    let mut offsets: Vec<(String, i64)> = conn
        .prepare("SELECT path, offset FROM checkpoints ORDER BY path")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    offsets.sort();
    let want = vec![
        (
            a.to_string_lossy().into_owned(),
            std::fs::metadata(&a)?.len() as i64,
        ),
        (
            b.to_string_lossy().into_owned(),
            std::fs::metadata(&b)?.len() as i64,
        ),
    ];
    assert_eq!(offsets, want);

    // A restart re-sends nothing.
    let agent = Agent::start(&config)?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let summary = agent.stop().await?;
    assert_eq!(summary["records_sent"], 0, "{summary}");
    assert_once(&h.data("s").await?, &expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_delivers_every_line_once() -> TestResult {
    let h = Harness::start(&["s"]).await?;
    let config = h.config("s", "")?;
    let log = h.logs().join("app.log");
    let line = |i: usize| format!("line {i:05} of the rename test");
    append(&log, (0..200).map(line))?;
    let agent = Agent::start(&config)?;
    h.wait_for("s", 200, WAIT).await?;
    // The writer keeps its descriptor across the rename and writes a few more lines.
    let mut old = std::fs::OpenOptions::new().append(true).open(&log)?;
    old.write_all(
        (200..250)
            .map(|i| line(i) + "\n")
            .collect::<String>()
            .as_bytes(),
    )?;
    std::fs::rename(&log, h.logs().join("app.log.1"))?;
    append(&log, (250..400).map(line))?;
    old.write_all(
        (400..420)
            .map(|i| line(i) + "\n")
            .collect::<String>()
            .as_bytes(),
    )?;
    drop(old);
    // A second rotation, once everything of the first is in.
    h.wait_for("s", 420, WAIT).await?;
    std::fs::rename(&log, h.logs().join("app.log.2"))?;
    append(&log, (420..500).map(line))?;

    let expected: Vec<String> = (0..500).map(line).collect();
    h.wait_for("s", expected.len(), WAIT).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_once(&h.data("s").await?, &expected);
    let summary = agent.stop().await?;
    assert_eq!(summary["records_acked"], 500, "{summary}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_truncate_delivers_every_line_once() -> TestResult {
    let h = Harness::start(&["s"]).await?;
    let config = h.config("s", "partition_key = \"line_hash\"")?;
    let log = h.logs().join("app.log");
    let line = |i: usize| format!("line {i:05} of the copy-truncate test");
    append(&log, (0..200).map(line))?;
    let agent = Agent::start(&config)?;
    h.wait_for("s", 200, WAIT).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // logrotate's copytruncate: copy (to a name that does not match), truncate in place.
    std::fs::copy(&log, h.logs().join("app.log.1"))?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)?
        .set_len(0)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    append(&log, (200..300).map(line))?;

    let expected: Vec<String> = (0..300).map(line).collect();
    h.wait_for("s", expected.len(), WAIT).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_once(&h.data("s").await?, &expected);
    let summary = agent.stop().await?;
    assert_eq!(summary["records_acked"], 300, "{summary}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_truncate_regrown_past_the_old_offset_within_one_poll_is_noticed() -> TestResult {
    let h = Harness::start(&["s"]).await?;
    let config = h.config("s", "partition_key = \"line_hash\"")?;
    let log = h.logs().join("app.log");
    let line = |i: usize| format!("line {i:05} of the regrow test");
    append(&log, (0..100).map(line))?;
    let agent = Agent::start(&config)?;
    h.wait_for("s", 100, WAIT).await?;
    // Truncate and at once write more than was there: the size alone no longer tells.
    std::fs::copy(&log, h.logs().join("app.log.1"))?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)?
        .set_len(0)?;
    append(&log, (100..400).map(line))?;

    let expected: Vec<String> = (0..400).map(line).collect();
    h.wait_for("s", expected.len(), WAIT).await?;
    let summary = agent.stop().await?;
    assert_once(&h.data("s").await?, &expected);
    assert_eq!(summary["records_acked"], 400, "{summary}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_lose_nothing_and_resend_only_after_the_checkpoint() -> TestResult {
    let h = Harness::start(&["s"]).await?;
    let config = h.config("s", "")?;
    let log = h.logs().join("app.log");
    const N: usize = 20_000;
    // Fixed-width lines: line i ends at offset (i + 1) * LEN.
    let line = |i: usize| format!("crash-test line {i:08}");
    let len = line(0).len() as u64 + 1;
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || -> Result<(), std::io::Error> {
            for chunk in 0..N / 500 {
                append(&log, (chunk * 500..chunk * 500 + 500).map(line))?;
                std::thread::sleep(Duration::from_millis(25));
            }
            Ok(())
        })
    };
    let agent = Agent::start(&config)?;
    h.wait_for("s", 3000, WAIT).await?;
    agent.kill()?;

    let checkpoint: i64 = rusqlite::Connection::open(h.db())?.query_row(
        "SELECT COALESCE(MAX(offset), 0) FROM checkpoints",
        [],
        |r| r.get(0),
    )?;
    let checkpointed = (checkpoint as u64 / len) as usize;
    assert_eq!(checkpoint as u64 % len, 0, "checkpoint inside a line");
    let at_kill = h.data("s").await?;
    let c = counts(&at_kill);
    assert!(c.values().all(|&n| n == 1), "duplicates before the restart");
    for i in 0..checkpointed {
        assert!(
            c.contains_key(line(i).as_str()),
            "checkpointed line {i} missing"
        );
    }
    // Records in the stream past the checkpoint were either in flight (committed, ack not
    // yet back) or acknowledged in the instant before the kill: the gap the checkpoint
    // writer leaves (figure for the docs, not a pass/fail threshold).
    eprintln!(
        "killed: {} records in the stream, {checkpointed} lines checkpointed, {} past it",
        at_kill.len(),
        at_kill.len().saturating_sub(checkpointed)
    );

    writer.join().map_err(|_| "writer panicked")??;
    let agent = Agent::start(&config)?;
    let expected: Vec<String> = (0..N).map(line).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let data = h.data("s").await?;
        let c = counts(&data);
        if expected.iter().all(|e| c.contains_key(e.as_str())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every line arrived after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let summary = agent.stop().await?;
    let data = h.data("s").await?;
    let c = counts(&data);
    let mut duplicates = 0;
    for (i, e) in expected.iter().enumerate() {
        let n = c.get(e.as_str()).copied().unwrap_or(0);
        assert!(n >= 1, "line {i} lost");
        if i < checkpointed {
            assert_eq!(n, 1, "checkpointed line {i} sent again");
        } else {
            assert!(n <= 2, "line {i} {n} times");
        }
        duplicates += n - 1;
    }
    assert_eq!(data.len(), N + duplicates);
    assert!(duplicates <= N - checkpointed);
    // The restart sent exactly the lines after the checkpoint.
    assert_eq!(summary["records_sent"], N - checkpointed, "{summary}");
    eprintln!(
        "after restart: {duplicates} duplicates (≤ {} after the checkpoint)",
        N - checkpointed
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regex_conversion_makes_json_and_counts_malformed_lines() -> TestResult {
    let h = Harness::start(&["s"]).await?;
    let config = h.config(
        "s",
        r#"conversion = { regex = '^(?P<ip>\S+) (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})(?: (?P<agent>.+))?$' }"#,
    )?;
    append(
        &h.logs().join("access.log"),
        [
            "10.0.0.1 GET /index.html 200".to_string(),
            "garbage line".to_string(),
            r#"10.0.0.2 POST /api/"x" 503 curl/8.0"#.to_string(),
        ],
    )?;
    let agent = Agent::start(&config)?;
    h.wait_for("s", 2, WAIT).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut got: Vec<Value> = h
        .data("s")
        .await?
        .iter()
        .map(|d| serde_json::from_str(d))
        .collect::<Result<_, _>>()?;
    got.sort_by_key(|v| v["ip"].as_str().map(str::to_owned));
    assert_eq!(
        got,
        vec![
            serde_json::json!({"ip": "10.0.0.1", "method": "GET", "path": "/index.html", "status": "200"}),
            serde_json::json!({"ip": "10.0.0.2", "method": "POST", "path": "/api/\"x\"", "status": "503", "agent": "curl/8.0"}),
        ]
    );
    let summary = agent.stop().await?;
    assert_eq!(summary["lines_malformed"], 1, "{summary}");
    assert_eq!(summary["lines_read"], 3, "{summary}");
    // The malformed line is behind the checkpoint too: nothing is re-read.
    let offset: i64 = rusqlite::Connection::open(h.db())?.query_row(
        "SELECT offset FROM checkpoints",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(
        offset as u64,
        std::fs::metadata(h.logs().join("access.log"))?.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_puts_n_records_matching_the_template() -> TestResult {
    let h = Harness::start(&[]).await?;
    let template = r#"{"id":"{{uuid}}","seq":{{seq}},"n":{{int 1 10}},"x":{{float 0 1}},"side":"{{pick "buy" "sell"}}","ts":"{{timestamp}}"}"#;
    let url = h.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rill"))
            .args([
                "generate",
                "--endpoint",
                &url,
                "--stream",
                "gen",
                "--shards",
                "2",
            ])
            .args([
                "--template",
                template,
                "--partition-key",
                "{{int 1 50}}",
                "--records",
                "500",
            ])
            .stderr(Stdio::inherit())
            .output()
    })
    .await??;
    assert!(output.status.success());
    let summary: Value = serde_json::from_str(String::from_utf8(output.stdout)?.trim())?;
    assert_eq!(summary["acked"], 500, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let records = h.read("gen").await?;
    assert_eq!(records.len(), 500);
    let mut seqs = Vec::new();
    for (_, key, d) in &records {
        let v: Value = serde_json::from_str(d)?;
        let k: u64 = key.parse()?;
        assert!((1..=50).contains(&k));
        assert_eq!(v["id"].as_str().map(str::len), Some(36), "{d}");
        assert!(
            v["n"].as_u64().is_some_and(|n| (1..=10).contains(&n)),
            "{d}"
        );
        assert!(
            v["x"].as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)),
            "{d}"
        );
        assert!(matches!(v["side"].as_str(), Some("buy" | "sell")), "{d}");
        assert!(
            v["ts"]
                .as_str()
                .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
            "{d}"
        );
        seqs.push(v["seq"].as_u64().ok_or("seq")?);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..500).collect::<Vec<_>>());
    Ok(())
}
