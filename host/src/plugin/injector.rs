//! A loaded injector component as an ordinary [`Injector`](crate::Injector).

mod exports;

pub(crate) use exports::ExportsPre;

use super::error::{FailureKind, PluginError};
use super::fresh::{self, BuildError};
use super::health::Health;
use super::reload::{Reload, Watch};
use super::runtime::{self, Compiled, Pre, Runtime};
use super::state::{PluginState, Shared};
use super::wasi::{self, Capabilities};
use super::{PluginSpec, World};
use crate::chaos::{Action, Capabilities as Actions, Draws, Point};
use crate::inject::{InjectError, Injector, StartContext};
use arc_swap::ArcSwap;
use exports::{Decided, Exports, Text};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wasmtime::Store;

/// Registration state of a chaos point in one instance.
const UNKNOWN: u8 = 0;
const WANTED: u8 = 1;
const IGNORED: u8 = 2;

/// One instance of one version: its store, exports and which points it registered.
struct Instance {
    store: Store<PluginState>,
    exports: Exports,
    points: Vec<u8>,
}

/// One loaded version of the plugin file, with its pool of idle instances.
pub(crate) struct Version {
    hash: [u8; 32],
    short: String,
    pre: ExportsPre,
    /// Linked with wasmtime-wasi: calls go through [`wasi::off_runtime`].
    wasi: bool,
    capabilities: Actions,
    #[expect(clippy::vec_box, reason = "taking an instance out and back moves a pointer, not ~200 bytes")]
    idle: Mutex<Vec<Box<Instance>>>,
    /// Signalled when an instance comes back or one is dropped (room to build another).
    returned: Condvar,
    /// Workers waiting on `returned`, counted under the `idle` lock. A notify is a system call
    /// even with nobody waiting (std's futex condvar does not count waiters), which would be
    /// paid on every decision; only a put that finds a waiter makes it.
    waiting: AtomicUsize,
    live: AtomicUsize,
}

impl Version {
    fn put(&self, instance: Box<Instance>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(instance);
        let wake = self.waiting.load(Ordering::Relaxed) > 0;
        drop(idle);
        if wake {
            self.returned.notify_one();
        }
    }

    /// An instance was dropped (it trapped): room for a new one.
    fn discard(&self) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        self.live.fetch_sub(1, Ordering::Relaxed);
        let wake = self.waiting.load(Ordering::Relaxed) > 0;
        drop(idle);
        if wake {
            self.returned.notify_one();
        }
    }
}

/// Everything behind a [`WasmInjector`]; shared with its reload watcher.
pub(crate) struct Core {
    rt: Arc<Runtime>,
    path: PathBuf,
    spec: PluginSpec,
    shared: Arc<Shared>,
    current: ArcSwap<Version>,
    health: Health,
    generation: AtomicU64,
    /// Decisions that waited for an instance (every one busy, at the instance limit).
    busy: AtomicU64,
    /// Decisions that found no instance even after waiting (failed open).
    starved: AtomicU64,
    /// Delays asked for over `max_delay` (each applied as `max_delay`), and the largest asked.
    capped: AtomicU64,
    largest_ask: AtomicU64,
}

impl Core {
    fn build(&self, version: &Version) -> Result<(Instance, Actions), BuildError> {
        build(&self.rt, &self.shared, &self.spec, &version.pre, version.wasi)
    }

