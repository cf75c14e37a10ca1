//! Quickstart: the embedded engine end to end.
//!
//! Opens the engine on a data directory (a fresh temporary one, or `--data-dir DIR` to keep
//! it), creates a stream of 4 shards, writes 200,000 records of 100 bytes with PutRecords from
//! 8 concurrent writers, reads every record back from every shard with GetRecords, checks that
//! each came back exactly once, and prints what it did.
//!
//! Delivery guarantee shown here: every record the engine acknowledged is read back, once,
//! in its shard's order, and (with the default fsync policy) was on disk before it was
//! acknowledged.
//!
//! Run: `cargo run --release --example quickstart [-- --data-dir DIR] [--records N]`

use rill_engine::api::*;
use rill_engine::{Engine, EngineConfig};
use std::collections::HashSet;
use std::time::Instant;

const STREAM: &str = "quickstart";
const WRITERS: usize = 8;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let records: usize = arg("--records").map_or(Ok(200_000), |s| s.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = arg("--data-dir").map_or_else(|| temp.path().to_path_buf(), Into::into);

    let engine = Engine::open(
        &dir,
        EngineConfig {
            // Writes here go as fast as the machine allows; AWS's per-shard limits (on by
            // default) would refuse most of them. The producer (rill-kpl) paces itself.
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..EngineConfig::default()
        },
    )
    .await?;
    println!(
        "engine opened on {} (fsync: every commit, group commit)",
        dir.display()
    );
    match engine
        .create_stream(CreateStreamInput {
            stream_name: STREAM.into(),
            shard_count: Some(4),
            ..Default::default()
        })
        .await
    {
        Ok(()) => println!("created stream {STREAM} with 4 shards"),
        Err(Error::ResourceInUse(_)) => println!("stream {STREAM} exists; appending to it"),
        Err(e) => return Err(e.into()),
    }

    // Write: WRITERS tasks, each sending PutRecords of up to 500 records.
    let started = Instant::now();
    let per_writer = records.div_ceil(WRITERS);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let engine = engine.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while i < per_writer {
                let n = (per_writer - i).min(500);
                let entries = (i..i + n)
                    .map(|k| PutRecordsRequestEntry {
                        data: format!("writer-{w} record-{k:08} {}", "x".repeat(60)).into(),
                        partition_key: format!("user-{}", (w * per_writer + k) % 1000),
                        explicit_hash_key: None,
                    })
                    .collect();
                let out = engine
                    .put_records(PutRecordsInput {
                        stream_name: Some(STREAM.into()),
                        records: entries,
                        ..Default::default()
                    })
                    .await?;
                if out.failed_record_count > 0 {
                    return Err(format!("{} records failed", out.failed_record_count).into());
                }
                acked.extend(out.records.into_iter().filter_map(|r| r.sequence_number));
                i += n;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(acked)
        }));
    }
    let mut acked = HashSet::new();
    for w in writers {
        acked.extend(w.await?.map_err(|e| e.to_string())?);
    }
    let write_s = started.elapsed().as_secs_f64();
    println!(
        "wrote {} records in {write_s:.2} s ({:.0} records/s), each acknowledged after fsync",
        acked.len(),
        acked.len() as f64 / write_s
    );

    // Read: every shard from its oldest record to its newest.
    let started = Instant::now();
    let shards = engine
        .list_shards(ListShardsInput {
            stream_name: Some(STREAM.into()),
            ..Default::default()
        })
        .await?
        .shards;
    let mut seen = HashSet::new();
    for shard in &shards {
        let mut count = 0usize;
        let mut it = engine
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some(STREAM.into()),
                shard_id: shard.shard_id.clone(),
                shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                ..Default::default()
            })
            .await?
            .shard_iterator;
        while let Some(iterator) = it {
            let page = engine
                .get_records(GetRecordsInput {
                    shard_iterator: iterator,
                    ..Default::default()
                })
                .await?;
            if page.records.is_empty() && page.millis_behind_latest == Some(0) {
                break;
            }
            for r in page.records {
                if !seen.insert(r.sequence_number.clone()) {
                    return Err(format!("record {} read twice", r.sequence_number).into());
                }
                count += 1;
            }
            it = page.next_shard_iterator;
        }
        println!("  {}: {count} records", shard.shard_id);
    }
    let read_s = started.elapsed().as_secs_f64();
    let missing = acked.difference(&seen).count();
    println!(
        "read {} records in {read_s:.2} s ({:.0} records/s); acknowledged but missing: {missing}",
        seen.len(),
        seen.len() as f64 / read_s
    );
    engine.close().await?;
    if missing > 0 {
        return Err(format!("{missing} acknowledged records were not read back").into());
    }
    println!("ok: every acknowledged record was read back exactly once");
    Ok(())
}
