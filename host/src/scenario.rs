//! What to run: the target, the steps that exercise it, the injectors and validators.
//!
//! - [`Scenario`] / [`ScenarioBuilder`]: built once, run by [`crate::run`].
//! - [`Target`]: the system under test, set up before and torn down after the run.
//! - Steps are async closures `(ChaosContext, Arc<T>) -> Result`, or blocking closures
//!   `(&ChaosContext, &T) -> Result` that run on their own thread so a CPU-bound endless
//!   loop can be detected and abandoned.

use std::collections::HashSet;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::Injector;
use crate::chaos::{ChaosContext, DecisionLog};
use crate::journal::JournalConfig;
pub use crate::report::FailurePolicy;
use crate::report::{Shard, Thresholds};
use crate::validate::Validator;

/// Any error a step, target or setup may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The system under test.
pub trait Target: Send + Sync + 'static {
    /// Shown in reports.
    fn name(&self) -> &str;

    /// Runs once before the injectors start.
    fn setup(&self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// Runs once after the injectors stopped, on every path once setup succeeded.
    fn teardown(&self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }
}

/// A target that is just a named value with no setup or teardown.
#[derive(Debug, Clone)]
pub struct NamedTarget<S> {
    name: String,
    value: S,
}

/// Wraps any value as a target; steps reach the value through `Deref`.
pub fn target<S: Send + Sync + 'static>(name: impl Into<String>, value: S) -> NamedTarget<S> {
    NamedTarget { name: name.into(), value }
}

impl<S> Deref for NamedTarget<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.value
    }
}

impl<S: Send + Sync + 'static> Target for NamedTarget<S> {
    fn name(&self) -> &str {
        &self.name
    }
}

type AsyncStep<T> =
    Arc<dyn Fn(ChaosContext, Arc<T>) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>> + Send + Sync>;
type BlockingStep<T> = Arc<dyn Fn(&ChaosContext, &T) -> Result<(), BoxError> + Send + Sync>;

pub(crate) enum StepBody<T> {
    Async(AsyncStep<T>),
    Blocking(BlockingStep<T>),
}

pub(crate) struct StepDef<T> {
    pub(crate) name: Arc<str>,
    pub(crate) scope: Option<u16>,
    pub(crate) body: StepBody<T>,
}

pub(crate) struct InjectorDef {
    pub(crate) label: Arc<str>,
    pub(crate) injector: Arc<dyn Injector>,
    pub(crate) scope: Option<u16>,
}

pub(crate) struct ValidatorDef {
    pub(crate) label: Arc<str>,
    pub(crate) validator: Arc<dyn Validator>,
}

/// A validated experiment, ready to run with [`crate::run`].
pub struct Scenario<T> {
    pub(crate) name: String,
    pub(crate) target: T,
    pub(crate) steps: Vec<StepDef<T>>,
    pub(crate) injectors: Vec<InjectorDef>,
    pub(crate) validators: Vec<ValidatorDef>,
    pub(crate) scopes: Vec<Arc<str>>,
    pub(crate) repeat: u64,
    pub(crate) run_for: Option<Duration>,
    pub(crate) seed: Option<u64>,
    pub(crate) concurrency: usize,
    pub(crate) policy: FailurePolicy,
    pub(crate) thresholds: Thresholds,
    pub(crate) journal: JournalConfig,
    pub(crate) step_timeout: Option<Duration>,
    pub(crate) decision_logs: Vec<DecisionLog>,
    pub(crate) shard: Option<Shard>,
}

