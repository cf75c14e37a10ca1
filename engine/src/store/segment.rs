//! Segment header and frame codec (the byte layout is documented in [`super`]).

use bytes::Bytes;

/// Magic bytes at the start of every segment.
pub(crate) const MAGIC: &[u8; 8] = b"RILLSEG\x01";
/// Segment format version.
pub(crate) const VERSION: u32 = 1;
/// Bytes before a frame's body: length and checksum.
pub(crate) const FRAME_PREFIX: usize = 8;
/// Fixed part of a frame body before the partition key.
pub(crate) const BODY_FIXED: usize = 4 + 8 + 8 + 1 + 2;
/// Largest body accepted when reading (records up to 10 MiB plus a 256-character key).
pub(crate) const MAX_BODY: usize = 10 * 1024 * 1024 + 4096;
/// Shard indexes of a log are below this. Recovery keeps per-shard state in vectors indexed
/// by shard, so a damaged index must not make it allocate for billions of shards.
pub(crate) const MAX_SHARDS: usize = 1 << 20;
/// Positions (and next positions) read back are at most this, which leaves room for 2^63
/// more records in every shard: counting on from a damaged position cannot overflow.
pub(crate) const MAX_POSITION: u64 = u64::MAX / 2;

/// Encodes a segment header carrying each shard's next position.
pub(crate) fn encode_header(segment: u64, next_positions: &[u64]) -> Vec<u8> {
    let mut h = Vec::with_capacity(header_len(next_positions.len()));
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    let n = u32::try_from(next_positions.len()).unwrap_or(u32::MAX);
    h.extend_from_slice(&n.to_le_bytes());
    h.extend_from_slice(&segment.to_le_bytes());
    for p in next_positions.iter().take(n as usize) {
        h.extend_from_slice(&p.to_le_bytes());
    }
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// A parsed header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub segment: u64,
    pub next_positions: Vec<u64>,
    /// Header length in bytes: the offset of the first frame.
    pub len: usize,
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}
pub(crate) fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

/// Why a header does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// A header of a format version this build does not know (with a valid checksum as far
    /// as can be told): written by a newer rill.
    Version(u32),
    /// The bytes are not a valid header.
    Damaged(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Version(v) => {
                write!(
                    f,
                    "segment format version {v} is unknown (this build reads version {VERSION})"
                )
            }
            HeaderError::Damaged(reason) => f.write_str(reason),
        }
    }
}

/// Bytes of a header before its per-shard positions.
pub(crate) const HEADER_FIXED: usize = 24;

/// The length of a header with `shards` positions.
pub(crate) fn header_len(shards: usize) -> usize {
    HEADER_FIXED + 8 * shards + 4
}

/// The length of the header at the start of `b`, from its shard count, once `b` holds the
/// fixed part; `None` while it is shorter.
pub(crate) fn header_len_of(b: &[u8]) -> Option<Result<usize, HeaderError>> {
    let n = le_u32(b, 12)? as usize;
    if n > MAX_SHARDS {
        return Some(Err(HeaderError::Damaged(format!(
            "shard count {n} out of range"
        ))));
    }
    Some(Ok(header_len(n)))
}

/// Parses a header at the start of `b`.
pub(crate) fn decode_header(b: &[u8]) -> Result<Header, HeaderError> {
    let damaged = |r: &str| HeaderError::Damaged(r.to_string());
    if b.get(..8) != Some(&MAGIC[..]) {
        return Err(damaged("bad magic"));
    }
    let version = le_u32(b, 8).ok_or_else(|| damaged("short header"))?;
    if version != VERSION {
        // A header that would be valid with the version field set to this build's is a
        // damaged version field, not a newer format.
        let mut fixed = b.to_vec();
        fixed[8..12].copy_from_slice(&VERSION.to_le_bytes());
        if decode_header(&fixed).is_ok() {
            return Err(HeaderError::Damaged(format!(
                "damaged version field ({version}; the checksum matches version {VERSION})"
            )));
        }
        return Err(HeaderError::Version(version));
    }
    let n = le_u32(b, 12).ok_or_else(|| damaged("short header"))? as usize;
    if n > MAX_SHARDS {
        return Err(HeaderError::Damaged(format!(
            "shard count {n} out of range"
        )));
    }
    let segment = le_u64(b, 16).ok_or_else(|| damaged("short header"))?;
    let body_end = HEADER_FIXED + 8 * n;
    let crc = le_u32(b, body_end).ok_or_else(|| damaged("short header"))?;
    if crc32c::crc32c(&b[..body_end]) != crc {
        return Err(damaged("header checksum mismatch"));
    }
    let next_positions = (0..n)
        .map(|i| le_u64(b, HEADER_FIXED + 8 * i).ok_or_else(|| damaged("short header")))
        .collect::<Result<Vec<_>, _>>()?;
    if next_positions.iter().any(|p| *p > MAX_POSITION) {
        return Err(damaged("next position out of range"));
    }
    Ok(Header {
        segment,
        next_positions,
        len: body_end + 4,
    })
}

