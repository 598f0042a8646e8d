//! `chaoskit-host report`: render a finished run's journal again.

use anyhow::Context;

use super::args::{OutputFormat, ReportArgs};
use super::exit::{ErrorKind, ExitCodes};
use super::output;
use super::{CliError, Kind};
use crate::Report;

/// The report in `format`.
pub(super) fn render(report: &Report, format: OutputFormat) -> String {
    match format {
        OutputFormat::Text => report.to_text(),
        OutputFormat::Json => report.to_json(),
        OutputFormat::Junit => report.to_junit(),
        OutputFormat::Html => report.to_html(),
    }
}

pub(super) fn report(args: ReportArgs) -> Result<i32, CliError> {
    let path = &args.journal;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))
        .kind(ErrorKind::Config)?;
    let report = Report::from_json(&text).with_context(|| format!("`{}`", path.display())).kind(ErrorKind::Config)?;
    let rendered = render(&report, args.format);
    match &args.output {
        Some(out) => output::write_atomic(out, rendered.as_bytes())
            .with_context(|| format!("cannot write `{}`", out.display()))
            .kind(ErrorKind::Config)?,
        None => output::print_stdout(&rendered).context("cannot write to stdout").kind(ErrorKind::Config)?,
    }
    Ok(ExitCodes::PASS)
}
