//! The log's index: in memory, the runs of every shard and the open segments; on disk, one
//! persisted index per sealed segment (`<segment>.idx`), so that opening a log does not read
//! the sealed segments' frames.
//!
//! # Persisted index format
//!
//! All integers little-endian:
//!
//! ```text
//! magic "RILLIDX\x01" (8) | version u32 = 1 | segment number u64 | segment length u64
//!   | max arrival ms i64 (i64::MIN: no record) | run count u32
//!   | run count x (shard u32 | first position u64 | record count u32 | offset u64
//!                  | byte length u32 | arrival ms i64)            runs in file order
//!   | crc32c u32 of every byte before it
//! ```
//!
//! # Invariants, checked before an index is used
//!
//! An index is derived data: one that fails any check below is not used, the segment is
//! scanned instead (every frame checked, as for a log without indexes) and the index is
//! written anew; this is logged. The checks:
//!
//! * magic, version and checksum;
//! * the segment number is the segment's, and the recorded length is the segment file's
//!   length now (a segment cut short or extended no longer matches its index);
//! * the runs tile the segment exactly: the first starts where the header ends, each starts
//!   where the one before it ends, the last ends at the segment's length;
//! * within each shard, runs continue the shard's positions with no gap, starting where the
//!   segments before it (and this segment's header) say the shard continues;
//! * the max arrival is the largest run arrival.
//!
//! The frames themselves are not read at open: every frame is checked against its checksum,
//! shard and position when it is read (see [`super`], "Damaged bytes").

use super::StoreError;
use super::fs::{self, FileIo, Fs};
use super::segment;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Arrival time (epoch ms) of every record of the run.
    pub arrival_ms: i64,
}

impl Run {
    /// The position after the run's last record.
    pub fn end(&self) -> u64 {
        self.first + u64::from(self.count)
    }
}

/// The runs of one shard, oldest first, and the position its next record gets.
#[derive(Debug, Default)]
pub(crate) struct ShardIndex {
    pub runs: VecDeque<Run>,
    pub next: u64,
}

impl ShardIndex {
    /// Position of the oldest retained record (`next` when none is retained).
    pub fn trim(&self) -> u64 {
        self.runs.front().map_or(self.next, |r| r.first)
    }
}

/// An open segment.
#[derive(Debug)]
pub(crate) struct SegmentInfo {
    pub path: PathBuf,
    pub file: Arc<dyn FileIo>,
    /// Length of the committed frames (and the header): the end of the last good frame.
    pub len: u64,
    /// Newest arrival of its records.
    pub max_arrival: Option<i64>,
}

/// What readers and the writer share: every shard's runs and every segment.
#[derive(Debug, Default)]
pub(crate) struct IndexState {
    pub shards: Vec<ShardIndex>,
    pub segments: BTreeMap<u64, SegmentInfo>,
}

impl IndexState {
    /// Adds a record of `shard` at `position` found at `offset` (`len` bytes) of `segment`,
    /// extending the shard's last run when the record continues it.
    pub fn push_frame(
        &mut self,
        shard: u32,
        position: u64,
        segment: u64,
        offset: u64,
        len: u32,
        arrival_ms: i64,
    ) {
        let s = shard as usize;
        if self.shards.len() <= s {
            self.shards.resize_with(s + 1, ShardIndex::default);
        }
        let runs = &mut self.shards[s].runs;
        match runs.back_mut() {
            Some(r)
                if r.segment == segment
                    && r.end() == position
                    && r.offset + u64::from(r.len) == offset
                    && r.arrival_ms == arrival_ms
                    && r.count < MAX_RUN_RECORDS
                    && r.len < MAX_RUN_BYTES =>
            {
                r.count += 1;
                r.len += len;
            }
            _ => runs.push_back(Run {
                first: position,
                count: 1,
                segment,
                offset,
                len,
                arrival_ms,
            }),
        }
    }

    /// The runs of `segment` with their shards, in file order.
    pub fn runs_of(&self, segment: u64) -> Vec<(u32, Run)> {
        let mut out = Vec::new();
        for (shard, s) in self.shards.iter().enumerate() {
            // Runs of a shard are in segment order: look at the tail for the newest ones
            // and at the head for old ones, skipping the others quickly.
            let from = s.runs.partition_point(|r| r.segment < segment);
            out.extend(
                s.runs
                    .range(from..)
                    .take_while(|r| r.segment == segment)
                    .map(|r| (shard as u32, *r)),
            );
        }
        out.sort_by_key(|(_, r)| r.offset);
        out
    }
}

const MAGIC: &[u8; 8] = b"RILLIDX\x01";
const VERSION: u32 = 1;
const FIXED: usize = 8 + 4 + 8 + 8 + 8 + 4;
const RUN_BYTES: usize = 4 + 8 + 4 + 8 + 4 + 8;

