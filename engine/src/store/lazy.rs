//! Loading a sealed segment's runs the first time they are needed.
//!
//! Opening a log reads only the head of each sealed segment's persisted index (see
//! [`super::idxfile`]); the runs are read here, by the first read or search by time that
//! needs the segment, on the caller's thread (the engine's callers run on blocking threads).
//! The runs are checked against the head that was checked at open. An index that fails is
//! rebuilt by scanning the segment's frames (logged): frames that do not match the head, or
//! that are damaged, are [`StoreError::Corrupt`] for the read, and nothing is changed.
//!
//! A segment known from the heads file is opened here too, and its length and header checked
//! (they were not at open).
//!
//! Loads are serialised by [`Shared::loading`], which retention takes too, so a segment is
//! never re-indexed while it is being deleted.

use super::StoreError;
use super::fs;
use super::idxfile::{self, SegmentIndex};
use super::index::{IndexState, LazySegment};
use super::recovery;
use super::run::Run;
use super::types::Shared;
use bytes::Bytes;
use std::path::Path;

/// Makes sure the runs of `segment` are loaded (a no-op when they are, or when the segment
/// is gone).
pub(crate) fn load_segment(shared: &Shared, segment: u64) -> Result<(), StoreError> {
    let _serial = shared.loading.lock();
    let (lazy, file, path) = {
        let idx = shared.index.read();
        let (Some(l), Some(seg)) = (idx.lazy.get(&segment), idx.segments.get(&segment)) else {
            return Ok(());
        };
        (l.clone(), seg.file.clone(), seg.path.clone())
    };
    // A segment known from the heads file is opened now; a sealed segment never changes, so
    // any other length than its index's is damage.
    let file = match file {
        Some(f) => f,
        None => shared
            .fs
            .open(&path)
            .map_err(|e| StoreError::io("open segment", &path, e))?,
    };
    let len = file
        .size()
        .map_err(|e| StoreError::io("stat segment", &path, e))?;
    if len != lazy.head.len {
        let e = StoreError::Corrupt {
            path,
            offset: len.min(lazy.head.len),
            reason: format!(
                "sealed segment has {len} bytes, its index says {}",
                lazy.head.len
            ),
        };
        tracing::error!(error = %e, "a sealed segment's records cannot be served");
        metrics::counter!("StoreCorruptFrames").increment(1);
        return Err(e);
    }
    // The header, not read at open: the segment it names and where it ends.
    let header = recovery::read_header(file.as_ref(), &path, lazy.head.len).inspect_err(|e| {
        tracing::error!(error = %e, "a sealed segment's header is damaged");
        metrics::counter!("StoreCorruptFrames").increment(1);
    })?;
    if header.segment != segment || header.len as u64 != lazy.head.header_len {
        return Err(StoreError::Corrupt {
            path,
            offset: 0,
            reason: format!(
                "segment header names segment {} and ends at {}; its index says segment \
                 {segment}, ending at {}",
                header.segment, header.len, lazy.head.header_len
            ),
        });
    }
    let runs = match from_index(shared, &lazy) {
        Ok(runs) => runs,
        Err(why) => {
            tracing::warn!(path = %path.display(), reason = %why, "rebuilding a segment index by scanning the segment");
            let runs = scan(file.as_ref(), &path, &lazy).inspect_err(|e| {
                tracing::error!(error = %e, "a sealed segment's records cannot be served");
                metrics::counter!("StoreCorruptFrames").increment(1);
            })?;
            idxfile::persist(
                shared.fs.as_ref(),
                &shared.dir,
                &SegmentIndex {
                    segment,
                    len: lazy.head.len,
                    max_arrival: lazy.head.max_arrival,
                    runs: runs.clone(),
                },
            );
            runs
        }
    };
    let mut idx = shared.index.write();
    if let Some(seg) = idx.segments.get_mut(&segment) {
        seg.file.get_or_insert(file);
    }
    idx.load(segment, runs);
    Ok(())
}

/// The error for a segment whose runs stay lazy after loading them (which the index's
/// invariants rule out).
pub(crate) fn not_loaded(shared: &Shared, segment: u64) -> StoreError {
    StoreError::Corrupt {
        path: idxfile::index_path(&shared.dir, segment),
        offset: 0,
        reason: "the segment's runs could not be loaded".into(),
    }
}

/// The runs from the persisted index, checked against the head seen at open.
fn from_index(shared: &Shared, lazy: &LazySegment) -> Result<Vec<(u32, Run)>, String> {
    let bytes = match idxfile::read_index(shared.fs.as_ref(), &shared.dir, lazy.head.segment) {
        Ok(Some(b)) => b,
        Ok(None) => return Err("the index file is gone".into()),
        Err(e) => return Err(format!("index unreadable: {e}")),
    };
    idxfile::decode_runs(&bytes, &lazy.head)
}

/// The runs found by reading every frame of the segment, which must hold exactly what the
/// head said.
fn scan(
    file: &dyn fs::FileIo,
    path: &Path,
    lazy: &LazySegment,
) -> Result<Vec<(u32, Run)>, StoreError> {
    let head = &lazy.head;
    let raw = fs::read_all(file, head.len).map_err(|e| StoreError::io("read segment", path, e))?;
    let raw = Bytes::from(raw);
    let mut state = IndexState::default();
    let mut next: Vec<u64> = Vec::new();
    for s in &head.spans {
        let i = s.shard as usize;
        if next.len() <= i {
            next.resize(i + 1, 0);
        }
        next[i] = s.first;
    }
    let start = next.clone();
    let (end, max_arrival, damage) = recovery::scan_frames(
        &raw,
        head.header_len as usize,
        head.segment,
        &mut state,
        &mut next,
    );
    let corrupt = |offset: u64, reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    if let Some((offset, reason)) = damage {
        return Err(corrupt(offset as u64, reason));
    }
    let ends: Vec<(usize, u64)> = head
        .spans
        .iter()
        .map(|s| (s.shard as usize, s.end))
        .collect();
    let matches = max_arrival == head.max_arrival
        && next.iter().enumerate().all(|(i, n)| {
            let want = ends
                .iter()
                .find(|(s, _)| *s == i)
                .map_or(start.get(i).copied().unwrap_or(0), |(_, e)| *e);
            *n == want
        });
    if !matches {
        return Err(corrupt(
            end as u64,
            "the segment's frames do not hold what its index head says".into(),
        ));
    }
    Ok(state.runs_of(head.segment))
}
