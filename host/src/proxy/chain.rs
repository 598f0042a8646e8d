//! The per-connection, per-direction toxic chain: stages with their state and seeded randomness.
//!
//! A chain turns each input item (a chunk with its arrival time, or the end of input) into output
//! items stamped with the instant they may be written. Delays are expressed as timestamps rather than
//! sleeps inside the chain, so a latency stage pipelines back-to-back chunks like Toxiproxy's does,
//! and the link writes each item once its time has come.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::filter::{ConnectionFilter, ConnectionInfo, FilterStep, ToxicPlugins};
use super::toxic::{Stream, Toxic, ToxicKind};
use crate::chaos::{Action, DecisionLog, DecisionRecord, Draws, NetworkFault, PointKind, derive, stream_key};

/// The toxics of both directions of a proxy, as published to its live connections.
#[derive(Debug, Default)]
pub(crate) struct ChainSet {
    pub(crate) upstream: Arc<[Toxic]>,
    pub(crate) downstream: Arc<[Toxic]>,
}

impl ChainSet {
    pub(crate) fn get(&self, stream: Stream) -> &Arc<[Toxic]> {
        match stream {
            Stream::Upstream => &self.upstream,
            Stream::Downstream => &self.downstream,
        }
    }

    /// Whether `stream` must run through a chain: it has toxics, or a plugin toxic on the other
    /// direction may send replies this way.
    pub(crate) fn needs_chain(&self, stream: Stream) -> bool {
        let other = match stream {
            Stream::Upstream => &self.downstream,
            Stream::Downstream => &self.upstream,
        };
        !self.get(stream).is_empty() || other.iter().any(|t| matches!(t.kind, ToxicKind::Other { .. }))
    }
}

/// Where a connection's random streams come from, through the run's one derivation: the
/// registry seed, the name `proxy/<proxy>/<toxic>` and the connection's index. The same seed
/// replays the same toxicity, jitter and slicer draws whatever the scheduling; toxicity draws
/// that fire are recorded in the registry's decision log, when it has one.
#[derive(Clone, Debug)]
pub(crate) struct StreamSeed {
    pub(crate) seed: u64,
    pub(crate) proxy: Arc<str>,
    pub(crate) connection: u64,
    pub(crate) log: Option<DecisionLog>,
    /// Custom toxic types (plugins) this connection's toxics may name.
    pub(crate) plugins: Arc<ToxicPlugins>,
}

impl StreamSeed {
    pub(crate) fn new(seed: u64, proxy: &str, connection: u64) -> Self {
        StreamSeed { seed, proxy: Arc::from(proxy), connection, log: None, plugins: Arc::default() }
    }

    /// Journals what a plugin toxic did to a chunk, like a toxicity draw that fires.
    fn record_filter(&self, toxic: &Toxic, fault: NetworkFault) {
        let Some(log) = &self.log else { return };
        log.record(DecisionRecord {
            injector: format!("proxy {}", self.proxy),
            kind: PointKind::Network,
            point: toxic.name.clone(),
            scope: Some(toxic.stream.as_str().to_string()),
            occurrence: u32::try_from(self.connection).unwrap_or(u32::MAX),
            action: Action::Network(fault),
        });
    }

    /// Notes in the run's log that a plugin toxic failed open (the stats count each failure).
    fn record_failure(&self, toxic: &Toxic) {
        let Some(log) = &self.log else { return };
        log.hazard(format!(
            "proxy `{}`: plugin toxic `{}` (type `{}`) failed and let connections' bytes pass unchanged from then on (fail open); see the plugin's notes",
            self.proxy,
            toxic.name,
            toxic.kind.type_name()
        ));
    }

    pub(crate) fn rng_for(&self, toxic_name: &str) -> ChaCha8Rng {
        derive(self.seed, stream_key(&format!("proxy/{}/{toxic_name}", self.proxy)), self.connection)
    }

