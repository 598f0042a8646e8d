//! Per-worker running totals of a run, merged into the report at the end.
//!
//! Each worker owns one `Tally`, so recording an iteration touches no shared cache line;
//! memory stays bounded however long the run (a histogram, counters, a capped timeline and
//! the journal's capped samples).

use hdrhistogram::Histogram;

use crate::journal::{IterationRecord, JournalConfig};
use crate::report::{LatencySummary, TimelineBucket};

const MAX_BUCKETS: usize = 240;

#[derive(Clone, Copy, Default)]
struct Bucket {
    iterations: u64,
    failed: u64,
    sum_us: f64,
    max_us: f64,
    injections: u64,
}

/// Iteration activity over time, in buckets that double in width to stay under a cap.
pub(crate) struct Timeline {
    width_ms: u64,
    buckets: Vec<Bucket>,
}

impl Timeline {
    pub(crate) fn new() -> Self {
        Timeline { width_ms: 100, buckets: Vec::new() }
    }

    fn add(&mut self, start_ms: u64, failed: bool, us: f64, injections: u64) {
        let mut slot = (start_ms / self.width_ms) as usize;
        while slot >= MAX_BUCKETS {
            self.coarsen();
            slot = (start_ms / self.width_ms) as usize;
        }
        if self.buckets.len() <= slot {
            self.buckets.resize(slot + 1, Bucket::default());
        }
        let b = &mut self.buckets[slot];
        b.iterations += 1;
        b.failed += u64::from(failed);
        b.sum_us += us;
        b.max_us = b.max_us.max(us);
        b.injections += injections;
    }

    fn coarsen(&mut self) {
        self.width_ms *= 2;
        let merged = self
            .buckets
            .chunks(2)
            .map(|pair| pair.iter().fold(Bucket::default(), |a, b| merge_bucket(a, *b)))
            .collect();
        self.buckets = merged;
    }

    fn merge(&mut self, mut other: Timeline) {
        while self.width_ms < other.width_ms {
            self.coarsen();
        }
        while other.width_ms < self.width_ms {
            other.coarsen();
        }
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), Bucket::default());
        }
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a = merge_bucket(*a, b);
        }
    }

    /// Rebuilds a timeline from a report's buckets (`width_ms` wide), so shard timelines merge.
    pub(crate) fn from_buckets(width_ms: u64, buckets: &[TimelineBucket]) -> Self {
        let buckets = buckets
            .iter()
            .map(|b| Bucket {
                iterations: b.iterations,
                failed: b.failed,
                sum_us: b.sum_us,
                max_us: b.max_us,
                injections: b.injections,
            })
            .collect();
        Timeline { width_ms: width_ms.max(1), buckets }
    }

    pub(crate) fn width_ms(&self) -> u64 {
        self.width_ms
    }

    pub(crate) fn merge_with(&mut self, other: Timeline) {
        self.merge(other);
    }

    pub(crate) fn into_buckets(self) -> Vec<TimelineBucket> {
        self.buckets
            .into_iter()
            .enumerate()
            .map(|(i, b)| TimelineBucket {
                start_ms: (i as u64).saturating_mul(self.width_ms),
                iterations: b.iterations,
                failed: b.failed,
                mean_us: if b.iterations == 0 { 0.0 } else { b.sum_us / b.iterations as f64 },
                max_us: b.max_us,
                injections: b.injections,
                sum_us: b.sum_us,
            })
            .collect()
    }
}

fn merge_bucket(a: Bucket, b: Bucket) -> Bucket {
    Bucket {
        // Saturating: merged buckets may come from journals, whose counts are not ours.
        iterations: a.iterations.saturating_add(b.iterations),
        failed: a.failed.saturating_add(b.failed),
        sum_us: a.sum_us + b.sum_us,
        max_us: a.max_us.max(b.max_us),
        injections: a.injections.saturating_add(b.injections),
    }
}

