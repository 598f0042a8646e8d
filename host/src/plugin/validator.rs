//! A loaded validator component as an ordinary [`Validator`](crate::Validator).

use super::bindings::validator::chaoskit::plugin::types as wit;
use super::bindings::validator::{Validator as ValidatorWorld, ValidatorPre};
use super::bounds::bounded_message;
use super::error::{FailureKind, PluginError};
use super::fresh::{self, BuildError};
use super::health::Health;
use super::reload::{Reload, Watch};
use super::runtime::{self, Compiled, Pre, Runtime};
use super::state::{PluginState, Shared};
use super::wasi::{self, Capabilities};
use super::{PluginSpec, World};
use crate::chaos::{Event, LazyStream, RUN, stream_key};
use crate::validate::{Counting, IterationOutcome, RunJudgement, Severity, Validator, Violation};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime::Store;

struct Instance {
    store: Store<PluginState>,
    bindings: ValidatorWorld,
}

struct Version {
    hash: [u8; 32],
    short: String,
    pre: ValidatorPre<PluginState>,
    /// Linked with wasmtime-wasi: calls go through [`wasi::off_runtime`].
    wasi: bool,
    info: wit::ValidatorInfo,
}

struct Slot {
    version: Arc<Version>,
    /// `None` after a failure: rebuilt (state lost) on the next call.
    instance: Option<Instance>,
}

pub(crate) struct Core {
    rt: Arc<Runtime>,
    spec: PluginSpec,
    shared: Arc<Shared>,
    /// Validators keep state across iterations (windows, samples), so there is one instance,
    /// called in iteration order; `check` runs once per iteration, off the decision path.
    slot: Mutex<Slot>,
    health: Health,
    generation: AtomicU64,
    /// The run's seed, from the iterations checked (for `finish`'s stream).
    seed: AtomicU64,
}

fn build(
    rt: &Runtime,
    shared: &Arc<Shared>,
    spec: &PluginSpec,
    pre: &ValidatorPre<PluginState>,
    with_wasi: bool,
) -> Result<(Instance, wit::ValidatorInfo), BuildError> {
    let limits = &spec.limits;
    let (store, bindings, info) = fresh::configured(
        rt,
        shared,
        limits,
        with_wasi,
        limits.validate_deadline,
        |store| pre.instantiate(store),
        |bindings, store| bindings.call_configure(store, &spec.config),
    )?;
    Ok((Instance { store, bindings }, info))
}

fn load_version(
    rt: &Runtime,
    shared: &Arc<Shared>,
    spec: &PluginSpec,
    compiled: &Compiled,
) -> Result<(Version, Instance), PluginError> {
    let path = &spec.path;
    let (Pre::Validator(pre), with_wasi) = runtime::prepare(rt, path, compiled, Some(World::Validator), &shared.caps)?
    else {
        unreachable!("prepare checked the world");
    };
    let (instance, info) = build(rt, shared, spec, &pre, with_wasi).map_err(|e| e.into_plugin_error(path))?;
    let short = runtime::short_hash(&compiled.hash);
    Ok((Version { hash: compiled.hash, short, pre, wasi: with_wasi, info }, instance))
}

/// Longest event message passed to a guest (the host's own messages; a guest reads them).
const EVENT_MESSAGE: usize = 64 * 1024;

fn event(e: &Event) -> wit::Event {
    let cut = |s: &str| s[..s.floor_char_boundary(EVENT_MESSAGE)].to_owned();
    match e {
        Event::RecursionDepth(d) => wit::Event::RecursionDepth(*d),
        Event::Panic(m) => wit::Event::Panic(cut(m)),
        Event::Error(m) => wit::Event::Error(cut(m)),
        Event::Metric(name, value) => wit::Event::Metric((cut(name), *value)),
    }
}

/// A validator component, usable wherever a [`chaoskit::Validator`](crate::Validator) is.
///
/// A plugin that traps, runs past its deadline or exceeds its memory yields an error verdict
/// (a [`Violation`] with `harness_error` set): a broken validator fails closed unless
/// [`PluginSpec::fail_open`] says otherwise. The instance is rebuilt on the next call (its
/// state starts over) and the plugin is disabled after repeated failures.
pub struct WasmValidator {
    core: Arc<Core>,
    _watch: Option<Watch>,
}

impl std::fmt::Debug for WasmValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmValidator")
            .field("name", &self.name())
            .field("sha256", &self.sha256())
            .finish_non_exhaustive()
    }
}

