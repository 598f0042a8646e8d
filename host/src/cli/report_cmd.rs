//! `chaoskit-host report`: render a finished run's journal again.

use anyhow::Context;

use super::args::{OutputFormat, ReportArgs};
use super::exit::{ErrorKind, ExitCodes};
use super::output;
use super::{CliError, Kind};
use crate::Report;

/// The report in `format`; replay commands name `journal`.
pub(super) fn render_with_journal(report: &Report, format: OutputFormat, journal: &str) -> String {
    match format {
        OutputFormat::Text => report.to_text_with_journal(journal),
        OutputFormat::Json => report.to_json(),
        OutputFormat::Junit => report.to_junit(),
        OutputFormat::Html => report.to_html_with_journal(journal),
    }
}

pub(super) fn report(args: ReportArgs) -> Result<i32, CliError> {
    let path = &args.journal;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))
        .kind(ErrorKind::Config)?;
    let report = Report::from_json(&text).with_context(|| format!("`{}`", path.display())).kind(ErrorKind::Config)?;
    let rendered = render_with_journal(&report, args.format, &path.display().to_string());
    match &args.output {
        Some(out) => output::write_atomic(out, rendered.as_bytes())
            .with_context(|| format!("cannot write `{}`", out.display()))
            .kind(ErrorKind::Config)?,
        None => output::print_stdout(&rendered).context("cannot write to stdout").kind(ErrorKind::Config)?,
    }
    Ok(ExitCodes::PASS)
}
