//! Write ChaosKit injectors, validators and proxy toxics as WebAssembly components.
//!
//! A plugin is a `cdylib` crate that implements one trait and calls one macro:
//!
//! - [`Injector`] + [`export_injector!`]: asked at chaos points whether to add a fault;
//! - [`Validator`] + [`export_validator!`]: told what happened in each iteration, says pass or fail;
//! - [`Toxic`] + [`export_toxic!`]: a stream filter (custom network fault) in the chaos proxy.
//!
//! Configuration is typed: declare a `serde::Deserialize` struct as `Config` and the SDK parses the
//! scenario's JSON into it, refusing unknown or mistyped fields with a message the host shows the
//! user. Randomness ([`random`]), time ([`time`]), logging ([`log`]) and shared [`Counter`]s come
//! from the host: a plugin has no other ambient capability, and its random draws replay with the
//! scenario seed.
//!
//! # Example
//!
//! An injector that delays every `n`-th iteration (this is the whole crate):
//!
//! ```
//! use chaoskit_plugin_sdk::{Action, Injector, Point, export_injector};
//! use std::time::Duration;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     /// Delay every `every`-th iteration.
//!     every: u64,
//!     /// Delay length in milliseconds.
//!     #[serde(default = "default_ms")]
//!     ms: u64,
//! }
//! fn default_ms() -> u64 { 5 }
//!
//! struct EveryNth(Config);
//!
//! impl Injector for EveryNth {
//!     type Config = Config;
//!     fn new(config: Config) -> Result<Self, String> {
//!         if config.every == 0 {
//!             return Err("`every` must be at least 1".into());
//!         }
//!         Ok(Self(config))
//!     }
//!     fn decide(&mut self, _point: &Point, iteration: u64) -> Action {
//!         if iteration % self.0.every == 0 {
//!             Action::Delay(Duration::from_millis(self.0.ms))
//!         } else {
//!             Action::None
//!         }
//!     }
//! }
//!
//! export_injector!(EveryNth);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the profile below keeps the
//! component around 50 KB:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [profile.release]
//! opt-level = "s"
//! lto = true
//! strip = true
//! codegen-units = 1
//! panic = "abort"
//! ```

use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

#[doc(hidden)]
pub mod __private;

pub use __private::{Capabilities, PointKind};

/// A chaos point, as registered by the host before the first decision about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// Run-wide id of the point (the number `decide` is called with).
    pub id: u32,
    /// What the call site can do with an action.
    pub kind: PointKind,
    /// Site or step name, e.g. `db.query`.
    pub name: String,
    /// Optional scope, e.g. the target or connection.
    pub scope: Option<String>,
}

/// What an injector wants to happen at a chaos point.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Action {
    /// Nothing: the call proceeds normally.
    #[default]
    None,
    /// Sleep this long.
    Delay(Duration),
    /// Fail the call with this message.
    Error(String),
    /// Panic with this message.
    Panic(String),
    /// Cancel the operation.
    Cancel,
}

impl Action {
    /// A delay of `ms` milliseconds.
    pub fn delay_ms(ms: u64) -> Self {
        Action::Delay(Duration::from_millis(ms))
    }
}

/// A fault injector: implement it and call [`export_injector!`].
///
/// The host may run several instances at once (one per worker), each configured with the same
/// JSON; keep state meant to be shared in [`Counter`]s.
pub trait Injector: Sized + 'static {
    /// Configuration, parsed from the scenario's JSON (`{}` when none is given).
    type Config: DeserializeOwned;

    /// Build the injector from its configuration; an error refuses the plugin at load time.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Point kinds this injector answers; by default delay, error and panic points.
    fn capabilities(&self) -> Capabilities {
        Capabilities::DELAY | Capabilities::ERROR | Capabilities::PANIC
    }

    /// Whether to be asked about `point` (cold path, once per point); by default every point whose
    /// kind is in [`capabilities`](Injector::capabilities).
    fn wants(&self, point: &Point) -> bool {
        self.capabilities().contains(point.kind.into())
    }

    /// Hot path: what happens at `point` in `iteration`.
    fn decide(&mut self, point: &Point, iteration: u64) -> Action;
}

