//! Per-store state (`PluginState`), the `host` interface a guest sees, and the memory limiter.

use super::bindings::chaoskit::plugin::{host, types::LogLevel};
use crate::chaos::{LazyStream, RUN, stream_key};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest log line a guest may write; longer lines are cut (a guest must not flood the host).
const MAX_LOG_BYTES: usize = 4096;
/// Most counters one plugin may create; more is a trap (a guest must not grow host memory).
const MAX_COUNTERS: usize = 1024;

/// State shared by every instance of one plugin (all workers, rebuilds and reloaded versions).
#[derive(Debug)]
pub(crate) struct Shared {
    /// Plugin name (file stem unless configured), for logs and notes.
    pub(crate) name: Arc<str>,
    /// Counters by handle; handles are indices and never change.
    counters: Mutex<Vec<(String, Arc<AtomicI64>)>>,
    /// Origin of `now-ns`.
    started: Mutex<Instant>,
    /// Whether any instance read host time (`now-ns`): its decisions then depend on timing.
    pub(crate) used_clock: AtomicBool,
    /// Whether any instance changed a shared counter: its decisions then depend on every call
    /// before, across iterations and workers.
    pub(crate) used_counters: AtomicBool,
}

impl Shared {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            counters: Mutex::new(Vec::new()),
            started: Mutex::new(Instant::now()),
            used_clock: AtomicBool::new(false),
            used_counters: AtomicBool::new(false),
        }
    }

    /// What makes this plugin's answers depend on more than the seeded stream, for the
    /// report's replay hazards.
    pub(crate) fn replay_hazard(&self) -> Option<String> {
        let mut what = Vec::new();
        if self.used_clock.load(Ordering::Relaxed) {
            what.push("reads host time (`now-ns`)");
        }
        if self.used_counters.load(Ordering::Relaxed) {
            what.push(
                "changes shared counters (`counter-add`), so its answers depend on the order of every call before",
            );
        }
        (!what.is_empty()).then(|| format!("plugin `{}` {}", self.name, what.join(" and ")))
    }

    /// Restart the plugin clock (called when the injector is started).
    pub(crate) fn restart_clock(&self) {
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn started(&self) -> Instant {
        *self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current value of the counter called `name`, if the plugin created it.
    pub(crate) fn counter(&self, name: &str) -> Option<i64> {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.iter().find(|(n, _)| n == name).map(|(_, c)| c.load(Ordering::Relaxed))
    }
}

/// What a store's limiter refused, so a trap can be explained afterwards.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LimitHit {
    /// Bytes the guest asked its memory to grow to.
    pub(crate) requested: usize,
}

/// Memory limiter: like `StoreLimits`, but records what it refused.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory: usize,
    pub(crate) hit: Option<LimitHit>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = Some(LimitHit { requested: desired });
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Everything a guest instance can reach: the `T` of its `Store<T>`.
pub(crate) struct PluginState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) limiter: Limiter,
    /// The seeded stream `random-u64` draws from: the injector's stream for the iteration,
    /// lent for the call (so a replay draws the same), or a fixed one outside decisions.
    pub(crate) stream: Option<LazyStream>,
    /// Counter handles resolved by this instance.
    counters: Vec<Arc<AtomicI64>>,
    /// Whether guest stdout/stderr go to the log (`Grant::Stdio`).
    pub(crate) stdio: bool,
    /// End of the guest's stderr, kept to explain a trap (a panic message goes there).
    pub(crate) stderr_tail: String,
    /// Unfinished stdout / stderr lines (with `Grant::Stdio`).
    pending: [String; 2],
}

impl PluginState {
    pub(crate) fn new(shared: Arc<Shared>, memory: usize, stdio: bool) -> Self {
        Self {
            shared,
            limiter: Limiter { memory, hit: None },
            stream: None,
            counters: Vec::new(),
            stdio,
            stderr_tail: String::new(),
            pending: Default::default(),
        }
    }
}

/// Most guest stderr kept to explain a trap.
const MAX_TAIL: usize = 1024;

