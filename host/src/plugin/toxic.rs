//! A loaded `toxic` component as a custom toxic type of the chaos proxy ([`WasmToxic`]).
//!
//! Each filtered connection gets its own instance of the version serving when it opened, so a
//! trap poisons only that connection (which then fails open) and a hot reload reaches new
//! connections while open ones finish on the version they started with.

use super::bindings::toxic::chaoskit::plugin::filter_types as wit;
use super::bindings::toxic::{Toxic as ToxicWorld, ToxicPre};
use super::error::{FailureKind, PluginError};
use super::fresh::{self, BuildError};
use super::health::Health;
use super::reload::{Reload, Watch};
use super::runtime::{self, Compiled, Pre, Runtime};
use super::state::{PluginState, Shared};
use super::wasi::Capabilities;
use super::{Grant, PluginSpec, World};
use crate::chaos::Draws;
use crate::proxy::{ConnectionFilter, ConnectionInfo, FilterFailed, FilterStats, FilterStep, Stream, ToxicPlugin};
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use wasmtime::Store;

/// One loaded version of the plugin file.
struct Version {
    hash: [u8; 32],
    short: String,
    pre: ToxicPre<PluginState>,
}

/// Everything behind a [`WasmToxic`]; shared with its reload watcher and open connections.
struct Core {
    rt: Arc<Runtime>,
    path: PathBuf,
    spec: PluginSpec,
    shared: Arc<Shared>,
    current: ArcSwap<Version>,
    health: Health,
    generation: AtomicU64,
    /// Connections filtered now (each holds one instance), at most `limits.instances`.
    live: AtomicUsize,
    connections: AtomicU64,
    chunks: AtomicU64,
    fired: AtomicU64,
    unfiltered: AtomicU64,
    /// Delays cut to `max_delay`.
    capped: AtomicU64,
}

/// A `toxic` component: a custom toxic type for [`ProxyRegistryBuilder::toxic_plugin`], named by
/// the plugin's name (its file stem unless [`PluginSpec::named`] set another).
///
/// Limits: each connection's instance has the plugin's memory limit; each `filter` call has the
/// `decide_deadline` (the hot path's deadline), `configure` and `open` the `configure_deadline`;
/// the steps of one call may hold the chunk at most `max_delay` in all and write at most
/// `max_insert` bytes (insert + reply); at most `instances` connections are filtered at once
/// (more pass unfiltered and are counted). A call that fails lets that connection's bytes pass
/// unchanged from then on; the failure is logged, counted in [`stats`](ToxicPlugin::stats) and
/// noted in the run report.
///
/// [`ProxyRegistryBuilder::toxic_plugin`]: crate::proxy::ProxyRegistryBuilder::toxic_plugin
pub struct WasmToxic {
    core: Arc<Core>,
    _watch: Option<Watch>,
}

impl std::fmt::Debug for WasmToxic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmToxic")
            .field("name", &&*self.core.shared.name)
            .field("sha256", &self.core.current.load().short)
            .finish_non_exhaustive()
    }
}

/// A configured instance.
struct Instance {
    store: Store<PluginState>,
    bindings: ToxicWorld,
}

impl Core {
    /// Instantiate the version and `configure` it with `attributes`.
    fn build(&self, version: &Version, attributes: &str) -> Result<Instance, BuildError> {
        let limits = &self.spec.limits;
        // Toxics link only the `std` baseline (see `load_version`): no WASI context.
        let (store, bindings, ()) = fresh::configured(
            &self.rt,
            &self.shared,
            limits,
            false,
            limits.decide_deadline,
            |store| version.pre.instantiate(store),
            |bindings, store| bindings.call_configure(store, attributes),
        )?;
        Ok(Instance { store, bindings })
    }

    fn fail(&self, version: &str, kind: &FailureKind) {
        self.health.fail(&self.shared.name, version, kind, "the connection's bytes pass unchanged from now on");
    }
}

