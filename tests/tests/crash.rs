//! Crash test: a child process writes through the embedded engine with the default fsync
//! policy and is killed with SIGKILL at a random moment, over and over. After each kill the
//! engine is reopened here and every record the child saw acknowledged must be read back in
//! its shard, with its sequence number, in order, exactly once.

use rand::Rng;
use rill_engine::api::*;
use rill_engine::{Engine, EngineConfig};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const ROUNDS: usize = 20;
const STREAM: &str = "crash";

/// (shard id, sequence number) of each acknowledged payload.
type Acks = HashMap<String, (String, String)>;

fn run_child_until_killed(dir: &std::path::Path, run: usize, kill_after: usize, acks: &mut Acks) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(dir)
        .arg(STREAM)
        .arg(run.to_string())
        .arg("8")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start crash_writer");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = 0;
    let mut killed = false;
    // Read acknowledgements; after `kill_after` of them, SIGKILL the child mid-flight, then
    // take whatever it printed before it died.
    while let Some(Ok(line)) = lines.next() {
        let mut parts = line.splitn(4, ' ');
        if let (Some("ACK"), Some(shard), Some(seq), Some(payload)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            let prev = acks.insert(payload.to_string(), (shard.to_string(), seq.to_string()));
            assert!(prev.is_none(), "payload {payload} acknowledged twice");
            seen += 1;
        }
        if seen >= kill_after && !killed {
            child.kill().expect("SIGKILL the child");
            killed = true;
        }
    }
    let status = child.wait().expect("reap the child");
    assert!(killed, "child exited on its own: {status}");
}

async fn verify(dir: &std::path::Path, acks: &Acks) -> Result<usize, Box<dyn std::error::Error>> {
    let engine = Engine::open(
        dir,
        EngineConfig {
            // The test is about durability, not throttling.
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..EngineConfig::default()
        },
    )
    .await?;
    let shards = engine
        .list_shards(ListShardsInput {
            stream_name: Some(STREAM.into()),
            ..Default::default()
        })
        .await?
        .shards;
    let mut found: HashMap<String, (String, String)> = HashMap::new();
    for shard in shards {
        let mut it = engine
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some(STREAM.into()),
                shard_id: shard.shard_id.clone(),
                shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                ..Default::default()
            })
            .await?
            .shard_iterator;
        let mut last_seq: Option<String> = None;
        let mut last_counter: HashMap<String, u64> = HashMap::new();
        while let Some(i) = it {
            let page = engine
                .get_records(GetRecordsInput {
                    shard_iterator: i,
                    limit: Some(1000),
                    ..Default::default()
                })
                .await?;
            if page.records.is_empty() {
                break;
            }
            for r in page.records {
                // Sequence numbers have a fixed width, so string order is numeric order.
                if let Some(prev) = &last_seq {
                    assert!(
                        r.sequence_number > *prev,
                        "sequence numbers increase in a shard"
                    );
                }
                last_seq = Some(r.sequence_number.clone());
                let payload = String::from_utf8(r.data.to_vec())?;
                // r<run>:t<task>:<counter>: within one writer task, counters increase.
                let (writer, counter) = payload.rsplit_once(':').ok_or("bad payload")?;
                let counter: u64 = counter.parse()?;
                if let Some(prev) = last_counter.insert(writer.to_string(), counter) {
                    assert!(
                        counter > prev,
                        "{writer}: {counter} after {prev}: out of order"
                    );
                }
                let prev =
                    found.insert(payload.clone(), (shard.shard_id.clone(), r.sequence_number));
                assert!(prev.is_none(), "{payload} stored twice");
            }
            it = page.next_shard_iterator;
        }
    }
    for (payload, at) in acks {
        assert_eq!(
            found.get(payload),
            Some(at),
            "acknowledged {payload} lost or moved"
        );
    }
    engine.close().await?;
    Ok(found.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut acks = Acks::new();
    let mut rng = rand::rng();
    for run in 0..ROUNDS {
        let kill_after = rng.random_range(1..2000);
        let d = dir.path().to_path_buf();
        let mut a = std::mem::take(&mut acks);
        acks = tokio::task::spawn_blocking(move || {
            run_child_until_killed(&d, run, kill_after, &mut a);
            a
        })
        .await?;
        let stored = verify(dir.path(), &acks).await?;
        assert!(stored >= acks.len());
        eprintln!(
            "round {run}: killed after {kill_after} acks; {} acknowledged, {stored} stored",
            acks.len()
        );
    }
    Ok(())
}
