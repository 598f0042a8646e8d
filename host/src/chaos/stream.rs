//! Seeded random streams: one per (scenario seed, iteration, injector).
//!
//! The Go original shared one generator between every injector and iteration, so a
//! decision depended on what everything else had drawn before it. Here each injector
//! draws, in each iteration, from its own ChaCha8 stream derived from the seed, the
//! injector's label and the iteration index. Adding an injector, reordering
//! concurrent iterations or drawing more in one place never changes another stream.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mixes a 64-bit value (SplitMix64 finaliser): neighbouring inputs give unrelated outputs.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream an injector draws from in one iteration.
pub(crate) fn stream(seed: u64, injector: u64, iteration: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ mix(injector.wrapping_add(1))));
    rng.set_stream(iteration);
    rng
}

/// A lazily created stream, so a chaos point that never draws never pays for one.
pub(crate) type StreamSlot = Mutex<Option<ChaCha8Rng>>;

enum Source<'a> {
    Slot {
        slot: &'a StreamSlot,
        guard: Option<MutexGuard<'a, Option<ChaCha8Rng>>>,
        seed: u64,
        injector: u64,
        iteration: u64,
    },
    Borrowed(&'a mut ChaCha8Rng),
}

/// An injector's seeded random stream for the current iteration.
///
/// Every draw an injector makes goes through `Draws`, so the same scenario seed gives the
/// same decisions at any concurrency. Probability helpers never draw for `p <= 0` or
/// `p >= 1`: the result is fixed by the configuration, not by the stream.
///
/// ```
/// use chaoskit::Draws;
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let mut draws = Draws::from_rng(&mut rng);
/// assert!(!draws.chance(0.0));
/// assert!(draws.chance(1.0));
/// ```
pub struct Draws<'a> {
    source: Source<'a>,
}

impl<'a> Draws<'a> {
    pub(crate) fn from_slot(slot: &'a StreamSlot, seed: u64, injector: u64, iteration: u64) -> Self {
        Draws { source: Source::Slot { slot, guard: None, seed, injector, iteration } }
    }

    /// Draws from a caller-owned generator (tests, benchmarks, adapters).
    pub fn from_rng(rng: &'a mut ChaCha8Rng) -> Self {
        Draws { source: Source::Borrowed(rng) }
    }

    /// The underlying generator, created on first use.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        match &mut self.source {
            Source::Borrowed(rng) => rng,
            Source::Slot { slot, guard, seed, injector, iteration } => {
                let guard = guard.get_or_insert_with(|| slot.lock().unwrap_or_else(|e| e.into_inner()));
                guard.get_or_insert_with(|| stream(*seed, *injector, *iteration))
            }
        }
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.rng().next_u64()
    }

    /// A uniformly random `f64` in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.rng().random::<f64>()
    }

    /// `true` with probability `p`; `p <= 0` is never and `p >= 1` always, without drawing.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 || p.is_nan() {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    /// A duration uniformly drawn from `[min, max)`; exactly `min` (no draw) when `max <= min`.
    pub fn uniform(&mut self, min: Duration, max: Duration) -> Duration {
        if max <= min {
            return min;
        }
        let span = (max - min).as_nanos().min(u64::MAX as u128) as u64;
        min + Duration::from_nanos(self.rng().random_range(0..span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_injector_and_iteration_and_repeat_by_seed() {
        let a = stream(1, 0, 0).next_u64();
        assert_eq!(a, stream(1, 0, 0).next_u64());
        assert_ne!(a, stream(1, 1, 0).next_u64());
        assert_ne!(a, stream(1, 0, 1).next_u64());
        assert_ne!(a, stream(2, 0, 0).next_u64());
    }

    #[test]
    fn uniform_stays_in_half_open_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut d = Draws::from_rng(&mut rng);
        let (min, max) = (Duration::from_millis(5), Duration::from_millis(7));
        for _ in 0..10_000 {
            let v = d.uniform(min, max);
            assert!(v >= min && v < max, "{v:?}");
        }
        assert_eq!(d.uniform(max, min), max);
    }
}
