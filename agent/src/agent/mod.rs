//! The tailing agent: polls each flow's glob, reads complete lines, sends them through the
//! producer and checkpoints each file once the lines before the checkpoint are acknowledged.
//!
//! ## Polling
//!
//! Every `poll_interval_ms` (200 ms by default) each flow's pattern is expanded and every
//! matching file is `stat`ed; no inotify. For an agent this costs a few syscalls per file
//! per poll and adds at most one interval of latency; it also works on network file
//! systems, where change notifications do not.
//!
//! ## Files
//!
//! A file is known by its (device, inode). Per poll, for each tailed file:
//!
//! * **Appends**: complete lines (up to `\n`, which is not sent; a `\r` before it is
//!   dropped too) are read (at most 4 MiB per file per poll) and sent. A last line without
//!   `\n` waits for its newline. Empty lines are skipped.
//! * **Rename rotation**: when the path names a different inode (or no longer matches),
//!   the old inode stays open and is read to its end first; once it has not grown for
//!   [`ROTATED_GRACE`] its unterminated last line (if any) is sent and it is closed. The new
//!   file at the path is read from offset 0.
//! * **Copy-truncate**: when a file's size falls below the read offset, or its first bytes
//!   (up to [`HEAD_BYTES`], remembered as they are read) are no longer what they were,
//!   reading restarts at 0. The second check catches a file truncated and written past the
//!   old offset again within one poll. Lines written between the last poll and the
//!   truncation are in the copy, not re-read here. A file truncated and rewritten with the
//!   very same first bytes is indistinguishable from an appended one.
//! * **New files** matching the pattern are picked up at the next poll, from their
//!   checkpoint if their (device, inode) has one, else from offset 0.
//!
//! ## Checkpoints and acknowledgements
//!
//! Each sent line is queued per file with the offset after its newline, and a task awaits
//! its producer future; a record that fails (after the producer's own retries) is counted
//! (`RecordsFailed`), logged, and sent again until acknowledged or the agent stops. Each
//! acknowledgement advances the file's committed offset to the end of the longest queue
//! prefix whose records are all acknowledged and wakes the checkpoint writer, a thread of
//! its own that writes every changed offset in one synced SQLite transaction and goes
//! again at once if more acknowledgements arrived meanwhile. So checkpoints trail
//! acknowledgements by one SQLite commit (an fsync), not by a poll, whatever the reader
//! is doing. After a crash, a restart re-sends only lines after the last written
//! checkpoint: no line is skipped, and the only acknowledged lines sent twice are those
//! acknowledged in the instant between their acknowledgement and the commit that records
//! it (at-least-once, as with the Kinesis Agent; a write that failed is retried, with its
//! lines staying uncommitted, at the next wake or 500 ms later).
//!
//! SIGINT/SIGTERM stop reading, flush the producer, wait for outstanding records (up to
//! the producer's record TTL plus 10 s), write the checkpoints and exit.

use bytes::Bytes;
use md5::{Digest, Md5};
use rill_engine::api::Kinesis;
use rill_kpl::{Producer, ProducerConfig, Record, RecordFuture, SendError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::checkpoint::{Checkpoint, CheckpointStore, FileId};
use crate::config::{Config, Conversion, FlowConfig, PartitionKey};

mod acks;
mod tail;

use acks::{Acks, Checkpointer, Entry, SharedAcks};
use tail::Tail;

/// How long a rotated (renamed away or deleted) file must stay unchanged at its end before
/// it is closed.
pub const ROTATED_GRACE: Duration = Duration::from_secs(1);

/// Bytes read from one file per poll at most.
const READ_BUDGET: usize = 4 << 20;

/// How many of a file's first bytes are remembered to recognise it after a copy-truncate.
pub const HEAD_BYTES: usize = 64;

/// The agent's counters, also reported through the `metrics` facade under the same names
/// (labelled by `stream`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Complete lines read from files (`LinesRead`).
    pub lines_read: AtomicU64,
    /// Records handed to the producer, re-sends included (`RecordsSent`).
    pub records_sent: AtomicU64,
    /// Records acknowledged (`RecordsAcked`).
    pub records_acked: AtomicU64,
    /// Record results that were errors, or records the producer refused (`RecordsFailed`).
    pub records_failed: AtomicU64,
    /// Lines that did not match the regex, or whose JSON field was missing (`LinesMalformed`).
    pub lines_malformed: AtomicU64,
    /// Checkpoints written (`CheckpointsWritten`).
    pub checkpoints_written: AtomicU64,
}

