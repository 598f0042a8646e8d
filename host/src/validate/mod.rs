//! Validators: the invariants checked after each iteration and at the end of a run.
//!
//! - [`Validator`]: the trait. [`check`](Validator::check) sees one iteration's
//!   [`IterationOutcome`]; [`finish`](Validator::finish) judges the whole run.
//! - Each validator declares a [`Severity`] (a critical violation fails the iteration and
//!   can fail the verdict; a warning makes it UNSTABLE) and a [`Counting`] (judged per
//!   iteration, so nothing carries over between iterations, or accumulated over the run).
//! - Built-ins: [`max_panics`], [`recursion_depth`], [`no_task_leak`], [`no_thread_leak`],
//!   [`no_stall`], [`max_iteration_time`], [`memory_limit`], [`state`], [`all`] and
//!   [`from_fn`].

mod builtins;
mod leaks;
mod resources;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use builtins::{
    AllOf, FnValidator, MaxIterationTime, MaxPanics, NoStall, RecursionDepth, StateCheck, all, from_fn,
    max_iteration_time, max_panics, no_stall, recursion_depth, state,
};
pub use leaks::{Leak, no_task_leak, no_thread_leak, thread_count};
pub use resources::{MemoryLimit, memory_limit, process_rss_bytes};

use crate::chaos::Event;

/// How much a violation matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Makes the verdict UNSTABLE; the iteration still counts as passed.
    Warning,
    /// Fails the iteration it judged and the run: any complaint makes the verdict FAIL.
    #[default]
    Critical,
}

/// Whether a validator judges each iteration on its own or the run as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    /// Each iteration is judged on its own events; nothing carries over.
    #[default]
    PerIteration,
    /// Counts accumulate over the run and are judged at the end (and may fail earlier).
    PerRun,
}

/// How a validator's judgement of the whole run (`finish`) is made when the journals of a
/// sharded run merge: from the merged data where the rule is known, else per shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
#[non_exhaustive]
pub enum RunJudgement {
    /// Judges each iteration only; its violations add up across shards exactly.
    #[default]
    Iterations,
    /// At most `max` panics over the whole run: judged again from the merged panic count.
    MaxPanics {
        /// Panics allowed.
        max: u64,
    },
    /// Run-level state that does not merge (a plugin's, a custom `finish`): each shard judged
    /// its own iterations, and the merged report keeps every shard's complaint.
    PerShard,
}

/// A validator's complaint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    /// What was wrong, with the numbers.
    pub message: String,
    /// `true` when the validator itself broke (a crashed plugin, a panic), as opposed to an
    /// invariant the system under test violated.
    pub harness_error: bool,
}

impl Violation {
    /// An invariant the system under test violated.
    pub fn new(message: impl Into<String>) -> Self {
        Violation { message: message.into(), harness_error: false }
    }

    /// The validator itself failed.
    pub fn harness(message: impl Into<String>) -> Self {
        Violation { message: message.into(), harness_error: true }
    }
}

/// What happened in one iteration, as validators see it.
#[derive(Clone, Copy, Debug)]
pub struct IterationOutcome<'a> {
    /// 0-based iteration index.
    pub index: u64,
    /// The run's seed (a validator that draws derives its stream from it and `index`).
    pub seed: u64,
    /// Whether every step succeeded (before validators judged).
    pub ok: bool,
    /// Wall time of the steps.
    pub duration: Duration,
    /// The step error, if one failed.
    pub error: Option<&'a str>,
    /// The step that ran past its timeout and was abandoned, if any.
    pub stalled_step: Option<&'a str>,
    /// How many steps completed.
    pub steps_executed: u32,
    /// What the code reported.
    pub events: &'a [Event],
    /// The deepest recursion reported.
    pub max_recursion_depth: u32,
    /// Panics caught (by the executor or reported by the code).
    pub panics: u32,
    /// Errors reported (including injected ones).
    pub errors: u32,
}

