//! Retention: whole sealed segments are deleted once their newest record is older than the
//! cutoff. Runs on the writer thread (so it never races a seal); see [`super`], "Retention".

use super::StoreError;
use super::idxfile;
use super::types::Shared;
use std::path::PathBuf;

/// Whether the active segment holds records and all of them are older than `cutoff`: then
/// it is sealed first, so that it can go too.
pub(crate) fn active_expired(shared: &Shared, active: u64, cutoff: i64) -> bool {
    let idx = shared.index.read();
    idx.segments
        .get(&active)
        .and_then(|s| s.max_arrival)
        .is_some_and(|m| m < cutoff)
}

/// Deletes every sealed segment (not `active`) whose newest record arrived before `cutoff`,
/// or that holds none, and its persisted index. Returns how many segments were deleted.
///
/// The segments leave the in-memory index first, so that no reader plans a read of them;
/// readers that already hold a file handle still read the unlinked file. A segment file is
/// removed before its index (recovery removes an index whose segment is gone), and the
/// directory is synced after.
pub(crate) fn delete_expired(
    shared: &Shared,
    active: u64,
    cutoff: i64,
) -> Result<usize, StoreError> {
    let _serial = shared.loading.lock();
    let doomed: Vec<(u64, PathBuf)> = {
        let idx = shared.index.read();
        idx.segments
            .iter()
            .take_while(|(id, _)| **id != active)
            .filter(|(_, s)| s.max_arrival.is_none_or(|m| m < cutoff))
            .map(|(id, s)| (*id, s.path.clone()))
            .collect()
    };
    // Only a prefix of the log may go: deleting a middle segment would leave a gap.
    let doomed: Vec<(u64, PathBuf)> = {
        let idx = shared.index.read();
        let oldest: Vec<u64> = idx.segments.keys().copied().collect();
        doomed
            .into_iter()
            .zip(oldest)
            .take_while(|((id, _), o)| id == o)
            .map(|(d, _)| d)
            .collect()
    };
    if doomed.is_empty() {
        return Ok(0);
    }
    {
        let mut idx = shared.index.write();
        for (id, _) in &doomed {
            idx.segments.remove(id);
            idx.lazy.remove(id);
            idx.heads.remove(id);
        }
        let last = doomed.last().map_or(0, |(id, _)| *id);
        for s in &mut idx.shards {
            while s.runs.front().is_some_and(|r| r.segment <= last) {
                s.runs.pop_front();
            }
        }
    }
    let fs = shared.fs.as_ref();
    for (id, path) in &doomed {
        fs.remove(path)
            .map_err(|e| StoreError::io("delete segment", path, e))?;
        let idx_path = idxfile::index_path(&shared.dir, *id);
        match fs.remove(&idx_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("delete segment index", &idx_path, e)),
        }
    }
    fs.sync_dir(&shared.dir)
        .map_err(|e| StoreError::io("fsync directory", &shared.dir, e))?;
    tracing::debug!(dir = %shared.dir.display(), deleted = doomed.len(), "retention");
    Ok(doomed.len())
}