/// The persisted index of one sealed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentIndex {
    pub segment: u64,
    pub len: u64,
    pub max_arrival: Option<i64>,
    /// Runs with their shards, in file order.
    pub runs: Vec<(u32, Run)>,
}

/// The path of a segment's persisted index.
pub(crate) fn index_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.idx"))
}

impl SegmentIndex {
    /// The index file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(FIXED + RUN_BYTES * self.runs.len() + 4);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&self.segment.to_le_bytes());
        b.extend_from_slice(&self.len.to_le_bytes());
        b.extend_from_slice(&self.max_arrival.unwrap_or(i64::MIN).to_le_bytes());
        let n = u32::try_from(self.runs.len()).unwrap_or(u32::MAX);
        b.extend_from_slice(&n.to_le_bytes());
        for (shard, r) in self.runs.iter().take(n as usize) {
            b.extend_from_slice(&shard.to_le_bytes());
            b.extend_from_slice(&r.first.to_le_bytes());
            b.extend_from_slice(&r.count.to_le_bytes());
            b.extend_from_slice(&r.offset.to_le_bytes());
            b.extend_from_slice(&r.len.to_le_bytes());
            b.extend_from_slice(&r.arrival_ms.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses an index file and checks it against the segment: its number, its length now,
    /// where its header ends, and `next`, the position each shard continues at before this
    /// segment (advanced past the segment's records on success). Any failure says why; `next`
    /// is then unchanged.
    pub fn decode(
        b: &[u8],
        segment: u64,
        file_len: u64,
        header_len: u64,
        next: &mut Vec<u64>,
    ) -> Result<SegmentIndex, String> {
        if b.len() < FIXED + 4 || b.get(..8) != Some(&MAGIC[..]) {
            return Err("not an index file".into());
        }
        let body = &b[..b.len() - 4];
        let crc = segment::le_u32(b, b.len() - 4).ok_or("short index")?;
        if crc32c::crc32c(body) != crc {
            return Err("index checksum mismatch".into());
        }
        let version = segment::le_u32(b, 8).ok_or("short index")?;
        if version != VERSION {
            return Err(format!("index version {version} is not {VERSION}"));
        }
        let seg = segment::le_u64(b, 12).ok_or("short index")?;
        let len = segment::le_u64(b, 20).ok_or("short index")?;
        let max = segment::le_u64(b, 28).ok_or("short index")? as i64;
        let n = segment::le_u32(b, 36).ok_or("short index")? as usize;
        if seg != segment {
            return Err(format!("index is of segment {seg}"));
        }
        if len != file_len {
            return Err(format!(
                "index is of a segment of {len} bytes, the file has {file_len}"
            ));
        }
        if body.len() != FIXED + n.saturating_mul(RUN_BYTES) {
            return Err("index length does not match its run count".into());
        }
        let mut runs = Vec::with_capacity(n);
        let mut at = header_len;
        let mut advanced = next.clone();
        let mut max_seen = None::<i64>;
        let min_frame = (segment::FRAME_PREFIX + segment::BODY_FIXED) as u64;
        for i in 0..n {
            let o = FIXED + i * RUN_BYTES;
            let field = |k: usize, w: usize| -> Result<u64, String> {
                let v = if w == 4 {
                    segment::le_u32(b, o + k).map(u64::from)
                } else {
                    segment::le_u64(b, o + k)
                };
                v.ok_or_else(|| "short index".to_string())
            };
            let shard = field(0, 4)? as u32;
            let run = Run {
                first: field(4, 8)?,
                count: field(12, 4)? as u32,
                segment,
                offset: field(16, 8)?,
                len: field(24, 4)? as u32,
                arrival_ms: field(28, 8)? as i64,
            };
            if shard as usize >= segment::MAX_SHARDS {
                return Err(format!("run {i}: shard index {shard} out of range"));
            }
            if run.offset != at {
                return Err(format!(
                    "run {i} starts at {}, the one before ends at {at}",
                    run.offset
                ));
            }
            if run.count == 0 || u64::from(run.len) < min_frame * u64::from(run.count) {
                return Err(format!(
                    "run {i}: {} records in {} bytes",
                    run.count, run.len
                ));
            }
            let s = shard as usize;
            if advanced.len() <= s {
                advanced.resize(s + 1, 0);
            }
            if run.first != advanced[s] || run.end() > segment::MAX_POSITION {
                return Err(format!(
                    "run {i}: shard {shard} continues at {} but the run starts at {}",
                    advanced[s], run.first
                ));
            }
            advanced[s] = run.end();
            at += u64::from(run.len);
            max_seen = Some(max_seen.map_or(run.arrival_ms, |m| m.max(run.arrival_ms)));
            runs.push((shard, run));
        }
        if at != file_len {
            return Err(format!("runs end at {at}, the segment at {file_len}"));
        }
        let max_arrival = (max != i64::MIN).then_some(max);
        if max_arrival != max_seen {
            return Err("max arrival does not match the runs".into());
        }
        *next = advanced;
        Ok(SegmentIndex {
            segment,
            len,
            max_arrival,
            runs,
        })
    }
}

/// Reads the persisted index of `segment`, if there is a file for it.
pub(crate) fn read_index(
    fs: &dyn Fs,
    dir: &Path,
    segment: u64,
) -> Result<Option<Vec<u8>>, std::io::Error> {
    let path = index_path(dir, segment);
    let file = match fs.open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.size()?;
    fs::read_all(file.as_ref(), len).map(Some)
}

/// Writes `bytes` to `path` atomically: to `path.tmp`, synced, renamed over `path`, and the
/// directory synced. A failure leaves `path` as it was (and may leave the `.tmp` file,
/// which recovery removes).
pub(crate) fn write_atomically(
    fs: &dyn Fs,
    dir: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let tmp = tmp_path(path);
    let file = fs
        .create(&tmp)
        .map_err(|e| StoreError::io("create", &tmp, e))?;
    let made = fs::write_all_at(file.as_ref(), bytes, 0)
        .map_err(|e| StoreError::io("write", &tmp, e))
        .and_then(|()| {
            file.sync_all()
                .map_err(|e| StoreError::io("fsync", &tmp, e))
        })
        .and_then(|()| {
            fs.rename(&tmp, path)
                .map_err(|e| StoreError::io("rename", &tmp, e))
        })
        .and_then(|()| {
            fs.sync_dir(dir)
                .map_err(|e| StoreError::io("fsync directory", dir, e))
        });
    if made.is_err() {
        drop(file);
        if let Err(rm) = fs.remove(&tmp)
            && rm.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %tmp.display(), error = %rm, "could not remove a temporary file");
        }
    }
    made
}

