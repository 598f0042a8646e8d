//! The result of a run: counts, latency, per-injector and per-validator summaries, the
//! bounded journal, and the verdict; rendered as text, JSON and JUnit.
//!
//! The JSON form is the journal file: [`Report`] serialises to a documented, versioned
//! schema ([`REPORT_SCHEMA`]) and reads back, so a finished run can be rendered again.

pub(crate) mod coverage;
pub mod escape;
#[cfg(feature = "html")]
mod html;
mod junit;
mod merge;
mod resources;
mod shard;
mod text;
pub mod triage;
mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use coverage::CoverageEntry;
pub use merge::{MergeError, MergeInfo, merge};
pub use resources::{MAX_SAMPLES, ResourceSample, ResourceSampler};
pub use shard::{MAX_SHARDS, ParseShardError, Shard};
pub use verdict::{FailurePolicy, RELAXED_MAX_FAILURES, Thresholds, Verdict};

use crate::journal::{DecisionRecord, IterationRecord, JournalConfig};
use crate::validate::{Counting, RunJudgement, Severity};

/// Identifies the JSON layout of [`Report`]; bumped on any incompatible change. v2 added
/// the `INTERRUPTED` verdict (and made a critical validator's complaint fail the run).
pub const REPORT_SCHEMA: &str = "chaoskit.report/v2";

/// Older layouts [`Report::from_json`] still reads (v1 is v2 without `INTERRUPTED`).
const READABLE_SCHEMAS: [&str; 2] = [REPORT_SCHEMA, "chaoskit.report/v1"];

/// Largest journal file the command line reads (`report`, `report merge`, `replay`): a
/// journal keeps a bounded number of iterations (see `JournalConfig`), so real ones are far
/// smaller.
pub const MAX_JOURNAL_BYTES: u64 = 256 << 20;

/// The journal file name reports refer to when they are not told where it was written.
pub const DEFAULT_JOURNAL: &str = "chaoskit-report/journal.json";

/// Why the run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every planned iteration ran.
    Completed,
    /// The `run_for` duration elapsed.
    Deadline,
    /// An iteration failed under [`FailurePolicy::FailFast`].
    FailFast,
    /// The run was cancelled (Ctrl-C or a cancellation token).
    Interrupted,
    /// The run could not start: a plugin did not load, the target did not start.
    NotStarted,
}

/// Iteration counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Iterations run.
    pub total: u64,
    /// Iterations that passed.
    pub passed: u64,
    /// Iterations that failed.
    pub failed: u64,
}

/// Iteration latency in microseconds, from an HDR histogram (3 significant digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Fastest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// What one injector did over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InjectorSummary {
    /// The label given in the scenario.
    pub label: String,
    /// The scope it applies to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Faults injected, by action ("delay", "error", ...).
    pub injections: BTreeMap<String, u64>,
    /// Problems or remarks (failed stop, disabled plugin, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What one validator found over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidatorSummary {
    /// The label given in the scenario.
    pub label: String,
    /// Declared severity.
    pub severity: Severity,
    /// Per iteration or per run.
    pub counting: Counting,
    /// Iterations it complained about.
    pub violations: u64,
    /// Complaints that were the validator's own failure (a crashed plugin).
    pub harness_errors: u64,
    /// Its first complaint during the iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_violation: Option<String>,
    /// The iteration of `first_violation`, so merged shards keep the earliest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_violation_iteration: Option<u64>,
    /// How its judgement of the whole run is made when shard journals merge.
    #[serde(default)]
    pub run_judgement: RunJudgement,
    /// Its judgement of the whole run, if it complained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_violation: Option<String>,
    /// Remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Totals of what the code reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTotals {
    /// Panics caught.
    pub panics: u64,
    /// Errors reported.
    pub errors: u64,
    /// Deepest recursion reported.
    pub max_recursion_depth: u32,
}

/// How the run was configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Planned iterations (absent for duration runs).
    pub iterations: Option<u64>,
    /// Planned duration in milliseconds.
    pub duration_ms: Option<u64>,
    /// Iterations in flight at once.
    pub concurrency: usize,
    /// Failure policy.
    pub failure_policy: FailurePolicy,
}

