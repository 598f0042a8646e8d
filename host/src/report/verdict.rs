//! Verdicts and the thresholds that decide them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The outcome of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Every threshold held.
    Pass,
    /// Thresholds held, but warning validators complained.
    Unstable,
    /// A threshold or a critical invariant was broken.
    Fail,
    /// The run was stopped (Ctrl-C, SIGTERM) before it finished: what ran is reported,
    /// but it is not a verdict on the plan. Never a success.
    Interrupted,
}

impl Verdict {
    /// "PASS", "UNSTABLE", "FAIL" or "INTERRUPTED".
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Unstable => "UNSTABLE",
            Verdict::Fail => "FAIL",
            Verdict::Interrupted => "INTERRUPTED",
        }
    }

    /// Whether the run counts as a success (PASS or UNSTABLE).
    pub fn is_success(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Unstable)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do when an iteration fails: the executor stops at the first one, or the verdict
/// weighs failures against the [`Thresholds`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Stop at the first failing iteration (the default); the verdict is FAIL.
    #[default]
    FailFast,
    /// Keep going; the verdict weighs failures against the thresholds.
    ContinueOnFailure,
}

/// The failing iterations the `relaxed` preset tolerates (as the Go original's preset).
pub const RELAXED_MAX_FAILURES: u64 = 200;

/// What a run must achieve to pass.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Minimum share of passing iterations, in `[0, 1]`.
    pub min_success_rate: f64,
    /// Most failing iterations allowed (`None`: only the rate counts).
    #[serde(default)]
    pub max_failures: Option<u64>,
    /// Whether a warning validator's complaint fails the run instead of making it UNSTABLE.
    #[serde(default)]
    pub warnings_fail: bool,
    /// Share of configured faults (injectors answering chaos points, probability > 0) whose
    /// points must be reached, in `[0, 1]`; `None`: a fault never reached is only a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_coverage: Option<f64>,
}

impl Default for Thresholds {
    /// At least 95% of iterations pass; warnings make the run UNSTABLE.
    fn default() -> Self {
        Thresholds { min_success_rate: 0.95, max_failures: None, warnings_fail: false, require_coverage: None }
    }
}

impl Thresholds {
    /// Every iteration passes and no validator complains at all.
    pub fn strict() -> Self {
        Thresholds { min_success_rate: 1.0, max_failures: Some(0), warnings_fail: true, require_coverage: None }
    }

    /// At least 80% of iterations pass, and at most 200 fail (so a long run cannot hide
    /// thousands of failures behind a good rate).
    pub fn relaxed() -> Self {
        Thresholds {
            min_success_rate: 0.80,
            max_failures: Some(RELAXED_MAX_FAILURES),
            warnings_fail: false,
            require_coverage: None,
        }
    }

    /// A preset by name: `default`, `strict` or `relaxed`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Thresholds::default()),
            "strict" => Some(Thresholds::strict()),
            "relaxed" => Some(Thresholds::relaxed()),
            _ => None,
        }
    }

    /// Sets the minimum success rate.
    pub fn min_success_rate(mut self, rate: f64) -> Self {
        self.min_success_rate = rate;
        self
    }

    /// Sets the maximum number of failing iterations.
    pub fn max_failures(mut self, n: u64) -> Self {
        self.max_failures = Some(n);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_success_rate) {
            return Err(format!("min_success_rate {} is outside [0, 1]", self.min_success_rate));
        }
        if let Some(share) = self.require_coverage
            && !(0.0..=1.0).contains(&share)
        {
            return Err(format!("require_coverage {share} is outside [0, 1]"));
        }
        Ok(())
    }
}