impl WasmValidator {
    pub(crate) fn load(rt: Arc<Runtime>, spec: PluginSpec, compiled: &Compiled) -> Result<Self, PluginError> {
        let caps = Capabilities::new(&spec.path, &spec.grants, &spec.limits)?;
        let shared = Arc::new(Shared::new(spec.name(), &spec.limits, caps));
        let (version, instance) = load_version(&rt, &shared, &spec, compiled)?;
        let core = Arc::new(Core {
            health: Health::new(spec.limits.max_failures, spec.limits.failure_window),
            slot: Mutex::new(Slot { version: Arc::new(version), instance: Some(instance) }),
            rt,
            shared,
            generation: AtomicU64::new(0),
            seed: AtomicU64::new(0),
            spec,
        });
        let watch =
            if core.spec.watch { Some(Watch::start(&core.spec.path, Arc::downgrade(&core) as _)?) } else { None };
        Ok(Self { core, _watch: watch })
    }

    /// The plugin's name (its file stem unless [`PluginSpec::name`] set one).
    pub fn name(&self) -> &str {
        &self.core.shared.name
    }

    /// The plugin file.
    pub fn path(&self) -> &Path {
        &self.core.spec.path
    }

    /// First 8 hex digits of the SHA-256 of the version now serving.
    pub fn sha256(&self) -> String {
        self.core.slot().version.short.clone()
    }

    /// How many times a new version was swapped in.
    pub fn generation(&self) -> u64 {
        self.core.generation.load(Ordering::Acquire)
    }

    /// Failed calls so far.
    pub fn failures(&self) -> u64 {
        self.core.health.failures()
    }

    /// Reload the file now; see [`WasmInjector::reload`](super::WasmInjector::reload).
    ///
    /// # Errors
    ///
    /// The new file cannot be read, compiled, linked or configured.
    pub fn reload(&self) -> Result<bool, PluginError> {
        self.core.reload()
    }
}

/// A call into the validator instance.
type Call<'a, R> = &'a (dyn Fn(&ValidatorWorld, &mut Store<PluginState>) -> wasmtime::Result<R> + Sync);

impl Core {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a broken plugin's call yields: an error verdict, or a pass when failing open.
    fn broken(&self, message: String) -> Result<(), Violation> {
        if self.spec.fail_open { Ok(()) } else { Err(Violation::harness(message)) }
    }

    fn failed(&self, short: &str, kind: FailureKind) -> Result<(), Violation> {
        let consequence =
            if self.spec.fail_open { "the check passes (fail open)" } else { "the check fails with an error verdict" };
        self.health.fail(&self.shared.name, short, &kind, consequence);
        self.broken(format!("plugin `{}` (sha256 {short}) {kind}", self.shared.name))
    }

    /// Run `f` on the instance (rebuilding it if needed) and turn its verdict into ours. The
    /// guest draws from the stream of (`seed`, its name, `index`) and its virtual clock starts
    /// at `index`'s time.
    fn with_instance(
        &self,
        export: &'static str,
        (seed, index): (u64, u64),
        before: Option<Call<'_, ()>>,
        f: Call<'_, wit::Verdict>,
    ) -> Result<(), Violation> {
        if self.health.is_disabled() {
            return self.broken(format!("plugin `{}` is disabled after repeated failures", self.shared.name));
        }
        let mut slot = self.slot();
        let version = Arc::clone(&slot.version);
        if slot.instance.is_none() {
            match build(&self.rt, &self.shared, &self.spec, &version.pre, version.wasi) {
                Ok((instance, _)) => slot.instance = Some(instance),
                Err(e) => return self.failed(&version.short, e.into_failure()),
            }
        }
        let Some(instance) = slot.instance.as_mut() else {
            return Ok(());
        };
        let budget = self.spec.limits.validate_deadline;
        let memory = self.spec.limits.memory;
        // Same seed and iteration, same draws and times: a validator's answers replay.
        let stream = LazyStream::new(seed, stream_key(&self.shared.name), index);
        let clock = if index == RUN { 0 } else { index };
        instance.store.data_mut().begin_call(Some(stream), clock);
        let mut call = move || {
            let mut result = Ok(());
            if let Some(before) = before {
                runtime::arm(&mut instance.store, budget);
                result = before(&instance.bindings, &mut instance.store)
                    .map_err(|e| runtime::classify(&mut instance.store, &e, "observe", budget, memory));
            }
            result.and_then(|()| {
                runtime::arm(&mut instance.store, budget);
                f(&instance.bindings, &mut instance.store)
                    .map_err(|e| runtime::classify(&mut instance.store, &e, export, budget, memory))
            })
        };
        let verdict = if version.wasi { wasi::off_runtime(call) } else { call() };
        match verdict {
            Ok(wit::Verdict::Pass) => Ok(()),
            Ok(wit::Verdict::Fail(message)) => {
                // A bounded copy: the journal keeps this for every failing iteration it records.
                Err(Violation::new(bounded_message(message, self.spec.limits.max_message, Some(&self.shared.name))))
            }
            Err(kind) => {
                slot.instance = None;
                drop(slot);
                self.failed(&version.short, kind)
            }
        }
    }
}

