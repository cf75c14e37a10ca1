//! Opening a log: what is on disk becomes the in-memory index, under the recovery policy of
//! [`super`] ("Recovery policy"). Sealed segments are known by their header and persisted
//! index; only the newest segment's frames are read.

use super::StoreError;
use super::fs::{self, FileIo, Fs};
use super::heads;
use super::idxfile::{self, SegmentIndex};
use super::index::{IndexState, SegmentInfo};
use super::segment::{self, Decoded, Header, HeaderError};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The path of segment `id` in `dir`.
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// What recovery found: the index, each shard's next position, the newest arrival and the
/// newest segment (the one the writer appends to).
pub(crate) struct Recovered {
    pub state: IndexState,
    pub next: Vec<u64>,
    pub last_arrival: i64,
    pub active: u64,
}

/// Creates segment `id` with a header carrying `next`: written to `<id>.seg.tmp`, synced,
/// renamed to `<id>.seg`, and the directory synced. So a `.seg` file always starts with a
/// complete, synced header; a crash during creation leaves at most a `.tmp` file, which
/// holds no record and which recovery removes.
pub(crate) fn create_segment(
    fs: &dyn Fs,
    dir: &Path,
    id: u64,
    next: &[u64],
) -> Result<SegmentInfo, StoreError> {
    let path = segment_path(dir, id);
    let header = segment::encode_header(id, next);
    idxfile::write_atomically(fs, dir, &path, &header)?;
    let file = fs
        .open(&path)
        .map_err(|e| StoreError::io("open segment", &path, e))?;
    Ok(SegmentInfo {
        path,
        file: Some(file),
        len: header.len() as u64,
        max_arrival: None,
    })
}

/// A header problem as the store's error, at offset 0 of `path`.
fn header_error(path: &Path, e: HeaderError) -> StoreError {
    match e {
        HeaderError::Version(version) => StoreError::UnknownVersion {
            path: path.to_path_buf(),
            offset: 8,
            version,
            supported: segment::VERSION,
        },
        HeaderError::Damaged(reason) => StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("segment header: {reason}"),
        },
    }
}

/// Reads and checks the header of a segment file of `len` bytes.
pub(crate) fn read_header(file: &dyn FileIo, path: &Path, len: u64) -> Result<Header, StoreError> {
    let short = || StoreError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason: format!("segment header: the file has {len} bytes, fewer than its header"),
    };
    let fixed = segment::HEADER_FIXED as u64;
    if len < fixed {
        return Err(short());
    }
    let mut head = vec![0u8; segment::HEADER_FIXED];
    fs::read_exact_at(file, &mut head, 0).map_err(|e| StoreError::io("read segment", path, e))?;
    // The version is checked before the length: another version may lay its header out
    // differently.
    if let Err(e) = segment::decode_header(&head)
        && matches!(e, HeaderError::Version(_))
    {
        return Err(header_error(path, e));
    }
    let need = match segment::header_len_of(&head) {
        Some(Ok(n)) => n as u64,
        Some(Err(e)) => return Err(header_error(path, e)),
        None => return Err(short()),
    };
    if len < need {
        return Err(short());
    }
    let mut buf = vec![0u8; need as usize];
    fs::read_exact_at(file, &mut buf, 0).map_err(|e| StoreError::io("read segment", path, e))?;
    segment::decode_header(&buf).map_err(|e| header_error(path, e))
}

/// Whether the damage at `at` (the first frame of the newest segment that is not intact) is
/// what a crash during a write leaves, a torn tail: the bytes written end inside that frame,
/// and anything after them up to the end of the file is zeros (blocks the filesystem
/// allocated for the write that never reached them). So: every byte from the end of the
/// damaged frame's declared length on is zero (or the file ends first), and the frame is not
/// complete with a damaged length field.
fn is_torn(raw: &[u8], at: usize) -> bool {
    let rest = &raw[at..];
    let written = rest.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if written == 0 {
        return true;
    }
    if matches!(
        segment::decode_frame(&Bytes::copy_from_slice(rest), 0),
        Decoded::Frame(_)
    ) {
        return false;
    }
    let Some(len) = segment::le_u32(rest, 0) else {
        // Fewer than 4 bytes left: the length itself was cut short.
        return true;
    };
    let len = len as usize;
    if !(segment::BODY_FIXED..=segment::MAX_BODY).contains(&len) {
        return false;
    }
    written < segment::FRAME_PREFIX + len && !complete_with_damaged_length(rest, written)
}