    /// Journals a toxicity draw (only draws are decisions: toxicity 0 or 1 decides nothing).
    fn record(&self, toxic: &Toxic, active: bool) {
        let Some(log) = &self.log else { return };
        if toxic.toxicity <= 0.0 || toxic.toxicity >= 1.0 {
            return;
        }
        log.hazard(format!(
            "proxy `{}`: toxic `{}` has toxicity {} and draws per connection; its draws follow the order connections arrive in, which replay reproduces only when connections are made one at a time",
            self.proxy, toxic.name, toxic.toxicity
        ));
        if active {
            log.record(DecisionRecord {
                injector: format!("proxy {}", self.proxy),
                kind: PointKind::Network,
                point: toxic.name.clone(),
                scope: Some(toxic.stream.as_str().to_string()),
                occurrence: u32::try_from(self.connection).unwrap_or(u32::MAX),
                action: Action::Network(toxic.kind.as_fault()),
            });
        }
    }
}

/// One unit flowing through a chain.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// Bytes that may be written at the instant (slices of the chunk read, not copies).
    Data(Instant, Bytes),
    /// End of this direction (half-close) at the instant.
    Eof(Instant),
    /// Close the whole connection at the instant.
    Close(Instant),
    /// Reset (RST) both sockets at the instant.
    Reset(Instant),
}

impl Item {
    /// The instant the item may be written.
    pub(crate) fn at(&self) -> Instant {
        match *self {
            Item::Data(at, _) | Item::Eof(at) | Item::Close(at) | Item::Reset(at) => at,
        }
    }

    /// Moves the item's instant `by` earlier.
    pub(crate) fn shift_earlier(&mut self, by: Duration) {
        let (Item::Data(at, _) | Item::Eof(at) | Item::Close(at) | Item::Reset(at)) = self;
        *at = at.checked_sub(by).unwrap_or(*at);
    }

    fn is_terminal(&self) -> bool {
        matches!(self, Item::Close(_) | Item::Reset(_))
    }
}

#[derive(Debug)]
enum State {
    Pass,
    Latency {
        last: Option<Instant>,
    },
    Bandwidth {
        free_at: Option<Instant>,
    },
    SlowClose,
    Timeout {
        deadline: Option<Instant>,
    },
    ResetPeer,
    Slicer {
        free_at: Option<Instant>,
    },
    LimitData {
        sent: u64,
    },
    /// A plugin toxic; `None` once it failed (its bytes then pass unchanged).
    Filter {
        filter: Option<Box<dyn ConnectionFilter>>,
        free_at: Option<Instant>,
    },
}

impl std::fmt::Debug for dyn ConnectionFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionFilter")
    }
}

/// What a chunk's trip through the chain produced besides its items.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The longest wait a latency stage added to an item of the chunk.
    pub(crate) held: Duration,
    /// Bytes plugin toxics send back the other way, with the instant they may be written.
    pub(crate) replies: Vec<(Instant, Bytes)>,
}

#[derive(Debug)]
struct Stage {
    toxic: Toxic,
    /// Whether the toxicity draw said this toxic applies to this connection.
    active: bool,
    rng: ChaCha8Rng,
    state: State,
}

impl Stage {
    fn new(toxic: &Toxic, mut rng: ChaCha8Rng, now: Instant, seed: &StreamSeed) -> Stage {
        let active = Draws::from_rng(&mut rng).chance(f64::from(toxic.toxicity));
        seed.record(toxic, active);
        let state = match toxic.kind {
            _ if !active => State::Pass,
            ToxicKind::Latency { .. } => State::Latency { last: None },
            ToxicKind::Bandwidth { .. } => State::Bandwidth { free_at: None },
            ToxicKind::SlowClose { .. } => State::SlowClose,
            ToxicKind::Timeout { timeout } => {
                State::Timeout { deadline: (timeout > 0).then(|| later(now, ms(timeout))) }
            }
            ToxicKind::ResetPeer { .. } => State::ResetPeer,
            ToxicKind::Slicer { .. } => State::Slicer { free_at: None },
            ToxicKind::LimitData { .. } => State::LimitData { sent: 0 },
            ToxicKind::Other { ref type_name, ref attributes } => match seed.plugins.get(type_name) {
                Some(plugin) => {
                    let info = ConnectionInfo {
                        proxy: &seed.proxy,
                        toxic: &toxic.name,
                        index: seed.connection,
                        stream: toxic.stream,
                    };
                    let attributes = serde_json::to_string(attributes).unwrap_or_else(|_| "{}".into());
                    let filter = plugin.open(&attributes, &info, &mut Draws::from_rng(&mut rng));
                    State::Filter { filter, free_at: None }
                }
                None => State::Pass,
            },
            ToxicKind::Noop => State::Pass,
        };
        Stage { toxic: toxic.clone(), active, rng, state }
    }

