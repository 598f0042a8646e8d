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

/// Fails an iteration after which a count (tokio tasks, OS threads) is above the count taken
/// when the run started, plus a tolerance.
#[derive(Debug)]
pub struct Leak {
    what: &'static str,
    measure: fn() -> Option<i64>,
    unavailable: &'static str,
    tolerance: i64,
    baseline: AtomicI64,
}

/// Alive tokio tasks after each iteration at most `tolerance` above the count when the run
/// started (the executor's own workers are part of the baseline).
pub fn no_task_leak(tolerance: u32) -> Leak {
    Leak::new("tokio tasks", alive_tasks, "task leak check needs a tokio runtime", tolerance)
}

/// OS threads of this process after each iteration at most `tolerance` above the count when
/// the run started.
pub fn no_thread_leak(tolerance: u32) -> Leak {
    Leak::new("OS threads", thread_count, "thread leak check needs /proc (Linux)", tolerance)
}

fn alive_tasks() -> Option<i64> {
    tokio::runtime::Handle::try_current().ok().map(|h| h.metrics().num_alive_tasks() as i64)
}

/// The number of OS threads in this process (Linux: `/proc/self/task`).
pub fn thread_count() -> Option<i64> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count() as i64)
}

impl Leak {
    fn new(what: &'static str, measure: fn() -> Option<i64>, unavailable: &'static str, tolerance: u32) -> Self {
        Leak { what, measure, unavailable, tolerance: i64::from(tolerance), baseline: AtomicI64::new(0) }
    }
}

impl Validator for Leak {
    fn start(&self) -> Result<(), Violation> {
        let now = (self.measure)().ok_or_else(|| Violation::harness(self.unavailable))?;
        self.baseline.store(now, Ordering::Relaxed);
        Ok(())
    }

    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        let baseline = self.baseline.load(Ordering::Relaxed);
        let limit = baseline + self.tolerance;
        let now = settled(|| (self.measure)().unwrap_or(0), limit);
        if now > limit {
            Err(Violation::new(format!(
                "{} {} leaked: {now} alive, baseline {baseline}, tolerance {}",
                now - baseline,
                self.what,
                self.tolerance
            )))
        } else {
            Ok(())
        }
    }
}
