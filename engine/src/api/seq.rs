//! Sequence numbers.
//!
//! On the wire a sequence number is a decimal string matching `0|([1-9]\d{0,128})`. A rill
//! sequence number carries its stream, shard and position, so that it decodes without a
//! lookup. Two layouts exist; a stream keeps the one it was created with.
//!
//! # Layout 2 (AWS's): every stream created by this build
//!
//! The decimal form of a 188-bit number whose 47 hex digits are, as in AWS's version-2
//! sequence numbers:
//!
//! ```text
//!  2 | shard time (9) | i (1) | position (16) | stream ms (2) | stream secs (9) | shard index (8) | 2
//! ```
//!
//! * `2` — the leading digit of every version-2 number (so every number is at least 2^185
//!   and has 56 or 57 decimal digits), and the trailing version digit.
//! * `shard time` — seconds: the stream's creation second plus the shard's resharding
//!   generation. A child shard is created in a later generation than its parents, so every
//!   sequence number of a child is above every sequence number of its parents. Below
//!   16025175000, as AWS requires of this field.
//! * `i` — the last hex digit of the shard index (AWS's copy of it).
//! * `position` — the record's ordinal in its shard plus one (1, 2, 3, ...), below 2^63 (the
//!   first digit is at most 7). Strictly increasing within a shard. 0 stands for the shard's
//!   start: it is the shard's `StartingSequenceNumber`, below its first record's, so
//!   `AFTER_SEQUENCE_NUMBER` of it reads from the first record, as with AWS.
//! * `stream ms`, `stream secs` — the stream's creation time (its epoch): seconds, and the
//!   milliseconds divided by 4 (new streams get epochs that are multiples of 4 ms). Where AWS
//!   writes the record's arrival second. A number from an earlier stream of the same name
//!   is recognised as foreign.
//! * `shard index` — the number in `shardId-000000000007`, below 2^31 as AWS's.
//!
//! # Layout 1 (rill's first): streams created before layout 2
//!
//! 56 decimal digits: `49 | generation (9) | position (20) | shard index (12) | stream epoch
//! (13)`. A data directory written by an earlier build keeps it for the streams it holds
//! (their consumers' checkpoints stay valid); its new streams get layout 2. The two
//! layouts' ranges overlap (both hold 56-digit numbers starting `49`), so a number is read
//! in its stream's layout ([`SequenceNumber::parse_in`]).
//!
//! Within a layout, numeric order of two numbers of one shard is position order; numbers
//! of different shards order by generation first.

use std::fmt;
use std::str::FromStr;

/// The largest generation a sequence number can carry.
pub const MAX_GENERATION: u32 = 999_999_999;
/// The largest shard index a sequence number can carry (AWS's: 2^31 - 1).
pub const MAX_SHARD_INDEX: u64 = 2_147_483_647;
/// The largest stream epoch a sequence number can carry.
pub const MAX_STREAM_EPOCH: u64 = 9_999_999_999_999;
/// AWS's bound on a version-2 number's shard time, in seconds (exclusive).
const MAX_SHARD_SECONDS: u64 = 16_025_175_000;

/// Which layout a sequence number is written in (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// rill's first layout: 56 decimal digits starting `49`.
    Decimal,
    /// AWS's version-2 hex layout.
    #[default]
    V2,
}

/// A decoded rill sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SequenceNumber {
    /// Resharding generation of the shard.
    pub generation: u32,
    /// Ordinal of the record within its shard plus one (0: the shard's start).
    pub position: u64,
    /// Index of the shard (`shardId-<index>`).
    pub shard_index: u64,
    /// Creation time of the stream in epoch milliseconds.
    pub stream_epoch: u64,
    /// The layout it is written in.
    pub layout: Layout,
}

