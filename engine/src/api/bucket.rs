//! The token bucket every rate limit of the project uses: the engine's per-shard throughput
//! limits and account call limits, and the producer's per-shard limiter.
//!
//! # Invariants
//!
//! * Tokens refill continuously at `rate` per second and never exceed `capacity`.
//! * Time is seconds since an origin the owner chooses; a `now` earlier than the last one
//!   seen refills nothing (time never runs backwards for a bucket).
//! * An amount larger than the capacity is available once the bucket is full, and taking
//!   it leaves the bucket in debt (negative), which the refill pays back: a large request is
//!   never refused forever, and still costs its full size.
//!
//! ```
//! use rill_engine::api::bucket::TokenBucket;
//!
//! let mut b = TokenBucket::full(1000.0, 1000.0, 0.0);
//! assert!(b.has(1000.0));
//! b.take(1000.0);
//! assert!(!b.has(1.0));
//! assert!((b.wait(1.0) - 0.001).abs() < 1e-9);
//! b.refill(0.5);
//! assert!(b.has(500.0) && !b.has(501.0));
//! ```

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
    last: f64,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilling at `rate_per_sec`, at time `now` (s).
    pub fn full(rate_per_sec: f64, capacity: f64, now: f64) -> TokenBucket {
        TokenBucket {
            tokens: capacity,
            capacity,
            rate: rate_per_sec,
            last: now,
        }
    }

    /// Adds what accrued since the last refill, up to the capacity.
    pub fn refill(&mut self, now: f64) {
        if now > self.last {
            self.tokens = (self.tokens + (now - self.last) * self.rate).min(self.capacity);
            self.last = now;
        }
    }

    /// The tokens held now (negative: in debt).
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// Whether `n` tokens may be taken: the bucket holds them, or is full (for an `n` above
    /// the capacity).
    pub fn has(&self, n: f64) -> bool {
        self.tokens >= n.min(self.capacity)
    }

    /// Takes `n` tokens (the balance may go below zero).
    pub fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    /// Seconds until [`TokenBucket::has`] holds for `n` (0 when it does now).
    pub fn wait(&self, n: f64) -> f64 {
        let missing = n.min(self.capacity) - self.tokens;
        if missing <= 0.0 || self.rate <= 0.0 {
            return 0.0;
        }
        missing / self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate_up_to_the_capacity_and_pays_back_debt() {
        let mut b = TokenBucket::full(10.0, 5.0, 100.0);
        b.take(5.0);
        b.refill(99.0);
        assert_eq!(b.tokens(), 0.0, "time never runs backwards");
        b.refill(100.2);
        assert!((b.tokens() - 2.0).abs() < 1e-9);
        b.refill(200.0);
        assert_eq!(b.tokens(), 5.0, "capped");
        // More than the capacity: available when full, then in debt.
        assert!(b.has(50.0));
        b.take(50.0);
        assert!((b.wait(1.0) - 4.6).abs() < 1e-9);
        b.refill(204.62);
        assert!(b.has(1.0) && !b.has(1.5));
    }
}
