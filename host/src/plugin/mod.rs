//! WebAssembly plugins: injectors and validators as sandboxed, hot-reloadable components.
//!
//! - [`PluginHost`]: owns the Wasm engine, its epoch ticker thread and the compile cache;
//!   [`PluginHost::load`] turns a file into a [`LoadedPlugin`].
//! - [`PluginSpec`]: a plugin file plus its JSON configuration, [`Limits`], [`Grant`]s and
//!   whether to watch the file for hot reload.
//! - [`WasmToxic`] (with the `proxy` feature): a `toxic` component as a custom toxic type of
//!   the chaos proxy, one instance per filtered connection.
//! - [`WasmInjector`] / [`WasmValidator`]: a loaded component as an ordinary
//!   [`Injector`](crate::Injector) / [`Validator`](crate::Validator): same decision path,
//!   journal and reports as the built-ins.
//! - [`PluginHost::inspect`]: world, imports, exports, size and hash of a file.
//! - [`PluginError`] says why a file was refused; [`FailureKind`] how a running call failed.
//!
//! The contract is `wit/plugin.wit` and `wit/toxic.wit` (`chaoskit:plugin@0.2.0`; plugins
//! built against 0.1.0 still load); plugins are written with the `chaoskit-plugin-sdk` crate,
//! or in any language whose toolchain makes components. A plugin sees the `host` interface
//! (seeded randomness, host time, logging, shared counters) and WASI 0.2, where nothing reaches the host unless a [`Grant`] says so:
//!
//! | interface | with no grant | grant for more |
//! |---|---|---|
//! | `wasi:random` | the plugin's seeded stream (replays) | `random:os` (run not replayable) |
//! | `wasi:clocks` | a virtual clock derived from the iteration (replays) | `clocks:wall` (run not replayable) |
//! | `wasi:filesystem` | no directories | `fs:ro:DIR`, `fs:rw:DIR` |
//! | `wasi:sockets` | refused per call | `tcp:HOST:PORT` (outgoing TCP) |
//! | `wasi:http` (outgoing) | refused per call | `http:HOST:PORT` (plain HTTP, under the call's deadline) |
//! | `wasi:cli` environment | empty | `env:NAME` |
//! | stdout / stderr | dropped (stderr's end explains a trap) | `stdio` (to the log, rate-limited) |
//!
//! An import outside these is refused at load, naming it. Each call has a deadline (epoch
//! interruption, 1 ms ticks) and each instance a memory limit. Granted capabilities are listed
//! in the report's notes, and `random:os` / `clocks:wall` among its replay hazards.
//!
//! ```no_run
//! use chaoskit::plugin::{Limits, LoadedPlugin, PluginHost, PluginSpec};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = PluginHost::new()?;
//! let spike = host.load(
//!     PluginSpec::new("plugins/latency_spike.wasm")
//!         .config(r#"{"period": 100, "burst": 10, "min_ms": 20}"#)
//!         .limits(Limits::default().memory(16 << 20).decide_deadline(Duration::from_millis(2)))
//!         .watch(true),
//! )?;
//! let LoadedPlugin::Injector(spike) = spike else { panic!("not an injector") };
//! let scenario = chaoskit::Scenario::builder("spiky")
//!     .target(chaoskit::target("service", ()))
//!     .step("call", |ctx, _| async move { ctx.maybe_delay().await; Ok::<_, chaoskit::ChaosError>(()) })
//!     .inject("latency-spike", spike)
//!     .repeat(1000)
//!     .build()?;
//! # Ok(()) }
//! ```

mod bindings;
mod bounds;
mod cache;
mod error;
mod fresh;
mod health;
mod http;
mod injector;
mod reload;
mod runtime;
mod state;
mod stdio;
#[cfg(feature = "proxy")]
mod toxic;
mod validator;
mod wait;
mod wasi;

pub use crate::grant::{Grant, HostPattern};
pub use error::{FailureKind, PluginError};
pub use injector::WasmInjector;
pub use runtime::MAX_PLUGIN_FILE_BYTES;
#[cfg(feature = "proxy")]
pub use toxic::WasmToxic;
pub use validator::WasmValidator;