/// The temporary name a file is made under before it is renamed into place.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes the persisted index of a sealed segment. A failure is logged, not returned: the
/// index is derived data, and opening rebuilds a missing one.
pub(crate) fn persist(fs: &dyn Fs, dir: &Path, index: &SegmentIndex) {
    let path = index_path(dir, index.segment);
    if let Err(e) = write_atomically(fs, dir, &path, &index.encode()) {
        tracing::warn!(error = %e, path = %path.display(), "could not write a segment index; opening will rebuild it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(first: u64, count: u32, offset: u64, len: u32, arrival_ms: i64) -> Run {
        Run {
            first,
            count,
            segment: 3,
            offset,
            len,
            arrival_ms,
        }
    }

    #[test]
    fn index_round_trip_and_checks() {
        let header = 28 + 16;
        let idx = SegmentIndex {
            segment: 3,
            len: header + 100 + 62,
            max_arrival: Some(9),
            runs: vec![
                (0, run(5, 2, header, 100, 7)),
                (1, run(0, 1, header + 100, 62, 9)),
            ],
        };
        let b = idx.encode();
        let mut next = vec![5, 0];
        let got = SegmentIndex::decode(&b, 3, idx.len, header, &mut next);
        assert_eq!(got.as_ref(), Ok(&idx));
        assert_eq!(next, vec![7, 1]);

        // Every single byte flipped is caught.
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x01;
            let mut next = vec![5, 0];
            assert!(
                SegmentIndex::decode(&c, 3, idx.len, header, &mut next).is_err(),
                "flip at {i}"
            );
            assert_eq!(next, vec![5, 0], "next unchanged on failure");
        }
        // A different segment, a segment of another length, a gap in positions.
        assert!(SegmentIndex::decode(&b, 4, idx.len, header, &mut vec![5, 0]).is_err());
        assert!(SegmentIndex::decode(&b, 3, idx.len + 1, header, &mut vec![5, 0]).is_err());
        assert!(SegmentIndex::decode(&b, 3, idx.len, header, &mut vec![4, 0]).is_err());
        assert!(
            SegmentIndex::decode(&b[..b.len() - 1], 3, idx.len, header, &mut vec![5, 0]).is_err()
        );
    }

    #[test]
    fn runs_of_a_segment_in_file_order() {
        let mut st = IndexState::default();
        st.push_frame(1, 0, 0, 28, 40, 1);
        st.push_frame(0, 0, 1, 28, 40, 2);
        st.push_frame(1, 1, 1, 68, 40, 2);
        st.push_frame(0, 1, 1, 108, 40, 3);
        let runs = st.runs_of(1);
        let shards: Vec<u32> = runs.iter().map(|(s, _)| *s).collect();
        assert_eq!(shards, vec![0, 1, 0]);
        assert_eq!(runs[0].1.offset, 28);
        assert_eq!(st.runs_of(0).len(), 1);
    }
}