impl Reload for Core {
    fn reload(&self) -> Result<bool, PluginError> {
        let current = self.slot().version.hash;
        let result = Compiled::new(&self.rt, &self.spec.path).and_then(|compiled| {
            if compiled.hash == current {
                return Ok(None);
            }
            load_version(&self.rt, &self.shared, &self.spec, &compiled).map(Some)
        });
        match result {
            Ok(None) => Ok(false),
            Ok(Some((version, instance))) => {
                let short = version.short.clone();
                {
                    let mut slot = self.slot();
                    slot.version = Arc::new(version);
                    slot.instance = Some(instance);
                }
                self.health.reloaded();
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!(target: "chaoskit::plugin", plugin = &*self.shared.name, sha256 = short, "plugin `{}` reloaded, now sha256 {short}; its state starts over", self.shared.name);
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

impl Validator for WasmValidator {
    /// Plugin validators may keep state across iterations (a streak, a window, a budget): the
    /// executor calls them in iteration order at any concurrency, as the SDK documents.
    fn ordered(&self) -> bool {
        true
    }

    fn severity(&self) -> Severity {
        match self.core.slot().version.info.severity {
            wit::Severity::Critical => Severity::Critical,
            wit::Severity::Warning => Severity::Warning,
        }
    }

    fn counting(&self) -> Counting {
        match self.core.slot().version.info.counting {
            wit::Counting::PerIteration => Counting::PerIteration,
            wit::Counting::PerRun => Counting::PerRun,
        }
    }

    fn start(&self) -> Result<(), Violation> {
        self.core.shared.restart_clock();
        Ok(())
    }

    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        let wants_events = self.core.slot().version.info.wants_events;
        let numbers = wit::Outcome {
            iteration: outcome.index,
            ok: outcome.ok,
            duration_ns: u64::try_from(outcome.duration.as_nanos()).unwrap_or(u64::MAX),
            panics: outcome.panics,
            errors: outcome.errors,
            max_recursion_depth: outcome.max_recursion_depth,
        };
        let observe = |b: &ValidatorWorld, s: &mut Store<PluginState>| {
            let events: Vec<wit::Event> = outcome.events.iter().map(event).collect();
            b.call_observe(s, outcome.index, &events)
        };
        let before: Option<Call<'_, ()>> =
            if wants_events && !outcome.events.is_empty() { Some(&observe) } else { None };
        self.core.seed.store(outcome.seed, Ordering::Relaxed);
        self.core.with_instance("check", (outcome.seed, outcome.index), before, &|b, s| b.call_check(s, numbers))
    }

    fn finish(&self) -> Result<(), Violation> {
        let seed = self.core.seed.load(Ordering::Relaxed);
        self.core.with_instance("finish", (seed, RUN), None, &|b, s| b.call_finish(s))
    }

    fn replay_hazard(&self) -> Option<String> {
        self.core.shared.replay_hazard()
    }

    /// A plugin's state (streaks, windows, budgets) lives in its instance and has no merge
    /// step in the contract: on a sharded run each shard judges its own iterations.
    fn run_judgement(&self) -> RunJudgement {
        RunJudgement::PerShard
    }

    fn notes(&self) -> Vec<String> {
        let short = self.core.slot().version.short.clone();
        let what = if self.core.spec.fail_open {
            "checks failed and passed (fail open)"
        } else {
            "checks failed with an error verdict"
        };
        let mut notes = self.core.health.notes(&self.core.shared.name, &short, what);
        notes.extend(self.core.shared.notes());
        notes
    }
}