/// Checks an invariant after each iteration and at the end of the run.
///
/// A validator may be shared by concurrent iterations, so per-run state lives behind
/// atomics or a lock; per-iteration judgement needs no state at all.
#[diagnostic::on_unimplemented(
    note = "see the `chaoskit::validate` module docs for the built-in validators and `validate::from_fn`"
)]
pub trait Validator: Send + Sync + 'static {
    /// How much a violation matters. Default: critical.
    fn severity(&self) -> Severity {
        Severity::Critical
    }

    /// Per iteration (default) or per run.
    fn counting(&self) -> Counting {
        Counting::PerIteration
    }

    /// Called once before the first iteration, after the injectors started (take baselines
    /// here; reset per-run counts so a validator can serve several runs).
    fn start(&self) -> Result<(), Violation> {
        Ok(())
    }

    /// A step that runs longer than this is abandoned and its iteration fails.
    fn step_timeout(&self) -> Option<Duration> {
        None
    }

    /// Judges one iteration.
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation>;

    /// Whether `check` must see iterations in index order (a judge that keeps state across
    /// iterations: a streak, a sliding window). The executor then calls it in order at any
    /// concurrency, after the iteration's other checks. Default: any order.
    fn ordered(&self) -> bool {
        false
    }

    /// Judges the whole run, once, after the last iteration.
    fn finish(&self) -> Result<(), Violation> {
        Ok(())
    }

    /// How `finish` is judged on merged shard journals. Default: per shard for
    /// [`Counting::PerRun`] validators, per iteration otherwise; override when a
    /// per-iteration validator also judges in `finish`.
    fn run_judgement(&self) -> RunJudgement {
        match self.counting() {
            Counting::PerRun => RunJudgement::PerShard,
            Counting::PerIteration => RunJudgement::Iterations,
        }
    }

    /// Lines for the report.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Why this validator's judgement may differ when the run is replayed from its seed (it
    /// reads the OS's randomness or the host's clocks), for the report's replay hazards.
    fn replay_hazard(&self) -> Option<String> {
        None
    }
}

macro_rules! forward_validator {
    ($ty:ty) => {
        impl<V: Validator + ?Sized> Validator for $ty {
            fn severity(&self) -> Severity {
                (**self).severity()
            }
            fn counting(&self) -> Counting {
                (**self).counting()
            }
            fn start(&self) -> Result<(), Violation> {
                (**self).start()
            }
            fn step_timeout(&self) -> Option<Duration> {
                (**self).step_timeout()
            }
            fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
                (**self).check(outcome)
            }
            fn ordered(&self) -> bool {
                (**self).ordered()
            }
            fn finish(&self) -> Result<(), Violation> {
                (**self).finish()
            }
            fn run_judgement(&self) -> RunJudgement {
                (**self).run_judgement()
            }
            fn notes(&self) -> Vec<String> {
                (**self).notes()
            }
            fn replay_hazard(&self) -> Option<String> {
                (**self).replay_hazard()
            }
        }
    };
}
forward_validator!(Box<V>);
forward_validator!(std::sync::Arc<V>);

/// A validator with another severity.
pub struct WithSeverity<V> {
    inner: V,
    severity: Severity,
}

/// Extension methods for every validator.
pub trait ValidatorExt: Validator + Sized {
    /// Overrides the declared severity (e.g. demote a check to a warning).
    fn with_severity(self, severity: Severity) -> WithSeverity<Self> {
        WithSeverity { inner: self, severity }
    }
}
impl<V: Validator> ValidatorExt for V {}

impl<V: Validator> Validator for WithSeverity<V> {
    fn severity(&self) -> Severity {
        self.severity
    }
    fn counting(&self) -> Counting {
        self.inner.counting()
    }
    fn start(&self) -> Result<(), Violation> {
        self.inner.start()
    }
    fn step_timeout(&self) -> Option<Duration> {
        self.inner.step_timeout()
    }
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        self.inner.check(outcome)
    }
    fn ordered(&self) -> bool {
        self.inner.ordered()
    }
    fn finish(&self) -> Result<(), Violation> {
        self.inner.finish()
    }
    fn run_judgement(&self) -> RunJudgement {
        self.inner.run_judgement()
    }
    fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }
    fn replay_hazard(&self) -> Option<String> {
        self.inner.replay_hazard()
    }
}
