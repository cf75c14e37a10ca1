//! The on-disk store: one append-only log per stream and a transactional catalog.
//!
//! # Layout
//!
//! ```text
//! <data dir>/
//!   LOCK                       held (flock) by the one process that has the directory open
//!   catalog.sqlite             streams, shards, tags, the iterator key (SQLite, WAL, synchronous=FULL)
//!   streams/<epoch>/           one directory per stream, named by the stream's epoch
//!     00000000000000000000.seg segments, named by a 20-digit segment number, oldest first
//!     00000000000000000000.idx the persisted index of a sealed segment (see `idxfile`)
//!     00000000000000000001.seg the newest segment: the only one written; it has an index
//!                              only after a clean close, valid while its length is unchanged
//!     heads                    every sealed segment's index head in one file (see `heads`)
//!     *.tmp                    a segment or index being made; renamed into place when
//!                              complete (a crash may leave one: it holds no record)
//! ```
//!
//! Every file operation goes through [`fs::Fs`], the store's I/O seam.
//!
//! # Segment format
//!
//! All integers are little-endian. A segment starts with a header:
//!
//! ```text
//! magic "RILLSEG\x01" (8) | version u32 = 1 | shard count n u32 | segment number u64
//!   | n x next position u64 (per shard index, when the segment was created)
//!   | crc32c u32 of every header byte before it
//! ```
//!
//! The header's positions are the shards' next positions when the segment was created, so
//! positions (and with them sequence numbers) keep increasing after retention has deleted
//! every segment that held a shard's records.
//!
//! Frames follow the header back to back:
//!
//! ```text
//! body length u32 | crc32c u32 of the body
//!   | body: shard index u32 | position u64 | arrival ms i64 | flags u8
//!           | partition key length u16 | partition key (UTF-8) | data (the rest)
//! ```
//!
//! # Invariants
//!
//! * Within a shard, positions are 0, 1, 2, ... in file order with no gaps; a record's
//!   sequence number is derived from its position (see [`crate::api::seq`]).
//! * Within a shard, arrival times never decrease (the writer takes the larger of the clock
//!   and the previous commit's time).
//! * One commit writes one contiguous byte range at the end of the newest segment; inside it
//!   a shard's records are contiguous ("runs"), so a reader of one shard reads few ranges.
//! * Only the newest segment is ever written; older segments are sealed and immutable.
//! * A record is visible to readers only after its commit completed (written, and synced
//!   under [`FsyncPolicy::Always`]).
//!
//! # Durability: when an acknowledged write is on disk
//!
//! One writer thread per stream takes every append waiting for it, encodes them into one
//! contiguous byte range, writes it (in `pwrite`s of at most 256 KiB, which cost the kernel
//! less per byte than one large one) and then, by policy:
//!
//! * [`FsyncPolicy::Always`] (default): calls `fdatasync` on the segment before it
//!   acknowledges any record of the commit. An acknowledged record survives a process crash
//!   and a power loss. Appends that arrive while a sync runs form the next commit, so one
//!   sync covers every request waiting on it (group commit), and a commit needs one sync per
//!   stream, never one per shard.
//! * [`FsyncPolicy::Interval`]: acknowledges after the `write`, and syncs at least every
//!   interval. An acknowledged record survives a process crash (it is in the page cache);
//!   a power loss may lose the last interval.
//! * [`FsyncPolicy::Never`]: acknowledges after the `write`, syncs only when a segment is
//!   sealed and at close. Survives a process crash; a power loss may lose anything unsynced.
//!
//! A new segment file is written under a temporary name, synced, renamed into place and the
//! directory synced before any record is written to it; if that fails, the half-made file
//! is removed (where it still has its temporary name) and the commit fails. The old segment
//! was synced before, and stays sealed: nothing is written to it again, and every later
//! commit first tries to make the new segment again (a failed creation may still have put
//! the file in place, and recovery takes every segment but the newest as sealed). A failed
//! `write` or sync fails every append of the commit (none is acknowledged): the segment is
//! truncated back to its length before the commit, the end of its last good frame, and the
//! truncation synced, *before* the appends are answered, so an error always means "not
//! stored". If that truncation fails too, the commit's answers wait while it is retried
//! (with backoff, and before anything else is written; new appends fail at once meanwhile,
//! nothing of theirs written). Should the process stop first, those appends were never
//! answered and recovery may keep their frames if they are complete; if the log is closed
//! first, they get [`StoreError::Indeterminate`]. The writer's states are drawn in
//! `writer`. Sync errors are never ignored.
//!
//! # Disk full
//!
//! `ENOSPC` (and `EDQUOT`) surface as [`StoreError::NoSpace`]. As any failed commit, it
//! fails exactly the appends of that commit and leaves the segment ending at its last good
//! frame; the writer is not stopped, so appends succeed again as soon as space is freed, with
//! no reopen (if it was the next segment that could not be made, every commit fails until
//! it can: the old segment is sealed). Only a failed sync of records that were already
//! acknowledged (under [`FsyncPolicy::Interval`] or [`FsyncPolicy::Never`]) stops writes for good
//! ([`StoreError::Poisoned`], until the log is reopened): the kernel may have dropped those
//! pages and report the next sync as successful, so only recovery from disk tells what is
//! stored. Failed commits count in the `StoreWriteErrors` counter (label `kind`: `no_space`,
//! `io`, `poisoned`).
//!
//! # Damaged bytes
//!
//! Every frame read from disk is checked against its CRC, shard and position before it is
//! returned: damaged bytes are never returned as a record. A read returns the records
//! before the damage; a read that starts at it fails with [`StoreError::Corrupt`] naming
//! the file and offset, every time, and records after it remain readable. Each detection is
//! logged and counted (`StoreCorruptFrames`).
//!
//! # Recovery policy
//!
//! Opening a log never rewrites, shortens or deletes a file it cannot prove a crash left
//! unfinished. What is provable, from the order in which the writer does things:
//!
//! * **An unfinished creation.** A segment (and an index) is written under a `.tmp` name,
//!   synced, renamed into place, and the directory synced. A `.tmp` file is a creation that
//!   never completed; it holds no record, and it is removed. A `.seg` file therefore always
//!   had a complete, synced header: any damage to it (bad magic, checksum, shard count, a
//!   file shorter than its header) stops the open with [`StoreError::Corrupt`] at offset 0,
//!   and a version this build does not know with [`StoreError::UnknownVersion`]; the file
//!   is left as it is. (Older builds created segments in place; a directory whose newest
//!   segment a crash tore under such a build refuses to open and names the file.)
//! * **A torn tail.** Only the newest segment is written, at its end. If the first frame
//!   that is not intact is one the written bytes end inside of (the file ends inside it, or
//!   holds only zeros from inside it to the end: blocks allocated for a write that never
//!   reached them), and it is not a complete frame with a damaged length field (the rest of
//!   the bytes pass its checksum), it is a write a crash cut short: the file is truncated
//!   there and the truncation synced. Because a record is acknowledged only after the bytes
//!   before and including it were written (and synced, under `Always`), such a tail never
//!   holds an acknowledged record. Any other damage in the newest segment (a bad frame with
//!   bytes written after it, a frame at the wrong position) stops the open with
//!   [`StoreError::Corrupt`] naming the file and offset, and nothing is changed. After a
//!   power loss that left a hole inside the last commit this refuses a directory that could
//!   have been cut safely: the operator decides (truncate the file to the offset named to
//!   drop the tail, or restore the file).
//! * **Sealed segments** are synced before the next segment is made, so no crash damages
//!   them: opening asks only each one's length, and takes the *head* of its persisted index
//!   (see `idxfile`: checksummed, and checked against the segment's number, its length and
//!   the positions before it) from the heads file (see `heads`), or from the index itself
//!   where the heads file does not serve (then the heads file is written anew). An index
//!   that fails a check, or is missing, is rebuilt by scanning its segment (logged), reading
//!   its header too; any damage the scan finds stops the open with [`StoreError::Corrupt`]. A segment missing from the middle of the log, or
//!   a sealed segment cut short, is caught too: the next segment's index no longer
//!   continues the shards' positions, or the index no longer matches the file's length.
//! * **Damage behind an intact index** (a sealed segment's header, the runs part of its
//!   index, its frames) is not looked for at open, since finding it means reading every
//!   retained byte. It is found when the segment is first needed (`lazy`): the header is
//!   checked and the runs are checked against the head; runs that fail are rebuilt from the
//!   frames, and a header or frame that is damaged fails the read that reaches it with
//!   [`StoreError::Corrupt`] naming the file (records before it are still returned), logged
//!   and counted in `StoreCorruptFrames`. Nothing is rewritten but the index.
//! * Opening then syncs the newest segment and the directory, so that what is served from
//!   now on survives a power loss even if it was only in the page cache when the previous
//!   process stopped.
//!
//! So opening reads the newest segment's frames (at most about one `segment_bytes`, none
//! after a clean close), the heads file (a few dozen bytes per shard and sealed segment) and
//! asks each sealed segment's length: its time does not grow with the bytes retained, and
//! only by a `stat` per segment with their number. The runs of a sealed segment (one entry
//! per up to 512 records or 128 KiB) are read by the first read or `AT_TIMESTAMP` search
//! that needs the segment, and kept.
//!
//! # Retention
//!
//! Retention deletes whole segments, oldest first (a segment file, then its index): a
//! sealed segment goes once its newest record is older than the stream's retention period. When the newest segment itself has expired, it is
//! sealed first (a new, empty segment takes over). Reads never return records from deleted
//! segments; the trim horizon of a shard is its oldest remaining record.

