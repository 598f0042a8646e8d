//! The tracing subscriber: stderr, text or JSON, `RUST_LOG` or `-v` for the level. Colour
//! only on a terminal: a CI log or a file gets plain text, never escape codes.

use tracing_subscriber::EnvFilter;

use super::LogFormat;

/// Installs the process-wide subscriber (once, from `main`).
pub(super) fn install(format: LogFormat, verbose: u8, stderr_is_terminal: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(stderr_is_terminal);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
