//! `chaoskit-host report`: render a finished run's journal again, or merge a sharded run's
//! journals into one.

use std::path::Path;

use anyhow::{Context, anyhow};

use super::args::{MergeArgs, OutputFormat, ReportArgs, ReportCommand};
use super::exit::{self, ErrorKind, ExitCodes};
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

fn read(path: &Path) -> Result<Report, CliError> {
    let text = super::input::read_bounded(path, crate::report::MAX_JOURNAL_BYTES, "journal")?;
    Report::from_json(&text).with_context(|| format!("`{}`", path.display())).kind(ErrorKind::Config)
}

pub(super) fn report(args: ReportArgs) -> Result<i32, CliError> {
    if let Some(ReportCommand::Merge(merge)) = args.command {
        return merge_journals(merge);
    }
    let Some(path) = &args.journal else {
        return Err(CliError::new(
            ErrorKind::Usage,
            anyhow!("which journal? pass a journal.json to render, or `report merge` shard journals"),
        ));
    };
    let report = read(path)?;
    let rendered = render_with_journal(&report, args.format, &path.display().to_string());
    match &args.output {
        Some(out) => output::write_atomic(out, rendered.as_bytes())
            .with_context(|| format!("cannot write `{}`", out.display()))
            .kind(ErrorKind::Config)?,
        None => output::print_stdout(&rendered).context("cannot write to stdout").kind(ErrorKind::Config)?,
    }
    Ok(ExitCodes::PASS)
}

/// `report merge`: one journal and one verdict from every shard's journal.
fn merge_journals(args: MergeArgs) -> Result<i32, CliError> {
    let mut journals = Vec::with_capacity(args.journals.len());
    for path in &args.journals {
        journals.push((path.display().to_string(), read(path)?));
    }
    let merged = crate::report::merge(journals).kind(ErrorKind::Config)?;
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))
            .kind(ErrorKind::Config)?;
    }
    output::write_atomic(&args.output, merged.to_json().as_bytes())
        .with_context(|| format!("cannot write `{}`", args.output.display()))
        .kind(ErrorKind::Config)?;
    output::print_stdout(&render_with_journal(&merged, args.format, &args.output.display().to_string()))
        .context("cannot write to stdout")
        .kind(ErrorKind::Config)?;
    Ok(exit::code_for_run(&merged))
}
