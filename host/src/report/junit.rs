//! JUnit XML through quick-junit: one suite per scenario, a `verdict` case, one case per
//! validator. A violated invariant is a failure; a validator that broke is an error.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::{Report, Verdict};
use crate::validate::Severity;

pub(super) fn render(report: &Report) -> String {
    let mut suite = TestSuite::new(report.scenario.as_str());
    suite.set_time(Duration::from_micros(report.wall_time_us));
    suite.add_property(("seed", report.seed.to_string().as_str()));
    suite.add_property(("verdict", report.verdict.as_str()));
    suite.add_property(("iterations", report.iterations.total.to_string().as_str()));
    suite.add_property(("success_rate", format!("{:.4}", report.success_rate).as_str()));

    let mut status = if report.verdict.is_success() {
        TestCaseStatus::success()
    } else {
        // FAIL is a failed test; INTERRUPTED an errored one (the run did not finish).
        let kind = if report.verdict == Verdict::Fail { NonSuccessKind::Failure } else { NonSuccessKind::Error };
        let mut s = TestCaseStatus::non_success(kind);
        s.set_message(format!("verdict {}: {}", report.verdict, report.reasons.first().map_or("", String::as_str)));
        s.set_description(report.reasons.join("\n"));
        s
    };
    status_type(&mut status, "verdict");
    let mut verdict = TestCase::new("verdict", status);
    verdict.set_classname(report.scenario.as_str());
    verdict.set_time(Duration::from_micros(report.wall_time_us));
    if report.verdict.is_success() && !report.reasons.is_empty() {
        verdict.set_system_out(format!("verdict {}\n{}", report.verdict, report.reasons.join("\n")));
    }
    suite.add_test_case(verdict);

    for v in &report.validators {
        let complaint = v.final_violation.as_deref().or(v.first_violation.as_deref());
        let broken = v.harness_errors > 0;
        let status = match (complaint, v.severity) {
            (Some(message), Severity::Critical) | (Some(message), Severity::Warning) if broken => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(message);
                s
            }
            (Some(message), Severity::Critical) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(message);
                s.set_description(format!(
                    "complained about {} (critical: the run fails)",
                    super::plural(v.violations, "iteration")
                ));
                s
            }
            _ => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(format!("validator {}", v.label), status);
        case.set_classname(report.scenario.as_str());
        if let (Some(message), Severity::Warning, false) = (complaint, v.severity, broken) {
            case.set_system_out(format!("warning (about {}): {message}", super::plural(v.violations, "iteration")));
        }
        suite.add_test_case(case);
    }

    for case in super::coverage::junit_cases(report) {
        suite.add_test_case(case);
    }

    let mut junit = JunitReport::new("chaoskit");
    junit.set_time(Duration::from_micros(report.wall_time_us));
    junit.add_test_suite(suite);
    junit.to_string().expect("quick-junit filters invalid characters")
}

fn status_type(status: &mut TestCaseStatus, ty: &str) {
    if let TestCaseStatus::NonSuccess { .. } = status {
        status.set_type(ty);
    }
}