/// Whether the frame at the start of `rest`, whose written bytes (`written` of them, then
/// only zeros) end before its declared length, is in fact a complete frame with a damaged
/// length field: its body, up to any point from the last written byte to the end of the
/// file, passes the frame's checksum. That is damage to a stored record, not a torn write.
fn complete_with_damaged_length(rest: &[u8], written: usize) -> bool {
    let (Some(crc), Some(body)) = (
        segment::le_u32(rest, 4),
        rest.get(segment::FRAME_PREFIX..written),
    ) else {
        return false;
    };
    if body.len() < segment::BODY_FIXED {
        return false;
    }
    let mut c = crc32c::crc32c(body);
    if c == crc {
        return true;
    }
    // The record's data may end in zero bytes.
    for _ in written..rest.len() {
        c = crc32c::crc32c_append(c, &[0]);
        if c == crc {
            return true;
        }
    }
    false
}

/// Opens the log in `dir` (see the module docs of [`super`] for the policy).
pub(crate) fn recover(fs: &dyn Fs, dir: &Path) -> Result<Recovered, StoreError> {
    fs.create_dir_all(dir)
        .map_err(|e| StoreError::io("create directory", dir, e))?;
    let names = fs.list(dir).map_err(|e| StoreError::io("list", dir, e))?;
    let mut ids: Vec<u64> = Vec::new();
    let mut indexes: Vec<u64> = Vec::new();
    let mut removed = false;
    for name in &names {
        if name.ends_with(".tmp") {
            // A creation that never completed (a segment or an index written under its
            // temporary name, not yet renamed): it holds no record.
            let path = dir.join(name);
            tracing::warn!(path = %path.display(), "removing an unfinished file a crash left");
            fs.remove(&path)
                .map_err(|e| StoreError::io("remove unfinished file", &path, e))?;
            removed = true;
        } else if let Some(id) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u64>().ok())
        {
            ids.push(id);
        } else if let Some(id) = name
            .strip_suffix(".idx")
            .and_then(|n| n.parse::<u64>().ok())
        {
            indexes.push(id);
        }
    }
    ids.sort_unstable();
    // An index whose segment is gone (retention deletes the segment first).
    for id in indexes.iter().filter(|i| ids.binary_search(i).is_err()) {
        let path = idxfile::index_path(dir, *id);
        fs.remove(&path)
            .map_err(|e| StoreError::io("remove stale index", &path, e))?;
        removed = true;
    }
    if removed {
        fs.sync_dir(dir)
            .map_err(|e| StoreError::io("fsync directory", dir, e))?;
    }

    let mut state = IndexState::default();
    let mut next: Vec<u64> = Vec::new();
    let mut last_arrival = i64::MIN;
    let Some(&active) = ids.last() else {
        let seg = create_segment(fs, dir, 0, &next)?;
        state.segments.insert(0, seg);
        return Ok(Recovered {
            state,
            next,
            last_arrival,
            active: 0,
        });
    };
    // The heads file: every sealed segment's index head in one read (see `heads`).
    let (mut listed, had_heads) = match heads::read(fs, dir) {
        Ok(h) => (h, true),
        Err(why) => {
            if ids.len() > 1 {
                tracing::info!(dir = %dir.display(), reason = %why, "no usable heads file; reading each segment's index head");
            }
            (BTreeMap::new(), false)
        }
    };
    let mut rewrite_heads = !had_heads;
    for &id in &ids {
        let path = segment_path(dir, id);
        // A sealed segment listed in the heads file: only its length is asked for now (its
        // file is opened, and its header checked, when its runs are loaded: see `lazy`).
        if id != active
            && let Some(bytes) = listed.remove(&id)
        {
            let len = fs
                .file_len(&path)
                .map_err(|e| StoreError::io("stat segment", &path, e))?;
            match take_head(bytes, id, len, &mut state, &mut next) {
                Ok(max_arrival) => {
                    if let Some(m) = max_arrival {
                        last_arrival = last_arrival.max(m);
                    }
                    state.segments.insert(
                        id,
                        SegmentInfo {
                            path,
                            file: None,
                            len,
                            max_arrival,
                        },
                    );
                    continue;
                }
                Err(why) => {
                    tracing::info!(path = %path.display(), reason = %why, "heads file entry not used");
                    rewrite_heads = true;
                }
            }
        } else if id != active {
            rewrite_heads = true;
        }
        let file = fs
            .open(&path)
            .map_err(|e| StoreError::io("open segment", &path, e))?;
        let len = file
            .size()
            .map_err(|e| StoreError::io("stat segment", &path, e))?;
        // A sealed segment with a good index head: nothing else of it is read now.
        let mut sealed_why = None;
        if id != active {
            match use_head(fs, dir, id, len, &mut state, &mut next) {
                Ok(max_arrival) => {
                    if let Some(m) = max_arrival {
                        last_arrival = last_arrival.max(m);
                    }
                    state.segments.insert(
                        id,
                        SegmentInfo {
                            path,
                            file: Some(file),
                            len,
                            max_arrival,
                        },
                    );
                    continue;
                }
                Err(why) => sealed_why = Some(why),
            }
        }
        let header = read_header(file.as_ref(), &path, len)?;
        if header.segment != id {
            return Err(StoreError::Corrupt {
                path,
                offset: 16,
                reason: format!("segment header names segment {}", header.segment),
            });
        }
        continue_positions(&path, &header, &state, &mut next)?;
        let (len, max_arrival) = if id == active {
            // A log closed cleanly left an index of its newest segment too; it is valid only
            // while the file still has the length it was written for (no append since, so no
            // torn tail). Otherwise the frames are read.
            match use_index(fs, dir, id, len, &header, &mut state, &mut next) {
                Ok(m) => {
                    file.sync_all()
                        .map_err(|e| StoreError::io("fsync segment", &path, e))?;
                    (len, m)
                }
                Err(_) => scan_newest(
                    &path,
                    file.as_ref(),
                    len,
                    &header,
                    id,
                    &mut state,
                    &mut next,
                )?,
            }
        } else {
            let why = sealed_why.unwrap_or_default();
            let m = load_sealed(
                fs,
                dir,
                &path,
                file.as_ref(),
                len,
                &header,
                id,
                &mut state,
                &mut next,
                &why,
            )?;
            (len, m)
        };
        if let Some(m) = max_arrival {
            last_arrival = last_arrival.max(m);
        }
        state.segments.insert(
            id,
            SegmentInfo {
                path,
                file: Some(file),
                len,
                max_arrival,
            },
        );
    }
    // Entries left over are of segments retention deleted since the file was written.
    if (rewrite_heads || !listed.is_empty()) && (had_heads || !state.heads.is_empty()) {
        heads::write(fs, dir, &state.heads);
    }
    // The same for the directory's entries (a segment renamed into place just before the
    // last process stopped).
    fs.sync_dir(dir)
        .map_err(|e| StoreError::io("fsync directory", dir, e))?;
    if state.shards.len() < next.len() {
        state.shards.resize_with(next.len(), Default::default);
    }
    for (s, n) in state.shards.iter_mut().zip(&next) {
        s.next = *n;
    }
    Ok(Recovered {
        state,
        next,
        last_arrival,
        active,
    })
}

