//! Seeded random streams, from one derivation: (run seed, a stable name, an index).
//!
//! The Go original shared one generator between every injector and iteration, so a
//! decision depended on what everything else had drawn before it. Here every draw of a run
//! comes from a ChaCha8 stream derived by [`derive`] from the run seed, the [`key`] of a
//! stable name and an index: an injector's label and the iteration index for chaos points
//! ([`RUN`] for whole-run decisions), `proxy/<proxy>/<toxic>` and the connection index for
//! a proxy's toxics, a plugin's label for its `random-u64`. Adding an injector, reordering
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

/// The stable key of a stream name (FNV-1a): the same name gives the same streams in every
/// run, on every platform and Rust version.
pub(crate) fn key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The index of whole-run decisions (made once, when the run starts).
pub(crate) const RUN: u64 = u64::MAX;

/// The one derivation: the stream named `key` draws from at `index` in a run seeded `seed`.
pub(crate) fn derive(seed: u64, key: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ mix(key.wrapping_add(1))));
    rng.set_stream(index);
    rng
}

/// A stream created on first draw: what a plugin call borrows from its injector's slot.
pub(crate) struct LazyStream {
    seed: u64,
    key: u64,
    index: u64,
    rng: Option<Box<ChaCha8Rng>>,
}

#[cfg_attr(not(feature = "plugins"), expect(dead_code, reason = "only Wasm plugins borrow a stream"))]
impl LazyStream {
    /// A stream nobody drew from yet.
    pub(crate) fn new(seed: u64, key: u64, index: u64) -> Self {
        LazyStream { seed, key, index, rng: None }
    }

    /// The next `u64` of the stream.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let (seed, key, index) = (self.seed, self.key, self.index);
        self.rng.get_or_insert_with(|| Box::new(derive(seed, key, index))).next_u64()
    }
}

/// A lazily created stream, so a chaos point that never draws never pays for one. Boxed, so
/// lending it to a plugin call and taking it back moves a pointer, not the generator's ~300
/// bytes.
pub(crate) type StreamSlot = Mutex<Option<Box<ChaCha8Rng>>>;

enum Source<'a> {
    Slot {
        slot: &'a StreamSlot,
        guard: Option<MutexGuard<'a, Option<Box<ChaCha8Rng>>>>,
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
                guard.get_or_insert_with(|| Box::new(derive(*seed, *injector, *iteration)))
            }
        }
    }

    #[cfg_attr(not(feature = "plugins"), expect(dead_code, reason = "only Wasm plugins borrow a stream"))]
    /// Lends the stream to a caller that draws through its own handle (a plugin's
    /// `random-u64`); [`restore`](Self::restore) gives it back, so later draws continue it.
    pub(crate) fn lend(&mut self) -> LazyStream {
        match &mut self.source {
            Source::Borrowed(rng) => LazyStream { seed: 0, key: 0, index: 0, rng: Some(Box::new((**rng).clone())) },
            Source::Slot { slot, guard, seed, injector, iteration } => {
                let guard = guard.get_or_insert_with(|| slot.lock().unwrap_or_else(|e| e.into_inner()));
                LazyStream { seed: *seed, key: *injector, index: *iteration, rng: guard.take() }
            }
        }
    }

    #[cfg_attr(not(feature = "plugins"), expect(dead_code, reason = "only Wasm plugins borrow a stream"))]
    /// Takes back a stream lent by [`lend`](Self::lend).
    pub(crate) fn restore(&mut self, lent: LazyStream) {
        let Some(rng) = lent.rng else { return };
        match &mut self.source {
            Source::Borrowed(r) => **r = *rng,
            Source::Slot { slot, guard, .. } => {
                let guard = guard.get_or_insert_with(|| slot.lock().unwrap_or_else(|e| e.into_inner()));
                **guard = Some(rng);
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
        let a = derive(1, 0, 0).next_u64();
        assert_eq!(a, derive(1, 0, 0).next_u64());
        assert_ne!(a, derive(1, 1, 0).next_u64());
        assert_ne!(a, derive(1, 0, 1).next_u64());
        assert_ne!(a, derive(2, 0, 0).next_u64());
    }

    #[test]
    fn a_lent_stream_continues_where_the_slot_left_off() {
        let slot: StreamSlot = Mutex::new(None);
        let mut draws = Draws::from_slot(&slot, 5, key("x"), 3);
        let first = draws.next_u64();
        let mut lent = draws.lend();
        let second = lent.next_u64();
        draws.restore(lent);
        let third = draws.next_u64();
        let mut reference = derive(5, key("x"), 3);
        assert_eq!([first, second, third], [reference.next_u64(), reference.next_u64(), reference.next_u64()]);
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
