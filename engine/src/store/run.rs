//! A run: consecutive records of one shard, stored back to back in one segment. The unit of
//! the in-memory index (`index`) and of the persisted one (`idxfile`); it depends on
//! nothing else of the store.

/// A run holds at most this many records ...
pub(crate) const MAX_RUN_RECORDS: u32 = 512;
/// ... or about this many bytes, so that a short read does not read much more than it returns.
pub(crate) const MAX_RUN_BYTES: u32 = 128 * 1024;

/// Consecutive records of one shard, stored back to back in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// Position of the first record.
    pub first: u64,
    /// Number of records.
    pub count: u32,
    /// Segment number.
    pub segment: u64,
    /// Byte offset of the first frame in the segment.
    pub offset: u64,
    /// Bytes of all the run's frames.
    pub len: u32,
    /// Arrival time (epoch ms) of every record of the run; for a lazy run, of its first.
    pub arrival_ms: i64,
    /// A stand-in for a shard's records in a segment whose runs are not loaded yet (see the
    /// module docs): `offset` and `len` are 0, `count` is every record of the shard there.
    pub lazy: bool,
}

impl Run {
    /// The position after the run's last record.
    pub fn end(&self) -> u64 {
        self.first + u64::from(self.count)
    }
}