/// One point of the timeline: iterations that started within a time bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineBucket {
    /// Bucket start, milliseconds since the run started.
    pub start_ms: u64,
    /// Iterations started in the bucket.
    pub iterations: u64,
    /// Of which failed.
    pub failed: u64,
    /// Mean latency in microseconds.
    pub mean_us: f64,
    /// Slowest iteration in microseconds.
    pub max_us: f64,
    /// Faults injected.
    pub injections: u64,
    /// Sum of the latencies in microseconds (`mean_us` × `iterations`), so buckets merge exactly.
    #[serde(default)]
    pub sum_us: f64,
}

/// The complete result of a run. `verdict` decides success.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// Scenario name.
    pub scenario: String,
    /// Target name.
    pub target: String,
    /// The seed every decision derived from: rerun with it to replay them.
    pub seed: u64,
    /// Which part of the run this journal covers, when it was run with `--shard I/N`:
    /// exactly the iterations whose index is `index` modulo `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Start time, Unix milliseconds.
    pub started_at_unix_ms: u64,
    /// Wall time of the whole run (setup to teardown), microseconds.
    pub wall_time_us: u64,
    /// Configuration.
    pub plan: Plan,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Iteration counts.
    pub iterations: Counts,
    /// `passed / total` (0 when nothing ran).
    pub success_rate: f64,
    /// Iteration latency.
    pub latency_us: LatencySummary,
    /// Per injector.
    pub injectors: Vec<InjectorSummary>,
    /// Per validator.
    pub validators: Vec<ValidatorSummary>,
    /// Event totals.
    pub events: EventTotals,
    /// Thresholds applied.
    pub thresholds: Thresholds,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the verdict is what it is (empty for a clean PASS).
    pub reasons: Vec<String>,
    /// Failing iterations kept in full (see `JournalConfig`).
    pub failures: Vec<IterationRecord>,
    /// Failing iterations counted but not kept.
    pub failures_omitted: u64,
    /// Passing iterations kept in full (a deterministic sample).
    pub samples: Vec<IterationRecord>,
    /// Activity over time, for charts.
    pub timeline: Vec<TimelineBucket>,
    /// Width of each timeline bucket in milliseconds (buckets double in width on long runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline_width_ms: Option<u64>,
    /// The iteration latency histogram itself, in nanoseconds: HdrHistogram's V2 encoding,
    /// base64. Shard journals merge it exactly; other HdrHistogram tools read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
    /// The journal caps the run applied (kept failures and samples), applied again after a
    /// merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_caps: Option<JournalConfig>,
    /// Set on a report merged from shard journals (`report merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeInfo>,
    /// Errors while stopping injectors or tearing down the target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_errors: Vec<String>,
    /// Decisions made outside any iteration: whole-run faults (point `run`) and a chaos
    /// proxy's per-connection toxicity draws, in the order they were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_decisions: Vec<DecisionRecord>,
    /// Run decisions counted but not kept (a proxy's log is bounded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run_decisions_omitted: u64,
    /// What makes this run's decisions depend on more than the seed and the iteration (wall
    /// clocks, plugin host time or shared counters, connection order): a replay may differ.
    /// Empty when the same seed replays exactly the same decisions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replay_hazards: Vec<String>,
    /// Where the run came from (set by the command line): the scenario file and the plugins'
    /// digests, so `replay` can refuse a journal that does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// This process's memory, file descriptors and threads over the run, when sampled (the
    /// CLI does; see [`ResourceSampler`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_resources: Vec<ResourceSample>,
    /// Per injector answering chaos points: points reached and faults fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<CoverageEntry>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The files a run was made from, as the command line records them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The scenario file, as given on the command line.
    pub scenario_file: String,
    /// SHA-256 of the scenario file's bytes, hex.
    pub scenario_sha256: String,
    /// Plugins by label: SHA-256 of the component that served, hex.
    #[serde(default)]
    pub plugins: BTreeMap<String, String>,
}

impl Provenance {
    /// Refuses digests that are not SHA-256 hex (64 characters), so they can be shown and
    /// compared as such; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        check_sha256("provenance.scenario_sha256", &self.scenario_sha256)?;
        for (label, sha) in &self.plugins {
            check_sha256(&format!("provenance.plugins.{label}"), sha)?;
        }
        Ok(())
    }
}

fn check_sha256(field: &str, sha: &str) -> Result<(), String> {
    if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "{}: `{}` is not a SHA-256 digest (64 hex characters)",
            escape::terminal_safe(field),
            escape::terminal_safe(&sha.chars().take(80).collect::<String>())
        ))
    }
}