impl<T: Target> Scenario<T> {
    /// Starts describing a scenario called `name`.
    ///
    /// ```
    /// use chaoskit::{inject, validate, Scenario};
    /// use std::time::Duration;
    /// let scenario = Scenario::builder("checkout")
    ///     .target(chaoskit::target("shop", ()))
    ///     .step("pay", |ctx, _shop| async move {
    ///         ctx.maybe_delay().await;
    ///         ctx.maybe_error()?;
    ///         Ok::<_, chaoskit::ChaosError>(())
    ///     })
    ///     .inject("slow", inject::delay(0.1, Duration::from_millis(1), Duration::from_millis(2)))
    ///     .assert("fast enough", validate::max_iteration_time(Duration::from_secs(1)))
    ///     .repeat(100)
    ///     .seed(7)
    ///     .build()?;
    /// assert_eq!(scenario.name(), "checkout");
    /// # Ok::<(), chaoskit::BuildError>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> ScenarioBuilder<T> {
        ScenarioBuilder {
            name: name.into(),
            target: None,
            steps: Vec::new(),
            injectors: Vec::new(),
            validators: Vec::new(),
            scopes: Vec::new(),
            repeat: 1,
            run_for: None,
            seed: None,
            concurrency: 1,
            policy: FailurePolicy::default(),
            thresholds: Thresholds::default(),
            journal: JournalConfig::default(),
            step_timeout: None,
            current_scope: None,
            decision_logs: Vec::new(),
            shard: None,
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The seed, if one was set (a run without one picks one and reports it).
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The target.
    pub fn target(&self) -> &T {
        &self.target
    }
}

/// Describes a [`Scenario`]; every setter documents its unit and default.
pub struct ScenarioBuilder<T> {
    name: String,
    target: Option<T>,
    steps: Vec<StepDef<T>>,
    injectors: Vec<InjectorDef>,
    validators: Vec<ValidatorDef>,
    scopes: Vec<Arc<str>>,
    repeat: u64,
    run_for: Option<Duration>,
    seed: Option<u64>,
    concurrency: usize,
    policy: FailurePolicy,
    thresholds: Thresholds,
    journal: JournalConfig,
    step_timeout: Option<Duration>,
    current_scope: Option<u16>,
    decision_logs: Vec<DecisionLog>,
    shard: Option<Shard>,
}

/// Why a scenario could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No target was given.
    #[error("scenario `{scenario}` has no target; call `.target(..)`")]
    NoTarget {
        /// The scenario.
        scenario: String,
    },
    /// Neither a positive repeat count nor a duration.
    #[error("scenario `{scenario}` would run no iteration: repeat is 0 and no run_for duration is set")]
    NoIterations {
        /// The scenario.
        scenario: String,
    },
    /// Two injectors, validators or scopes share a label.
    #[error("scenario `{scenario}` has two {what} labelled `{label}`; labels must be unique")]
    DuplicateLabel {
        /// The scenario.
        scenario: String,
        /// "injectors", "validators" or "scopes".
        what: &'static str,
        /// The label.
        label: String,
    },
    /// An injector's configuration is invalid (probability outside [0, 1], min > max, ...).
    #[error("injector `{label}` in scenario `{scenario}`: {reason}")]
    InvalidInjector {
        /// The scenario.
        scenario: String,
        /// The injector's label.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// A scenario setting is invalid.
    #[error("scenario `{scenario}`: {reason}")]
    Invalid {
        /// The scenario.
        scenario: String,
        /// What is wrong.
        reason: String,
    },
}

impl<T: Target> ScenarioBuilder<T> {
    /// The system under test (required).
    pub fn target(mut self, target: T) -> Self {
        self.target = Some(target);
        self
    }

    /// Appends an async step; steps run in declaration order, and the first failing one
    /// ends its iteration.
    pub fn step<F, Fut, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(ChaosContext, Arc<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let body: AsyncStep<T> = Arc::new(move |ctx, target| {
            let fut = f(ctx, target);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        self.steps.push(StepDef { name: name.into().into(), scope: self.current_scope, body: StepBody::Async(body) });
        self
    }

    /// Appends a blocking step, run on its own thread: use it for CPU-bound or blocking
    /// code, so a step that never returns can be abandoned after the step timeout.
    pub fn blocking_step<F, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(&ChaosContext, &T) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let body: BlockingStep<T> = Arc::new(move |ctx, target| f(ctx, target).map_err(Into::into));
        self.steps.push(StepDef {
            name: name.into().into(),
            scope: self.current_scope,
            body: StepBody::Blocking(body),
        });
        self
    }

    /// Adds an injector under `label` (shown in reports and journals). Injectors start in
    /// declaration order and stop in reverse order.
    pub fn inject(mut self, label: impl Into<String>, injector: impl Injector) -> Self {
        self.injectors.push(InjectorDef {
            label: label.into().into(),
            injector: Arc::new(injector),
            scope: self.current_scope,
        });
        self
    }

    /// Adds a validator under `label`.
    pub fn assert(mut self, label: impl Into<String>, validator: impl Validator) -> Self {
        self.validators.push(ValidatorDef { label: label.into().into(), validator: Arc::new(validator) });
        self
    }

    /// A named scope: injectors added inside apply only to chaos points of steps added
    /// inside (or of contexts obtained with `ChaosContext::in_scope(name)`).
    ///
    /// ```
    /// # use chaoskit::{inject, Scenario};
    /// # use std::time::Duration;
    /// let s = Scenario::builder("orders").target(chaoskit::target("db", ()))
    ///     .scope("db", |s| s
    ///         .inject("slow-db", inject::delay(1.0, Duration::from_millis(1), Duration::from_millis(2)))
    ///         .step("query", |ctx, _| async move { ctx.maybe_delay().await; Ok::<_, chaoskit::ChaosError>(()) }))
    ///     .build();
    /// assert!(s.is_ok());
    /// ```
    pub fn scope(mut self, name: impl Into<String>, f: impl FnOnce(Self) -> Self) -> Self {
        let outer = self.current_scope;
        self.scopes.push(name.into().into());
        self.current_scope = Some((self.scopes.len() - 1) as u16);
        let mut built = f(self);
        built.current_scope = outer;
        built
    }

    /// Iterations to run (default 1). Ignored when [`run_for`](Self::run_for) is set.
    pub fn repeat(mut self, iterations: u64) -> Self {
        self.repeat = iterations;
        self
    }

    /// Runs iterations until this much time has passed (overrides `repeat`). Reaching the
    /// deadline is not an error; iterations in flight finish.
    pub fn run_for(mut self, duration: Duration) -> Self {
        self.run_for = Some(duration);
        self
    }

    /// The seed of every random decision (default: chosen at run start and reported).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Iterations in flight at once (default 1: sequential).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// What a failing iteration does to the run (default [`FailurePolicy::FailFast`]).
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Shorthand for [`FailurePolicy::ContinueOnFailure`].
    pub fn continue_on_failure(self) -> Self {
        self.failure_policy(FailurePolicy::ContinueOnFailure)
    }

    /// Verdict thresholds (default [`Thresholds::default`]).
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Fails the run unless at least `share` (in `[0, 1]`; `1.0` = all) of the configured
    /// faults were reached at least once (see the report's coverage). Without it, a fault
    /// whose points were never reached is only a warning.
    pub fn require_coverage(mut self, share: f64) -> Self {
        self.thresholds.require_coverage = Some(share);
        self
    }

    /// How much detail the journal keeps (default [`JournalConfig::default`]).
    pub fn journal(mut self, journal: JournalConfig) -> Self {
        self.journal = journal;
        self
    }

    /// Abandons any step running longer than this (default: none, unless a validator such
    /// as `no_stall` sets one; the shortest wins).
    pub fn step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = Some(timeout);
        self
    }

