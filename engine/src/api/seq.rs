//! Sequence numbers.
//!
//! On the wire a sequence number is a decimal string matching `0|([1-9]\d{0,128})`. rill's
//! sequence numbers have 56 digits, like AWS's, and are built from fixed-width fields so
//! that a number decodes to its shard and position without a lookup:
//!
//! ```text
//!  49 | generation (9) | position (20) | shard index (12) | stream epoch (13)
//! ```
//!
//! * `49` — a constant prefix (no leading zero, so every number has exactly 56 digits).
//! * `generation` — the stream's resharding generation when the shard was created. A child
//!   shard is created in a later generation than its parents, so every sequence number of a
//!   child is above every sequence number of its parents.
//! * `position` — the record's ordinal in its shard plus one (1, 2, 3, ...). Strictly
//!   increasing within a shard. 0 stands for the shard's start: it is the shard's
//!   `StartingSequenceNumber`, below its first record's, so `AFTER_SEQUENCE_NUMBER` of it
//!   reads from the first record, as with AWS.
//! * `shard index` — the number in `shardId-000000000007`. Makes numbers unique in a stream.
//! * `stream epoch` — the stream's creation time in milliseconds: a number from an earlier
//!   stream of the same name is recognised as foreign.
//!
//! Numeric order of two numbers of one shard is position order; numbers of different shards
//! order by generation first.

use std::fmt;
use std::str::FromStr;

/// The largest generation a sequence number can carry.
pub const MAX_GENERATION: u32 = 999_999_999;
/// The largest shard index a sequence number can carry.
pub const MAX_SHARD_INDEX: u64 = 999_999_999_999;
/// The largest stream epoch a sequence number can carry.
pub const MAX_STREAM_EPOCH: u64 = 9_999_999_999_999;

/// A decoded rill sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SequenceNumber {
    /// Resharding generation of the shard.
    pub generation: u32,
    /// Ordinal of the record within its shard.
    pub position: u64,
    /// Index of the shard (`shardId-<index>`).
    pub shard_index: u64,
    /// Creation time of the stream in epoch milliseconds.
    pub stream_epoch: u64,
}

impl SequenceNumber {
    /// The sequence number of the record at `ordinal` (0-based) in its shard.
    pub fn of_record(generation: u32, ordinal: u64, shard_index: u64, stream_epoch: u64) -> Self {
        SequenceNumber {
            generation,
            position: ordinal.saturating_add(1),
            shard_index,
            stream_epoch,
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
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "49{:09}{:020}{:012}{:013}",
            self.generation, self.position, self.shard_index, self.stream_epoch
        )
    }
}

/// Why a string is not a rill sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a sequence number issued by this engine")]
pub struct SequenceNumberError;

impl FromStr for SequenceNumber {
    type Err = SequenceNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 56 || !b.iter().all(u8::is_ascii_digit) || &b[..2] != b"49" {
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout() {
        let s = SequenceNumber {
            generation: 3,
            position: 42,
            shard_index: 7,
            stream_epoch: 1_700_000_000_000,
        };
        let text = s.to_string();
        assert_eq!(text.len(), 56);
        assert_eq!(
            text,
            "49000000003000000000000000000420000000000071700000000000"
        );
        assert_eq!(text.parse::<SequenceNumber>(), Ok(s));
        assert!(SequenceNumber::matches_pattern(&text));
        assert!("4".parse::<SequenceNumber>().is_err());
        assert!(
            "59000000003000000000000000000420000000000071700000000000"
                .parse::<SequenceNumber>()
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn order_follows_position_then_generation(
            g1 in 0..=MAX_GENERATION, g2 in 0..=MAX_GENERATION,
            p1: u64, p2: u64,
            s1 in 0..=MAX_SHARD_INDEX, s2 in 0..=MAX_SHARD_INDEX,
            e in 0..=MAX_STREAM_EPOCH,
        ) {
            let a = SequenceNumber { generation: g1, position: p1, shard_index: s1, stream_epoch: e };
            let b = SequenceNumber { generation: g2, position: p2, shard_index: s2, stream_epoch: e };
            let (ta, tb) = (a.to_string(), b.to_string());
            prop_assert_eq!(ta.len(), 56);
            prop_assert_eq!(ta.parse::<SequenceNumber>(), Ok(a));
            // Equal-width decimal strings compare like the numbers they spell.
            if g1 != g2 {
                prop_assert_eq!(ta.cmp(&tb), g1.cmp(&g2));
            } else if p1 != p2 {
                prop_assert_eq!(ta.cmp(&tb), p1.cmp(&p2));
            }
        }
    }
}
