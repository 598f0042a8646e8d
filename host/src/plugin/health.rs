//! Failure bookkeeping of one loaded plugin: counts, the disable rule, report notes.

use super::bounds::bounded_message;
use super::error::FailureKind;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Log {
    recent: VecDeque<Instant>,
    by_kind: BTreeMap<&'static str, u64>,
    total: u64,
    last: Option<FailureKind>,
    disabled: Option<String>,
    reloads: u64,
    /// Reload history worth reporting (refused versions, re-enabling reloads): at most
    /// [`HISTORY`] entries of at most [`HISTORY_ENTRY`] bytes; the rest is only counted.
    rejected: Vec<String>,
    rejected_more: u64,
}

/// Most reload-history entries kept for the report.
const HISTORY: usize = 20;
/// Longest reload-history entry kept, in bytes (a refusal can quote a plugin's long message).
const HISTORY_ENTRY: usize = 1024;

impl Log {
    fn remember(&mut self, entry: String) {
        if self.rejected.len() < HISTORY {
            self.rejected.push(bounded_message(entry, HISTORY_ENTRY, None));
        } else {
            self.rejected_more += 1;
        }
    }
}

/// Failures of a plugin: it is disabled after `max` failures within `window`.
pub(crate) struct Health {
    disabled: AtomicBool,
    max: u32,
    window: Duration,
    log: Mutex<Log>,
}

impl Health {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self { disabled: AtomicBool::new(false), max, window, log: Mutex::new(Log::default()) }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the plugin was disabled by repeated failures (cheap: one relaxed load).
    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }

    /// Record a failure; returns `true` when this failure disabled the plugin.
    pub(crate) fn fail(&self, name: &str, short: &str, kind: &FailureKind, consequence: &str) -> bool {
        let now = Instant::now();
        let mut log = self.log();
        log.total += 1;
        *log.by_kind.entry(kind.label()).or_default() += 1;
        log.last = Some(kind.clone());
        while log.recent.front().is_some_and(|t| now.duration_since(*t) > self.window) {
            log.recent.pop_front();
        }
        log.recent.push_back(now);
        tracing::warn!(
            target: "chaoskit::plugin",
            plugin = name,
            sha256 = short,
            failure = kind.label(),
            "plugin `{name}` (sha256 {short}) {kind}; {consequence}"
        );
        if log.disabled.is_none() && log.recent.len() >= self.max as usize {
            let note = format!(
                "plugin `{name}` (sha256 {short}) disabled after {} failures in {:?} (last: {kind})",
                log.recent.len(),
                self.window
            );
            tracing::error!(target: "chaoskit::plugin", plugin = name, sha256 = short, failure = kind.label(), "{note}");
            log.disabled = Some(note);
            self.disabled.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// A new version was swapped in: it starts healthy.
    pub(crate) fn reloaded(&self) {
        let mut log = self.log();
        log.reloads += 1;
        log.recent.clear();
        if let Some(note) = log.disabled.take() {
            log.remember(format!("{note}; re-enabled by a reload"));
        }
        self.disabled.store(false, Ordering::Relaxed);
    }

    /// A new file was refused; the old version keeps serving.
    pub(crate) fn rejected(&self, message: String) {
        self.log().remember(message);
    }

    /// Number of failures so far.
    pub(crate) fn failures(&self) -> u64 {
        self.log().total
    }

    /// Lines for the run report.
    pub(crate) fn notes(&self, name: &str, short: &str, what_failed: &str) -> Vec<String> {
        let log = self.log();
        let mut notes = Vec::new();
        if log.total > 0 {
            let kinds = log.by_kind.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ");
            let last = log.last.as_ref().map(|k| format!("; last: {k}")).unwrap_or_default();
            notes.push(format!("plugin `{name}` (sha256 {short}): {} {what_failed} ({kinds}){last}", log.total));
        }
        notes.extend(log.disabled.iter().cloned());
        if log.reloads > 0 {
            notes.push(format!("plugin `{name}` hot-reloaded {} time(s), now sha256 {short}", log.reloads));
        }
        notes.extend(log.rejected.iter().cloned());
        if log.rejected_more > 0 {
            notes.push(format!(
                "plugin `{name}`: {} more reload events not kept (the report keeps the first {HISTORY})",
                log.rejected_more
            ));
        }
        notes
    }
}
