//! Chaos points: where code under test asks whether a fault happens, and the one
//! function that decides.
//!
//! - [`ChaosContext`]: an iteration's handle; steps call its chaos points.
//! - [`Point`], [`PointKind`], [`Action`]: what is asked and what an injector answers.
//! - [`Draws`]: an injector's seeded stream for the current iteration.
//! - [`Event`]: what code reports for validators (recursion depth, panics, errors, metrics).
//! - [`Injector`], [`AsyncHooks`]: the injector contract the seam asks (built-ins in `inject`).
//! - [`DecisionRecord`], [`DecisionLog`]: decisions as the journal keeps them.
//!
//! Every fault decision goes through one function (`IterationState::ask`): for each injector
//! that answers the point's kind (in declaration order), it takes the answer from the
//! decision source (the injector deciding from its seeded stream, or a schedule during replay
//! and shrink) and appends what fired to the iteration's journal, with the occurrence of the
//! point within the iteration. Chaos points, the per-iteration and whole-run decisions of
//! injectors that act around iterations (proxy faults), failpoints and plugin adapters all go
//! through it. Once the run has ended, every context of it is inert, whoever still holds one.
//!
//! Combination rule when several injectors answer one kind: all of them are asked, so
//! each stream advances the same way whatever the others do. Delays and network latency
//! add up and a drop by any wins; for panic, error, cancel and failpoint the first
//! injector that fires (in declaration order) decides the action. Every injector that
//! fired is recorded in the journal.

mod current;
mod decision;
mod event;
mod injector;
mod point;
mod stream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use current::{
    current, failpoint, maybe_cancel, maybe_delay, maybe_error, maybe_network, maybe_panic, record_error,
    record_metric, record_panic, record_recursion_depth, with_current,
};
pub(crate) use current::{on_thread, scope as scope_task};
pub use decision::{DECISION_LOG_CAP, DecisionLog, DecisionRecord, LoggedDecisions};
pub(crate) use decision::{Decision, Schedule};
pub use event::Event;
pub(crate) use event::EventLog;
pub use injector::{AsyncHooks, HookFuture, InjectError, Injector, StartContext};
pub(crate) use point::ACTION_NAMES;
pub use point::{Action, Capabilities, ChaosError, NetworkFault, Point, PointKind};
pub use stream::Draws;
#[cfg(feature = "plugins")]
pub(crate) use stream::LazyStream;
#[cfg(feature = "proxy")]
pub(crate) use stream::derive;
pub(crate) use stream::{RUN, StreamSlot, key as stream_key, mix};

const KINDS: usize = PointKind::ALL.len();

/// One injector as the run sees it.
pub(crate) struct PlannedInjector {
    /// Unique within the scenario; also names the injector's random streams, so adding,
    /// removing or reordering other injectors never changes this one's draws.
    pub(crate) label: Arc<str>,
    pub(crate) injector: Arc<dyn Injector>,
    pub(crate) scope: Option<u16>,
}

/// Interned chaos points: `(kind, name, scope)` to a run-wide id.
#[derive(Default)]
pub(crate) struct PointTable {
    /// Keyed by `(kind, scope)`, then by name, so a lookup borrows the name instead of
    /// allocating a key on the decision path.
    ids: HashMap<(PointKind, Option<u16>), HashMap<Arc<str>, u32>>,
    points: Vec<(PointKind, Arc<str>, Option<u16>)>,
}

impl PointTable {
    fn get(&self, kind: PointKind, name: &str, scope: Option<u16>) -> Option<u32> {
        self.ids.get(&(kind, scope))?.get(name).copied()
    }

    fn intern(&mut self, kind: PointKind, name: &str, scope: Option<u16>) -> u32 {
        if let Some(id) = self.get(kind, name, scope) {
            return id;
        }
        let id = self.points.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.points.push((kind, name.clone(), scope));
        self.ids.entry((kind, scope)).or_default().insert(name, id);
        id
    }
}

