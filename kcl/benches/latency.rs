//! Put-to-process latency: enhanced fan-out (SubscribeToShard) versus polling (GetRecords).
//!
//! Run: `cargo bench -p rill-kcl --bench latency` (`-- --samples N` to change the number of
//! measured records). Prints the settings and p50/p99/max per retrieval mode; no assertions.
//!
//! Settings: embedded engine (limits off, fsync never), 4 shards, one worker with a SQLite
//! lease table. A producer puts one record every ~2 ms (PutRecord, a new partition key each,
//! so records spread over the shards) carrying its send time; the processor takes
//! `now - send time` for every record as it reaches `process_records` (it checkpoints only
//! on shutdown). A warm-up (until every shard delivered, then 1 s more) precedes the
//! measured records, so lease taking and subscription start-up are not measured.
//!
//! Modes: enhanced fan-out (default `FanOutConfig`); polling with the default
//! `PollingConfig` (idle time between reads 1 s, up to 4 s while empty); polling with a
//! short idle time (10 ms, max 10 ms).

use async_trait::async_trait;
use bytes::Bytes;
use rill_engine::api::*;
use rill_engine::embedded::ThroughputLimits;
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use rill_kcl::*;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What the processors saw: latencies of measured records, shards that delivered.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    shards: HashSet<String>,
}

struct Timer {
    origin: Instant,
    shard: String,
    seen: Arc<Mutex<Seen>>,
}

#[async_trait]
impl RecordProcessor for Timer {
    async fn initialize(&mut self, input: InitializationInput) {
        self.shard = input.shard_id;
    }
    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        let now = self.origin.elapsed();
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        seen.shards.insert(self.shard.clone());
        for r in &input.records {
            // Payload: "m <micros>" for a measured record, "w <micros>" for warm-up.
            let text = std::str::from_utf8(&r.data).unwrap_or("");
            if let Some(micros) = text.strip_prefix("m ").and_then(|m| m.parse::<u64>().ok()) {
                seen.latencies
                    .push(now.saturating_sub(Duration::from_micros(micros)));
            }
        }
    }
    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        let _ = input.checkpointer.checkpoint().await;
    }
}

struct Mode {
    name: &'static str,
    settings: &'static str,
    retrieval: RetrievalMode,
    polling: PollingConfig,
}

struct Outcome {
    p50: Duration,
    p99: Duration,
    max: Duration,
    samples: usize,
}

async fn run(mode: &Mode, samples: usize) -> R<Outcome> {
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
            stream_name: "bench".into(),
            shard_count: Some(4),
            ..Default::default()
        })
        .await?;
    let kinesis: Arc<dyn Kinesis> = Arc::new(engine);
    let origin = Instant::now();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let table = Arc::new(SqliteLeaseTable::open(
        dir.path().join("leases.sqlite"),
        "latency",
    )?);
    let factory_seen = Arc::clone(&seen);
    let scheduler = Scheduler::builder()
        .application_name("latency")
        .stream_name("bench")
        .worker_id("w0")
        .kinesis(Arc::clone(&kinesis))
        .lease_table(table)
        .initial_position(InitialPosition::TrimHorizon)
        .retrieval(mode.retrieval.clone())
        .polling(mode.polling.clone())
        .processor_factory(move |shard: &str| {
            Box::new(Timer {
                origin,
                shard: shard.to_owned(),
                seen: Arc::clone(&factory_seen),
            }) as Box<dyn RecordProcessor>
        })
        .build()?;
    let stop = scheduler.shutdown_handle();
    let worker = tokio::spawn(scheduler.run());

    let mut tick = tokio::time::interval(Duration::from_millis(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0u64;
    let mut put = |kind: &'static str| {
        i += 1;
        let micros = origin.elapsed().as_micros() as u64;
        let k = Arc::clone(&kinesis);
        let key = format!("key-{i}");
        async move {
            k.put_record(PutRecordInput {
                stream_name: Some("bench".into()),
                data: Bytes::from(format!("{kind} {micros}")),
                partition_key: key,
                ..Default::default()
            })
            .await
        }
    };
    // Warm-up: until every shard delivered, then 1 s more.
    let mut warm_until: Option<Instant> = None;
    let warm_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tick.tick().await;
        put("w").await?;
        let all = seen.lock().map(|s| s.shards.len() == 4).unwrap_or(false);
        match warm_until {
            None if all => warm_until = Some(Instant::now() + Duration::from_secs(1)),
            Some(t) if Instant::now() >= t => break,
            _ => {}
        }
        if Instant::now() > warm_deadline {
            return Err("warm-up: not every shard delivered within 60 s".into());
        }
    }
    for _ in 0..samples {
        tick.tick().await;
        put("m").await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().map(|s| s.latencies.len()).unwrap_or(0) < samples {
        if Instant::now() > deadline {
            return Err("not every measured record was processed within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.shutdown().await;
    worker.await??;
    let mut l = seen.lock().map(|s| s.latencies.clone()).unwrap_or_default();
    l.sort();
    let at = |q: f64| l[((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1];
    Ok(Outcome {
        p50: at(0.50),
        p99: at(0.99),
        max: l[l.len() - 1],
        samples: l.len(),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> R {
    let mut samples = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--samples" {
            samples = args.next().ok_or("--samples N")?.parse()?;
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let short = PollingConfig {
        idle_time_between_reads: Duration::from_millis(10),
        max_idle_time_between_reads: Duration::from_millis(10),
        ..Default::default()
    };
    let modes = [
        Mode {
            name: "enhanced fan-out",
            settings: "FanOutConfig::default()",
            retrieval: RetrievalMode::FanOut {
                consumer_name: None,
            },
            polling: PollingConfig::default(),
        },
        Mode {
            name: "polling",
            settings: "PollingConfig::default() (idle 1 s, max 4 s)",
            retrieval: RetrievalMode::Polling,
            polling: PollingConfig::default(),
        },
        Mode {
            name: "polling",
            settings: "idle 10 ms, max 10 ms",
            retrieval: RetrievalMode::Polling,
            polling: short,
        },
    ];
    println!(
        "put-to-process latency: embedded engine (limits off, fsync never), 4 shards, one worker, \
         one PutRecord every ~2 ms, {samples} samples"
    );
    println!("| retrieval | settings | p50 | p99 | max | samples |");
    println!("|---|---|---|---|---|---|");
    for mode in &modes {
        let o = rt.block_on(run(mode, samples))?;
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            mode.name,
            mode.settings,
            ms(o.p50),
            ms(o.p99),
            ms(o.max),
            o.samples
        );
    }
    Ok(())
}
