//! `error-budget`: fails when errors in a sliding window exceed a budget.
//!
//! After each iteration, looks at the last `window` iterations and counts either the failed
//! iterations (`"count": "failed"`) or the errors recorded in them (`"count": "errors"`). When
//! that count exceeds `budget`, the iteration is a violation, with a message such as
//! `error budget exceeded: 7 failed iterations in the last 100 (budget 5)`.
//!
//! Configuration (JSON):
//!
//! | key        | meaning                                            | default    |
//! |------------|----------------------------------------------------|------------|
//! | `budget`   | largest count allowed within the window            | required   |
//! | `window`   | window length in iterations (> 0)                  | `100`      |
//! | `count`    | `"failed"` (iterations) or `"errors"` (recorded)   | `"failed"` |
//! | `severity` | `"critical"` or `"warning"`                        | `critical` |
//!
//! Example: `{"budget": 5, "window": 100}`.

use chaoskit_plugin_sdk::{Outcome, Severity, Validator, export_validator};
use serde::Deserialize;
use std::collections::VecDeque;

/// What the budget counts.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Count {
    /// Iterations that did not succeed.
    Failed,
    /// Errors recorded in the iterations.
    Errors,
}

/// Severity in the configuration.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Level {
    Critical,
    Warning,
}

/// Configuration, see the crate docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    budget: u64,
    #[serde(default = "hundred")]
    window: usize,
    #[serde(default = "failed")]
    count: Count,
    #[serde(default = "critical")]
    severity: Level,
}

fn hundred() -> usize {
    100
}
fn failed() -> Count {
    Count::Failed
}
fn critical() -> Level {
    Level::Critical
}

struct ErrorBudget {
    config: Config,
    window: VecDeque<u64>,
    in_window: u64,
}

impl Validator for ErrorBudget {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.window == 0 {
            return Err("`window` must be greater than 0".into());
        }
        Ok(Self { window: VecDeque::with_capacity(config.window), in_window: 0, config })
    }

    fn severity(&self) -> Severity {
        match self.config.severity {
            Level::Critical => Severity::Critical,
            Level::Warning => Severity::Warning,
        }
    }

    fn check(&mut self, outcome: &Outcome) -> Result<(), String> {
        let n = match self.config.count {
            Count::Failed => u64::from(!outcome.ok),
            Count::Errors => u64::from(outcome.errors),
        };
        if self.window.len() == self.config.window {
            self.in_window -= self.window.pop_front().unwrap_or(0);
        }
        self.window.push_back(n);
        self.in_window += n;
        if self.in_window > self.config.budget {
            let what = match self.config.count {
                Count::Failed => "failed iterations",
                Count::Errors => "errors",
            };
            return Err(format!(
                "error budget exceeded: {} {what} in the last {} (budget {})",
                self.in_window,
                self.window.len(),
                self.config.budget
            ));
        }
        Ok(())
    }
}

export_validator!(ErrorBudget);
