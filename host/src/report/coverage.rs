//! Coverage: for every injector that answers chaos points (failpoints, `#[chaos_fn]`
//! functions, delay / error / panic / cancel / network points, per-iteration proxy faults),
//! how often a point it applies to was reached and how often it fired.
//!
//! A configured fault that was never reached usually means a typo or dead code: the report
//! warns about it, and `Thresholds::require_coverage` turns the warning into a FAIL.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::Report;
use crate::chaos::{ChaosPlan, PointKind};

/// How one injector's points were exercised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageEntry {
    /// The injector's label.
    pub injector: String,
    /// The point kinds it answers (`failpoint`, `delay`, ...).
    pub kinds: Vec<PointKind>,
    /// The site name or pattern it targets (failpoints and functions), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Points it applied to and was asked at.
    pub reached: u64,
    /// Times it injected a fault.
    pub fired: u64,
    /// Whether it can never fire (probability 0): left out of every point, not a gap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inert: bool,
}

impl CoverageEntry {
    /// A configured fault that never got a chance to fire.
    pub fn is_gap(&self) -> bool {
        self.reached == 0 && !self.inert
    }

    /// `failpoint `db.*`` or the kinds it answers, for messages.
    pub fn describe(&self) -> String {
        let kinds = self.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join("/");
        match &self.target {
            Some(t) => format!("{kinds} `{t}`"),
            None => format!("{kinds} points"),
        }
    }
}

/// The coverage rows of a finished run, in declaration order.
/// `reached` and `injections` are the merged tally's per-injector counts.
pub(crate) fn collect(plan: &ChaosPlan, reached: &[u64], injections: &[[u64; 5]]) -> Vec<CoverageEntry> {
    plan.injectors
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let caps = p.injector.capabilities();
            let per_iteration = plan.per_iteration.contains(&(i as u32));
            let mut kinds: Vec<PointKind> = PointKind::ALL.into_iter().filter(|k| caps.answers(*k)).collect();
            if per_iteration && !kinds.contains(&PointKind::Network) {
                kinds.push(PointKind::Network);
            }
            if kinds.is_empty() {
                return None; // a background injector (CPU, memory, run-wide proxy fault): no point to reach
            }
            Some(CoverageEntry {
                injector: p.label.to_string(),
                kinds,
                target: p.injector.target().map(str::to_owned),
                reached: reached[i],
                fired: injections[i].iter().sum(),
                inert: p.injector.is_inert(),
            })
        })
        .collect()
}

/// Adds the coverage warnings to the verdict's reasons, and fails the run when the share of
/// configured faults reached is under `require_coverage`.
pub(super) fn judge(report: &Report, fail: &mut bool, reasons: &mut Vec<String>) {
    let considered: Vec<&CoverageEntry> = report.coverage.iter().filter(|c| !c.inert).collect();
    let gaps: Vec<&CoverageEntry> = considered.iter().copied().filter(|c| c.is_gap()).collect();
    if gaps.is_empty() {
        return;
    }
    let share = (considered.len() - gaps.len()) as f64 / considered.len() as f64;
    let names = gaps.iter().map(|c| format!("`{}` ({})", c.injector, c.describe())).collect::<Vec<_>>().join(", ");
    match report.thresholds.require_coverage {
        Some(required) if share < required => {
            *fail = true;
            reasons.push(format!(
                "coverage {:.0}% is below the required {:.0}%: never reached: {names}",
                share * 100.0,
                required * 100.0
            ));
        }
        _ => reasons.push(format!("coverage warning: never reached: {names}")),
    }
}

/// The text report's coverage section (empty when nothing answers chaos points).
pub(super) fn text(report: &Report) -> String {
    let mut out = String::new();
    if report.coverage.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nCoverage (points reached / faults fired):");
    for c in &report.coverage {
        let state = if c.inert {
            "inert (probability 0)"
        } else if c.is_gap() {
            "NEVER REACHED"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<24} {:<32} reached {:>8}  fired {:>8}  {state}",
            c.injector,
            c.describe(),
            c.reached,
            c.fired
        );
    }
    out
}

/// The HTML report's coverage table (escaped here; empty when there is nothing to show).
#[cfg(feature = "html")]
pub(super) fn html(report: &Report) -> String {
    fn esc(s: &str) -> String {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    }
    if report.coverage.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<h2>Coverage</h2>\n<table><tr><th>injector</th><th>target</th><th>reached</th><th>fired</th><th></th></tr>\n",
    );
    for c in &report.coverage {
        let state = if c.inert {
            "inert"
        } else if c.is_gap() {
            "never reached"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td></tr>",
            if c.is_gap() { " class=\"gap\"" } else { "" },
            esc(&c.injector),
            esc(&c.describe()),
            c.reached,
            c.fired
        );
    }
    out.push_str("</table>\n");
    out
}

/// JUnit: one case per coverage row; a gap is a failure when coverage is required, else
/// the case passes with the warning on its output.
pub(super) fn junit_cases(report: &Report) -> Vec<quick_junit::TestCase> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus};
    let required = report.thresholds.require_coverage.is_some_and(|r| r > 0.0);
    report
        .coverage
        .iter()
        .map(|c| {
            let summary = format!("reached {}, fired {}", c.reached, c.fired);
            let status = if c.is_gap() && required {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} was never reached", c.describe()));
                s.set_type("coverage");
                s
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("coverage {}", c.injector), status);
            case.set_classname(report.scenario.as_str());
            if !(c.is_gap() && required) {
                let warning = if c.is_gap() { " (warning: never reached)" } else { "" };
                case.set_system_out(format!("{}: {summary}{warning}", c.describe()));
            }
            case
        })
        .collect()
}
