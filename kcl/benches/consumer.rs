//! Consumer benchmark: records/s end to end and the time from a worker's death to a full
//! rebalance.
//!
//! Run: `cargo bench -p rill-kcl --bench consumer` (`-- --records N` to change the size of
//! the pre-filled stream). Prints the settings and the figures; no assertions.
//!
//! * Throughput: embedded engine (limits off, fsync never), 16 shards pre-filled with
//!   100-byte records, one worker with a processor that checksums every payload and
//!   checkpoints after every batch; timed from `run()` to the last record processed.
//! * Failover: 16 shards, two workers; one is dropped abruptly; timed until the survivor
//!   holds all 16 leases and has processed a record put after the death on every shard.

use async_trait::async_trait;
use bytes::Bytes;
use rill_engine::api::*;
use rill_engine::embedded::ThroughputLimits;
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use rill_kcl::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Checksum {
    count: Arc<AtomicU64>,
    sum: Arc<AtomicU64>,
}

#[async_trait]
impl RecordProcessor for Checksum {
    async fn initialize(&mut self, _: InitializationInput) {}
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for r in &input.records {
            for b in r.data.iter() {
                h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        self.sum.fetch_add(h, Ordering::Relaxed);
        self.count
            .fetch_add(input.records.len() as u64, Ordering::Relaxed);
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
}

async fn engine(dir: &std::path::Path, shards: i32) -> R<Arc<dyn Kinesis>> {
    let engine = Engine::open(
        dir.join("engine"),
        EngineConfig {
            fsync: FsyncPolicy::Never,
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "bench".into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .await?;
    Ok(Arc::new(engine))
}

async fn fill(kinesis: &Arc<dyn Kinesis>, records: usize) -> R {
    let payload = Bytes::from(vec![7u8; 100]);
    let mut tasks = Vec::new();
    let per = records / 8;
    for t in 0..8 {
        let (k, payload) = (Arc::clone(kinesis), payload.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < per {
                let n = (per - done).min(500);
                k.put_records(PutRecordsInput {
                    stream_name: Some("bench".into()),
                    records: (0..n)
                        .map(|i| PutRecordsRequestEntry {
                            data: payload.clone(),
                            partition_key: format!("{t}-{}", done + i),
                            explicit_hash_key: None,
                        })
                        .collect(),
                    ..Default::default()
                })
                .await?;
                done += n;
            }
            R::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

fn scheduler(
    kinesis: Arc<dyn Kinesis>,
    table: Arc<dyn LeaseTable>,
    worker: &str,
    count: &Arc<AtomicU64>,
    failover: Duration,
) -> R<Scheduler> {
    let (c, s) = (Arc::clone(count), Arc::new(AtomicU64::new(0)));
    Ok(Scheduler::builder()
        .application_name("bench")
        .stream_name("bench")
        .worker_id(worker)
        .kinesis(kinesis)
        .lease_table(table)
        .initial_position(InitialPosition::TrimHorizon)
        .failover_time(failover)
        .polling(PollingConfig {
            idle_time_between_reads: Duration::from_millis(10),
            max_idle_time_between_reads: Duration::from_millis(50),
            ..Default::default()
        })
        .processor_factory(move |_: &str| {
            Box::new(Checksum {
                count: Arc::clone(&c),
                sum: Arc::clone(&s),
            }) as Box<dyn RecordProcessor>
        })
        .build()?)
}

async fn throughput(records: usize) -> R {
    let base = std::env::var("CARGO_TARGET_TMPDIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let dir = tempfile::tempdir_in(base)?;
    let kinesis = engine(dir.path(), 16).await?;
    let t = Instant::now();
    fill(&kinesis, records).await?;
    let records = records / 8 * 8;
    println!(
        "pre-filled {records} records of 100 B in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "bench",
    )?);
    let count = Arc::new(AtomicU64::new(0));
    let s = scheduler(kinesis, table, "w0", &count, Duration::from_secs(10))?;
    let h = s.shutdown_handle();
    let start = Instant::now();
    let task = tokio::spawn(s.run());
    while count.load(Ordering::Relaxed) < records as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "end to end: {records} records in {secs:.2} s = {:.0} records/s ({:.1} MB/s of payload)",
        records as f64 / secs,
        records as f64 * 100.0 / secs / 1e6
    );
    h.shutdown().await;
    task.await??;
    Ok(())
}

async fn failover() -> R {
    let dir = tempfile::tempdir()?;
    let kinesis = engine(dir.path(), 16).await?;
    let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "bench",
    )?);
    let failover = Duration::from_secs(2);
    let count = Arc::new(AtomicU64::new(0));
    let s0 = scheduler(kinesis.clone(), table.clone(), "w0", &count, failover)?;
    let s1 = scheduler(kinesis.clone(), table.clone(), "w1", &count, failover)?;
    let h0 = s0.shutdown_handle();
    let t0 = tokio::spawn(s0.run());
    let t1 = tokio::spawn(s1.run());
    let owned = |w: &'static str| {
        let table = table.clone();
        async move {
            table
                .list_leases()
                .await
                .map(|ls| {
                    ls.iter()
                        .filter(|l| {
                            l.lease_owner.as_deref() == Some(w) && l.checkpoint_owner.is_none()
                        })
                        .count()
                })
                .unwrap_or(0)
        }
    };
    let settle = Instant::now();
    while !(owned("w0").await == 8 && owned("w1").await == 8) {
        if settle.elapsed() > Duration::from_secs(60) {
            return Err("workers did not settle at 8/8".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "two workers settled at 8/8 in {:.2} s",
        settle.elapsed().as_secs_f64()
    );
    t1.abort();
    let died = Instant::now();
    while owned("w0").await < 16 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rebalanced = died.elapsed();
    let before = count.load(Ordering::Relaxed);
    fill(&kinesis, 16 * 64).await?;
    let put_done = Instant::now();
    while count.load(Ordering::Relaxed) < before + 16 * 64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "failover: failover time {failover:?}, renewal {:?}, taker {:?}: death to all 16 leases held by the survivor {:.2} s; records put afterwards processed {:.0} ms after the put",
        failover / 3,
        failover / 6,
        rebalanced.as_secs_f64(),
        put_done.elapsed().as_secs_f64() * 1e3
    );
    h0.shutdown().await;
    t0.await??;
    Ok(())
}

fn main() -> R {
    let args: Vec<String> = std::env::args().collect();
    let records = args
        .iter()
        .position(|a| a == "--records")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000usize);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("rill-kcl consumer bench: {cores} cores, tokio multi-thread runtime with 2 workers");
    println!(
        "settings: embedded engine, limits off, fsync never, 16 shards, GetRecords limit 10000, prefetch 3 batches, SQLite leases, checkpoint after every batch, FNV-1a checksum of every payload"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        throughput(records).await?;
        failover().await
    })
}
