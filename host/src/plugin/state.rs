//! Per-store state (`PluginState`), the `host` interface a guest sees, and the memory limiter.

use super::Limits;
use super::bindings::chaoskit::plugin::{host, types::LogLevel};
use super::bounds::{LogBudget, LogVerdict, suppressed_summary};
use super::wasi::{Capabilities, VirtualClock, WasiState};
use crate::chaos::{LazyStream, RUN, stream_key};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest log line a guest may write; longer lines are cut (a guest must not flood the host).
const MAX_LOG_BYTES: usize = 4096;

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
    /// Limits on what the plugin makes the host keep: `max_counters`, `max_counter_name`.
    max_counters: usize,
    max_counter_name: usize,
    /// Counter requests refused by those limits.
    refused_counters: AtomicU64,
    /// The `log_rate` limit, shared by every instance (a plugin gets one budget, not one per
    /// worker).
    log: Mutex<LogBudget>,
    /// What the plugin was granted, and what it did with it.
    pub(crate) caps: Arc<Capabilities>,
}

impl Shared {
    pub(crate) fn new(name: Arc<str>, limits: &Limits, caps: Capabilities) -> Self {
        Self {
            caps: Arc::new(caps),
            name,
            counters: Mutex::new(Vec::new()),
            started: Mutex::new(Instant::now()),
            used_clock: AtomicBool::new(false),
            used_counters: AtomicBool::new(false),
            max_counters: limits.max_counters,
            max_counter_name: limits.max_counter_name,
            refused_counters: AtomicU64::new(0),
            log: Mutex::new(LogBudget::new(limits.log_rate, Instant::now())),
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
        let used = (!what.is_empty()).then(|| format!("plugin `{}` {}", self.name, what.join(" and ")));
        let granted = self.caps.replay_hazard(&self.name);
        match (used, granted) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        }
    }

    /// Log one line of the plugin's, within its `log_rate` budget: a line over the rate is
    /// dropped and counted; the next line that passes is preceded by a summary of how many were.
    pub(crate) fn log_line(&self, level: LogLevel, stream: Option<&'static str>, message: &str) {
        let plugin = &*self.name;
        let verdict = self.log.lock().unwrap_or_else(|p| p.into_inner()).admit(Instant::now());
        let LogVerdict::Log { suppressed_before } = verdict else {
            return;
        };
        if suppressed_before > 0 {
            let rate = self.log.lock().unwrap_or_else(|p| p.into_inner()).rate();
            tracing::warn!(target: "chaoskit::plugin", plugin, "{}", suppressed_summary(plugin, suppressed_before, rate));
        }
        // Plugin text is data: no newline or escape sequence of it reaches a terminal raw.
        let message = crate::report::escape::terminal_safe(cut(message));
        let stream = stream.unwrap_or("log");
        match level {
            LogLevel::Trace => tracing::trace!(target: "chaoskit::plugin", plugin, stream, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "chaoskit::plugin", plugin, stream, "{message}"),
            LogLevel::Info => tracing::info!(target: "chaoskit::plugin", plugin, stream, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "chaoskit::plugin", plugin, stream, "{message}"),
            LogLevel::Error => tracing::error!(target: "chaoskit::plugin", plugin, stream, "{message}"),
        }
    }

    /// Report lines about what the plugin made the host keep or drop: suppressed log lines
    /// (logging the summary no later line will carry) and its counters.
    pub(crate) fn notes(&self) -> Vec<String> {
        let mut notes = self.caps.notes(&self.name);
        let (total, pending, rate) = {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            (log.suppressed(), log.take_pending(), log.rate())
        };
        if pending > 0 {
            tracing::warn!(target: "chaoskit::plugin", plugin = &*self.name, "{}", suppressed_summary(&self.name, pending, rate));
        }
        if total > 0 {
            notes.push(suppressed_summary(&self.name, total, rate));
        }
        let refused = self.refused_counters.load(Ordering::Relaxed);
        if refused > 0 {
            let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
            let bytes: usize = counters.iter().map(|(n, _)| n.len()).sum();
            notes.push(format!(
                "plugin `{}`: {refused} counter requests refused by the limits `max_counters` = {} and `max_counter_name` = {} bytes; it holds {} counters ({bytes} bytes of names)",
                self.name,
                self.max_counters,
                self.max_counter_name,
                counters.len()
            ));
        }
        notes
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
    /// Bytes the instance's memories and tables would have held together.
    pub(crate) requested: usize,
}

/// Bytes one table element is counted as: wasmtime stores funcref and externref slots as
/// pointers.
pub(crate) const TABLE_ELEMENT_BYTES: usize = 8;
/// Most linear memories one plugin instance may create. Every component the SDKs build has
/// one; the pooling allocator reserves this many slots per instance, so the pool cannot run
/// out of memories before it runs out of instances.
pub(crate) const MAX_MEMORIES_PER_INSTANCE: usize = 2;
/// Most tables one plugin instance may create (the SDKs' components have two).
pub(crate) const MAX_TABLES_PER_INSTANCE: usize = 8;
/// Most core instances one plugin instance may create (a componentize-py plugin has 38).
pub(crate) const MAX_CORE_INSTANCES_PER_INSTANCE: usize = 64;

/// The memory limit of one plugin instance: **every** memory and table it creates counts
/// against one budget (a component of many core modules, each with its own memory, gets no
/// more than one with a single memory), and records what it refused. Creation counts as growth
/// from zero, so instantiation is limited too.
#[derive(Debug)]
pub(crate) struct Limiter {
    budget: usize,
    /// Bytes held: each memory's size plus each table's elements × [`TABLE_ELEMENT_BYTES`].
    /// A growth granted here that the OS then refuses stays counted (conservative).
    held: usize,
    pub(crate) hit: Option<LimitHit>,
}

impl Limiter {
    pub(crate) fn new(budget: usize) -> Self {
        Self { budget, held: 0, hit: None }
    }

