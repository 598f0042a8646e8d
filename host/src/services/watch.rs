//! Validators that watch the target process through `/proc/<pid>`: resident memory, thread
//! growth and open file descriptor growth.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::validate::{IterationOutcome, Validator, Violation};

/// The target process's pid, shared between the target (which sets it when the process
/// starts) and the validators (which read it); 0 while no process runs.
#[derive(Clone, Debug, Default)]
pub struct PidCell(Arc<AtomicU32>);

impl PidCell {
    /// The pid, if the process runs.
    pub fn get(&self) -> Option<u32> {
        Some(self.0.load(Ordering::Acquire)).filter(|p| *p != 0)
    }

    pub(crate) fn set(&self, pid: u32) {
        self.0.store(pid, Ordering::Release);
    }
}

/// Samples at most this often: a sample reads a `/proc` file.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

fn rss_bytes(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:").map(|kib| kib * 1024)
}

fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads:")
}

fn open_fds(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd")).ok().map(|d| d.count() as u64)
}

fn pid_or_harness(pid: &PidCell) -> Result<u32, Violation> {
    pid.get().ok_or_else(|| Violation::harness("the target process is not running"))
}

/// A cached sample, refreshed at most every [`SAMPLE_EVERY`].
struct Sampler {
    last: Mutex<(Option<Instant>, u64)>,
}

impl Sampler {
    fn new() -> Self {
        Sampler { last: Mutex::new((None, 0)) }
    }

    fn sample(&self, read: impl FnOnce() -> Option<u64>, what: &str) -> Result<u64, Violation> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.0.is_none_or(|t| t.elapsed() >= SAMPLE_EVERY) {
            last.1 = read().ok_or_else(|| Violation::harness(format!("cannot read the target process's {what}")))?;
            last.0 = Some(Instant::now());
        }
        Ok(last.1)
    }
}

/// The target process's resident memory stays at most a limit.
pub struct TargetRss {
    pid: PidCell,
    max: u64,
    sampler: Sampler,
    peak: AtomicU64,
}

impl TargetRss {
    /// Resident memory of the process in `pid` at most `max` bytes after each iteration.
    pub fn new(pid: PidCell, max: u64) -> Self {
        TargetRss { pid, max, sampler: Sampler::new(), peak: AtomicU64::new(0) }
    }
}

impl Validator for TargetRss {
    fn start(&self) -> Result<(), Violation> {
        self.peak.store(0, Ordering::Relaxed);
        pid_or_harness(&self.pid).map(|_| ())
    }

    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        let pid = pid_or_harness(&self.pid)?;
        let rss = self.sampler.sample(|| rss_bytes(pid), "memory")?;
        self.peak.fetch_max(rss, Ordering::Relaxed);
        if rss > self.max {
            Err(Violation::new(format!(
                "target resident memory {} exceeds the limit of {}",
                crate::report::human_bytes(rss),
                crate::report::human_bytes(self.max)
            )))
        } else {
            Ok(())
        }
    }

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "peak target resident memory sampled: {}",
            crate::report::human_bytes(self.peak.load(Ordering::Relaxed))
        )]
    }
}

/// A count of the target process that may grow at most `max_growth` over its baseline.
struct Growth {
    pid: PidCell,
    max_growth: i64,
    baseline: AtomicI64,
    sampler: Sampler,
    what: &'static str,
    read: fn(u32) -> Option<u64>,
}

impl Growth {
    fn start(&self) -> Result<(), Violation> {
        let pid = pid_or_harness(&self.pid)?;
        let now = (self.read)(pid)
            .ok_or_else(|| Violation::harness(format!("cannot read the target process's {}", self.what)))?;
        self.baseline.store(now as i64, Ordering::Relaxed);
        Ok(())
    }

    fn check(&self) -> Result<(), Violation> {
        let pid = pid_or_harness(&self.pid)?;
        let read = self.read;
        let now = self.sampler.sample(|| read(pid), self.what)? as i64;
        let baseline = self.baseline.load(Ordering::Relaxed);
        if now - baseline > self.max_growth {
            Err(Violation::new(format!(
                "target {} grew by {}: {now} now, {baseline} at run start, {} growth allowed",
                self.what,
                now - baseline,
                self.max_growth
            )))
        } else {
            Ok(())
        }
    }
}

/// The target process's thread count grows by at most `max_growth` over its count when
/// the run started.
pub struct TargetThreads(Growth);

impl TargetThreads {
    /// Thread growth of the process in `pid`.
    pub fn new(pid: PidCell, max_growth: u32) -> Self {
        TargetThreads(Growth {
            pid,
            max_growth: i64::from(max_growth),
            baseline: AtomicI64::new(0),
            sampler: Sampler::new(),
            what: "threads",
            read: threads,
        })
    }
}

impl Validator for TargetThreads {
    fn start(&self) -> Result<(), Violation> {
        self.0.start()
    }
    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        self.0.check()
    }
}

/// The target process's open file descriptors grow by at most `max_growth`.
pub struct TargetFds(Growth);

impl TargetFds {
    /// File-descriptor growth of the process in `pid`.
    pub fn new(pid: PidCell, max_growth: u32) -> Self {
        TargetFds(Growth {
            pid,
            max_growth: i64::from(max_growth),
            baseline: AtomicI64::new(0),
            sampler: Sampler::new(),
            what: "open file descriptors",
            read: open_fds,
        })
    }
}

impl Validator for TargetFds {
    fn start(&self) -> Result<(), Violation> {
        self.0.start()
    }
    fn check(&self, _outcome: &IterationOutcome<'_>) -> Result<(), Violation> {
        self.0.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readers_see_this_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).is_some_and(|b| b > 0));
        assert!(threads(me).is_some_and(|t| t >= 1));
        assert!(open_fds(me).is_some_and(|n| n >= 3));
    }

    #[test]
    fn validators_without_a_process_report_a_harness_error() {
        let v = TargetThreads::new(PidCell::default(), 0);
        let err = v.start().unwrap_err();
        assert!(err.harness_error);
        assert_eq!(err.message, "the target process is not running");
    }

    #[test]
    fn fd_growth_over_the_allowance_is_a_violation() {
        let pid = PidCell::default();
        pid.set(std::process::id());
        let v = TargetFds::new(pid, 2);
        v.start().unwrap();
        let files: Vec<_> = (0..8).map(|_| std::fs::File::open("/proc/self/status").unwrap()).collect();
        std::thread::sleep(SAMPLE_EVERY);
        let outcome = IterationOutcome {
            index: 0,
            seed: 0,
            ok: true,
            duration: Duration::ZERO,
            error: None,
            stalled_step: None,
            steps_executed: 0,
            events: &[],
            max_recursion_depth: 0,
            panics: 0,
            errors: 0,
        };
        let err = v.check(&outcome).unwrap_err();
        assert!(err.message.starts_with("target open file descriptors grew by"), "{}", err.message);
        drop(files);
    }
}
