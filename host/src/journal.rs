//! The run record: what happened in each iteration, bounded for long runs.
//!
//! Every iteration is counted; full detail (steps, decisions, events, violations) is kept
//! for failing iterations up to a cap and for a deterministic sample of passing ones
//! (see [`JournalConfig`]), so a 24-hour run keeps a few megabytes, not every result.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chaos::{Action, Event, NetworkFault};

/// What fired at one chaos point, as stored in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DecisionAction {
    /// A delay, in nanoseconds.
    Delay {
        /// Nanoseconds.
        ns: u64,
    },
    /// An injected error.
    Error {
        /// The message.
        message: String,
    },
    /// An injected panic.
    Panic {
        /// The message.
        message: String,
    },
    /// A cancellation.
    Cancel,
    /// A network fault.
    Network {
        /// Added latency in nanoseconds.
        latency_ns: u64,
        /// Whether the connection was dropped.
        drop: bool,
    },
}

impl DecisionAction {
    /// The short name used in counters ("delay", "error", ...).
    pub fn name(&self) -> &'static str {
        match self {
            DecisionAction::Delay { .. } => "delay",
            DecisionAction::Error { .. } => "error",
            DecisionAction::Panic { .. } => "panic",
            DecisionAction::Cancel => "cancel",
            DecisionAction::Network { .. } => "network",
        }
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl From<&Action> for DecisionAction {
    fn from(action: &Action) -> Self {
        match action {
            // `None` is never journaled; mapping it to a zero delay keeps the conversion total.
            Action::None => DecisionAction::Delay { ns: 0 },
            Action::Delay(d) => DecisionAction::Delay { ns: nanos(*d) },
            Action::Error(m) => DecisionAction::Error { message: m.clone() },
            Action::Panic(m) => DecisionAction::Panic { message: m.clone() },
            Action::Cancel => DecisionAction::Cancel,
            Action::Network(NetworkFault { latency, drop }) => {
                DecisionAction::Network { latency_ns: nanos(*latency), drop: *drop }
            }
        }
    }
}

/// One fault decision: which injector fired, at which point, and what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) injector: u32,
    pub(crate) point: u32,
    pub(crate) action: DecisionAction,
}

/// A decision as written in the journal, with names resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The injector's label.
    pub injector: String,
    /// The chaos point's kind.
    pub kind: String,
    /// The chaos point's site (step name or explicit name).
    pub point: String,
    /// The point's scope, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// What was injected.
    pub action: DecisionAction,
}

/// A validator's complaint about one iteration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationRecord {
    /// The validator's label.
    pub validator: String,
    /// What was wrong.
    pub message: String,
}

/// The full record of one iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// 0-based iteration index.
    pub index: u64,
    /// Start, relative to the start of the run, in microseconds.
    pub start_us: u64,
    /// Duration in microseconds.
    pub duration_us: u64,
    /// Whether the iteration passed.
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many steps completed.
    pub steps_executed: u32,
    /// Faults injected, in the order they fired.
    pub decisions: Vec<DecisionRecord>,
    /// Events the code reported.
    pub events: Vec<Event>,
    /// Events beyond the per-iteration cap, counted only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_events: u32,
    /// Validator complaints.
    pub violations: Vec<ViolationRecord>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How much detail the journal keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalConfig {
    /// Most failing iterations kept in full (later ones are counted). Default 1,000.
    pub max_failing: usize,
    /// Passing iterations kept in full: the first `first_passing`...
    pub first_passing: u64,
    /// ...then one in every `passing_every` (0 keeps no more). Default 1 in 10,000.
    pub passing_every: u64,
    /// Upper bound on passing iterations kept in full. Default 1,000.
    pub max_passing: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig { max_failing: 1_000, first_passing: 10, passing_every: 10_000, max_passing: 1_000 }
    }
}

impl JournalConfig {
    /// Keeps every iteration in full (tests and short runs; memory grows with the run).
    pub fn keep_all() -> Self {
        JournalConfig { max_failing: usize::MAX, first_passing: u64::MAX, passing_every: 1, max_passing: usize::MAX }
    }

    /// Whether passing iteration `index` is sampled; a pure function of the index, so the
    /// sample is the same at any concurrency.
    pub(crate) fn samples(&self, index: u64) -> bool {
        index < self.first_passing || (self.passing_every != 0 && index.is_multiple_of(self.passing_every))
    }
}
