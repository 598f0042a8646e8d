//! The human summary.

use std::fmt::Write;

use super::Report;

pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "ChaosKit report: scenario `{}` against `{}`", r.scenario, r.target);
    let _ = writeln!(
        w,
        "  seed {}  (rerun with this seed to replay every decision)\n  wall time {:.3}s, stopped: {:?}",
        r.seed,
        r.wall_time_us as f64 / 1e6,
        r.stop_reason
    );
    let _ = writeln!(
        w,
        "\nIterations: {} run, {} passed, {} failed  (success rate {:.2}%)",
        r.iterations.total,
        r.iterations.passed,
        r.iterations.failed,
        r.success_rate * 100.0
    );
    let l = &r.latency_us;
    let _ = writeln!(
        w,
        "Latency (µs): min {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
        l.min, l.p50, l.p90, l.p99, l.p999, l.max, l.mean
    );
    let e = &r.events;
    let _ = writeln!(
        w,
        "Events: {} panics caught, {} errors reported, max recursion depth {}",
        e.panics, e.errors, e.max_recursion_depth
    );
    if !r.injectors.is_empty() {
        let _ = writeln!(w, "\nInjectors:");
        for i in &r.injectors {
            let counts = if i.injections.is_empty() {
                "no faults injected".to_string()
            } else {
                i.injections.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
            };
            let scope = i.scope.as_deref().map(|s| format!(" [scope {s}]")).unwrap_or_default();
            let _ = writeln!(w, "  {:<24} {counts}{scope}", i.label);
            for n in &i.notes {
                let _ = writeln!(w, "  {:<24}   note: {n}", "");
            }
        }
    }
    if !r.validators.is_empty() {
        let _ = writeln!(w, "\nValidators:");
        for v in &r.validators {
            let state = match (&v.final_violation, &v.first_violation) {
                (Some(f), _) => format!("FAILED: {f}"),
                (None, Some(first)) => format!("{} violations, first: {first}", v.violations),
                (None, None) => "ok".to_string(),
            };
            let _ = writeln!(w, "  {:<24} {:?}/{:?}  {state}", v.label, v.severity, v.counting);
            for n in &v.notes {
                let _ = writeln!(w, "  {:<24}   note: {n}", "");
            }
        }
    }
    if !r.failures.is_empty() {
        let _ = writeln!(w, "\nFailures ({} kept, {} omitted):", r.failures.len(), r.failures_omitted);
        for f in r.failures.iter().take(20) {
            let _ = writeln!(w, "  #{:<8} {}", f.index, f.error.as_deref().unwrap_or("failed"));
        }
        if r.failures.len() > 20 {
            let _ = writeln!(w, "  ... {} more in the JSON journal", r.failures.len() - 20);
        }
    }
    w.push_str(&super::coverage::text(r));
    for e in &r.lifecycle_errors {
        let _ = writeln!(w, "\nLifecycle: {e}");
    }
    let _ = writeln!(w, "\nVERDICT: {}", r.verdict);
    for reason in &r.reasons {
        let _ = writeln!(w, "  - {reason}");
    }
    out
}