/// What one validator said in one worker's iterations.
#[derive(Clone, Default)]
pub(crate) struct ValidatorTally {
    pub(crate) violations: u64,
    pub(crate) harness_errors: u64,
    /// The earliest violation by iteration index, so the report is the same at any concurrency.
    pub(crate) first: Option<(u64, String)>,
}

/// What one worker saw.
pub(crate) struct Tally {
    pub(crate) latency_ns: Histogram<u64>,
    pub(crate) total: u64,
    pub(crate) failed: u64,
    pub(crate) panics: u64,
    pub(crate) errors: u64,
    pub(crate) max_depth: u32,
    /// `[injector][action]` counts.
    pub(crate) injections: Vec<[u64; 5]>,
    /// Per injector: points it was asked at (coverage's "reached").
    pub(crate) reached: Vec<u64>,
    /// Per validator.
    pub(crate) violations: Vec<ValidatorTally>,
    pub(crate) failing: Vec<IterationRecord>,
    pub(crate) failing_omitted: u64,
    pub(crate) passing: Vec<IterationRecord>,
    pub(crate) timeline: Timeline,
}

/// Latency bounds of every run's histogram: 1 ns to 1 h at 3 significant figures.
const LOWEST_NS: u64 = 1;
const HIGHEST_NS: u64 = 3_600_000_000_000;
const SIGNIFICANT_FIGURES: u8 = 3;

pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_FIGURES).expect("the bounds are valid")
}

/// The histogram in HdrHistogram's V2 encoding (uncompressed: a journal is compressed as a
/// whole if at all), base64.
pub(crate) fn encode_histogram(h: &Histogram<u64>) -> String {
    use base64::Engine;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::Serializer::serialize(
        &mut hdrhistogram::serialization::V2Serializer::new(),
        h,
        &mut bytes,
    )
    .expect("serialising into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The uncompressed V2 cookie (HdrHistogram's `V2_COOKIE`); the compressed form is refused:
/// its inner length is not bounded by the journal's bytes.
const V2_COOKIE: u64 = 0x1c84_9313;
/// Cookie, payload length, normalizing offset, significant figures, lowest, highest, ratio.
const V2_HEADER_LEN: usize = 40;

/// Reads [`encode_histogram`]'s output back. Everything is checked against the bytes the
/// journal holds before the decoder runs: the header (only histograms with the run's bounds,
/// so a hostile journal cannot ask for a huge one), the payload length (exactly the bytes
/// that follow, so nothing is allocated that the file does not carry) and every count's
/// place (within the histogram's buckets).
pub(crate) fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("not base64: {e}"))?;
    let field = |at: usize, len: usize| -> Option<u64> {
        let b = bytes.get(at..at + len)?;
        Some(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    };
    if bytes.len() < V2_HEADER_LEN {
        return Err(format!("{} bytes, shorter than a V2 histogram's {V2_HEADER_LEN}-byte header", bytes.len()));
    }
    if field(0, 4) != Some(V2_COOKIE) {
        return Err("not an uncompressed V2 histogram (wrong cookie)".to_string());
    }
    let remaining = (bytes.len() - V2_HEADER_LEN) as u64;
    let claimed = field(4, 4).unwrap_or(0);
    if claimed != remaining {
        return Err(format!("its header claims a payload of {claimed} bytes, but {remaining} follow"));
    }
    let header = (field(12, 4), field(16, 8), field(24, 8));
    if header != (Some(u64::from(SIGNIFICANT_FIGURES)), Some(LOWEST_NS), Some(HIGHEST_NS)) {
        return Err(format!(
            "not a latency histogram of this version (expected {LOWEST_NS} ns to {HIGHEST_NS} ns at \
             {SIGNIFICANT_FIGURES} significant figures)"
        ));
    }
    check_payload(&bytes[V2_HEADER_LEN..])?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("not a V2 histogram: {e:?}"))
}