use runtime::{Compiled, Runtime};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Which contract a component implements (told apart by its exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// `chaoskit:plugin/injector`: exports `configure`, `register-point`, `decide`.
    Injector,
    /// `chaoskit:plugin/validator`: exports `configure`, `observe`, `check`, `finish`.
    Validator,
    /// `chaoskit:plugin/toxic`: exports `configure`, `open`, `filter`, `close` (a stream filter
    /// of the chaos proxy).
    Toxic,
}

impl World {
    /// `an injector` / `a validator`, for messages.
    pub fn article(self) -> &'static str {
        match self {
            World::Injector => "an injector",
            World::Validator => "a validator",
            World::Toxic => "a toxic",
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            World::Injector => "injector",
            World::Validator => "validator",
            World::Toxic => "toxic",
        })
    }
}

/// Resource limits of one plugin; every limit applies per instance and per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub(crate) memory: usize,
    pub(crate) decide_deadline: Duration,
    pub(crate) configure_deadline: Duration,
    pub(crate) validate_deadline: Duration,
    pub(crate) instances: usize,
    pub(crate) max_failures: u32,
    pub(crate) failure_window: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_message: usize,
    pub(crate) max_insert: usize,
    pub(crate) max_counters: usize,
    pub(crate) max_counter_name: usize,
    pub(crate) log_rate: u32,
    pub(crate) max_sockets: usize,
    pub(crate) max_files: usize,
    pub(crate) max_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 64 << 20,
            decide_deadline: Duration::from_millis(5),
            configure_deadline: Duration::from_millis(100),
            validate_deadline: Duration::from_millis(50),
            instances: 64,
            max_failures: 5,
            failure_window: Duration::from_secs(10),
            max_delay: Duration::from_secs(1),
            max_message: 4096,
            max_insert: 1 << 20,
            max_counters: 1024,
            max_counter_name: 256,
            log_rate: 100,
            max_sockets: 16,
            max_files: 16,
            max_requests: 8,
        }
    }
}

impl Limits {
    /// Largest linear memory of one instance, in bytes; default 64 MiB, at most 1 GiB.
    pub fn memory(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self
    }

    /// Deadline of one `decide` call (the hot path); default 5 ms. Resolution is the 1 ms
    /// epoch tick: a call is interrupted between the deadline and one tick after it. Deadlines
    /// are wall-clock time, so on an overloaded machine a preempted call can overrun: keep a
    /// few milliseconds of slack over what the plugin needs.
    pub fn decide_deadline(mut self, deadline: Duration) -> Self {
        self.decide_deadline = deadline;
        self
    }

    /// Deadline of instantiation plus `configure`, and of `register-point`; default 100 ms.
    pub fn configure_deadline(mut self, deadline: Duration) -> Self {
        self.configure_deadline = deadline;
        self
    }

    /// Deadline of each validator call (`observe`, `check`, `finish`); default 50 ms.
    pub fn validate_deadline(mut self, deadline: Duration) -> Self {
        self.validate_deadline = deadline;
        self
    }

    /// Most live instances of an injector (one per concurrent worker); default 64. A decision
    /// that finds them all busy injects nothing and is counted in the notes.
    pub fn instances(mut self, count: usize) -> Self {
        self.instances = count;
        self
    }

    /// Disable the plugin after `count` failures within `window`; default 5 in 10 s.
    pub fn max_failures(mut self, count: u32, window: Duration) -> Self {
        self.max_failures = count;
        self.failure_window = window;
        self
    }

    /// Longest delay one decision may ask for; default 1 s (well under a step's timeout). A
    /// longer delay is cut to this, and the report names the plugin that asked for more.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Longest message (an injected error or panic, a failed check, a refused configuration)
    /// the host keeps from the plugin, in bytes; default 4096. A validator's or configuration's
    /// longer message is cut to a fresh copy (the original is dropped at once); an injector's
    /// longer message fails the decision open.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// For a toxic: most bytes one `filter` call may write (its `insert` and `reply` steps
    /// together); default 1 MiB. A call over it fails open for its connection.
    pub fn max_insert(mut self, bytes: usize) -> Self {
        self.max_insert = bytes;
        self
    }

    /// Most host counters the plugin may create; default 1024. Asking for more traps.
    pub fn max_counters(mut self, count: usize) -> Self {
        self.max_counters = count;
        self
    }

    /// Longest counter name, in bytes; default 256. A longer name traps.
    pub fn max_counter_name(mut self, bytes: usize) -> Self {
        self.max_counter_name = bytes;
        self
    }