/// A header's position for a shard is where that shard's records continue. Past the records
/// the earlier segments hold, it means some were lost (a sealed segment deleted or cut
/// short), unless the shard has none left (retention deleted them).
fn continue_positions(
    path: &Path,
    header: &Header,
    state: &IndexState,
    next: &mut Vec<u64>,
) -> Result<(), StoreError> {
    for (shard, (n, h)) in next.iter().zip(&header.next_positions).enumerate() {
        if h > n && state.shards.get(shard).is_some_and(|s| !s.runs.is_empty()) {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: format!(
                    "shard {shard} continues at position {h}, but the segments before this one \
                     end at {n}: records are missing"
                ),
            });
        }
    }
    if header.next_positions.len() > next.len() {
        next.resize(header.next_positions.len(), 0);
    }
    for (n, h) in next.iter_mut().zip(&header.next_positions) {
        *n = (*n).max(*h);
    }
    Ok(())
}

/// Takes the runs of segment `id` (`len` bytes now) from its persisted index, if it has one
/// that passes every check (see `idxfile`); returns its max arrival, or why not.
fn use_index(
    fs: &dyn Fs,
    dir: &Path,
    id: u64,
    len: u64,
    header: &Header,
    state: &mut IndexState,
    next: &mut Vec<u64>,
) -> Result<Option<i64>, String> {
    let bytes = match idxfile::read_index(fs, dir, id) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err("no index".to_string()),
        Err(e) => return Err(format!("index unreadable: {e}")),
    };
    let idx = SegmentIndex::decode(&bytes, id, len, header.len as u64, next)?;
    for (shard, run) in idx.runs {
        let s = shard as usize;
        if state.shards.len() <= s {
            state.shards.resize_with(s + 1, Default::default);
        }
        state.shards[s].runs.push_back(run);
    }
    Ok(idx.max_arrival)
}

