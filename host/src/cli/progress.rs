//! The live progress display (the target starting, then the iterations) and the end-of-run
//! lines, on stderr.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::OutputFormat;
use crate::report::escape::terminal_safe;
use crate::report::human_us;
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

/// The "waiting for the target" line while a process target starts: a spinner with the
/// elapsed time on a terminal, a plain line every 5 s elsewhere (a CI log shows the host is
/// not hung), nothing with `--quiet`.
#[derive(Clone)]
pub(super) struct WaitLine {
    state: Arc<Mutex<WaitState>>,
}

struct WaitState {
    mode: Mode,
    quiet: bool,
    spinner: Option<ProgressBar>,
    last_plain: Option<Duration>,
    done: bool,
}

/// How often the plain line repeats.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub(super) fn target_wait(mode: Mode, quiet: bool) -> WaitLine {
    WaitLine { state: Arc::new(Mutex::new(WaitState { mode, quiet, spinner: None, last_plain: None, done: false })) }
}

impl WaitLine {
    /// The callback the process target calls while it waits.
    pub(super) fn observer(&self) -> Arc<crate::services::WaitFn> {
        let state = self.state.clone();
        Arc::new(move |what: &str, elapsed: Duration| {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            if s.done || s.quiet {
                return;
            }
            let line = format!("waiting for {what}, {:.1} s", elapsed.as_secs_f64());
            match s.mode {
                Mode::Bar => {
                    let spinner = s.spinner.get_or_insert_with(|| {
                        let style = ProgressStyle::with_template("{spinner} target starting: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner());
                        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style)
                    });
                    spinner.set_message(line);
                    spinner.tick();
                }
                Mode::Off => {
                    if s.last_plain.is_none_or(|last| elapsed >= last + PLAIN_EVERY) {
                        s.last_plain = Some(elapsed);
                        super::output::eprint_line(&format!("target starting: {line}"));
                    }
                }
            }
        })
    }

    /// The target is ready (or gave up): clear the line for good.
    pub(super) fn done(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.done = true;
        if let Some(spinner) = s.spinner.take() {
            spinner.finish_and_clear();
        }
    }
}

/// The end-of-run lines on stderr. The verdict and its reasons are said once: by the text
/// report on stdout, or here when stdout carries another format.
pub(super) fn summary(report: &Report, report_dir: &std::path::Path, format: OutputFormat) -> String {
    let dir = report_dir.display();
    let files = format!("reports in {dir}/ (journal.json, report.txt, junit.xml, report.html)");
    if format == OutputFormat::Text {
        return files;
    }
    let l = &report.latency_us;
    let mut out = format!(
        "VERDICT: {} · {} of {} iterations passed ({:.2}%) · p50 {} p99 {} · seed {}",
        report.verdict,
        report.iterations.passed,
        report.iterations.total,
        report.success_rate * 100.0,
        human_us(l.p50),
        human_us(l.p99),
        report.seed
    );
    for reason in &report.reasons {
        out.push_str(&format!("\n  - {}", terminal_safe(reason)));
    }
    out.push('\n');
    out.push_str(&files);
    out
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
