//! Write ChaosKit injectors and validators as WebAssembly components.
//!
//! A plugin is a `cdylib` crate that implements one trait and calls one macro:
//!
//! - [`Injector`] + [`export_injector!`]: asked at chaos points whether to add a fault;
//! - [`Validator`] + [`export_validator!`]: told what happened in each iteration, says pass or fail.
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