    /// Adds the decisions `log` collects outside iterations (e.g. an in-process proxy
    /// registry built with `ProxyRegistry::builder().decisions(log)`) to the report's
    /// `run_decisions` and replay hazards.
    pub fn decision_log(mut self, log: DecisionLog) -> Self {
        self.decision_logs.push(log);
        self
    }

    /// Runs only shard `shard` of the iterations: those whose index is `shard.index` modulo
    /// `shard.count` (default: all). The shards of one run, each in its own process or
    /// machine, make exactly the decisions a single run makes for their indices, and their
    /// journals merge into one report (`chaoskit-host report merge`). Needs a fixed
    /// [`seed`](Self::seed). With [`run_for`](Self::run_for), every shard runs for that
    /// long: N shards together run about N times the iterations of one process.
    pub fn shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Checks everything and returns the scenario.
    pub fn build(self) -> Result<Scenario<T>, BuildError> {
        let scenario = self.name.clone();
        let Some(target) = self.target else {
            return Err(BuildError::NoTarget { scenario });
        };
        if self.repeat == 0 && self.run_for.is_none() {
            return Err(BuildError::NoIterations { scenario });
        }
        if self.run_for.is_some_and(|d| d.is_zero()) {
            return Err(BuildError::Invalid { scenario, reason: "run_for must be longer than zero".into() });
        }
        if self.shard.is_some() && self.seed.is_none() {
            return Err(BuildError::Invalid {
                scenario,
                reason: "a sharded run needs a fixed seed, so that every shard makes the decisions of the same run"
                    .into(),
            });
        }
        if self.concurrency == 0 {
            return Err(BuildError::Invalid { scenario, reason: "concurrency must be at least 1".into() });
        }
        if self.step_timeout.is_some_and(|d| d.is_zero()) {
            return Err(BuildError::Invalid { scenario, reason: "step timeout must be longer than zero".into() });
        }
        self.thresholds.validate().map_err(|reason| BuildError::Invalid { scenario: scenario.clone(), reason })?;
        unique(&scenario, "injectors", self.injectors.iter().map(|i| &*i.label))?;
        unique(&scenario, "validators", self.validators.iter().map(|v| &*v.label))?;
        unique(&scenario, "scopes", self.scopes.iter().map(|s| &**s))?;
        for def in &self.injectors {
            def.injector.validate_config().map_err(|reason| BuildError::InvalidInjector {
                scenario: scenario.clone(),
                label: def.label.to_string(),
                reason,
            })?;
        }
        let validator_timeout = self.validators.iter().filter_map(|v| v.validator.step_timeout()).min();
        let step_timeout = match (self.step_timeout, validator_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Scenario {
            name: self.name,
            target,
            steps: self.steps,
            injectors: self.injectors,
            validators: self.validators,
            scopes: self.scopes,
            repeat: self.repeat,
            run_for: self.run_for,
            seed: self.seed,
            concurrency: self.concurrency,
            policy: self.policy,
            thresholds: self.thresholds,
            journal: self.journal,
            step_timeout,
            decision_logs: self.decision_logs,
            shard: self.shard,
        })
    }
}

fn unique<'a>(scenario: &str, what: &'static str, labels: impl Iterator<Item = &'a str>) -> Result<(), BuildError> {
    let mut seen = HashSet::new();
    for label in labels {
        if !seen.insert(label) {
            return Err(BuildError::DuplicateLabel { scenario: scenario.into(), what, label: label.into() });
        }
    }
    Ok(())
}
