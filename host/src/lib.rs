//! ChaosKit: a chaos-engineering experiment host.
//!
//! A [`Scenario`] names a target, the steps that exercise it, the injectors that add faults
//! while it runs, and the validators that check invariants. [`run`] repeats the steps,
//! records every fault decision in a bounded journal, and returns a [`Report`] whose
//! [`Verdict`] (PASS / UNSTABLE / FAIL against [`Thresholds`]) decides success.
//!
//! - [`chaos`]: [`ChaosContext`] and its chaos points (`maybe_delay`, `maybe_panic`, ...).
//! - [`inject`]: the [`Injector`] trait and built-in injectors.
//! - [`fail`] and [`fail_point!`]: a drop-in for the `fail` crate whose sites join runs.
//! - [`validate`]: the [`Validator`] trait and built-in validators.
//! - [`plugin`]: WebAssembly injectors and validators, loaded and hot-reloaded in a sandbox.
//! - [`points`]: chaos points on the current context, for code deep in a call stack.
//! - [`replay`]: replay a failing iteration of a journal, and shrink its faults to the few
//!   that matter.
//! - [`proxy`]: a TCP chaos proxy with Toxiproxy-compatible toxics, API server and client.
//! - [`spec`]: scenario files (TOML, YAML, JSON) → a resolved scenario → a [`Scenario`].
//! - [`services`]: process and address targets, HTTP/TCP/command steps, target-process
//!   validators, used by scenario files.
//!
//! ```
//! use chaoskit::{inject, validate, Scenario, Verdict};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scenario = Scenario::builder("quick")
//!     .target(chaoskit::target("service", ()))
//!     .step("call", |ctx, _svc| async move {
//!         ctx.maybe_delay().await;
//!         ctx.maybe_error()?;
//!         Ok::<_, chaoskit::ChaosError>(())
//!     })
//!     .inject("slow", inject::delay(0.2, Duration::from_micros(10), Duration::from_micros(50)))
//!     .inject("flaky", inject::error(0.01))
//!     .assert("fast", validate::max_iteration_time(Duration::from_secs(1)))
//!     .repeat(200)
//!     .seed(42)
//!     .continue_on_failure()
//!     .build()?;
//! let report = chaoskit::run(scenario).await?;
//! assert_eq!(report.verdict(), Verdict::Pass);
//! assert_eq!(report.seed, 42);
//! # Ok(())
//! # }
//! ```
//!
//! The library prints nothing and installs no global (subscriber, recorder, panic hook);
//! it logs through `tracing` under the `chaoskit::*` targets.
//!
//! With `default-features = false` the library is the core: scenarios, the executor, chaos
//! points, built-in injectors and validators, the journal, and text / JSON / JUnit reports
//! (no wasmtime, axum, hyper, clap, askama or indicatif). Features add the rest:
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `cli` | yes | the `chaoskit-host` binary and `chaoskit::cli` (clap, indicatif, tracing-subscriber, the Prometheus exporter) plus every feature below; the only code that installs globals |
//! | `plugins` | via `cli` | `chaoskit::plugin`: WebAssembly injectors and validators (wasmtime) |
//! | `proxy` | via `cli` | `chaoskit::proxy` and the `proxy_toxic` / `proxy_down` injectors (axum, hyper) |
//! | `spec` | via `cli` | `chaoskit::spec` (scenario files) and `chaoskit::services` (their targets and steps); implies `proxy` |
//! | `html` | via `cli` | `Report::to_html` (askama) |
//! | `failpoints` | no | compiles [`fail_point!`] sites in (as the `fail` crate's feature of the same name) |

pub mod chaos;
#[cfg(feature = "cli")]
pub mod cli;
pub mod fail;
#[cfg(any(feature = "plugins", feature = "spec"))]
mod grant;
pub mod inject;
pub mod journal;
#[cfg(feature = "plugins")]
pub mod plugin;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod replay;
pub mod report;
mod run;
mod scenario;
mod serde_duration;
#[cfg(feature = "spec")]
pub mod services;
pub mod sites;
#[cfg(feature = "spec")]
pub mod spec;
mod units;
pub mod validate;

/// Chaos points on the current iteration's context; no-ops outside a run.
pub mod points {
    pub use crate::chaos::{
        current, failpoint, maybe_cancel, maybe_delay, maybe_error, maybe_network, maybe_panic, record_error,
        record_metric, record_panic, record_recursion_depth, with_current,
    };
}

pub use chaos::{Action, Capabilities, ChaosContext, ChaosError, Draws, Event, NetworkFault, Point, PointKind};
pub use chaoskit_macros::chaos_fn;
pub use inject::{InjectError, Injector, StartContext};
pub use journal::JournalConfig;
pub use report::{Report, Shard, Thresholds, Verdict};
pub use run::{Executor, IterationSummary, Progress, RunError, run};
pub use scenario::{BoxError, BuildError, FailurePolicy, NamedTarget, Scenario, ScenarioBuilder, Target, target};
pub use tokio_util::sync::CancellationToken;
pub use validate::{Counting, IterationOutcome, RunJudgement, Severity, Validator, ValidatorExt, Violation};
