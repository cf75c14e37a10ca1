//! The log's writer thread: group commit, sealing segments, undoing failed commits.
//!
//! # States
//!
//! ```text
//!              appends waiting                        write + sync (by policy) ok
//!   ┌──────┐ ───────────────► ┌────────────┐ ─────────────────────────────────► reply Ok
//!   │ Idle │                  │ Committing │                                  back to Idle
//!   └──────┘ ◄─────────────── └────────────┘
//!      ▲   cut back ok:             │ write or sync failed
//!      │   reply Err                ▼
//!      │                     ┌────────────┐  cut failed: the commit's replies are held,
//!      ├──────────────────── │ Cutting    │  new appends fail at once (nothing of theirs is
//!      │   cut back ok       │  back      │  written), the cut is retried with backoff
//!      │   (held replies     └────────────┘ ─────┐
//!      │    get their Err)         ▲             │ retry
//!      └───────────────────────────┴─────────────┘
//!
//!   a sync of records already acknowledged fails (Interval, Never), or a cut fails while
//!   such records are unsynced ──► Poisoned: every append fails until the log is reopened
//!   close ──► Closing: what is queued is committed, a pending cut tried once more (held
//!             replies that still cannot be settled get `StoreError::Indeterminate`), the
//!             segment synced, the thread ends
//! ```
//!
//! A reply of `Err` therefore always means the commit's records are not stored: its bytes
//! were cut off the segment, and the cut was synced, before the reply was sent. Only
//! `Indeterminate` (the log closed while a cut was still failing) leaves it open.
//!
//! Sealing (when a commit would take the active segment past its size): a pending cut is
//! finished, the active segment synced, its persisted index written, and the next segment
//! created (see [`super::recovery::create_segment`]) before any record goes into it.
//!
//! ```text
//!   a commit would take the active segment past its size (or retention seals it)
//!     │
//!     ▼
//!   finish a pending cut, sync, ──► create the next segment ──── ok ────► Idle (appending
//!   write the index                  │              ▲                     to the new one)
//!     │ fails: the commit fails,     │ fails        │ every later commit (or retention
//!     ▼ the segment stays writable   ▼              │ seal) first retries the creation
//!   Idle                           Sealed: the commit fails; nothing is written to the
//!                                  old segment again
//! ```
//!
//! Once creating the next segment has begun, the active segment is sealed for good: the
//! creation may have put the file in place although it failed (say, in the directory sync
//! after the rename), or the rename may surface after a power loss, and recovery takes
//! every segment but the newest for sealed: complete, with no torn tail. Were the writer to
//! go on appending to the old segment, a failed commit in it (or a crash during one) could
//! leave a torn tail in what recovery then reads as a sealed segment, and the log would not
//! reopen.

