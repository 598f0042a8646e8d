//! The `chaoskit-host` command line: thin glue that parses flags, calls the library and
//! prints. `main.rs` only calls [`main`].
//!
//! - [`exit`]: exit codes as named constants and the one match that maps errors to them.
//! - `run`, `validate`, `report`, `replay` and `shrink`, `plugin inspect`, `proxy`: one module
//!   per command (`replay` and `shrink` share one).
//! - The CLI, never the library, installs the process-wide things: the tracing subscriber,
//!   the Prometheus recorder and the Ctrl-C handler.

mod args;
pub mod exit;
mod input;
mod logging;
mod metrics;
mod output;
mod plugins;
mod progress;
mod proxy_cmd;
mod replay_cmd;
mod report_cmd;
mod run;
mod scaffold;
mod validate_cmd;

use std::io::IsTerminal;

use clap::Parser;

pub use args::{Cli, Command, LogFormat, OutputFormat};
use exit::{CliError, ErrorKind, ExitCodes, code_for};

/// What the process learns from its environment, passed in at the edge.
#[derive(Clone, Debug)]
pub struct Environment {
    /// Whether stderr is a terminal (progress bars only there).
    pub stderr_is_terminal: bool,
    /// Whether a CI system runs us (`CI` set and not `false`/`0`): never bars.
    pub is_ci: bool,
    /// The current directory (relative `--plugin` and `--report-dir` paths).
    pub cwd: std::path::PathBuf,
}

impl Environment {
    /// Reads the real environment.
    pub fn from_process() -> Self {
        let is_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        Environment {
            stderr_is_terminal: std::io::stderr().is_terminal(),
            is_ci,
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are "errors" clap prints to stdout; they succeed.
            let code = if e.use_stderr() { code_for(ErrorKind::Usage) } else { ExitCodes::PASS };
            let _ = e.print();
            return exit_code(code);
        }
    };
    let env = Environment::from_process();
    logging::install(cli.log_format, cli.verbose, env.stderr_is_terminal);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit_code(ExitCodes::FAIL);
        }
    };
    let result = runtime.block_on(dispatch(cli, env));
    // Blocking work left behind (an abandoned step) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => exit_code(code),
        Err(err) => {
            print_error(&err);
            exit_code(code_for(err.kind))
        }
    }
}

fn exit_code(code: i32) -> std::process::ExitCode {
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn dispatch(cli: Cli, env: Environment) -> Result<i32, CliError> {
    match cli.command {
        Command::Run(args) => run::run(args, &env).await,
        Command::Validate(args) => validate_cmd::validate(args, &env),
        Command::Report(args) => report_cmd::report(args),
        Command::Replay(args) => replay_cmd::replay(args, &env).await,
        Command::Shrink(args) => replay_cmd::shrink(args, &env).await,
        Command::Plugin(args) => plugins::plugin_command(args),
        Command::Proxy(args) => proxy_cmd::proxy(args).await,
    }
}

/// The top error, then a `Caused by:` list (numbered when there are several). A cause the
/// message above it already quotes is not repeated (libraries often put their source's
/// text in their own message), and every line is escaped: errors can quote a plugin.
fn print_error(err: &CliError) {
    output::eprint_line(&error_text(&err.error));
}

fn error_text(error: &anyhow::Error) -> String {
    let mut shown: Vec<String> = Vec::new();
    for message in error.chain().map(|e| crate::report::escape::terminal_safe(&e.to_string()).into_owned()) {
        if !shown.iter().any(|s| s.contains(&message)) {
            shown.push(message);
        }
    }
    let mut text = format!("error: {}", shown[0]);
    let causes = &shown[1..];
    match causes.len() {
        0 => {}
        1 => text.push_str(&format!("\n\nCaused by:\n    {}", causes[0])),
        _ => {
            text.push_str("\n\nCaused by:");
            for (n, c) in causes.iter().enumerate() {
                text.push_str(&format!("\n    {n}: {c}"));
            }
        }
    }
    text
}

/// Shorthand for commands: wrap an error with its kind.
pub(crate) trait Kind<T> {
    fn kind(self, kind: ErrorKind) -> Result<T, CliError>;
}

impl<T, E: Into<anyhow::Error>> Kind<T> for Result<T, E> {
    fn kind(self, kind: ErrorKind) -> Result<T, CliError> {
        self.map_err(|e| CliError::new(kind, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_quoted_above_is_not_repeated() {
        let inner = anyhow::anyhow!("connection refused");
        let e = inner.context("setup of target `shop` failed: connection refused");
        assert_eq!(error_text(&e), "error: setup of target `shop` failed: connection refused");
        let e = anyhow::anyhow!("os error 2").context("cannot read `x.toml`");
        assert_eq!(error_text(&e), "error: cannot read `x.toml`\n\nCaused by:\n    os error 2");
    }

    #[test]
    fn error_lines_cannot_be_forged() {
        let e = anyhow::anyhow!("plugin said: no\nVERDICT: PASS\u{1b}[0m");
        assert_eq!(error_text(&e), "error: plugin said: no\\nVERDICT: PASS\\e[0m");
    }
}