/// Link a version of a toxic. Filters run inside the proxy's async tasks, where wasmtime-wasi's
/// blocking calls would stall a runtime worker, so a toxic gets the `std` baseline and the
/// `stdio` grant only: a WASI import or grant beyond that is refused at load, by name.
fn load_version(rt: &Runtime, spec: &PluginSpec, compiled: &Compiled) -> Result<Version, PluginError> {
    if let Some(import) = compiled.wasi_beyond_baseline() {
        return Err(PluginError::ImportNotGranted {
            path: spec.path.clone(),
            import: import.to_owned(),
            hint: "toxic plugins get no WASI beyond what Rust's `std` imports (the proxy filters bytes; take \
                   randomness from the host's `random-u64`)"
                .into(),
        });
    }
    if let Some(grant) = spec.grants.iter().find(|g| **g != Grant::Stdio) {
        return Err(PluginError::Grant {
            path: spec.path.clone(),
            message: format!("`{grant}` cannot be given to a toxic plugin: toxics take only `stdio`"),
        });
    }
    let (Pre::Toxic(pre), _) =
        runtime::prepare(rt, &spec.path, compiled, Some(World::Toxic), &Capabilities::default())?
    else {
        unreachable!("prepare checked the world");
    };
    Ok(Version { hash: compiled.hash, short: runtime::short_hash(&compiled.hash), pre })
}

impl WasmToxic {
    pub(crate) fn load(rt: Arc<Runtime>, spec: PluginSpec, compiled: &Compiled) -> Result<Self, PluginError> {
        let shared = Arc::new(Shared::new(spec.name(), &spec.limits, Capabilities::default()));
        let version = load_version(&rt, &spec, compiled)?;
        let core = Arc::new(Core {
            path: spec.path.clone(),
            health: Health::new(spec.limits.max_failures, spec.limits.failure_window),
            current: ArcSwap::from_pointee(version),
            rt,
            shared,
            generation: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            connections: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            fired: AtomicU64::new(0),
            unfiltered: AtomicU64::new(0),
            capped: AtomicU64::new(0),
            spec,
        });
        // A first instance with the configuration of the spec (`{}` by default) proves the
        // component can be instantiated; a refused `{}` is fine (a toxic brings its own).
        let version = core.current.load();
        if let Err(e @ BuildError::Failed(_)) = core.build(&version, &core.spec.config) {
            return Err(e.into_plugin_error(&core.path));
        }
        drop(version);
        let watch = if core.spec.watch { Some(Watch::start(&core.path, Arc::downgrade(&core) as _)?) } else { None };
        Ok(Self { core, _watch: watch })
    }

    /// The plugin's name: the toxic `type` it implements.
    pub fn name(&self) -> &str {
        &self.core.shared.name
    }

    /// The plugin file.
    pub fn path(&self) -> &Path {
        &self.core.path
    }

    /// First 8 hex digits of the SHA-256 of the version new connections get.
    pub fn sha256(&self) -> String {
        self.core.current.load().short.clone()
    }

    /// How many times a new version was swapped in.
    pub fn generation(&self) -> u64 {
        self.core.generation.load(Ordering::Acquire)
    }

