//! Reads of one shard: planned from the in-memory index under its lock, then read from the
//! segment files without it. Every frame read is checked (see [`super`], "Damaged bytes").

use super::StoreError;
use super::bufpool;
use super::fs::{self, FileIo};
use super::lazy;
use super::run::Run;
use super::segment::{self, Decoded};
use super::types::{Shared, StoredRecord};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads up to `max_records` records of `shard` from position `from` (or from the trim
/// horizon, if `from` is older), stopping before `max_bytes` of data unless that would
/// return nothing. Returns the records and the position after the last one returned.
pub(crate) fn read(
    shared: &Shared,
    shard: u32,
    from: u64,
    max_records: usize,
    max_bytes: usize,
) -> Result<(Vec<StoredRecord>, u64), StoreError> {
    // Plan under the read lock; a lazy run in the way is loaded (without the lock) and the
    // plan made again.
    let mut loaded = None;
    let (start, plan) = loop {
        match plan(shared, shard, from, max_records, max_bytes) {
            Planned::Ready(start, plan) => break (start, plan),
            Planned::Done(next) => return Ok((Vec::new(), next)),
            Planned::Load(segment, start, before) => {
                let failed = if loaded == Some(segment) {
                    Err(lazy::not_loaded(shared, segment))
                } else {
                    lazy::load_segment(shared, segment)
                };
                match failed {
                    Ok(()) => loaded = Some(segment),
                    // The records before a segment that cannot be loaded are still served.
                    Err(e) if before.is_empty() => return Err(e),
                    Err(_) => break (start, before),
                }
            }
        }
    };
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
        let len = run.len as usize;
        let mut buf = bufpool::take(len);
        fs::read_exact_at(file.as_ref(), &mut buf[..len], run.offset)
            .map_err(|e| StoreError::io("read segment", &path, e))?;
        let buf = bufpool::freeze(buf, len);
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

/// What planning a read found.
enum Planned {
    /// Read these runs (with their files), from `start`.
    Ready(u64, Vec<(Run, Arc<dyn FileIo>, PathBuf)>),
    /// Nothing to read; the position to answer.
    Done(u64),
    /// The runs of this segment must be loaded first; the runs planned before it, from
    /// `start`, are what can be read if it cannot be.
    Load(u64, u64, Vec<(Run, Arc<dyn FileIo>, PathBuf)>),
}

/// Plans a read (see [`read`]) under the index's read lock.
fn plan(shared: &Shared, shard: u32, from: u64, max_records: usize, max_bytes: usize) -> Planned {
    let idx = shared.index.read();
    let mut plan: Vec<(Run, Arc<dyn FileIo>, PathBuf)> = Vec::new();
    let Some(s) = idx.shards.get(shard as usize) else {
        return Planned::Done(from);
    };
    let start = from.max(s.trim());
    if start >= s.next || max_records == 0 {
        return Planned::Done(start.min(s.next.max(from)));
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
        if r.lazy {
            return Planned::Load(r.segment, start, plan);
        }
        let Some(seg) = idx.segments.get(&r.segment) else {
            break;
        };
        let Some(file) = &seg.file else {
            return Planned::Load(r.segment, start, plan);
        };
        plan.push((*r, Arc::clone(file), seg.path.clone()));
        recs += r.first + u64::from(r.count) - start.max(r.first);
        if k > 0 {
            bytes += u64::from(r.len) - overhead * u64::from(r.count);
        }
        if recs >= max_records as u64 || bytes >= max_bytes as u64 {
            break;
        }
    }
    Planned::Ready(start, plan)
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
