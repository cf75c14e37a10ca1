//! Per-shard throughput limits, enforced as AWS enforces them.
//!
//! Each shard has four token buckets, refilled continuously from the engine's clock:
//! written records and written bytes (data plus partition key), read calls and read bytes.
//! A bucket holds at most `rate x burst` tokens, so a shard idle for a moment can absorb a
//! short burst above its rate, as AWS allows; sustained traffic above the rate is refused.
//!
//! * A PutRecords entry is accepted if its shard's write buckets hold one record and its
//!   size; otherwise that entry alone fails with `ProvisionedThroughputExceededException`
//!   (the others are written). PutRecord fails as a whole.
//! * A GetRecords call needs one read-call token and a positive read-byte balance; the bytes
//!   it returns are charged afterwards and may take the balance below zero (a 10 MiB read
//!   blocks the shard's next reads for about 5 s, as AWS describes).

use crate::api::bucket::TokenBucket as Bucket;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;

/// Per-shard throughput limits. The default is AWS's; [`ThroughputLimits::off`] disables
/// them (for benchmarks and bulk loads).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThroughputLimits {
    /// Whether limits are enforced at all. Default true.
    pub enabled: bool,
    /// Bytes written per second per shard (data and partition keys). Default 1 MiB.
    pub write_bytes_per_sec: u64,
    /// Records written per second per shard. Default 1000.
    pub write_records_per_sec: u64,
    /// GetRecords calls per second per shard. Default 5.
    pub read_calls_per_sec: u64,
    /// Bytes read per second per shard by GetRecords. Default 2 MiB.
    pub read_bytes_per_sec: u64,
    /// How much unused capacity a shard may save up: buckets hold `rate x burst`. Default 1 s.
    pub burst: Duration,
}

impl ThroughputLimits {
    /// AWS's per-shard limits.
    pub fn aws() -> ThroughputLimits {
        ThroughputLimits {
            enabled: true,
            write_bytes_per_sec: 1024 * 1024,
            write_records_per_sec: 1000,
            read_calls_per_sec: 5,
            read_bytes_per_sec: 2 * 1024 * 1024,
            burst: Duration::from_secs(1),
        }
    }

    /// No limits.
    pub fn off() -> ThroughputLimits {
        ThroughputLimits {
            enabled: false,
            ..ThroughputLimits::aws()
        }
    }
}

impl Default for ThroughputLimits {
    fn default() -> Self {
        ThroughputLimits::aws()
    }
}

impl std::str::FromStr for ThroughputLimits {
    type Err = InvalidLimits;
    /// `aws` or `off`.
    fn from_str(s: &str) -> Result<Self, InvalidLimits> {
        match s {
            "aws" | "on" => Ok(ThroughputLimits::aws()),
            "off" | "none" => Ok(ThroughputLimits::off()),
            other => Err(InvalidLimits(other.to_string())),
        }
    }
}

/// Text that names no [`ThroughputLimits`] setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid limits {0:?}: expected aws or off")]
pub struct InvalidLimits(pub String);

/// A shard's bucket of `rate_per_sec` holding `burst` of it (at least one token), full at
/// `now` (engine milliseconds).
fn bucket(rate_per_sec: u64, burst: Duration, now: i64) -> Bucket {
    let rate = rate_per_sec as f64;
    Bucket::full(rate, (rate * burst.as_secs_f64()).max(1.0), secs(now))
}

/// Engine milliseconds as the buckets' seconds.
fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[derive(Debug)]
struct ShardBuckets {
    write_records: Bucket,
    write_bytes: Bucket,
    read_calls: Bucket,
    read_bytes: Bucket,
}

/// The buckets of one stream's shards.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: ThroughputLimits,
    shards: Mutex<HashMap<u64, ShardBuckets>>,
}

impl Limiter {
    pub fn new(limits: ThroughputLimits) -> Limiter {
        Limiter {
            limits,
            shards: Mutex::new(HashMap::new()),
        }
    }

