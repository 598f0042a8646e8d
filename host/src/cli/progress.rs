//! The live progress display and the final summary table, on stderr.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{Progress, Report};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// An animated bar on a terminal.
    Bar,
    /// Nothing while running.
    Off,
}

/// Whether to draw a bar, from what the edge learned:
///
/// | `--quiet` | stderr is a terminal | CI | display |
/// |-----------|----------------------|----|---------|
/// | yes       | any                  | any| off     |
/// | no        | no                   | any| off     |
/// | no        | yes                  | yes| off     |
/// | no        | yes                  | no | bar     |
pub(super) fn resolve(quiet: bool, is_terminal: bool, is_ci: bool) -> Mode {
    if !quiet && is_terminal && !is_ci { Mode::Bar } else { Mode::Off }
}

/// The bar of a run: iterations against the plan, or elapsed time for duration runs.
pub(super) fn bar(mode: Mode, planned: Option<u64>, duration: Option<Duration>) -> Option<ProgressBar> {
    if mode == Mode::Off {
        return None;
    }
    let (len, template) = match (planned, duration) {
        (_, Some(d)) => (d.as_millis() as u64, "{spinner} [{elapsed_precise}] {wide_bar} {msg}  (ends in {eta})"),
        (Some(n), None) => (n, "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}  ETA {eta}"),
        (None, None) => (0, "{spinner} [{elapsed_precise}] {msg}"),
    };
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(style);
    Some(bar)
}

/// Updates the bar from a progress snapshot.
pub(super) fn update(bar: &ProgressBar, p: &Progress) {
    let secs = p.elapsed.as_secs_f64().max(1e-3);
    let ok = if p.done == 0 { 100.0 } else { (p.done - p.failed) as f64 * 100.0 / p.done as f64 };
    let rate = p.done as f64 / secs;
    if p.duration.is_some() {
        bar.set_position(p.elapsed.as_millis() as u64);
        bar.set_message(format!("{} iterations, {rate:.1}/s, {ok:.1}% ok", p.done));
    } else {
        bar.set_position(p.done);
        bar.set_message(format!("{rate:.1}/s, {ok:.1}% ok"));
    }
}

/// The final summary table for stderr.
pub(super) fn summary(report: &Report, report_dir: &std::path::Path) -> String {
    let l = &report.latency_us;
    let rows = [
        ("scenario", report.scenario.clone()),
        ("verdict", report.verdict.to_string()),
        ("stopped", format!("{:?}", report.stop_reason).to_lowercase()),
        (
            "iterations",
            format!(
                "{} run, {} passed, {} failed",
                report.iterations.total, report.iterations.passed, report.iterations.failed
            ),
        ),
        ("success rate", format!("{:.2}%", report.success_rate * 100.0)),
        ("latency", format!("p50 {}  p99 {}  max {}", human_us(l.p50), human_us(l.p99), human_us(l.max))),
        ("injections", report.injectors.iter().map(|i| i.injections.values().sum::<u64>()).sum::<u64>().to_string()),
        ("seed", report.seed.to_string()),
        ("reports", report_dir.display().to_string()),
    ];
    let mut out = String::from("\n");
    for (k, v) in rows {
        out.push_str(&format!("  {k:<13} {v}\n"));
    }
    for reason in &report.reasons {
        out.push_str(&format!("  {:<13} {reason}\n", "-"));
    }
    out
}

fn human_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2}s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{us:.0}µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_only_on_an_interactive_terminal_outside_ci() {
        assert_eq!(resolve(false, true, false), Mode::Bar);
        assert_eq!(resolve(true, true, false), Mode::Off);
        assert_eq!(resolve(false, false, false), Mode::Off);
        assert_eq!(resolve(false, true, true), Mode::Off);
    }
}