impl SequenceNumber {
    /// The sequence number of the record at `ordinal` (0-based) in its shard.
    pub fn of_record(
        layout: Layout,
        generation: u32,
        ordinal: u64,
        shard_index: u64,
        stream_epoch: u64,
    ) -> Self {
        SequenceNumber {
            generation,
            position: ordinal.saturating_add(1),
            shard_index,
            stream_epoch,
            layout,
        }
    }

    /// The 0-based ordinal of the record this number names, `None` for a shard's start.
    pub fn ordinal(&self) -> Option<u64> {
        self.position.checked_sub(1)
    }

    /// Whether `s` has the form AWS accepts for any sequence number: `0|([1-9]\d{0,128})`.
    pub fn matches_pattern(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 129
            && b.iter().all(u8::is_ascii_digit)
            && (b[0] != b'0' || b.len() == 1)
    }

    /// Whether this number can come from the stream created at `epoch` whose numbers are in
    /// `layout`.
    pub fn is_of_stream(&self, layout: Layout, epoch: u64) -> bool {
        self.layout == layout && self.stream_epoch == epoch
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layout {
            Layout::Decimal => write!(
                f,
                "49{:09}{:020}{:012}{:013}",
                self.generation, self.position, self.shard_index, self.stream_epoch
            ),
            Layout::V2 => {
                let secs = self.stream_epoch / 1000;
                let quarter_ms = (self.stream_epoch % 1000) / 4;
                let shard_time = (secs + u64::from(self.generation)).min(MAX_SHARD_SECONDS - 1);
                let index = self.shard_index.min(MAX_SHARD_INDEX);
                let hex = format!(
                    "2{shard_time:09x}{:x}{:016x}{quarter_ms:02x}{secs:09x}{index:08x}2",
                    index & 0xf,
                    self.position & (u64::MAX >> 1),
                );
                f.write_str(
                    &Wide::from_hex(&hex)
                        .map(|w| w.to_decimal())
                        .unwrap_or_default(),
                )
            }
        }
    }
}

/// Why a string is not a rill sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a sequence number issued by this engine")]
pub struct SequenceNumberError;

impl SequenceNumber {
    /// Reads `s` as a number in `layout` (a stream's: the two layouts' ranges overlap, so
    /// where the stream is known, its layout decides).
    pub fn parse_in(s: &str, layout: Layout) -> Result<SequenceNumber, SequenceNumberError> {
        if !SequenceNumber::matches_pattern(s) {
            return Err(SequenceNumberError);
        }
        match layout {
            Layout::Decimal => decimal_layout(s),
            Layout::V2 => {
                let hex = Wide::from_decimal(s).ok_or(SequenceNumberError)?.to_hex();
                v2_layout(&hex)
            }
        }
    }
}

/// Reads either layout, layout 2 first (see [`SequenceNumber::parse_in`] where the stream
/// is known).
impl FromStr for SequenceNumber {
    type Err = SequenceNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SequenceNumber::parse_in(s, Layout::V2)
            .or_else(|_| SequenceNumber::parse_in(s, Layout::Decimal))
    }
}

fn decimal_layout(s: &str) -> Result<SequenceNumber, SequenceNumberError> {
    let b = s.as_bytes();
    if b.len() != 56 || &b[..2] != b"49" {
        return Err(SequenceNumberError);
    }
    let field = |r: std::ops::Range<usize>| -> Result<u64, SequenceNumberError> {
        s[r].parse::<u64>().map_err(|_| SequenceNumberError)
    };
    let generation = u32::try_from(field(2..11)?).map_err(|_| SequenceNumberError)?;
    Ok(SequenceNumber {
        generation,
        position: field(11..31)?,
        shard_index: field(31..43)?,
        stream_epoch: field(43..56)?,
        layout: Layout::Decimal,
    })
}