/// Everything a run's chaos points need, fixed when the run starts.
pub(crate) struct ChaosPlan {
    pub(crate) seed: u64,
    pub(crate) injectors: Vec<PlannedInjector>,
    /// Injectors whose fault is decided and applied per iteration (see `AsyncHooks`).
    pub(crate) per_iteration: Vec<u32>,
    /// Injectors whose fault is decided once and lasts the whole run (see `AsyncHooks`).
    pub(crate) whole_run: Vec<u32>,
    stream_keys: Vec<u64>,
    /// Each injector's site pattern (`Injector::target`): it is asked, and counted as
    /// reached, only at points whose name matches.
    targets: Box<[Option<Box<str>>]>,
    by_kind: [Box<[u32]>; KINDS],
    active: u8,
    pub(crate) scopes: Vec<Arc<str>>,
    steps: Vec<(Arc<str>, Option<u16>)>,
    points: RwLock<PointTable>,
    /// Set when the run ends: every context of the run is inert from then on.
    ended: AtomicBool,
    /// Wakes `fail_point!` sites while this plan injects failpoints (see `crate::fail`).
    _fail_sites: crate::fail::RunArming,
}

impl ChaosPlan {
    pub(crate) fn new(
        seed: u64,
        injectors: Vec<PlannedInjector>,
        scopes: Vec<Arc<str>>,
        steps: Vec<(Arc<str>, Option<u16>)>,
    ) -> Self {
        let by_kind = std::array::from_fn(|k| {
            let kind = PointKind::ALL[k];
            injectors
                .iter()
                .enumerate()
                // An injector that can never fire (p = 0) is settled here, not at every point.
                .filter(|(_, p)| p.injector.capabilities().answers(kind) && !p.injector.is_inert())
                .map(|(i, _)| i as u32)
                .collect::<Box<[u32]>>()
        });
        let active =
            injectors.iter().filter(|p| !p.injector.is_inert()).fold(0, |m, p| m | p.injector.capabilities().bits());
        let targets = injectors.iter().map(|p| p.injector.target().map(Box::from)).collect();
        // Step points get the first ids, so the hot path finds them without a lookup.
        let mut table = PointTable::default();
        for (name, scope) in &steps {
            for kind in PointKind::ALL {
                table.intern(kind, name, *scope);
            }
        }
        let stream_keys = injectors.iter().map(|p| stream_key(&p.label)).collect();
        let around = |per_iteration: bool| {
            (0..injectors.len() as u32)
                .filter(|&i| injectors[i as usize].injector.hooks().is_some_and(|h| h.per_iteration() == per_iteration))
                .collect::<Vec<u32>>()
        };
        let (per_iteration, whole_run) = (around(true), around(false));
        ChaosPlan {
            seed,
            injectors,
            per_iteration,
            whole_run,
            stream_keys,
            targets,
            by_kind,
            active,
            scopes,
            steps,
            points: RwLock::new(table),
            ended: AtomicBool::new(false),
            _fail_sites: crate::fail::RunArming::new(active & Capabilities::FAILPOINT.bits() != 0),
        }
    }

    /// Ends the run: from now on every chaos point of it injects nothing.
    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// Number of points whose occurrences are counted without a lookup (the step points).
    fn dense_points(&self) -> usize {
        self.steps.len() * KINDS
    }

    /// A decision with its names resolved, as the journal keeps it.
    pub(crate) fn record(&self, d: &Decision) -> DecisionRecord {
        let (kind, point, scope) = self.point(d.point);
        DecisionRecord {
            injector: self.injectors[d.injector as usize].label.to_string(),
            kind,
            point: point.to_string(),
            scope: scope.map(|s| s.to_string()),
            occurrence: d.occurrence,
            action: d.action.clone(),
        }
    }

    /// A plan with no injectors: every chaos point is a no-op.
    fn inert() -> Arc<ChaosPlan> {
        static INERT: OnceLock<Arc<ChaosPlan>> = OnceLock::new();
        INERT.get_or_init(|| Arc::new(ChaosPlan::new(0, Vec::new(), Vec::new(), Vec::new()))).clone()
    }

    fn point_id(&self, kind: PointKind, step: u32, site: Option<&str>, scope: Option<u16>) -> u32 {
        if site.is_none() && (step as usize) < self.steps.len() && self.steps[step as usize].1 == scope {
            return step * KINDS as u32 + kind.index() as u32;
        }
        let name = site.unwrap_or_else(|| self.step_name(step));
        if let Some(id) = self.points.read().unwrap_or_else(|e| e.into_inner()).get(kind, name, scope) {
            return id;
        }
        self.points.write().unwrap_or_else(|e| e.into_inner()).intern(kind, name, scope)
    }

    fn step_name(&self, step: u32) -> &str {
        self.steps.get(step as usize).map_or("-", |(n, _)| n)
    }

