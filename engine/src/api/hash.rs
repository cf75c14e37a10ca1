//! Hash keys: the 128-bit space that shards divide among themselves.
//!
//! A record's hash key is its explicit hash key when it has one, otherwise the MD5 digest of
//! its partition key's UTF-8 bytes read as a big-endian unsigned 128-bit integer. On the
//! wire hash keys are decimal strings without leading zeros (`0|[1-9]\d{0,38}`), at most
//! 2^128 - 1. A stream of N shards created at once splits the space evenly: shard i starts at
//! `i * floor(2^128 / N)` and ends one below the next start; the last ends at 2^128 - 1.

use md5::{Digest, Md5};
use std::fmt;
use std::str::FromStr;

/// A point in the 128-bit hash key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HashKey(pub u128);

impl HashKey {
    /// The largest hash key, 2^128 - 1.
    pub const MAX: HashKey = HashKey(u128::MAX);

    /// The hash key of a partition key: MD5 of its UTF-8 bytes, big-endian.
    pub fn from_partition_key(partition_key: &str) -> HashKey {
        let digest = Md5::digest(partition_key.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest);
        HashKey(u128::from_be_bytes(b))
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a string is not a hash key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashKeyError {
    /// Not `0|[1-9]\d{0,38}`.
    #[error("hash key must be a decimal integer without leading zeros")]
    Pattern,
    /// Above 2^128 - 1.
    #[error("hash key is above 2^128 - 1")]
    OutOfRange,
}

impl HashKey {
    /// Whether `s` has the form AWS accepts for a hash key (`0|([1-9]\d{0,38})`),
    /// regardless of its value.
    pub fn matches_pattern(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 39
            && b.iter().all(u8::is_ascii_digit)
            && (b[0] != b'0' || b.len() == 1)
    }
}

impl FromStr for HashKey {
    type Err = HashKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !HashKey::matches_pattern(s) {
            return Err(HashKeyError::Pattern);
        }
        s.parse::<u128>()
            .map(HashKey)
            .map_err(|_| HashKeyError::OutOfRange)
    }
}

/// An inclusive range of hash keys, as a shard owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashKeyRange {
    /// First hash key of the range.
    pub start: HashKey,
    /// Last hash key of the range (inclusive).
    pub end: HashKey,
}

impl HashKeyRange {
    /// The whole space, 0 ..= 2^128 - 1.
    pub const ALL: HashKeyRange = HashKeyRange {
        start: HashKey(0),
        end: HashKey::MAX,
    };

    /// Whether `key` falls in the range.
    pub fn contains(&self, key: HashKey) -> bool {
        self.start <= key && key <= self.end
    }

    /// Splits the whole space into `n` ranges as Kinesis does for a new stream:
    /// step = floor(2^128 / n), range i = [i*step, (i+1)*step - 1], the last ends at 2^128 - 1.
    /// Returns an empty vector for `n == 0`.
    pub fn split_evenly(n: u32) -> Vec<HashKeyRange> {
        if n == 0 {
            return Vec::new();
        }
        if n == 1 {
            return vec![HashKeyRange::ALL];
        }
        // floor(2^128 / n) == floor((2^128 - 1) / n) unless n divides 2^128 (a power of two),
        // in which case it is one more.
        let n128 = u128::from(n);
        let step = if n.is_power_of_two() {
            1u128 << (128 - n.trailing_zeros())
        } else {
            u128::MAX / n128
        };
        (0..n128)
            .map(|i| HashKeyRange {
                start: HashKey(i * step),
                end: if i + 1 == n128 {
                    HashKey::MAX
                } else {
                    HashKey((i + 1) * step - 1)
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_partition_key_big_endian() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(
            HashKey::from_partition_key(""),
            HashKey(0xd41d8cd98f00b204e9800998ecf8427e)
        );
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(
            HashKey::from_partition_key("a").to_string(),
            u128::from_str_radix("0cc175b9c0f1b6a831c399e269772661", 16)
                .map(|v| v.to_string())
                .unwrap_or_default()
        );
    }

    #[test]
    fn parse_rules() {
        assert_eq!("0".parse::<HashKey>(), Ok(HashKey(0)));
        assert_eq!(
            "340282366920938463463374607431768211455".parse::<HashKey>(),
            Ok(HashKey::MAX)
        );
        assert_eq!(
            "340282366920938463463374607431768211456".parse::<HashKey>(),
            Err(HashKeyError::OutOfRange)
        );
        assert_eq!("01".parse::<HashKey>(), Err(HashKeyError::Pattern));
        assert_eq!("-1".parse::<HashKey>(), Err(HashKeyError::Pattern));
        assert_eq!("".parse::<HashKey>(), Err(HashKeyError::Pattern));
        assert_eq!("1e5".parse::<HashKey>(), Err(HashKeyError::Pattern));
    }

    #[test]
    fn even_split_matches_kinesis() {
        let r = HashKeyRange::split_evenly(2);
        assert_eq!(
            r[0].end.to_string(),
            "170141183460469231731687303715884105727"
        );
        assert_eq!(
            r[1].start.to_string(),
            "170141183460469231731687303715884105728"
        );
        assert_eq!(r[1].end, HashKey::MAX);
        let r = HashKeyRange::split_evenly(3);
        // floor(2^128/3) = 113427455640312821154458202477256070485
        assert_eq!(
            r[1].start.to_string(),
            "113427455640312821154458202477256070485"
        );
        assert_eq!(
            r[0].end.to_string(),
            "113427455640312821154458202477256070484"
        );
        assert_eq!(r[2].end, HashKey::MAX);
        for n in 1..=64u32 {
            let r = HashKeyRange::split_evenly(n);
            assert_eq!(r.len(), n as usize);
            assert_eq!(r[0].start, HashKey(0));
            assert_eq!(r[r.len() - 1].end, HashKey::MAX);
            for w in r.windows(2) {
                assert_eq!(w[0].end.0 + 1, w[1].start.0);
            }
        }
    }
}
