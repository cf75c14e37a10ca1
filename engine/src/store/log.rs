//! A stream's log: the public face over the writer thread ([`super::writer`]), reads
//! ([`super::reader`]), recovery ([`super::recovery`]) and retention
//! ([`super::retention`]). The format and the durability contract are in [`super`].

use super::StoreError;
use super::fs::{Fs, StdFs};
use super::lazy;
use super::reader;
use super::recovery;
use super::segment;
use super::types::{
    AppendRecord, AppendResult, ClockFn, LogConfig, LogStats, Pending, Request, ShardState, Shared,
    StoredRecord,
};
use super::writer::Writer;
use parking_lot::{Condvar, Mutex, RwLock};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::{oneshot, watch};

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

impl StreamLog {
    /// Opens (creating if needed) the log in `dir` on the real filesystem, recovering it as
    /// the module docs of [`super`] say, and starts its writer thread. `clock` gives epoch
    /// milliseconds for arrival times.
    ///
    /// Reads the heads file (or, where it does not serve, the sealed segments' index heads),
    /// the sealed segments' lengths and the newest segment's frames, and may write (a
    /// rebuilt index or heads file, a cut torn tail): it blocks, so call it from a blocking
    /// thread in async code.
    pub fn open(dir: &Path, config: LogConfig, clock: ClockFn) -> Result<StreamLog, StoreError> {
        StreamLog::open_with(Arc::new(StdFs), dir, config, clock)
    }

    /// [`StreamLog::open`] over the file operations of `fs` (the store's I/O seam: a test
    /// can pass a filesystem that fails or crashes on cue).
    pub fn open_with(
        fs: Arc<dyn Fs>,
        dir: &Path,
        config: LogConfig,
        clock: ClockFn,
    ) -> Result<StreamLog, StoreError> {
        let rec = recovery::recover(fs.as_ref(), dir)?;
        let (commits, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            fs,
            dir: dir.to_path_buf(),
            config,
            index: RwLock::new(rec.state),
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            commits,
            stats: LogStats::default(),
            clock,
            loading: Mutex::new(()),
        });
        let mut writer = Writer::new(Arc::clone(&shared), rec.active, rec.next, rec.last_arrival);
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
    ///
    /// This reads segment files and may block: call it from a blocking thread
    /// (`tokio::task::spawn_blocking`), not from an async task.
    pub fn read(
        &self,
        shard: u32,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<(Vec<StoredRecord>, u64), StoreError> {
        reader::read(&self.shared, shard, from, max_records, max_bytes)
    }

    /// Trim horizon, next position and newest arrival of a shard.
    pub fn shard_state(&self, shard: u32) -> ShardState {
        let idx = self.shared.index.read();
        match idx.shards.get(shard as usize) {
            Some(s) => ShardState {
                trim_position: s.trim(),
                next_position: s.next,
                last_arrival_ms: idx.last_arrival(shard),
            },
            None => ShardState {
                trim_position: 0,
                next_position: 0,
                last_arrival_ms: None,
            },
        }
    }

    /// The position of the first retained record of `shard` that arrived at or after
    /// `at_ms`, or the shard's next position when none did. Blocks when the answer lies in
    /// a sealed segment whose runs are not loaded yet (they are read from its index, see
    /// [`super`], "Persisted indexes"); fails only then.
    pub fn position_at_time(&self, shard: u32, at_ms: i64) -> Result<u64, StoreError> {
        let mut loaded = None;
        loop {
            let load = {
                let idx = self.shared.index.read();
                let Some(s) = idx.shards.get(shard as usize) else {
                    return Ok(0);
                };
                // Runs are in arrival order; a lazy run's arrival is its first record's.
                let i = s.runs.partition_point(|r| r.arrival_ms < at_ms);
                let before = i.checked_sub(1).and_then(|b| s.runs.get(b));
                match before {
                    Some(r)
                        if r.lazy
                            && idx
                                .lazy_span(r.segment, shard)
                                .is_some_and(|sp| sp.last_arrival >= at_ms) =>
                    {
                        r.segment
                    }
                    _ => return Ok(s.runs.get(i).map_or(s.next, |r| r.first)),
                }
            };
            if loaded == Some(load) {
                return Err(lazy::not_loaded(&self.shared, load));
            }
            lazy::load_segment(&self.shared, load)?;
            loaded = Some(load);
        }
    }

    /// Arrival time of the record at `position`, if it is retained. For a position inside
    /// a sealed segment whose runs are not loaded yet, the arrival of the shard's first
    /// record there (a lower bound; exact for that first record). Never blocks on I/O.
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
