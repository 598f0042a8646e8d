//! `chaoskit-host replay` and `shrink`: a failing iteration of a journal (or a schedule
//! written by `shrink`), the scenario it came from, and the library's replay session.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use super::args::{PluginFlags, ReplayArgs, ShrinkArgs};
use super::exit::{ErrorKind, ExitCodes};
use super::{CliError, Environment, Kind, input, output, run};
use crate::journal::{DecisionRecord, IterationRecord};
use crate::replay::{
    FailureSignature, ReplayMode, ReplayOutcome, ReplaySession, SCHEDULE_SCHEMA, ScheduleFile, ShrinkOutcome,
};
use crate::report::escape::terminal_safe;
use crate::report::triage::shell_quote;
use crate::report::{MAX_JOURNAL_BYTES, Provenance, REPORT_SCHEMA, Report};
use crate::spec::BuildOptions;

/// The failing iteration to run again, wherever it was read from.
struct Target {
    scenario_name: String,
    seed: u64,
    failed: IterationRecord,
    run_decisions: Vec<DecisionRecord>,
    provenance: Option<Provenance>,
    hazards: Vec<String>,
}

/// Reads a journal (`--iteration` picks the failure) or a schedule file.
fn read_input(path: &Path, iteration: Option<u64>) -> Result<Target, CliError> {
    let text = input::read_bounded(path, MAX_JOURNAL_BYTES, "journal or schedule")?;
    let target = parse_input(path, &text, iteration)?;
    if let Some(p) = &target.provenance {
        p.check().map_err(|e| CliError::new(ErrorKind::Config, anyhow!("`{}`: {e}", path.display())))?;
    }
    Ok(target)
}

fn parse_input(path: &Path, text: &str, iteration: Option<u64>) -> Result<Target, CliError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        schema: Option<String>,
    }
    let schema = serde_json::from_str::<Probe>(text).ok().and_then(|p| p.schema);
    match schema.as_deref() {
        Some(SCHEDULE_SCHEMA) => {
            let file = ScheduleFile::from_json(text)
                .map_err(|e| CliError::new(ErrorKind::Config, anyhow!("`{}`: {e}", path.display())))?;
            if let Some(k) = iteration
                && k != file.iteration
            {
                return Err(CliError::new(
                    ErrorKind::Usage,
                    anyhow!("`{}` is the schedule of iteration {}, not {k}", path.display(), file.iteration),
                ));
            }
            let failure = file.failure.ok_or_else(|| {
                CliError::new(ErrorKind::Config, anyhow!("`{}` names no failure to reproduce", path.display()))
            })?;
            Ok(Target {
                scenario_name: file.scenario,
                seed: file.seed,
                failed: IterationRecord {
                    index: file.iteration,
                    start_us: 0,
                    duration_us: 0,
                    ok: false,
                    error: Some(failure.error),
                    failed_step: failure.step,
                    steps_executed: 0,
                    decisions: file.decisions,
                    events: Vec::new(),
                    dropped_events: 0,
                    violations: Vec::new(),
                },
                run_decisions: file.run_decisions,
                provenance: file.provenance,
                hazards: Vec::new(),
            })
        }
        _ => {
            let report = Report::from_json(text)
                .with_context(|| {
                    format!(
                        "`{}` is neither a journal ({REPORT_SCHEMA}) nor a schedule ({SCHEDULE_SCHEMA})",
                        path.display()
                    )
                })
                .kind(ErrorKind::Config)?;
            let Some(k) = iteration else {
                return Err(CliError::new(
                    ErrorKind::Usage,
                    anyhow!("which iteration? pass --iteration K ({})", failing_list(&report)),
                ));
            };
            let Some(record) = report.failures.iter().chain(&report.samples).find(|r| r.index == k) else {
                return Err(CliError::new(
                    ErrorKind::Config,
                    anyhow!("iteration {k} is not in the journal ({})", failing_list(&report)),
                ));
            };
            if record.ok {
                return Err(CliError::new(
                    ErrorKind::Usage,
                    anyhow!("iteration {k} passed; there is no failure to replay ({})", failing_list(&report)),
                ));
            }
            let schedule = ScheduleFile::from_journal(&report, record);
            Ok(Target {
                scenario_name: report.scenario.clone(),
                seed: report.seed,
                failed: record.clone(),
                run_decisions: schedule.run_decisions,
                provenance: report.provenance.clone(),
                hazards: report.replay_hazards.clone(),
            })
        }
    }
}

fn failing_list(report: &Report) -> String {
    let failing: Vec<String> = report.failures.iter().take(10).map(|r| r.index.to_string()).collect();
    match failing.len() {
        0 => "no iteration failed in that run".to_string(),
        _ if report.failures.len() > 10 => format!("failing iterations kept: {}, ...", failing.join(", ")),
        _ => format!("failing iterations kept: {}", failing.join(", ")),
    }
}

