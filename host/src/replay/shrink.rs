//! Shrinking a failing iteration's schedule: delta debugging (Zeller's ddmin) over its
//! decisions, then shorter delays and latencies, each candidate checked by one replay.

use std::time::Duration;

use super::{FailureSignature, ReplayError, ReplaySession};
use crate::journal::{DecisionRecord, IterationRecord};

/// What [`shrink`] found.
#[derive(Clone, Debug)]
pub struct ShrinkOutcome {
    /// The failure kept throughout.
    pub expected: FailureSignature,
    /// The journaled decisions of the iteration.
    pub original: Vec<DecisionRecord>,
    /// The smallest schedule found that still reproduces the failure (empty: the failure
    /// happens without any injected fault).
    pub minimal: Vec<DecisionRecord>,
    /// Replays it took.
    pub replays: u32,
    /// Whether the full schedule reproduced at all (if not, nothing was shrunk).
    pub reproducible: bool,
    /// Whether the replay budget ran out before the search finished (the result is then
    /// smaller than the original but maybe not minimal).
    pub budget_exhausted: bool,
}

struct Search<'a> {
    session: &'a mut ReplaySession,
    index: u64,
    expected: FailureSignature,
    replays: u32,
    budget: u32,
}

impl Search<'_> {
    /// One replay of `candidate`: whether it fails the same way. `None` when out of budget.
    async fn reproduces(&mut self, candidate: &[DecisionRecord]) -> Result<Option<bool>, ReplayError> {
        if self.replays >= self.budget {
            return Ok(None);
        }
        self.replays += 1;
        let record = self.session.run(self.index, Some(candidate)).await?;
        Ok(Some(self.expected.matches(&record)))
    }
}

/// Shrinks the schedule of the failing iteration `failed` within `max_replays` replays.
///
/// # Errors
///
/// `failed` passed, or the session ended.
pub async fn shrink(
    session: &mut ReplaySession,
    failed: &IterationRecord,
    max_replays: u32,
) -> Result<ShrinkOutcome, ReplayError> {
    let expected = FailureSignature::of(failed).ok_or(ReplayError::NotAFailure(failed.index))?;
    let original = failed.decisions.clone();
    let mut search =
        Search { session, index: failed.index, expected: expected.clone(), replays: 0, budget: max_replays };
    let mut outcome = ShrinkOutcome {
        expected,
        original: original.clone(),
        minimal: original.clone(),
        replays: 0,
        reproducible: false,
        budget_exhausted: false,
    };
    match search.reproduces(&original).await? {
        Some(true) => outcome.reproducible = true,
        Some(false) => {
            outcome.replays = search.replays;
            return Ok(outcome);
        }
        None => {
            outcome.budget_exhausted = true;
            return Ok(outcome);
        }
    }
    let (minimal, exhausted) = ddmin(&mut search, original).await?;
    let (minimal, exhausted_shorten) = if exhausted { (minimal, true) } else { shorten(&mut search, minimal).await? };
    outcome.minimal = minimal;
    outcome.replays = search.replays;
    outcome.budget_exhausted = exhausted || exhausted_shorten;
    Ok(outcome)
}

/// ddmin: the smallest subset (1-minimal: removing any one decision loses the failure).
/// Returns it and whether the budget ran out.
async fn ddmin(
    search: &mut Search<'_>,
    mut current: Vec<DecisionRecord>,
) -> Result<(Vec<DecisionRecord>, bool), ReplayError> {
    // A failure that needs no fault at all is the smallest answer; check it first when there
    // is something to remove.
    if !current.is_empty() {
        match search.reproduces(&[]).await? {
            Some(true) => return Ok((Vec::new(), false)),
            Some(false) => {}
            None => return Ok((current, true)),
        }
    }
    let mut n = 2usize;
    while current.len() >= 2 {
        let chunks = split(&current, n);
        let mut reduced = false;
        for chunk in &chunks {
            match search.reproduces(chunk).await? {
                Some(true) => {
                    current = chunk.clone();
                    n = 2;
                    reduced = true;
                    break;
                }
                Some(false) => {}
                None => return Ok((current, true)),
            }
        }
        if !reduced && n > 2 {
            for skip in 0..chunks.len() {
                let complement: Vec<DecisionRecord> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .flat_map(|(_, c)| c.iter().cloned())
                    .collect();
                match search.reproduces(&complement).await? {
                    Some(true) => {
                        current = complement;
                        n = (n - 1).max(2);
                        reduced = true;
                        break;
                    }
                    Some(false) => {}
                    None => return Ok((current, true)),
                }
            }
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    Ok((current, false))
}

/// `items` cut into `n` nearly equal runs, in order.
fn split(items: &[DecisionRecord], n: usize) -> Vec<Vec<DecisionRecord>> {
    let n = n.min(items.len()).max(1);
    let (size, extra) = (items.len() / n, items.len() % n);
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = size + usize::from(i < extra);
        chunks.push(items[start..start + len].to_vec());
        start += len;
    }
    chunks
}

/// Halves each delay or latency applied at a chaos point while the failure still reproduces
/// (a few steps each). Decisions of injectors that act around iterations (points `iteration`
/// and `run`, e.g. a proxy toxic) apply their configured fault whatever the recorded
/// latency, so they are kept as they are.
async fn shorten(
    search: &mut Search<'_>,
    mut current: Vec<DecisionRecord>,
) -> Result<(Vec<DecisionRecord>, bool), ReplayError> {
    const HALVINGS: u32 = 4;
    for i in 0..current.len() {
        for _ in 0..HALVINGS {
            let d = current[i].action.duration();
            if d < Duration::from_micros(2) || matches!(current[i].point.as_str(), "iteration" | "run") {
                break;
            }
            let mut candidate = current.clone();
            candidate[i].action = current[i].action.with_duration(d / 2);
            match search.reproduces(&candidate).await? {
                Some(true) => current = candidate,
                Some(false) => break,
                None => return Ok((current, true)),
            }
        }
    }
    Ok((current, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::{Action, PointKind};

    fn d(n: u32) -> DecisionRecord {
        DecisionRecord {
            injector: format!("i{n}"),
            kind: PointKind::Delay,
            point: "p".into(),
            scope: None,
            occurrence: n,
            action: Action::None,
        }
    }

    #[test]
    fn split_keeps_order_and_sizes() {
        let items: Vec<_> = (0..5).map(d).collect();
        let chunks = split(&items, 2);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(chunks.concat(), items);
        assert_eq!(split(&items, 9).len(), 5);
    }
}
