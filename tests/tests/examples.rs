//! Smoke tests of the examples in `examples/examples/`: the built example binaries run as
//! child processes and their one-line JSON summaries are checked.
//!
//! The binaries are built first (`cargo build -p rill-examples --examples`, once per test
//! process, in this test binary's profile) and found in `target/<profile>/examples/`.
//! `remote` needs AWS (or a DynamoDB endpoint) and is only built.

use rill_engine::server::{ServerConfig, serve};
use rill_engine::{Engine, EngineConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};

/// `target/<profile>/examples`, with every example built.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This binary is target/<profile>/deps/examples-<hash>.
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(workspace)
            .args(["build", "-p", "rill-examples", "--examples"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build --examples failed: {status}");
        profile_dir.join("examples")
    })
}

fn example(name: &str) -> Command {
    let path = examples_dir().join(name);
    assert!(path.exists(), "{} not built", path.display());
    let mut cmd = Command::new(path);
    cmd.stderr(Stdio::inherit());
    cmd
}

/// Runs the command, requires success, and returns its stdout's JSON lines.
fn json_lines(cmd: &mut Command) -> Vec<Value> {
    let Output { status, stdout, .. } = cmd.output().expect("run example");
    let text = String::from_utf8_lossy(&stdout);
    assert!(
        status.success(),
        "{cmd:?} failed ({status}); stdout:\n{text}"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn one_json(cmd: &mut Command) -> Value {
    let mut lines = json_lines(cmd);
    assert_eq!(lines.len(), 1, "one JSON line expected: {lines:?}");
    lines.remove(0)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn produce_then_consume_on_a_data_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let leases = format!("sqlite:{}", path(&tmp.path().join("leases.sqlite")));

    let produced = one_json(example("produce").args([
        "--data-dir",
        path(&data),
        "--stream",
        "s",
        "--create-shards",
        "4",
        "--records",
        "3000",
        "--size",
        "200",
    ]));
    assert_eq!(produced["records"], 3000, "{produced}");
    assert_eq!(produced["acked"], 3000, "{produced}");
    assert_eq!(produced["failed"], 0, "{produced}");
    assert!(produced["records_per_s"].as_f64().is_some_and(|r| r > 0.0));

    // A second, unaggregated batch into the same stream.
    let produced = one_json(example("produce").args([
        "--data-dir",
        path(&data),
        "--stream",
        "s",
        "--records",
        "500",
        "--no-aggregation",
        "--rate",
        "5000",
    ]));
    assert_eq!(produced["acked"], 500, "{produced}");

    let consumer = |extra: &[&str]| {
        let mut cmd = example("consume");
        cmd.args(["--data-dir", path(&data), "--stream", "s", "--app", "smoke"])
            .args(["--leases", &leases, "--worker-id", "w1"])
            .args(extra);
        one_json(&mut cmd)
    };
    let consumed = consumer(&["--expect", "3500", "--timeout", "30"]);
    assert_eq!(consumed["distinct"], 3500, "{consumed}");
    assert_eq!(consumed["duplicates"], 0, "{consumed}");
    assert_eq!(consumed["records"], 3500, "{consumed}");
    assert_eq!(consumed["shards"], 4, "{consumed}");

    // Everything was checkpointed: the same application resumes after it and sees nothing.
    let again = consumer(&["--timeout", "2"]);
    assert_eq!(again["records"], 0, "{again}");
    assert_eq!(again["shards"], 4, "{again}");
}

#[test]
fn produce_and_consume_with_fan_out_through_a_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = rt
        .block_on(Engine::open(
            tmp.path().join("engine"),
            EngineConfig::default(),
        ))
        .expect("engine");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(
        listener,
        Arc::new(engine.clone()),
        ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));

    let produced = one_json(example("produce").args([
        "--endpoint",
        &endpoint,
        "--stream",
        "efo",
        "--create-shards",
        "2",
        "--records",
        "1000",
    ]));
    assert_eq!(produced["acked"], 1000, "{produced}");

    // The consumer subscribes while more records arrive.
    let leases = format!("sqlite:{}", path(&tmp.path().join("leases.sqlite")));
    let consumer = example("consume")
        .args(["--endpoint", &endpoint, "--stream", "efo", "--app", "efo"])
        .args(["--leases", &leases, "--efo", "--expect", "2000"])
        .args(["--timeout", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start consume");
    let more = one_json(example("produce").args([
        "--endpoint",
        &endpoint,
        "--stream",
        "efo",
        "--records",
        "1000",
        "--rate",
        "1000",
    ]));
    assert_eq!(more["acked"], 1000, "{more}");
    let out = consumer.wait_with_output().expect("consume");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "consume failed: {text}");
    let consumed: Value = serde_json::from_str(text.trim()).expect("JSON summary");
    assert_eq!(consumed["distinct"], 2000, "{consumed}");
    assert_eq!(consumed["shards"], 2, "{consumed}");

    let _ = stop.send(());
    rt.block_on(server).expect("server task").expect("server");
    rt.block_on(engine.close()).expect("close");
}

#[test]
fn stock_trades_writer_and_processor() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("trades");
    let written = one_json(example("stock_trades_writer").args([
        "--data-dir",
        path(&data),
        "--records",
        "400",
        "--rate",
        "0",
    ]));
    assert_eq!(written["acked"], 400, "{written}");
    assert_eq!(written["failed"], 0, "{written}");

    let lines = json_lines(example("stock_trades_processor").args([
        "--data-dir",
        path(&data),
        "--expect",
        "400",
        "--window",
        "1",
        "--timeout",
        "30",
    ]));
    let (summary, windows) = lines.split_last().expect("output");
    assert_eq!(summary["summary"]["distinct"], 400, "{summary}");
    assert_eq!(summary["summary"]["trades"], 400, "{summary}");
    assert!(!windows.is_empty(), "no window report");
    let trades: u64 = windows.iter().filter_map(|w| w["trades"].as_u64()).sum();
    assert_eq!(trades, 400, "{windows:?}");
    let busiest = windows
        .iter()
        .max_by_key(|w| w["trades"].as_u64())
        .expect("a window");
    assert!(
        busiest["most_popular_buy"]["ticker"].is_string(),
        "{busiest}"
    );
    assert!(
        busiest["largest_trade"]["value"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    );
}

#[test]
fn fleet_of_three_workers_with_kills() {
    let report = one_json(example("fleet").args([
        "--workers",
        "3",
        "--records",
        "15000",
        "--kills",
        "2",
        "--timeout",
        "60",
    ]));
    let produced = report["produced"].as_u64().expect("produced");
    assert_eq!(produced, 15000, "{report}");
    assert_eq!(report["total"]["distinct"], produced, "{report}");
    let workers = report["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 5, "3 workers and 2 replacements: {report}");
    assert_eq!(
        workers.iter().filter(|w| w["killed"] == true).count(),
        2,
        "{report}"
    );
    for w in workers.iter().filter(|w| w["killed"] == false) {
        assert_eq!(w["summary"]["records"], w["logged_records"], "{w}");
    }
}

#[test]
fn quickstart_producer_and_fleet_with_a_failure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = example("quickstart")
        .args(["--records", "20000", "--data-dir", path(tmp.path())])
        .output()
        .expect("run quickstart");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quickstart failed ({}):\n{text}",
        out.status
    );
    let summary: Value = text
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .map(|j| serde_json::from_str(j).expect("summary is JSON"))
        .unwrap_or_else(|| panic!("no summary line:\n{text}"));
    assert_eq!(summary["records"], 20000);
    assert_eq!(summary["acked"], 20000, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["processed_distinct"], 20000, "{summary}");
    assert!(
        summary["rebalance_seconds"].as_f64().is_some(),
        "the survivors took every shard: {summary}"
    );
}
