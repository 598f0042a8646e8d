//! The schedule file: the decisions to re-apply to one iteration, as `shrink` writes it and
//! `replay` reads it.

use serde::{Deserialize, Serialize};

use crate::journal::{DecisionRecord, IterationRecord};
use crate::report::{Provenance, Report};

/// Identifies the JSON layout of [`ScheduleFile`].
pub const SCHEDULE_SCHEMA: &str = "chaoskit.schedule/v1";

/// Largest schedule file read: one iteration's decisions, far below this in practice.
pub const MAX_SCHEDULE_BYTES: usize = 16 << 20;

/// Most decisions a schedule may hold, per iteration and for the whole run each.
pub const MAX_SCHEDULE_DECISIONS: usize = 100_000;

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

    /// Reads a schedule file's text; the error says what is wrong (the caller names the
    /// file). Bounded: at most [`MAX_SCHEDULE_BYTES`] of text and
    /// [`MAX_SCHEDULE_DECISIONS`] decisions in each list, digests checked.
    pub fn from_json(text: &str) -> Result<ScheduleFile, String> {
        if text.len() > MAX_SCHEDULE_BYTES {
            return Err(format!("{} bytes, more than a schedule may be ({MAX_SCHEDULE_BYTES} bytes)", text.len()));
        }
        let file: ScheduleFile = serde_json::from_str(text).map_err(|e| format!("not a valid schedule: {e}"))?;
        if file.schema != SCHEDULE_SCHEMA {
            return Err(format!(
                "schema `{}` is not supported (expected `{SCHEDULE_SCHEMA}`)",
                crate::report::escape::terminal_safe(&file.schema)
            ));
        }
        for (field, n) in [("decisions", file.decisions.len()), ("run_decisions", file.run_decisions.len())] {
            if n > MAX_SCHEDULE_DECISIONS {
                return Err(format!(
                    "{field}: {n} decisions, more than a schedule may hold ({MAX_SCHEDULE_DECISIONS})"
                ));
            }
        }
        if let Some(p) = &file.provenance {
            p.check()?;
        }
        Ok(file)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(decisions: usize) -> ScheduleFile {
        let d = DecisionRecord {
            injector: "i".into(),
            kind: crate::chaos::PointKind::Failpoint,
            point: "p".into(),
            scope: None,
            occurrence: 0,
            action: crate::chaos::Action::Cancel,
        };
        ScheduleFile {
            schema: SCHEDULE_SCHEMA.into(),
            scenario: "s".into(),
            seed: 1,
            iteration: 3,
            failure: None,
            decisions: vec![d; decisions],
            run_decisions: Vec::new(),
            provenance: None,
        }
    }

    #[test]
    fn schedules_are_read_back_within_their_bounds() {
        let ok = schedule(2);
        assert_eq!(ScheduleFile::from_json(&ok.to_json()).unwrap(), ok);
        let many = serde_json::to_string(&schedule(MAX_SCHEDULE_DECISIONS + 1)).unwrap();
        assert_eq!(
            ScheduleFile::from_json(&many).unwrap_err(),
            "decisions: 100001 decisions, more than a schedule may hold (100000)"
        );
        let big = " ".repeat(MAX_SCHEDULE_BYTES + 1);
        assert!(ScheduleFile::from_json(&big).unwrap_err().starts_with("16777217 bytes, more than a schedule may be"));
        let mut short = schedule(0);
        short.provenance =
            Some(Provenance { scenario_file: "s.toml".into(), scenario_sha256: "abc".into(), ..Default::default() });
        assert_eq!(
            ScheduleFile::from_json(&short.to_json()).unwrap_err(),
            "provenance.scenario_sha256: `abc` is not a SHA-256 digest (64 hex characters)"
        );
    }

    #[test]
    fn errors_compare_without_their_numbers() {
        assert_eq!(without_numbers("took 12.5ms on port 8077"), "took #ms on port #");
        assert_eq!(without_numbers("v1.2 ok."), "v# ok.");
    }
}