/// A copy of [`Stats`], printed as the agent's final JSON summary.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct Summary {
    /// See [`Stats::lines_read`].
    pub lines_read: u64,
    /// See [`Stats::records_sent`].
    pub records_sent: u64,
    /// See [`Stats::records_acked`].
    pub records_acked: u64,
    /// See [`Stats::records_failed`].
    pub records_failed: u64,
    /// See [`Stats::lines_malformed`].
    pub lines_malformed: u64,
    /// See [`Stats::checkpoints_written`].
    pub checkpoints_written: u64,
}

impl Stats {
    /// The current values.
    pub fn summary(&self) -> Summary {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            lines_read: l(&self.lines_read),
            records_sent: l(&self.records_sent),
            records_acked: l(&self.records_acked),
            records_failed: l(&self.records_failed),
            lines_malformed: l(&self.lines_malformed),
            checkpoints_written: l(&self.checkpoints_written),
        }
    }
}

fn count(stats: &AtomicU64, name: &'static str, stream: &Arc<str>, n: u64) {
    stats.fetch_add(n, Ordering::Relaxed);
    metrics::counter!(name, "stream" => stream.to_string()).increment(n);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent across a panic (plain field updates).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A flow at run time.
struct Flow {
    key: String,
    config: FlowConfig,
    stream: Arc<str>,
    pattern: String,
    regex: Option<regex::Regex>,
    tails: HashMap<FileId, Tail>,
}

/// What the send side of a flow needs.
#[derive(Clone)]
struct Sender {
    producer: Producer,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    checkpointer: Arc<Checkpointer>,
}

impl Flow {
    fn new(config: FlowConfig) -> Result<Flow, BoxError> {
        let regex = match &config.conversion {
            Conversion::None => None,
            Conversion::Regex(re) => Some(regex::Regex::new(re)?),
        };
        Ok(Flow {
            key: format!("{} {}", config.stream, config.files),
            stream: config.stream.as_str().into(),
            pattern: config.files.clone(),
            config,
            regex,
            tails: HashMap::new(),
        })
    }

    /// Expands the pattern: (path, id) of every regular file.
    fn scan(&self) -> Vec<(PathBuf, FileId, u64)> {
        let mut found = Vec::new();
        let paths = match glob::glob(&self.pattern) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(pattern = %self.pattern, error = %e, "bad pattern");
                return found;
            }
        };
        for path in paths.flatten() {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => found.push((path, (m.dev(), m.ino()), m.len())),
                Ok(_) => {}
                // Gone between the listing and the stat: seen at the next poll.
                Err(e) => tracing::debug!(path = %path.display(), error = %e, "stat failed"),
            }
        }
        found.sort();
        found
    }

    /// Notices new, rotated and vanished files. Returns the ids matched.
    fn discover(&mut self, checkpointer: &Checkpointer, first: bool) -> HashSet<FileId> {
        let found = self.scan();
        let mut matched = HashSet::new();
        let mut registry = checkpointer.registry();
        for (path, id, len) in found {
            matched.insert(id);
            if let Some(tail) = self.tails.get_mut(&id) {
                // Still (or again) matched, maybe under a new name.
                if tail.path != path
                    && let Some(e) = registry.entries.get_mut(&(self.key.clone(), id))
                {
                    e.path.clone_from(&path);
                }
                tail.path = path;
                if !tail.finished {
                    tail.rotated = None;
                }
                continue;
            }
            let offset = match registry.store.get(&self.key, id) {
                Ok(Some(o)) if o <= len => o,
                Ok(Some(o)) => {
                    tracing::info!(path = %path.display(), checkpoint = o, len, "file shorter than its checkpoint (truncated): reading from 0");
                    0
                }
                Ok(None) => 0,
                Err(e) => {
                    // Without the checkpoint we cannot tell what was sent: retry next poll.
                    tracing::error!(path = %path.display(), error = %e, "reading checkpoint");
                    continue;
                }
            };
            match Tail::open(&path, offset) {
                Ok(tail) => {
                    tracing::info!(path = %path.display(), dev = id.0, ino = id.1, offset, "tailing");
                    registry.entries.insert(
                        (self.key.clone(), id),
                        Entry {
                            stream: Arc::clone(&self.stream),
                            path: path.clone(),
                            acks: Arc::clone(&tail.acks),
                            saved: Some(offset),
                        },
                    );
                    self.tails.insert(id, tail);
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot open"),
            }
        }
        if first {
            // Forget checkpoints of files that vanished while the agent was down.
            match registry.store.retain(&self.key, &matched) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(flow = %self.key, n, "dropped checkpoints of vanished files")
                }
                Err(e) => tracing::warn!(error = %e, "pruning checkpoints"),
            }
        }
        let now = Instant::now();
        for (id, tail) in &mut self.tails {
            if !matched.contains(id) && tail.rotated.is_none() {
                tracing::info!(path = %tail.path.display(), dev = id.0, ino = id.1, "rotated or removed: reading it to its end");
                tail.rotated = Some(now);
            }
        }
        matched
    }

    /// The partition key and data of a line; `None` if the line is skipped.
    fn convert(
        &self,
        line: Bytes,
        path: &Path,
        end: u64,
        stats: &Stats,
    ) -> Option<(String, Bytes)> {
        let data = match &self.regex {
            None => line.clone(),
            Some(re) => {
                let text = String::from_utf8_lossy(&line);
                match re.captures(&text) {
                    Some(caps) => {
                        let mut obj = serde_json::Map::new();
                        for name in re.capture_names().flatten() {
                            if let Some(m) = caps.name(name) {
                                obj.insert(name.to_owned(), m.as_str().into());
                            }
                        }
                        Bytes::from(serde_json::Value::Object(obj).to_string())
                    }
                    None => {
                        count(&stats.lines_malformed, "LinesMalformed", &self.stream, 1);
                        tracing::warn!(path = %path.display(), end_offset = end, line = %truncate(&text, 200), "line does not match the regex: skipped");
                        return None;
                    }
                }
            }
        };
        let key = match &self.config.partition_key {
            PartitionKey::Random => random_key(),
            PartitionKey::LineHash => {
                let digest = Md5::digest(&line);
                digest.iter().map(|b| format!("{b:02x}")).collect()
            }
            PartitionKey::JsonField(field) => {
                match serde_json::from_slice::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|v| v.get(field).cloned())
                {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => {
                        truncate(&s, 256).to_owned()
                    }
                    Some(v) if !v.is_null() && !v.is_string() => {
                        truncate(&v.to_string(), 256).to_owned()
                    }
                    _ => {
                        count(&stats.lines_malformed, "LinesMalformed", &self.stream, 1);
                        tracing::warn!(path = %path.display(), end_offset = end, field = %field, "line is not a JSON object with the partition key field: sent with a random key");
                        random_key()
                    }
                }
            }
        };
        Some((key, data))
    }

    /// Reads and sends what is new in every file. Returns false once the agent stops.
    async fn pump(&mut self, sender: &Sender) -> bool {
        // Rotated files first, so that their last lines go before the new file's.
        let mut ids: Vec<(bool, FileId)> = self
            .tails
            .iter()
            .map(|(id, t)| (t.rotated.is_none(), *id))
            .collect();
        ids.sort();
        let now = Instant::now();
        for (_, id) in ids {
            let Some(mut tail) = self.tails.remove(&id) else {
                continue;
            };
            let running = self.pump_one(id, &mut tail, sender, now).await;
            self.tails.insert(id, tail);
            if !running {
                return false;
            }
        }
        true
    }

    async fn pump_one(&self, id: FileId, tail: &mut Tail, sender: &Sender, now: Instant) -> bool {
        if tail.finished {
            return true;
        }
        match tail
            .file
            .metadata()
            .and_then(|m| Ok((m.len(), tail.was_truncated(m.len())?)))
        {
            Ok((len, true)) => {
                tracing::info!(path = %tail.path.display(), size = len, offset = tail.read_pos, "file truncated (copy-truncate): reading from 0");
                match tail.truncated() {
                    Ok(acks) => {
                        if let Some(e) = sender
                            .checkpointer
                            .registry()
                            .entries
                            .get_mut(&(self.key.clone(), id))
                        {
                            e.acks = acks;
                        }
                        sender.checkpointer.wake();
                    }
                    Err(e) => {
                        tracing::error!(path = %tail.path.display(), error = %e, "seek failed");
                        return true;
                    }
                }
            }
            Ok((_, false)) => {}
            Err(e) => tracing::warn!(path = %tail.path.display(), error = %e, "fstat failed"),
        }
        let mut lines = Vec::new();
        let grew = match tail.read_lines(&mut lines) {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(path = %tail.path.display(), error = %e, "read failed");
                false
            }
        };
        if let Some(since) = tail.rotated.as_mut() {
            if grew {
                *since = now;
            } else if now.duration_since(*since) >= ROTATED_GRACE {
                // Done with the old inode: its unterminated last line goes too.
                if !tail.buf.is_empty() {
                    let line = Bytes::from(std::mem::take(&mut tail.buf));
                    tail.line_start = tail.read_pos;
                    lines.push((line, tail.read_pos));
                }
                tail.finished = true;
                tracing::info!(path = %tail.path.display(), offset = tail.read_pos, "rotated file read to its end");
            }
        }
        if !lines.is_empty() {
            count(
                &sender.stats.lines_read,
                "LinesRead",
                &self.stream,
                lines.len() as u64,
            );
        }
        let skipped = |tail: &Tail, end| {
            lock(&tail.acks).push(end, true);
            sender.checkpointer.wake();
        };
        for (line, end) in lines {
            if sender.stop.load(Ordering::Relaxed) {
                return false;
            }
            if line.is_empty() {
                skipped(tail, end);
                continue;
            }
            let Some((key, data)) = self.convert(line, &tail.path, end, &sender.stats) else {
                skipped(tail, end);
                continue;
            };
            let record = Record::new(Arc::clone(&self.stream), key, data);
            match sender.producer.send(record.clone()).await {
                Ok(future) => {
                    count(&sender.stats.records_sent, "RecordsSent", &self.stream, 1);
                    let index = lock(&tail.acks).push(end, false);
                    let acked = (Arc::clone(&tail.acks), index);
                    tokio::spawn(await_ack(future, record, sender.clone(), acked));
                }
                Err(SendError::Invalid { reason, .. }) => {
                    count(
                        &sender.stats.records_failed,
                        "RecordsFailed",
                        &self.stream,
                        1,
                    );
                    count(
                        &sender.stats.lines_malformed,
                        "LinesMalformed",
                        &self.stream,
                        1,
                    );
                    tracing::error!(path = %tail.path.display(), end_offset = end, %reason, "record refused by the producer: skipped");
                    skipped(tail, end);
                }
                Err(e) => {
                    tracing::info!(error = %e, "producer closed");
                    return false;
                }
            }
        }
        true
    }

    /// Closes rotated files read to their end whose lines are all acknowledged, and
    /// deletes their checkpoints (so that a later file reusing the inode starts at 0).
    fn close_finished(&mut self, checkpointer: &Checkpointer) {
        let done: Vec<FileId> = self
            .tails
            .iter()
            .filter(|(_, t)| t.finished && lock(&t.acks).lines.is_empty())
            .map(|(id, _)| *id)
            .collect();
        if done.is_empty() {
            return;
        }
        let mut registry = checkpointer.registry();
        for id in done {
            if let Some(tail) = self.tails.remove(&id) {
                tracing::info!(path = %tail.path.display(), "rotated file fully acknowledged: closed");
                registry.entries.remove(&(self.key.clone(), id));
                if let Err(e) = registry.store.delete(&self.key, id) {
                    tracing::warn!(error = %e, "deleting checkpoint");
                }
            }
        }
    }

    fn outstanding(&self) -> usize {
        self.tails.values().map(|t| lock(&t.acks).lines.len()).sum()
    }
}

