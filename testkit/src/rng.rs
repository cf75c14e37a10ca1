//! The seeded random generator behind every fault decision of the wrappers.
//!
//! [`SeededRng`] is xoshiro256++ ([`rand_xoshiro::Xoshiro256PlusPlus`]) seeded with
//! [`SeedableRng::seed_from_u64`]: the same seed gives the same sequence on every platform
//! and in every version of `rand_xoshiro` 0.7, so a wrapper given the same seed and the same
//! sequence of calls injects the same faults.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use std::time::Duration;

/// A small seeded generator with the draws the fault wrappers need.
#[derive(Debug, Clone)]
pub(crate) struct SeededRng(Xoshiro256PlusPlus);

impl SeededRng {
    /// The generator of `seed`.
    pub(crate) fn new(seed: u64) -> SeededRng {
        SeededRng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// Uniform in [0, 1), from the top 53 bits of a draw.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }

    /// `true` with probability `p` (never when `p` is 0, negative or NaN).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// An item of `items` picked uniformly; `None` when it is empty.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }

    /// Uniform from zero to `d`.
    pub(crate) fn up_to(&mut self, d: Duration) -> Duration {
        if d.is_zero() {
            Duration::ZERO
        } else {
            d.mul_f64(self.unit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let (mut a, mut b) = (SeededRng::new(42), SeededRng::new(42));
        let draws = |r: &mut SeededRng| (0..32).map(|_| r.below(1000)).collect::<Vec<_>>();
        assert_eq!(draws(&mut a), draws(&mut b));
        assert_ne!(draws(&mut SeededRng::new(43)), draws(&mut a));
        assert!((0..1000).all(|_| (0.0..1.0).contains(&a.unit())));
    }
}
