//! Failing iterations grouped for triage: one group per (step, error), with how often it
//! happened, its first and last iteration, the injectors that fired in it, and the command
//! that replays one of them. A run with 194 identical failures reads as one line, not 194.

use std::collections::BTreeMap;

use crate::journal::IterationRecord;

/// Failing iterations that failed the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureGroup<'a> {
    /// The step that failed, when a step did (a validator or an injector otherwise).
    pub step: Option<String>,
    /// What went wrong, as the first iteration of the group said it (without the step
    /// prefix, which `step` holds).
    pub error: String,
    /// The kept failing iterations in the group, in index order.
    pub iterations: Vec<&'a IterationRecord>,
    /// Injectors that fired in the group's iterations: label and the iterations it fired
    /// in, most first.
    pub injectors: Vec<(String, u64)>,
}

impl FailureGroup<'_> {
    /// Iterations in the group.
    pub fn count(&self) -> usize {
        self.iterations.len()
    }

    /// The first iteration's index.
    pub fn first(&self) -> u64 {
        self.iterations.first().map_or(0, |i| i.index)
    }

    /// The last iteration's index.
    pub fn last(&self) -> u64 {
        self.iterations.last().map_or(0, |i| i.index)
    }

    /// `step `pay`: status 500` or the error alone.
    pub fn title(&self) -> String {
        match &self.step {
            Some(step) => format!("step `{step}`: {}", self.error),
            None => self.error.clone(),
        }
    }

    /// The command that replays the group's first iteration from `journal`, with the
    /// scenario file the run was made from (`replay` runs only a scenario it is given).
    pub fn replay_command(&self, journal: &str, scenario: Option<&str>) -> String {
        replay_command(journal, scenario, self.first())
    }
}

/// `chaoskit-host replay <journal> [<scenario>] --iteration K`, each path quoted for a shell.
pub fn replay_command(journal: &str, scenario: Option<&str>, iteration: u64) -> String {
    let scenario = scenario.map(|s| format!(" {}", shell_quote(s))).unwrap_or_default();
    format!("chaoskit-host replay {}{scenario} --iteration {iteration}", shell_quote(journal))
}

/// `text` as one shell word: unchanged when it holds only characters no shell treats
/// specially, else in single quotes (a journal's paths are data, never shell syntax).
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "_./-=:+,@%".contains(c))
        && !text.starts_with('-');
    if plain { text.to_string() } else { format!("'{}'", text.replace('\'', "'\\''")) }
}

/// The failed step and the message without its step prefix. The journal's `failed_step` is
/// the truth: with it, a step name that contains a backtick still groups right. Journals
/// without it (older ones) fall back to reading the step out of the message.
fn step_and_error(record: &IterationRecord) -> (Option<String>, String) {
    let error = record.error.as_deref().unwrap_or("failed");
    let Some(step) = &record.failed_step else { return split_step(error) };
    let named = format!("step `{step}` ");
    if let Some(tail) = error.strip_prefix(&named) {
        return (Some(step.clone()), tail.strip_prefix("failed: ").unwrap_or(tail).to_string());
    }
    let inside = format!(" in step `{step}`");
    if let Some(at) = error.find(&inside) {
        let head = strip_iteration(&error[..at]);
        let tail = error[at + inside.len()..].trim_end_matches(';').trim_end();
        return (Some(step.clone()), format!("{head}{tail}"));
    }
    (Some(step.clone()), error.to_string())
}

/// "iteration 412 ran past …" → "ran past …": the index differs in every member of a group.
fn strip_iteration(head: &str) -> &str {
    match head.strip_prefix("iteration ").and_then(|h| h.split_once(' ')) {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest,
        _ => head,
    }
}

/// The step a failure message names, and the message without it. Messages are the
/// executor's: ``step `x` failed: …``, ``step `x` panicked: …``, ``iteration N ran past its
/// … in step `x`; …``.
fn split_step(error: &str) -> (Option<String>, String) {
    if let Some(rest) = error.strip_prefix("step `")
        && let Some((step, tail)) = rest.split_once('`')
    {
        let tail = tail.trim_start();
        let tail = tail.strip_prefix("failed: ").unwrap_or(tail);
        return (Some(step.to_string()), tail.to_string());
    }
    if let Some(at) = error.find(" in step `") {
        let rest = &error[at + " in step `".len()..];
        if let Some((step, tail)) = rest.split_once('`') {
            let head = strip_iteration(&error[..at]);
            return (Some(step.to_string()), format!("{head}{}", tail.trim_end_matches(';').trim_end()));
        }
    }
    (None, error.to_string())
}

