//! Merging the journals of a sharded run into one report and one verdict.
//!
//! Every shard ran the same scenario with the same seed on its part of the iteration
//! indices ([`Shard`]), so the merged report is what a single run would have written:
//! counts, per-injector and per-validator counts and event totals add up; the latency
//! histograms (carried in each journal in HdrHistogram's V2 encoding) and the timeline
//! buckets merge exactly; kept failures and samples are put in index order and cut to the
//! run's journal caps again; the verdict is decided again from the merged data with the
//! same thresholds. A validator's judgement of the whole run follows its
//! [`RunJudgement`]: a panic budget is judged again from the merged panic count, a
//! run-level judgement that cannot merge (plugins, a custom `finish`) is kept per shard and
//! listed in [`MergeInfo::judged_per_shard`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::shard::MAX_SHARDS;
use super::{Counts, EventTotals, Plan, REPORT_SCHEMA, Report, Shard, StopReason};
use crate::run::{Timeline, decode_histogram, latency_histogram, latency_summary};
use crate::validate::RunJudgement;

/// What a merged report says about its making.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// How many shard journals were merged (all of them: a merge refuses a missing shard).
    pub shards: u32,
    /// Validators whose judgement of the run was made by each shard on its own iterations
    /// (state that does not merge: plugins, a custom `finish`); their complaints are kept
    /// per shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judged_per_shard: Vec<String>,
}

/// Why shard journals could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shard journal to merge")]
    Empty,
    /// A journal of a run that was not sharded.
    #[error("`{journal}` is not a shard journal (it was not run with --shard I/N)")]
    NotShard {
        /// The journal.
        journal: String,
    },
    /// A journal of another run: another scenario, seed, shard count or configuration.
    #[error("`{journal}` is not a shard of the same run: its {field} is {found}, but `{first}` has {expected}")]
    Mismatch {
        /// The journal that differs.
        journal: String,
        /// The first journal.
        first: String,
        /// What differs.
        field: &'static str,
        /// The first journal's value.
        expected: String,
        /// This journal's value.
        found: String,
    },
    /// Some shards are not among the journals.
    #[error("shard{} {} of {count} missing: a merged report must cover every shard", if *missing > 1 { "s" } else { "" }, list(ranges, *missing))]
    Missing {
        /// The missing shard indices, as inclusive ranges in order.
        ranges: Vec<(u32, u32)>,
        /// How many shards are missing.
        missing: u32,
        /// The shard count.
        count: u32,
    },
    /// A journal whose numbers cannot be those of a run.
    #[error("`{journal}` is not a consistent journal: {field} {reason}")]
    Inconsistent {
        /// The journal.
        journal: String,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// One shard given twice.
    #[error("shard {shard} is given twice: `{first}` and `{second}`")]
    Duplicate {
        /// The shard.
        shard: Shard,
        /// Its first journal.
        first: String,
        /// Its second journal.
        second: String,
    },
    /// A journal without the data that merges (written by an older version).
    #[error("`{journal}` cannot be merged: {reason}")]
    NotMergeable {
        /// The journal.
        journal: String,
        /// What is missing or broken.
        reason: String,
    },
}

/// The site of whole-run decisions in the journal.
const RUN_POINT: &str = "run";

/// Ranges shown in a missing-shards message; the rest are counted.
const RANGES_SHOWN: usize = 10;

/// `1, 2, 5-9`, at most [`RANGES_SHOWN`] ranges, then how many shards are missing in all.
fn list(ranges: &[(u32, u32)], missing: u32) -> String {
    let mut parts: Vec<String> = Vec::new();
    for &(a, b) in ranges.iter().take(RANGES_SHOWN) {
        match b - a {
            0 => parts.push(a.to_string()),
            1 => parts.extend([a.to_string(), b.to_string()]),
            _ => parts.push(format!("{a}-{b}")),
        }
    }
    if ranges.len() > RANGES_SHOWN {
        parts.push(format!("... ({missing} in all)"));
    }
    parts.join(", ")
}

/// The indices of `0..count` not in `present` (sorted), as inclusive ranges: at most one
/// more range than there are present shards, whatever the count.
fn missing_ranges(present: impl Iterator<Item = u32>, count: u32) -> (Vec<(u32, u32)>, u32) {
    let mut ranges = Vec::new();
    let mut missing = 0;
    let mut next = 0u32;
    for i in present.chain(std::iter::once(count)) {
        if i > next {
            ranges.push((next, i - 1));
            missing += i - next;
        }
        next = i.saturating_add(1);
    }
    (ranges, missing)
}

