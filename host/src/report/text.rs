//! The human summary: one set of units (human durations), words instead of type names,
//! failures grouped for triage, and every string that came from a plugin or a target
//! escaped (see [`super::escape`]), so nothing in it can forge a line of ours.

use std::fmt::Write;

use super::escape::terminal_safe as safe;
use super::{Report, human_us, plural, triage};
use crate::validate::{Counting, Severity};

/// Groups shown in full; the rest are counted.
const GROUPS_SHOWN: usize = 10;

pub(super) fn render(r: &Report, journal: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "ChaosKit report: scenario `{}` against `{}`", safe(&r.scenario), safe(&r.target));
    let planned = match (r.plan.iterations, r.plan.duration_ms) {
        (_, Some(ms)) => {
            format!("planned for {}", crate::units::format_duration(std::time::Duration::from_millis(ms)))
        }
        (Some(n), None) => format!("{} planned", plural(n, "iteration")),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        w,
        "  seed {} (rerun with --seed {} to replay every decision) · wall time {} · {} · {}",
        r.seed,
        r.seed,
        human_us(r.wall_time_us as f64),
        r.stop_reason.describe(),
        planned
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
            let labels: Vec<_> = m.judged_per_shard.iter().map(|l| safe(l)).collect();
            let _ = writeln!(w, "  judged per shard (state that does not merge): {}", labels.join(", "));
        }
    }
    let _ = writeln!(
        w,
        "\nIterations  {} run, {} passed, {} failed (success rate {:.2}%)",
        r.iterations.total,
        r.iterations.passed,
        r.iterations.failed,
        r.success_rate * 100.0
    );
    let l = &r.latency_us;
    let _ = writeln!(
        w,
        "Latency     min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {}",
        human_us(l.min),
        human_us(l.p50),
        human_us(l.p90),
        human_us(l.p99),
        human_us(l.p999),
        human_us(l.max),
        human_us(l.mean)
    );
    let e = &r.events;
    let _ = writeln!(
        w,
        "Events      {} caught, {} reported, max recursion depth {}",
        plural(e.panics, "panic"),
        plural(e.errors, "error"),
        e.max_recursion_depth
    );
    if !r.injectors.is_empty() {
        let _ = writeln!(w, "\nInjectors:");
        for i in &r.injectors {
            let counts = if i.injections.is_empty() {
                "no faults injected".to_string()
            } else {
                i.injections.iter().map(|(k, v)| format!("{v} {}", safe(k))).collect::<Vec<_>>().join(", ")
            };
            let scope = i.scope.as_deref().map(|s| format!(" (scope `{}`)", safe(s))).unwrap_or_default();
            let _ = writeln!(w, "  {:<24} {counts}{scope}", safe(&i.label));
            for n in &i.notes {
                let _ = writeln!(w, "  {:<24}   note: {}", "", safe(n));
            }
        }
    }
    if !r.validators.is_empty() {
        let _ = writeln!(w, "\nValidators:");
        for v in &r.validators {
            let state = match (&v.final_violation, &v.first_violation) {
                (Some(f), _) => format!("FAILED: {}", safe(f)),
                (None, Some(first)) => {
                    format!("complained about {}, first: {}", plural(v.violations, "iteration"), safe(first))
                }
                (None, None) => "ok".to_string(),
            };
            let _ = writeln!(w, "  {:<24} {}, {}  {state}", safe(&v.label), severity(v.severity), counting(v.counting));
            for n in &v.notes {
                let _ = writeln!(w, "  {:<24}   note: {}", "", safe(n));
            }
        }
    }
    if r.iterations.failed > 0 {
        render_failures(w, r, journal);
    }
    w.push_str(&super::coverage::text(r));
    for e in &r.lifecycle_errors {
        let _ = writeln!(w, "\nLifecycle: {}", safe(e));
    }
    replay_section(w, r);
    let _ = writeln!(w, "\nVERDICT: {}", r.verdict);
    for reason in &r.reasons {
        let _ = writeln!(w, "  - {}", safe(reason));
    }
    out
}

fn render_failures(w: &mut String, r: &Report, journal: &str) {
    let groups = triage::group(&r.failures);
    let scenario = r.provenance.as_ref().map(|p| p.scenario_file.as_str());
    let kept = r.failures.len();
    let omitted = if r.failures_omitted > 0 {
        format!("; {} more counted but not kept", r.failures_omitted)
    } else {
        String::new()
    };
    let _ = writeln!(
        w,
        "\nFailures: {} kept, in {}{omitted}",
        plural(kept as u64, "iteration"),
        plural(groups.len() as u64, "group")
    );
    for (n, g) in groups.iter().take(GROUPS_SHOWN).enumerate() {
        let span = if g.count() == 1 {
            format!("iteration {}", g.first())
        } else {
            format!("first iteration {}, last {}", g.first(), g.last())
        };
        let _ = writeln!(w, "  {}. {} × {}", n + 1, g.count(), safe(&g.title()));
        let _ = writeln!(w, "     {span}");
        if !g.injectors.is_empty() {
            let fired: Vec<String> = g.injectors.iter().map(|(label, k)| format!("{} (in {k})", safe(label))).collect();
            let _ = writeln!(w, "     injectors fired: {}", fired.join(", "));
        } else {
            let _ = writeln!(w, "     no injector fired in these iterations");
        }
        let _ = writeln!(w, "     replay: {}", safe(&g.replay_command(journal, scenario)));
    }
    if groups.len() > GROUPS_SHOWN {
        let rest: usize = groups[GROUPS_SHOWN..].iter().map(|g| g.count()).sum();
        let _ = writeln!(
            w,
            "  ... {} more groups ({}) in the HTML report and the JSON journal",
            groups.len() - GROUPS_SHOWN,
            plural(rest as u64, "iteration")
        );
    }
}

/// `critical` / `warning`, as the scenario file writes it.
pub(super) fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
    }
}

/// `per iteration` / `per run`.
pub(super) fn counting(c: Counting) -> &'static str {
    match c {
        Counting::PerIteration => "per iteration",
        Counting::PerRun => "per run",
    }
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
            let _ = writeln!(w, "  - {}", safe(h));
        }
    }
}
