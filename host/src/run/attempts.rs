//! Iterations chosen one at a time by a driver (replay, shrink) instead of `0..repeat`: the
//! target is set up and the injectors started once, then each attempt runs iteration `index`
//! (its seeded streams, or a schedule) and its full record goes back to the driver.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::chaos::Schedule;
use crate::journal::IterationRecord;

/// One iteration a driver asks for.
pub(crate) struct Attempt {
    /// The iteration index whose streams (or schedule) decide.
    pub(crate) index: u64,
    /// Decisions dictated instead of drawn.
    pub(crate) schedule: Option<Arc<Schedule>>,
    /// Where the iteration's full record goes.
    pub(crate) reply: oneshot::Sender<IterationRecord>,
}

/// The attempts a run executes, in the order the driver sends them.
pub(crate) struct AttemptQueue {
    rx: tokio::sync::Mutex<mpsc::Receiver<Attempt>>,
}

impl AttemptQueue {
    /// A queue and the sender a driver feeds; the run ends when the sender is dropped.
    pub(crate) fn channel() -> (mpsc::Sender<Attempt>, Arc<AttemptQueue>) {
        let (tx, rx) = mpsc::channel(1);
        (tx, Arc::new(AttemptQueue { rx: tokio::sync::Mutex::new(rx) }))
    }

    pub(crate) async fn next(&self) -> Option<Attempt> {
        self.rx.lock().await.recv().await
    }
}