    fn grant(&mut self, more: usize) -> bool {
        let total = self.held.saturating_add(more);
        if total > self.budget {
            self.hit = Some(LimitHit { requested: total });
            return false;
        }
        self.held = total;
        true
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Past the memory's own maximum the growth fails anyway: nothing to count.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        Ok(self.grant(desired.saturating_sub(current)))
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        Ok(self.grant(desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES)))
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES_PER_INSTANCE
    }

    fn tables(&self) -> usize {
        MAX_TABLES_PER_INSTANCE
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES_PER_INSTANCE
    }
}

/// Everything a guest instance can reach: the `T` of its `Store<T>`.
pub(crate) struct PluginState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) limiter: Limiter,
    /// The seeded stream `random-u64` and `wasi:random` draw from: the injector's stream for
    /// the iteration, lent for the call (so a replay draws the same), a validator's stream for
    /// the iteration, or a fixed one outside those.
    pub(crate) stream: Option<LazyStream>,
    /// Counter handles resolved by this instance.
    counters: Vec<Arc<AtomicI64>>,
    /// Guest stdout / stderr (shared with wasmtime-wasi's streams for WASI plugins).
    pub(crate) output: Arc<Mutex<Output>>,
    /// wasmtime-wasi's context and resources, for plugins linked with WASI.
    pub(crate) wasi: Option<Box<WasiState>>,
    /// The virtual clock `wasi:clocks` reads (unless `clocks:wall` is granted).
    pub(crate) clock: VirtualClock,
}

impl PluginState {
    pub(crate) fn new(shared: Arc<Shared>, memory: usize) -> Self {
        let output = Arc::new(Mutex::new(Output::new(Arc::clone(&shared))));
        Self {
            shared,
            limiter: Limiter::new(memory),
            stream: None,
            counters: Vec::new(),
            output,
            wasi: None,
            clock: VirtualClock::default(),
        }
    }

    /// Guest output; see [`Output::write`].
    pub(crate) fn write(&mut self, stderr: bool, bytes: &[u8]) {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).write(stderr, bytes);
    }

    /// What the guest last wrote to stderr (e.g. its panic message), on one line.
    pub(crate) fn take_stderr(&mut self) -> Option<String> {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).take_stderr()
    }

    /// The next draw of the plugin's seeded stream.
    pub(crate) fn draw(&mut self) -> u64 {
        let name = &self.shared.name;
        self.stream.get_or_insert_with(|| LazyStream::new(0, stream_key(name), RUN)).next_u64()
    }

    /// Set the call's randomness and virtual time: `stream` for the draws, the clock at the
    /// start of `iteration`.
    pub(crate) fn begin_call(&mut self, stream: Option<LazyStream>, iteration: u64) {
        self.stream = stream;
        self.clock.restart(iteration);
    }
}

/// Guest stdout and stderr: the end of stderr, kept to explain a trap, and with
/// `Grant::Stdio`, whole lines to the log.
pub(crate) struct Output {
    shared: Arc<Shared>,
    /// Whether guest stdout/stderr go to the log (`Grant::Stdio`).
    stdio: bool,
    /// End of the guest's stderr, kept to explain a trap (a panic message goes there).
    stderr_tail: String,
    /// Unfinished stdout / stderr lines (with `Grant::Stdio`).
    pending: [String; 2],
}

/// Most guest stderr kept to explain a trap.
const MAX_TAIL: usize = 1024;
/// Most bytes of one output write the host looks at (`check-write` promises 64 KiB).
pub(crate) const MAX_WRITE: usize = 64 * 1024;