/// Merges the journals of every shard of one run; each comes with a name for errors (its
/// file). The result is a report of the whole run (its `shard` is unset, its `merged` set).
pub fn merge(journals: Vec<(String, Report)>) -> Result<Report, MergeError> {
    let mut by_shard: BTreeMap<u32, (String, Report)> = BTreeMap::new();
    let mut count = None;
    for (source, report) in journals {
        let Some(shard) = report.shard else { return Err(MergeError::NotShard { journal: source }) };
        if shard.count == 0 || shard.count > MAX_SHARDS || shard.index >= shard.count {
            return Err(MergeError::Inconsistent {
                journal: source,
                field: "shard",
                reason: format!(
                    "is {}/{}: a shard is I/N with 0 <= I < N and 1 <= N <= {MAX_SHARDS}",
                    shard.index, shard.count
                ),
            });
        }
        check_counts(&source, &report)?;
        if let Some((first, r)) = by_shard.values().next() {
            same_run(first, r, &source, &report)?;
        }
        count.get_or_insert(shard.count);
        if let Some((first, _)) = by_shard.get(&shard.index) {
            return Err(MergeError::Duplicate { shard, first: first.clone(), second: source });
        }
        by_shard.insert(shard.index, (source, report));
    }
    let Some(count) = count else { return Err(MergeError::Empty) };
    let (ranges, missing) = missing_ranges(by_shard.keys().copied(), count);
    if missing > 0 {
        return Err(MergeError::Missing { ranges, missing, count });
    }
    let shards: Vec<(String, Report)> = by_shard.into_values().collect();
    combine(shards, count)
}

/// Refuses a journal whose counts contradict each other, so the merge's arithmetic (and
/// the merged report's) cannot wrap.
fn check_counts(source: &str, r: &Report) -> Result<(), MergeError> {
    let bad =
        |field: &'static str, reason: String| MergeError::Inconsistent { journal: source.to_string(), field, reason };
    let c = r.iterations;
    if c.failed > c.total || c.passed != c.total - c.failed {
        return Err(bad(
            "iterations",
            format!("are {} run, {} passed, {} failed: passed + failed must be the run", c.total, c.passed, c.failed),
        ));
    }
    let kept = r.failures.len() as u64;
    if kept > c.failed {
        return Err(bad("failures", format!("keeps {kept} failing iterations, but only {} failed", c.failed)));
    }
    if r.failures_omitted > c.failed - kept {
        return Err(bad(
            "failures_omitted",
            format!("is {}, but {} failed and {kept} are kept", r.failures_omitted, c.failed),
        ));
    }
    Ok(())
}

/// Adds one number per shard, refusing a sum that does not fit (it names the last journal).
fn sum(shards: &[(String, Report)], field: &'static str, f: impl Fn(&Report) -> u64) -> Result<u64, MergeError> {
    let mut total: u64 = 0;
    for (source, r) in shards {
        total = total.checked_add(f(r)).ok_or_else(|| MergeError::Inconsistent {
            journal: source.clone(),
            field,
            reason: "makes the merged total overflow 64 bits".to_string(),
        })?;
    }
    Ok(total)
}