    /// Runs a chunk through a plugin toxic's filter and turns its steps into timed items.
    fn filter(&mut self, at: Instant, data: Bytes, out: &mut Vec<Item>, scratch: &mut Scratch, seed: &StreamSeed) {
        let State::Filter { filter, free_at } = &mut self.state else { unreachable!("filter state checked") };
        let mut t = free_at.map_or(at, |f| f.max(at));
        let Some(f) = filter.as_mut() else {
            out.push(Item::Data(t, data));
            return;
        };
        let steps = match f.filter(self.toxic.stream, &data, &mut Draws::from_rng(&mut self.rng)) {
            Ok(steps) => steps,
            Err(_) => {
                // Fail open for this connection: this chunk and every later one pass unchanged.
                *filter = None;
                seed.record_failure(&self.toxic);
                out.push(Item::Data(t, data));
                return;
            }
        };
        if steps.is_empty() {
            *free_at = Some(t);
            out.push(Item::Data(t, data));
            return;
        }
        let mut fault = NetworkFault { latency: Duration::ZERO, drop: false };
        let mut changed = false;
        let mut offset = 0;
        let mut ended = false;
        for step in steps {
            match step {
                FilterStep::Pass(n) => {
                    let end = offset + n.min(data.len() - offset);
                    if end > offset {
                        out.push(Item::Data(t, data.slice(offset..end)));
                    }
                    offset = end;
                }
                FilterStep::Skip(n) => {
                    let skipped = n.min(data.len() - offset);
                    changed |= skipped > 0;
                    fault.drop |= skipped > 0;
                    offset += skipped;
                }
                FilterStep::Insert(bytes) => {
                    changed = true;
                    if !bytes.is_empty() {
                        out.push(Item::Data(t, Bytes::from(bytes)));
                    }
                }
                FilterStep::Reply(bytes) => {
                    changed = true;
                    scratch.replies.push((t, Bytes::from(bytes)));
                }
                FilterStep::Delay(d) => {
                    changed |= !d.is_zero();
                    fault.latency = fault.latency.saturating_add(d);
                    t = later(t, d);
                }
                FilterStep::Close => {
                    out.push(Item::Close(t));
                    (changed, fault.drop, ended) = (true, true, true);
                    break;
                }
                FilterStep::Reset => {
                    out.push(Item::Reset(t));
                    (changed, fault.drop, ended) = (true, true, true);
                    break;
                }
            }
        }
        if !ended && offset < data.len() {
            out.push(Item::Data(t, if offset == 0 { data } else { data.slice(offset..) }));
        }
        *free_at = Some(t);
        if changed {
            if fault.latency.is_zero() && !fault.drop {
                // Bytes replaced or replies sent: a 1 ns marker, as for the byte-shaping toxics.
                fault.latency = Duration::from_nanos(1);
            }
            seed.record_filter(&self.toxic, fault);
        }
    }