mod bufpool;
mod catalog;
mod channels;
pub mod fs;
mod heads;
mod idxfile;
mod index;
mod lazy;
mod log;
mod reader;
mod recovery;
mod retention;
mod run;
mod segment;
mod types;
mod writer;

pub use catalog::{Catalog, ShardRow, StreamRow};
pub use channels::ChannelRow;
pub use log::StreamLog;
pub use types::{
    AppendRecord, AppendResult, ClockFn, LogConfig, LogStats, ShardState, StoredRecord,
};

use std::path::PathBuf;
use std::time::Duration;

/// When the store syncs written records to disk (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Sync every commit before acknowledging it (group commit). The default.
    #[default]
    Always,
    /// Acknowledge after the write; sync at least this often.
    Interval(Duration),
    /// Acknowledge after the write; sync only when sealing a segment and at close.
    Never,
}

/// Text that names no [`FsyncPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fsync policy {0:?}: expected fsync, none or interval(MS) with MS > 0")]
pub struct InvalidFsyncPolicy(pub String);

impl std::str::FromStr for FsyncPolicy {
    type Err = InvalidFsyncPolicy;
    /// Parses `fsync`/`always`, `none`/`never`, or `interval(MS)` / `interval:MS`.
    fn from_str(s: &str) -> Result<Self, InvalidFsyncPolicy> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "fsync" | "always" => return Ok(FsyncPolicy::Always),
            "none" | "never" | "off" => return Ok(FsyncPolicy::Never),
            _ => {}
        }
        let ms = t
            .strip_prefix("interval(")
            .and_then(|r| r.strip_suffix(')'))
            .or_else(|| t.strip_prefix("interval:"));
        match ms.map(|m| m.trim().trim_end_matches("ms").parse::<u64>()) {
            Some(Ok(ms)) if ms > 0 => Ok(FsyncPolicy::Interval(Duration::from_millis(ms))),
            _ => Err(InvalidFsyncPolicy(s.to_string())),
        }
    }
}

