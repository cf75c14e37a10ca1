//! Crash test across the whole path: producer → `rill serve` → consumer.
//!
//! A `rill serve` child (the `serve_crash_server` binary: the same library calls as
//! `rill serve`, `--limits off`, default fsync policy `always`) is killed with SIGKILL and
//! restarted on the same port, [`CYCLES`] times, while
//!
//! * a rill-kpl [`Producer`] over [`Remote`] (SDK retries off, so every retry is the KPL's
//!   and shows in the ack's attempts) sends a steady flow of numbered records, and
//! * a rill-kcl [`Scheduler`] over [`Remote`], with a SQLite lease table in a temp dir,
//!   consumes them with a processor that records every (shard, sequence number,
//!   sub-sequence number) it processes and checkpoints every [`CHECKPOINT_EVERY`] records.
//!   On [`CONSUMER_CRASHES`] of the cycles (chosen by the seeded RNG) the consumer is crashed at the same moment as
//!   the server (its `run` future is dropped: nothing released, nothing checkpointed) and a
//!   new worker takes the leases over once they expire.
//!
//! Kill moments are random (a seeded RNG; the seed is printed, `SERVE_CRASH_SEED=<n>`
//! replays it): after a random number of acknowledgements since the last restart, plus a
//! random jitter. Everything else waits on conditions (acks seen, server answering,
//! consumer progress), each with a deadline that fails the test instead of hanging.
//!
//! # What is checked
//!
//! After every restart, reading every shard through a fresh `Remote`:
//!
//! * every record the producer saw acknowledged is at its acknowledged (shard, sequence
//!   number, sub-sequence number), with its payload;
//! * "exactly once" for an acknowledged record means: its acknowledged position holds it,
//!   and any other copy of it comes from one of its *failed* attempts (a PutRecords that the
//!   server committed but whose response the kill swallowed, then retried). So the copies at
//!   other positions are at most the failed attempts its ack lists. Records that ended in an
//!   error may be absent or present any number of times up to their attempts; they are only
//!   counted.
//! * sequence numbers strictly increase along each shard.
//!
//! At the end (producer drained, consumer caught up and shut down gracefully):
//!
//! * every record stored in the stream, so every acknowledged one, was processed at least
//!   once;
//! * every processor instance started exactly at the shard's last durable checkpoint (the
//!   last one a checkpoint call returned `Ok` for, or the one in flight when its worker was
//!   crashed, which may or may not have been written), so checkpoints never go backwards and
//!   none is lost;
//! * every processor instance processed a contiguous run of its shard's records starting
//!   right after the checkpoint it started from: no gap, no reordering, and a record is
//!   processed again only if it lies above the durable checkpoint of the failure (each
//!   duplicate is accounted for by the instance that re-processed it);
//! * the lease table holds, per shard, the last record of the shard as checkpoint.

use async_trait::async_trait;
use bytes::Bytes;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rill_engine::Remote;
use rill_engine::api::*;
use rill_kcl::{
    ExtendedSequenceNumber, InitialPosition, InitializationInput, LeaseTable, PollingConfig,
    ProcessRecordsInput, RecordProcessor, Scheduler, ShardEndedInput, ShutdownHandle,
    ShutdownRequestedInput, SqliteLeaseTable,
};
use rill_kpl::{Producer, ProducerConfig, Record as UserRecord};
use rill_testkit::wait_until;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Kill/restart cycles of the server.
const CYCLES: usize = 20;
const STREAM: &str = "serve-crash";
const SHARDS: i32 = 4;
const APPLICATION: &str = "serve-crash";
/// Cycles (chosen at random) in which the consumer is crashed with the server.
const CONSUMER_CRASHES: usize = 5;
/// The processor checkpoints after this many records.
const CHECKPOINT_EVERY: usize = 97;
/// The producer sends this many records per tick of [`SEND_TICK`] (about 2000 records/s).
const SEND_BURST: u64 = 20;
const SEND_TICK: Duration = Duration::from_millis(10);
/// Longest wait for any condition before the test fails as hung.
const PATIENCE: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------
// The server child.