    /// Log lines per second the plugin may write (its `log` calls and, with [`Grant::Stdio`],
    /// its output lines), with bursts of as many; default 100. Lines over the rate are dropped
    /// and counted, and a "suppressed N lines" summary is logged and noted in the report.
    pub fn log_rate(mut self, lines_per_second: u32) -> Self {
        self.log_rate = lines_per_second;
        self
    }

    /// With a `tcp:` grant: most TCP sockets one instance may hold open at once; default 16.
    /// Creating one more fails with `new-socket-limit` (named in the log and the notes).
    pub fn max_sockets(mut self, count: usize) -> Self {
        self.max_sockets = count;
        self
    }

    /// With an `fs:` grant: most files one instance may hold open at once (besides its granted
    /// directories); default 16. Opening one more fails with the WASI error `quota`, named in
    /// the log and the notes.
    pub fn max_files(mut self, count: usize) -> Self {
        self.max_files = count;
        self
    }

    /// With an `http:` grant: most outgoing HTTP requests of one plugin in flight at once (all
    /// its instances); default 8. One more is refused (`HTTP-request-denied`), named in the
    /// log and the notes.
    pub fn max_requests(mut self, count: usize) -> Self {
        self.max_requests = count;
        self
    }

    /// Every limit with its value, as shown by `chaoskit-host plugin inspect` and named in the
    /// scenario reference: (`name`, value).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            ("memory", format!("{} bytes", self.memory)),
            ("decide_deadline", format!("{:?}", self.decide_deadline)),
            ("configure_deadline", format!("{:?}", self.configure_deadline)),
            ("validate_deadline", format!("{:?}", self.validate_deadline)),
            ("instances", self.instances.to_string()),
            ("max_failures", format!("{} in {:?}", self.max_failures, self.failure_window)),
            ("max_delay", format!("{:?}", self.max_delay)),
            ("max_message", format!("{} bytes", self.max_message)),
            ("max_insert", format!("{} bytes", self.max_insert)),
            ("max_counters", self.max_counters.to_string()),
            ("max_counter_name", format!("{} bytes", self.max_counter_name)),
            ("log_rate", format!("{} lines/s", self.log_rate)),
            ("max_sockets", self.max_sockets.to_string()),
            ("max_files", self.max_files.to_string()),
            ("max_requests", self.max_requests.to_string()),
        ]
    }

    fn check(&self, path: &Path) -> Result<(), PluginError> {
        let bad = |limit, message: String| Err(PluginError::Limit { path: path.to_owned(), limit, message });
        if self.memory < 64 * 1024 || self.memory > runtime::MAX_MEMORY {
            return bad(
                "memory",
                format!("{} bytes is outside 64 KiB..=1 GiB (one Wasm page to the host's ceiling)", self.memory),
            );
        }
        for (limit, d) in [
            ("decide_deadline", self.decide_deadline),
            ("configure_deadline", self.configure_deadline),
            ("validate_deadline", self.validate_deadline),
        ] {
            if d < runtime::TICK || d > Duration::from_secs(60) {
                return bad(limit, format!("{d:?} is outside 1ms..=60s"));
            }
        }
        if self.instances == 0 || self.instances > 256 {
            return bad("instances", format!("{} is outside 1..=256", self.instances));
        }
        if self.max_failures == 0 {
            return bad("max_failures", "must be at least 1".into());
        }
        if self.max_delay > Duration::from_secs(3600) {
            return bad("max_delay", format!("{:?} is outside 0s..=1h", self.max_delay));
        }
        if !(64..=1 << 20).contains(&self.max_message) {
            return bad("max_message", format!("{} bytes is outside 64..=1048576", self.max_message));
        }
        if !(1..=64 << 20).contains(&self.max_insert) {
            return bad("max_insert", format!("{} bytes is outside 1..=67108864", self.max_insert));
        }
        if !(1..=65_536).contains(&self.max_counters) {
            return bad("max_counters", format!("{} is outside 1..=65536", self.max_counters));
        }
        if !(1..=65_536).contains(&self.max_counter_name) {
            return bad("max_counter_name", format!("{} bytes is outside 1..=65536", self.max_counter_name));
        }
        if !(1..=100_000).contains(&self.log_rate) {
            return bad("log_rate", format!("{} lines/s is outside 1..=100000", self.log_rate));
        }
        for (limit, n) in
            [("max_sockets", self.max_sockets), ("max_files", self.max_files), ("max_requests", self.max_requests)]
        {
            if !(1..=1024).contains(&n) {
                return bad(limit, format!("{n} is outside 1..=1024"));
            }
        }
        Ok(())
    }
}