/// Walks the V2 payload (zig-zag LEB128: a count, or a negative run of empty buckets) and
/// refuses one that is truncated or places a count outside the run's histogram.
fn check_payload(mut payload: &[u8]) -> Result<(), String> {
    let buckets = latency_histogram().distinct_values() as u64;
    let mut index: u64 = 0;
    while !payload.is_empty() {
        let mut value: u64 = 0;
        let mut used = 0;
        loop {
            let Some(&b) = payload.get(used) else {
                return Err("its payload ends inside a number".to_string());
            };
            if used == 8 {
                // The ninth byte is taken whole.
                value |= u64::from(b) << 56;
                used += 1;
                break;
            }
            value |= u64::from(b & 0x7f) << (7 * used);
            used += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        payload = &payload[used..];
        let n = ((value >> 1) as i64) ^ -((value & 1) as i64);
        index = if n < 0 { index.saturating_add(n.unsigned_abs()) } else { index.saturating_add(1) };
        if index > buckets {
            return Err(format!("its counts run past the histogram's {buckets} buckets"));
        }
    }
    Ok(())
}

/// Latency in microseconds from a nanosecond histogram.
pub(crate) fn latency_summary(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let us = |ns: u64| ns as f64 / 1e3;
    LatencySummary {
        min: us(h.min()),
        mean: h.mean() / 1e3,
        p50: us(h.value_at_quantile(0.50)),
        p90: us(h.value_at_quantile(0.90)),
        p99: us(h.value_at_quantile(0.99)),
        p999: us(h.value_at_quantile(0.999)),
        max: us(h.max()),
    }
}

impl Tally {
    pub(crate) fn new(injectors: usize, validators: usize) -> Self {
        Tally {
            latency_ns: latency_histogram(),
            total: 0,
            failed: 0,
            panics: 0,
            errors: 0,
            max_depth: 0,
            injections: vec![[0; 5]; injectors],
            reached: vec![0; injectors],
            violations: vec![ValidatorTally::default(); validators],
            failing: Vec::new(),
            failing_omitted: 0,
            passing: Vec::new(),
            timeline: Timeline::new(),
        }
    }

    pub(crate) fn record_latency(&mut self, start_ms: u64, ns: u64, failed: bool, injections: u64) {
        self.latency_ns.saturating_record(ns.max(1));
        self.timeline.add(start_ms, failed, ns as f64 / 1e3, injections);
    }

    /// Keeps a record if the journal policy wants it.
    pub(crate) fn keep(&mut self, record: IterationRecord, config: &JournalConfig) {
        if record.ok {
            if self.passing.len() < config.max_passing {
                self.passing.push(record);
            }
        } else if self.failing.len() < config.max_failing {
            self.failing.push(record);
        } else {
            self.failing_omitted += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        self.latency_ns.add(&other.latency_ns).expect("histograms auto-resize");
        self.total += other.total;
        self.failed += other.failed;
        self.panics += other.panics;
        self.errors += other.errors;
        self.max_depth = self.max_depth.max(other.max_depth);
        for (a, b) in self.injections.iter_mut().zip(other.injections) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        for (a, b) in self.reached.iter_mut().zip(other.reached) {
            *a += b;
        }
        for (a, b) in self.violations.iter_mut().zip(other.violations) {
            a.violations += b.violations;
            a.harness_errors += b.harness_errors;
            a.first = match (a.first.take(), b.first) {
                (Some(x), Some(y)) => Some(if x.0 <= y.0 { x } else { y }),
                (x, y) => x.or(y),
            };
        }
        self.failing.extend(other.failing);
        self.failing_omitted += other.failing_omitted;
        self.passing.extend(other.passing);
        self.timeline.merge(other.timeline);
    }

    /// Sorts the kept records by index and trims them to the caps, so the journal is the
    /// same whatever the interleaving of workers.
    pub(crate) fn finish_journal(&mut self, config: &JournalConfig) {
        self.failing.sort_by_key(|r| r.index);
        self.passing.sort_by_key(|r| r.index);
        if self.failing.len() > config.max_failing {
            self.failing_omitted += (self.failing.len() - config.max_failing) as u64;
            self.failing.truncate(config.max_failing);
        }
        self.passing.truncate(config.max_passing);
    }

    /// Adds one iteration's per-injector reach counts.
    pub(crate) fn record_reached(&mut self, reached: &[u32]) {
        for (a, b) in self.reached.iter_mut().zip(reached) {
            *a += u64::from(*b);
        }
    }

    pub(crate) fn latency_summary(&self) -> LatencySummary {
        latency_summary(&self.latency_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_keeps_the_recorded_magnitudes() {
        let mut tally = Tally::new(0, 0);
        tally.record_latency(0, 1_000_000, false, 0);
        tally.record_latency(0, 3_000_000, false, 0);
        let l = tally.latency_summary();
        assert!((l.min - 1000.0).abs() < 2.0, "{l:?}");
        assert!((l.max - 3000.0).abs() < 5.0, "{l:?}");
    }

    #[test]
    fn histograms_round_trip_through_their_encoding_and_merge_exactly() {
        let (mut a, mut b, mut both) = (latency_histogram(), latency_histogram(), latency_histogram());
        for n in 0..5_000u64 {
            let ns = 1 + n * n * 37 % 9_000_000_007;
            if n % 3 == 0 { &mut a } else { &mut b }.record(ns).unwrap();
            both.record(ns).unwrap();
        }
        let mut merged = decode_histogram(&encode_histogram(&a)).unwrap();
        merged.add(decode_histogram(&encode_histogram(&b)).unwrap()).unwrap();
        assert_eq!(merged, both);
        assert_eq!(latency_summary(&merged), latency_summary(&both));
    }

    #[test]
    fn a_histogram_with_other_bounds_is_refused_before_it_is_allocated() {
        let huge = Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 5).unwrap();
        let err = decode_histogram(&encode_histogram(&huge)).unwrap_err();
        assert!(err.starts_with("not a latency histogram of this version"), "{err}");
        assert!(decode_histogram("%%%").unwrap_err().starts_with("not base64"));
        assert!(decode_histogram("").unwrap_err().starts_with("0 bytes, shorter than a V2 histogram's 40-byte header"));
    }

    /// A valid encoding's bytes, to be tampered with.
    fn encoded_bytes() -> Vec<u8> {
        use base64::Engine;
        let mut h = latency_histogram();
        h.record(1_000).unwrap();
        h.record(2_000_000).unwrap();
        base64::engine::general_purpose::STANDARD.decode(encode_histogram(&h)).unwrap()
    }

    fn encode(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn a_payload_length_beyond_the_bytes_is_refused_before_anything_is_allocated() {
        let mut bytes = encoded_bytes();
        let follow = bytes.len() - 40;
        bytes[4..8].copy_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
        let err = decode_histogram(&encode(&bytes)).unwrap_err();
        assert_eq!(err, format!("its header claims a payload of 4294967295 bytes, but {follow} follow"));
        // The compressed form carries a second length that the bytes do not bound.
        let mut bytes = encoded_bytes();
        bytes[3] = 0x14;
        assert!(decode_histogram(&encode(&bytes)).unwrap_err().contains("not an uncompressed V2 histogram"));
    }

    #[test]
    fn counts_outside_the_histogram_and_truncated_numbers_are_refused() {
        let with_payload = |payload: &[u8]| {
            let mut bytes = encoded_bytes()[..40].to_vec();
            bytes[4..8].copy_from_slice(&(payload.len() as u32).to_be_bytes());
            bytes.extend_from_slice(payload);
            decode_histogram(&encode(&bytes))
        };
        // u64::MAX zig-zags to i64::MIN, a run of 2^63 empty buckets (its negation overflows).
        let err = with_payload(&[0xff; 9]).unwrap_err();
        assert!(err.starts_with("its counts run past the histogram's "), "{err}");
        assert_eq!(with_payload(&[0x80]).unwrap_err(), "its payload ends inside a number");
        // One count of 1 in the first bucket is fine.
        assert_eq!(with_payload(&[0x02]).unwrap().len(), 1);
    }
}