/// Severity of a validator failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    /// A failure fails the run.
    #[default]
    Critical,
    /// A failure marks the run unstable.
    Warning,
}

/// How a validator's failures count toward the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Counting {
    /// Each failing iteration counts.
    #[default]
    PerIteration,
    /// The run fails once, however many iterations failed.
    PerRun,
}

/// The numbers of one finished iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Iteration index (0-based).
    pub iteration: u64,
    /// Whether all steps succeeded.
    pub ok: bool,
    /// Wall time of the iteration.
    pub duration: Duration,
    /// Panics recovered in the iteration.
    pub panics: u32,
    /// Errors recorded in the iteration.
    pub errors: u32,
    /// Deepest recursion recorded.
    pub max_recursion_depth: u32,
}

/// Something recorded during an iteration (see [`Validator::observe`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A recursion depth sample.
    RecursionDepth(u32),
    /// A recovered panic and its message.
    Panic(String),
    /// A recorded error and its message.
    Error(String),
    /// A named measurement.
    Metric(String, f64),
}

/// An invariant checker: implement it and call [`export_validator!`].
///
/// The host keeps one instance per loaded validator and calls it in iteration order.
pub trait Validator: Sized + 'static {
    /// Configuration, parsed from the scenario's JSON (`{}` when none is given).
    type Config: DeserializeOwned;

    /// Build the validator from its configuration; an error refuses the plugin at load time.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Severity of a failure; critical by default.
    fn severity(&self) -> Severity {
        Severity::Critical
    }

    /// How failures count; per iteration by default.
    fn counting(&self) -> Counting {
        Counting::PerIteration
    }

    /// Whether [`observe`](Validator::observe) should receive events; `false` by default, which
    /// spares the host from copying them.
    fn wants_events(&self) -> bool {
        false
    }

    /// Events of an iteration, before its [`check`](Validator::check); ignored by default.
    fn observe(&mut self, iteration: u64, events: &[Event]) {
        let _ = (iteration, events);
    }

    /// Called after each iteration; `Err(message)` reports a violation.
    fn check(&mut self, outcome: &Outcome) -> Result<(), String>;

    /// Called at the end of the run; passes by default.
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Which way a chunk flows through the chaos proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to upstream server.
    Upstream,
    /// Upstream server to client.
    Downstream,
}

/// A proxied connection, as [`Toxic::open`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The proxy's name.
    pub proxy: String,
    /// The toxic's name.
    pub toxic: String,
    /// Index of the connection on its proxy (0, 1, 2, ... in accept order).
    pub index: u64,
    /// The direction whose chunks the toxic receives.
    pub direction: Direction,
}

/// One step of what to do with a chunk (see [`Toxic::filter`]). Steps run in order over the
/// chunk's bytes; bytes no `Pass` or `Skip` reached pass unchanged after the last step, so no
/// steps at all passes the chunk (and copies nothing back to the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Forward the next `n` bytes unchanged.
    Pass(u32),
    /// Drop the next `n` bytes.
    Skip(u32),
    /// Write these bytes in this direction.
    Insert(Vec<u8>),
    /// Write these bytes back the other way, to the peer that sent the chunk.
    Reply(Vec<u8>),
    /// Hold what follows this long.
    Delay(Duration),
    /// Close the connection after what precedes.
    Close,
    /// Reset both sides of the connection.
    Reset,
}

impl Step {
    /// Replace a whole chunk of `len` bytes with `bytes`.
    pub fn replace(len: usize, bytes: Vec<u8>) -> Vec<Step> {
        vec![Step::Skip(u32::try_from(len).unwrap_or(u32::MAX)), Step::Insert(bytes)]
    }