    /// Runs one item through the stage. `scratch.held` grows to the longest wait a latency
    /// stage added to an item of this chunk, so that wait can be cut when the latency changes.
    fn apply(&mut self, item: Item, now: Instant, out: &mut Vec<Item>, scratch: &mut Scratch, seed: &StreamSeed) {
        let item = match item {
            Item::Data(at, data) if matches!(self.state, State::Filter { .. }) => {
                return self.filter(at, data, out, scratch, seed);
            }
            item => item,
        };
        let held = &mut scratch.held;
        match (&mut self.state, item) {
            (State::Pass, item) => out.push(item),
            (State::Filter { free_at, .. }, Item::Eof(at)) => out.push(Item::Eof(free_at.map_or(at, |f| f.max(at)))),
            (State::Latency { last }, Item::Data(at, data)) => {
                let ToxicKind::Latency { latency, jitter } = self.toxic.kind else {
                    unreachable!("latency state without latency toxic")
                };
                let offset = if jitter > 0 { self.rng.random_range(-jitter..jitter) } else { 0 };
                let delay = ms(latency.saturating_add(offset));
                let mut release = later(at, delay);
                if let Some(prev) = *last {
                    release = release.max(prev);
                }
                *last = Some(release);
                *held = (*held).max(release.saturating_duration_since(at));
                out.push(Item::Data(release, data));
            }
            (State::Latency { last }, Item::Eof(at)) => {
                let release = last.map_or(at, |l| l.max(at));
                *held = (*held).max(release.saturating_duration_since(at));
                out.push(Item::Eof(release));
            }
            (State::Bandwidth { free_at }, Item::Data(at, data)) => {
                let ToxicKind::Bandwidth { rate } = self.toxic.kind else {
                    unreachable!("bandwidth state without bandwidth toxic")
                };
                // rate KB/s is rate bytes per millisecond; pieces carry 100 ms of data like Toxiproxy's.
                let rate = rate.max(1) as u64;
                let piece = usize::try_from(rate.saturating_mul(100)).unwrap_or(usize::MAX).max(1);
                let mut t = at.max(now);
                if let Some(f) = *free_at {
                    t = t.max(f);
                }
                let mut push = |t: &mut Instant, bytes: Bytes| {
                    *t = later(*t, Duration::from_nanos((bytes.len() as u64).saturating_mul(1_000_000) / rate));
                    out.push(Item::Data(*t, bytes));
                };
                if data.len() <= piece {
                    push(&mut t, data);
                } else {
                    for start in (0..data.len()).step_by(piece) {
                        push(&mut t, data.slice(start..data.len().min(start.saturating_add(piece))));
                    }
                }
                *free_at = Some(t);
            }
            (State::Bandwidth { free_at }, Item::Eof(at)) => out.push(Item::Eof(free_at.map_or(at, |f| f.max(at)))),
            (State::SlowClose, Item::Eof(at)) => {
                let ToxicKind::SlowClose { delay } = self.toxic.kind else {
                    unreachable!("slow_close state without slow_close toxic")
                };
                out.push(Item::Eof(later(at, ms(delay))));
            }
            (State::Timeout { deadline }, Item::Data(at, _dropped)) => {
                if let ToxicKind::Timeout { timeout } = self.toxic.kind
                    && timeout > 0
                {
                    *deadline = Some(later(at.max(now), ms(timeout)));
                }
            }
            (State::ResetPeer, Item::Data(at, _swallowed)) => {
                let ToxicKind::ResetPeer { timeout } = self.toxic.kind else {
                    unreachable!("reset_peer state without reset_peer toxic")
                };
                out.push(Item::Reset(later(at, ms(timeout))));
            }
            (State::Slicer { free_at }, Item::Data(at, data)) => {
                let ToxicKind::Slicer { average_size, size_variation, delay } = self.toxic.kind else {
                    unreachable!("slicer state without slicer toxic")
                };
                let cuts = slice_points(data.len(), average_size, size_variation, &mut self.rng);
                let step = Duration::from_micros(delay.max(0) as u64);
                let mut t = at;
                if let Some(f) = *free_at {
                    t = t.max(f);
                }
                let mut start = 0;
                for end in cuts {
                    out.push(Item::Data(t, data.slice(start..end)));
                    t = later(t, step);
                    start = end;
                }
                *free_at = Some(t);
            }
            (State::LimitData { sent }, Item::Data(at, mut data)) => {
                let ToxicKind::LimitData { bytes } = self.toxic.kind else {
                    unreachable!("limit_data state without limit_data toxic")
                };
                let limit = bytes.max(0) as u64;
                let remaining = limit.saturating_sub(*sent) as usize;
                data.truncate(remaining);
                *sent += data.len() as u64;
                if !data.is_empty() {
                    out.push(Item::Data(at, data));
                }
                if *sent >= limit {
                    out.push(Item::Close(at));
                }
            }
            (_, item) => out.push(item),
        }
    }
}

/// Where to cut a chunk of `len` bytes: Toxiproxy's recursive bisection, done with an explicit
/// stack, with each cut clamped so no slice is empty. Returns the end offset of each slice.
fn slice_points(len: usize, average: i64, variation: i64, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let average = average.max(1) as usize;
    let variation = variation.max(0) as usize;
    let mut ends = Vec::with_capacity(len / average + 1);
    // Ranges still to split, processed left to right.
    let mut stack = vec![(0usize, len)];
    while let Some((start, end)) = stack.pop() {
        let size = end - start;
        if size <= average + variation || size < 2 {
            ends.push(end);
            continue;
        }
        let offset = if variation > 0 { rng.random_range(0..2 * variation) as isize - variation as isize } else { 0 };
        let mid = ((start + size / 2) as isize + offset).clamp(start as isize + 1, end as isize - 1) as usize;
        stack.push((mid, end));
        stack.push((start, mid));
    }
    ends
}

