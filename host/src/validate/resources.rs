//! Process memory (resident set size) limit.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{IterationOutcome, Validator, Violation};

/// Fails an iteration after which the process's resident memory exceeds a limit.
pub struct MemoryLimit {
    max_bytes: u64,
    sampler: Mutex<(System, Option<Instant>, u64)>,
    peak: AtomicU64,
}

/// Resident set size of this process at most `max_bytes`, sampled after iterations at most
/// every 10 ms (a sample costs a `/proc` read).
pub fn memory_limit(max_bytes: u64) -> MemoryLimit {
    MemoryLimit { max_bytes, sampler: Mutex::new((System::new(), None, 0)), peak: AtomicU64::new(0) }
}

const SAMPLE_EVERY: Duration = Duration::from_millis(10);

fn sample(system: &mut System) -> Option<u64> {
    let pid = Pid::from_u32(std::process::id());
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_memory(),
    );
    system.process(pid).map(|p| p.memory())
}

/// This process's resident set size in bytes.
pub fn process_rss_bytes() -> Option<u64> {
    sample(&mut System::new())
}

impl Validator for MemoryLimit {
    fn start(&self) -> Result<(), Violation> {
        self.peak.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        let mut guard = self.sampler.lock().unwrap_or_else(|e| e.into_inner());
        let (system, last, rss) = &mut *guard;
        if last.is_none_or(|t| t.elapsed() >= SAMPLE_EVERY) {
            *rss = sample(system).ok_or_else(|| Violation::harness("cannot read this process's memory"))?;
            *last = Some(Instant::now());
            self.peak.fetch_max(*rss, Ordering::Relaxed);
        }
        if *rss > self.max_bytes {
            Err(Violation::new(format!(
                "resident memory {} exceeds the limit of {}",
                crate::report::human_bytes(*rss),
                crate::report::human_bytes(self.max_bytes)
            )))
        } else {
            Ok(())
        }
    }

    fn notes(&self) -> Vec<String> {
        vec![format!("peak resident memory sampled: {}", crate::report::human_bytes(self.peak.load(Ordering::Relaxed)))]
    }
}
