//! The run record: what happened in each iteration, bounded for long runs.
//!
//! Every iteration is counted; full detail (steps, decisions, events, violations) is kept
//! for failing iterations up to a cap and for a deterministic sample of passing ones
//! (see [`JournalConfig`]), so a 24-hour run keeps a few megabytes, not every result.

use serde::{Deserialize, Serialize};

pub use crate::chaos::DecisionRecord;
use crate::chaos::Event;

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
    /// The step that failed, if a step did (not set when only a validator failed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
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