/// What to load: a plugin file and how to run it.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    pub(crate) path: PathBuf,
    pub(crate) name: Option<String>,
    pub(crate) config: String,
    pub(crate) limits: Limits,
    pub(crate) grants: Vec<Grant>,
    pub(crate) watch: bool,
    pub(crate) fail_open: bool,
}

impl PluginSpec {
    /// The component at `path`, with configuration `{}`, default [`Limits`], no grants, no
    /// watch.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            name: None,
            config: "{}".into(),
            limits: Limits::default(),
            grants: Vec::new(),
            watch: false,
            fail_open: false,
        }
    }

    /// Name used in logs and notes; default the file stem.
    pub fn name(&self) -> Arc<str> {
        match &self.name {
            Some(n) => n.as_str().into(),
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.path.display().to_string())
                .into(),
        }
    }

    /// Set the name used in logs and notes.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// JSON configuration passed to the plugin's `configure`; default `{}`.
    pub fn config(mut self, json: impl Into<String>) -> Self {
        self.config = json.into();
        self
    }

    /// Resource limits; default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Grant a capability beyond the host interface; none by default.
    pub fn grant(mut self, grant: Grant) -> Self {
        if !self.grants.contains(&grant) {
            self.grants.push(grant);
        }
        self
    }

    /// Watch the file and hot-reload new versions; off by default.
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// For a validator: when the plugin itself fails, pass the check instead of returning an
    /// error verdict; off (fail closed) by default. Injectors always fail open.
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }
}

/// A loaded plugin of either world.
#[derive(Debug)]
pub enum LoadedPlugin {
    /// The file is an injector.
    Injector(WasmInjector),
    /// The file is a validator.
    Validator(WasmValidator),
    /// The file is a toxic (a stream filter for the chaos proxy).
    #[cfg(feature = "proxy")]
    Toxic(WasmToxic),
}

impl LoadedPlugin {
    /// Which world the plugin implements.
    pub fn world(&self) -> World {
        match self {
            LoadedPlugin::Injector(_) => World::Injector,
            LoadedPlugin::Validator(_) => World::Validator,
            #[cfg(feature = "proxy")]
            LoadedPlugin::Toxic(_) => World::Toxic,
        }
    }
}

/// What [`PluginHost::inspect`] tells about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The file.
    pub path: PathBuf,
    /// The world, if the exports match one by name and by type.
    pub world: Option<World>,
    /// Why a component whose export names match a world is not one: their types differ.
    pub mismatch: Option<String>,
    /// Imported interfaces and functions, e.g. `chaoskit:plugin/host@0.2.0`.
    pub imports: Vec<String>,
    /// How the host provides each import (same order as `imports`).
    pub provisions: Vec<Provision>,
    /// Exported functions and interfaces.
    pub exports: Vec<String>,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the file, in hex.
    pub sha256: String,
    /// The JSON schema of the plugin's configuration (pretty-printed), if it declares one in
    /// the custom section `chaoskit:config-schema`; `Err` says why a declared one cannot be
    /// shown. Optional: plugins without one load the same.
    pub config_schema: Option<Result<String, String>>,
}

/// How the host provides one imported interface: by default, and which grant gives more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provision {
    /// The import, e.g. `wasi:clocks/wall-clock@0.2.3`.
    pub import: String,
    /// What the plugin gets with no grant, e.g. `virtual: derived from the iteration (replays)`,
    /// or why it is refused at load.
    pub default: String,
    /// The grant that gives more (its form, e.g. `clocks:wall`), if one does.
    pub grant: Option<String>,
}

/// Loads plugins: owns the Wasm engine, its epoch ticker (a 1 ms thread) and the compile cache.
///
/// Cloning is cheap and shares all three. The ticker stops when the host and every plugin it
/// loaded are dropped. Creating one costs a few milliseconds: make one per process or run.
#[derive(Clone)]
pub struct PluginHost {
    rt: Arc<Runtime>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("pooling", &self.rt.pooling)
            .field("compiler", &self.rt.compiler)
            .finish_non_exhaustive()
    }
}