/// Takes sealed segment `id` (`len` bytes now) by the head of its persisted index, if it has
/// one that passes the head's checks (see `idxfile`): its runs stay lazy until needed.
/// Returns its max arrival, or why not.
fn use_head(
    fs: &dyn Fs,
    dir: &Path,
    id: u64,
    len: u64,
    state: &mut IndexState,
    next: &mut Vec<u64>,
) -> Result<Option<i64>, String> {
    let bytes = match idxfile::read_head(fs, dir, id) {
        Ok(Some(b)) => b,
        Ok(None) => return Err("no index".to_string()),
        Err(e) => return Err(format!("index unreadable: {e}")),
    };
    let hl = idxfile::head_len(&bytes)?;
    let head = bytes.get(..hl).ok_or("short index head")?.to_vec();
    take_head(head, id, len, state, next)
}

/// Takes sealed segment `id` (`len` bytes now) by its index head `bytes`, if they pass the
/// head's checks (see `idxfile`): its runs stay lazy until needed. Returns its max arrival,
/// or why not.
fn take_head(
    bytes: Vec<u8>,
    id: u64,
    len: u64,
    state: &mut IndexState,
    next: &mut Vec<u64>,
) -> Result<Option<i64>, String> {
    let held = |s: usize| state.shards.get(s).is_some_and(|x| !x.runs.is_empty());
    let head = idxfile::decode_head(&bytes, id, len, None, next.clone(), &held)?;
    if idxfile::head_len(&bytes)? != bytes.len() {
        return Err("bytes after the index head".into());
    }
    for s in &head.spans {
        let i = s.shard as usize;
        if next.len() <= i {
            next.resize(i + 1, 0);
        }
        next[i] = s.end;
    }
    let max_arrival = head.max_arrival;
    state.push_lazy(head);
    state.heads.insert(id, bytes);
    Ok(max_arrival)
}

