//! The schedule file: the decisions to re-apply to one iteration, as `shrink` writes it and
//! `replay` reads it.

use serde::{Deserialize, Serialize};

use crate::journal::{DecisionRecord, IterationRecord};
use crate::report::{Provenance, Report};

/// Identifies the JSON layout of [`ScheduleFile`].
pub const SCHEDULE_SCHEMA: &str = "chaoskit.schedule/v1";

/// How a failure is recognised when it happens again: the step that failed and its error.
///
/// Numbers in the error are ignored when comparing (timings, sizes and ports vary between
/// runs; the step and the words of the error do not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureSignature {
    /// The step that failed (absent when only a validator failed the iteration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The iteration's error.
    pub error: String,
}

impl FailureSignature {
    /// The failure of a record; `None` for a passing iteration.
    pub fn of(record: &IterationRecord) -> Option<FailureSignature> {
        Some(FailureSignature { step: record.failed_step.clone(), error: record.error.clone()? })
    }

    /// Whether `record` failed the same way: same step, same error up to numbers.
    pub fn matches(&self, record: &IterationRecord) -> bool {
        match Self::of(record) {
            Some(other) => other.step == self.step && without_numbers(&other.error) == without_numbers(&self.error),
            None => false,
        }
    }
}

fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else if !(in_number && c == '.') {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Decisions to re-apply to one iteration of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleFile {
    /// Always [`SCHEDULE_SCHEMA`].
    pub schema: String,
    /// The scenario's name.
    pub scenario: String,
    /// The run's seed (draws outside the schedule, e.g. a proxy's, still use it).
    pub seed: u64,
    /// The iteration the decisions belong to.
    pub iteration: u64,
    /// The failure the schedule reproduces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureSignature>,
    /// The decisions, each at its point's occurrence within the iteration.
    pub decisions: Vec<DecisionRecord>,
    /// Whole-run decisions (e.g. a proxy fault for the whole run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_decisions: Vec<DecisionRecord>,
    /// Where the run came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl ScheduleFile {
    /// The schedule of iteration `record` of `report`, as journaled.
    pub fn from_journal(report: &Report, record: &IterationRecord) -> ScheduleFile {
        ScheduleFile {
            schema: SCHEDULE_SCHEMA.to_string(),
            scenario: report.scenario.clone(),
            seed: report.seed,
            iteration: record.index,
            failure: FailureSignature::of(record),
            decisions: record.decisions.clone(),
            run_decisions: report.run_decisions.iter().filter(|d| d.point == "run").cloned().collect(),
            provenance: report.provenance.clone(),
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_compare_without_their_numbers() {
        assert_eq!(without_numbers("took 12.5ms on port 8077"), "took #ms on port #");
        assert_eq!(without_numbers("v1.2 ok."), "v# ok.");
    }
}