/// Which compiler turns a plugin into machine code. Both run the same code with the same
/// limits and give the same decisions; they trade compile time against call speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compiler {
    /// Winch, wasmtime's baseline compiler: one pass, about 4× faster to compile than
    /// Cranelift. Calls into a small (Rust) plugin cost the same; code that computes a lot
    /// (a JavaScript or Python interpreter) runs 1.2–1.6× slower. The default on x86-64,
    /// where wasmtime supports it at tier 1.
    Winch,
    /// Cranelift, the optimizing compiler: slower to compile, faster code. The default
    /// elsewhere, and the choice for a compute-heavy plugin on a hot path.
    Cranelift,
}

impl Default for Compiler {
    fn default() -> Self {
        if cfg!(target_arch = "x86_64") { Compiler::Winch } else { Compiler::Cranelift }
    }
}

impl Compiler {
    /// Its name in configuration and messages: `winch` or `cranelift`.
    pub fn name(self) -> &'static str {
        match self {
            Compiler::Winch => "winch",
            Compiler::Cranelift => "cranelift",
        }
    }
}

impl std::str::FromStr for Compiler {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "winch" => Ok(Compiler::Winch),
            "cranelift" => Ok(Compiler::Cranelift),
            other => Err(format!("unknown compiler `{other}` (expected `winch` or `cranelift`)")),
        }
    }
}

/// Settings of a [`PluginHost`]: from [`PluginHost::builder`].
#[derive(Debug, Clone)]
pub struct PluginHostBuilder {
    pooling: bool,
    compiler: Compiler,
    disk_cache: Option<PathBuf>,
}

impl PluginHostBuilder {
    /// Allocate instances on demand instead of from the pooling allocator.
    pub fn on_demand(mut self) -> Self {
        self.pooling = false;
        self
    }

    /// Which compiler to use (default: [`Compiler::default`]).
    pub fn compiler(mut self, compiler: Compiler) -> Self {
        self.compiler = compiler;
        self
    }

    /// Also keep compiled plugins on disk in `dir`, so another process (the next
    /// `chaoskit-host run`) skips compilation.
    pub fn disk_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.disk_cache = Some(dir.into());
        self
    }

    /// The host. When the pooling allocator cannot be reserved it allocates on demand, and when
    /// Winch does not support this machine it uses Cranelift (both logged; see
    /// [`PluginHost::is_pooling`] and [`PluginHost::compiler`]).
    ///
    /// # Errors
    ///
    /// The engine, its ticker thread or the cache directory cannot be set up.
    pub fn build(self) -> Result<PluginHost, PluginError> {
        Ok(PluginHost { rt: Runtime::new(self.pooling, self.compiler, self.disk_cache.as_deref())? })
    }
}

impl PluginHost {
    /// Settings beyond the defaults: compiler, on-disk cache, allocation.
    pub fn builder() -> PluginHostBuilder {
        PluginHostBuilder { pooling: true, compiler: Compiler::default(), disk_cache: None }
    }

    /// A host with the pooling instance allocator (on-demand allocation if the pool cannot be
    /// reserved) and the default [`Compiler`].
    ///
    /// # Errors
    ///
    /// The engine or its ticker thread cannot be created.
    pub fn new() -> Result<Self, PluginError> {
        Self::builder().build()
    }

    /// A host that also keeps compiled plugins on disk in `dir`, so another process (the next
    /// `chaoskit-host run`) skips compilation; within one host, compilations are always cached
    /// in memory by SHA-256.
    ///
    /// # Errors
    ///
    /// The engine, its ticker thread or the cache directory cannot be set up.
    pub fn with_disk_cache(dir: impl AsRef<Path>) -> Result<Self, PluginError> {
        Self::builder().disk_cache(dir.as_ref()).build()
    }

    /// A host that allocates instances on demand (no pooling allocator).
    ///
    /// # Errors
    ///
    /// The engine or its ticker thread cannot be created.
    pub fn on_demand() -> Result<Self, PluginError> {
        Self::builder().on_demand().build()
    }

    /// The compiler in use: the one asked for, or Cranelift if Winch does not support this
    /// machine.
    pub fn compiler(&self) -> Compiler {
        self.rt.compiler
    }

