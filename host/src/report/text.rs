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
    if let Some(shard) = r.shard {
        let _ = writeln!(
            w,
            "  shard {shard}: the iterations whose index is {} modulo {}; merge the shards with `report merge`",
            shard.index, shard.count
        );
    }
    if let Some(m) = &r.merged {
        let _ = writeln!(w, "  merged from {} shard journals", m.shards);
        if !m.judged_per_shard.is_empty() {
            let _ = writeln!(w, "  judged per shard (state that does not merge): {}", m.judged_per_shard.join(", "));
        }
    }
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
    for e in &r.lifecycle_errors {
        let _ = writeln!(w, "\nLifecycle: {e}");
    }
    replay_section(w, r);
    let _ = writeln!(w, "\nVERDICT: {}", r.verdict);
    for reason in &r.reasons {
        let _ = writeln!(w, "  - {reason}");
    }
    out
}

/// How to replay a failure, and what may keep a replay from matching the run.
fn replay_section(w: &mut String, r: &Report) {
    if !r.run_decisions.is_empty() {
        let omitted = if r.run_decisions_omitted > 0 {
            format!(" ({} more omitted)", r.run_decisions_omitted)
        } else {
            String::new()
        };
        let _ = writeln!(
            w,
            "\nRun decisions: {} outside iterations{omitted} (whole-run faults, proxy toxicity draws)",
            r.run_decisions.len()
        );
    }
    if !r.replay_hazards.is_empty() {
        let _ = writeln!(w, "\nReplay hazards (the seed alone may not replay these decisions):");
        for h in &r.replay_hazards {
            let _ = writeln!(w, "  - {}", h.escape_debug());
        }
    }
    if let Some(f) = r.failures.first() {
        let _ = writeln!(
            w,
            "\nReplay a failure: chaoskit-host replay <journal.json> --iteration {} --times 10 (then `shrink` for the faults that matter)",
            f.index
        );
    }
}
