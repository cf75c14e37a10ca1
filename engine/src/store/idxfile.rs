//! The persisted index of a segment (`<segment>.idx`): what opening a log and reading it need
//! without reading the segment's frames.
//!
//! # Format (version 2)
//!
//! All integers little-endian. A *head*, which opening reads, then the *runs*, which are
//! read the first time a read, or a search by time, needs the segment:
//!
//! ```text
//! head:  magic "RILLIDX\x01" (8) | version u32 = 2 | segment number u64 | segment length u64
//!        | max arrival ms i64 (i64::MIN: no record) | span count u32 | run count u32
//!        | first frame offset u64 (where the segment's header ends)
//!        | span count x (shard u32 | first position u64 | end position u64
//!                        | first arrival ms i64 | last arrival ms i64)     shards ascending
//!        | crc32c u32 of every head byte before it
//! runs:  run count x (shard u32 | first position u64 | record count u32 | offset u64
//!                     | byte length u32 | arrival ms i64)                  in file order
//!        | crc32c u32 of every byte of the file before it
//! ```
//!
//! A *span* is what the segment holds of one shard: positions `first..end` (every one of
//! them), the arrival of the first and the newest of those records.
//!
//! # Invariants, checked before an index is used
//!
//! An index is derived data: one that fails a check is not used; the segment is scanned
//! instead (every frame checked) and the index written anew, which is logged. At open, from
//! the head alone:
//!
//! * magic, version (an index of another version is rebuilt) and the head's checksum;
//! * the segment number is the segment's, the recorded length is the segment file's length
//!   now, and the index file's length is what its counts say;
//! * spans are in ascending shard order, each continues its shard where the segments before
//!   it left it (or, for a shard none of whose records before it are retained, at or after
//!   that: retention deleted them), with `first < end` and first arrival at most the last;
//!   the max arrival is the largest last arrival.
//!
//! A sealed segment opened by its index head has no frame and not even its header read at
//! open: its header is checked (segment number, length) when its runs are loaded.
//!
//! When the runs are loaded, in addition: the whole file's checksum, the head unchanged
//! since open, the runs tiling the segment exactly (the first starts where the header ends,
//! each where the one before it ends, the last at the segment's length), and each shard's
//! runs covering its span exactly, with the span's arrivals.
//!
//! The frames themselves are checked when they are read (see [`super`], "Damaged bytes").

use super::StoreError;
use super::fs::{self, FileIo, Fs};
use super::run::Run;
use super::segment;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RILLIDX\x01";
/// The persisted index's format version.
pub(crate) const VERSION: u32 = 2;
const FIXED: usize = 8 + 4 + 8 + 8 + 8 + 4 + 4 + 8;
const SPAN_BYTES: usize = 4 + 8 + 8 + 8 + 8;
const RUN_BYTES: usize = 4 + 8 + 4 + 8 + 4 + 8;
/// Bytes read at open, before knowing the head's length: the head of a segment with up to
/// 112 shards in it.
pub(crate) const HEAD_GUESS: usize = 4096;

/// What a segment holds of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub shard: u32,
    /// First position.
    pub first: u64,
    /// The position after the last.
    pub end: u64,
    pub first_arrival: i64,
    pub last_arrival: i64,
}

/// An index's head: what opening uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub segment: u64,
    /// The segment file's length.
    pub len: u64,
    pub max_arrival: Option<i64>,
    pub spans: Vec<Span>,
    pub runs: usize,
    /// Where the segment's first frame starts (its header's length).
    pub header_len: u64,
}

impl Head {
    fn head_len(&self) -> usize {
        FIXED + SPAN_BYTES * self.spans.len() + 4
    }

    /// The head's bytes, as they start the index file (and the heads file's entries).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.file_len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&self.segment.to_le_bytes());
        b.extend_from_slice(&self.len.to_le_bytes());
        b.extend_from_slice(&self.max_arrival.unwrap_or(i64::MIN).to_le_bytes());
        b.extend_from_slice(&(self.spans.len() as u32).to_le_bytes());
        b.extend_from_slice(&(self.runs as u32).to_le_bytes());
        b.extend_from_slice(&self.header_len.to_le_bytes());
        for s in &self.spans {
            b.extend_from_slice(&s.shard.to_le_bytes());
            b.extend_from_slice(&s.first.to_le_bytes());
            b.extend_from_slice(&s.end.to_le_bytes());
            b.extend_from_slice(&s.first_arrival.to_le_bytes());
            b.extend_from_slice(&s.last_arrival.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// The index file's length.
    pub fn file_len(&self) -> usize {
        self.head_len() + RUN_BYTES * self.runs + 4
    }
}

/// The persisted index of one segment.
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

/// The spans of `runs` (in file order), in ascending shard order.
fn spans_of(runs: &[(u32, Run)]) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for (shard, r) in runs {
        match spans.iter_mut().find(|s| s.shard == *shard) {
            Some(s) => {
                s.end = r.end();
                s.last_arrival = s.last_arrival.max(r.arrival_ms);
            }
            None => spans.push(Span {
                shard: *shard,
                first: r.first,
                end: r.end(),
                first_arrival: r.arrival_ms,
                last_arrival: r.arrival_ms,
            }),
        }
    }
    spans.sort_by_key(|s| s.shard);
    spans
}

impl SegmentIndex {
    /// The index's head.
    pub fn head(&self) -> Head {
        Head {
            segment: self.segment,
            len: self.len,
            max_arrival: self.max_arrival,
            spans: spans_of(&self.runs),
            runs: self.runs.len(),
            header_len: self.runs.first().map_or(self.len, |(_, r)| r.offset),
        }
    }