/// A sealed segment: the head of its persisted index when that passes every check, else a scan of its
/// frames (any damage is corruption: a sealed segment was synced before the next one was
/// made) and a new index. Returns its max arrival.
#[allow(clippy::too_many_arguments)]
fn load_sealed(
    fs: &dyn Fs,
    dir: &Path,
    path: &Path,
    file: &dyn FileIo,
    len: u64,
    header: &Header,
    id: u64,
    state: &mut IndexState,
    next: &mut Vec<u64>,
    why: &str,
) -> Result<Option<i64>, StoreError> {
    tracing::warn!(path = %path.display(), reason = %why, "rebuilding a segment index by scanning the segment");
    let raw = fs::read_all(file, len).map_err(|e| StoreError::io("read segment", path, e))?;
    let raw = Bytes::from(raw);
    let (end, max_arrival, damage) = scan_frames(&raw, header.len, id, state, next);
    if let Some((offset, reason)) = damage {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        });
    }
    debug_assert_eq!(end, raw.len());
    let rebuilt = SegmentIndex {
        segment: id,
        len,
        max_arrival,
        runs: state.runs_of(id),
    };
    idxfile::persist(fs, dir, &rebuilt);
    state.heads.insert(id, rebuilt.head().encode());
    Ok(max_arrival)
}

/// The newest segment: every frame is read. Where the first frame that is not intact
/// starts, the rest of the file is cut off (and the cut synced) if it is a torn tail (see
/// [`is_torn`]). Any other damage is corruption, and the file is left as it is. Returns the length kept and the max arrival.
fn scan_newest(
    path: &Path,
    file: &dyn FileIo,
    len: u64,
    header: &Header,
    id: u64,
    state: &mut IndexState,
    next: &mut Vec<u64>,
) -> Result<(u64, Option<i64>), StoreError> {
    let raw = fs::read_all(file, len).map_err(|e| StoreError::io("read segment", path, e))?;
    let raw = Bytes::from(raw);
    let (end, max_arrival, damage) = scan_frames(&raw, header.len, id, state, next);
    let mut kept = raw.len() as u64;
    if let Some((offset, reason)) = damage {
        let torn = is_torn(&raw, offset);
        if !torn {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                offset: offset as u64,
                reason: format!(
                    "{reason}; not a torn write (bytes were written past this frame), so \
                     nothing is cut"
                ),
            });
        }
        tracing::warn!(
            path = %path.display(), offset, dropped = raw.len() - offset, %reason,
            "cutting off a torn tail (an unfinished write a crash left)"
        );
        file.set_len(offset as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| StoreError::io("truncate torn tail", path, e))?;
        kept = offset as u64;
    }
    debug_assert_eq!(end as u64, kept);
    // What is served from now on must survive a power loss even if it was only in the page
    // cache when the last process stopped (records whose append's answer never arrived).
    file.sync_all()
        .map_err(|e| StoreError::io("fsync segment", path, e))?;
    Ok((kept, max_arrival))
}

/// Reads the frames of `raw` from `start`, adding them to the index; returns where the good
/// frames end, their max arrival and the first damage (offset and reason), if any.
pub(crate) fn scan_frames(
    raw: &Bytes,
    start: usize,
    id: u64,
    state: &mut IndexState,
    next: &mut Vec<u64>,
) -> (usize, Option<i64>, Option<(usize, String)>) {
    let mut at = start;
    let mut max_arrival = None::<i64>;
    while at < raw.len() {
        let f = match segment::decode_frame(raw, at) {
            Decoded::Frame(f) => f,
            Decoded::Incomplete => return (at, max_arrival, Some((at, "incomplete frame".into()))),
            Decoded::Bad(reason) => return (at, max_arrival, Some((at, reason))),
        };
        let shard = f.shard as usize;
        if shard >= next.len() {
            next.resize(shard + 1, 0);
        }
        if f.position != next[shard] {
            let reason = format!(
                "shard {} position {} where {} was expected",
                f.shard, f.position, next[shard]
            );
            return (at, max_arrival, Some((at, reason)));
        }
        next[shard] += 1;
        max_arrival = Some(max_arrival.map_or(f.arrival_ms, |m| m.max(f.arrival_ms)));
        state.push_frame(
            f.shard,
            f.position,
            id,
            at as u64,
            f.len as u32,
            f.arrival_ms,
        );
        at += f.len;
    }
    (at, max_arrival, None)
}