/// An error of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The filesystem is full (`ENOSPC`, or `EDQUOT`: the disk quota is exhausted). When a
    /// commit fails this way none of its records is stored and the segment is cut back to
    /// its last good frame; appends succeed again once space is freed.
    #[error("no space left on device: {op} {path}: {source}")]
    NoSpace {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes fail their checksum or do not parse: in a sealed segment when the log is
    /// opened, or in any segment when a read meets them. Such bytes are never returned as
    /// records.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the bad frame.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A segment written in a format version this build does not know (by a newer rill).
    /// Nothing is changed; open the directory with a build that reads that version.
    #[error(
        "{path} at offset {offset}: segment format version {version} is unknown (this build reads version {supported}); the file is left as it is"
    )]
    UnknownVersion {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the version field.
        offset: u64,
        /// The version found.
        version: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// A catalog written by a newer rill (its `PRAGMA user_version` is above what this build
    /// reads). Nothing is changed.
    #[error(
        "{path}: catalog schema version {version} is unknown (this build reads versions up to {supported}); the file is left as it is"
    )]
    UnknownCatalogVersion {
        /// The catalog file.
        path: PathBuf,
        /// The version found.
        version: i64,
        /// The newest version this build reads (and the one it writes).
        supported: i64,
    },
    /// A commit failed and could not be cut off its segment before the log was closed: its
    /// records may or may not be stored (they are served after a reopen if their frames
    /// are complete). Retrying may store them twice.
    #[error(
        "a failed commit could not be undone in {0} before the log closed; its records may be stored"
    )]
    Indeterminate(PathBuf),
    /// The catalog database failed.
    #[error("catalog: {0}")]
    Catalog(#[from] rusqlite::Error),
    /// The log refuses writes after a failure it could not undo; reopen it.
    #[error("log {0} is read-only after an unrecoverable write failure; reopen the engine")]
    Poisoned(PathBuf),
    /// The log was closed.
    #[error("log is closed")]
    Closed,
    /// The data directory is open in another process or engine.
    #[error("data directory {0} is locked by another engine")]
    Locked(PathBuf),
}

/// `ENOSPC`: no space left on device.
const ENOSPC: i32 = 28;
/// `EDQUOT`: disk quota exceeded.
const EDQUOT: i32 = 122;