    /// The `(kind, name, scope)` of an interned point.
    pub(crate) fn point(&self, id: u32) -> (PointKind, Arc<str>, Option<Arc<str>>) {
        let table = self.points.read().unwrap_or_else(|e| e.into_inner());
        let (kind, name, scope) = &table.points[id as usize];
        (*kind, name.clone(), scope.map(|s| self.scopes[s as usize].clone()))
    }

    fn scope_id(&self, name: &str) -> Option<u16> {
        self.scopes.iter().position(|s| &**s == name).map(|i| i as u16)
    }
}

/// What the executor reads back from an iteration once its steps are done.
pub(crate) struct IterationTrace {
    pub(crate) decisions: Vec<Decision>,
    pub(crate) events: Vec<Event>,
    pub(crate) dropped_events: u32,
    pub(crate) max_recursion_depth: u32,
    pub(crate) panics: u32,
    pub(crate) errors: u32,
    /// Per injector: how many points it was asked at (coverage's "reached").
    pub(crate) reached: Vec<u32>,
}

struct IterationState {
    plan: Arc<ChaosPlan>,
    active: u8,
    index: u64,
    step: AtomicU32,
    streams: Box<[StreamSlot]>,
    /// Replaces the seeded draws when set (replay, shrink).
    schedule: Option<Arc<Schedule>>,
    /// Visits so far of each step point (dense ids), and of other points by id.
    occurrences: Box<[AtomicU32]>,
    other_occurrences: Mutex<Vec<(u32, u32)>>,
    reached: Box<[AtomicU32]>,
    decisions: Mutex<Vec<Decision>>,
    events: Mutex<EventLog>,
    max_depth: AtomicU32,
    panics: AtomicU32,
    errors: AtomicU32,
    cancel: OnceLock<CancellationToken>,
}

/// An iteration's chaos context: the handle steps use to reach chaos points.
///
/// Cheap to clone (one reference count). Outside a run, use [`ChaosContext::inert`]: every
/// chaos point on it is a no-op. From code that has no context at hand, the free functions
/// in [`chaoskit::points`](crate::points) reach the current one.
#[derive(Clone)]
pub struct ChaosContext {
    state: Arc<IterationState>,
    scope: Option<u16>,
}