impl PluginState {
    /// Guest output: kept (stderr tail) and, with `Grant::Stdio`, logged line by line.
    pub(crate) fn write(&mut self, stderr: bool, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        if stderr {
            self.stderr_tail.push_str(&text);
            if self.stderr_tail.len() > 2 * MAX_TAIL {
                let start = self.stderr_tail.ceil_char_boundary(self.stderr_tail.len() - MAX_TAIL);
                self.stderr_tail.drain(..start);
            }
        }
        if self.stdio {
            // Writes arrive in pieces (stderr is unbuffered): log whole lines.
            let pending = &mut self.pending[usize::from(stderr)];
            pending.push_str(&text);
            let plugin = &*self.shared.name;
            let stream = if stderr { "stderr" } else { "stdout" };
            while let Some(end) = pending.find('\n').or((pending.len() > MAX_LOG_BYTES).then_some(pending.len())) {
                let line: String = pending.drain(..end).collect();
                if pending.starts_with('\n') {
                    pending.remove(0);
                }
                if !line.trim().is_empty() {
                    tracing::info!(target: "chaoskit::plugin", plugin, stream, "{}", cut(&line));
                }
            }
        }
    }

    /// What the guest last wrote to stderr (e.g. its panic message), on one line.
    pub(crate) fn take_stderr(&mut self) -> Option<String> {
        let tail = std::mem::take(&mut self.stderr_tail);
        let line = tail
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with"))
            .collect::<Vec<_>>()
            .join(" ");
        (!line.is_empty()).then_some(line)
    }
}

fn cut(message: &str) -> &str {
    if message.len() <= MAX_LOG_BYTES {
        return message;
    }
    let mut end = MAX_LOG_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

impl host::Host for PluginState {
    fn random_u64(&mut self) -> wasmtime::Result<u64> {
        let name = &self.shared.name;
        Ok(self.stream.get_or_insert_with(|| LazyStream::new(0, stream_key(name), RUN)).next_u64())
    }

    fn now_ns(&mut self) -> wasmtime::Result<u64> {
        self.shared.used_clock.store(true, Ordering::Relaxed);
        Ok(u64::try_from(self.shared.started().elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let plugin = &*self.shared.name;
        // Plugin text is data: no newline or escape sequence of it reaches a terminal raw.
        let message = crate::report::escape::terminal_safe(cut(&message));
        match level {
            LogLevel::Trace => tracing::trace!(target: "chaoskit::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "chaoskit::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "chaoskit::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "chaoskit::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "chaoskit::plugin", plugin, "{message}"),
        }
        Ok(())
    }

    fn counter(&mut self, name: String) -> wasmtime::Result<u32> {
        let mut counters = self.shared.counters.lock().unwrap_or_else(|p| p.into_inner());
        let index = match counters.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                if counters.len() >= MAX_COUNTERS {
                    wasmtime::bail!("plugin `{}` asked for more than {MAX_COUNTERS} counters", self.shared.name);
                }
                counters.push((name, Arc::new(AtomicI64::new(0))));
                counters.len() - 1
            }
        };
        // Cache every handle up to this one, so `counter-add` never takes the lock.
        while self.counters.len() < counters.len() {
            self.counters.push(Arc::clone(&counters[self.counters.len()].1));
        }
        Ok(u32::try_from(index).unwrap_or(u32::MAX))
    }

    fn counter_add(&mut self, counter: u32, delta: i64) -> wasmtime::Result<i64> {
        self.shared.used_counters.store(true, Ordering::Relaxed);
        match self.counters.get(counter as usize) {
            Some(c) => Ok(c.fetch_add(delta, Ordering::Relaxed).wrapping_add(delta)),
            None => wasmtime::bail!(
                "plugin `{}` used counter handle {counter}, which `counter` never returned",
                self.shared.name
            ),
        }
    }
}

// The `types` interfaces have no functions; their `Host` traits are empty.
impl super::bindings::chaoskit::plugin::types::Host for PluginState {}
impl super::bindings::validator::chaoskit::plugin::types::Host for PluginState {}