fn random_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Awaits a record's result, re-sending it after failures, until it is acknowledged (then
/// marks line `acked.1` of `acked.0` and wakes the checkpoint writer) or the agent stops.
async fn await_ack(
    mut future: RecordFuture,
    record: Record,
    sender: Sender,
    acked: (SharedAcks, u64),
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match future.await {
            Ok(_) => {
                count(
                    &sender.stats.records_acked,
                    "RecordsAcked",
                    &record.stream,
                    1,
                );
                lock(&acked.0).ack(acked.1);
                sender.checkpointer.wake();
                return;
            }
            Err(e) => {
                count(
                    &sender.stats.records_failed,
                    "RecordsFailed",
                    &record.stream,
                    1,
                );
                if sender.stop.load(Ordering::Relaxed) {
                    tracing::warn!(error = %e, "record failed while stopping: not checkpointed");
                    return;
                }
                tracing::warn!(error = %e, ?backoff, "record failed: sending it again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                match sender.producer.send(record.clone()).await {
                    Ok(f) => {
                        count(&sender.stats.records_sent, "RecordsSent", &record.stream, 1);
                        future = f;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "record not re-sent");
                        return;
                    }
                }
            }
        }
    }
}

/// Runs the agent over `kinesis` until `shutdown` completes, then flushes, checkpoints and
/// returns the counters.
pub async fn run(
    config: &Config,
    kinesis: Arc<dyn Kinesis>,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Summary, BoxError> {
    let store = CheckpointStore::open(&config.checkpoint_db)?;
    let mut flows = config
        .flows
        .iter()
        .cloned()
        .map(Flow::new)
        .collect::<Result<Vec<_>, _>>()?;
    let producer_config = ProducerConfig::builder().build()?;
    let ttl = producer_config.record_ttl();
    let checkpointer = Arc::new(Checkpointer::new(store, Arc::clone(&stats)));
    let writer = {
        let checkpointer = Arc::clone(&checkpointer);
        std::thread::Builder::new()
            .name("rill-agent-checkpoints".into())
            .spawn(move || checkpointer.run())?
    };
    let sender = Sender {
        producer: Producer::new(kinesis, producer_config),
        stats: Arc::clone(&stats),
        stop: Arc::new(AtomicBool::new(false)),
        checkpointer: Arc::clone(&checkpointer),
    };
    let stop = Arc::clone(&sender.stop);
    let (stopped_tx, mut stopped) = tokio::sync::watch::channel(false);
    {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::Relaxed);
            let _ = stopped_tx.send(true);
        });
    }
    let interval = Duration::from_millis(config.poll_interval_ms);
    let mut first = true;
    let mut last_log = Instant::now();
    loop {
        let mut running = true;
        for flow in &mut flows {
            flow.close_finished(&checkpointer);
            flow.discover(&checkpointer, first);
            // Not cancelled on shutdown (a file's state would be lost mid-way): it checks
            // the stop flag between lines instead.
            running &= flow.pump(&sender).await && !stop.load(Ordering::Relaxed);
            if !running {
                break;
            }
        }
        first = false;
        if last_log.elapsed() >= Duration::from_secs(10) {
            last_log = Instant::now();
            let s = stats.summary();
            tracing::info!(
                lines = s.lines_read,
                sent = s.records_sent,
                acked = s.records_acked,
                failed = s.records_failed,
                malformed = s.lines_malformed,
                "progress"
            );
        }
        if !running {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
    }
    // Stop: no more reading; what was sent is flushed and awaited, then checkpointed.
    tracing::info!("stopping: flushing");
    sender.producer.flush().await;
    let deadline = Instant::now() + ttl + Duration::from_secs(10);
    loop {
        let left: usize = flows.iter().map(Flow::outstanding).sum();
        if left == 0 || Instant::now() > deadline {
            if left > 0 {
                tracing::warn!(
                    left,
                    "records still unacknowledged at exit: they will be re-sent"
                );
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for flow in &mut flows {
        flow.close_finished(&checkpointer);
    }
    stop.store(true, Ordering::Relaxed);
    checkpointer.stop();
    match tokio::task::spawn_blocking(move || writer.join()).await {
        Ok(Ok(())) => {}
        _ => tracing::error!("the checkpoint writer panicked"),
    }
    sender.producer.shutdown().await;
    Ok(stats.summary())
}