    /// Drop a whole chunk of `len` bytes.
    pub fn drop_all(len: usize) -> Vec<Step> {
        vec![Step::Skip(u32::try_from(len).unwrap_or(u32::MAX))]
    }
}

/// A stream filter for the chaos proxy (a custom toxic): implement it and call
/// [`export_toxic!`].
///
/// The proxy adds it like a built-in toxic: `{"type": "<plugin name>", "stream": "upstream",
/// "attributes": {...}}`; the attributes are the [`Config`](Toxic::Config), and an error from
/// [`new`](Toxic::new) refuses the toxic (the API answers 400 with the message). Each proxied
/// connection gets its own [`Connection`](Toxic::Connection) state. Randomness from [`random`]
/// is the toxic's seeded stream for the connection.
///
/// ```
/// use chaoskit_plugin_sdk::{ConnectionInfo, Direction, Step, Toxic, export_toxic};
///
/// #[derive(serde::Deserialize)]
/// struct Config { every: u64 }
///
/// /// Drops every `every`-th chunk.
/// struct DropEvery(Config);
///
/// impl Toxic for DropEvery {
///     type Config = Config;
///     type Connection = u64;
///     fn new(config: Config) -> Result<Self, String> {
///         if config.every == 0 { return Err("`every` must be at least 1".into()); }
///         Ok(Self(config))
///     }
///     fn open(&mut self, _info: &ConnectionInfo) -> u64 { 0 }
///     fn filter(&mut self, seen: &mut u64, _d: Direction, chunk: Vec<u8>) -> Vec<Step> {
///         *seen += 1;
///         if *seen % self.0.every == 0 { Step::drop_all(chunk.len()) } else { Vec::new() }
///     }
/// }
///
/// export_toxic!(DropEvery);
/// ```
pub trait Toxic: Sized + 'static {
    /// Configuration, parsed from the toxic's attributes.
    type Config: DeserializeOwned;
    /// State of one connection.
    type Connection;

    /// Build the toxic from its attributes; an error refuses them.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// A new connection, before its first chunk.
    fn open(&mut self, info: &ConnectionInfo) -> Self::Connection;

    /// Hot path: what to do with one chunk (owned: modify it in place and return it in an
    /// [`Step::Insert`] to avoid another copy). An empty list passes the chunk unchanged.
    fn filter(&mut self, connection: &mut Self::Connection, direction: Direction, chunk: Vec<u8>) -> Vec<Step>;

    /// The connection ended; its state is dropped after this.
    fn close(&mut self, connection: Self::Connection) {
        let _ = connection;
    }
}

/// Parse a plugin's JSON configuration; an empty string means `{}`.
///
/// The error names the line, column and field at fault, e.g.
/// ``invalid configuration: unknown field `rat`, expected `rate` at line 1 column 6``.
pub fn parse_config<C: DeserializeOwned>(json: &str) -> Result<C, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| format!("invalid configuration: {e}"))
}

/// Randomness from the host's seeded stream: replays with the scenario seed.
pub mod random {
    use std::ops::Range;
    use std::time::Duration;

    /// A uniformly random `u64`.
    pub fn u64() -> u64 {
        crate::__private::host_random_u64()
    }