/// Groups `failures` by (step, error), largest group first (ties: earliest first).
pub fn group(failures: &[IterationRecord]) -> Vec<FailureGroup<'_>> {
    let mut groups: Vec<FailureGroup<'_>> = Vec::new();
    let mut index: BTreeMap<(Option<String>, String), usize> = BTreeMap::new();
    let mut sorted: Vec<&IterationRecord> = failures.iter().collect();
    sorted.sort_by_key(|r| r.index);
    for record in sorted {
        let (step, error) = step_and_error(record);
        let slot = *index.entry((step.clone(), error.clone())).or_insert_with(|| {
            groups.push(FailureGroup { step, error, iterations: Vec::new(), injectors: Vec::new() });
            groups.len() - 1
        });
        groups[slot].iterations.push(record);
    }
    for g in &mut groups {
        let mut fired: BTreeMap<&str, u64> = BTreeMap::new();
        for record in &g.iterations {
            let mut labels: Vec<&str> = record.decisions.iter().map(|d| d.injector.as_str()).collect();
            labels.sort_unstable();
            labels.dedup();
            for label in labels {
                *fired.entry(label).or_default() += 1;
            }
        }
        let mut fired: Vec<(String, u64)> = fired.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        fired.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        g.injectors = fired;
    }
    groups.sort_by(|a, b| b.count().cmp(&a.count()).then_with(|| a.first().cmp(&b.first())));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::{Action, PointKind};
    use crate::journal::DecisionRecord;

    fn failure(index: u64, error: &str, injectors: &[&str]) -> IterationRecord {
        IterationRecord {
            index,
            start_us: 0,
            duration_us: 10,
            ok: false,
            error: Some(error.to_string()),
            failed_step: None,
            steps_executed: 0,
            decisions: injectors
                .iter()
                .map(|i| DecisionRecord {
                    injector: i.to_string(),
                    kind: PointKind::Error,
                    point: "pay".into(),
                    scope: None,
                    occurrence: 0,
                    action: Action::Error("boom".into()),
                })
                .collect(),
            events: Vec::new(),
            dropped_events: 0,
            violations: Vec::new(),
        }
    }

    #[test]
    fn identical_failures_form_one_group_with_their_injectors() {
        let failures = vec![
            failure(7, "step `pay` failed: status 500", &["flaky", "flaky"]),
            failure(2, "step `pay` failed: status 500", &["flaky", "slow"]),
            failure(9, "validator `leaks` failed: 3 tasks leaked", &[]),
            failure(4, "iteration 4 ran past its 2s step timeout in step `db`; the step was abandoned", &["slow"]),
            failure(11, "iteration 11 ran past its 2s step timeout in step `db`; the step was abandoned", &[]),
            failure(5, "step `pay` failed: status 500", &[]),
        ];
        let groups = group(&failures);
        assert_eq!(groups.len(), 3);
        let g = &groups[0];
        assert_eq!((g.title().as_str(), g.count(), g.first(), g.last()), ("step `pay`: status 500", 3, 2, 7));
        assert_eq!(g.injectors, vec![("flaky".to_string(), 2), ("slow".to_string(), 1)]);
        assert_eq!(g.replay_command("out/journal.json", None), "chaoskit-host replay out/journal.json --iteration 2");
        let stall = &groups[1];
        assert_eq!(stall.title(), "step `db`: ran past its 2s step timeout; the step was abandoned");
        assert_eq!((stall.count(), stall.first(), stall.last()), (2, 4, 11));
        assert_eq!(groups[2].title(), "validator `leaks` failed: 3 tasks leaked");
        assert_eq!(groups[2].step, None);
    }

    #[test]
    fn the_journal_failed_step_wins_over_the_message_text() {
        // A step named with a backtick would cut the parsed name short; `failed_step` does not.
        let mut odd = failure(3, "step `a`b` failed: status 500", &[]);
        odd.failed_step = Some("a`b".into());
        let mut stall =
            failure(8, "iteration 8 ran past its 1s step timeout in step `a`b`; the step was abandoned", &[]);
        stall.failed_step = Some("a`b".into());
        let mut other = failure(9, "step `a`b` failed: status 500", &[]);
        other.failed_step = Some("a`b".into());
        let failures = vec![odd, stall, other];
        let groups = group(&failures);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].step.as_deref(), Some("a`b"));
        assert_eq!((groups[0].error.as_str(), groups[0].count()), ("status 500", 2));
        assert_eq!(groups[1].error, "ran past its 1s step timeout; the step was abandoned");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        use crate::report::human_bytes;
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2_281_472), "2.2 MiB");
        assert_eq!(human_bytes(256 << 20), "256.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn journal_paths_with_spaces_are_quoted_in_the_replay_command() {
        assert_eq!(
            replay_command("my runs/journal.json", Some("s.toml"), 3),
            "chaoskit-host replay 'my runs/journal.json' s.toml --iteration 3"
        );
        // A journal's scenario path is data: shell syntax in it stays inside quotes.
        assert_eq!(
            replay_command("j.json", Some("x;touch pwned'$(id)"), 1),
            "chaoskit-host replay j.json 'x;touch pwned'\\''$(id)' --iteration 1"
        );
    }
}
