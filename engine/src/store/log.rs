//! A stream's log: segments on disk, the writer thread with group commit, the in-memory
//! index of runs, reads and retention. The format and the durability contract are in
//! [`super`].

use super::segment::{self, Decoded};
use super::{FsyncPolicy, StoreError};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// A run holds at most this many records ...
const MAX_RUN_RECORDS: u32 = 512;
/// ... or about this many bytes, so that a short read does not read much more than it returns.
const MAX_RUN_BYTES: u32 = 128 * 1024;
/// A commit takes waiting appends up to about this many bytes; the rest form the next one.
const MAX_COMMIT_BYTES: usize = 16 * 1024 * 1024;

/// Settings of one log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// When writes are synced.
    pub fsync: FsyncPolicy,
    /// A segment is sealed once it is at least this long (a commit is never split).
    pub segment_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A record to append.
#[derive(Debug, Clone)]
pub struct AppendRecord {
    /// Shard index.
    pub shard: u32,
    /// Partition key (at most 65535 bytes of UTF-8).
    pub partition_key: String,
    /// Payload.
    pub data: Bytes,
    /// Frame flags, stored with the record and returned by reads (bit 0: encrypted).
    pub flags: u8,
}

/// What an append got: one position per record, in the order given, and the arrival time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The records' positions in their shards.
    pub positions: Vec<u64>,
    /// The commit's arrival time (epoch ms), the same for every record of the append.
    pub arrival_ms: i64,
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in the shard.
    pub position: u64,
    /// Arrival time, epoch ms.
    pub arrival_ms: i64,
    /// Partition key.
    pub partition_key: String,
    /// Payload.
    pub data: Bytes,
    /// Frame flags as appended.
    pub flags: u8,
}

/// Positions of a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardState {
    /// Position of the oldest retained record (equal to `next_position` when none is).
    pub trim_position: u64,
    /// Position the next record will get.
    pub next_position: u64,
    /// Arrival time of the newest retained record.
    pub last_arrival_ms: Option<i64>,
}

/// Counters of a log since it was opened.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Commits written.
    pub commits: AtomicU64,
    /// Records written.
    pub records: AtomicU64,
    /// Bytes written (frames).
    pub bytes: AtomicU64,
    /// Data syncs made.
    pub syncs: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    first: u64,
    count: u32,
    segment: u64,
    offset: u64,
    len: u32,
    arrival_ms: i64,
}

#[derive(Debug, Default)]
struct ShardIndex {
    runs: VecDeque<Run>,
    next: u64,
}

impl ShardIndex {
    fn trim(&self) -> u64 {
        self.runs.front().map_or(self.next, |r| r.first)
    }
}

#[derive(Debug)]
struct SegmentInfo {
    path: PathBuf,
    file: Arc<File>,
    len: u64,
    max_arrival: Option<i64>,
}

#[derive(Debug, Default)]
struct IndexState {
    shards: Vec<ShardIndex>,
    segments: BTreeMap<u64, SegmentInfo>,
}

type Reply = oneshot::Sender<Result<AppendResult, StoreError>>;

struct Request {
    records: Vec<AppendRecord>,
    reply: Reply,
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<Request>,
    retention: Vec<(i64, oneshot::Sender<Result<usize, StoreError>>)>,
    closing: bool,
}

/// The clock a log stamps arrivals with: epoch milliseconds.
pub type ClockFn = Arc<dyn Fn() -> i64 + Send + Sync>;

struct Shared {
    dir: PathBuf,
    config: LogConfig,
    index: RwLock<IndexState>,
    pending: Mutex<Pending>,
    wake: Condvar,
    commits: watch::Sender<u64>,
    stats: LogStats,
    clock: ClockFn,
}