use super::fs::{self, FileIo};
use super::heads;
use super::idxfile::{self, SegmentIndex};
use super::recovery;
use super::retention;
use super::run::{MAX_RUN_BYTES, MAX_RUN_RECORDS, Run};
use super::segment;
use super::types::{AppendResult, Reply, Request, Shared};
use super::{FsyncPolicy, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A commit takes waiting appends up to about this many bytes; the rest form the next one.
const MAX_COMMIT_BYTES: usize = 16 * 1024 * 1024;
/// Bytes per `pwrite` of a commit.
const WRITE_CHUNK: usize = 256 * 1024;
/// First and longest wait before a failed cut is tried again.
const CUT_RETRY: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// A failed commit whose bytes are still to be cut off the end of its segment.
#[derive(Debug)]
struct PendingCut {
    /// The segment.
    segment: u64,
    /// Its length before the commit: the end of its last good frame.
    len: u64,
    /// The failed commit's replies with their errors, sent once the cut succeeded.
    held: Vec<(Reply, StoreError)>,
    /// When to try again, and the wait after that.
    retry_at: Instant,
    backoff: Duration,
}

/// How a commit failed.
struct Failed {
    error: StoreError,
    /// The commit's bytes may still be in the segment (the cut back failed).
    pending: bool,
}

impl Failed {
    fn undone(error: StoreError) -> Failed {
        Failed {
            error,
            pending: false,
        }
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub active: u64,
    pub next: Vec<u64>,
    pub last_arrival: i64,
    /// Set when acknowledged records may not be on disk (a sync under `Interval`/`Never`
    /// failed): the log refuses writes until it is reopened and recovered from disk.
    poisoned: bool,
    /// Set when a failed commit could not be cut back yet.
    pending_cut: Option<PendingCut>,
    /// Set once a roll has sealed the active segment (cut, synced, index written) and begun
    /// making the next one, until that succeeded (holding the sealed segment's index head):
    /// nothing is written to a sealed segment again, so every commit first retries the roll.
    sealed: Option<Option<Vec<u8>>>,
    dirty_since: Option<Instant>,
    buf: Vec<u8>,
}

impl Writer {
    /// A writer appending to segment `active` with the shards' next positions `next`.
    pub fn new(shared: Arc<Shared>, active: u64, next: Vec<u64>, last_arrival: i64) -> Writer {
        Writer {
            shared,
            active,
            next,
            last_arrival,
            poisoned: false,
            pending_cut: None,
            sealed: None,
            dirty_since: None,
            buf: Vec::new(),
        }
    }

    /// The thread's loop: until closed, commits what is queued and runs retention requests.
    pub fn run(&mut self) {
        loop {
            let (batch, retention, closing) = {
                let mut p = self.shared.pending.lock();
                while p.queue.is_empty() && p.retention.is_empty() && !p.closing {
                    let mut deadline = None::<Instant>;
                    if let FsyncPolicy::Interval(d) = self.shared.config.fsync
                        && let Some(t) = self.dirty_since
                    {
                        deadline = Some(t + d);
                    }
                    if let Some(cut) = &self.pending_cut {
                        deadline = Some(deadline.map_or(cut.retry_at, |d| d.min(cut.retry_at)));
                    }
                    match deadline {
                        Some(d) => {
                            let now = Instant::now();
                            if d <= now {
                                break;
                            }
                            self.shared.wake.wait_for(&mut p, d - now);
                        }
                        None => self.shared.wake.wait(&mut p),
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
            if self
                .pending_cut
                .as_ref()
                .is_some_and(|c| c.retry_at <= Instant::now())
            {
                // Failures are logged and retried; the held replies wait.
                let _ = self.finish_cut();
            }
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
                self.close();
                return;
            }
        }
    }

    /// At close: settles a pending cut if it can, syncs what is unsynced.
    fn close(&mut self) {
        if let Err(e) = self.finish_cut() {
            tracing::error!(error = %e, "cutting back a failed commit at close failed");
            if let Some(cut) = self.pending_cut.take() {
                let path = self
                    .segment_file(cut.segment)
                    .map(|(_, p)| p)
                    .unwrap_or_default();
                for (reply, _) in cut.held {
                    let _ = reply.send(Err(StoreError::Indeterminate(path.clone())));
                }
            }
        }
        if self.dirty_since.is_some()
            && let Err(e) = self.sync_active()
        {
            self.poison(&e);
        }
        // A clean close leaves the newest segment's index too, so the next open reads no
        // frames (the index stops matching, and is not used, once the segment grows).
        if !self.poisoned && self.pending_cut.is_none() && self.sealed.is_none() {
            let _ = self.persist_active();
        }
    }

    /// Writes the persisted index of the active segment as it is now; returns its head.
    fn persist_active(&self) -> Option<Vec<u8>> {
        let snapshot = {
            let idx = self.shared.index.read();
            idx.segments.get(&self.active).map(|s| SegmentIndex {
                segment: self.active,
                len: s.len,
                max_arrival: s.max_arrival,
                runs: idx.runs_of(self.active),
            })
        };
        let snapshot = snapshot?;
        idxfile::persist(self.shared.fs.as_ref(), &self.shared.dir, &snapshot);
        Some(snapshot.head().encode())
    }

    fn segment_file(&self, id: u64) -> Option<(Arc<dyn FileIo>, PathBuf)> {
        let idx = self.shared.index.read();
        idx.segments
            .get(&id)
            .and_then(|s| Some((Arc::clone(s.file.as_ref()?), s.path.clone())))
    }

    fn active_file(&self) -> Option<(Arc<dyn FileIo>, u64, PathBuf)> {
        let idx = self.shared.index.read();
        idx.segments
            .get(&self.active)
            .and_then(|s| Some((Arc::clone(s.file.as_ref()?), s.len, s.path.clone())))
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
        if !self.poisoned {
            tracing::error!(
                error = %e, dir = %self.shared.dir.display(),
                "sync of acknowledged records failed; the log refuses writes until reopened"
            );
            metrics::counter!("StoreWriteErrors", "kind" => "poisoned").increment(1);
        }
        self.poisoned = true;
    }

    /// Cuts a failed commit's bytes off its segment, if an earlier attempt failed, and then
    /// sends the commit's held replies. Nothing is written (nor the segment sealed) before
    /// this succeeded. Readers never see those bytes: the index only covers committed frames.
    fn finish_cut(&mut self) -> Result<(), StoreError> {
        let Some(cut) = self.pending_cut.as_mut() else {
            return Ok(());
        };
        let segment = cut.segment;
        let len = cut.len;
        if let Some((file, path)) = self.segment_file(segment) {
            if let Err(e) = cut_back(file.as_ref(), len, &path) {
                if let Some(cut) = self.pending_cut.as_mut() {
                    cut.retry_at = Instant::now() + cut.backoff;
                    cut.backoff = (cut.backoff * 2).min(CUT_RETRY.1);
                }
                tracing::warn!(error = %e, "cutting back a failed commit failed again; retrying");
                return Err(e);
            }
            tracing::info!(
                path = %path.display(), len,
                "cut a failed commit off the segment; writes resume"
            );
        }
        if let Some(cut) = self.pending_cut.take() {
            for (reply, e) in cut.held {
                let _ = reply.send(Err(e));
            }
        }
        self.dirty_since = None;
        Ok(())
    }

    /// After a failed commit on the active segment: cuts it back to `len`. A cut that fails
    /// is retried (`finish_cut`) before anything else is written. The cut syncs the whole
    /// file, so it also settles earlier acknowledged but unsynced records (`Interval`,
    /// `Never`): if it fails while there are such records, they may be lost, and the log is
    /// poisoned as after any failed sync of acknowledged records. Returns whether the cut is
    /// still pending.
    fn undo_commit(&mut self, file: &dyn FileIo, len: u64, path: &Path) -> bool {
        match cut_back(file, len, path) {
            Ok(()) => {
                self.dirty_since = None;
                false
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cutting back a failed commit failed; its replies wait until a retry succeeds"
                );
                self.pending_cut = Some(PendingCut {
                    segment: self.active,
                    len,
                    held: Vec::new(),
                    retry_at: Instant::now() + CUT_RETRY.0,
                    backoff: CUT_RETRY.0 * 2,
                });
                if self.dirty_since.is_some() {
                    self.poison(&e);
                }
                true
            }
        }
    }

    /// Seals the active segment (no failed commit left in it, synced, its index written)
    /// and starts a new one. Once the next segment is being made, the active one stays
    /// sealed even if making it fails: the rename into place may have happened (or may
    /// surface after a power loss), and recovery takes every segment but the newest for
    /// sealed and complete. So `sealed` is set, and the next commit retries from there.
    fn roll(&mut self) -> Result<(), StoreError> {
        if self.sealed.is_none() {
            self.finish_cut()?;
            if self.dirty_since.is_some()
                && let Err(e) = self.sync_active()
            {
                self.poison(&e);
                return Err(e);
            }
            self.sealed = Some(self.persist_active());
        }
        let fs = Arc::clone(&self.shared.fs);
        let id = self.active + 1;
        let seg = recovery::create_segment(fs.as_ref(), &self.shared.dir, id, &self.next)
            .inspect_err(|e| {
                tracing::warn!(
                    error = %e, segment = id,
                    "making the next segment failed; the active one stays sealed, retrying at the next commit"
                );
            })?;
        let head = self.sealed.take().flatten();
        // The old segment is sealed now: its head joins the heads file.
        let heads = {
            let mut idx = self.shared.index.write();
            idx.segments.insert(id, seg);
            if let Some(head) = head {
                idx.heads.insert(self.active, head);
            }
            idx.heads.clone()
        };
        self.active = id;
        heads::write(fs.as_ref(), &self.shared.dir, &heads);
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
            Err(Failed { error, pending }) => {
                tracing::error!(
                    error = %error, dir = %self.shared.dir.display(), requests = batch.len(),
                    "commit failed; none of its records is stored"
                );
                let kind = if error.is_no_space() {
                    "no_space"
                } else {
                    "io"
                };
                metrics::counter!("StoreWriteErrors", "kind" => kind).increment(1);
                match self.pending_cut.as_mut() {
                    Some(cut) if pending => {
                        cut.held
                            .extend(batch.into_iter().map(|r| (r.reply, error.duplicate())));
                    }
                    _ => {
                        for r in batch {
                            let _ = r.reply.send(Err(error.duplicate()));
                        }
                    }
                }
            }
        }
    }

    /// Writes one commit; on success returns each request's positions and the arrival time.
    #[allow(clippy::type_complexity)]
    fn write_batch(&mut self, batch: &[Request]) -> Result<(Vec<Vec<u64>>, i64), Failed> {
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
        self.finish_cut().map_err(Failed::undone)?;

        let (_, active_len, _) = self
            .active_file()
            .ok_or_else(|| Failed::undone(StoreError::Closed))?;
        let header_len = segment::header_len(self.next.len()) as u64;
        if self.sealed.is_some()
            || (active_len > header_len
                && active_len + estimate as u64 > self.shared.config.segment_bytes)
        {
            self.roll().map_err(Failed::undone)?;
        }
        let (file, base, path) = self
            .active_file()
            .ok_or_else(|| Failed::undone(StoreError::Closed))?;

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
                        lazy: false,
                    },
                )),
            }
        }

        // A failed commit is cut back to the segment's last good frame, so that the next
        // commit appends right after it (see `undo_commit`).
        if let Err(e) = write_chunked(file.as_ref(), &self.buf, base) {
            let pending = self.undo_commit(file.as_ref(), base, &path);
            return Err(Failed {
                error: StoreError::io("write segment", &path, e),
                pending,
            });
        }
        match self.shared.config.fsync {
            FsyncPolicy::Always => {
                if let Err(e) = file.sync_data() {
                    // After a failed fsync the kernel may have dropped the dirty pages: take
                    // the bytes back out so no reader or later sync can expose them.
                    let pending = self.undo_commit(file.as_ref(), base, &path);
                    return Err(Failed {
                        error: StoreError::io("fsync segment", &path, e),
                        pending,
                    });
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
                idx.shards.resize_with(next.len(), Default::default);
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

    /// Deletes the segments past `cutoff` (see [`retention`]), sealing the active segment
    /// first when it has expired as a whole. The older segments are deleted even when that
    /// roll fails (on a full disk, deleting them is what frees the space to make the next
    /// segment); the roll's error is returned after.
    fn retention(&mut self, cutoff: i64) -> Result<usize, StoreError> {
        let rolled = if retention::active_expired(&self.shared, self.active, cutoff) {
            self.roll()
        } else {
            Ok(())
        };
        let deleted = retention::delete_expired(&self.shared, self.active, cutoff)?;
        rolled.map(|()| deleted)
    }
}

/// Writes `buf` at `offset` in pieces of [`WRITE_CHUNK`] bytes. One multi-megabyte `pwrite`
/// makes the kernel take large page-cache folios for it, which cost several times more CPU
/// per byte to allocate and fill than the folios of smaller writes (measured on the
/// virtualised ext4 this project runs on); a commit is still one fsync.
fn write_chunked(file: &dyn FileIo, buf: &[u8], offset: u64) -> std::io::Result<()> {
    let mut at = offset;
    for chunk in buf.chunks(WRITE_CHUNK) {
        fs::write_all_at(file, chunk, at)?;
        at += chunk.len() as u64;
    }
    Ok(())
}

/// Truncates a segment to `len` and syncs it.
fn cut_back(file: &dyn FileIo, len: u64, path: &Path) -> Result<(), StoreError> {
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("truncate after failed commit", path, e))
}
