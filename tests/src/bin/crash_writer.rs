//! A child process for the crash test: writes through the embedded engine (default fsync
//! policy) from several tasks until it is killed, and prints one line per acknowledged record:
//!
//! ```text
//! ACK <shard id> <sequence number> <payload>
//! ```
//!
//! Usage: `crash_writer <data dir> <stream> <run id> <tasks>`. Payloads are
//! `r<run>:t<task>:<counter>` and every task uses its own partition key, so each task's
//! records go to one shard in counter order.

use rill_engine::api::*;
use rill_engine::{Engine, EngineConfig};
use std::io::Write;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, stream, run, tasks] = args.as_slice() else {
        return Err("usage: crash_writer <data dir> <stream> <run id> <tasks>".into());
    };
    let tasks: usize = tasks.parse()?;
    let engine = Engine::open(
        dir,
        EngineConfig {
            // The test is about durability, not throttling.
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..EngineConfig::default()
        },
    )
    .await?;
    match engine
        .create_stream(CreateStreamInput {
            stream_name: stream.clone(),
            shard_count: Some(4),
            ..Default::default()
        })
        .await
    {
        Ok(()) | Err(Error::ResourceInUse(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let engine = engine.clone();
        let (stream, run, out) = (stream.clone(), run.clone(), Arc::clone(&out));
        handles.push(tokio::spawn(async move {
            let mut counter = 0u64;
            loop {
                // Alternate single puts and batches, so both paths are crashed into.
                let n = if counter.is_multiple_of(3) {
                    1
                } else {
                    1 + (counter % 17) as usize
                };
                let payloads: Vec<String> = (0..n)
                    .map(|k| format!("r{run}:t{t}:{}", counter + k as u64))
                    .collect();
                counter += n as u64;
                let acks: Vec<(String, String)> = if n == 1 {
                    let r = engine
                        .put_record(PutRecordInput {
                            stream_name: Some(stream.clone()),
                            partition_key: format!("task-{t}"),
                            data: payloads[0].clone().into(),
                            ..Default::default()
                        })
                        .await?;
                    vec![(r.shard_id, r.sequence_number)]
                } else {
                    let r = engine
                        .put_records(PutRecordsInput {
                            stream_name: Some(stream.clone()),
                            records: payloads
                                .iter()
                                .map(|p| PutRecordsRequestEntry {
                                    data: p.clone().into(),
                                    partition_key: format!("task-{t}"),
                                    explicit_hash_key: None,
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .await?;
                    if r.failed_record_count != 0 {
                        return Err(Error::Other {
                            code: "Failed".into(),
                            message: format!("{} entries failed", r.failed_record_count),
                        });
                    }
                    r.records
                        .into_iter()
                        .map(|e| {
                            (
                                e.shard_id.unwrap_or_default(),
                                e.sequence_number.unwrap_or_default(),
                            )
                        })
                        .collect()
                };
                let mut o = out.lock().map_err(|_| Error::Other {
                    code: "Poisoned".into(),
                    message: "stdout lock".into(),
                })?;
                for ((shard, seq), p) in acks.iter().zip(&payloads) {
                    let _ = writeln!(o, "ACK {shard} {seq} {p}");
                }
                let _ = o.flush();
            }
            #[allow(unreachable_code)]
            Ok::<(), Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(())
}