/// One stream's log. Appends are handed to a writer thread; reads go straight to the files.
pub struct StreamLog {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for StreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamLog")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Creates a segment file with its header, syncs it and its directory entry.
fn create_segment(
    dir: &Path,
    id: u64,
    next: &[u64],
) -> Result<(Arc<File>, u64, PathBuf), StoreError> {
    let path = segment_path(dir, id);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| StoreError::io("create segment", &path, e))?;
    let header = segment::encode_header(id, next);
    let made = file
        .write_all_at(&header, 0)
        .map_err(|e| StoreError::io("write segment header", &path, e))
        .and_then(|()| {
            file.sync_all()
                .map_err(|e| StoreError::io("fsync segment", &path, e))
        })
        .and_then(|()| sync_dir(dir));
    if let Err(e) = made {
        // Take the half-made file away (it holds no record), so that the segment before it
        // stays the newest one. Should that fail too, recovery rewrites its header.
        drop(file);
        if let Err(rm) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %rm, "could not remove a half-made segment");
        }
        return Err(e);
    }
    Ok((Arc::new(file), header.len() as u64, path))
}

impl StreamLog {
    /// Opens (creating if needed) the log in `dir`, recovering it as the module docs say,
    /// and starts its writer thread. `clock` gives epoch milliseconds for arrival times.
    pub fn open(dir: &Path, config: LogConfig, clock: ClockFn) -> Result<StreamLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
        let mut ids: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))? {
            let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name
                .strip_suffix(".seg")
                .and_then(|n| n.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();

        let mut state = IndexState::default();
        let mut next: Vec<u64> = Vec::new();
        let mut last_arrival = i64::MIN;
        let last_id = ids.last().copied();
        for &id in &ids {
            let path = segment_path(dir, id);
            let is_last = Some(id) == last_id;
            let raw = std::fs::read(&path).map_err(|e| StoreError::io("read segment", &path, e))?;
            let raw = Bytes::from(raw);
            let header = match segment::decode_header(&raw) {
                Ok(h) => h,
                Err(reason) if is_last => {
                    // A new segment is synced before anything is written to it, so a bad
                    // header on the newest one is a creation torn by a crash: no records.
                    tracing::warn!(path = %path.display(), %reason, "rewriting torn segment header");
                    let (file, len, path) = create_segment(dir, id, &next)?;
                    state.segments.insert(
                        id,
                        SegmentInfo {
                            path,
                            file,
                            len,
                            max_arrival: None,
                        },
                    );
                    continue;
                }
                Err(reason) => {
                    return Err(StoreError::Corrupt {
                        path,
                        offset: 0,
                        reason,
                    });
                }
            };
            // A header's position for a shard is where that shard's records continue. Past the
            // records the earlier segments hold, it means some were lost (a sealed segment
            // deleted or cut short), unless the shard has none left (retention deleted them).
            for (shard, (n, h)) in next.iter().zip(&header.next_positions).enumerate() {
                if h > n && state.shards.get(shard).is_some_and(|s| !s.runs.is_empty()) {
                    return Err(StoreError::Corrupt {
                        path,
                        offset: 0,
                        reason: format!(
                            "shard {shard} continues at position {h}, but the segments \
                             before this one end at {n}: records are missing"
                        ),
                    });
                }
            }
            if header.next_positions.len() > next.len() {
                next.resize(header.next_positions.len(), 0);
            }
            for (n, h) in next.iter_mut().zip(&header.next_positions) {
                *n = (*n).max(*h);
            }
            let mut at = header.len;
            let mut max_arrival = None;
            let mut cut = None;
            while at < raw.len() {
                match segment::decode_frame(&raw, at) {
                    Decoded::Frame(f) => {
                        let shard = f.shard as usize;
                        if shard >= next.len() {
                            next.resize(shard + 1, 0);
                        }
                        if f.position != next[shard] {
                            let reason = format!(
                                "shard {} position {} where {} was expected",
                                f.shard, f.position, next[shard]
                            );
                            if is_last {
                                cut = Some((at, reason));
                                break;
                            }
                            return Err(StoreError::Corrupt {
                                path,
                                offset: at as u64,
                                reason,
                            });
                        }
                        next[shard] += 1;
                        last_arrival = last_arrival.max(f.arrival_ms);
                        max_arrival =
                            Some(max_arrival.map_or(f.arrival_ms, |m: i64| m.max(f.arrival_ms)));
                        if state.shards.len() <= shard {
                            state.shards.resize_with(shard + 1, ShardIndex::default);
                        }
                        let runs = &mut state.shards[shard].runs;
                        let len = f.len as u32;
                        match runs.back_mut() {
                            Some(r)
                                if r.segment == id
                                    && r.first + u64::from(r.count) == f.position
                                    && r.offset + u64::from(r.len) == at as u64
                                    && r.arrival_ms == f.arrival_ms
                                    && r.count < MAX_RUN_RECORDS
                                    && r.len < MAX_RUN_BYTES =>
                            {
                                r.count += 1;
                                r.len += len;
                            }
                            _ => runs.push_back(Run {
                                first: f.position,
                                count: 1,
                                segment: id,
                                offset: at as u64,
                                len,
                                arrival_ms: f.arrival_ms,
                            }),
                        }
                        at += f.len;
                    }
                    Decoded::Incomplete => {
                        cut = Some((at, "incomplete frame".to_string()));
                        break;
                    }
                    Decoded::Bad(reason) => {
                        cut = Some((at, reason));
                        break;
                    }
                }
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::io("open segment", &path, e))?;
            let mut len = raw.len() as u64;
            if let Some((offset, reason)) = cut {
                if !is_last {
                    return Err(StoreError::Corrupt {
                        path,
                        offset: offset as u64,
                        reason,
                    });
                }
                tracing::warn!(
                    path = %path.display(), offset, dropped = raw.len() - offset, %reason,
                    "truncating torn tail"
                );
                file.set_len(offset as u64)
                    .map_err(|e| StoreError::io("truncate torn tail", &path, e))?;
                file.sync_all()
                    .map_err(|e| StoreError::io("fsync segment", &path, e))?;
                len = offset as u64;
            }
            state.segments.insert(
                id,
                SegmentInfo {
                    path,
                    file: Arc::new(file),
                    len,
                    max_arrival,
                },
            );
        }
        if state.shards.len() < next.len() {
            state.shards.resize_with(next.len(), ShardIndex::default);
        }
        for (s, n) in state.shards.iter_mut().zip(&next) {
            s.next = *n;
        }
        let active_id = match last_id {
            Some(id) => id,
            None => {
                let (file, len, path) = create_segment(dir, 0, &next)?;
                state.segments.insert(
                    0,
                    SegmentInfo {
                        path,
                        file,
                        len,
                        max_arrival: None,
                    },
                );
                0
            }
        };
        let (commits, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            config,
            index: RwLock::new(state),
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            commits,
            stats: LogStats::default(),
            clock,
        });
        let mut writer = Writer {
            shared: Arc::clone(&shared),
            active: active_id,
            next,
            last_arrival,
            poisoned: false,
            pending_cut: None,
            dirty_since: None,
            buf: Vec::new(),
        };
        let handle = std::thread::Builder::new()
            .name("rill-log-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::io("spawn writer thread", dir, e))?;
        Ok(StreamLog {
            shared,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Hands records to the writer. The returned receiver resolves once the records are
    /// committed under the log's fsync policy (or failed; then none of them is stored).
    /// Records of one append to one shard keep their order; appends are committed in the
    /// order they were submitted.
    pub fn append(
        &self,
        records: Vec<AppendRecord>,
    ) -> oneshot::Receiver<Result<AppendResult, StoreError>> {
        let (reply, rx) = oneshot::channel();
        if let Some(r) = records
            .iter()
            .find(|r| r.shard as usize >= segment::MAX_SHARDS)
        {
            // Recovery would take such a frame for damage; refuse it rather than store it.
            let _ = reply.send(Err(StoreError::io(
                "append",
                &self.shared.dir,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("shard index {} out of range", r.shard),
                ),
            )));
            return rx;
        }
        let mut p = self.shared.pending.lock();
        if p.closing {
            let _ = reply.send(Err(StoreError::Closed));
        } else {
            p.queue.push_back(Request { records, reply });
            drop(p);
            self.shared.wake.notify_one();
        }
        rx
    }

    /// Resolves once every append submitted before it has been committed (or failed). Used to
    /// close a shard at an exact position: with new appends to it held back by the caller,
    /// the shard's next position after the barrier is final.
    pub fn barrier(&self) -> oneshot::Receiver<Result<AppendResult, StoreError>> {
        self.append(Vec::new())
    }

    /// Reads up to `max_records` records of `shard` from position `from` (or from the trim
    /// horizon, if `from` is older), stopping before `max_bytes` of data unless that would
    /// return nothing. Returns the records and the position after the last one returned.
    pub fn read(
        &self,
        shard: u32,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<(Vec<StoredRecord>, u64), StoreError> {
        let mut plan: Vec<(Run, Arc<File>, PathBuf)> = Vec::new();
        let start;
        {
            let idx = self.shared.index.read();
            let Some(s) = idx.shards.get(shard as usize) else {
                return Ok((Vec::new(), from));
            };
            start = from.max(s.trim());
            if start >= s.next || max_records == 0 {
                return Ok((Vec::new(), start.min(s.next.max(from))));
            }
            let first = s
                .runs
                .partition_point(|r| r.first + u64::from(r.count) <= start);
            // Plan runs until they hold enough records or payload bytes. A frame's payload
            // (key and data) is its length less the fixed overhead; the first run may start
            // before `start`, so its bytes are not counted (planning one run too many only
            // costs a read, planning one too few would return less than allowed).
            let overhead = (segment::FRAME_PREFIX + segment::BODY_FIXED) as u64;
            let (mut recs, mut bytes) = (0u64, 0u64);
            for (k, r) in s.runs.range(first..).enumerate() {
                let Some(seg) = idx.segments.get(&r.segment) else {
                    break;
                };
                plan.push((*r, Arc::clone(&seg.file), seg.path.clone()));
                recs += r.first + u64::from(r.count) - start.max(r.first);
                if k > 0 {
                    bytes += u64::from(r.len) - overhead * u64::from(r.count);
                }
                if recs >= max_records as u64 || bytes >= max_bytes as u64 {
                    break;
                }
            }
        }
        let mut out = Vec::new();
        let mut data_bytes = 0usize;
        let mut next = start;
        // Every frame returned is checked against its checksum, shard and position: damaged
        // bytes are never returned as a record. Records before the damage are returned; the
        // read that starts at it fails with `StoreError::Corrupt`.
        let failed = |out: Vec<StoredRecord>, next: u64, e: StoreError| {
            if out.is_empty() {
                Err(e)
            } else {
                Ok((out, next))
            }
        };
        'runs: for (run, file, path) in plan {
            let mut buf = vec![0u8; run.len as usize];
            file.read_exact_at(&mut buf, run.offset)
                .map_err(|e| StoreError::io("read segment", &path, e))?;
            let buf = Bytes::from(buf);
            let mut at = 0usize;
            // Frames before `start` are stepped over by their length alone: a damaged one
            // there does not hide the records after it. A damaged length lands the next
            // frame off its boundary, which fails the checks below.
            let mut k = 0u64;
            while run.first + k < start && k < u64::from(run.count) {
                let Some(len) = buf
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
                else {
                    break;
                };
                at = at.saturating_add(segment::FRAME_PREFIX + len as usize);
                k += 1;
            }
            while k < u64::from(run.count) {
                let frame = match segment::decode_frame(&buf, at) {
                    Decoded::Frame(f) => f,
                    Decoded::Incomplete => {
                        let e = corrupt(&path, run.offset + at as u64, "truncated frame".into());
                        return failed(out, next, e);
                    }
                    Decoded::Bad(reason) => {
                        let e = corrupt(&path, run.offset + at as u64, reason);
                        return failed(out, next, e);
                    }
                };
                if frame.shard != shard || frame.position != run.first + k {
                    let e = corrupt(
                        &path,
                        run.offset + at as u64,
                        format!(
                            "frame is shard {} position {}, index says shard {shard} position {}",
                            frame.shard,
                            frame.position,
                            run.first + k
                        ),
                    );
                    return failed(out, next, e);
                }
                at += frame.len;
                k += 1;
                let size = frame.data.len() + frame.partition_key.len();
                if out.len() >= max_records || (!out.is_empty() && data_bytes + size > max_bytes) {
                    break 'runs;
                }
                data_bytes += size;
                next = frame.position + 1;
                out.push(StoredRecord {
                    position: frame.position,
                    arrival_ms: frame.arrival_ms,
                    partition_key: frame.partition_key,
                    data: frame.data,
                    flags: frame.flags,
                });
            }
        }
        Ok((out, next))
    }

    /// Trim horizon, next position and newest arrival of a shard.
    pub fn shard_state(&self, shard: u32) -> ShardState {
        let idx = self.shared.index.read();
        match idx.shards.get(shard as usize) {
            Some(s) => ShardState {
                trim_position: s.trim(),
                next_position: s.next,
                last_arrival_ms: s.runs.back().map(|r| r.arrival_ms),
            },
            None => ShardState {
                trim_position: 0,
                next_position: 0,
                last_arrival_ms: None,
            },
        }
    }

    /// The position of the first retained record of `shard` that arrived at or after
    /// `at_ms`, or the shard's next position when none did.
    pub fn position_at_time(&self, shard: u32, at_ms: i64) -> u64 {
        let idx = self.shared.index.read();
        let Some(s) = idx.shards.get(shard as usize) else {
            return 0;
        };
        let i = s.runs.partition_point(|r| r.arrival_ms < at_ms);
        s.runs.get(i).map_or(s.next, |r| r.first)
    }

    /// Arrival time of the record at `position`, if it is retained.
    pub fn arrival_of(&self, shard: u32, position: u64) -> Option<i64> {
        let idx = self.shared.index.read();
        let s = idx.shards.get(shard as usize)?;
        let i = s
            .runs
            .partition_point(|r| r.first + u64::from(r.count) <= position);
        s.runs
            .get(i)
            .filter(|r| r.first <= position)
            .map(|r| r.arrival_ms)
    }

    /// Deletes every segment whose newest record arrived before `cutoff_ms` (sealing the
    /// newest segment first if it has expired as a whole). Returns how many were deleted.
    pub async fn enforce_retention(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.shared.pending.lock();
            if p.closing {
                return Err(StoreError::Closed);
            }
            p.retention.push((cutoff_ms, tx));
        }
        self.shared.wake.notify_one();
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// A receiver that changes after every commit (for readers that wait for new records).
    pub fn subscribe_commits(&self) -> watch::Receiver<u64> {
        self.shared.commits.subscribe()
    }

    /// Counters since the log was opened.
    pub fn stats(&self) -> &LogStats {
        &self.shared.stats
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.shared.index.read().segments.len()
    }

    /// Commits everything submitted so far, syncs, and stops the writer. Appends after this
    /// fail with [`StoreError::Closed`]. Blocks until the writer has stopped.
    pub fn close(&self) {
        self.shared.pending.lock().closing = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.writer.lock().take()
            && h.join().is_err()
        {
            tracing::error!(dir = %self.shared.dir.display(), "log writer thread panicked");
        }
    }
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reports damaged bytes (log and the `StoreCorruptFrames` counter) and makes the error.
fn corrupt(path: &Path, offset: u64, reason: String) -> StoreError {
    tracing::error!(path = %path.display(), offset, %reason, "corrupt record in segment");
    metrics::counter!("StoreCorruptFrames").increment(1);
    StoreError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

/// Bytes per `pwrite` of a commit.
const WRITE_CHUNK: usize = 256 * 1024;

/// Writes `buf` at `offset` in pieces of [`WRITE_CHUNK`] bytes. One multi-megabyte `pwrite`
/// makes the kernel take large page-cache folios for it, which cost several times more CPU
/// per byte to allocate and fill than the folios of smaller writes (measured on the
/// virtualised ext4 this project runs on); a commit is still one fsync.
fn write_chunked(file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    let mut at = offset;
    for chunk in buf.chunks(WRITE_CHUNK) {
        file.write_all_at(chunk, at)?;
        at += chunk.len() as u64;
    }
    Ok(())
}

/// Truncates a segment to `len` and syncs it.
fn cut_back(file: &File, len: u64, path: &Path) -> Result<(), StoreError> {
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("truncate after failed commit", path, e))
}

/// A failed commit whose bytes are still to be cut off the end of its segment.
#[derive(Debug, Clone, Copy)]
struct PendingCut {
    /// The segment.
    segment: u64,
    /// Its length before the commit: the end of its last good frame.
    len: u64,
}

struct Writer {
    shared: Arc<Shared>,
    active: u64,
    next: Vec<u64>,
    last_arrival: i64,
    /// Set when acknowledged records may not be on disk (a sync under `Interval`/`Never`
    /// failed): the log refuses writes until it is reopened and recovered from disk.
    poisoned: bool,
    /// Set when a failed commit could not be cut back yet; retried before the next write.
    pending_cut: Option<PendingCut>,
    dirty_since: Option<Instant>,
    buf: Vec<u8>,
}

impl Writer {
    fn run(&mut self) {
        loop {
            let (batch, retention, closing) = {
                let mut p = self.shared.pending.lock();
                while p.queue.is_empty() && p.retention.is_empty() && !p.closing {
                    match self.shared.config.fsync {
                        FsyncPolicy::Interval(d) if self.dirty_since.is_some() => {
                            let waited = self.dirty_since.map_or(Duration::ZERO, |t| t.elapsed());
                            if waited >= d {
                                break;
                            }
                            self.shared.wake.wait_for(&mut p, d - waited);
                        }
                        _ => self.shared.wake.wait(&mut p),
                    }
                }
                let mut batch = Vec::new();
                let mut bytes = 0usize;
                while let Some(r) = p.queue.front() {
                    let size: usize = r
                        .records
                        .iter()
                        .map(|x| x.data.len() + x.partition_key.len() + 40)
                        .sum();
                    if !batch.is_empty() && bytes + size > MAX_COMMIT_BYTES {
                        break;
                    }
                    bytes += size;
                    if let Some(r) = p.queue.pop_front() {
                        batch.push(r);
                    }
                }
                let retention = std::mem::take(&mut p.retention);
                (batch, retention, p.closing && p.queue.is_empty())
            };
            if !batch.is_empty() {
                self.commit(batch);
            }
            for (cutoff, reply) in retention {
                let _ = reply.send(self.retention(cutoff));
            }
            if let FsyncPolicy::Interval(d) = self.shared.config.fsync
                && self.dirty_since.is_some_and(|t| t.elapsed() >= d)
                && let Err(e) = self.sync_active()
            {
                self.poison(&e);
            }
            if closing {
                if let Err(e) = self.finish_cut() {
                    tracing::error!(error = %e, "cutting back a failed commit at close failed");
                }
                if self.dirty_since.is_some()
                    && let Err(e) = self.sync_active()
                {
                    self.poison(&e);
                }
                return;
            }
        }
    }

    fn active_file(&self) -> Option<(Arc<File>, u64, PathBuf)> {
        let idx = self.shared.index.read();
        idx.segments
            .get(&self.active)
            .map(|s| (Arc::clone(&s.file), s.len, s.path.clone()))
    }

    fn sync_active(&mut self) -> Result<(), StoreError> {
        if let Some((file, _, path)) = self.active_file() {
            file.sync_data()
                .map_err(|e| StoreError::io("fsync segment", &path, e))?;
            self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.dirty_since = None;
        Ok(())
    }

    /// A sync of acknowledged records failed: they may not be on disk, and after a failed
    /// sync the kernel may report the next one as successful although the pages are lost. The
    /// log refuses writes from now on; reopening it recovers from what is on disk.
    fn poison(&mut self, e: &StoreError) {
        tracing::error!(
            error = %e, dir = %self.shared.dir.display(),
            "sync of acknowledged records failed; the log refuses writes until reopened"
        );
        metrics::counter!("StoreWriteErrors", "kind" => "poisoned").increment(1);
        self.poisoned = true;
    }

    /// Cuts a failed commit's bytes off its segment, if an earlier attempt failed. Nothing is
    /// written (nor the segment sealed) before this succeeded. Readers never see those bytes:
    /// the index only covers committed frames.
    fn finish_cut(&mut self) -> Result<(), StoreError> {
        let Some(cut) = self.pending_cut else {
            return Ok(());
        };
        let seg = {
            let idx = self.shared.index.read();
            idx.segments
                .get(&cut.segment)
                .map(|s| (Arc::clone(&s.file), s.path.clone()))
        };
        if let Some((file, path)) = seg {
            cut_back(&file, cut.len, &path)?;
            tracing::info!(
                path = %path.display(), len = cut.len,
                "cut a failed commit off the segment; writes resume"
            );
        }
        self.pending_cut = None;
        Ok(())
    }

    /// After a failed commit on the active segment: `cut` is how cutting it back to `len`
    /// went. A cut that failed is retried before anything else is written (`finish_cut`).
    /// The cut syncs the whole file, so it also settles earlier acknowledged but unsynced
    /// records (`Interval`, `Never`): if it fails while there are such records, they may be
    /// lost, and the log is poisoned as after any failed sync of acknowledged records.
    fn after_failed_commit(&mut self, len: u64, cut: Result<(), StoreError>) {
        match cut {
            Ok(()) => self.dirty_since = None,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cutting back a failed commit failed; retried before the next write"
                );
                self.pending_cut = Some(PendingCut {
                    segment: self.active,
                    len,
                });
                if self.dirty_since.is_some() {
                    self.poison(&e);
                }
            }
        }
    }

    /// Seals the active segment and starts a new one.
    fn roll(&mut self) -> Result<(), StoreError> {
        self.finish_cut()?;
        if self.dirty_since.is_some()
            && let Err(e) = self.sync_active()
        {
            self.poison(&e);
            return Err(e);
        }
        let id = self.active + 1;
        let (file, len, path) = create_segment(&self.shared.dir, id, &self.next)?;
        self.shared.index.write().segments.insert(
            id,
            SegmentInfo {
                path,
                file,
                len,
                max_arrival: None,
            },
        );
        self.active = id;
        Ok(())
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if self.poisoned {
            for r in batch {
                let _ = r
                    .reply
                    .send(Err(StoreError::Poisoned(self.shared.dir.clone())));
            }
            return;
        }
        match self.write_batch(&batch) {
            Ok((positions, arrival_ms)) => {
                for (r, positions) in batch.into_iter().zip(positions) {
                    let _ = r.reply.send(Ok(AppendResult {
                        positions,
                        arrival_ms,
                    }));
                }
                self.shared.commits.send_modify(|c| *c += 1);
            }
            Err(e) => {
                tracing::error!(
                    error = %e, dir = %self.shared.dir.display(), requests = batch.len(),
                    "commit failed; none of its records is stored"
                );
                let kind = if e.is_no_space() { "no_space" } else { "io" };
                metrics::counter!("StoreWriteErrors", "kind" => kind).increment(1);
                for r in batch {
                    let _ = r.reply.send(Err(e.duplicate()));
                }
            }
        }
    }

    /// Writes one commit; on success returns each request's positions and the arrival time.
    #[allow(clippy::type_complexity)]
    fn write_batch(&mut self, batch: &[Request]) -> Result<(Vec<Vec<u64>>, i64), StoreError> {
        let arrival = (self.shared.clock)().max(self.last_arrival);
        let mut order: Vec<(u32, u32, u32)> = Vec::new();
        let mut estimate = 0usize;
        for (ri, r) in batch.iter().enumerate() {
            for (i, rec) in r.records.iter().enumerate() {
                order.push((rec.shard, ri as u32, i as u32));
                estimate += segment::FRAME_PREFIX
                    + segment::BODY_FIXED
                    + rec.partition_key.len()
                    + rec.data.len();
            }
        }
        if order.is_empty() {
            // Only barriers: nothing to write, and everything before them is committed.
            return Ok((batch.iter().map(|_| Vec::new()).collect(), arrival));
        }
        order.sort_by_key(|&(shard, _, _)| shard);
        self.finish_cut()?;

        let (_, active_len, _) = self.active_file().ok_or_else(|| StoreError::Closed)?;
        let header_len = (28 + 8 * self.next.len()) as u64;
        if active_len > header_len
            && active_len + estimate as u64 > self.shared.config.segment_bytes
        {
            self.roll()?;
        }
        let (file, base, path) = self.active_file().ok_or(StoreError::Closed)?;

        let mut next = self.next.clone();
        let mut positions: Vec<Vec<u64>> = batch.iter().map(|r| vec![0; r.records.len()]).collect();
        let mut runs: Vec<(u32, Run)> = Vec::new();
        self.buf.clear();
        self.buf.reserve(estimate);
        for &(shard, ri, i) in &order {
            let rec = &batch[ri as usize].records[i as usize];
            let s = shard as usize;
            if s >= next.len() {
                next.resize(s + 1, 0);
            }
            let pos = next[s];
            next[s] += 1;
            positions[ri as usize][i as usize] = pos;
            let offset = base + self.buf.len() as u64;
            let len = segment::encode_frame(
                &mut self.buf,
                shard,
                pos,
                arrival,
                &rec.partition_key,
                &rec.data,
                rec.flags,
            ) as u32;
            match runs.last_mut() {
                Some((rs, r))
                    if *rs == shard && r.count < MAX_RUN_RECORDS && r.len < MAX_RUN_BYTES =>
                {
                    r.count += 1;
                    r.len += len;
                }
                _ => runs.push((
                    shard,
                    Run {
                        first: pos,
                        count: 1,
                        segment: self.active,
                        offset,
                        len,
                        arrival_ms: arrival,
                    },
                )),
            }
        }

        // A failed commit is cut back to the segment's last good frame, so that the next
        // commit appends right after it (see `after_failed_commit`).
        if let Err(e) = write_chunked(&file, &self.buf, base) {
            let cut = cut_back(&file, base, &path);
            self.after_failed_commit(base, cut);
            return Err(StoreError::io("write segment", &path, e));
        }
        match self.shared.config.fsync {
            FsyncPolicy::Always => {
                if let Err(e) = file.sync_data() {
                    // After a failed fsync the kernel may have dropped the dirty pages: take
                    // the bytes back out so no reader or later sync can expose them.
                    let cut = cut_back(&file, base, &path);
                    self.after_failed_commit(base, cut);
                    return Err(StoreError::io("fsync segment", &path, e));
                }
                self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
            }
            FsyncPolicy::Interval(_) | FsyncPolicy::Never => {
                if self.dirty_since.is_none() {
                    self.dirty_since = Some(Instant::now());
                }
            }
        }

        let written = self.buf.len() as u64;
        {
            let mut idx = self.shared.index.write();
            if idx.shards.len() < next.len() {
                idx.shards.resize_with(next.len(), ShardIndex::default);
            }
            for (shard, run) in runs {
                idx.shards[shard as usize].runs.push_back(run);
            }
            for (s, n) in idx.shards.iter_mut().zip(&next) {
                s.next = *n;
            }
            if let Some(seg) = idx.segments.get_mut(&self.active) {
                seg.len = base + written;
                seg.max_arrival = Some(seg.max_arrival.map_or(arrival, |m| m.max(arrival)));
            }
        }
        self.next = next;
        self.last_arrival = arrival;
        let st = &self.shared.stats;
        st.commits.fetch_add(1, Ordering::Relaxed);
        st.records.fetch_add(order.len() as u64, Ordering::Relaxed);
        st.bytes.fetch_add(written, Ordering::Relaxed);
        Ok((positions, arrival))
    }

    fn retention(&mut self, cutoff: i64) -> Result<usize, StoreError> {
        let active_expired = {
            let idx = self.shared.index.read();
            idx.segments
                .get(&self.active)
                .and_then(|s| s.max_arrival)
                .is_some_and(|m| m < cutoff)
        };
        if active_expired {
            self.roll()?;
        }
        let doomed: Vec<(u64, PathBuf)> = {
            let idx = self.shared.index.read();
            idx.segments
                .iter()
                .filter(|(id, s)| **id != self.active && s.max_arrival.is_none_or(|m| m < cutoff))
                .map(|(id, s)| (*id, s.path.clone()))
                .collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        // Take the segments out of the index first, so that no reader plans a read of them;
        // readers that already hold a file handle still read the unlinked file.
        {
            let mut idx = self.shared.index.write();
            for (id, _) in &doomed {
                idx.segments.remove(id);
            }
            for s in &mut idx.shards {
                while s
                    .runs
                    .front()
                    .is_some_and(|r| doomed.iter().any(|(id, _)| *id == r.segment))
                {
                    s.runs.pop_front();
                }
            }
        }
        for (_, path) in &doomed {
            std::fs::remove_file(path).map_err(|e| StoreError::io("delete segment", path, e))?;
        }
        sync_dir(&self.shared.dir)?;
        tracing::debug!(dir = %self.shared.dir.display(), deleted = doomed.len(), "retention");
        Ok(doomed.len())
    }
}