impl std::fmt::Debug for ChaosContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosContext")
            .field("iteration", &self.state.index)
            .field("step", &self.step_name())
            .field("scope", &self.scope_name())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChaosContext {
    pub(crate) fn new(plan: Arc<ChaosPlan>, index: u64, schedule: Option<Arc<Schedule>>) -> Self {
        let streams = plan.injectors.iter().map(|_| Mutex::new(None)).collect();
        let occurrences = if plan.active == 0 {
            Box::default()
        } else {
            (0..plan.dense_points()).map(|_| AtomicU32::new(0)).collect()
        };
        // Nothing can be reached when no injector answers a point or acts around iterations:
        // no allocation then (an iteration of a run without live injectors allocates nothing).
        let reached = if plan.active == 0 && plan.per_iteration.is_empty() {
            Box::default()
        } else {
            plan.injectors.iter().map(|_| AtomicU32::new(0)).collect()
        };
        let active = plan.active;
        ChaosContext {
            state: Arc::new(IterationState {
                plan,
                active,
                index,
                step: AtomicU32::new(u32::MAX),
                streams,
                schedule,
                occurrences,
                other_occurrences: Mutex::new(Vec::new()),
                reached,
                decisions: Mutex::new(Vec::new()),
                events: Mutex::new(EventLog::default()),
                max_depth: AtomicU32::new(0),
                panics: AtomicU32::new(0),
                errors: AtomicU32::new(0),
                cancel: OnceLock::new(),
            }),
            scope: None,
        }
    }

    /// A context outside any run: no injector, every chaos point a no-op.
    pub fn inert() -> Self {
        ChaosContext::new(ChaosPlan::inert(), 0, None)
    }

    /// A context for iteration `iteration` of a pretend run with `seed`, answered by
    /// `injectors`: for unit-testing code that takes a `&ChaosContext`, and for benchmarks.
    /// The injectors are not started; decisions are recorded but nobody reads them.
    ///
    /// ```
    /// use chaoskit::{ChaosContext, Injector, inject};
    /// let ctx = ChaosContext::detached(7, 0, [("flaky", inject::error(1.0).into_shared())]);
    /// assert!(ctx.maybe_error().is_err());
    /// ```
    pub fn detached<L: Into<Arc<str>>>(
        seed: u64,
        iteration: u64,
        injectors: impl IntoIterator<Item = (L, Arc<dyn Injector>)>,
    ) -> Self {
        let injectors = injectors
            .into_iter()
            .map(|(label, injector)| PlannedInjector { label: label.into(), injector, scope: None })
            .collect();
        let plan = ChaosPlan::new(seed, injectors, Vec::new(), vec![(Arc::from("detached"), None)]);
        let mut ctx = ChaosContext::new(Arc::new(plan), iteration, None);
        ctx.enter_step(0, None);
        ctx
    }

    pub(crate) fn enter_step(&mut self, step: u32, scope: Option<u16>) {
        self.state.step.store(step, Ordering::Relaxed);
        self.scope = scope;
    }

    /// The iteration index (0-based).
    pub fn iteration(&self) -> u64 {
        self.state.index
    }

    /// The scenario seed of this run.
    pub fn seed(&self) -> u64 {
        self.state.plan.seed
    }

    /// The name of the step running now, or `-` between steps.
    pub fn step_name(&self) -> &str {
        self.state.plan.step_name(self.state.step.load(Ordering::Relaxed))
    }

    /// The scope chaos points of this handle belong to.
    pub fn scope_name(&self) -> Option<&str> {
        self.scope.map(|s| &*self.state.plan.scopes[s as usize])
    }

    /// A handle whose chaos points belong to `scope`: injectors declared in that scope
    /// apply to them, injectors of other scopes do not. An unknown scope matches no scoped
    /// injector.
    pub fn in_scope(&self, scope: &str) -> ChaosContext {
        let id = self.state.plan.scope_id(scope).unwrap_or(u16::MAX);
        ChaosContext { state: self.state.clone(), scope: Some(id).filter(|&i| i != u16::MAX) }
    }

    /// Whether some injector answers `kind`: the whole cost of an idle chaos point.
    #[inline(always)]
    pub(crate) fn answers(&self, kind: PointKind) -> bool {
        self.state.active & Capabilities::of(kind).bits() != 0
    }

    /// Asks the injectors at a chaos point of `kind` named `site` (the current step when
    /// `None`), records what fired, and returns the combined action. This is the one
    /// function every fault decision goes through.
    pub fn decide(&self, kind: PointKind, site: Option<&str>) -> Action {
        if !self.answers(kind) {
            return Action::None;
        }
        self.decide_slow(kind, site)
    }

    #[inline(never)]
    fn decide_slow(&self, kind: PointKind, site: Option<&str>) -> Action {
        let state = &*self.state;
        let plan = &*state.plan;
        if plan.ended.load(Ordering::Acquire) {
            return Action::None;
        }
        let step = state.step.load(Ordering::Relaxed);
        let id = plan.point_id(kind, step, site, self.scope);
        let name = site.unwrap_or_else(|| plan.step_name(step));
        let point = Point { id, kind, name, scope: self.scope_name(), iteration: state.index };
        let occurrence = state.visit(id);
        let mut combined = Action::None;
        for &i in plan.by_kind[kind.index()].iter() {
            let planned = &plan.injectors[i as usize];
            if planned.scope.is_some() && planned.scope != self.scope {
                continue;
            }
            // Coverage: count the points this injector is asked at (its site pattern, if
            // any, must match). A per-iteration counter, summed per worker by the tally.
            if let Some(pattern) = &plan.targets[i as usize]
                && !crate::sites::matches(pattern, name)
            {
                continue;
            }
            state.reached[i as usize].fetch_add(1, Ordering::Relaxed);
            combined = combine(combined, state.ask(i, &point, occurrence));
        }
        combined
    }

    /// Decides whether injector `i`, which acts around iterations, applies its fault: at the
    /// point of kind `network` named `iteration` (per-iteration injectors) or `run` (whole-run
    /// injectors, asked once on the run's context). Recorded like any other decision.
    pub(crate) fn decide_around(&self, i: u32) -> bool {
        let state = &*self.state;
        let plan = &*state.plan;
        if plan.ended.load(Ordering::Acquire) {
            return false;
        }
        let name = if state.index == RUN { "run" } else { "iteration" };
        let id = plan.point_id(PointKind::Network, u32::MAX, Some(name), None);
        let point = Point { id, kind: PointKind::Network, name, scope: None, iteration: state.index };
        // Each such injector is asked once per iteration (or run): its own first visit.
        if let Some(reached) = state.reached.get(i as usize) {
            reached.fetch_add(1, Ordering::Relaxed);
        }
        !state.ask(i, &point, 0).is_none()
    }

    /// A chaos point that may slow the caller down; returns the delay applied.
    ///
    /// Never sleeps for a zero delay (a zero `tokio` sleep still waits for the next timer tick).
    pub async fn maybe_delay(&self) -> Duration {
        if !self.answers(PointKind::Delay) {
            return Duration::ZERO;
        }
        match self.decide_slow(PointKind::Delay, None) {
            Action::Delay(d) if !d.is_zero() => {
                tokio::time::sleep(d).await;
                d
            }
            _ => Duration::ZERO,
        }
    }

    /// [`maybe_delay`](Self::maybe_delay) for blocking code: sleeps the thread.
    pub fn maybe_delay_blocking(&self) -> Duration {
        if !self.answers(PointKind::Delay) {
            return Duration::ZERO;
        }
        match self.decide_slow(PointKind::Delay, None) {
            Action::Delay(d) if !d.is_zero() => {
                std::thread::sleep(d);
                d
            }
            _ => Duration::ZERO,
        }
    }

    /// A chaos point that may panic (with the injector's message).
    #[inline]
    pub fn maybe_panic(&self) {
        if !self.answers(PointKind::Panic) {
            return;
        }
        if let Action::Panic(message) = self.decide_slow(PointKind::Panic, None) {
            std::panic::panic_any(message);
        }
    }

    /// A chaos point that may fail; an injected error is also recorded as an error event.
    #[inline]
    pub fn maybe_error(&self) -> Result<(), ChaosError> {
        if !self.answers(PointKind::Error) {
            return Ok(());
        }
        match self.decide_slow(PointKind::Error, None) {
            Action::Error(message) => {
                self.record_error(&message);
                Err(ChaosError { message })
            }
            _ => Ok(()),
        }
    }

    /// A cancellation token for one operation: a child of the iteration's token, cancelled
    /// at once if an injector decides to cancel.
    pub fn maybe_cancel(&self) -> CancellationToken {
        let token = self.cancellation_token().child_token();
        if self.answers(PointKind::Cancel) && matches!(self.decide_slow(PointKind::Cancel, None), Action::Cancel) {
            token.cancel();
        }
        token
    }

    /// A chaos point before a connection to `host:port`: sleeps any latency decided and
    /// returns what was applied, so the caller can honour a drop.
    pub async fn maybe_network(&self, host: &str, port: u16) -> NetworkFault {
        if !self.answers(PointKind::Network) {
            return NetworkFault::NONE;
        }
        let site = format!("{host}:{port}");
        match self.decide_slow(PointKind::Network, Some(&site)) {
            Action::Network(fault) => {
                if !fault.latency.is_zero() {
                    tokio::time::sleep(fault.latency).await;
                }
                fault
            }
            _ => NetworkFault::NONE,
        }
    }

    /// A named failpoint: applies whatever is decided (sleeps a delay, returns an error,
    /// panics, or cancels the iteration's token and returns an error).
    pub async fn failpoint(&self, name: &str) -> Result<(), ChaosError> {
        if !self.answers(PointKind::Failpoint) {
            return Ok(());
        }
        self.apply(self.decide_slow(PointKind::Failpoint, Some(name))).await
    }

    async fn apply(&self, action: Action) -> Result<(), ChaosError> {
        match action {
            Action::None => Ok(()),
            Action::Delay(d) | Action::Network(NetworkFault { latency: d, drop: false }) => {
                if !d.is_zero() {
                    tokio::time::sleep(d).await;
                }
                Ok(())
            }
            Action::Network(NetworkFault { latency, drop: true }) => {
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                Err(ChaosError { message: "connection dropped".into() })
            }
            Action::Error(message) => {
                self.record_error(&message);
                Err(ChaosError { message })
            }
            Action::Panic(message) => std::panic::panic_any(message),
            Action::Cancel => {
                self.cancellation_token().cancel();
                Err(ChaosError { message: "cancelled".into() })
            }
        }
    }

    /// The iteration's cancellation token: cancelled when an injector cancels the iteration
    /// or when the executor abandons a step that ran past its timeout. Long-running code can
    /// watch it to stop early.
    pub fn cancellation_token(&self) -> &CancellationToken {
        self.state.cancel.get_or_init(CancellationToken::new)
    }

    /// Whether the iteration was cancelled (see [`cancellation_token`](Self::cancellation_token)).
    pub fn is_cancelled(&self) -> bool {
        self.state.cancel.get().is_some_and(|t| t.is_cancelled())
    }

    /// Reports the current recursion depth (validators bound the maximum).
    pub fn record_recursion_depth(&self, depth: u32) {
        let previous = self.state.max_depth.fetch_max(depth, Ordering::Relaxed);
        if depth > previous {
            lock(&self.state.events).push(Event::RecursionDepth(depth));
        }
    }

    /// Reports a panic the code caught itself.
    pub fn record_panic(&self, message: &str) {
        self.state.panics.fetch_add(1, Ordering::Relaxed);
        lock(&self.state.events).push(Event::Panic(message.to_owned()));
    }

    /// Reports an error the code handled.
    pub fn record_error(&self, message: &str) {
        self.state.errors.fetch_add(1, Ordering::Relaxed);
        lock(&self.state.events).push(Event::Error(message.to_owned()));
    }

    /// Reports a named measurement.
    pub fn record_metric(&self, name: &str, value: f64) {
        lock(&self.state.events).push(Event::Metric(name.to_owned(), value));
    }

    /// Takes what the iteration recorded (the executor calls this once, after the steps).
    pub(crate) fn take_trace(&self) -> IterationTrace {
        let state = &*self.state;
        let decisions = std::mem::take(&mut *lock(&state.decisions));
        let log = std::mem::take(&mut *lock(&state.events));
        IterationTrace {
            decisions,
            events: log.events,
            dropped_events: log.dropped,
            max_recursion_depth: state.max_depth.load(Ordering::Relaxed),
            panics: state.panics.load(Ordering::Relaxed),
            errors: state.errors.load(Ordering::Relaxed),
            reached: state.reached.iter().map(|r| r.swap(0, Ordering::Relaxed)).collect(),
        }
    }
}