    /// Reload the file now (as the watcher does): `Ok(true)` if new connections now get a new
    /// version; open connections keep theirs.
    ///
    /// # Errors
    ///
    /// The new file cannot be read, compiled or linked; the old version keeps serving.
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
            let version = load_version(&self.rt, &self.spec, &compiled)?;
            if let Err(BuildError::Failed(kind)) = self.build(&version, &self.spec.config) {
                return Err(PluginError::Failed { path: self.path.clone(), kind });
            }
            Ok(Some(version))
        });
        match result {
            Ok(None) => Ok(false),
            Ok(Some(version)) => {
                let short = version.short.clone();
                self.current.store(Arc::new(version));
                self.health.reloaded();
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!(target: "chaoskit::plugin", plugin = &*self.shared.name, sha256 = short, "toxic plugin `{}` reloaded, now sha256 {short} for new connections", self.shared.name);
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

fn direction(stream: Stream) -> wit::Direction {
    match stream {
        Stream::Upstream => wit::Direction::Upstream,
        Stream::Downstream => wit::Direction::Downstream,
    }
}

impl ToxicPlugin for WasmToxic {
    fn type_name(&self) -> &str {
        &self.core.shared.name
    }

    fn check(&self, attributes: &str) -> Result<(), String> {
        let core = &*self.core;
        let version = core.current.load();
        match core.build(&version, attributes) {
            Ok(_) => Ok(()),
            Err(BuildError::Config(message)) => Err(message),
            Err(BuildError::Failed(kind)) => Err(format!("the plugin failed while checking them: {kind}")),
        }
    }

    fn open(
        &self,
        attributes: &str,
        connection: &ConnectionInfo<'_>,
        draws: &mut Draws<'_>,
    ) -> Option<Box<dyn ConnectionFilter>> {
        let core = &self.core;
        if core.health.is_disabled() {
            core.unfiltered.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if core.live.fetch_add(1, Ordering::AcqRel) >= core.spec.limits.instances {
            core.live.fetch_sub(1, Ordering::AcqRel);
            if core.unfiltered.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(target: "chaoskit::plugin", plugin = &*core.shared.name, "toxic plugin `{}` filters at most `instances` = {} connections at once; more pass unfiltered", core.shared.name, core.spec.limits.instances);
            }
            return None;
        }
        let slot = LiveSlot(Arc::clone(core));
        let version = core.current.load_full();
        let mut instance = match core.build(&version, attributes) {
            Ok(instance) => instance,
            Err(BuildError::Config(m)) => {
                core.fail(
                    &version.short,
                    &FailureKind::Instantiate { message: format!("refused its attributes: {m}") },
                );
                return None;
            }
            Err(BuildError::Failed(kind)) => {
                core.fail(&version.short, &kind);
                return None;
            }
        };
        let info = wit::ConnectionInfo {
            proxy: connection.proxy.to_owned(),
            toxic: connection.toxic.to_owned(),
            index: connection.index,
            direction: direction(connection.stream),
        };
        let limits = &core.spec.limits;
        runtime::arm(&mut instance.store, limits.configure_deadline);
        instance.store.data_mut().stream = Some(draws.lend());
        let opened = instance.bindings.call_open(&mut instance.store, connection.index, &info);
        if let Some(stream) = instance.store.data_mut().stream.take() {
            draws.restore(stream);
        }
        if let Err(e) = opened {
            let kind = runtime::classify(&mut instance.store, &e, "open", limits.configure_deadline, limits.memory);
            core.fail(&version.short, &kind);
            return None;
        }
        core.connections.fetch_add(1, Ordering::Relaxed);
        Some(Box::new(WasmFilter { slot, version, instance: Some(instance), conn: connection.index }))
    }

    fn stats(&self) -> FilterStats {
        let c = &self.core;
        FilterStats::new(
            c.connections.load(Ordering::Relaxed),
            c.chunks.load(Ordering::Relaxed),
            c.fired.load(Ordering::Relaxed),
            c.health.failures(),
            c.unfiltered.load(Ordering::Relaxed),
        )
    }

    fn notes(&self) -> Vec<String> {
        let core = &*self.core;
        let name = &core.shared.name;
        let mut notes = core.health.notes(name, &core.current.load().short, "filter calls failed open");
        let unfiltered = core.unfiltered.load(Ordering::Relaxed);
        if unfiltered > 0 {
            notes.push(format!(
                "toxic plugin `{name}`: {unfiltered} connections passed unfiltered (limit `instances` = {} connections at once, or the plugin was disabled)",
                core.spec.limits.instances
            ));
        }
        let capped = core.capped.load(Ordering::Relaxed);
        if capped > 0 {
            notes.push(format!(
                "toxic plugin `{name}` asked {capped} times to hold a chunk longer than the limit `max_delay` = {:?}; each held it that long",
                core.spec.limits.max_delay
            ));
        }
        notes.extend(core.shared.notes());
        notes
    }
}

/// Gives the connection's place back when its filter goes.
struct LiveSlot(Arc<Core>);

impl Drop for LiveSlot {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One connection's instance.
struct WasmFilter {
    slot: LiveSlot,
    version: Arc<Version>,
    /// `None` once a call failed (the instance is poisoned and dropped).
    instance: Option<Instance>,
    conn: u64,
}

impl WasmFilter {
    fn failed(&mut self, kind: FailureKind) -> FilterFailed {
        self.instance = None;
        self.slot.0.fail(&self.version.short, &kind);
        FilterFailed
    }
}

impl ConnectionFilter for WasmFilter {
    fn filter(&mut self, stream: Stream, chunk: &[u8], draws: &mut Draws<'_>) -> Result<Vec<FilterStep>, FilterFailed> {
        let core = Arc::clone(&self.slot.0);
        let limits = &core.spec.limits;
        let Some(instance) = self.instance.as_mut() else { return Err(FilterFailed) };
        core.chunks.fetch_add(1, Ordering::Relaxed);
        runtime::arm(&mut instance.store, limits.decide_deadline);
        instance.store.data_mut().stream = Some(draws.lend());
        let result = instance.bindings.call_filter(&mut instance.store, self.conn, direction(stream), chunk);
        if let Some(lent) = instance.store.data_mut().stream.take() {
            draws.restore(lent);
        }
        let steps = match result {
            Ok(steps) => steps,
            Err(e) => {
                let kind = runtime::classify(&mut instance.store, &e, "filter", limits.decide_deadline, limits.memory);
                return Err(self.failed(kind));
            }
        };
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let written: usize = steps
            .iter()
            .map(|s| match s {
                wit::Step::Insert(b) | wit::Step::Reply(b) => b.len(),
                _ => 0,
            })
            .sum();
        if written > limits.max_insert {
            // Dropping `steps` frees the oversized lists at once.
            return Err(self.failed(FailureKind::ResultTooLarge {
                export: "filter",
                bytes: written,
                limit: limits.max_insert,
            }));
        }
        core.fired.fetch_add(1, Ordering::Relaxed);
        let mut delay_left = limits.max_delay;
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            out.push(match step {
                wit::Step::Pass(n) => FilterStep::Pass(n as usize),
                wit::Step::Skip(n) => FilterStep::Skip(n as usize),
                wit::Step::Insert(b) => FilterStep::Insert(b),
                wit::Step::Reply(b) => FilterStep::Reply(b),
                wit::Step::DelayNs(ns) => {
                    let asked = Duration::from_nanos(ns);
                    if asked > delay_left && core.capped.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(target: "chaoskit::plugin", plugin = &*core.shared.name, "toxic plugin `{}` asked to hold a chunk {asked:?}, over the limit `max_delay` = {:?}; holding it that long", core.shared.name, limits.max_delay);
                    }
                    let granted = asked.min(delay_left);
                    delay_left -= granted;
                    FilterStep::Delay(granted)
                }
                wit::Step::Close => FilterStep::Close,
                wit::Step::Reset => FilterStep::Reset,
            });
        }
        Ok(out)
    }
}

impl Drop for WasmFilter {
    fn drop(&mut self) {
        let Some(instance) = self.instance.as_mut() else { return };
        let limits = &self.slot.0.spec.limits;
        runtime::arm(&mut instance.store, limits.decide_deadline);
        if let Err(e) = instance.bindings.call_close(&mut instance.store, self.conn) {
            let kind = runtime::classify(&mut instance.store, &e, "close", limits.decide_deadline, limits.memory);
            self.slot.0.fail(&self.version.short, &kind);
        }
    }
}