    /// An instance for one call: an idle one, a new one within the instance limit, or else
    /// the next one another worker gives back. A decision never skips for lack of an instance
    /// (that would make it depend on timing); the wait is bounded by the other calls'
    /// deadlines. `None` only when a new instance cannot be built (a failure, reported).
    fn take(&self, version: &Version) -> Option<Box<Instance>> {
        // Every call returns its instance within its deadline; waiting longer than a few
        // deadlines means an instance was lost (a host bug): fail open, and say so.
        let patience = self.spec.limits.decide_deadline.saturating_mul(4) + Duration::from_millis(100);
        // Read the clock only once a wait begins (not on the hot path).
        let mut started = None;
        let mut idle = version.idle.lock().unwrap_or_else(|p| p.into_inner());
        let mut waited = false;
        loop {
            if let Some(instance) = idle.pop() {
                return Some(instance);
            }
            // None idle: build one (a new worker, or a rebuild after a failure), within the limit.
            if version.live.fetch_add(1, Ordering::Relaxed) < self.spec.limits.instances {
                break;
            }
            version.live.fetch_sub(1, Ordering::Relaxed);
            if !waited {
                waited = true;
                self.busy.fetch_add(1, Ordering::Relaxed);
            }
            let started = *started.get_or_insert_with(std::time::Instant::now);
            let Some(left) = patience.checked_sub(started.elapsed()) else {
                self.starved.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            // Counted under the lock, so a put (which checks under the lock) cannot miss us.
            version.waiting.fetch_add(1, Ordering::Relaxed);
            idle = version.returned.wait_timeout(idle, left).unwrap_or_else(|p| p.into_inner()).0;
            version.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        drop(idle);
        match self.build(version) {
            Ok((instance, _)) => Some(Box::new(instance)),
            Err(e) => {
                version.discard();
                self.fail(version, e.into_failure());
                None
            }
        }
    }

    fn fail(&self, version: &Version, kind: FailureKind) {
        self.health.fail(&self.shared.name, &version.short, &kind, "the decision injects nothing");
    }

    /// The delay a decision applies: what the plugin asked, at most `max_delay`. The first
    /// capped delay is logged; all are counted for the report.
    fn cap_delay(&self, ns: u64) -> Duration {
        let asked = Duration::from_nanos(ns);
        let max = self.spec.limits.max_delay;
        if asked <= max {
            return asked;
        }
        self.largest_ask.fetch_max(ns, Ordering::Relaxed);
        if self.capped.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                target: "chaoskit::plugin",
                plugin = &*self.shared.name,
                "plugin `{}` asked for a {asked:?} delay, over the limit `max_delay` = {max:?}; applying {max:?}",
                self.shared.name
            );
        }
        max
    }

    fn call(&self, instance: &mut Instance, point: &Point<'_>) -> Result<Action, FailureKind> {
        let limits = &self.spec.limits;
        let memory = limits.memory;
        let index = point.id as usize;
        let mut state = instance.points.get(index).copied().unwrap_or(UNKNOWN);
        if state == UNKNOWN {
            // Cold path, once per point per instance: strings cross the boundary here only.
            let budget = limits.configure_deadline;
            runtime::arm(&mut instance.store, budget);
            let wants = instance
                .exports
                .register_point(&mut instance.store, point.id, point.kind, point.name, point.scope)
                .map_err(|e| runtime::classify(&mut instance.store, &e, "register-point", budget, memory))?;
            if instance.points.len() <= index {
                instance.points.resize(index + 1, UNKNOWN);
            }
            state = if wants { WANTED } else { IGNORED };
            instance.points[index] = state;
        }
        if state == IGNORED {
            return Ok(Action::None);
        }
        let budget = limits.decide_deadline;
        runtime::arm(&mut instance.store, budget);
        let decided = instance
            .exports
            .decide(&mut instance.store, point.id, point.iteration)
            .map_err(|e| runtime::classify(&mut instance.store, &e, "decide", budget, memory))?;
        Ok(match decided {
            Decided::None => Action::None,
            Decided::DelayNs(ns) => Action::Delay(self.cap_delay(ns)),
            Decided::Error(text) => Action::Error(self.message(instance, text)?),
            Decided::Panic(text) => Action::Panic(self.message(instance, text)?),
            Decided::Cancel => Action::Cancel,
        })
    }

    /// The text of an error or panic action, within `max_message`: given (0.1.0), kept from
    /// an earlier call, or asked of the instance with `message` under the cold-path deadline.
    fn message(&self, instance: &mut Instance, text: Text) -> Result<String, FailureKind> {
        let limits = &self.spec.limits;
        let within = |export, m: String| {
            // Dropping `m` here frees an oversized string at once.
            if m.len() > limits.max_message {
                Err(FailureKind::ResultTooLarge { export, bytes: m.len(), limit: limits.max_message })
            } else {
                Ok(m)
            }
        };
        match text {
            Text::Given(m) => within("decide", m),
            Text::Id(id) => instance.exports.message(&mut instance.store, id, |store, world, id| {
                let budget = limits.configure_deadline;
                runtime::arm(store, budget);
                let m = world
                    .call_message(&mut *store, id)
                    .map_err(|e| runtime::classify(store, &e, "message", budget, limits.memory))?;
                within("message", m)
            }),
        }
    }
}

/// Make a fresh instance ready: instantiate, then `configure` within its deadline.
fn build(
    rt: &Runtime,
    shared: &Arc<Shared>,
    spec: &PluginSpec,
    pre: &ExportsPre,
    with_wasi: bool,
) -> Result<(Instance, Actions), BuildError> {
    let limits = &spec.limits;
    let (store, exports, capabilities) = fresh::configured(
        rt,
        shared,
        limits,
        with_wasi,
        limits.decide_deadline,
        |store| pre.instantiate(store),
        |exports, store| exports.configure(store, &spec.config),
    )?;
    Ok((Instance { store, exports, points: Vec::new() }, capabilities))
}

