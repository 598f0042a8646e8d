//! Exit codes of `chaoskit-host`, and the one place errors become them.

use std::fmt;

use crate::Verdict;
use crate::report::{Report, StopReason};

/// The exit codes, as named constants. CI can trust them: 0 and 1 are verdicts, 2 is a
/// mistake in what the host was asked to do, 130 an interruption.
pub enum ExitCodes {}

impl ExitCodes {
    /// The run's verdict is PASS or UNSTABLE (or a non-run command succeeded).
    pub const PASS: i32 = 0;
    /// The run's verdict is FAIL, or the experiment could not run (target setup failed).
    pub const FAIL: i32 = 1;
    /// Usage, configuration (scenario file, report directory, flags) or plugin-load error.
    pub const USAGE: i32 = 2;
    /// Interrupted (Ctrl-C / SIGINT); the report of what ran is still written.
    pub const INTERRUPTED: i32 = 130;
}

/// What kind of failure a CLI error is; decides its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags or arguments.
    Usage,
    /// A scenario file, journal or output location that cannot be used.
    Config,
    /// A plugin that cannot be loaded (or plugin support missing).
    PluginLoad,
    /// The experiment could not start: target setup, an injector or validator start.
    Setup,
    /// Interrupted before a report existed.
    Interrupted,
}

/// A CLI failure: a kind and the error chain to print.
pub struct CliError {
    /// The kind.
    pub kind: ErrorKind,
    /// The error, with context.
    pub error: anyhow::Error,
}

impl CliError {
    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Self {
        CliError { kind, error: error.into() }
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:#}", self.kind, self.error)
    }
}

/// The exit code of an error: one exhaustive match, so a new kind must choose its code here.
pub fn code_for(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Usage | ErrorKind::Config | ErrorKind::PluginLoad => ExitCodes::USAGE,
        ErrorKind::Setup => ExitCodes::FAIL,
        ErrorKind::Interrupted => ExitCodes::INTERRUPTED,
    }
}

/// The exit code of a finished run: interrupted runs (verdict INTERRUPTED) are 130; otherwise
/// PASS and UNSTABLE are 0 and FAIL is 1.
pub fn code_for_run(report: &Report) -> i32 {
    match (report.stop_reason, report.verdict) {
        (StopReason::Interrupted, _) | (_, Verdict::Interrupted) => ExitCodes::INTERRUPTED,
        (_, Verdict::Pass | Verdict::Unstable) => ExitCodes::PASS,
        (_, Verdict::Fail) => ExitCodes::FAIL,
    }
}
