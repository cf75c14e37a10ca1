//! `rill put` through the producer and `rill tail` against `rill serve` with AWS's limits
//! on: the issue's `seq 1 50000 | rill put STREAM` into 2 shards exits 0 and every line is
//! read back; bad lines are named; `tail --follow` follows the children of a split shard
//! after their parent.

mod common;

use common::*;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pipes `input` into `rill put ARGS`; returns (success, stderr, seconds).
fn put_stdin(args: &[&str], input: String) -> TestResult<(bool, String, f64)> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .arg("put")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| "writer panicked")??;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    ))
}

#[test]
fn seq_50000_put_into_two_shards_with_aws_limits_reads_back_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let served = serve(&dir.path().join("data"), &[])?;
    let e = served.endpoint.as_str();
    rill_ok(&["stream", "create", "s", "--shards", "2", "--endpoint", e])?;
    let input: String = (1..=50_000).map(|i| format!("{i}\n")).collect();
    let (ok, stderr, secs) = put_stdin(&["s", "--endpoint", e], input)?;
    assert!(ok, "rill put failed: {stderr}");
    assert!(
        stderr.contains("50000 lines, 50000 acked, 0 failed"),
        "summary: {stderr}"
    );
    eprintln!(
        "rill put: 50,000 lines in {secs:.2} s (summary: {})",
        stderr.trim()
    );
    let out = rill_ok(&["tail", "s", "--endpoint", e])?;
    let records = tail_records(&out);
    let data: BTreeSet<u32> = records.iter().filter_map(|(_, d)| d.parse().ok()).collect();
    assert_eq!(records.len(), 50_000, "each line once");
    assert_eq!(data, (1..=50_000).collect::<BTreeSet<u32>>());
    let shards: BTreeSet<&str> = records.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(shards.len(), 2, "random keys spread over both shards");
    Ok(())
}

#[test]
fn put_names_bad_lines_and_keys_by_field() -> TestResult {
    let dir = tempfile::tempdir()?;
    let served = serve(&dir.path().join("data"), &[])?;
    let e = served.endpoint.as_str();
    rill_ok(&["stream", "create", "j", "--shards", "1", "--endpoint", e])?;
    let input = "{\"user\":\"ann\",\"n\":1}\nnot json\n{\"user\":\"bob\",\"n\":2}\n{\"n\":3}\n";
    let (ok, stderr, _) = put_stdin(&["j", "--key-field", "user", "--endpoint", e], input.into())?;
    assert!(!ok, "failed lines make the exit status non-zero");
    assert!(
        stderr.contains("line 2 failed: not a JSON object"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4 failed: no string"), "{stderr}");
    assert!(stderr.contains("4 lines, 2 acked, 2 failed"), "{stderr}");
    let out = rill_ok(&["tail", "j", "--endpoint", e])?;
    assert!(out.contains(" ann: {\"user\":\"ann\",\"n\":1}"), "{out}");
    assert!(out.contains(" bob: {\"user\":\"bob\",\"n\":2}"), "{out}");
    assert_eq!(tail_records(&out).len(), 2, "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follow_reads_children_after_their_parent() -> TestResult {
    use rill_engine::api::{HashKeyRange, Kinesis, SplitShardInput};
    let dir = tempfile::tempdir()?;
    let served = serve(&dir.path().join("data"), &["--limits", "off"])?;
    let e = served.endpoint.clone();
    rill_ok(&["stream", "create", "f", "--shards", "1", "--endpoint", &e])?;
    let put = |from: u32, to: u32| {
        let input: String = (from..to).map(|i| format!("{i}\n")).collect();
        put_stdin(
            &["f", "--partition-key", "one-key", "--endpoint", &e],
            input,
        )
    };
    assert!(put(0, 300)?.0);
    let mut tail = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["tail", "f", "--follow", "--endpoint", &e])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = tail.stdout.take().ok_or("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let k = rill_engine::Remote::from_endpoint(&e);
    let r = HashKeyRange::split_evenly(1)[0];
    k.split_shard(SplitShardInput {
        stream_name: Some("f".into()),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (r.start.0 + (r.end.0 - r.start.0) / 2).to_string(),
        ..Default::default()
    })
    .await?;
    let (ok, stderr, _) = put(300, 600)?;
    assert!(ok, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while lines.len() < 600 && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    let _ = tail.kill();
    let _ = tail.wait();
    let text = lines.join("\n");
    let records = tail_records(&text);
    let data: Vec<u32> = records.iter().filter_map(|(_, d)| d.parse().ok()).collect();
    assert_eq!(
        data,
        (0..600).collect::<Vec<u32>>(),
        "one key: in order across the split"
    );
    let shards: HashMap<&str, usize> = records.iter().fold(HashMap::new(), |mut m, (s, _)| {
        *m.entry(s.as_str()).or_default() += 1;
        m
    });
    assert_eq!(shards.get("shardId-000000000000"), Some(&300), "{shards:?}");
    assert_eq!(
        shards.len(),
        2,
        "one child got the key's records: {shards:?}"
    );
    Ok(())
}