    /// The index file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let head = self.head();
        let mut b = head.encode();
        b.reserve(RUN_BYTES * self.runs.len() + 4);
        for (shard, r) in &self.runs {
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

    /// Parses a whole index file and checks it against the segment (see [`decode_head`] and
    /// [`decode_runs`]); `next` is advanced past the segment's records on success.
    pub fn decode(
        b: &[u8],
        segment: u64,
        file_len: u64,
        header_len: u64,
        next: &mut Vec<u64>,
    ) -> Result<SegmentIndex, String> {
        let head = decode_head(
            b,
            segment,
            file_len,
            Some(b.len() as u64),
            next.clone(),
            &|_| true,
        )?;
        if head.header_len != header_len {
            return Err(format!(
                "index says the header ends at {}, it ends at {header_len}",
                head.header_len
            ));
        }
        let runs = decode_runs(b, &head)?;
        for s in &head.spans {
            let i = s.shard as usize;
            if next.len() <= i {
                next.resize(i + 1, 0);
            }
            next[i] = s.end;
        }
        Ok(SegmentIndex {
            segment,
            len: head.len,
            max_arrival: head.max_arrival,
            runs,
        })
    }
}

/// How many bytes the head in `b` (its first bytes, at least [`FIXED`] of them) takes.
pub(crate) fn head_len(b: &[u8]) -> Result<usize, String> {
    if b.len() < FIXED || b.get(..8) != Some(&MAGIC[..]) {
        return Err("not an index file".into());
    }
    let version = segment::le_u32(b, 8).ok_or("short index")?;
    if version != VERSION {
        return Err(format!("index version {version} is not {VERSION}"));
    }
    let spans = segment::le_u32(b, 36).ok_or("short index")? as usize;
    if spans > segment::MAX_SHARDS {
        return Err(format!("{spans} spans"));
    }
    Ok(FIXED + SPAN_BYTES * spans + 4)
}

/// Parses the head at the start of `b` and checks it against the segment: its number, its
/// length now (`file_len`), the index file's length (`idx_len`, when known), and `next`,
/// the position each shard continues at before this segment; `held(shard)` says whether
/// records of the shard before this segment are retained (if not, a span may start past
/// `next`). Any failure says why.
pub(crate) fn decode_head(
    b: &[u8],
    segment: u64,
    file_len: u64,
    idx_len: Option<u64>,
    mut next: Vec<u64>,
    held: &dyn Fn(usize) -> bool,
) -> Result<Head, String> {
    let hl = head_len(b)?;
    let head = b.get(..hl).ok_or("short index head")?;
    let crc = segment::le_u32(head, hl - 4).ok_or("short index")?;
    if crc32c::crc32c(&head[..hl - 4]) != crc {
        return Err("index head checksum mismatch".into());
    }
    let field = |at: usize| segment::le_u64(head, at).ok_or_else(|| "short index".to_string());
    let seg = field(12)?;
    let len = field(20)?;
    let max = field(28)? as i64;
    let n_spans = segment::le_u32(head, 36).ok_or("short index")? as usize;
    let n_runs = segment::le_u32(head, 40).ok_or("short index")? as usize;
    let header_len = field(44)?;
    if seg != segment {
        return Err(format!("index is of segment {seg}"));
    }
    if len != file_len {
        return Err(format!(
            "index is of a segment of {len} bytes, the file has {file_len}"
        ));
    }
    let mut spans = Vec::with_capacity(n_spans);
    let mut max_seen = None::<i64>;
    for i in 0..n_spans {
        let o = FIXED + i * SPAN_BYTES;
        let span = Span {
            shard: segment::le_u32(head, o).ok_or("short index")?,
            first: field(o + 4)?,
            end: field(o + 12)?,
            first_arrival: field(o + 20)? as i64,
            last_arrival: field(o + 28)? as i64,
        };
        let s = span.shard as usize;
        if s >= segment::MAX_SHARDS || spans.last().is_some_and(|p: &Span| p.shard >= span.shard) {
            return Err(format!(
                "span {i}: shard {} out of order or range",
                span.shard
            ));
        }
        if next.len() <= s {
            next.resize(s + 1, 0);
        }
        let continues = span.first == next[s] || (span.first > next[s] && !held(s));
        if !continues
            || span.end <= span.first
            || span.end > segment::MAX_POSITION
            || span.end - span.first > u64::from(u32::MAX)
            || span.first_arrival > span.last_arrival
        {
            return Err(format!(
                "span {i}: shard {} continues at {} but the span is {}..{}",
                span.shard, next[s], span.first, span.end
            ));
        }
        next[s] = span.end;
        max_seen = Some(max_seen.map_or(span.last_arrival, |m| m.max(span.last_arrival)));
        spans.push(span);
    }
    let max_arrival = (max != i64::MIN).then_some(max);
    if max_arrival != max_seen {
        return Err("max arrival does not match the spans".into());
    }
    if (n_runs == 0) != spans.is_empty() || n_runs < spans.len() {
        return Err(format!("{n_runs} runs for {} spans", spans.len()));
    }
    if header_len < segment::HEADER_FIXED as u64 || header_len > len {
        return Err(format!("first frame offset {header_len} out of range"));
    }
    let head = Head {
        segment,
        len,
        max_arrival,
        spans,
        runs: n_runs,
        header_len,
    };
    if let Some(idx_len) = idx_len
        && idx_len != head.file_len() as u64
    {
        return Err(format!(
            "index file has {idx_len} bytes, its head says {}",
            head.file_len()
        ));
    }
    Ok(head)
}

/// Parses the runs of a whole index file `b` whose head was `head` when the log was opened,
/// checking them against the head and the segment (whose header ends at `header_len`).
pub(crate) fn decode_runs(b: &[u8], head: &Head) -> Result<Vec<(u32, Run)>, String> {
    if b.len() != head.file_len() {
        return Err(format!(
            "index file has {} bytes, its head says {}",
            b.len(),
            head.file_len()
        ));
    }
    let crc = segment::le_u32(b, b.len() - 4).ok_or("short index")?;
    if crc32c::crc32c(&b[..b.len() - 4]) != crc {
        return Err("index checksum mismatch".into());
    }
    let firsts = head.spans.iter().fold(Vec::new(), |mut v, s| {
        let i = s.shard as usize;
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        v[i] = s.first;
        v
    });
    let now = decode_head(
        b,
        head.segment,
        head.len,
        Some(b.len() as u64),
        firsts,
        &|_| true,
    )?;
    if &now != head {
        return Err("index head changed since the log was opened".into());
    }
    let min_frame = (segment::FRAME_PREFIX + segment::BODY_FIXED) as u64;
    let start = head.head_len();
    let mut runs = Vec::with_capacity(head.runs);
    let mut at = head.header_len;
    // Per span: where its shard continues, and the arrivals seen.
    let mut cont: Vec<(u64, Option<i64>, i64)> = head
        .spans
        .iter()
        .map(|s| (s.first, None, i64::MIN))
        .collect();
    for i in 0..head.runs {
        let o = start + i * RUN_BYTES;
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
            segment: head.segment,
            offset: field(16, 8)?,
            len: field(24, 4)? as u32,
            arrival_ms: field(28, 8)? as i64,
            lazy: false,
        };
        let Ok(k) = head.spans.binary_search_by_key(&shard, |s| s.shard) else {
            return Err(format!("run {i}: shard {shard} has no span"));
        };
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
        let c = &mut cont[k];
        if run.first != c.0 || run.end() > head.spans[k].end {
            return Err(format!(
                "run {i}: shard {shard} continues at {} but the run starts at {}",
                c.0, run.first
            ));
        }
        c.0 = run.end();
        c.1.get_or_insert(run.arrival_ms);
        c.2 = c.2.max(run.arrival_ms);
        at += u64::from(run.len);
        runs.push((shard, run));
    }
    if at != head.len {
        return Err(format!("runs end at {at}, the segment at {}", head.len));
    }
    for (s, c) in head.spans.iter().zip(&cont) {
        if c.0 != s.end || c.1 != Some(s.first_arrival) || c.2 != s.last_arrival {
            return Err(format!(
                "the runs of shard {} do not match its span",
                s.shard
            ));
        }
    }
    Ok(runs)
}

/// Reads the head of the persisted index of `segment`, if there is a file for it. The bytes
/// returned hold at least the head when the file does. The file's length is not asked for
/// (one system call less per segment at open): it is checked when the runs are read.
pub(crate) fn read_head(
    fs: &dyn Fs,
    dir: &Path,
    segment: u64,
) -> Result<Option<Vec<u8>>, std::io::Error> {
    let Some(file) = open_index(fs, dir, segment)? else {
        return Ok(None);
    };
    let first = read_prefix(file.as_ref(), HEAD_GUESS)?;
    match head_len(&first) {
        Ok(need) if need > first.len() && first.len() == HEAD_GUESS => {
            read_prefix(file.as_ref(), need).map(Some)
        }
        _ => Ok(Some(first)),
    }
}

/// The first `want` bytes of a file, or all of it when it is shorter.
fn read_prefix(file: &dyn FileIo, want: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; want];
    let mut got = 0;
    while got < want {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n.min(want - got),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The persisted index file of `segment`, if there is one.
fn open_index(
    fs: &dyn Fs,
    dir: &Path,
    segment: u64,
) -> std::io::Result<Option<std::sync::Arc<dyn FileIo>>> {
    match fs.open(&index_path(dir, segment)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the whole persisted index of `segment`, if there is a file for it.
pub(crate) fn read_index(
    fs: &dyn Fs,
    dir: &Path,
    segment: u64,
) -> Result<Option<Vec<u8>>, std::io::Error> {
    let Some(file) = open_index(fs, dir, segment)? else {
        return Ok(None);
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
            lazy: false,
        }
    }

    fn sample() -> (SegmentIndex, u64) {
        let header = 28 + 16;
        let idx = SegmentIndex {
            segment: 3,
            len: header + 100 + 62 + 50,
            max_arrival: Some(9),
            runs: vec![
                (0, run(5, 2, header, 100, 7)),
                (1, run(0, 1, header + 100, 62, 9)),
                (0, run(7, 1, header + 162, 50, 8)),
            ],
        };
        (idx, header)
    }

    #[test]
    fn index_round_trip_and_checks() {
        let (idx, header) = sample();
        let b = idx.encode();
        let mut next = vec![5, 0];
        let got = SegmentIndex::decode(&b, 3, idx.len, header, &mut next);
        assert_eq!(got.as_ref(), Ok(&idx));
        assert_eq!(next, vec![8, 1]);
        let head = idx.head();
        assert_eq!(
            head.spans[0],
            Span {
                shard: 0,
                first: 5,
                end: 8,
                first_arrival: 7,
                last_arrival: 8
            }
        );

        // Every single byte flipped is caught by the head check or the runs check.
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
        // A different segment, a segment of another length, a gap in positions, a short file.
        assert!(SegmentIndex::decode(&b, 4, idx.len, header, &mut vec![5, 0]).is_err());
        assert!(SegmentIndex::decode(&b, 3, idx.len + 1, header, &mut vec![5, 0]).is_err());
        assert!(SegmentIndex::decode(&b, 3, idx.len, header, &mut vec![4, 0]).is_err());
        assert!(
            SegmentIndex::decode(&b[..b.len() - 1], 3, idx.len, header, &mut vec![5, 0]).is_err()
        );
    }

    #[test]
    fn the_head_alone_opens_and_the_runs_load_against_it() {
        let (idx, header) = sample();
        let b = idx.encode();
        let hl = head_len(&b).expect("head length");
        let all = |_: usize| true;
        let len = Some(b.len() as u64);
        let head = decode_head(&b[..hl], 3, idx.len, len, vec![5, 0], &all).expect("head");
        assert_eq!(head, idx.head());
        assert_eq!(head.header_len, header);
        assert_eq!(decode_runs(&b, &head), Ok(idx.runs.clone()));
        // A head that no longer continues the shards, or an index file of another length.
        assert!(decode_head(&b[..hl], 3, idx.len, len, vec![6, 0], &all).is_err());
        assert!(
            decode_head(
                &b[..hl],
                3,
                idx.len,
                Some(b.len() as u64 + 1),
                vec![5, 0],
                &all
            )
            .is_err()
        );
        // A gap is allowed only for a shard none of whose earlier records are retained.
        assert!(decode_head(&b[..hl], 3, idx.len, len, vec![4, 0], &all).is_err());
        let none = |_: usize| false;
        assert!(decode_head(&b[..hl], 3, idx.len, len, vec![4, 0], &none).is_ok());
        // Runs that were replaced after open by another valid index of the same segment.
        let mut other = idx.clone();
        other.runs[2].1.arrival_ms = 9;
        other.max_arrival = Some(9);
        assert!(decode_runs(&other.encode(), &head).is_err());
        // An index of version 1 is not read (it is rebuilt).
        let mut v1 = b.clone();
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert!(head_len(&v1).is_err());
    }
}
