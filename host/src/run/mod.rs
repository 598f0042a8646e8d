//! The executor: runs a [`Scenario`] and returns its [`Report`].
//!
//! Lifecycle, on every path (failing iteration, panicking step, cancellation, an injector
//! that fails to start): target setup → injectors start in order → validators take their
//! baselines → iterations → validators judge the run → injectors stop in reverse order →
//! target teardown. Nothing the executor starts outlives [`Executor::run`].
//!
//! With `concurrency(n)` the executor runs `n` workers; each takes the next iteration index
//! from a shared counter, so which worker runs an iteration never changes its decisions
//! (those derive from the seed and the index alone).

mod attempts;
mod sequencer;
mod step;
mod tally;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::chaos::{ACTION_NAMES, ChaosContext, ChaosPlan, PlannedInjector, RUN, Schedule, mix};
use crate::inject::{InjectError, StartContext};
use crate::journal::{IterationRecord, ViolationRecord};
use crate::report::{Counts, EventTotals, InjectorSummary, Plan, REPORT_SCHEMA, Report, StopReason, ValidatorSummary};
use crate::scenario::{BoxError, FailurePolicy, Scenario, Target};
use crate::validate::{IterationOutcome, Severity, Violation};
pub(crate) use attempts::{Attempt, AttemptQueue};
use step::{StepOutcome, run_step};
pub(crate) use tally::Tally;
pub(crate) use tally::{Timeline, decode_histogram, encode_histogram, latency_histogram, latency_summary};

/// Runs a scenario to completion and returns its report; the verdict decides success.
///
/// Must be called inside a tokio runtime (time enabled). See [`Executor`] for cancellation
/// and progress.
pub async fn run<T: Target>(scenario: Scenario<T>) -> Result<Report, RunError> {
    Executor::new(scenario).run().await
}

/// Why a run could not take place at all (a run that took place returns a [`Report`],
/// whatever its verdict).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The target's setup failed; nothing else was started.
    #[error("setup of target `{target}` failed: {source}")]
    Setup {
        /// The target.
        target: String,
        /// Why.
        source: BoxError,
    },
    /// An injector failed to start; those already started were stopped in reverse order
    /// and the target was torn down.
    #[error("injector `{label}` failed to start: {source}")]
    InjectorStart {
        /// The injector's label.
        label: String,
        /// Why.
        source: InjectError,
    },
    /// A shard was asked for without a fixed seed: the shards would not make the decisions
    /// of one run.
    #[error(
        "shard {shard} of scenario `{scenario}` needs a fixed seed, so that every shard makes the decisions of the same run"
    )]
    ShardWithoutSeed {
        /// The scenario.
        scenario: String,
        /// The shard.
        shard: crate::Shard,
    },
    /// A validator could not take its baseline.
    #[error("validator `{label}` failed to start: {source}")]
    ValidatorStart {
        /// The validator's label.
        label: String,
        /// Why.
        source: Violation,
    },
}

/// A snapshot of a run in progress, for live statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Iterations finished.
    pub done: u64,
    /// Of which failed.
    pub failed: u64,
    /// Time since the iterations started.
    pub elapsed: Duration,
    /// Planned iterations (repeat runs).
    pub planned: Option<u64>,
    /// Planned duration (duration runs).
    pub duration: Option<Duration>,
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A compact summary of one finished iteration, passed to [`Executor::on_iteration`]
/// (live metrics, streaming output). Borrowed: copy what you keep.
#[derive(Clone, Copy, Debug)]
pub struct IterationSummary<'a> {
    /// 0-based iteration index.
    pub index: u64,
    /// Whether it passed (after validators judged).
    pub ok: bool,
    /// Wall time of its steps.
    pub duration: Duration,
    /// Faults injected: `(injector label, action name)` in the order they fired.
    pub injections: &'a [(&'a str, &'static str)],
    /// Labels of the validators that complained.
    pub violations: &'a [&'a str],
}