impl Report {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Whether the verdict is PASS or UNSTABLE.
    pub fn is_success(&self) -> bool {
        self.verdict.is_success()
    }

    /// Human-readable summary; its replay commands name [`DEFAULT_JOURNAL`].
    pub fn to_text(&self) -> String {
        text::render(self, DEFAULT_JOURNAL)
    }

    /// Human-readable summary whose replay commands name `journal` (where the JSON form
    /// of this report was written).
    pub fn to_text_with_journal(&self, journal: &str) -> String {
        text::render(self, journal)
    }

    /// The JSON journal (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Reads a JSON journal back; refuses other schema versions.
    pub fn from_json(json: &str) -> Result<Report, ReportError> {
        let report: Report = serde_json::from_str(json).map_err(ReportError::Json)?;
        if !READABLE_SCHEMAS.contains(&report.schema.as_str()) {
            return Err(ReportError::Schema { found: report.schema, expected: REPORT_SCHEMA });
        }
        Ok(report)
    }

    /// JUnit XML: one suite for the scenario, a `verdict` case plus one case per validator.
    pub fn to_junit(&self) -> String {
        junit::render(self)
    }

    /// A self-contained HTML page: summary, inline SVG charts (latency and success rate
    /// over time, injections per injector), validators and failures grouped for triage
    /// (each group expands to its iterations' decisions and events); no script, no
    /// external asset. Needs the `html` feature.
    #[cfg(feature = "html")]
    pub fn to_html(&self) -> String {
        html::render(self, DEFAULT_JOURNAL)
    }

    /// [`Report::to_html`] whose replay commands name `journal`.
    #[cfg(feature = "html")]
    pub fn to_html_with_journal(&self, journal: &str) -> String {
        html::render(self, journal)
    }

    /// The report of a run that ended before its iterations could run or finish normally:
    /// the target could not start, a plugin could not load, or Ctrl-C came during setup.
    /// `reason` says what happened; the verdict is INTERRUPTED for
    /// [`StopReason::Interrupted`], FAIL otherwise.
    pub fn not_run(run: NotRun, stop_reason: StopReason, reason: String) -> Report {
        let mut report = Report {
            schema: REPORT_SCHEMA.to_string(),
            scenario: run.scenario,
            target: run.target,
            seed: run.seed,
            started_at_unix_ms: run.started_at_unix_ms,
            wall_time_us: run.wall_time_us,
            plan: run.plan,
            stop_reason,
            iterations: Counts::default(),
            success_rate: 0.0,
            latency_us: LatencySummary::default(),
            injectors: Vec::new(),
            validators: Vec::new(),
            events: EventTotals::default(),
            thresholds: run.thresholds,
            verdict: Verdict::Fail,
            reasons: Vec::new(),
            failures: Vec::new(),
            failures_omitted: 0,
            samples: Vec::new(),
            timeline: Vec::new(),
            lifecycle_errors: Vec::new(),
            run_decisions: Vec::new(),
            run_decisions_omitted: 0,
            replay_hazards: Vec::new(),
            provenance: None,
            host_resources: Vec::new(),
            coverage: Vec::new(),
            shard: None,
            timeline_width_ms: None,
            latency_histogram: None,
            journal_caps: None,
            merged: None,
        };
        report.decide();
        // The reason says it all; "no iteration ran" and the like would only repeat it.
        report.reasons = vec![reason];
        report
    }