/// Load one version: compile (or reuse), check, link, and configure a first instance.
fn load_version(
    rt: &Runtime,
    shared: &Arc<Shared>,
    spec: &PluginSpec,
    compiled: &Compiled,
) -> Result<Version, PluginError> {
    let path = &spec.path;
    let (Pre::Injector(pre), with_wasi) = runtime::prepare(rt, path, compiled, Some(World::Injector), &shared.caps)?
    else {
        unreachable!("prepare checked the world");
    };
    let (first, capabilities) = build(rt, shared, spec, &pre, with_wasi).map_err(|e| e.into_plugin_error(path))?;
    Ok(Version {
        hash: compiled.hash,
        short: runtime::short_hash(&compiled.hash),
        pre,
        wasi: with_wasi,
        capabilities,
        idle: Mutex::new(vec![Box::new(first)]),
        returned: Condvar::new(),
        waiting: AtomicUsize::new(0),
        live: AtomicUsize::new(1),
    })
}

/// An injector component, usable wherever a [`chaoskit::Injector`](crate::Injector) is.
///
/// Each worker takes its own instance from a small pool (and puts it back after the call), so
/// decisions on different threads never wait for each other. Randomness comes from the
/// iteration's stream for this injector (one draw seeds the guest's `random-u64` for the call),
/// so a replay with the same seed decides the same.
///
/// A call that traps, runs past its deadline or exceeds its memory injects nothing (the
/// decision fails open), the instance is dropped and rebuilt on the next call, and after
/// repeated failures the plugin is disabled; [`notes`](Injector::notes) says so.
pub struct WasmInjector {
    core: Arc<Core>,
    _watch: Option<Watch>,
}

impl std::fmt::Debug for WasmInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmInjector")
            .field("name", &self.name())
            .field("sha256", &self.sha256())
            .finish_non_exhaustive()
    }
}

impl WasmInjector {
    pub(crate) fn load(rt: Arc<Runtime>, spec: PluginSpec, compiled: &Compiled) -> Result<Self, PluginError> {
        let caps = Capabilities::new(&spec.path, &spec.grants, &spec.limits)?;
        let shared = Arc::new(Shared::new(spec.name(), &spec.limits, caps));
        let version = load_version(&rt, &shared, &spec, compiled)?;
        let core = Arc::new(Core {
            path: spec.path.clone(),
            health: Health::new(spec.limits.max_failures, spec.limits.failure_window),
            current: ArcSwap::from_pointee(version),
            rt,
            shared,
            generation: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            starved: AtomicU64::new(0),
            capped: AtomicU64::new(0),
            largest_ask: AtomicU64::new(0),
            spec,
        });
        let watch = if core.spec.watch { Some(Watch::start(&core.path, Arc::downgrade(&core) as _)?) } else { None };
        Ok(Self { core, _watch: watch })
    }

    /// The plugin's name (its file stem unless [`PluginSpec::name`] set one).
    pub fn name(&self) -> &str {
        &self.core.shared.name
    }

    /// The plugin file.
    pub fn path(&self) -> &Path {
        &self.core.path
    }

    /// First 8 hex digits of the SHA-256 of the version now serving.
    pub fn sha256(&self) -> String {
        self.core.current.load().short.clone()
    }

    /// How many times a new version was swapped in (0 until the first hot reload).
    pub fn generation(&self) -> u64 {
        self.core.generation.load(Ordering::Acquire)
    }

    /// Failed calls so far (traps, deadlines, memory, oversized results, failed rebuilds).
    pub fn failures(&self) -> u64 {
        self.core.health.failures()
    }

    /// Whether repeated failures disabled the plugin (it then injects nothing).
    pub fn is_disabled(&self) -> bool {
        self.core.health.is_disabled()
    }

    /// Value of the shared host counter `name`, if the plugin created it.
    pub fn counter(&self, name: &str) -> Option<i64> {
        self.core.shared.counter(name)
    }

    /// Benchmark hook: build a fresh instance of the serving version (and configure it when
    /// `configure`), then drop it. Not part of the stable API.
    #[doc(hidden)]
    pub fn bench_instantiate(&self, configure: bool) -> Result<(), PluginError> {
        let core = &*self.core;
        let version = core.current.load();
        if configure {
            return core.build(&version).map(drop).map_err(|e| e.into_plugin_error(&core.path));
        }
        let limits = &core.spec.limits;
        let mut store = runtime::new_store(&core.rt, &core.shared, limits, version.wasi, limits.decide_deadline)
            .map_err(|kind| BuildError::Failed(kind).into_plugin_error(&core.path))?;
        runtime::arm(&mut store, core.spec.limits.configure_deadline);
        version
            .pre
            .instantiate(&mut store)
            .map(drop)
            .map_err(|e| PluginError::Instantiate { path: core.path.clone(), message: format!("{e:#}") })
    }