    /// Whether instances come from the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.rt.pooling
    }

    /// Load a plugin of either world; the component's exports decide which.
    ///
    /// The file is compiled (or taken from the cache by its SHA-256), its imports are checked
    /// against the grants, and one instance is created and configured, so a bad configuration
    /// is reported here, not during the run.
    ///
    /// # Errors
    ///
    /// See [`PluginError`]: unreadable, not a component, wrong world, import not granted,
    /// configuration refused, limit out of range, or a failure while configuring.
    pub fn load(&self, spec: PluginSpec) -> Result<LoadedPlugin, PluginError> {
        self.load_as(spec, None)
    }

    /// Load a plugin that must be an injector.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load), and [`PluginError::WrongWorld`] for a validator.
    pub fn load_injector(&self, spec: PluginSpec) -> Result<WasmInjector, PluginError> {
        match self.load_as(spec, Some(World::Injector))? {
            LoadedPlugin::Injector(i) => Ok(i),
            _ => unreachable!("load_as checked the world"),
        }
    }

    /// Load a plugin that must be a validator.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load), and [`PluginError::WrongWorld`] for an injector.
    pub fn load_validator(&self, spec: PluginSpec) -> Result<WasmValidator, PluginError> {
        match self.load_as(spec, Some(World::Validator))? {
            LoadedPlugin::Validator(v) => Ok(v),
            _ => unreachable!("load_as checked the world"),
        }
    }

    /// Load a plugin that must be a toxic: a custom toxic type for the chaos proxy, registered
    /// with [`ProxyRegistryBuilder::toxic_plugin`](crate::proxy::ProxyRegistryBuilder::toxic_plugin).
    /// The spec's configuration only proves the component runs: each toxic brings its own in
    /// its attributes.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load), and [`PluginError::WrongWorld`] for another world.
    #[cfg(feature = "proxy")]
    pub fn load_toxic(&self, spec: PluginSpec) -> Result<WasmToxic, PluginError> {
        match self.load_as(spec, Some(World::Toxic))? {
            LoadedPlugin::Toxic(t) => Ok(t),
            _ => unreachable!("load_as checked the world"),
        }
    }

    fn load_as(&self, spec: PluginSpec, expected: Option<World>) -> Result<LoadedPlugin, PluginError> {
        spec.limits.check(&spec.path)?;
        let compiled = Compiled::new(&self.rt, &spec.path)?;
        let world = match (compiled.world, expected) {
            (Some(w), None) => w,
            (_, Some(e)) => e,
            (None, None) => {
                return Err(PluginError::WrongWorld {
                    path: spec.path.clone(),
                    expected: "an injector, a validator or a toxic",
                    found: runtime::describe_exports(&compiled.exports),
                });
            }
        };
        Ok(match world {
            World::Injector => LoadedPlugin::Injector(WasmInjector::load(Arc::clone(&self.rt), spec, &compiled)?),
            World::Validator => LoadedPlugin::Validator(WasmValidator::load(Arc::clone(&self.rt), spec, &compiled)?),
            #[cfg(feature = "proxy")]
            World::Toxic => LoadedPlugin::Toxic(WasmToxic::load(Arc::clone(&self.rt), spec, &compiled)?),
            #[cfg(not(feature = "proxy"))]
            World::Toxic => {
                return Err(PluginError::WrongWorld {
                    path: spec.path.clone(),
                    expected: "an injector or a validator (toxics need the `proxy` feature)",
                    found: "a toxic".into(),
                });
            }
        })
    }

    /// Describe a plugin file without running it: world, imports, exports, size, SHA-256 and
    /// configuration schema.
    ///
    /// # Errors
    ///
    /// The file cannot be read or is not a valid component.
    pub fn inspect(&self, path: impl AsRef<Path>) -> Result<PluginInfo, PluginError> {
        let path = path.as_ref();
        let compiled = Compiled::new(&self.rt, path)?;
        let mut info = compiled.info(path);
        let bytes = runtime::read_plugin_file(path)?;
        info.config_schema = runtime::config_schema(&bytes).transpose();
        if let Some(world) = info.world
            && let Err(why) = runtime::check_types(&self.rt, &compiled, world)
        {
            info.world = None;
            info.mismatch = Some(format!(
                "it exports the names of {} but their types do not match the contract: {why}",
                world.article()
            ));
        }
        Ok(info)
    }
}