/// Appends one frame to `buf`; returns the frame's length in bytes.
pub(crate) fn encode_frame(
    buf: &mut Vec<u8>,
    shard: u32,
    position: u64,
    arrival_ms: i64,
    partition_key: &str,
    data: &[u8],
    flags: u8,
) -> usize {
    let pk = partition_key.as_bytes();
    let pk_len = u16::try_from(pk.len()).unwrap_or(u16::MAX);
    let pk = &pk[..pk_len as usize];
    let body_len = BODY_FIXED + pk.len() + data.len();
    let start = buf.len();
    buf.reserve(FRAME_PREFIX + body_len);
    buf.extend_from_slice(&u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    let body_start = buf.len();
    buf.extend_from_slice(&shard.to_le_bytes());
    buf.extend_from_slice(&position.to_le_bytes());
    buf.extend_from_slice(&arrival_ms.to_le_bytes());
    buf.push(flags);
    buf.extend_from_slice(&pk_len.to_le_bytes());
    buf.extend_from_slice(pk);
    buf.extend_from_slice(data);
    let crc = crc32c::crc32c(&buf[body_start..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    buf.len() - start
}

/// A decoded frame. `data` shares the buffer it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub shard: u32,
    pub position: u64,
    pub arrival_ms: i64,
    pub partition_key: String,
    pub data: Bytes,
    /// Flags (bit 0: data is encrypted, see the embedded engine's crypto module).
    pub flags: u8,
    /// Total length of the frame, prefix included.
    pub len: usize,
}

/// Outcome of decoding at an offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A valid frame.
    Frame(Frame),
    /// The buffer ends inside the frame (a torn tail, if at the end of the newest segment).
    Incomplete,
    /// The frame is damaged.
    Bad(String),
}

/// Decodes the frame at `at` in `buf`.
pub(crate) fn decode_frame(buf: &Bytes, at: usize) -> Decoded {
    let (Some(body_len), Some(crc)) = (le_u32(buf, at), le_u32(buf, at + 4)) else {
        return Decoded::Incomplete;
    };
    let body_len = body_len as usize;
    if !(BODY_FIXED..=MAX_BODY).contains(&body_len) {
        return Decoded::Bad(format!("frame length {body_len} out of range"));
    }
    let body_start = at + FRAME_PREFIX;
    let Some(body) = buf.get(body_start..body_start + body_len) else {
        return Decoded::Incomplete;
    };
    if crc32c::crc32c(body) != crc {
        return Decoded::Bad("frame checksum mismatch".into());
    }
    let (Some(shard), Some(position), Some(arrival)) =
        (le_u32(body, 0), le_u64(body, 4), le_u64(body, 12))
    else {
        return Decoded::Bad("short frame".into());
    };
    if shard as usize >= MAX_SHARDS {
        return Decoded::Bad(format!("shard index {shard} out of range"));
    }
    if position >= MAX_POSITION {
        return Decoded::Bad(format!("position {position} out of range"));
    }
    let flags = body[20];
    let pk_len = u16::from_le_bytes([body[21], body[22]]) as usize;
    let Some(pk) = body.get(BODY_FIXED..BODY_FIXED + pk_len) else {
        return Decoded::Bad("partition key overruns frame".into());
    };
    let Ok(pk) = std::str::from_utf8(pk) else {
        return Decoded::Bad("partition key is not UTF-8".into());
    };
    let data_start = body_start + BODY_FIXED + pk_len;
    Decoded::Frame(Frame {
        shard,
        position,
        arrival_ms: arrival as i64,
        partition_key: pk.to_string(),
        data: buf.slice(data_start..body_start + body_len),
        flags,
        len: FRAME_PREFIX + body_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h = encode_header(7, &[1, 2, 300]);
        let d = decode_header(&h).expect("valid header");
        assert_eq!(d.segment, 7);
        assert_eq!(d.next_positions, vec![1, 2, 300]);
        assert_eq!(d.len, h.len());
        let mut bad = h.clone();
        bad[25] ^= 1;
        assert!(decode_header(&bad).is_err());
        assert!(decode_header(&h[..10]).is_err());
    }

    #[test]
    fn frame_round_trip_and_damage() {
        let mut buf = Vec::new();
        let n = encode_frame(&mut buf, 3, 99, 1_700_000_000_000, "ключ", b"payload", 1);
        assert_eq!(n, buf.len());
        let b = Bytes::from(buf.clone());
        match decode_frame(&b, 0) {
            Decoded::Frame(f) => {
                assert_eq!(
                    (f.shard, f.position, f.arrival_ms),
                    (3, 99, 1_700_000_000_000)
                );
                assert_eq!(f.partition_key, "ключ");
                assert_eq!(&f.data[..], b"payload");
                assert_eq!(f.len, n);
                assert_eq!(f.flags, 1);
            }
            other => panic!("expected a frame, got {other:?}"),
        }
        // Every truncation is incomplete; every single-bit flip is detected.
        for cut in 0..buf.len() {
            assert_eq!(
                decode_frame(&Bytes::copy_from_slice(&buf[..cut]), 0),
                Decoded::Incomplete
            );
        }
        // Shard indexes and positions past what a log can hold are damage.
        for (shard, position) in [(u32::MAX, 0), (MAX_SHARDS as u32, 0), (0, MAX_POSITION)] {
            let mut b = Vec::new();
            encode_frame(&mut b, shard, position, 0, "k", b"d", 0);
            assert!(matches!(decode_frame(&Bytes::from(b), 0), Decoded::Bad(_)));
        }
        assert!(decode_header(&encode_header(0, &[MAX_POSITION + 1])).is_err());
        for i in 0..buf.len() {
            let mut c = buf.clone();
            c[i] ^= 0x10;
            assert!(
                !matches!(decode_frame(&Bytes::from(c), 0), Decoded::Frame(_)),
                "flip at {i} went unnoticed"
            );
        }
    }
}
