//! Decision records: what fired, where, and at which occurrence of its point; schedules that
//! dictate decisions instead of drawing them (replay, shrink); and the bounded log of
//! decisions made outside an iteration (a proxy's per-connection toxic draws).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{Action, PointKind};

/// One fault decision inside the run, by ids (names are resolved when the journal is written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) injector: u32,
    pub(crate) point: u32,
    /// How many times this point was decided before, in this iteration (0 for the first).
    pub(crate) occurrence: u32,
    pub(crate) action: Action,
}

/// A decision as written in the journal, with names resolved. Together with the iteration
/// it belongs to, it says exactly where to re-apply it: the `occurrence`-th visit of the
/// point `(kind, point, scope)`, answered by `injector`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The injector's label (for a proxy's own draws: `proxy <name>`).
    pub injector: String,
    /// The chaos point's kind.
    pub kind: PointKind,
    /// The chaos point's site (step name, explicit name, `iteration` or `run` for the
    /// decisions of injectors that act around iterations, a toxic's name for a proxy).
    pub point: String,
    /// The point's scope, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Visits of the point before this one in the iteration (0: the first); for a proxy's
    /// draws, the connection's index.
    #[serde(default)]
    pub occurrence: u32,
    /// What was injected.
    pub action: Action,
}

/// Decisions dictated instead of drawn: at the `occurrence`-th visit of a point, the named
/// injector answers `action`; every other visit answers nothing. Drives the same injectors
/// and chaos points as a seeded run, so replay exercises the same code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Schedule {
    entries: Vec<Scheduled>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Scheduled {
    injector: u32,
    kind: PointKind,
    point: String,
    scope: Option<String>,
    occurrence: u32,
    action: Action,
}

impl Schedule {
    /// Resolves records against the run's injector labels; an unknown label is an error
    /// naming it.
    pub(crate) fn resolve(records: &[DecisionRecord], labels: &[Arc<str>]) -> Result<Schedule, String> {
        let entries = records
            .iter()
            .map(|r| {
                let injector = labels.iter().position(|l| **l == *r.injector).ok_or_else(|| {
                    let known: Vec<&str> = labels.iter().map(|l| &**l).collect();
                    format!(
                        "the schedule names injector `{}`, which the scenario does not have (it has: {})",
                        r.injector,
                        known.join(", ")
                    )
                })?;
                Ok(Scheduled {
                    injector: injector as u32,
                    kind: r.kind,
                    point: r.point.clone(),
                    scope: r.scope.clone(),
                    occurrence: r.occurrence,
                    action: r.action.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Schedule { entries })
    }

    /// What the schedule answers for injector `injector` at this visit of a point.
    pub(crate) fn lookup(
        &self,
        injector: u32,
        kind: PointKind,
        point: &str,
        scope: Option<&str>,
        occurrence: u32,
    ) -> Action {
        self.entries
            .iter()
            .find(|e| {
                e.injector == injector
                    && e.kind == kind
                    && e.occurrence == occurrence
                    && e.point == point
                    && e.scope.as_deref() == scope
            })
            .map_or(Action::None, |e| e.action.clone())
    }
}

/// Most records a [`DecisionLog`] keeps; later ones are counted.
pub const DECISION_LOG_CAP: usize = 10_000;

/// Decisions made outside any iteration, such as a chaos proxy's per-connection toxic draws:
/// bounded, shared by the components that decide, and drained into the report at the end.
#[derive(Clone, Debug, Default)]
pub struct DecisionLog {
    inner: Arc<Mutex<LogInner>>,
}

#[derive(Debug, Default)]
struct LogInner {
    records: Vec<DecisionRecord>,
    omitted: u64,
    hazards: BTreeSet<String>,
}

/// What a [`DecisionLog`] held when drained.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoggedDecisions {
    /// Records, in the order they were made.
    pub records: Vec<DecisionRecord>,
    /// Records beyond [`DECISION_LOG_CAP`], counted only.
    pub omitted: u64,
    /// What makes these decisions depend on more than the seed (e.g. connection order).
    pub hazards: Vec<String>,
}

impl DecisionLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a decision that fired.
    pub fn record(&self, record: DecisionRecord) {
        let mut inner = self.lock();
        if inner.records.len() < DECISION_LOG_CAP {
            inner.records.push(record);
        } else {
            inner.omitted += 1;
        }
    }

    /// Names something that makes these decisions non-replayable (kept once).
    pub fn hazard(&self, what: impl Into<String>) {
        let what = what.into();
        let mut inner = self.lock();
        if !inner.hazards.contains(&what) {
            inner.hazards.insert(what);
        }
    }

    /// Takes everything recorded so far.
    pub fn drain(&self) -> LoggedDecisions {
        let mut inner = self.lock();
        LoggedDecisions {
            records: std::mem::take(&mut inner.records),
            omitted: std::mem::take(&mut inner.omitted),
            hazards: std::mem::take(&mut inner.hazards).into_iter().collect(),
        }
    }
}