impl IterationState {
    /// The one decision function: injector `i`'s answer at this visit of `point`, from the
    /// decision source (its seeded stream, or the schedule), recorded in the journal when it
    /// fires.
    fn ask(&self, i: u32, point: &Point<'_>, occurrence: u32) -> Action {
        let plan = &*self.plan;
        let action = match &self.schedule {
            Some(schedule) => schedule.lookup(i, point.kind, point.name, point.scope, occurrence),
            None => {
                let mut draws =
                    Draws::from_slot(&self.streams[i as usize], plan.seed, plan.stream_keys[i as usize], self.index);
                plan.injectors[i as usize].injector.decide(point, &mut draws)
            }
        };
        if !action.is_none() {
            lock(&self.decisions).push(Decision { injector: i, point: point.id, occurrence, action: action.clone() });
        }
        action
    }

    /// Counts a visit of point `id`; returns how many came before it in this iteration.
    fn visit(&self, id: u32) -> u32 {
        if let Some(counter) = self.occurrences.get(id as usize) {
            return counter.fetch_add(1, Ordering::Relaxed);
        }
        let mut other = lock(&self.other_occurrences);
        match other.iter_mut().find(|(p, _)| *p == id) {
            Some((_, n)) => {
                *n += 1;
                *n - 1
            }
            None => {
                other.push((id, 1));
                0
            }
        }
    }
}