impl Output {
    fn new(shared: Arc<Shared>) -> Self {
        let stdio = shared.caps.stdio;
        Self { shared, stdio, stderr_tail: String::new(), pending: Default::default() }
    }

    /// Guest output: kept (stderr tail) and, with `Grant::Stdio`, logged line by line.
    ///
    /// Only the first [`MAX_WRITE`] bytes of one write count (what `check-write` allows): host
    /// functions run outside the call's deadline, so the work per write must stay small.
    pub(crate) fn write(&mut self, stderr: bool, bytes: &[u8]) {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_WRITE)]);
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
            let stream = if stderr { "stderr" } else { "stdout" };
            while let Some(end) = pending.find('\n').or((pending.len() > MAX_LOG_BYTES).then_some(pending.len())) {
                let line: String = pending.drain(..end).collect();
                if pending.starts_with('\n') {
                    pending.remove(0);
                }
                if !line.trim().is_empty() {
                    self.shared.log_line(LogLevel::Info, Some(stream), &line);
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
        Ok(self.draw())
    }

    fn now_ns(&mut self) -> wasmtime::Result<u64> {
        self.shared.used_clock.store(true, Ordering::Relaxed);
        Ok(u64::try_from(self.shared.started().elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.shared.log_line(level, None, &message);
        Ok(())
    }

    fn counter(&mut self, name: String) -> wasmtime::Result<u32> {
        let shared = &*self.shared;
        if name.len() > shared.max_counter_name {
            shared.refused_counters.fetch_add(1, Ordering::Relaxed);
            wasmtime::bail!(
                "plugin `{}` asked for a counter with a {}-byte name, over the limit `max_counter_name` = {} bytes",
                shared.name,
                name.len(),
                shared.max_counter_name
            );
        }
        let mut counters = shared.counters.lock().unwrap_or_else(|p| p.into_inner());
        let index = match counters.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                if counters.len() >= shared.max_counters {
                    shared.refused_counters.fetch_add(1, Ordering::Relaxed);
                    wasmtime::bail!(
                        "plugin `{}` asked for more counters than the limit `max_counters` = {}",
                        shared.name,
                        shared.max_counters
                    );
                }
                // A fresh allocation of exactly the name: the guest's string may be larger.
                counters.push((name.as_str().into(), Arc::new(AtomicI64::new(0))));
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
impl super::bindings::toxic::chaoskit::plugin::types::Host for PluginState {}
impl super::bindings::toxic::chaoskit::plugin::filter_types::Host for PluginState {}
impl super::bindings::v0_1::chaoskit::plugin::types::Host for PluginState {}

/// Contract 0.1.0's `host`: the same functions as 0.2.0's, for plugins built against it.
impl super::bindings::v0_1::chaoskit::plugin::host::Host for PluginState {
    fn random_u64(&mut self) -> wasmtime::Result<u64> {
        host::Host::random_u64(self)
    }

    fn now_ns(&mut self) -> wasmtime::Result<u64> {
        host::Host::now_ns(self)
    }

    fn log(
        &mut self,
        level: super::bindings::v0_1::chaoskit::plugin::types::LogLevel,
        message: String,
    ) -> wasmtime::Result<()> {
        use super::bindings::v0_1::chaoskit::plugin::types::LogLevel as Old;
        let level = match level {
            Old::Trace => LogLevel::Trace,
            Old::Debug => LogLevel::Debug,
            Old::Info => LogLevel::Info,
            Old::Warn => LogLevel::Warn,
            Old::Error => LogLevel::Error,
        };
        host::Host::log(self, level, message)
    }

    fn counter(&mut self, name: String) -> wasmtime::Result<u32> {
        host::Host::counter(self, name)
    }

    fn counter_add(&mut self, counter: u32, delta: i64) -> wasmtime::Result<i64> {
        host::Host::counter_add(self, counter, delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_write_is_handled_in_bounded_time_and_space() {
        let caps = Capabilities { stdio: true, ..Default::default() };
        let shared = Arc::new(Shared::new("p".into(), &Limits::default().log_rate(1), caps));
        let mut state = PluginState::new(shared, 1 << 20);
        let started = Instant::now();
        let flood = vec![b'x'; 64 << 20];
        for _ in 0..4 {
            state.write(false, &flood);
            state.write(true, &flood);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        let output = state.output.lock().unwrap();
        assert!(output.pending.iter().all(|p| p.len() <= MAX_LOG_BYTES), "partial lines stay small");
        assert!(output.stderr_tail.len() <= 2 * MAX_TAIL);
        drop(output);
        // One line per write (a line is cut at 4 KiB); one passes the rate, the rest are counted.
        assert_eq!(state.shared.notes(), ["plugin `p`: suppressed 7 log lines over the limit `log_rate` = 1 lines/s"]);
    }
}
