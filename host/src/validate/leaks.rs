//! Leak validators: tokio tasks and OS threads against a baseline taken at run start.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use super::{IterationOutcome, Validator, Violation};

/// How long a count above tolerance may take to settle before it is a leak: work the
/// iteration started (a spawned task finishing, a joined thread exiting) gets this long.
const SETTLE: Duration = Duration::from_millis(50);

fn settled(mut measure: impl FnMut() -> i64, limit: i64) -> i64 {
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = measure();
        if now <= limit || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Fails an iteration after which more tokio tasks are alive than at the start of the run.
#[derive(Debug)]
pub struct NoTaskLeak {
    tolerance: i64,
    baseline: AtomicI64,
}

/// Alive tokio tasks after each iteration at most `tolerance` above the count when the run
/// started (the executor's own workers are part of the baseline).
pub fn no_task_leak(tolerance: u32) -> NoTaskLeak {
    NoTaskLeak {
        tolerance: i64::from(tolerance),
        baseline: AtomicI64::new(0),
    }
}

fn alive_tasks() -> Option<i64> {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(|h| h.metrics().num_alive_tasks() as i64)
}

impl Validator for NoTaskLeak {
    fn start(&self) -> Result<(), Violation> {
        let now = alive_tasks()
            .ok_or_else(|| Violation::harness("task leak check needs a tokio runtime"))?;
        self.baseline.store(now, Ordering::Relaxed);
        Ok(())
    }

    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        let baseline = self.baseline.load(Ordering::Relaxed);
        let alive = settled(|| alive_tasks().unwrap_or(0), baseline + self.tolerance);
        if alive > baseline + self.tolerance {
            Err(Violation::new(format!(
                "{} tokio tasks leaked: {alive} alive, baseline {baseline}, tolerance {}",
                alive - baseline,
                self.tolerance
            )))
        } else {
            Ok(())
        }
    }
}

/// Fails an iteration after which the process has more OS threads than at the start.
#[derive(Debug)]
pub struct NoThreadLeak {
    tolerance: i64,
    baseline: AtomicI64,
}

/// OS threads of this process after each iteration at most `tolerance` above the count when
/// the run started.
pub fn no_thread_leak(tolerance: u32) -> NoThreadLeak {
    NoThreadLeak {
        tolerance: i64::from(tolerance),
        baseline: AtomicI64::new(0),
    }
}

/// The number of OS threads in this process (Linux: `/proc/self/task`).
pub fn thread_count() -> Option<i64> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|d| d.count() as i64)
}

impl Validator for NoThreadLeak {
    fn start(&self) -> Result<(), Violation> {
        let now = thread_count()
            .ok_or_else(|| Violation::harness("thread leak check needs /proc (Linux)"))?;
        self.baseline.store(now, Ordering::Relaxed);
        Ok(())
    }

    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        let baseline = self.baseline.load(Ordering::Relaxed);
        let threads = settled(|| thread_count().unwrap_or(0), baseline + self.tolerance);
        if threads > baseline + self.tolerance {
            Err(Violation::new(format!(
                "{} OS threads leaked: {threads} running, baseline {baseline}, tolerance {}",
                threads - baseline,
                self.tolerance
            )))
        } else {
            Ok(())
        }
    }
}