    /// Reload the file now (as the watcher does): `Ok(true)` if a new version now serves,
    /// `Ok(false)` if the file did not change; on error the old version keeps serving.
    ///
    /// # Errors
    ///
    /// The new file cannot be read, compiled, linked or configured.
    pub fn reload(&self) -> Result<bool, PluginError> {
        self.core.reload()
    }
}

impl Reload for Core {
    fn reload(&self) -> Result<bool, PluginError> {
        let result = Compiled::new(&self.rt, &self.path).and_then(|compiled| {
            if compiled.hash == self.current.load().hash {
                return Ok(None);
            }
            load_version(&self.rt, &self.shared, &self.spec, &compiled).map(Some)
        });
        match result {
            Ok(None) => Ok(false),
            Ok(Some(version)) => {
                let short = version.short.clone();
                // In-flight calls finish on the old version (they hold it); new calls see the
                // new one. Idle instances of the old version go when its last user drops it.
                self.current.store(Arc::new(version));
                self.health.reloaded();
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!(target: "chaoskit::plugin", plugin = &*self.shared.name, sha256 = short, "plugin `{}` reloaded, now sha256 {short}", self.shared.name);
                Ok(true)
            }
            Err(e) => {
                tracing::error!(target: "chaoskit::plugin", plugin = &*self.shared.name, "{e}; the previous version keeps serving");
                self.health.rejected(format!("{e}; the previous version kept serving"));
                Err(e)
            }
        }
    }
}

impl Injector for WasmInjector {
    fn capabilities(&self) -> Actions {
        self.core.current.load().capabilities
    }

    fn start(&self, _ctx: &StartContext<'_>) -> Result<(), InjectError> {
        self.core.shared.restart_clock();
        Ok(())
    }

    fn decide(&self, point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        let core = &*self.core;
        if core.health.is_disabled() {
            return Action::None;
        }
        let version = core.current.load();
        if !version.capabilities.answers(point.kind) {
            return Action::None;
        }
        let Some(mut instance) = core.take(&version) else {
            return Action::None;
        };
        // The guest's `random-u64` and `wasi:random` draw from this injector's stream for the
        // iteration; its virtual clock starts at the iteration's time.
        instance.store.data_mut().begin_call(Some(draws.lend()), point.iteration);
        let result = if version.wasi {
            wasi::off_runtime(|| core.call(&mut instance, point))
        } else {
            core.call(&mut instance, point)
        };
        if let Some(stream) = instance.store.data_mut().stream.take() {
            draws.restore(stream);
        }
        match result {
            Ok(action) => {
                version.put(instance);
                action
            }
            Err(kind) => {
                // A trapped instance is poisoned: drop it; the next call builds a fresh one.
                drop(instance);
                version.discard();
                core.fail(&version, kind);
                Action::None
            }
        }
    }

    fn notes(&self) -> Vec<String> {
        let core = &*self.core;
        let mut notes = core.health.notes(&core.shared.name, &core.current.load().short, "decisions failed open");
        let busy = core.busy.load(Ordering::Relaxed);
        if busy > 0 {
            notes.push(format!(
                "plugin `{}`: {busy} decisions waited for one of its {} instances (raise `limits.instances` to the run's concurrency)",
                core.shared.name, core.spec.limits.instances
            ));
        }
        let capped = core.capped.load(Ordering::Relaxed);
        if capped > 0 {
            notes.push(format!(
                "plugin `{}` asked for {capped} delays over the limit `max_delay` = {:?} (the longest {:?}); each applied {:?}",
                core.shared.name,
                core.spec.limits.max_delay,
                Duration::from_nanos(core.largest_ask.load(Ordering::Relaxed)),
                core.spec.limits.max_delay,
            ));
        }
        notes.extend(core.shared.notes());
        notes
    }

    fn replay_hazard(&self) -> Option<String> {
        let core = &*self.core;
        let mut hazards: Vec<String> = core.shared.replay_hazard().into_iter().collect();
        let starved = core.starved.load(Ordering::Relaxed);
        if starved > 0 {
            hazards.push(format!(
                "plugin `{}`: {starved} decisions found no instance in time and injected nothing",
                core.shared.name
            ));
        }
        let failures = core.health.failures();
        if failures > 0 {
            hazards.push(format!(
                "plugin `{}` failed {failures} calls (failed open); deadlines depend on timing",
                core.shared.name
            ));
        }
        (!hazards.is_empty()).then(|| hazards.join("; "))
    }
}
