//! Extended sequence numbers: a Kinesis sequence number and a KPL sub-sequence number.
//!
//! A checkpoint names either a position in a shard — a record's sequence number and, for a
//! user record packed in a KPL aggregate, its index in the aggregate (the sub-sequence
//! number; 0 for plain records) — or one of four sentinels: `TRIM_HORIZON`, `LATEST`,
//! `AT_TIMESTAMP` (where a lease starts before anything was processed) and `SHARD_END`
//! (everything in a closed shard was processed).
//!
//! # Order
//!
//! The three starting sentinels sort below every sequence number, `SHARD_END` above all.
//! Sequence numbers compare as the decimal integers they spell (`0|[1-9]\d{0,128}`, so a
//! longer string is a larger number), then by sub-sequence number. This is the order the
//! [`Checkpointer`](crate::Checkpointer) enforces: checkpoints never go backwards.

use std::cmp::Ordering;
use std::fmt;

/// The `checkpoint` value of a lease that starts at the oldest retained record.
pub const TRIM_HORIZON: &str = "TRIM_HORIZON";
/// The `checkpoint` value of a lease that starts after the newest record.
pub const LATEST: &str = "LATEST";
/// The `checkpoint` value of a lease that starts at the configured timestamp.
pub const AT_TIMESTAMP: &str = "AT_TIMESTAMP";
/// The `checkpoint` value of a lease whose shard was processed to its end.
pub const SHARD_END: &str = "SHARD_END";

/// A sequence number (or sentinel) and a sub-sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedSequenceNumber {
    /// A decimal sequence number, or one of [`TRIM_HORIZON`], [`LATEST`], [`AT_TIMESTAMP`],
    /// [`SHARD_END`].
    pub sequence_number: String,
    /// The index of a user record inside a KPL aggregate; 0 for a plain record.
    pub sub_sequence_number: u64,
}

impl ExtendedSequenceNumber {
    /// A position: sequence number and sub-sequence number.
    pub fn new(sequence_number: impl Into<String>, sub_sequence_number: u64) -> Self {
        ExtendedSequenceNumber {
            sequence_number: sequence_number.into(),
            sub_sequence_number,
        }
    }

    /// The `TRIM_HORIZON` sentinel.
    pub fn trim_horizon() -> Self {
        Self::new(TRIM_HORIZON, 0)
    }

    /// The `LATEST` sentinel.
    pub fn latest() -> Self {
        Self::new(LATEST, 0)
    }

    /// The `AT_TIMESTAMP` sentinel.
    pub fn at_timestamp() -> Self {
        Self::new(AT_TIMESTAMP, 0)
    }

    /// The `SHARD_END` sentinel.
    pub fn shard_end() -> Self {
        Self::new(SHARD_END, 0)
    }

    /// Whether this is `SHARD_END`.
    pub fn is_shard_end(&self) -> bool {
        self.sequence_number == SHARD_END
    }

    /// Whether this is a real position (a decimal sequence number), not a sentinel.
    pub fn is_position(&self) -> bool {
        is_decimal(&self.sequence_number)
    }

    /// Rank of the sentinel class: starting sentinels, positions, `SHARD_END`.
    fn class(&self) -> (u8, u8) {
        match self.sequence_number.as_str() {
            AT_TIMESTAMP => (0, 0),
            TRIM_HORIZON => (0, 1),
            LATEST => (0, 2),
            SHARD_END => (2, 0),
            _ => (1, 0),
        }
    }
}

/// Whether `s` spells a decimal sequence number (`0|[1-9]\d*`).
pub(crate) fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.iter().all(u8::is_ascii_digit) && (b[0] != b'0' || b.len() == 1)
}

/// Compares two decimal sequence numbers numerically (without leading zeros, a longer
/// string is a larger number).
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Ord for ExtendedSequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let (ca, cb) = (self.class(), other.class());
        if ca != cb || ca.0 != 1 {
            return ca.cmp(&cb).then(Ordering::Equal);
        }
        compare_sequence_numbers(&self.sequence_number, &other.sequence_number)
            .then(self.sub_sequence_number.cmp(&other.sub_sequence_number))
    }
}

impl PartialOrd for ExtendedSequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ExtendedSequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sub_sequence_number == 0 {
            f.write_str(&self.sequence_number)
        } else {
            write!(f, "{}/{}", self.sequence_number, self.sub_sequence_number)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sentinels_order() {
        let n = ExtendedSequenceNumber::new("5", 0);
        assert!(ExtendedSequenceNumber::trim_horizon() < n);
        assert!(ExtendedSequenceNumber::latest() < n);
        assert!(ExtendedSequenceNumber::at_timestamp() < n);
        assert!(n < ExtendedSequenceNumber::shard_end());
        assert!(ExtendedSequenceNumber::new("5", 1) > n);
        assert!(ExtendedSequenceNumber::new("10", 0) > ExtendedSequenceNumber::new("9", 7));
        assert!(n.is_position());
        assert!(!ExtendedSequenceNumber::latest().is_position());
    }

    proptest! {
        #[test]
        fn numeric_order(a: u128, b: u128, sa: u64, sb: u64) {
            let x = ExtendedSequenceNumber::new(a.to_string(), sa);
            let y = ExtendedSequenceNumber::new(b.to_string(), sb);
            prop_assert_eq!(x.cmp(&y), a.cmp(&b).then(sa.cmp(&sb)));
        }
    }
}