    /// A uniformly random `f64` in `[0, 1)`.
    pub fn f64() -> f64 {
        // 53 high bits: every value is exactly representable.
        (u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`; `0` never draws `true`, `1` always does).
    pub fn chance(p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        f64() < p
    }

    /// A uniform integer in `range` (`range.start` when it is empty).
    pub fn range(range: Range<u64>) -> u64 {
        let span = range.end.saturating_sub(range.start);
        if span == 0 {
            return range.start;
        }
        // Lemire's multiply-shift: unbiased enough for fault injection, no division.
        range.start + ((u128::from(u64()) * u128::from(span)) >> 64) as u64
    }

    /// A uniform duration in `[min, max]` (nanosecond resolution).
    pub fn duration(min: Duration, max: Duration) -> Duration {
        let (lo, hi) = (min.as_nanos() as u64, max.as_nanos() as u64);
        if hi <= lo {
            return min;
        }
        Duration::from_nanos(range(lo..hi.saturating_add(1)))
    }
}

/// Host time: the plugin has no other clock.
pub mod time {
    use std::time::Duration;

    /// Time since the plugin was started, from the host's monotonic clock.
    pub fn now() -> Duration {
        Duration::from_nanos(crate::__private::host_now_ns())
    }
}

/// Log lines through the host (`tracing` target `chaoskit::plugin`).
pub mod log {
    pub use crate::__private::LogLevel as Level;

    /// Write `message` at `level`.
    pub fn write(level: Level, message: &str) {
        crate::__private::host_log(level, message);
    }
    /// Write at info level.
    pub fn info(message: &str) {
        write(Level::Info, message);
    }
    /// Write at warn level.
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }
    /// Write at debug level.
    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }
}

/// A named counter shared by all instances of the plugin (workers, rebuilds, hot reloads).
///
/// Resolve it once (in [`Injector::new`]) and add on the hot path:
///
/// ```no_run
/// let calls = chaoskit_plugin_sdk::Counter::new("calls");
/// let total = calls.add(1);
/// assert!(total >= 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Counter(u32);

impl Counter {
    /// Resolve the counter called `name` (created at 0 on first use).
    pub fn new(name: &str) -> Self {
        Counter(crate::__private::host_counter(name))
    }
    /// Add `delta` and return the new value.
    #[allow(
        clippy::should_implement_trait,
        reason = "a counter handle is not a number; `add` mirrors the WIT `counter-add`"
    )]
    pub fn add(self, delta: i64) -> i64 {
        crate::__private::host_counter_add(self.0, delta)
    }
    /// Current value.
    pub fn get(self) -> i64 {
        self.add(0)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Counter").field(&self.0).finish()
    }
}

/// Embed the JSON schema of the plugin's configuration, read from a file at compile time (the
/// path is relative to the file that calls the macro), in the custom section
/// `chaoskit:config-schema`; `chaoskit-host plugin inspect` shows it. Optional: a plugin
/// without one loads the same.
///
/// ```ignore
/// chaoskit_plugin_sdk::config_schema!("../config.schema.json");
/// ```
#[macro_export]
macro_rules! config_schema {
    ($path:literal) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            #[used]
            #[unsafe(link_section = "chaoskit:config-schema")]
            static CHAOSKIT_CONFIG_SCHEMA: [u8; ::core::include_bytes!($path).len()] = *::core::include_bytes!($path);
        };
    };
}

