//! Replay and shrink: run one iteration of a journal again, and find the smallest set of
//! its fault decisions that still breaks it.
//!
//! - [`ReplaySession`]: a scenario set up once (target, proxies, injectors) that runs the
//!   iterations a driver asks for, each with its seeded streams or a schedule of decisions.
//! - [`replay`]: re-applies an iteration's journaled decisions `times` times and counts how
//!   often the same failure (same step, same error up to numbers) came back.
//! - [`shrink`]: delta debugging over those decisions (drop subsets, then shorten delays and
//!   latencies), each candidate checked by one replay, until no smaller schedule reproduces.
//! - [`ScheduleFile`]: what `shrink` writes and `replay` reads.
//!
//! A schedule replaces the draws, not the code: chaos points still sleep, fail, panic and
//! cancel, and proxy faults are still applied through the proxy, so a replay exercises the
//! same paths as the run. What the schedule cannot pin (a step's own nondeterminism, a
//! proxy's per-connection draws, host time) shows as replays that do not reproduce, and the
//! run's report names such hazards.

mod schedule;
mod shrink;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use schedule::{FailureSignature, SCHEDULE_SCHEMA, ScheduleFile};
pub use shrink::{ShrinkOutcome, shrink};

use crate::chaos::Schedule;
use crate::journal::{DecisionRecord, IterationRecord};
use crate::report::Report;
use crate::run::{Attempt, AttemptQueue, Executor, RunError};
use crate::scenario::{FailurePolicy, Scenario, Target};

/// Why a replay could not take place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The schedule does not fit the scenario (an injector it names is missing).
    #[error("{0}")]
    Schedule(String),
    /// The session's run ended (setup failed, or it was interrupted).
    #[error("the replay run ended: {0}")]
    Ended(String),
    /// The iteration to replay passed in the journal: there is no failure to reproduce.
    #[error("iteration {0} passed in the journal; there is no failure to replay")]
    NotAFailure(u64),
}

/// A scenario set up once, running the iterations a driver asks for (one at a time).
pub struct ReplaySession {
    tx: Option<mpsc::Sender<Attempt>>,
    run: JoinHandle<Result<Report, RunError>>,
    labels: Vec<Arc<str>>,
}

impl ReplaySession {
    /// Starts `scenario` (setup, proxies, injectors; whole-run decisions from
    /// `run_decisions` when given, else drawn) and waits for iterations to run. The session
    /// runs one iteration at a time and never stops on a failure.
    ///
    /// # Errors
    ///
    /// `run_decisions` names an injector the scenario does not have.
    pub fn start<T: Target>(
        mut scenario: Scenario<T>,
        run_decisions: Option<&[DecisionRecord]>,
    ) -> Result<ReplaySession, ReplayError> {
        let labels: Vec<Arc<str>> = scenario.injectors.iter().map(|i| i.label.clone()).collect();
        let run_schedule = match run_decisions {
            Some(records) => Some(Arc::new(Schedule::resolve(records, &labels).map_err(ReplayError::Schedule)?)),
            None => None,
        };
        scenario.concurrency = 1;
        scenario.policy = FailurePolicy::ContinueOnFailure;
        let (tx, queue) = AttemptQueue::channel();
        let run = tokio::spawn(Executor::new(scenario).attempts(queue, run_schedule).run());
        Ok(ReplaySession { tx: Some(tx), run, labels })
    }

    /// Runs iteration `index` once: with `schedule` (exactly those decisions, nothing else
    /// fires) or, when `None`, with the iteration's seeded streams.
    ///
    /// # Errors
    ///
    /// The schedule names an unknown injector, or the run ended (e.g. its setup failed).
    pub async fn run(
        &mut self,
        index: u64,
        schedule: Option<&[DecisionRecord]>,
    ) -> Result<IterationRecord, ReplayError> {
        let schedule = match schedule {
            Some(records) => Some(Arc::new(Schedule::resolve(records, &self.labels).map_err(ReplayError::Schedule)?)),
            None => None,
        };
        let (reply, answer) = oneshot::channel();
        let sent = match &self.tx {
            Some(tx) => tx.send(Attempt { index, schedule, reply }).await.is_ok(),
            None => false,
        };
        if sent && let Ok(record) = answer.await {
            return Ok(record);
        }
        Err(ReplayError::Ended(self.end_reason().await))
    }

    async fn end_reason(&mut self) -> String {
        self.tx = None;
        match (&mut self.run).await {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(_)) => "stopped (interrupted?)".to_string(),
            Err(e) => format!("the run task failed: {e}"),
        }
    }

    /// Ends the session (injectors stop, the target is torn down) and returns the report
    /// of the iterations it ran.
    ///
    /// # Errors
    ///
    /// The run could not take place (e.g. the target's setup failed).
    pub async fn finish(mut self) -> Result<Report, ReplayError> {
        self.tx = None;
        match (&mut self.run).await {
            Ok(result) => result.map_err(|e| ReplayError::Ended(e.to_string())),
            Err(e) => Err(ReplayError::Ended(format!("the run task failed: {e}"))),
        }
    }
}

/// What [`replay`] found.
#[derive(Clone, Debug)]
pub struct ReplayOutcome {
    /// The iteration replayed.
    pub iteration: u64,
    /// The failure looked for.
    pub expected: FailureSignature,
    /// The decisions applied (the schedule; or those drawn by the first seeded replay).
    pub decisions: Vec<DecisionRecord>,
    /// How many replays ran.
    pub times: u32,
    /// How many failed the same way.
    pub reproduced: u32,
    /// The first replay that did not reproduce, for the diagnosis.
    pub first_miss: Option<IterationRecord>,
    /// Seeded replays only: whether the draws gave the journal's decisions every time.
    pub decisions_matched: bool,
}

impl ReplayOutcome {
    /// Whether every replay reproduced the failure.
    pub fn always(&self) -> bool {
        self.times > 0 && self.reproduced == self.times
    }
}

/// How a replay decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplayMode {
    /// Exactly the journaled decisions, whatever the streams would draw (default): pins the
    /// faults even when an injector depends on timing.
    #[default]
    Schedule,
    /// Draw again from the seeded streams, and check they give the journaled decisions.
    Seeded,
}

/// Replays iteration `failed` `times` times in `session` and counts how often its failure
/// came back.
///
/// # Errors
///
/// `failed` passed, or the session ended.
pub async fn replay(
    session: &mut ReplaySession,
    failed: &IterationRecord,
    schedule: &[DecisionRecord],
    times: u32,
    mode: ReplayMode,
) -> Result<ReplayOutcome, ReplayError> {
    let expected = FailureSignature::of(failed).ok_or(ReplayError::NotAFailure(failed.index))?;
    let mut outcome = ReplayOutcome {
        iteration: failed.index,
        expected,
        decisions: schedule.to_vec(),
        times: 0,
        reproduced: 0,
        first_miss: None,
        decisions_matched: true,
    };
    for _ in 0..times {
        let record = match mode {
            ReplayMode::Schedule => session.run(failed.index, Some(schedule)).await?,
            ReplayMode::Seeded => session.run(failed.index, None).await?,
        };
        if mode == ReplayMode::Seeded && record.decisions != schedule {
            outcome.decisions_matched = false;
        }
        outcome.times += 1;
        if outcome.expected.matches(&record) {
            outcome.reproduced += 1;
        } else if outcome.first_miss.is_none() {
            outcome.first_miss = Some(record);
        }
    }
    Ok(outcome)
}
