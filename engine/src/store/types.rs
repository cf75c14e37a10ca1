//! The log's types: what callers hand in and get back, and the state the writer thread and
//! readers share.

use super::fs::Fs;
use super::index::IndexState;
use super::{FsyncPolicy, StoreError};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::{oneshot, watch};

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

pub(crate) type Reply = oneshot::Sender<Result<AppendResult, StoreError>>;

pub(crate) struct Request {
    pub records: Vec<AppendRecord>,
    pub reply: Reply,
}

#[derive(Default)]
pub(crate) struct Pending {
    pub queue: VecDeque<Request>,
    pub retention: Vec<(i64, oneshot::Sender<Result<usize, StoreError>>)>,
    pub closing: bool,
}

/// The clock a log stamps arrivals with: epoch milliseconds.
pub type ClockFn = Arc<dyn Fn() -> i64 + Send + Sync>;

pub(crate) struct Shared {
    pub fs: Arc<dyn Fs>,
    pub dir: PathBuf,
    pub config: LogConfig,
    pub index: RwLock<IndexState>,
    pub pending: Mutex<Pending>,
    pub wake: Condvar,
    pub commits: watch::Sender<u64>,
    pub stats: LogStats,
    pub clock: ClockFn,
    /// Held while a segment's runs are loaded (see `lazy`) and while retention deletes.
    pub loading: Mutex<()>,
}