    /// Decides the verdict from the counts, the validators and the thresholds. The rules,
    /// in order (each adds its reason):
    ///
    /// - the run was interrupted: INTERRUPTED (what ran is still judged below, for the
    ///   reasons, but an interrupted run is never a PASS);
    /// - FAIL when no iteration ran, a fail-fast run stopped, the success rate is under the
    ///   minimum, more iterations failed than allowed, or a **critical** validator
    ///   complained at all (about one iteration or about the run: critical means the run
    ///   fails);
    /// - UNSTABLE when only warning validators complained (FAIL with `warnings_fail`);
    /// - PASS otherwise.
    pub(crate) fn decide(&mut self) {
        let mut reasons = Vec::new();
        let mut fail = false;
        let mut unstable = false;
        let t = &self.thresholds;
        if self.stop_reason == StopReason::Interrupted {
            let planned = self.plan.iterations.map(|n| format!(" of {n} planned")).unwrap_or_default();
            reasons.push(format!(
                "interrupted (Ctrl-C or SIGTERM) after {} iterations{planned}; the verdict covers only what ran",
                self.iterations.total
            ));
        }
        if self.iterations.total == 0 {
            fail = true;
            reasons.push("no iteration ran".to_string());
        }
        if self.stop_reason == StopReason::FailFast {
            fail = true;
            let first = self
                .failures
                .first()
                .map(|f| format!(" (iteration {}: {})", f.index, f.error.as_deref().unwrap_or("failed")));
            reasons.push(format!("stopped at the first failing iteration{}", first.unwrap_or_default()));
        }
        if self.iterations.total > 0 && self.success_rate < t.min_success_rate {
            fail = true;
            reasons.push(format!(
                "success rate {:.2}% is below the minimum {:.2}%",
                self.success_rate * 100.0,
                t.min_success_rate * 100.0
            ));
        }
        if let Some(max) = t.max_failures
            && self.iterations.failed > max
        {
            fail = true;
            reasons.push(format!("{} iterations failed, at most {max} allowed", self.iterations.failed));
        }
        for v in &self.validators {
            let complained = v.violations > 0 || v.final_violation.is_some() || v.harness_errors > 0;
            if !complained {
                continue;
            }
            let what = v.final_violation.as_deref().or(v.first_violation.as_deref()).unwrap_or("");
            let scope = match (v.final_violation.is_some(), v.violations) {
                (true, 0) => "about the run".to_string(),
                (true, n) => format!("about the run and {}", plural(n, "iteration")),
                (false, n) => format!("about {} of {}", n, plural(self.iterations.total, "iteration")),
            };
            match v.severity {
                Severity::Critical => {
                    fail = true;
                    reasons.push(format!(
                        "critical validator `{}` complained {scope}: {what} (a critical validator's complaint fails the run; set `severity = \"warning\"` to only report it)",
                        v.label
                    ));
                }
                Severity::Warning => {
                    if t.warnings_fail {
                        fail = true;
                    } else {
                        unstable = true;
                    }
                    reasons.push(format!("warning from `{}` {scope}: {what}", v.label));
                }
            }
        }
        coverage::judge(self, &mut fail, &mut reasons);
        if self.iterations.failed > 0 && !fail {
            reasons.push(format!(
                "{} of {} iterations failed, within the thresholds",
                self.iterations.failed, self.iterations.total
            ));
        }
        self.verdict = if self.stop_reason == StopReason::Interrupted {
            Verdict::Interrupted
        } else if fail {
            Verdict::Fail
        } else if unstable {
            Verdict::Unstable
        } else {
            Verdict::Pass
        };
        self.reasons = reasons;
    }
}

/// `1 iteration`, `3 iterations`.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// What is known of a run that could not run its iterations (see [`Report::not_run`]).
#[derive(Clone, Debug)]
pub struct NotRun {
    /// Scenario name.
    pub scenario: String,
    /// Target name.
    pub target: String,
    /// The seed the run would have used.
    pub seed: u64,
    /// Start time, Unix milliseconds.
    pub started_at_unix_ms: u64,
    /// Time from start to giving up, microseconds.
    pub wall_time_us: u64,
    /// Configuration.
    pub plan: Plan,
    /// Thresholds.
    pub thresholds: Thresholds,
}

/// A duration in microseconds in the unit that reads best: `850 µs`, `16.6 ms`, `2.35 s`.
pub fn human_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

/// A size in the binary unit that reads best: `512 B`, `2.2 MiB`, `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl StopReason {
    /// How the run ended, in words (`completed`, `interrupted`, ...).
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Completed => "completed",
            StopReason::Deadline => "ran for its duration",
            StopReason::FailFast => "stopped at the first failure (fail_fast)",
            StopReason::Interrupted => "interrupted",
            StopReason::NotStarted => "could not start",
        }
    }
}

/// Why a journal could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Not valid report JSON.
    #[error("not a chaoskit journal: {0}")]
    Json(serde_json::Error),
    /// Another schema version.
    #[error("journal schema `{found}` is not supported (expected `{expected}`)")]
    Schema {
        /// What the file says.
        found: String,
        /// What this version reads.
        expected: &'static str,
    },
}