/// Builds the scenario the user named (checking it is the same file and plugins the input
/// was made from) and starts a replay session on it.
///
/// The scenario is never taken from the input: a journal or schedule is data anyone may
/// hand over, and a scenario runs commands (its target, its `command` steps). Without one,
/// the error names the file the input points at and the command that confirms it.
fn start_session(
    command: &str,
    input: &Path,
    target: &Target,
    scenario: Option<&PathBuf>,
    force: bool,
    env: &Environment,
) -> Result<ReplaySession, CliError> {
    let Some(path) = scenario.cloned() else {
        return Err(CliError::new(ErrorKind::Usage, anyhow!("{}", scenario_needed(command, input, target))));
    };
    let bytes = std::fs::read(env.cwd.join(&path))
        .with_context(|| format!("cannot read the scenario file `{}`", path.display()))
        .kind(ErrorKind::Config)?;
    if let Some(p) = &target.provenance
        && output::sha256_hex(&bytes) != p.scenario_sha256
    {
        mismatch(force, format!("the scenario file `{}` changed since the run", path.display()))?;
    }
    let mut loaded = run::load(&path, env)?;
    if loaded.resolved.name != target.scenario_name {
        mismatch(
            force,
            format!(
                "`{}` describes scenario `{}`, the journal `{}`",
                path.display(),
                loaded.resolved.name,
                target.scenario_name
            ),
        )?;
    }
    loaded.resolved.seed = Some(target.seed);
    let (scenario, digests) = run::prepare(&mut loaded, &PluginFlags::default(), env, false, BuildOptions::default())?;
    if let Some(p) = &target.provenance {
        for (label, sha) in &p.plugins {
            match digests.get(label) {
                Some(now) if now == sha => {}
                Some(now) => mismatch(
                    force,
                    format!("plugin `{label}` changed since the run (sha256 {} then, {} now)", &sha[..8], &now[..8]),
                )?,
                None => mismatch(force, format!("plugin `{label}` of the run is not loaded by the scenario now"))?,
            }
        }
    }
    ReplaySession::start(scenario, Some(&target.run_decisions)).kind(ErrorKind::Config)
}

/// What to say when no scenario was given: which file the input names, and the command
/// that runs it once the user has looked at it.
fn scenario_needed(command: &str, input: &Path, target: &Target) -> String {
    let input_shown = input.display().to_string();
    let iteration = format!(" --iteration {}", target.failed.index);
    match &target.provenance {
        Some(p) => format!(
            "`{input_shown}` names scenario `{}` (sha256 {}...); it is not run without your say (a scenario runs \
             its target and command steps): check it, then run `chaoskit-host {command} {} {}{iteration}`",
            terminal_safe(&p.scenario_file),
            &p.scenario_sha256[..12],
            terminal_safe(&shell_quote(&input_shown)),
            terminal_safe(&shell_quote(&p.scenario_file)),
        ),
        None => format!(
            "`{input_shown}` does not name its scenario file; pass it: `chaoskit-host {command} {} <scenario>{iteration}`",
            shell_quote(&input_shown)
        ),
    }
}

fn mismatch(force: bool, what: String) -> Result<(), CliError> {
    if force {
        output::eprint_line(&format!("warning: {}; replaying anyway (--force)", terminal_safe(&what)));
        Ok(())
    } else {
        Err(CliError::new(ErrorKind::Config, anyhow!("{what}; pass --force to replay anyway")))
    }
}

fn describe_failure(f: &FailureSignature) -> String {
    terminal_safe(&f.error).into_owned()
}

/// One line per decision: where (point, occurrence) and what.
fn describe_decisions(decisions: &[DecisionRecord]) -> String {
    if decisions.is_empty() {
        return "  (none: the failure needs no injected fault)\n".to_string();
    }
    let width = decisions.iter().map(|d| d.injector.len()).max().unwrap_or(0);
    decisions
        .iter()
        .map(|d| {
            let scope = d.scope.as_ref().map(|s| format!(" in scope `{}`", terminal_safe(s))).unwrap_or_default();
            format!(
                "  {:width$}  {} point `{}`{scope}, visit {}: {}\n",
                terminal_safe(&d.injector).into_owned(),
                d.kind,
                terminal_safe(&d.point).into_owned(),
                u64::from(d.occurrence) + 1,
                terminal_safe(&d.action.to_string()).into_owned(),
            )
        })
        .collect()
}

fn hazards_note(hazards: &[String]) -> String {
    if hazards.is_empty() {
        return String::new();
    }
    let mut text = String::from("the run named what may keep a replay from matching it:\n");
    for h in hazards {
        text.push_str(&format!("  - {}\n", terminal_safe(h).into_owned()));
    }
    text
}

pub(super) async fn replay(args: ReplayArgs, env: &Environment) -> Result<i32, CliError> {
    if args.times == 0 {
        return Err(CliError::new(ErrorKind::Usage, anyhow!("--times must be at least 1")));
    }
    let target = read_input(&args.input, args.iteration)?;
    let mut session = start_session("replay", &args.input, &target, args.scenario.as_ref(), args.force, env)?;
    let mode = if args.seeded { ReplayMode::Seeded } else { ReplayMode::Schedule };
    let schedule = target.failed.decisions.clone();
    let outcome = crate::replay::replay(&mut session, &target.failed, &schedule, args.times, mode)
        .await
        .kind(ErrorKind::Setup)?;
    session.finish().await.kind(ErrorKind::Setup)?;
    output::print_stdout(&render_replay(&target, &outcome, mode))
        .context("cannot write to stdout")
        .kind(ErrorKind::Config)?;
    Ok(if outcome.always() && outcome.decisions_matched { ExitCodes::PASS } else { ExitCodes::FAIL })
}

