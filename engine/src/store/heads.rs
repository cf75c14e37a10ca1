//! The heads file (`heads`): the index heads of every sealed segment, in one file, so that
//! opening a log reads one file instead of one index per segment.
//!
//! # Format (version 1)
//!
//! All integers little-endian:
//!
//! ```text
//! magic "RILLHDS\x01" (8) | version u32 = 1 | entry count u32
//!   | entry count x (segment number u64 | head length u32 | head bytes)   ascending segment
//!   | crc32c u32 of every byte before it
//! ```
//!
//! Each entry's bytes are exactly the head that starts the segment's persisted index (see
//! [`super::idxfile`]), checksum included.
//!
//! # Invariants
//!
//! * Derived data, like the indexes: a heads file that is missing, damaged (any check
//!   fails: the file is taken whole or not at all) or of another version is not used; the
//!   segments' own index heads are read instead, and the file is written anew.
//! * An entry is only ever written for a sealed segment, and a sealed segment never changes,
//!   so an entry may be stale (its segment deleted since: it is ignored) but never wrong for
//!   a segment that exists. Each head is still checked at open like an index head (segment
//!   number, the segment's length now, positions continuing), and against the segment's
//!   index when its runs are loaded.
//! * The file is replaced whole, atomically (written under a temporary name, synced,
//!   renamed, directory synced): when a segment is sealed, and at open when it was not
//!   usable or did not cover every sealed segment.

use super::fs::{self, Fs};
use super::idxfile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RILLHDS\x01";
const VERSION: u32 = 1;

/// The heads file of the log in `dir`.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join("heads")
}

/// The heads file's bytes for `heads` (segment number to head bytes).
pub(crate) fn encode(heads: &BTreeMap<u64, Vec<u8>>) -> Vec<u8> {
    let size: usize = heads.values().map(|h| 12 + h.len()).sum();
    let mut b = Vec::with_capacity(16 + size + 4);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(heads.len() as u32).to_le_bytes());
    for (segment, head) in heads {
        b.extend_from_slice(&segment.to_le_bytes());
        b.extend_from_slice(&(head.len() as u32).to_le_bytes());
        b.extend_from_slice(head);
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// Parses a heads file; says why when it cannot be used.
pub(crate) fn decode(b: &[u8]) -> Result<BTreeMap<u64, Vec<u8>>, String> {
    if b.len() < 20 || b.get(..8) != Some(&MAGIC[..]) {
        return Err("not a heads file".into());
    }
    let body = &b[..b.len() - 4];
    let crc = le_u32(b, b.len() - 4).ok_or("short heads file")?;
    if crc32c::crc32c(body) != crc {
        return Err("heads file checksum mismatch".into());
    }
    let version = le_u32(b, 8).ok_or("short heads file")?;
    if version != VERSION {
        return Err(format!("heads file version {version} is not {VERSION}"));
    }
    let n = le_u32(b, 12).ok_or("short heads file")? as usize;
    let mut heads = BTreeMap::new();
    let mut at = 16;
    for i in 0..n {
        let segment = body
            .get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or("short heads file")?;
        let len = le_u32(body, at + 8).ok_or("short heads file")? as usize;
        let head = body
            .get(at + 12..at + 12 + len)
            .ok_or_else(|| format!("entry {i} runs past the end"))?;
        if heads.insert(segment, head.to_vec()).is_some() {
            return Err(format!("segment {segment} twice"));
        }
        at += 12 + len;
    }
    if at != body.len() {
        return Err("bytes after the last entry".into());
    }
    Ok(heads)
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

/// Reads the heads file of `dir`: the heads by segment, or why there are none to use.
pub(crate) fn read(fs: &dyn Fs, dir: &Path) -> Result<BTreeMap<u64, Vec<u8>>, String> {
    let path = path(dir);
    let file = match fs.open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no heads file".into()),
        Err(e) => return Err(format!("heads file unreadable: {e}")),
    };
    let bytes = file
        .size()
        .and_then(|len| fs::read_all(file.as_ref(), len))
        .map_err(|e| format!("heads file unreadable: {e}"))?;
    decode(&bytes)
}

/// Replaces the heads file of `dir` by one holding `heads`. A failure is logged, not
/// returned: the file is derived data, and opening does without it.
pub(crate) fn write(fs: &dyn Fs, dir: &Path, heads: &BTreeMap<u64, Vec<u8>>) {
    let path = path(dir);
    if let Err(e) = idxfile::write_atomically(fs, dir, &path, &encode(heads)) {
        tracing::warn!(error = %e, path = %path.display(), "could not write the heads file; opening will read each segment's index instead");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_and_any_damage_is_refused() {
        let heads: BTreeMap<u64, Vec<u8>> = [(3, vec![1, 2, 3]), (4, vec![]), (9, vec![7; 40])]
            .into_iter()
            .collect();
        let b = encode(&heads);
        assert_eq!(decode(&b), Ok(heads));
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x02;
            assert!(decode(&c).is_err(), "flip at {i}");
        }
        assert!(decode(&b[..b.len() - 1]).is_err());
        assert_eq!(decode(&encode(&BTreeMap::new())), Ok(BTreeMap::new()));
    }
}