type IterationFn = Arc<dyn Fn(&IterationSummary<'_>) + Send + Sync>;

/// Runs a scenario with options: cancellation, grace period, progress callback.
pub struct Executor<T> {
    scenario: Scenario<T>,
    cancel: CancellationToken,
    grace: Duration,
    progress: Option<(Duration, ProgressFn)>,
    on_iteration: Option<IterationFn>,
    attempts: Option<Arc<AttemptQueue>>,
    run_schedule: Option<Arc<Schedule>>,
    shard: Option<crate::Shard>,
}

impl<T: Target> Executor<T> {
    /// An executor for `scenario`.
    pub fn new(scenario: Scenario<T>) -> Self {
        Executor {
            scenario,
            cancel: CancellationToken::new(),
            grace: Duration::from_secs(5),
            progress: None,
            on_iteration: None,
            attempts: None,
            run_schedule: None,
            shard: None,
        }
    }

    /// Runs only shard `shard` of the iterations (overrides the scenario's, see
    /// [`ScenarioBuilder::shard`](crate::ScenarioBuilder::shard)); the scenario needs a
    /// fixed seed.
    pub fn shard(mut self, shard: crate::Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Runs the attempts a driver sends (replay, shrink) instead of `0..repeat`; whole-run
    /// decisions come from `run_schedule` when given.
    pub(crate) fn attempts(mut self, queue: Arc<AttemptQueue>, run_schedule: Option<Arc<Schedule>>) -> Self {
        self.attempts = Some(queue);
        self.run_schedule = run_schedule;
        self
    }

    /// Stops the run when `token` is cancelled (e.g. on Ctrl-C): no new iterations start,
    /// iterations in flight get the grace period to finish, then everything is stopped in
    /// order and the report (stop reason `interrupted`) is returned.
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// How long iterations in flight may finish after cancellation (default 5 s); after it
    /// they are abandoned.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Calls `f` every `every` with the progress so far (from the run's own task).
    pub fn on_progress(mut self, every: Duration, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some((every, Arc::new(f)));
        self
    }

    /// Calls `f` after every iteration, from the worker that ran it, with a compact
    /// summary. Keep it cheap (a counter increment): it runs on the iteration's hot path,
    /// and concurrently when `concurrency > 1`.
    pub fn on_iteration(mut self, f: impl Fn(&IterationSummary<'_>) + Send + Sync + 'static) -> Self {
        self.on_iteration = Some(Arc::new(f));
        self
    }

    /// Runs the scenario.
    pub async fn run(self) -> Result<Report, RunError> {
        let Executor { scenario, cancel, grace, progress, on_iteration, attempts, run_schedule, shard } = self;
        let started_at = SystemTime::now();
        let wall = Instant::now();
        // A driver's attempts name their own indices: no shard applies to them.
        let shard = if attempts.is_some() { None } else { shard.or(scenario.shard) };
        if let Some(shard) = shard
            && scenario.seed.is_none()
        {
            return Err(RunError::ShardWithoutSeed { scenario: scenario.name, shard });
        }
        let seed = scenario.seed.unwrap_or_else(fresh_seed);
        let Scenario {
            name,
            target,
            steps,
            injectors,
            validators,
            scopes,
            repeat,
            run_for,
            concurrency,
            policy,
            thresholds,
            journal,
            step_timeout,
            decision_logs,
            ..
        } = scenario;
        let target = Arc::new(target);
        let target_name = target.name().to_string();

        target.setup().await.map_err(|source| RunError::Setup { target: target_name.clone(), source })?;
        tracing::info!(target: "chaoskit::run", scenario = %name, seed, "run started");

        let plan = Arc::new(ChaosPlan::new(
            seed,
            injectors
                .into_iter()
                .map(|d| PlannedInjector { label: d.label, injector: d.injector, scope: d.scope })
                .collect(),
            scopes,
            steps.iter().map(|s| (s.name.clone(), s.scope)).collect(),
        ));

        let mut lifecycle = Lifecycle { plan: plan.clone(), started: 0, errors: Vec::new() };
        for (index, p) in plan.injectors.iter().enumerate() {
            let ctx = StartContext { label: &p.label, seed, index };
            let mut started = p.injector.start(&ctx);
            if started.is_ok() {
                // From here on this injector counts as started: stopping it also undoes a
                // half-done async start.
                lifecycle.started = index + 1;
                if let Some(hooks) = p.injector.hooks() {
                    started = hooks.start_async(ctx).await;
                }
            }
            if let Err(source) = started {
                lifecycle.stop_injectors().await;
                teardown(&*target, &mut lifecycle.errors).await;
                return Err(RunError::InjectorStart { label: p.label.to_string(), source });
            }
        }

        // Whole-run faults are decided once, through the seam, and applied before the first
        // iteration; `stop_async` removes them.
        let run_ctx = ChaosContext::new(plan.clone(), RUN, run_schedule);
        for &i in &plan.whole_run {
            let p = &plan.injectors[i as usize];
            if !run_ctx.decide_around(i) {
                continue;
            }
            let hooks = p.injector.hooks().expect("whole-run injectors have hooks");
            if let Err(source) = hooks.enter_run().await {
                lifecycle.stop_injectors().await;
                teardown(&*target, &mut lifecycle.errors).await;
                return Err(RunError::InjectorStart { label: p.label.to_string(), source });
            }
        }
        let run_decisions = run_ctx.take_trace().decisions;
        drop(run_ctx);

        let validators_len = validators.len();
        let ordered: Vec<usize> = (0..validators_len).filter(|&n| validators[n].validator.ordered()).collect();
        let unordered: Vec<usize> = (0..validators_len).filter(|&n| !validators[n].validator.ordered()).collect();
        let sequencer = (!ordered.is_empty() && attempts.is_none()).then(sequencer::Sequencer::new);
        let shared = Arc::new(Shared {
            plan: plan.clone(),
            target: target.clone(),
            steps,
            validators,
            step_timeout,
            policy,
            journal,
            shard: shard.unwrap_or(crate::Shard { index: 0, count: 1 }),
            positions: match (run_for, shard) {
                (Some(_), _) => u64::MAX,
                (None, Some(shard)) => shard.iterations_of(repeat),
                (None, None) => repeat,
            },
            deadline: Mutex::new(None),
            stop: AtomicBool::new(false),
            failed_fast: AtomicBool::new(false),
            next: AtomicU64::new(0),
            counters: (0..concurrency).map(|_| WorkerCounters::default()).collect(),
            tallies: (0..concurrency).map(|_| Mutex::new(Tally::new(plan.injectors.len(), validators_len))).collect(),
            t0: Mutex::new(Instant::now()),
            on_iteration,
            attempts,
            ordered,
            unordered,
            sequencer,
        });

        // Workers exist (and wait at the gate) before validators take their baselines, so a
        // task-leak baseline counts them.
        let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
        let mut workers = tokio::task::JoinSet::new();
        for w in 1..concurrency {
            let shared = shared.clone();
            let mut gate = gate_rx.clone();
            workers.spawn(async move {
                if gate.wait_for(|open| *open).await.is_ok() {
                    worker(&shared, w).await;
                }
            });
        }

        for v in shared.validators.iter() {
            if let Err(source) = v.validator.start() {
                shared.stop.store(true, Ordering::Relaxed);
                drop(gate_tx);
                workers.shutdown().await;
                lifecycle.stop_injectors().await;
                teardown(&*target, &mut lifecycle.errors).await;
                return Err(RunError::ValidatorStart { label: v.label.to_string(), source });
            }
        }

        let t0 = Instant::now();
        *shared.t0.lock().unwrap_or_else(|e| e.into_inner()) = t0;
        if let Some(d) = run_for {
            *shared.deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(t0 + d);
        }
        let _ = gate_tx.send(true);

        let interrupted = drive(&shared, workers, &cancel, grace, progress, run_for).await;
        // Contexts kept past their iteration inject nothing from here on.
        plan.end();
        if let Some(seq) = &shared.sequencer {
            seq.drain(|mut f| {
                judge(&shared, &mut f, &shared.ordered);
                finalize(&shared, 0, f);
            });
        }

        let stop_reason = if interrupted {
            StopReason::Interrupted
        } else if shared.failed_fast.load(Ordering::Relaxed) {
            StopReason::FailFast
        } else if run_for.is_some() {
            StopReason::Deadline
        } else {
            StopReason::Completed
        };

        let finals: Vec<Option<Violation>> = shared
            .validators
            .iter()
            .map(|v| match std::panic::catch_unwind(AssertUnwindSafe(|| v.validator.finish())) {
                Ok(r) => r.err(),
                Err(p) => Some(Violation::harness(format!("validator panicked: {}", step::panic_message(&*p)))),
            })
            .collect();

        lifecycle.stop_injectors().await;
        teardown(&*target, &mut lifecycle.errors).await;
        tracing::info!(target: "chaoskit::run", scenario = %name, "run finished");

        let mut tally = Tally::new(plan.injectors.len(), shared.validators.len());
        for t in shared.tallies.iter() {
            let t = std::mem::replace(
                &mut *t.lock().unwrap_or_else(|e| e.into_inner()),
                Tally::new(plan.injectors.len(), shared.validators.len()),
            );
            tally.merge(t);
        }
        tally.finish_journal(&shared.journal);

        let injectors = plan
            .injectors
            .iter()
            .zip(&tally.injections)
            .map(|(p, counts)| InjectorSummary {
                label: p.label.to_string(),
                scope: p.scope.map(|s| plan.scopes[s as usize].to_string()),
                injections: counts
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(slot, n)| (ACTION_NAMES[slot].to_string(), *n))
                    .collect(),
                notes: p.injector.notes(),
            })
            .collect();
        let validators = shared
            .validators
            .iter()
            .zip(tally.violations.iter())
            .zip(finals)
            .map(|((v, t), fin)| ValidatorSummary {
                label: v.label.to_string(),
                severity: v.validator.severity(),
                counting: v.validator.counting(),
                violations: t.violations,
                harness_errors: t.harness_errors + u64::from(fin.as_ref().is_some_and(|f| f.harness_error)),
                first_violation: t.first.as_ref().map(|(_, m)| m.clone()),
                first_violation_iteration: t.first.as_ref().map(|(i, _)| *i),
                run_judgement: v.validator.run_judgement(),
                final_violation: fin.map(|f| f.message),
                notes: v.validator.notes(),
            })
            .collect();

        let mut run_records: Vec<_> = run_decisions.iter().map(|d| plan.record(d)).collect();
        let mut run_decisions_omitted = 0;
        let mut replay_hazards: Vec<String> = plan
            .injectors
            .iter()
            .filter_map(|p| p.injector.replay_hazard().map(|h| format!("injector `{}`: {h}", p.label)))
            .collect();
        replay_hazards.extend(
            shared
                .validators
                .iter()
                .filter_map(|v| v.validator.replay_hazard().map(|h| format!("validator `{}`: {h}", v.label))),
        );
        for log in &decision_logs {
            let logged = log.drain();
            run_records.extend(logged.records);
            run_decisions_omitted += logged.omitted;
            replay_hazards.extend(logged.hazards);
        }

        let coverage = crate::report::coverage::collect(&plan, &tally.reached, &tally.injections);
        let latency_us = tally.latency_summary();
        let total = tally.total;
        let mut report = Report {
            schema: REPORT_SCHEMA.to_string(),
            scenario: name,
            target: target_name,
            seed,
            shard,
            started_at_unix_ms: started_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            wall_time_us: wall.elapsed().as_micros() as u64,
            plan: Plan {
                iterations: run_for.is_none().then_some(repeat),
                duration_ms: run_for.map(|d| d.as_millis() as u64),
                concurrency,
                failure_policy: policy,
            },
            stop_reason,
            iterations: Counts { total, passed: total - tally.failed, failed: tally.failed },
            success_rate: if total == 0 { 0.0 } else { (total - tally.failed) as f64 / total as f64 },
            latency_us,
            injectors,
            validators,
            events: EventTotals { panics: tally.panics, errors: tally.errors, max_recursion_depth: tally.max_depth },
            thresholds,
            verdict: crate::Verdict::Pass,
            reasons: Vec::new(),
            failures: std::mem::take(&mut tally.failing),
            failures_omitted: tally.failing_omitted,
            samples: std::mem::take(&mut tally.passing),
            timeline_width_ms: Some(tally.timeline.width_ms()),
            timeline: std::mem::replace(&mut tally.timeline, tally::Timeline::new()).into_buckets(),
            latency_histogram: Some(tally::encode_histogram(&tally.latency_ns)),
            journal_caps: Some(shared.journal),
            merged: None,
            lifecycle_errors: std::mem::take(&mut lifecycle.errors),
            run_decisions: run_records,
            run_decisions_omitted,
            replay_hazards,
            provenance: None,
            host_resources: Vec::new(),
            coverage,
        };
        report.decide();
        Ok(report)
    }
}

/// A seed for runs that did not set one: unpredictable, and printed in the report.
pub(crate) fn fresh_seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    mix(nanos ^ mix(u64::from(std::process::id())) ^ (&local as *const u8 as u64))
}

async fn teardown<T: Target>(target: &T, errors: &mut Vec<String>) {
    if let Err(e) = target.teardown().await {
        tracing::warn!(target: "chaoskit::run", error = %e, "target teardown failed");
        errors.push(format!("teardown of target `{}` failed: {e}", target.name()));
    }
}

/// Stops started injectors in reverse order exactly once (async hook, then `stop`), also when
/// the run future is dropped mid-way.
struct Lifecycle {
    plan: Arc<ChaosPlan>,
    started: usize,
    errors: Vec<String>,
}

impl Lifecycle {
    async fn stop_injectors(&mut self) {
        for p in self.plan.injectors[..self.started].iter().rev() {
            if let Some(hooks) = p.injector.hooks()
                && let Err(e) = hooks.stop_async().await
            {
                tracing::warn!(target: "chaoskit::run", label = %p.label, error = %e, "injector async stop failed");
                self.errors.push(format!("injector `{}` failed to stop: {e}", p.label));
            }
            if let Err(e) = p.injector.stop() {
                tracing::warn!(target: "chaoskit::run", label = %p.label, error = %e, "injector stop failed");
                self.errors.push(format!("injector `{}` failed to stop: {e}", p.label));
            }
        }
        self.started = 0;
    }
}

impl Drop for Lifecycle {
    /// The run future was dropped before it finished: stop what was started. Async hooks
    /// (e.g. removing a proxy toxic) run on a task of the current runtime, best effort.
    fn drop(&mut self) {
        if self.started == 0 {
            return;
        }
        let (plan, started) = (self.plan.clone(), self.started);
        self.started = 0;
        let stop_all = async move {
            for p in plan.injectors[..started].iter().rev() {
                if let Some(hooks) = p.injector.hooks() {
                    let _ = hooks.stop_async().await;
                }
                let _ = p.injector.stop();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(stop_all)),
            Err(_) => {
                for p in self.plan.injectors[..started].iter().rev() {
                    let _ = p.injector.stop();
                }
            }
        }
    }
}

struct Shared<T> {
    plan: Arc<ChaosPlan>,
    target: Arc<T>,
    steps: Vec<crate::scenario::StepDef<T>>,
    validators: Vec<crate::scenario::ValidatorDef>,
    step_timeout: Option<Duration>,
    policy: FailurePolicy,
    journal: crate::journal::JournalConfig,
    /// Which iteration indices this process runs (all, unless sharded).
    shard: crate::Shard,
    /// How many iterations this process runs: its shard's share of `repeat`, or unbounded
    /// for duration runs. The `p`-th has index `shard.iteration(p)`.
    positions: u64,
    deadline: Mutex<Option<Instant>>,
    stop: AtomicBool,
    failed_fast: AtomicBool,
    next: AtomicU64,
    counters: Vec<WorkerCounters>,
    tallies: Vec<Mutex<Tally>>,
    t0: Mutex<Instant>,
    on_iteration: Option<IterationFn>,
    /// Iterations chosen by a driver (replay, shrink) instead of `0..repeat`.
    attempts: Option<Arc<AttemptQueue>>,
    /// Validators that judge in index order, and the others.
    ordered: Vec<usize>,
    unordered: Vec<usize>,
    /// Present when some validator is ordered and iterations may finish out of order.
    sequencer: Option<sequencer::Sequencer<Finished>>,
}

/// Runs worker 0 inline and waits for the others, handling cancellation and progress.
/// Returns whether the run was interrupted.
async fn drive<T: Target>(
    shared: &Arc<Shared<T>>,
    mut workers: tokio::task::JoinSet<()>,
    cancel: &CancellationToken,
    grace: Duration,
    progress: Option<(Duration, ProgressFn)>,
    run_for: Option<Duration>,
) -> bool {
    let all = async {
        worker(shared, 0).await;
        while workers.join_next().await.is_some() {}
    };
    tokio::pin!(all);
    let (every, report) = match progress {
        Some((every, f)) => (every, Some(f)),
        None => (Duration::from_secs(3600), None),
    };
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let planned = run_for.is_none().then_some(shared.positions);
    let snapshot = |s: &Shared<T>| Progress {
        done: s.counters.iter().map(|c| c.done.load(Ordering::Relaxed)).sum(),
        failed: s.counters.iter().map(|c| c.failed.load(Ordering::Relaxed)).sum(),
        elapsed: s.t0.lock().unwrap_or_else(|e| e.into_inner()).elapsed(),
        planned,
        duration: run_for,
    };
    let mut interrupted = false;
    let mut grace_end: Option<tokio::time::Instant> = None;
    // A duration run stops starting iterations at its deadline; those in flight then get the
    // grace period, like after Ctrl-C, so one stuck iteration cannot hold the run open.
    let deadline = *shared.deadline.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let grace_sleep = async {
            match grace_end {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let deadline_sleep = async {
            match deadline {
                Some(at) if grace_end.is_none() => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            () = deadline_sleep => {
                grace_end = Some(tokio::time::Instant::now() + grace);
                tracing::debug!(target: "chaoskit::run", "deadline reached: {grace:?} grace for iterations in flight");
            }
            () = &mut all => break,
            _ = ticker.tick(), if report.is_some() => {
                if let Some(f) = &report { f(&snapshot(shared)); }
            }
            () = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                shared.stop.store(true, Ordering::Relaxed);
                grace_end = Some(tokio::time::Instant::now() + grace);
                tracing::info!(target: "chaoskit::run", "cancelled: no new iterations, {grace:?} grace for those in flight");
            }
            () = grace_sleep => {
                tracing::warn!(target: "chaoskit::run", "grace period over: abandoning iterations in flight");
                break;
            }
        }
    }
    if let Some(f) = &report {
        f(&snapshot(shared));
    }
    interrupted
}

/// Progress counters of one worker, on a cache line of their own: workers never write a
/// line another worker writes.
#[derive(Default)]
#[repr(align(128))]
struct WorkerCounters {
    done: AtomicU64,
    failed: AtomicU64,
}

/// Iteration indices a worker claims at once when several run: fewer writes to the shared
/// counter. Which worker runs an index never changes its decisions.
const CLAIM: u64 = 16;

/// Finished iterations that may wait for a slow ordered validator before workers pause.
const MAX_BACKLOG: usize = 1024;

async fn worker<T: Target>(shared: &Shared<T>, w: usize) {
    let t0 = *shared.t0.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(queue) = &shared.attempts {
        while !shared.stop.load(Ordering::Relaxed) {
            let Some(attempt) = queue.next().await else { break };
            let mut finished = execute(shared, attempt.index, t0, attempt.schedule).await;
            finished.reply = Some(attempt.reply);
            judge(shared, &mut finished, &shared.unordered);
            judge(shared, &mut finished, &shared.ordered);
            finalize(shared, w, finished);
        }
        return;
    }
    let deadline = *shared.deadline.lock().unwrap_or_else(|e| e.into_inner());
    // Small runs claim one at a time so every worker gets work.
    let workers = shared.counters.len() as u64;
    let claim = if workers == 1 { 1 } else { (shared.positions / (workers * 8)).clamp(1, CLAIM) };
    let (mut next, mut end) = (0, 0);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if next == end {
            next = shared.next.fetch_add(claim, Ordering::Relaxed);
            end = next.saturating_add(claim).min(shared.positions);
        }
        let position = next;
        if position >= shared.positions {
            break;
        }
        next += 1;
        let index = shared.shard.iteration(position);
        let mut finished = execute(shared, index, t0, None).await;
        judge(shared, &mut finished, &shared.unordered);
        match &shared.sequencer {
            // Ordered validators see this process's iterations in index order.
            Some(seq) => {
                seq.push(position, finished, |mut f| {
                    judge(shared, &mut f, &shared.ordered);
                    finalize(shared, w, f);
                });
                // A slow ordered validator: while many finished iterations wait for it, a
                // worker with none of its claimed iterations left pauses before claiming more
                // (one still holding claimed ones goes on: the missing index may be its own).
                while next == end && seq.backlog() >= MAX_BACKLOG && !shared.stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            None => finalize(shared, w, finished),
        }
    }
}

/// An iteration whose steps are done, waiting to be judged and recorded.
struct Finished {
    index: u64,
    start_us: u64,
    duration: Duration,
    error: Option<String>,
    failed_step: Option<usize>,
    stalled_step: Option<usize>,
    steps_executed: u32,
    trace: crate::chaos::IterationTrace,
    violations: Vec<(usize, Violation)>,
    reply: Option<tokio::sync::oneshot::Sender<IterationRecord>>,
}

/// Runs iteration `index`: per-iteration faults, then the steps, then their removal.
async fn execute<T: Target>(shared: &Shared<T>, index: u64, t0: Instant, schedule: Option<Arc<Schedule>>) -> Finished {
    let mut ctx = ChaosContext::new(shared.plan.clone(), index, schedule);
    let mut error: Option<String> = None;
    let mut failed_step = None;
    let mut stalled_step = None;
    let mut steps_executed = 0u32;
    let mut entered = Vec::new();
    for &i in &shared.plan.per_iteration {
        if !ctx.decide_around(i) {
            continue;
        }
        let p = &shared.plan.injectors[i as usize];
        let hooks = p.injector.hooks().expect("per-iteration injectors have hooks");
        match hooks.enter_iteration(index).await {
            Ok(()) => entered.push(i),
            Err(e) => {
                error = Some(format!("injector `{}` could not apply its fault: {e}", p.label));
                break;
            }
        }
    }
    let start = Instant::now();
    let steps = if error.is_none() { &shared.steps[..] } else { &[] };
    for (n, step) in steps.iter().enumerate() {
        ctx.enter_step(n as u32, step.scope);
        match run_step(step, &ctx, &shared.target, shared.step_timeout).await {
            StepOutcome::Ok => steps_executed += 1,
            StepOutcome::Failed(e) => {
                error = Some(format!("step `{}` failed: {e}", step.name));
                failed_step = Some(n);
                break;
            }
            StepOutcome::Panicked(message) => {
                ctx.record_panic(&message);
                error = Some(format!("step `{}` panicked: {message}", step.name));
                failed_step = Some(n);
                break;
            }
            StepOutcome::TimedOut(budget) => {
                ctx.cancellation_token().cancel();
                stalled_step = Some(n);
                failed_step = Some(n);
                error = Some(format!(
                    "iteration {index} ran past its {} step timeout in step `{}`; the step was abandoned",
                    crate::units::format_duration(budget),
                    step.name
                ));
                break;
            }
        }
    }
    let duration = start.elapsed();
    for &i in entered.iter().rev() {
        let p = &shared.plan.injectors[i as usize];
        let hooks = p.injector.hooks().expect("per-iteration injectors have hooks");
        if let Err(e) = hooks.leave_iteration(index).await {
            error.get_or_insert_with(|| format!("injector `{}` could not remove its fault: {e}", p.label));
        }
    }
    let trace = ctx.take_trace();
    drop(ctx);
    Finished {
        index,
        start_us: start.saturating_duration_since(t0).as_micros() as u64,
        duration,
        error,
        failed_step,
        stalled_step,
        steps_executed,
        trace,
        violations: Vec::new(),
        reply: None,
    }
}

/// Asks validators `which` about a finished iteration.
fn judge<T: Target>(shared: &Shared<T>, f: &mut Finished, which: &[usize]) {
    if which.is_empty() {
        return;
    }
    let outcome = IterationOutcome {
        index: f.index,
        seed: shared.plan.seed,
        ok: f.error.is_none(),
        duration: f.duration,
        error: f.error.as_deref(),
        stalled_step: f.stalled_step.map(|n| &*shared.steps[n].name),
        steps_executed: f.steps_executed,
        events: &f.trace.events,
        max_recursion_depth: f.trace.max_recursion_depth,
        panics: f.trace.panics,
        errors: f.trace.errors,
    };
    for &n in which {
        let v = &shared.validators[n];
        match std::panic::catch_unwind(AssertUnwindSafe(|| v.validator.check(&outcome))) {
            Ok(Ok(())) => {}
            Ok(Err(violation)) => f.violations.push((n, violation)),
            Err(p) => {
                f.violations.push((n, Violation::harness(format!("validator panicked: {}", step::panic_message(&*p)))))
            }
        }
    }
}

/// Settles a judged iteration: its verdict, progress counters, worker `w`'s tally, the
/// journal, and the driver's reply.
fn finalize<T: Target>(shared: &Shared<T>, w: usize, f: Finished) {
    let Finished {
        index,
        start_us,
        duration,
        mut error,
        failed_step,
        stalled_step: _,
        steps_executed,
        trace,
        mut violations,
        reply,
    } = f;
    violations.sort_by_key(|(n, _)| *n);
    if error.is_none()
        && let Some((n, v)) =
            violations.iter().find(|(n, _)| shared.validators[*n].validator.severity() == Severity::Critical)
    {
        error = Some(format!("validator `{}` failed: {}", shared.validators[*n].label, v.message));
    }
    let ok = error.is_none();

    let counters = &shared.counters[w];
    counters.done.fetch_add(1, Ordering::Relaxed);
    if !ok {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        if shared.policy == FailurePolicy::FailFast {
            shared.failed_fast.store(true, Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
        }
    }

    if let Some(cb) = &shared.on_iteration {
        let injections: Vec<(&str, &'static str)> = trace
            .decisions
            .iter()
            .map(|d| (&*shared.plan.injectors[d.injector as usize].label, d.action.name()))
            .collect();
        let complained: Vec<&str> = violations.iter().map(|(n, _)| &*shared.validators[*n].label).collect();
        cb(&IterationSummary { index, ok, duration, injections: &injections, violations: &complained });
    }

    let mut tally = shared.tallies[w].lock().unwrap_or_else(|e| e.into_inner());
    let tally = &mut *tally;
    tally.total += 1;
    tally.failed += u64::from(!ok);
    tally.panics += u64::from(trace.panics);
    tally.errors += u64::from(trace.errors);
    tally.max_depth = tally.max_depth.max(trace.max_recursion_depth);
    for d in &trace.decisions {
        tally.injections[d.injector as usize][d.action.slot()] += 1;
    }
    tally.record_reached(&trace.reached);
    for (n, v) in &violations {
        let slot = &mut tally.violations[*n];
        slot.violations += 1;
        slot.harness_errors += u64::from(v.harness_error);
        if slot.first.as_ref().is_none_or(|(i, _)| index < *i) {
            slot.first = Some((index, v.message.clone()));
        }
    }
    tally.record_latency(start_us / 1000, duration.as_nanos() as u64, !ok, trace.decisions.len() as u64);
    let keep = !ok || shared.journal.samples(index);
    if !keep && reply.is_none() {
        return;
    }
    let record = IterationRecord {
        index,
        start_us,
        duration_us: duration.as_micros() as u64,
        ok,
        error,
        failed_step: failed_step.map(|n| shared.steps[n].name.to_string()),
        steps_executed,
        decisions: trace.decisions.iter().map(|d| shared.plan.record(d)).collect(),
        events: trace.events,
        dropped_events: trace.dropped_events,
        violations: violations
            .into_iter()
            .map(|(n, v)| ViolationRecord { validator: shared.validators[n].label.to_string(), message: v.message })
            .collect(),
    };
    match reply {
        Some(reply) => {
            if keep {
                tally.keep(record.clone(), &shared.journal);
            }
            let _ = reply.send(record);
        }
        None => tally.keep(record, &shared.journal),
    }
}

#[cfg(test)]
mod on_iteration_tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{inject, validate};

    #[tokio::test]
    async fn on_iteration_sees_every_iteration_with_its_injections_and_complaints() {
        type Seen = (u64, bool, Vec<(String, String)>, Vec<String>);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let scenario = Scenario::builder("summaries")
            .target(crate::target("t", ()))
            .step("call", |ctx, _| async move { ctx.maybe_error() })
            .inject("always", inject::error(1.0))
            .assert("never-fast", validate::max_iteration_time(Duration::ZERO))
            .continue_on_failure()
            .repeat(3)
            .build()
            .unwrap();
        let sink = seen.clone();
        let report = Executor::new(scenario)
            .on_iteration(move |s| {
                let injections = s.injections.iter().map(|(l, a)| (l.to_string(), a.to_string())).collect();
                let violations = s.violations.iter().map(|v| v.to_string()).collect();
                sink.lock().unwrap().push((s.index, s.ok, injections, violations));
            })
            .run()
            .await
            .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_by_key(|s| s.0);
        assert_eq!(report.iterations.total, 3);
        assert_eq!(seen.len(), 3);
        for (n, (index, ok, injections, violations)) in seen.into_iter().enumerate() {
            assert_eq!(index, n as u64);
            assert!(!ok);
            assert_eq!(injections, vec![("always".to_string(), "error".to_string())]);
            assert_eq!(violations, vec!["never-fast".to_string()]);
        }
    }
}