/// A running `serve_crash_server`; killed with SIGKILL (by its PID) and reaped on drop,
/// also when the test panics.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    /// Kept open so that the child never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    /// Starts the server on `addr` (port 0: any free port) and waits for its
    /// `listening on <addr>` line.
    fn start(data_dir: &Path, addr: SocketAddr) -> TestResult<ServerProcess> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_serve_crash_server"))
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--limits", "off"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let mut server = ServerProcess {
            child,
            addr,
            _stdout: BufReader::new(stdout),
        };
        let mut line = String::new();
        server._stdout.read_line(&mut line)?;
        server.addr = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?
            .parse()?;
        Ok(server)
    }

    /// SIGKILL, then reap.
    fn kill(mut self) -> TestResult {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Already reaped after `kill`: both calls then fail harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn endpoint(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A `Remote` whose SDK client does not retry: the KPL's and KCL's own retries are the only
/// ones, so every attempt that may have been committed shows in the KPL's ack.
fn remote_without_sdk_retries(endpoint: &str) -> Remote {
    let base = Remote::from_endpoint(endpoint);
    let conf = base
        .client()
        .config()
        .to_builder()
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        .build();
    Remote::new(aws_sdk_kinesis::Client::from_conf(conf))
}

/// Waits until the server answers ListShards with the stream's shards.
async fn wait_answering(endpoint: &str) {
    let kinesis = Remote::from_endpoint(endpoint);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = kinesis
            .list_shards(ListShardsInput {
                stream_name: Some(STREAM.into()),
                ..Default::default()
            })
            .await;
        match r {
            Ok(out) if out.shards.len() == SHARDS as usize => return,
            other => assert!(
                Instant::now() < deadline,
                "hung: the server does not answer: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The producer side.

/// Where an acknowledged record is, and how many of its attempts failed.
#[derive(Debug, Clone)]
struct AckedAt {
    shard: String,
    seq: String,
    sub: u64,
    failed_attempts: usize,
}

#[derive(Default)]
struct Produced {
    /// Record id → its ack.
    acked: HashMap<u64, AckedAt>,
    /// Record id → attempts of a record that ended in an error.
    failed: HashMap<u64, usize>,
}

/// Shared with the sender and the per-record tasks.
#[derive(Default)]
struct ProducerState {
    produced: Mutex<Produced>,
    sent: AtomicU64,
    acked: AtomicU64,
    resolved: AtomicU64,
    stop: AtomicBool,
}

fn payload(id: u64) -> Bytes {
    // 20 to 219 bytes: aggregates of varying counts.
    let pad = "x".repeat((id % 200) as usize);
    Bytes::from(format!("rec-{id}-{pad}"))
}

fn payload_id(data: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(data).ok()?;
    let (id, pad) = s.strip_prefix("rec-")?.split_once('-')?;
    let id: u64 = id.parse().ok()?;
    (pad.len() == (id % 200) as usize).then_some(id)
}

/// Sends numbered records at a steady pace until `stop`; a task per record records its
/// result.
async fn run_sender(producer: Producer, state: Arc<ProducerState>) -> TestResult {
    let stream: Arc<str> = STREAM.into();
    let mut id = 0u64;
    let mut tick = tokio::time::interval(SEND_TICK);
    while !state.stop.load(Ordering::Acquire) {
        tick.tick().await;
        for _ in 0..SEND_BURST {
            let record =
                UserRecord::new(Arc::clone(&stream), format!("pk-{}", id % 64), payload(id));
            let future = producer
                .send(record)
                .await
                .map_err(|e| format!("send {id}: {e}"))?;
            state.sent.fetch_add(1, Ordering::AcqRel);
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let result = future.await;
                {
                    let mut p = lock(&state.produced);
                    match result {
                        Ok(ack) => {
                            p.acked.insert(
                                id,
                                AckedAt {
                                    shard: ack.shard_id().to_owned(),
                                    seq: ack.sequence_number().to_owned(),
                                    sub: ack.sub_sequence_number(),
                                    failed_attempts: ack
                                        .attempts()
                                        .iter()
                                        .filter(|a| !a.is_success())
                                        .count(),
                                },
                            );
                            state.acked.fetch_add(1, Ordering::AcqRel);
                        }
                        Err(e) => {
                            p.failed.insert(id, e.attempts().len());
                        }
                    }
                }
                state.resolved.fetch_add(1, Ordering::AcqRel);
            });
            id += 1;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The consumer side.

type Position = (String, String, u64);

/// One processor instance: a shard processed from a checkpoint by one worker.
#[derive(Debug)]
struct Instance {
    shard: String,
    worker: usize,
    start: ExtendedSequenceNumber,
    records: Vec<ExtendedSequenceNumber>,
}

#[derive(Default)]
struct Consumed {
    instances: Vec<Instance>,
    /// Per shard, every checkpoint a call returned `Ok` for, in order.
    checkpoints: HashMap<String, Vec<ExtendedSequenceNumber>>,
    /// Per shard, a checkpoint whose call has not returned (its worker may have been crashed
    /// in the middle of it: written or not).
    in_flight: HashMap<String, ExtendedSequenceNumber>,
    /// How often each position was processed.
    seen: HashMap<Position, u32>,
    processed: u64,
    duplicates: u64,
    /// Broken rules, reported by the test (a panic in a processor would only be logged).
    violations: Vec<String>,
}

impl Consumed {
    fn durable_checkpoint(&self, shard: &str) -> ExtendedSequenceNumber {
        self.checkpoints
            .get(shard)
            .and_then(|c| c.last().cloned())
            .unwrap_or_else(ExtendedSequenceNumber::trim_horizon)
    }

    fn checkpointed(&mut self, shard: &str, at: ExtendedSequenceNumber) {
        let last = self.durable_checkpoint(shard);
        if at < last {
            self.violations
                .push(format!("{shard}: checkpoint {at} went below {last}"));
        }
        self.in_flight.remove(shard);
        self.checkpoints
            .entry(shard.to_owned())
            .or_default()
            .push(at);
    }
}

struct ConsumerState {
    consumed: Mutex<Consumed>,
    processed: AtomicU64,
}

/// Records what it processes and checkpoints every [`CHECKPOINT_EVERY`] records.
struct Recorder {
    state: Arc<ConsumerState>,
    worker: usize,
    shard: String,
    instance: usize,
    since_checkpoint: usize,
}

impl Recorder {
    /// Checkpoints at `at` (or at the last delivered record when `None`), bookkeeping the
    /// in-flight checkpoint around the call.
    async fn checkpoint(
        &mut self,
        checkpointer: &rill_kcl::Checkpointer,
        at: Option<ExtendedSequenceNumber>,
    ) {
        let target = match at.clone().or_else(|| checkpointer.largest_permitted()) {
            Some(t) => t,
            None => return,
        };
        lock(&self.state.consumed)
            .in_flight
            .insert(self.shard.clone(), target.clone());
        let result = match &at {
            Some(at) => {
                checkpointer
                    .checkpoint_at(&at.sequence_number, at.sub_sequence_number)
                    .await
            }
            None => checkpointer.checkpoint().await,
        };
        let mut c = lock(&self.state.consumed);
        match result {
            Ok(()) => {
                c.checkpointed(&self.shard, target);
                self.since_checkpoint = 0;
            }
            // Written or not: stays in flight for the next instance to settle.
            Err(e) => eprintln!(
                "worker {}: {}: checkpoint failed: {e}",
                self.worker, self.shard
            ),
        }
    }
}

#[async_trait]
impl RecordProcessor for Recorder {
    async fn initialize(&mut self, input: InitializationInput) {
        let mut c = lock(&self.state.consumed);
        let start = input.extended_sequence_number;
        let durable = c.durable_checkpoint(&input.shard_id);
        if c.in_flight.get(&input.shard_id) == Some(&start) && start != durable {
            // The checkpoint in flight when the last worker died had been written.
            c.checkpointed(&input.shard_id, start.clone());
        } else if start != durable {
            c.violations.push(format!(
                "{}: worker {} starts at {start}, but the durable checkpoint is {durable}",
                input.shard_id, self.worker
            ));
        }
        c.in_flight.remove(&input.shard_id);
        self.shard = input.shard_id.clone();
        self.instance = c.instances.len();
        c.instances.push(Instance {
            shard: input.shard_id,
            worker: self.worker,
            start,
            records: Vec::new(),
        });
    }

    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        for r in &input.records {
            let at = r.extended_sequence_number();
            {
                let mut c = lock(&self.state.consumed);
                let instance = &c.instances[self.instance];
                let floor = instance.records.last().unwrap_or(&instance.start).clone();
                if at <= floor {
                    let v = format!(
                        "{}: worker {} processed {at} at or below {floor} (its start {})",
                        self.shard, self.worker, instance.start
                    );
                    c.violations.push(v);
                }
                c.instances[self.instance].records.push(at.clone());
                let n = c
                    .seen
                    .entry((
                        self.shard.clone(),
                        at.sequence_number.clone(),
                        at.sub_sequence_number,
                    ))
                    .or_insert(0);
                *n += 1;
                if *n > 1 {
                    c.duplicates += 1;
                }
                c.processed += 1;
            }
            self.state.processed.fetch_add(1, Ordering::AcqRel);
            self.since_checkpoint += 1;
            if self.since_checkpoint >= CHECKPOINT_EVERY {
                self.checkpoint(input.checkpointer, Some(at)).await;
            }
        }
    }

    async fn lease_lost(&mut self) {
        eprintln!("worker {}: {}: lease lost", self.worker, self.shard);
    }

    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        lock(&self.state.consumed).violations.push(format!(
            "{}: shard ended, but the stream is never resharded",
            self.shard
        ));
        self.checkpoint(input.checkpointer, None).await;
    }

    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        self.checkpoint(input.checkpointer, None).await;
    }
}

/// A running worker.
struct Worker {
    handle: tokio::task::JoinHandle<Result<(), rill_kcl::KclError>>,
    shutdown: ShutdownHandle,
}

async fn start_worker(
    n: usize,
    endpoint: &str,
    leases: &Path,
    state: &Arc<ConsumerState>,
) -> TestResult<Worker> {
    let table = Arc::new(SqliteLeaseTable::open(leases, "leases")?);
    let factory_state = Arc::clone(state);
    let scheduler = Scheduler::builder()
        .application_name(APPLICATION)
        .stream_name(STREAM)
        .worker_id(format!("worker-{n}"))
        .kinesis(Arc::new(remote_without_sdk_retries(endpoint)))
        .lease_table(table)
        .initial_position(InitialPosition::TrimHorizon)
        .failover_time(Duration::from_millis(1000))
        .renewal_interval(Duration::from_millis(250))
        .taker_interval(Duration::from_millis(100))
        .polling(PollingConfig {
            max_records: 10_000,
            prefetch_batches: 3,
            idle_time_between_reads: Duration::from_millis(50),
            max_idle_time_between_reads: Duration::from_millis(200),
            retry_min_backoff: Duration::from_millis(20),
            retry_max_backoff: Duration::from_millis(300),
            ..Default::default()
        })
        .processor_factory(move |shard: &str| {
            Box::new(Recorder {
                state: Arc::clone(&factory_state),
                worker: n,
                shard: shard.to_owned(),
                instance: usize::MAX,
                since_checkpoint: 0,
            }) as Box<dyn RecordProcessor>
        })
        .build()?;
    let shutdown = scheduler.shutdown_handle();
    let handle = tokio::spawn(scheduler.run());
    Ok(Worker { handle, shutdown })
}

// ---------------------------------------------------------------------------------------
// Reading the stream back.

/// One user record as stored: its position and payload.
struct Stored {
    seq: String,
    sub: u64,
    data: Bytes,
}

/// Every user record of every shard, in shard order, read through a fresh `Remote`.
async fn read_stream(endpoint: &str) -> TestResult<BTreeMap<String, Vec<Stored>>> {
    let kinesis = Remote::from_endpoint(endpoint);
    let shards = kinesis
        .list_shards(ListShardsInput {
            stream_name: Some(STREAM.into()),
            ..Default::default()
        })
        .await?
        .shards;
    let mut out = BTreeMap::new();
    for shard in shards {
        let mut records: Vec<Stored> = Vec::new();
        let mut it = kinesis
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some(STREAM.into()),
                shard_id: shard.shard_id.clone(),
                shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                ..Default::default()
            })
            .await?
            .shard_iterator;
        let mut last_seq: Option<String> = None;
        while let Some(i) = it {
            let page = kinesis
                .get_records(GetRecordsInput {
                    shard_iterator: i,
                    limit: Some(10_000),
                    ..Default::default()
                })
                .await?;
            if page.records.is_empty() {
                break;
            }
            for r in page.records {
                if let Some(prev) = &last_seq {
                    assert!(
                        rill_kcl::sequence::compare_sequence_numbers(&r.sequence_number, prev)
                            .is_gt(),
                        "{}: sequence number {} after {prev}",
                        shard.shard_id,
                        r.sequence_number
                    );
                }
                last_seq = Some(r.sequence_number.clone());
                let users = agg::deaggregate(&r.partition_key, None, r.data);
                for (sub, u) in users.into_iter().enumerate() {
                    records.push(Stored {
                        seq: r.sequence_number.clone(),
                        sub: sub as u64,
                        data: u.data,
                    });
                }
            }
            it = page.next_shard_iterator;
        }
        out.insert(shard.shard_id, records);
    }
    Ok(out)
}

/// Figures of one check of the stream.
struct Checked {
    stored: usize,
    /// Copies of acknowledged records at positions other than their ack.
    extra_copies_of_acked: usize,
    /// Copies of records whose put ended in an error.
    copies_of_failed: usize,
}

/// Checks every record of `acked` against the stream as read now.
fn check_acked(
    stream: &BTreeMap<String, Vec<Stored>>,
    acked: &HashMap<u64, AckedAt>,
    failed: &HashMap<u64, usize>,
) -> Checked {
    let mut at: HashMap<(&str, &str, u64), &Bytes> = HashMap::new();
    let mut copies: HashMap<u64, usize> = HashMap::new();
    let mut stored = 0;
    for (shard, records) in stream {
        for r in records {
            stored += 1;
            at.insert((shard.as_str(), r.seq.as_str(), r.sub), &r.data);
            let id = payload_id(&r.data).unwrap_or_else(|| {
                panic!("{shard} {} {}: unknown payload {:?}", r.seq, r.sub, r.data)
            });
            *copies.entry(id).or_insert(0) += 1;
        }
    }
    let mut extra_copies_of_acked = 0;
    for (id, a) in acked {
        let found = at.get(&(a.shard.as_str(), a.seq.as_str(), a.sub));
        assert_eq!(
            found.map(|d| d.as_ref()),
            Some(payload(*id).as_ref()),
            "acknowledged record {id} is not at its ack {a:?}"
        );
        let extra = copies.get(id).copied().unwrap_or(0) - 1;
        assert!(
            extra <= a.failed_attempts,
            "acknowledged record {id} is stored {} times, but only {} of its attempts failed \
             (a copy not explained by a retry): {a:?}",
            extra + 1,
            a.failed_attempts
        );
        extra_copies_of_acked += extra;
    }
    let mut copies_of_failed = 0;
    for (id, attempts) in failed {
        let n = copies.get(id).copied().unwrap_or(0);
        assert!(
            n <= *attempts,
            "record {id} failed after {attempts} attempts but is stored {n} times"
        );
        copies_of_failed += n;
    }
    Checked {
        stored,
        extra_copies_of_acked,
        copies_of_failed,
    }
}

// ---------------------------------------------------------------------------------------
// The test.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_path_survives_sigkill_of_the_server() -> TestResult {
    let started = Instant::now();
    let seed: u64 = match std::env::var("SERVE_CRASH_SEED") {
        Ok(s) => s.parse()?,
        Err(_) => rand::random(),
    };
    eprintln!("serve_crash: seed {seed} (replay with SERVE_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let consumer_crash_cycles: HashSet<usize> =
        rand::seq::index::sample(&mut rng, CYCLES, CONSUMER_CRASHES)
            .into_iter()
            .collect();
    let dir = tempfile::tempdir()?;
    let data_dir: PathBuf = dir.path().join("data");
    let leases: PathBuf = dir.path().join("leases.sqlite");

    // First start: any free port, then the same port on every restart.
    let d = data_dir.clone();
    let mut server = tokio::task::spawn_blocking(move || {
        ServerProcess::start(&d, SocketAddr::from(([127, 0, 0, 1], 0)))
    })
    .await??;
    let addr = server.addr;
    let url = endpoint(addr);
    eprintln!("serve_crash: server on {addr}");
    Remote::from_endpoint(&url)
        .create_stream(CreateStreamInput {
            stream_name: STREAM.into(),
            shard_count: Some(SHARDS),
            ..Default::default()
        })
        .await?;
    wait_answering(&url).await;

    let producer_state = Arc::new(ProducerState::default());
    let producer = Producer::new(
        Arc::new(remote_without_sdk_retries(&url)),
        ProducerConfig::builder()
            .record_max_buffered_time(Duration::from_millis(50))
            .request_timeout(Duration::from_secs(3))
            .retry_min_delay(Duration::from_millis(20))
            .retry_max_delay(Duration::from_millis(300))
            .record_ttl(Duration::from_secs(120))
            .build()?,
    );
    let sender = tokio::spawn(run_sender(producer.clone(), Arc::clone(&producer_state)));

    let consumer_state = Arc::new(ConsumerState {
        consumed: Mutex::new(Consumed::default()),
        processed: AtomicU64::new(0),
    });
    let mut workers = 1;
    let mut worker = start_worker(0, &url, &leases, &consumer_state).await?;

    let mut cycle_times = Vec::new();
    let mut downtimes = Vec::new();
    let mut consumer_crashes = 0;
    let mut cycle_start = Instant::now();
    for cycle in 0..CYCLES {
        // Kill after a random number of acks since the restart, once the consumer made
        // progress too, plus a random jitter.
        let kill_after = rng.random_range(50..1500u64);
        let crash_consumer = consumer_crash_cycles.contains(&cycle);
        let jitter = Duration::from_millis(rng.random_range(0..50));
        let acked0 = producer_state.acked.load(Ordering::Acquire);
        let processed0 = consumer_state.processed.load(Ordering::Acquire);
        wait_until(PATIENCE, "acks", || async {
            producer_state.acked.load(Ordering::Acquire) >= acked0 + kill_after
        })
        .await?;
        wait_until(PATIENCE, "consumer progress", || async {
            consumer_state.processed.load(Ordering::Acquire) > processed0
        })
        .await?;
        tokio::time::sleep(jitter).await;

        let killed_at = Instant::now();
        tokio::task::spawn_blocking(move || server.kill()).await??;
        if crash_consumer {
            worker.handle.abort();
            let _ = (&mut worker.handle).await;
            consumer_crashes += 1;
        }
        let d = data_dir.clone();
        server = tokio::task::spawn_blocking(move || ServerProcess::start(&d, addr)).await??;
        assert_eq!(server.addr, addr, "restarted on another address");
        wait_answering(&url).await;
        let downtime = killed_at.elapsed();
        downtimes.push(downtime);
        if crash_consumer {
            worker = start_worker(workers, &url, &leases, &consumer_state).await?;
            workers += 1;
        }

        // Every acknowledged record so far is at its ack.
        let (acked, failed) = {
            let p = lock(&producer_state.produced);
            (p.acked.clone(), p.failed.clone())
        };
        let stream = read_stream(&url).await?;
        let checked = check_acked(&stream, &acked, &failed);
        let cycle_time = cycle_start.elapsed();
        cycle_start = Instant::now();
        cycle_times.push(cycle_time);
        eprintln!(
            "cycle {cycle:2}: killed after {kill_after} acks{}; down {downtime:?}; {} acked \
             ok of {} stored ({} extra copies of acked records); consumer processed {}; \
             cycle {cycle_time:?}",
            if crash_consumer {
                " with the consumer"
            } else {
                ""
            },
            acked.len(),
            checked.stored,
            checked.extra_copies_of_acked,
            consumer_state.processed.load(Ordering::Acquire),
        );
    }

    // Drain: stop sending, wait for every record's result.
    producer_state.stop.store(true, Ordering::Release);
    sender.await??;
    producer.flush().await;
    wait_until(PATIENCE, "producer results", || async {
        producer_state.resolved.load(Ordering::Acquire)
            == producer_state.sent.load(Ordering::Acquire)
    })
    .await?;
    producer.shutdown().await;
    let (acked, failed) = {
        let p = lock(&producer_state.produced);
        (p.acked.clone(), p.failed.clone())
    };
    let stream = read_stream(&url).await?;
    let checked = check_acked(&stream, &acked, &failed);

    // The consumer catches up with everything stored, then shuts down gracefully.
    let positions: Vec<Position> = stream
        .iter()
        .flat_map(|(shard, rs)| {
            rs.iter()
                .map(move |r| (shard.clone(), r.seq.clone(), r.sub))
        })
        .collect();
    // Not caught up in time is reported after the checks below, which tell why.
    let caught_up = wait_until(PATIENCE, "the consumer to catch up", || async {
        let c = lock(&consumer_state.consumed);
        positions.iter().all(|p| c.seen.contains_key(p))
    })
    .await
    .is_ok();
    worker.shutdown.shutdown().await;
    worker.handle.await??;

    let final_leases = SqliteLeaseTable::open(&leases, "leases")?
        .list_leases()
        .await?;

    // Consumer checks.
    let c = lock(&consumer_state.consumed);
    assert!(
        c.violations.is_empty(),
        "consumer violations: {:#?}",
        c.violations
    );
    let mut reprocessed_by_instances = 0u64;
    let mut most_reprocessed = 0usize;
    for (i, inst) in c.instances.iter().enumerate() {
        let records = &stream[&inst.shard];
        let first = records
            .iter()
            .position(|r| ExtendedSequenceNumber::new(r.seq.as_str(), r.sub) > inst.start)
            .unwrap_or(records.len());
        for (k, at) in inst.records.iter().enumerate() {
            let expected = records
                .get(first + k)
                .map(|r| ExtendedSequenceNumber::new(r.seq.as_str(), r.sub));
            assert_eq!(
                Some(at),
                expected.as_ref(),
                "instance {i} (worker {}, {} from {}): record {k} is not the next record of \
                 the shard after its checkpoint",
                inst.worker,
                inst.shard,
                inst.start
            );
        }
        // Records this instance processed that an earlier instance of the shard had
        // processed: all above `start` (checked above), so after the durable checkpoint.
        let earlier_max = c.instances[..i]
            .iter()
            .filter(|o| o.shard == inst.shard)
            .filter_map(|o| o.records.last())
            .max();
        if let Some(m) = earlier_max {
            let again = inst.records.iter().filter(|r| *r <= m).count();
            // Processors checkpoint every CHECKPOINT_EVERY records, so no worker got further
            // than that past the durable checkpoint this instance resumed from.
            assert!(
                again <= CHECKPOINT_EVERY,
                "instance {i} (worker {}, {} from {}) re-processed {again} records, more than \
                 the {CHECKPOINT_EVERY} a worker processes between checkpoints",
                inst.worker,
                inst.shard,
                inst.start
            );
            reprocessed_by_instances += again as u64;
            most_reprocessed = most_reprocessed.max(again);
        }
    }
    assert_eq!(
        reprocessed_by_instances, c.duplicates,
        "every duplicate is a record re-processed by a later instance after its checkpoint"
    );
    let missing: Vec<&Position> = positions
        .iter()
        .filter(|p| !c.seen.contains_key(*p))
        .collect();
    assert!(
        caught_up && missing.is_empty(),
        "the consumer never processed {} stored records (hung or lost), the first: {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    for (id, a) in &acked {
        assert!(
            c.seen
                .contains_key(&(a.shard.clone(), a.seq.clone(), a.sub)),
            "acknowledged record {id} was never processed"
        );
    }
    // The lease table holds the last checkpoint, which after the graceful shutdown is the
    // last record of each shard.
    assert_eq!(final_leases.len(), SHARDS as usize, "one lease per shard");
    for lease in &final_leases {
        let last = stream[&lease.lease_key]
            .last()
            .map(|r| ExtendedSequenceNumber::new(r.seq.as_str(), r.sub))
            .unwrap_or_else(ExtendedSequenceNumber::trim_horizon);
        assert_eq!(
            lease.checkpoint(),
            last,
            "{}: final checkpoint",
            lease.lease_key
        );
        assert_eq!(
            Some(&lease.checkpoint()),
            c.checkpoints.get(&lease.lease_key).and_then(|v| v.last()),
            "{}: lease table and processor disagree",
            lease.lease_key
        );
    }
    server.kill()?;

    let n = cycle_times.len() as u32;
    let mean_cycle = cycle_times.iter().sum::<Duration>() / n;
    let mean_down = downtimes.iter().sum::<Duration>() / n;
    let max_down = downtimes.iter().max().copied().unwrap_or_default();
    let checkpoints: usize = c.checkpoints.values().map(Vec::len).sum();
    eprintln!(
        "serve_crash: seed {seed}: {CYCLES} SIGKILLs of the server ({consumer_crashes} with the \
         consumer), {workers} workers; sent {}, acked {}, failed {}; stored {} user records \
         ({} extra copies of acked records from retried attempts, {} copies of failed \
         records); consumer processed {} ({} duplicates, all above their durable \
         checkpoint, at most {most_reprocessed} per resumed instance), {} processor instances, {checkpoints} checkpoints; mean cycle \
         {mean_cycle:?}, mean downtime {mean_down:?} (max {max_down:?}); total {:?}",
        producer_state.sent.load(Ordering::Acquire),
        acked.len(),
        failed.len(),
        checked.stored,
        checked.extra_copies_of_acked,
        checked.copies_of_failed,
        c.processed,
        c.duplicates,
        c.instances.len(),
        started.elapsed(),
    );
    assert!(!acked.is_empty());
    Ok(())
}
