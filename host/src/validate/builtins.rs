//! Built-in validators that judge what the iteration reported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Counting, IterationOutcome, RunJudgement, Severity, Validator, Violation};

/// Fails the run when more than `max` panics were caught over the whole run.
#[derive(Debug)]
pub struct MaxPanics {
    max: u64,
    seen: AtomicU64,
}

/// At most `max` panics (caught by the executor or recorded by the code) over the run.
pub fn max_panics(max: u64) -> MaxPanics {
    MaxPanics { max, seen: AtomicU64::new(0) }
}

impl Validator for MaxPanics {
    fn counting(&self) -> Counting {
        Counting::PerRun
    }
    fn run_judgement(&self) -> RunJudgement {
        RunJudgement::MaxPanics { max: self.max }
    }
    fn start(&self) -> Result<(), Violation> {
        self.seen.store(0, Ordering::Relaxed);
        Ok(())
    }
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        self.seen.fetch_add(u64::from(outcome.panics), Ordering::Relaxed);
        Ok(())
    }
    fn finish(&self) -> Result<(), Violation> {
        let seen = self.seen.load(Ordering::Relaxed);
        if seen > self.max {
            Err(Violation::new(format!("{seen} panics caught, at most {} allowed", self.max)))
        } else {
            Ok(())
        }
    }
}

/// Fails an iteration whose recursion went deeper than a limit.
#[derive(Debug)]
pub struct RecursionDepth {
    limit: u32,
}

/// Recursion depth (reported with `record_recursion_depth`) at most `limit` per iteration.
pub fn recursion_depth(limit: u32) -> RecursionDepth {
    RecursionDepth { limit }
}

impl Validator for RecursionDepth {
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        if outcome.max_recursion_depth > self.limit {
            Err(Violation::new(format!(
                "recursion depth {} exceeds the limit of {}",
                outcome.max_recursion_depth, self.limit
            )))
        } else {
            Ok(())
        }
    }
}

/// Abandons a step that runs longer than a timeout (a stuck or endlessly looping step).
#[derive(Debug)]
pub struct NoStall {
    timeout: Duration,
}

/// Each step must finish within `timeout`; a step over it is abandoned (its future dropped,
/// or its blocking thread left behind with the iteration's token cancelled), the iteration
/// fails with a clear message, and the run goes on.
pub fn no_stall(timeout: Duration) -> NoStall {
    NoStall { timeout }
}

impl Validator for NoStall {
    fn step_timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        match outcome.stalled_step {
            Some(step) => Err(Violation::new(format!(
                "step `{step}` ran past its {} timeout and was abandoned",
                crate::units::format_duration(self.timeout)
            ))),
            None => Ok(()),
        }
    }
}

/// Bounds the wall time of each iteration.
#[derive(Debug)]
pub struct MaxIterationTime {
    max: Duration,
}

/// Each iteration's steps take at most `max`.
pub fn max_iteration_time(max: Duration) -> MaxIterationTime {
    MaxIterationTime { max }
}

impl Validator for MaxIterationTime {
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        if outcome.duration > self.max {
            Err(Violation::new(format!(
                "iteration took {}, more than the {} allowed",
                crate::report::human_us(outcome.duration.as_secs_f64() * 1e6),
                crate::units::format_duration(self.max)
            )))
        } else {
            Ok(())
        }
    }
}

/// Checks application state with a closure after every iteration.
pub struct StateCheck<F> {
    f: F,
}

/// After each iteration, `f` checks whatever state it captured (an `Arc` of the system's
/// state, a database handle); `Err(message)` is a violation.
pub fn state<F>(f: F) -> StateCheck<F>
where
    F: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    StateCheck { f }
}

impl<F> Validator for StateCheck<F>
where
    F: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        (self.f)().map_err(Violation::new)
    }
}

/// A validator made of a closure over the iteration outcome.
pub struct FnValidator<F> {
    f: F,
}

/// A per-iteration validator from a closure.
pub fn from_fn<F>(f: F) -> FnValidator<F>
where
    F: Fn(&IterationOutcome<'_>) -> Result<(), String> + Send + Sync + 'static,
{
    FnValidator { f }
}

impl<F> Validator for FnValidator<F>
where
    F: Fn(&IterationOutcome<'_>) -> Result<(), String> + Send + Sync + 'static,
{
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        (self.f)(outcome).map_err(Violation::new)
    }
}

/// Several validators under one label: every child is checked and their complaints join.
pub struct AllOf {
    children: Vec<Box<dyn Validator>>,
}

/// Groups validators. The group is critical if any child is, per run if any child is, and
/// its step timeout is the shortest of its children's.
pub fn all(children: impl IntoIterator<Item = Box<dyn Validator>>) -> AllOf {
    AllOf { children: children.into_iter().collect() }
}

fn join(results: impl Iterator<Item = Result<(), Violation>>) -> Result<(), Violation> {
    let mut messages = Vec::new();
    let mut harness = false;
    for r in results {
        if let Err(v) = r {
            harness |= v.harness_error;
            messages.push(v.message);
        }
    }
    if messages.is_empty() { Ok(()) } else { Err(Violation { message: messages.join("; "), harness_error: harness }) }
}

impl Validator for AllOf {
    fn severity(&self) -> Severity {
        self.children.iter().map(|c| c.severity()).max().unwrap_or_default()
    }
    fn counting(&self) -> Counting {
        if self.children.iter().any(|c| c.counting() == Counting::PerRun) {
            Counting::PerRun
        } else {
            Counting::PerIteration
        }
    }
    fn start(&self) -> Result<(), Violation> {
        join(self.children.iter().map(|c| c.start()))
    }
    fn step_timeout(&self) -> Option<Duration> {
        self.children.iter().filter_map(|c| c.step_timeout()).min()
    }
    fn check(&self, outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        join(self.children.iter().map(|c| c.check(outcome)))
    }
    fn ordered(&self) -> bool {
        self.children.iter().any(|c| c.ordered())
    }
    fn finish(&self) -> Result<(), Violation> {
        join(self.children.iter().map(|c| c.finish()))
    }
    /// A group's run-level complaint joins its children's: it can be judged again on merged
    /// data only if no child judges the run.
    fn run_judgement(&self) -> RunJudgement {
        if self.children.iter().all(|c| c.run_judgement() == RunJudgement::Iterations) {
            RunJudgement::Iterations
        } else {
            RunJudgement::PerShard
        }
    }
    fn notes(&self) -> Vec<String> {
        self.children.iter().flat_map(|c| c.notes()).collect()
    }
}