/// What a chain update means for the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// Keep going.
    Continue,
    /// An active `timeout` toxic was removed: Toxiproxy closes the connection, because the stream
    /// would otherwise go on with a hole in it.
    Close,
}

/// The live chain of one direction of one connection.
#[derive(Debug)]
pub(crate) struct Chain {
    seed: StreamSeed,
    stages: Vec<Stage>,
}

impl Chain {
    pub(crate) fn new(seed: StreamSeed) -> Self {
        Chain { seed, stages: Vec::new() }
    }

    /// Brings the chain in line with the proxy's current toxics for this direction. Unchanged toxics
    /// keep their stage and draw; changed ones draw again from their continuing random stream and
    /// keep `limit_data`'s byte count; new ones get a fresh stream.
    pub(crate) fn update(&mut self, toxics: &[Toxic], now: Instant) -> Update {
        let mut old = std::mem::take(&mut self.stages);
        let mut stages = Vec::with_capacity(toxics.len());
        for toxic in toxics {
            match old.iter().position(|s| s.toxic.name == toxic.name) {
                Some(i) => {
                    let stage = old.swap_remove(i);
                    if stage.toxic == *toxic {
                        stages.push(stage);
                    } else {
                        let sent = match stage.state {
                            State::LimitData { sent } => Some(sent),
                            _ => None,
                        };
                        let mut fresh = Stage::new(toxic, stage.rng, now, &self.seed);
                        if let (State::LimitData { sent: s }, Some(sent)) = (&mut fresh.state, sent) {
                            *s = sent;
                        }
                        stages.push(fresh);
                    }
                }
                None => stages.push(Stage::new(toxic, self.seed.rng_for(&toxic.name), now, &self.seed)),
            }
        }
        self.stages = stages;
        let removed_timeout = old.iter().any(|s| s.active && matches!(s.toxic.kind, ToxicKind::Timeout { .. }));
        if removed_timeout { Update::Close } else { Update::Continue }
    }

    /// Whether an active latency stage wants chunks read ahead, so back-to-back chunks pipeline.
    pub(crate) fn buffers(&self) -> bool {
        self.stages.iter().any(|s| s.active && matches!(s.toxic.kind, ToxicKind::Latency { .. }))
    }

    /// The earliest instant at which a `timeout` stage closes the connection, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.stages
            .iter()
            .filter_map(|s| match s.state {
                State::Timeout { deadline } => deadline,
                _ => None,
            })
            .min()
    }

    /// Runs one item through every stage; stops at the first close or reset.
    #[cfg(test)]
    pub(crate) fn process(&mut self, item: Item, now: Instant) -> Vec<Item> {
        self.process_held(item, now).0
    }

    /// Runs one item through every stage; stops at the first close or reset. Also returns how
    /// long latency stages hold the items (the part of their wait a latency change may cut).
    pub(crate) fn process_held(&mut self, item: Item, now: Instant) -> (Vec<Item>, Scratch) {
        let mut items = vec![item];
        let mut scratch = Scratch::default();
        for stage in &mut self.stages {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if item.is_terminal() {
                    out.push(item);
                } else {
                    stage.apply(item, now, &mut out, &mut scratch, &self.seed);
                }
            }
            if let Some(i) = out.iter().position(Item::is_terminal) {
                out.truncate(i + 1);
            }
            items = out;
        }
        (items, scratch)
    }

    /// The active latency stages as (name, latency, jitter): when this changes, data already
    /// held is retimed (see [`Chain::latency_bound`]).
    pub(crate) fn latency_signature(&self) -> Vec<(&str, i64, i64)> {
        self.stages
            .iter()
            .filter(|s| s.active)
            .filter_map(|s| match s.toxic.kind {
                ToxicKind::Latency { latency, jitter } => Some((s.toxic.name.as_str(), latency, jitter)),
                _ => None,
            })
            .collect()
    }

    /// The longest a chunk arriving now would be held by the active latency stages (latency plus
    /// jitter, summed). Data held longer under an older setting is released by this bound:
    /// deleting the toxic, lowering its latency or resetting the proxy releases it at once, as in
    /// Toxiproxy, while raising it does not hold back what is already waiting.
    pub(crate) fn latency_bound(&self) -> Duration {
        self.latency_signature().iter().fold(Duration::ZERO, |sum, &(_, latency, jitter)| {
            sum.saturating_add(ms(latency)).saturating_add(ms(jitter))
        })
    }

    /// Whether each stage's toxicity draw made it apply, by toxic name (for tests).
    #[cfg(test)]
    fn draws(&self) -> Vec<(String, bool)> {
        self.stages.iter().map(|s| (s.toxic.name.clone(), s.active)).collect()
    }
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

