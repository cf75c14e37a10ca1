//! The per-shard rate limiter: a token bucket in records and one in bytes.
//!
//! # Invariants
//!
//! * Both buckets refill continuously at `RateLimit` percent of the shard's write limit
//!   (1000 records/s, 1 MiB/s) and hold at most one second of it.
//! * A Kinesis record (an aggregate counts as one record) passes when both buckets hold
//!   enough; a record larger than the byte bucket's capacity passes once that bucket is
//!   full and leaves it in debt, so it is never stuck forever (see
//!   [`rill_engine::api::bucket`]).

use std::time::{Duration, Instant};

use rill_engine::api::bucket::TokenBucket as Bucket;

use crate::config::{SHARD_BYTES_PER_SEC, SHARD_RECORDS_PER_SEC};

/// Token buckets of one shard ([`rill_engine::api::bucket::TokenBucket`], in seconds since
/// the limiter was made).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    records: Bucket,
    bytes: Bucket,
    origin: Instant,
}

impl TokenBucket {
    /// Full buckets at `percent` of a shard's limits, each holding one second of it.
    pub fn new(percent: u64, now: Instant) -> TokenBucket {
        let f = percent as f64 / 100.0;
        let records_per_sec = SHARD_RECORDS_PER_SEC as f64 * f;
        let bytes_per_sec = SHARD_BYTES_PER_SEC as f64 * f;
        TokenBucket {
            records: Bucket::full(records_per_sec, records_per_sec, 0.0),
            bytes: Bucket::full(bytes_per_sec, bytes_per_sec, 0.0),
            origin: now,
        }
    }

    /// Takes one record of `bytes`, or says how long until it could.
    pub fn try_take(&mut self, now: Instant, bytes: usize) -> Result<(), Duration> {
        let t = now.saturating_duration_since(self.origin).as_secs_f64();
        self.records.refill(t);
        self.bytes.refill(t);
        let bytes = bytes as f64;
        if self.records.has(1.0) && self.bytes.has(bytes) {
            self.records.take(1.0);
            self.bytes.take(bytes);
            return Ok(());
        }
        let wait = self.records.wait(1.0).max(self.bytes.wait(bytes));
        Err(Duration::from_secs_f64(wait).max(Duration::from_micros(100)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_through_the_rate_and_then_waits() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, t0);
        let mut passed = 0;
        while b.try_take(t0, 1000).is_ok() {
            passed += 1;
        }
        assert_eq!(passed, 1000, "1000 records/s, one second of burst");
        let wait = b.try_take(t0, 1000).expect_err("empty");
        assert!(wait <= Duration::from_millis(2), "{wait:?}");
        assert!(b.try_take(t0 + Duration::from_millis(2), 1000).is_ok());
    }

    #[test]
    fn bytes_limit_and_oversized_records() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, t0);
        assert!(b.try_take(t0, 1024 * 1024).is_ok());
        let wait = b.try_take(t0, 512 * 1024).expect_err("no bytes left");
        assert!(wait >= Duration::from_millis(400), "{wait:?}");
        // A record bigger than a full bucket passes once the bucket is full.
        let mut small = TokenBucket::new(1, t0);
        assert!(small.try_take(t0, 1024 * 1024).is_ok());
        // ... and leaves it in debt: 1 % of 1 MiB/s needs about 100 s to pay it back.
        assert!(small.try_take(t0 + Duration::from_secs(2), 1).is_err());
        assert!(small.try_take(t0 + Duration::from_secs(102), 1).is_ok());
    }
}