    fn with<R>(&self, shard: u64, now: i64, f: impl FnOnce(&mut ShardBuckets) -> R) -> R {
        let l = self.limits;
        let mut shards = self.shards.lock();
        let b = shards.entry(shard).or_insert_with(|| ShardBuckets {
            write_records: bucket(l.write_records_per_sec, l.burst, now),
            write_bytes: bucket(l.write_bytes_per_sec, l.burst, now),
            read_calls: bucket(l.read_calls_per_sec, l.burst, now),
            read_bytes: bucket(l.read_bytes_per_sec, l.burst, now),
        });
        let t = secs(now);
        b.write_records.refill(t);
        b.write_bytes.refill(t);
        b.read_calls.refill(t);
        b.read_bytes.refill(t);
        f(b)
    }

    /// Takes one record of `bytes` from the shard's write budget, or refuses.
    pub fn try_write(&self, shard: u64, bytes: usize, now: i64) -> bool {
        if !self.limits.enabled {
            return true;
        }
        self.with(shard, now, |b| {
            let bytes = bytes as f64;
            // A record larger than the whole bucket passes when the bucket is full.
            if b.write_records.has(1.0) && b.write_bytes.has(bytes) {
                b.write_records.take(1.0);
                b.write_bytes.take(bytes);
                true
            } else {
                false
            }
        })
    }

    /// Takes one read call from the shard's budget, or refuses.
    pub fn try_read(&self, shard: u64, now: i64) -> bool {
        if !self.limits.enabled {
            return true;
        }
        self.with(shard, now, |b| {
            if b.read_calls.has(1.0) && b.read_bytes.tokens() > 0.0 {
                b.read_calls.take(1.0);
                true
            } else {
                false
            }
        })
    }

    /// Charges the bytes a read returned (the balance may go below zero).
    pub fn charge_read(&self, shard: u64, bytes: usize, now: i64) {
        if self.limits.enabled {
            self.with(shard, now, |b| b.read_bytes.take(bytes as f64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_refill_at_the_rate() {
        let l = Limiter::new(ThroughputLimits::aws());
        let t = 1_000_000;
        let accepted = (0..2000).filter(|_| l.try_write(0, 10, t)).count();
        assert_eq!(accepted, 1000, "a full bucket holds one second of records");
        assert!(!l.try_write(0, 10, t));
        assert!(l.try_write(1, 10, t), "shards are independent");
        // 100 ms later, 100 more records fit.
        let later = (0..200).filter(|_| l.try_write(0, 10, t + 100)).count();
        assert_eq!(later, 100);
        // Bytes: 1 MiB per second.
        let l = Limiter::new(ThroughputLimits::aws());
        assert!(l.try_write(0, 1024 * 1024, t));
        assert!(!l.try_write(0, 1, t));
        assert!(l.try_write(0, 1024, t + 1));
    }

    #[test]
    fn reads_limit_calls_and_bytes() {
        let l = Limiter::new(ThroughputLimits::aws());
        let t = 5_000;
        assert_eq!((0..10).filter(|_| l.try_read(0, t)).count(), 5);
        // A 10 MiB read blocks the shard for about 4 s (2 MiB of burst, then 2 MiB/s).
        let l = Limiter::new(ThroughputLimits::aws());
        assert!(l.try_read(0, t));
        l.charge_read(0, 10 * 1024 * 1024, t);
        assert!(!l.try_read(0, t + 3_900));
        assert!(l.try_read(0, t + 4_100));
    }

    #[test]
    fn off_accepts_everything() {
        let l = Limiter::new(ThroughputLimits::off());
        assert!((0..100_000).all(|_| l.try_write(0, 1 << 20, 0)));
        assert!((0..100).all(|_| l.try_read(0, 0)));
        assert_eq!("off".parse(), Ok(ThroughputLimits::off()));
        assert_eq!("aws".parse(), Ok(ThroughputLimits::aws()));
    }
}