/// `at + d` that never panics: attributes are range-checked, but an instant this far out
/// (past the platform's clock range) only means "never" anyway.
pub(crate) fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d).or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 86_400))).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toxic(name: &str, kind: ToxicKind) -> Toxic {
        Toxic::new(name, Stream::Downstream, kind)
    }

    #[test]
    fn same_seed_gives_same_draws_and_other_seeds_differ() {
        let toxics: Vec<Toxic> = (0..32).map(|i| toxic(&format!("t{i}"), ToxicKind::Noop).with_toxicity(0.5)).collect();
        let draws = |seed: u64, conn: u64| {
            let mut c = Chain::new(StreamSeed::new(seed, "p", conn));
            c.update(&toxics, Instant::now());
            c.draws()
        };
        assert_eq!(draws(7, 3), draws(7, 3));
        assert_ne!(draws(7, 3), draws(8, 3));
        assert_ne!(draws(7, 3), draws(7, 4));
        let hits = draws(7, 3).iter().filter(|(_, a)| *a).count();
        assert!((4..=28).contains(&hits), "toxicity 0.5 applied {hits}/32");
    }

    #[test]
    fn slices_cover_the_chunk_within_bounds() {
        let mut rng = StreamSeed::new(1, "p", 0).rng_for("s");
        let ends = slice_points(10_000, 100, 20, &mut rng);
        assert_eq!(*ends.last().unwrap(), 10_000);
        let mut start = 0;
        for e in ends {
            assert!(e > start && e - start <= 120, "slice {start}..{e}");
            start = e;
        }
    }

    #[test]
    fn limit_data_truncates_then_closes_and_survives_updates() {
        let now = Instant::now();
        let mut c = Chain::new(StreamSeed::new(0, "p", 0));
        c.update(&[toxic("l", ToxicKind::LimitData { bytes: 10 })], now);
        assert_eq!(
            c.process(Item::Data(now, Bytes::from(vec![1; 6])), now),
            vec![Item::Data(now, Bytes::from(vec![1; 6]))]
        );
        c.update(&[toxic("l", ToxicKind::LimitData { bytes: 12 })], now);
        assert_eq!(
            c.process(Item::Data(now, Bytes::from(vec![2; 16])), now),
            vec![Item::Data(now, Bytes::from(vec![2; 6])), Item::Close(now)]
        );
    }

    #[test]
    fn latency_keeps_order_and_pipelines() {
        let now = Instant::now();
        let mut c = Chain::new(StreamSeed::new(0, "p", 0));
        c.update(&[toxic("l", ToxicKind::Latency { latency: 100, jitter: 0 })], now);
        let a = c.process(Item::Data(now, Bytes::from(vec![1])), now);
        let b = c.process(Item::Data(now + ms(1), Bytes::from(vec![2])), now);
        assert_eq!(a, vec![Item::Data(now + ms(100), Bytes::from(vec![1]))]);
        assert_eq!(b, vec![Item::Data(now + ms(101), Bytes::from(vec![2]))]);
    }

    #[test]
    fn removing_an_active_timeout_closes() {
        let now = Instant::now();
        let mut c = Chain::new(StreamSeed::new(0, "p", 0));
        c.update(&[toxic("t", ToxicKind::Timeout { timeout: 0 })], now);
        assert_eq!(c.process(Item::Data(now, Bytes::from(vec![1])), now), vec![]);
        assert_eq!(c.deadline(), None);
        assert_eq!(c.update(&[], now), Update::Close);
    }
}
