//! What code under test reports during an iteration, for validators to judge.

use serde::{Deserialize, Serialize};

/// Something observed during an iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The code reached this recursion depth.
    RecursionDepth(u32),
    /// A panic was caught (by a step's caller or by the executor), with its message.
    Panic(String),
    /// An error happened (reported by the code, or injected by `maybe_error`).
    Error(String),
    /// A named measurement.
    Metric(String, f64),
}

/// The most events kept per iteration; beyond it they are counted, not stored, so a deep
/// recursion that reports every level cannot exhaust memory.
pub(crate) const MAX_EVENTS_PER_ITERATION: usize = 1024;

/// An iteration's events, bounded.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    pub(crate) events: Vec<Event>,
    pub(crate) dropped: u32,
}

impl EventLog {
    pub(crate) fn push(&mut self, event: Event) {
        if self.events.len() < MAX_EVENTS_PER_ITERATION {
            self.events.push(event);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
}
