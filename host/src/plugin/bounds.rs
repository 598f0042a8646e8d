//! What a plugin can make the host keep, kept bounded: messages are copied up to a limit (the
//! guest's original allocation is dropped at once), and log lines pass a per-plugin rate limit
//! that counts what it suppressed.

use std::time::Instant;

/// A copy of `message` of at most `limit` bytes (cut on a character boundary), with a note of
/// how long the original was and which limit cut it (naming `plugin`, when given). The original is consumed and freed here,
/// so a 20 MB string from a guest never outlives the call that returned it (`truncate` would
/// keep its whole allocation).
pub(crate) fn bounded_message(message: String, limit: usize, plugin: Option<&str>) -> String {
    if message.len() <= limit {
        return message;
    }
    let end = message.floor_char_boundary(limit);
    let from = plugin.map(|p| format!("plugin `{p}` sent ")).unwrap_or_default();
    let note = format!("… (cut: {from}{} bytes, limit `max_message` = {limit} bytes)", message.len());
    let mut copy = String::with_capacity(end + note.len());
    copy.push_str(&message[..end]);
    copy.push_str(&note);
    drop(message);
    copy
}

/// Token bucket for one plugin's log lines: `rate` lines per second, bursts of `rate`.
#[derive(Debug)]
pub(crate) struct LogBudget {
    rate: u32,
    tokens: f64,
    last: Instant,
    /// Lines dropped since the last summary was logged.
    pending: u64,
    /// Lines dropped over the plugin's life.
    total: u64,
}

/// What to do with one log line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LogVerdict {
    /// Log it; first log a summary of this many suppressed lines, if not zero.
    Log { suppressed_before: u64 },
    /// Drop it (counted).
    Drop,
}

impl LogBudget {
    pub(crate) fn new(rate: u32, now: Instant) -> Self {
        Self { rate, tokens: f64::from(rate), last: now, pending: 0, total: 0 }
    }

    /// Take a token for a line at `now`.
    pub(crate) fn admit(&mut self, now: Instant) -> LogVerdict {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        let rate = f64::from(self.rate);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            LogVerdict::Log { suppressed_before: std::mem::take(&mut self.pending) }
        } else {
            self.pending += 1;
            self.total += 1;
            LogVerdict::Drop
        }
    }

    /// Lines suppressed over the plugin's life.
    pub(crate) fn suppressed(&self) -> u64 {
        self.total
    }

    /// Lines suppressed since the last summary, which no later line will carry now (taken at
    /// the end of a run).
    pub(crate) fn take_pending(&mut self) -> u64 {
        std::mem::take(&mut self.pending)
    }

    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }
}

/// The "suppressed N lines" summary, naming the plugin and the limit.
pub(crate) fn suppressed_summary(plugin: &str, lines: u64, rate: u32) -> String {
    format!("plugin `{plugin}`: suppressed {lines} log lines over the limit `log_rate` = {rate} lines/s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_long_message_becomes_a_bounded_copy_that_names_the_limit() {
        let long = "é".repeat(10_000);
        let cut = bounded_message(long, 101, Some("p"));
        assert!(cut.starts_with(&"é".repeat(50)), "cut on a character boundary");
        assert!(cut.ends_with("… (cut: plugin `p` sent 20000 bytes, limit `max_message` = 101 bytes)"), "{cut}");
        assert_eq!(cut.capacity(), cut.len(), "a fresh small allocation, not the original: {}", cut.capacity());
        assert_eq!(bounded_message("short".into(), 101, None), "short");
    }

    #[test]
    fn the_log_budget_allows_bursts_then_the_rate_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut b = LogBudget::new(10, t0);
        let admitted = (0..1000).filter(|_| b.admit(t0) != LogVerdict::Drop).count();
        assert_eq!(admitted, 10, "one burst");
        assert_eq!(b.suppressed(), 990);
        // Half a second later, five more lines pass; the first reports what was dropped.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.admit(t1), LogVerdict::Log { suppressed_before: 990 });
        assert_eq!(b.admit(t1), LogVerdict::Log { suppressed_before: 0 });
        assert_eq!(
            suppressed_summary("p", 990, 10),
            "plugin `p`: suppressed 990 log lines over the limit `log_rate` = 10 lines/s"
        );
    }
}