fn render_replay(target: &Target, outcome: &ReplayOutcome, mode: ReplayMode) -> String {
    let how = match mode {
        ReplayMode::Schedule => format!("with its {} journaled decisions", outcome.decisions.len()),
        ReplayMode::Seeded => format!("drawing again from seed {}", target.seed),
    };
    let mut text = format!(
        "replaying iteration {} of `{}` {how}:\n{}expected failure: {}\n",
        outcome.iteration,
        terminal_safe(&target.scenario_name).into_owned(),
        describe_decisions(&outcome.decisions),
        describe_failure(&outcome.expected),
    );
    text.push_str(&hazards_note(&target.hazards));
    if mode == ReplayMode::Seeded {
        text.push_str(if outcome.decisions_matched {
            "the seed drew exactly the journaled decisions every time\n"
        } else {
            "the seed did NOT draw the journaled decisions every time (see the hazards above)\n"
        });
    }
    let verdict = if outcome.always() { "REPRODUCED" } else { "NOT ALWAYS REPRODUCED" };
    text.push_str(&format!("{verdict}: {}/{} replays failed the same way\n", outcome.reproduced, outcome.times));
    if let Some(miss) = &outcome.first_miss {
        let how = match FailureSignature::of(miss) {
            Some(f) => format!("failed differently: {}", describe_failure(&f)),
            None => "passed".to_string(),
        };
        text.push_str(&format!("first miss: the replay {how}\n"));
        if mode == ReplayMode::Schedule && outcome.reproduced > 0 {
            text.push_str(
                "the same decisions gave different outcomes: the steps or the service are nondeterministic themselves (timing, state carried between iterations)\n",
            );
        }
    }
    text
}

pub(super) async fn shrink(args: ShrinkArgs, env: &Environment) -> Result<i32, CliError> {
    if args.max_replays == 0 {
        return Err(CliError::new(ErrorKind::Usage, anyhow!("--max-replays must be at least 1")));
    }
    let target = read_input(&args.input, args.iteration)?;
    let mut session = start_session("shrink", &args.input, &target, args.scenario.as_ref(), args.force, env)?;
    let outcome = crate::replay::shrink(&mut session, &target.failed, args.max_replays).await.kind(ErrorKind::Setup)?;
    session.finish().await.kind(ErrorKind::Setup)?;
    if !outcome.reproducible {
        output::print_stdout(&format!(
            "iteration {} did not fail the same way when replayed with its {} decisions, so there is nothing to shrink\n{}",
            target.failed.index,
            outcome.original.len(),
            hazards_note(&target.hazards)
        ))
        .context("cannot write to stdout")
        .kind(ErrorKind::Config)?;
        return Ok(ExitCodes::FAIL);
    }
    let out = args.output.clone().unwrap_or_else(|| {
        let dir = args.input.parent().map(Path::to_path_buf).unwrap_or_default();
        dir.join(format!("schedule-iteration-{}.json", target.failed.index))
    });
    let file = ScheduleFile {
        schema: SCHEDULE_SCHEMA.to_string(),
        scenario: target.scenario_name.clone(),
        seed: target.seed,
        iteration: target.failed.index,
        failure: Some(outcome.expected.clone()),
        decisions: outcome.minimal.clone(),
        run_decisions: target.run_decisions.clone(),
        provenance: target.provenance.clone(),
    };
    output::write_atomic(&env.cwd.join(&out), file.to_json().as_bytes())
        .with_context(|| format!("cannot write `{}`", out.display()))
        .kind(ErrorKind::Config)?;
    let scenario = args.scenario.as_deref().unwrap_or(Path::new("scenario"));
    output::print_stdout(&render_shrink(&target, &outcome, &out, scenario))
        .context("cannot write to stdout")
        .kind(ErrorKind::Config)?;
    Ok(ExitCodes::PASS)
}

fn render_shrink(target: &Target, outcome: &ShrinkOutcome, out: &Path, scenario: &Path) -> String {
    let mut text = format!(
        "shrank iteration {} of `{}` from {} decisions to {} in {} replays{}:\n{}still fails: {}\n",
        target.failed.index,
        terminal_safe(&target.scenario_name).into_owned(),
        outcome.original.len(),
        outcome.minimal.len(),
        outcome.replays,
        if outcome.budget_exhausted { " (replay budget exhausted: smaller, maybe not minimal)" } else { "" },
        describe_decisions(&outcome.minimal),
        describe_failure(&outcome.expected),
    );
    text.push_str(&format!(
        "schedule written to {}\nreplay it: chaoskit-host replay {} {} --times 100\n",
        terminal_safe(&out.display().to_string()),
        terminal_safe(&shell_quote(&out.display().to_string())),
        terminal_safe(&shell_quote(&scenario.display().to_string())),
    ));
    text
}