/// Whether an I/O error means the filesystem (or the user's quota) is full.
fn is_no_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// A copy of an I/O error: the same OS code, or the same kind and message.
fn copy_io(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}

impl StoreError {
    /// An I/O failure of `op` on `path`: [`StoreError::NoSpace`] when the filesystem is full,
    /// [`StoreError::Io`] otherwise.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if is_no_space(&source) {
            StoreError::NoSpace { op, path, source }
        } else {
            StoreError::Io { op, path, source }
        }
    }

    /// Whether this error means the filesystem is full: retrying after space is freed
    /// succeeds.
    pub fn is_no_space(&self) -> bool {
        match self {
            StoreError::NoSpace { .. } => true,
            StoreError::Catalog(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }

    /// Whether this error means stored data is damaged.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }

    /// An equal error, for failing every request of one commit with the same cause.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Io { op, path, source } => StoreError::Io {
                op,
                path: path.clone(),
                source: copy_io(source),
            },
            StoreError::NoSpace { op, path, source } => StoreError::NoSpace {
                op,
                path: path.clone(),
                source: copy_io(source),
            },
            StoreError::Corrupt {
                path,
                offset,
                reason,
            } => StoreError::Corrupt {
                path: path.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            StoreError::Catalog(e) => StoreError::Io {
                op: "catalog",
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            },
            StoreError::UnknownVersion {
                path,
                offset,
                version,
                supported,
            } => StoreError::UnknownVersion {
                path: path.clone(),
                offset: *offset,
                version: *version,
                supported: *supported,
            },
            StoreError::UnknownCatalogVersion {
                path,
                version,
                supported,
            } => StoreError::UnknownCatalogVersion {
                path: path.clone(),
                version: *version,
                supported: *supported,
            },
            StoreError::Indeterminate(p) => StoreError::Indeterminate(p.clone()),
            StoreError::Poisoned(p) => StoreError::Poisoned(p.clone()),
            StoreError::Closed => StoreError::Closed,
            StoreError::Locked(p) => StoreError::Locked(p.clone()),
        }
    }
}

/// Store failures answer `InternalFailure` (HTTP 500), which clients retry. A full disk says
/// so in the message (without file names: those are logged, and kept in the source).
impl From<StoreError> for crate::api::Error {
    fn from(e: StoreError) -> Self {
        if e.is_no_space() {
            return crate::api::Error::internal(NO_SPACE_MESSAGE, e);
        }
        crate::api::Error::internal(format!("storage failure: {e}"), e)
    }
}

/// The message of an `InternalFailure` caused by a full disk.
pub const NO_SPACE_MESSAGE: &str = "storage failure: no space left on device; nothing of this request was stored, retry once space is freed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_parses() {
        assert_eq!("fsync".parse(), Ok(FsyncPolicy::Always));
        assert_eq!("none".parse(), Ok(FsyncPolicy::Never));
        assert_eq!(
            "interval(50)".parse(),
            Ok(FsyncPolicy::Interval(Duration::from_millis(50)))
        );
        assert_eq!(
            "interval:20ms".parse(),
            Ok(FsyncPolicy::Interval(Duration::from_millis(20)))
        );
        assert!("interval(0)".parse::<FsyncPolicy>().is_err());
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }

    #[test]
    fn a_full_disk_is_a_typed_retryable_internal_failure() {
        for source in [
            std::io::Error::from_raw_os_error(ENOSPC),
            std::io::Error::from_raw_os_error(EDQUOT),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        ] {
            let e = StoreError::io("write segment", "/d/0.seg", source);
            assert!(e.is_no_space(), "{e:?}");
            assert!(
                e.to_string()
                    .starts_with("no space left on device: write segment /d/0.seg")
            );
            let copy = e.duplicate();
            assert!(
                copy.is_no_space() && copy.to_string() == e.to_string(),
                "{copy}"
            );
            let api = crate::api::Error::from(e);
            assert_eq!(api.code(), "InternalFailure");
            assert!(api.is_retryable());
            assert_eq!(api.message(), NO_SPACE_MESSAGE);
            let src = std::error::Error::source(&api)
                .and_then(|s| s.downcast_ref::<StoreError>())
                .map(StoreError::is_no_space);
            assert_eq!(src, Some(true));
        }
        let other = StoreError::io("write segment", "/d/0.seg", std::io::Error::other("EIO"));
        assert!(!other.is_no_space());
        assert!(matches!(other.duplicate(), StoreError::Io { .. }));
        let api = crate::api::Error::from(other);
        assert!(
            api.message()
                .starts_with("storage failure: write segment /d/0.seg")
        );
    }
}
