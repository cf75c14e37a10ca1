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
//! * **Copy-truncate**: when a file's size falls below the read offset, reading restarts
//!   at 0 (lines written between the last poll and the truncation that the copy has are
//!   not re-read; a truncation followed by more writes than the old offset within one poll
//!   is not detected).
//! * **New files** matching the pattern are picked up at the next poll, from their
//!   checkpoint if their (device, inode) has one, else from offset 0.
//!
//! ## Checkpoints and acknowledgements
//!
//! Each sent line is queued per file with the offset after its newline, and a task awaits
//! its producer future; a record that fails (after the producer's own retries) is counted
//! (`RecordsFailed`), logged, and sent again until acknowledged or the agent stops. After
//! each poll the file's checkpoint advances to the end of the longest queue prefix whose
//! records are all acknowledged, and changed checkpoints are written in one SQLite
//! transaction. So after a crash, a restart re-sends only lines after the last written
//! checkpoint: acknowledged lines before it are never sent twice, and no line is skipped.
//!
//! SIGINT/SIGTERM stop reading, flush the producer, wait for outstanding records (up to
//! the producer's record TTL plus 10 s), write the checkpoints and exit.

use bytes::Bytes;
use futures::FutureExt;
use md5::{Digest, Md5};
use rill_engine::api::Kinesis;
use rill_kpl::{Producer, ProducerConfig, Record, RecordFuture, SendError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

use crate::BoxError;
use crate::checkpoint::{Checkpoint, CheckpointStore, FileId};
use crate::config::{Config, Conversion, FlowConfig, PartitionKey};

/// How long a rotated (renamed away or deleted) file must stay unchanged at its end before
/// it is closed.
pub const ROTATED_GRACE: Duration = Duration::from_secs(1);

/// Bytes read from one file per poll at most.
const READ_BUDGET: usize = 4 << 20;

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

/// One sent line awaiting its acknowledgement: the offset after it and the task that
/// resolves to `true` once it is acknowledged (`None`: nothing to wait for).
type Pending = (u64, Option<JoinHandle<bool>>);

/// A tailed file.
struct Tail {
    path: PathBuf,
    file: File,
    /// Offset of the next byte to read.
    read_pos: u64,
    /// Bytes of an incomplete line, starting at `line_start`.
    buf: Vec<u8>,
    line_start: u64,
    pending: VecDeque<Pending>,
    /// Every line before this offset is acknowledged.
    committed: u64,
    /// The checkpoint last written (`None`: never).
    saved: Option<u64>,
    /// Set when the path no longer names this file: when it last grew.
    rotated: Option<Instant>,
    /// A rotated file read to its end and closed for reading.
    finished: bool,
}

impl Tail {
    fn open(path: &Path, offset: u64) -> std::io::Result<Tail> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Tail {
            path: path.to_owned(),
            file,
            read_pos: offset,
            buf: Vec::new(),
            line_start: offset,
            pending: VecDeque::new(),
            committed: offset,
            saved: Some(offset),
            rotated: None,
            finished: false,
        })
    }

    /// Restarts at 0 after a copy-truncate.
    fn truncated(&mut self) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.read_pos = 0;
        self.buf.clear();
        self.line_start = 0;
        // The old lines' records are still delivered; they no longer gate the checkpoint.
        self.pending.clear();
        self.committed = 0;
        Ok(())
    }

    /// Reads complete lines: (line without newline, offset after it). Returns whether the
    /// file grew.
    fn read_lines(&mut self, out: &mut Vec<(Bytes, u64)>) -> std::io::Result<bool> {
        let mut chunk = vec![0u8; 64 << 10];
        let mut total = 0;
        while total < READ_BUDGET {
            let n = match self.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n;
            self.read_pos += n as u64;
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let mut consumed = 0;
        while let Some(i) = self.buf[consumed..].iter().position(|&b| b == b'\n') {
            let end = consumed + i;
            let mut line = &self.buf[consumed..end];
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            out.push((
                Bytes::copy_from_slice(line),
                self.line_start + end as u64 + 1,
            ));
            consumed = end + 1;
        }
        self.buf.drain(..consumed);
        self.line_start += consumed as u64;
        Ok(total > 0)
    }

    /// Advances `committed` over the acknowledged prefix of `pending`.
    fn advance(&mut self) {
        while let Some((end, handle)) = self.pending.front_mut() {
            let done = match handle {
                None => true,
                Some(h) => match h.now_or_never() {
                    Some(Ok(true)) => true,
                    // Not yet, or stopped without an ack (shutdown): the checkpoint stays.
                    Some(Ok(false)) | Some(Err(_)) | None => false,
                },
            };
            if !done {
                break;
            }
            self.committed = *end;
            self.pending.pop_front();
        }
    }
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
    fn discover(&mut self, store: &CheckpointStore) -> HashSet<FileId> {
        let found = self.scan();
        let mut matched = HashSet::new();
        for (path, id, len) in found {
            matched.insert(id);
            if let Some(tail) = self.tails.get_mut(&id) {
                // Still (or again) matched, maybe under a new name.
                tail.path = path;
                if !tail.finished {
                    tail.rotated = None;
                }
                continue;
            }
            let offset = match store.get(&self.key, id) {
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
                    self.tails.insert(id, tail);
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot open"),
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
            let running = self.pump_one(&mut tail, sender, now).await;
            self.tails.insert(id, tail);
            if !running {
                return false;
            }
        }
        true
    }

    async fn pump_one(&self, tail: &mut Tail, sender: &Sender, now: Instant) -> bool {
        if tail.finished {
            return true;
        }
        match tail.file.metadata() {
            Ok(m) if m.len() < tail.read_pos => {
                tracing::info!(path = %tail.path.display(), size = m.len(), offset = tail.read_pos, "file truncated (copy-truncate): reading from 0");
                if let Err(e) = tail.truncated() {
                    tracing::error!(path = %tail.path.display(), error = %e, "seek failed");
                    return true;
                }
            }
            Ok(_) => {}
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
        for (line, end) in lines {
            if sender.stop.load(Ordering::Relaxed) {
                return false;
            }
            if line.is_empty() {
                tail.pending.push_back((end, None));
                continue;
            }
            let Some((key, data)) = self.convert(line, &tail.path, end, &sender.stats) else {
                tail.pending.push_back((end, None));
                continue;
            };
            let record = Record::new(Arc::clone(&self.stream), key, data);
            match sender.producer.send(record.clone()).await {
                Ok(future) => {
                    count(&sender.stats.records_sent, "RecordsSent", &self.stream, 1);
                    let handle = tokio::spawn(await_ack(future, record, sender.clone()));
                    tail.pending.push_back((end, Some(handle)));
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
                    tail.pending.push_back((end, None));
                }
                Err(e) => {
                    tracing::info!(error = %e, "producer closed");
                    return false;
                }
            }
        }
        true
    }

    /// Advances every file's checkpoint; returns those to write, and closes rotated files
    /// that are fully acknowledged (their checkpoint is deleted).
    fn checkpoints(&mut self, store: &CheckpointStore, out: &mut Vec<Checkpoint>) {
        let mut done = Vec::new();
        for (id, tail) in &mut self.tails {
            tail.advance();
            if tail.finished && tail.pending.is_empty() {
                done.push(*id);
                continue;
            }
            if tail.saved != Some(tail.committed) {
                out.push(Checkpoint {
                    flow: self.key.clone(),
                    id: *id,
                    path: tail.path.to_string_lossy().into_owned(),
                    offset: tail.committed,
                });
            }
        }
        for id in done {
            if let Some(tail) = self.tails.remove(&id) {
                tracing::info!(path = %tail.path.display(), "rotated file fully acknowledged: closed");
                if let Err(e) = store.delete(&self.key, id) {
                    tracing::warn!(error = %e, "deleting checkpoint");
                }
            }
        }
    }

    fn mark_saved(&mut self, written: &[Checkpoint]) {
        for c in written.iter().filter(|c| c.flow == self.key) {
            if let Some(t) = self.tails.get_mut(&c.id) {
                t.saved = Some(c.offset);
            }
        }
    }

    fn outstanding(&self) -> usize {
        self.tails.values().map(|t| t.pending.len()).sum()
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

/// Awaits a record's result, re-sending it after failures, until it is acknowledged
/// (`true`) or the producer is closed (`false`).
async fn await_ack(mut future: RecordFuture, record: Record, sender: Sender) -> bool {
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
                return true;
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
                    return false;
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
                        return false;
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
    let mut store = CheckpointStore::open(&config.checkpoint_db)?;
    let mut flows = config
        .flows
        .iter()
        .cloned()
        .map(Flow::new)
        .collect::<Result<Vec<_>, _>>()?;
    let producer_config = ProducerConfig::builder().build()?;
    let ttl = producer_config.record_ttl();
    let sender = Sender {
        producer: Producer::new(kinesis, producer_config),
        stats: Arc::clone(&stats),
        stop: Arc::new(AtomicBool::new(false)),
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
        // Acks that arrived during the sleep are checkpointed before reading more.
        write_checkpoints(&mut flows, &mut store, &stats);
        let mut running = true;
        for flow in &mut flows {
            let matched = flow.discover(&store);
            if first {
                // Forget checkpoints of files that vanished while the agent was down.
                match store.retain(&flow.key, &matched) {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(flow = %flow.key, n, "dropped checkpoints of vanished files")
                    }
                    Err(e) => tracing::warn!(error = %e, "pruning checkpoints"),
                }
            }
            // Not cancelled on shutdown (a file's state would be lost mid-way): it checks
            // the stop flag between lines instead.
            running &= flow.pump(&sender).await && !stop.load(Ordering::Relaxed);
            if !running {
                break;
            }
        }
        first = false;
        write_checkpoints(&mut flows, &mut store, &stats);
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
        write_checkpoints(&mut flows, &mut store, &stats);
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
    stop.store(true, Ordering::Relaxed);
    sender.producer.shutdown().await;
    Ok(stats.summary())
}

fn write_checkpoints(flows: &mut [Flow], store: &mut CheckpointStore, stats: &Stats) {
    let mut batch = Vec::new();
    for flow in flows.iter_mut() {
        flow.checkpoints(store, &mut batch);
    }
    if batch.is_empty() {
        return;
    }
    match store.put_all(&batch) {
        Ok(()) => {
            for flow in flows.iter_mut() {
                flow.mark_saved(&batch);
                let n = batch.iter().filter(|c| c.flow == flow.key).count() as u64;
                if n > 0 {
                    count(
                        &stats.checkpoints_written,
                        "CheckpointsWritten",
                        &flow.stream,
                        n,
                    );
                }
            }
        }
        // Kept in memory; tried again at the next poll.
        Err(e) => tracing::error!(error = %e, "writing checkpoints"),
    }
}