pub(crate) fn combine(current: Action, next: Action) -> Action {
    match (current, next) {
        (Action::None, next) => next,
        (Action::Delay(a), Action::Delay(b)) => Action::Delay(a.saturating_add(b)),
        (Action::Network(a), Action::Network(b)) => {
            Action::Network(NetworkFault { latency: a.latency.saturating_add(b.latency), drop: a.drop || b.drop })
        }
        // A delay already decided does not stop a later panic/error/cancel from applying.
        (Action::Delay(_), next @ (Action::Error(_) | Action::Panic(_) | Action::Cancel)) => next,
        (current, _) => current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_add_up_and_first_error_wins() {
        let d = |ms| Action::Delay(Duration::from_millis(ms));
        assert_eq!(combine(d(2), d(3)), d(5));
        assert_eq!(combine(Action::Error("a".into()), Action::Error("b".into())), Action::Error("a".into()));
        let n = |ms, drop| Action::Network(NetworkFault { latency: Duration::from_millis(ms), drop });
        assert_eq!(combine(n(1, false), n(2, true)), n(3, true));
    }

    #[test]
    fn inert_context_is_a_no_op() {
        let ctx = ChaosContext::inert();
        ctx.maybe_panic();
        assert!(ctx.maybe_error().is_ok());
        assert!(!ctx.maybe_cancel().is_cancelled());
        assert_eq!(ctx.decide(PointKind::Failpoint, Some("x")), Action::None);
    }
}