/// Export `T` (an [`Injector`]) as this component's `injector` world.
#[macro_export]
macro_rules! export_injector {
    ($t:ty) => {
        const _: () = {
            #[doc(hidden)]
            pub struct __ChaosKitInjector;
            impl $crate::__private::injector_bindings::Guest for __ChaosKitInjector {
                fn configure(
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::__private::injector_bindings::chaoskit::plugin::types::InjectorInfo,
                    ::std::string::String,
                > {
                    $crate::__private::injector_configure::<$t>(&config)
                }
                fn register_point(
                    id: u32,
                    point: $crate::__private::injector_bindings::chaoskit::plugin::types::Point,
                ) -> bool {
                    $crate::__private::injector_register_point::<$t>(id, point)
                }
                fn decide(
                    id: u32,
                    iteration: u64,
                ) -> $crate::__private::injector_bindings::chaoskit::plugin::types::Action {
                    $crate::__private::injector_decide::<$t>(id, iteration)
                }
                fn message(id: u32) -> ::std::string::String {
                    $crate::__private::injector_message(id)
                }
            }
            $crate::__private::injector_bindings::__export_injector!(
                __ChaosKitInjector with_types_in $crate::__private::injector_bindings
            );
        };
    };
}

/// Export `T` (a [`Validator`]) as this component's `validator` world.
#[macro_export]
macro_rules! export_validator {
    ($t:ty) => {
        const _: () = {
            #[doc(hidden)]
            pub struct __ChaosKitValidator;
            impl $crate::__private::validator_bindings::Guest for __ChaosKitValidator {
                fn configure(
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::__private::validator_bindings::chaoskit::plugin::types::ValidatorInfo,
                    ::std::string::String,
                > {
                    $crate::__private::validator_configure::<$t>(&config)
                }
                fn observe(
                    iteration: u64,
                    events: ::std::vec::Vec<$crate::__private::validator_bindings::chaoskit::plugin::types::Event>,
                ) {
                    $crate::__private::validator_observe::<$t>(iteration, events)
                }
                fn check(
                    outcome: $crate::__private::validator_bindings::chaoskit::plugin::types::Outcome,
                ) -> $crate::__private::validator_bindings::chaoskit::plugin::types::Verdict {
                    $crate::__private::validator_check::<$t>(outcome)
                }
                fn finish() -> $crate::__private::validator_bindings::chaoskit::plugin::types::Verdict {
                    $crate::__private::validator_finish::<$t>()
                }
            }
            $crate::__private::validator_bindings::__export_validator!(
                __ChaosKitValidator with_types_in $crate::__private::validator_bindings
            );
        };
    };
}

/// Export `T` (a [`Toxic`]) as this component's `toxic` world.
#[macro_export]
macro_rules! export_toxic {
    ($t:ty) => {
        const _: () = {
            #[doc(hidden)]
            pub struct __ChaosKitToxic;
            impl $crate::__private::toxic_bindings::Guest for __ChaosKitToxic {
                fn configure(attributes: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::toxic_configure::<$t>(&attributes)
                }
                fn open(
                    conn: u64,
                    info: $crate::__private::toxic_bindings::chaoskit::plugin::filter_types::ConnectionInfo,
                ) {
                    $crate::__private::toxic_open::<$t>(conn, info)
                }
                fn filter(
                    conn: u64,
                    direction: $crate::__private::toxic_bindings::chaoskit::plugin::filter_types::Direction,
                    chunk: ::std::vec::Vec<u8>,
                ) -> ::std::vec::Vec<$crate::__private::toxic_bindings::chaoskit::plugin::filter_types::Step> {
                    $crate::__private::toxic_filter::<$t>(conn, direction, chunk)
                }
                fn close(conn: u64) {
                    $crate::__private::toxic_close::<$t>(conn)
                }
            }
            $crate::__private::toxic_bindings::__export_toxic!(
                __ChaosKitToxic with_types_in $crate::__private::toxic_bindings
            );
        };
    };
}

#[cfg(test)]
mod tests {
    use super::parse_config;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        rate: f64,
        #[serde(default)]
        name: String,
    }

    #[test]
    fn an_empty_configuration_is_an_empty_object() {
        #[derive(serde::Deserialize)]
        struct Empty {}
        assert!(parse_config::<Empty>("").is_ok());
        assert!(parse_config::<Empty>("  ").is_ok());
    }

    #[test]
    fn configuration_errors_name_the_field_and_position() {
        assert_eq!(
            parse_config::<Config>(r#"{"rat": 1}"#).unwrap_err(),
            "invalid configuration: unknown field `rat`, expected `rate` or `name` at line 1 column 6"
        );
        assert_eq!(
            parse_config::<Config>(r#"{"rate": "high"}"#).unwrap_err(),
            "invalid configuration: invalid type: string \"high\", expected f64 at line 1 column 15"
        );
        assert_eq!(parse_config::<Config>(r#"{"rate": 0.5}"#), Ok(Config { rate: 0.5, name: String::new() }));
    }
}