/// Reads AWS's version-2 fields from 47 hex digits, refusing what AWS refuses (a position
/// of 2^63 or more, a shard time too large) and what rill never writes.
fn v2_layout(hex: &str) -> Result<SequenceNumber, SequenceNumberError> {
    if hex.len() != 47 || !hex.starts_with('2') || !hex.ends_with('2') {
        return Err(SequenceNumberError);
    }
    let field = |r: std::ops::Range<usize>| {
        u64::from_str_radix(&hex[r], 16).map_err(|_| SequenceNumberError)
    };
    let shard_time = field(1..10)?;
    let low_digit = field(10..11)?;
    let position = field(11..27)?;
    let quarter_ms = field(27..29)?;
    let secs = field(29..38)?;
    let shard_index = field(38..46)?;
    let valid = shard_time < MAX_SHARD_SECONDS
        && position >> 63 == 0
        && shard_index <= MAX_SHARD_INDEX
        && shard_index & 0xf == low_digit
        && quarter_ms < 250
        && shard_time >= secs
        && shard_time - secs <= u64::from(MAX_GENERATION);
    if !valid {
        return Err(SequenceNumberError);
    }
    Ok(SequenceNumber {
        generation: u32::try_from(shard_time - secs).map_err(|_| SequenceNumberError)?,
        position,
        shard_index,
        stream_epoch: secs * 1000 + quarter_ms * 4,
        layout: Layout::V2,
    })
}

/// An unsigned number of up to 256 bits (four 64-bit limbs, least significant first): the
/// decimal <-> hex conversion of sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Wide([u64; 4]);