/// Refuses `b` unless it is a shard of the run `a` is a shard of.
fn same_run(first: &str, a: &Report, source: &str, b: &Report) -> Result<(), MergeError> {
    let json = |v: &dyn erased::Json| v.json();
    let checks: [(&'static str, String, String); 11] = [
        ("scenario", json(&a.scenario), json(&b.scenario)),
        ("target", json(&a.target), json(&b.target)),
        ("seed", json(&a.seed), json(&b.seed)),
        ("shard count", json(&a.shard.map(|s| s.count)), json(&b.shard.map(|s| s.count))),
        ("planned iterations", json(&a.plan.iterations), json(&b.plan.iterations)),
        ("planned duration", json(&a.plan.duration_ms), json(&b.plan.duration_ms)),
        ("failure policy", json(&a.plan.failure_policy), json(&b.plan.failure_policy)),
        ("thresholds", json(&a.thresholds), json(&b.thresholds)),
        ("journal caps", json(&a.journal_caps), json(&b.journal_caps)),
        (
            "injectors",
            json(&a.injectors.iter().map(|i| &i.label).collect::<Vec<_>>()),
            json(&b.injectors.iter().map(|i| &i.label).collect::<Vec<_>>()),
        ),
        (
            "validators",
            json(&a.validators.iter().map(|v| (&v.label, v.run_judgement)).collect::<Vec<_>>()),
            json(&b.validators.iter().map(|v| (&v.label, v.run_judgement)).collect::<Vec<_>>()),
        ),
    ];
    for (field, expected, found) in checks {
        if expected != found {
            return Err(MergeError::Mismatch {
                journal: source.to_string(),
                first: first.to_string(),
                field,
                expected,
                found,
            });
        }
    }
    if let (Some(pa), Some(pb)) = (&a.provenance, &b.provenance) {
        let (ea, eb) = (json(&(&pa.scenario_sha256, &pa.plugins)), json(&(&pb.scenario_sha256, &pb.plugins)));
        if ea != eb {
            return Err(MergeError::Mismatch {
                journal: source.to_string(),
                first: first.to_string(),
                field: "scenario file or plugins (SHA-256)",
                expected: ea,
                found: eb,
            });
        }
    }
    Ok(())
}

mod erased {
    /// Compact JSON of a value, for comparing and naming what differs.
    pub(super) trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

fn combine(shards: Vec<(String, Report)>, count: u32) -> Result<Report, MergeError> {
    let first = &shards[0].1;
    let caps = first.journal_caps.ok_or_else(|| MergeError::NotMergeable {
        journal: shards[0].0.clone(),
        reason: "it has no `journal_caps` (written by an older version)".into(),
    })?;
    let mut latency = latency_histogram();
    let mut timeline: Option<Timeline> = None;
    for (source, r) in &shards {
        let not_mergeable = |reason: String| MergeError::NotMergeable { journal: source.clone(), reason };
        let encoded = r
            .latency_histogram
            .as_deref()
            .ok_or_else(|| not_mergeable("it has no `latency_histogram` (written by an older version)".into()))?;
        let h = decode_histogram(encoded).map_err(|e| not_mergeable(format!("`latency_histogram`: {e}")))?;
        latency.add(h).map_err(|e| not_mergeable(format!("`latency_histogram`: {e:?}")))?;
        let width = r
            .timeline_width_ms
            .ok_or_else(|| not_mergeable("it has no `timeline_width_ms` (written by an older version)".into()))?;
        // Buckets start 100 ms wide and double: other widths would not line up.
        if width % 100 != 0 || !(width / 100).is_power_of_two() {
            return Err(not_mergeable(format!("`timeline_width_ms` {width} is not a bucket width")));
        }
        let t = Timeline::from_buckets(width, &r.timeline);
        match &mut timeline {
            Some(acc) => acc.merge_with(t),
            None => timeline = Some(t),
        }
    }

    let mut merged = first.clone();
    merged.shard = None;
    merged.started_at_unix_ms = shards.iter().map(|(_, r)| r.started_at_unix_ms).min().unwrap_or(0);
    // Shards run side by side: the run took as long as its slowest shard.
    merged.wall_time_us = shards.iter().map(|(_, r)| r.wall_time_us).max().unwrap_or(0);
    let concurrency = shards.iter().fold(0usize, |acc, (_, r)| acc.saturating_add(r.plan.concurrency));
    merged.plan = Plan { concurrency, ..first.plan.clone() };
    let reasons: Vec<StopReason> = shards.iter().map(|(_, r)| r.stop_reason).collect();
    merged.stop_reason = [StopReason::Interrupted, StopReason::FailFast, StopReason::Deadline]
        .into_iter()
        .find(|s| reasons.contains(s))
        .unwrap_or(StopReason::Completed);

    let total = sum(&shards, "iterations.total", |r| r.iterations.total)?;
    let failed = sum(&shards, "iterations.failed", |r| r.iterations.failed)?;
    // Each shard has failed <= total (checked), so the sums do too.
    merged.iterations = Counts { total, passed: total - failed, failed };
    merged.success_rate = if total == 0 { 0.0 } else { (total - failed) as f64 / total as f64 };
    merged.latency_us = latency_summary(&latency);
    merged.latency_histogram = Some(crate::run::encode_histogram(&latency));
    merged.events = EventTotals {
        panics: sum(&shards, "events.panics", |r| r.events.panics)?,
        errors: sum(&shards, "events.errors", |r| r.events.errors)?,
        max_recursion_depth: shards.iter().map(|(_, r)| r.events.max_recursion_depth).max().unwrap_or(0),
    };

    for (n, injector) in merged.injectors.iter_mut().enumerate() {
        let mut injections = BTreeMap::new();
        let mut notes: Vec<String> = Vec::new();
        for (_, r) in &shards {
            for (action, k) in &r.injectors[n].injections {
                let n: &mut u64 = injections.entry(action.clone()).or_insert(0);
                *n = n.saturating_add(*k);
            }
            for note in &r.injectors[n].notes {
                if !notes.contains(note) {
                    notes.push(note.clone());
                }
            }
        }
        injector.injections = injections;
        injector.notes = notes;
    }

    let mut judged_per_shard = Vec::new();
    for (n, v) in merged.validators.iter_mut().enumerate() {
        let of = |f: fn(&super::ValidatorSummary) -> u64| {
            shards.iter().fold(0u64, |acc, (_, r)| acc.saturating_add(f(&r.validators[n])))
        };
        v.violations = of(|v| v.violations);
        v.harness_errors = of(|v| v.harness_errors);
        let earliest = shards
            .iter()
            .map(|(_, r)| &r.validators[n])
            .filter(|v| v.first_violation.is_some())
            .min_by_key(|v| v.first_violation_iteration.unwrap_or(u64::MAX));
        v.first_violation = earliest.and_then(|e| e.first_violation.clone());
        v.first_violation_iteration = earliest.and_then(|e| e.first_violation_iteration);
        let mut notes: Vec<String> = Vec::new();
        for (_, r) in &shards {
            for note in &r.validators[n].notes {
                if !notes.contains(note) {
                    notes.push(note.clone());
                }
            }
        }
        v.final_violation = match v.run_judgement {
            RunJudgement::Iterations => None,
            RunJudgement::MaxPanics { max } => (merged.events.panics > max)
                .then(|| format!("{} panics caught, at most {max} allowed", merged.events.panics)),
            RunJudgement::PerShard => {
                judged_per_shard.push(v.label.clone());
                notes.push(format!("judged per shard: each of the {count} shards judged its own iterations"));
                let complaints: Vec<String> = shards
                    .iter()
                    .filter_map(|(_, r)| {
                        let shard = r.shard.expect("checked: every journal is a shard");
                        r.validators[n].final_violation.as_ref().map(|m| format!("shard {shard}: {m}"))
                    })
                    .collect();
                (!complaints.is_empty()).then(|| complaints.join("; "))
            }
        };
        v.notes = notes;
    }

    let mut failures: Vec<_> = shards.iter().flat_map(|(_, r)| r.failures.iter().cloned()).collect();
    failures.sort_by_key(|r| r.index);
    failures.truncate(caps.max_failing);
    let mut samples: Vec<_> = shards.iter().flat_map(|(_, r)| r.samples.iter().cloned()).collect();
    samples.sort_by_key(|r| r.index);
    samples.truncate(caps.max_passing);
    // Every failing iteration is either kept or counted as omitted.
    // (kept <= failed in every shard, checked, so this cannot wrap.)
    merged.failures_omitted = failed - failures.len() as u64;
    merged.failures = failures;
    merged.samples = samples;

    let timeline = timeline.expect("at least one shard");
    merged.timeline_width_ms = Some(timeline.width_ms());
    merged.timeline = timeline.into_buckets();

    merged.lifecycle_errors = shards
        .iter()
        .flat_map(|(_, r)| {
            let shard = r.shard.expect("checked");
            r.lifecycle_errors.iter().map(move |e| format!("shard {shard}: {e}"))
        })
        .collect();
    // Whole-run decisions (point `run`) derive from the seed alone: every shard made the
    // same ones, so they are kept once; a proxy's per-connection draws are each shard's own.
    merged.run_decisions = first.run_decisions.iter().filter(|d| d.point == RUN_POINT).cloned().collect();
    for (_, r) in &shards {
        merged.run_decisions.extend(r.run_decisions.iter().filter(|d| d.point != RUN_POINT).cloned());
    }
    merged.run_decisions_omitted = shards.iter().fold(0u64, |acc, (_, r)| acc.saturating_add(r.run_decisions_omitted));
    let mut hazards: Vec<String> = Vec::new();
    for (_, r) in &shards {
        for h in &r.replay_hazards {
            if !hazards.contains(h) {
                hazards.push(h.clone());
            }
        }
    }
    merged.replay_hazards = hazards;
    merged.schema = REPORT_SCHEMA.to_string();
    merged.merged = Some(MergeInfo { shards: count, judged_per_shard });
    merged.decide();
    Ok(merged)
}
