//! The per-shard rate limiter: a token bucket in records and one in bytes.
//!
//! # Invariants
//!
//! * Both buckets refill continuously at `RateLimit` percent of the shard's write limit
//!   (1000 records/s, 1 MiB/s) and hold at most one second of it.
//! * A Kinesis record (an aggregate counts as one record) passes when both buckets hold
//!   enough, or when both are full: a record larger than the byte bucket's capacity then
//!   passes and leaves the bucket in debt, so it is never stuck forever.

use std::time::{Duration, Instant};

use crate::config::{SHARD_BYTES_PER_SEC, SHARD_RECORDS_PER_SEC};

/// Token buckets of one shard.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    records: f64,
    bytes: f64,
    records_per_sec: f64,
    bytes_per_sec: f64,
    last: Instant,
}

impl TokenBucket {
    /// Full buckets at `percent` of a shard's limits.
    pub fn new(percent: u64, now: Instant) -> TokenBucket {
        let f = percent as f64 / 100.0;
        let records_per_sec = SHARD_RECORDS_PER_SEC as f64 * f;
        let bytes_per_sec = SHARD_BYTES_PER_SEC as f64 * f;
        TokenBucket {
            records: records_per_sec,
            bytes: bytes_per_sec,
            records_per_sec,
            bytes_per_sec,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.records = (self.records + dt * self.records_per_sec).min(self.records_per_sec);
        self.bytes = (self.bytes + dt * self.bytes_per_sec).min(self.bytes_per_sec);
    }

    /// Takes one record of `bytes`, or says how long until it could.
    pub fn try_take(&mut self, now: Instant, bytes: usize) -> Result<(), Duration> {
        self.refill(now);
        let bytes = bytes as f64;
        let full = self.records >= self.records_per_sec && self.bytes >= self.bytes_per_sec;
        if full || (self.records >= 1.0 && self.bytes >= bytes) {
            self.records -= 1.0;
            self.bytes -= bytes;
            return Ok(());
        }
        let need_records = (1.0 - self.records).max(0.0) / self.records_per_sec;
        let need_bytes = (bytes.min(self.bytes_per_sec) - self.bytes).max(0.0) / self.bytes_per_sec;
        Err(Duration::from_secs_f64(need_records.max(need_bytes)).max(Duration::from_micros(100)))
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