impl Wide {
    /// Parses decimal digits; `None` when the value needs more than 256 bits.
    fn from_decimal(s: &str) -> Option<Wide> {
        let mut w = Wide::default();
        for d in s.bytes() {
            let mut carry = u128::from(d.checked_sub(b'0').filter(|d| *d < 10)?);
            for limb in &mut w.0 {
                let v = u128::from(*limb) * 10 + carry;
                *limb = v as u64;
                carry = v >> 64;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(w)
    }

    /// Parses up to 64 hex digits.
    fn from_hex(s: &str) -> Option<Wide> {
        if s.len() > 64 {
            return None;
        }
        let mut w = Wide::default();
        for (i, chunk) in s.as_bytes().rchunks(16).enumerate() {
            let text = std::str::from_utf8(chunk).ok()?;
            w.0[i] = u64::from_str_radix(text, 16).ok()?;
        }
        Some(w)
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|l| *l == 0)
    }

    /// Hex digits without leading zeros ("0" for zero).
    fn to_hex(self) -> String {
        let mut out = String::new();
        for limb in self.0.iter().rev() {
            if out.is_empty() {
                if *limb != 0 {
                    out = format!("{limb:x}");
                }
            } else {
                out.push_str(&format!("{limb:016x}"));
            }
        }
        if out.is_empty() { "0".into() } else { out }
    }

    /// Decimal digits without leading zeros ("0" for zero).
    fn to_decimal(mut self) -> String {
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        let mut parts = Vec::new();
        while !self.is_zero() {
            let mut rem = 0u128;
            for limb in self.0.iter_mut().rev() {
                let v = (rem << 64) | u128::from(*limb);
                *limb = (v / u128::from(CHUNK)) as u64;
                rem = v % u128::from(CHUNK);
            }
            parts.push(rem as u64);
        }
        let Some((first, rest)) = parts.split_last() else {
            return "0".into();
        };
        let mut out = first.to_string();
        for p in rest.iter().rev() {
            out.push_str(&format!("{p:019}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_1_reads_and_writes_as_before() {
        let s = SequenceNumber {
            generation: 3,
            position: 42,
            shard_index: 7,
            stream_epoch: 1_700_000_000_000,
            layout: Layout::Decimal,
        };
        let text = s.to_string();
        assert_eq!(
            text,
            "49000000003000000000000000000420000000000071700000000000"
        );
        assert_eq!(SequenceNumber::parse_in(&text, Layout::Decimal), Ok(s));
        assert!(SequenceNumber::matches_pattern(&text));
        assert!("4".parse::<SequenceNumber>().is_err());
    }

    #[test]
    fn layout_2_is_awss_hex_layout() {
        let s = SequenceNumber {
            generation: 1,
            position: 42,
            shard_index: 7,
            stream_epoch: 1_700_000_000_124,
            layout: Layout::V2,
        };
        let text = s.to_string();
        let hex = Wide::from_decimal(&text).map(Wide::to_hex);
        // 2 | 1700000001 s | 7 | 42 | 124/4 | 1700000000 s | 7 | 2, in hex
        assert_eq!(
            hex.as_deref(),
            Some("206553f1017000000000000002a1f06553f100000000072")
        );
        assert!(text.len() == 56 || text.len() == 57, "{text}");
        assert_eq!(text.parse::<SequenceNumber>(), Ok(s));
        assert!(s.is_of_stream(Layout::V2, 1_700_000_000_124));
        assert!(!s.is_of_stream(Layout::V2, 1_700_000_000_128));
        assert!(!s.is_of_stream(Layout::Decimal, 1_700_000_000_124));
    }

    #[test]
    fn what_aws_refuses_does_not_parse() {
        let good = SequenceNumber::of_record(Layout::V2, 0, 9, 3, 1_700_000_000_000).to_string();
        let hex = Wide::from_decimal(&good)
            .map(Wide::to_hex)
            .unwrap_or_default();
        let edit = |at: usize, digit: &str| {
            let mut h = hex.clone();
            h.replace_range(at..at + 1, digit);
            Wide::from_hex(&h)
                .map(|w| w.to_decimal())
                .unwrap_or_default()
        };
        // A position of 2^63 or more, another version digit, a shard digit that disagrees.
        for bad in [edit(11, "8"), edit(46, "1"), edit(10, "4"), edit(0, "3")] {
            assert!(SequenceNumber::parse_in(&bad, Layout::V2).is_err(), "{bad}");
        }
        for bad in ["0", "1", &"9".repeat(129), "12345678901234567890"] {
            assert!(bad.parse::<SequenceNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn wide_numbers_convert_both_ways() {
        for dec in ["0", "1", "18446744073709551616", &"9".repeat(77)] {
            let w = Wide::from_decimal(dec);
            assert_eq!(w.map(Wide::to_decimal).as_deref(), Some(dec));
        }
        assert!(Wide::from_decimal(&"9".repeat(78)).is_none());
        assert_eq!(
            Wide::from_hex("ff").map(Wide::to_decimal).as_deref(),
            Some("255")
        );
    }

    proptest! {
        #[test]
        fn order_follows_position_then_generation(
            g1 in 0..=MAX_GENERATION, g2 in 0..=MAX_GENERATION,
            p1 in 0..u64::MAX >> 1, p2 in 0..u64::MAX >> 1,
            s1 in 0..=MAX_SHARD_INDEX, s2 in 0..=MAX_SHARD_INDEX,
            e in 0..=4_000_000_000_000u64,
            decimal: bool,
        ) {
            let layout = if decimal { Layout::Decimal } else { Layout::V2 };
            let e = e / 4 * 4;
            let a = SequenceNumber { generation: g1, position: p1, shard_index: s1, stream_epoch: e, layout };
            let b = SequenceNumber { generation: g2, position: p2, shard_index: s2, stream_epoch: e, layout };
            let (ta, tb) = (a.to_string(), b.to_string());
            prop_assert_eq!(SequenceNumber::parse_in(&ta, layout), Ok(a));
            // Decimal strings compare like the numbers they spell: length, then digits.
            let order = (ta.len(), &ta).cmp(&(tb.len(), &tb));
            if g1 != g2 {
                prop_assert_eq!(order, g1.cmp(&g2));
            } else if p1 != p2 {
                prop_assert_eq!(order, p1.cmp(&p2));
            }
        }
    }
}
