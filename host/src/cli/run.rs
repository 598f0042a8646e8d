//! `chaoskit-host run`: load, check, build, run with progress and Ctrl-C, write reports.
//!
//! The checks before anything starts are [`load`] and [`prepare`], which `validate` calls
//! too: the same file gives the same message from both. Once the file is read, a report is
//! written whatever happens next (a plugin that cannot load, a target that does not start,
//! Ctrl-C during setup), with the verdict FAIL or INTERRUPTED and the reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use tokio_util::sync::CancellationToken;

use super::args::{PluginFlags, RunArgs};
use super::exit::{self, ErrorKind};
use super::{CliError, Environment, Kind, metrics, output, plugins, progress, report_cmd};
use crate::report::{NotRun, Plan, StopReason};
use crate::services::ReadinessObserver;
use crate::services::ServiceTarget;
use crate::spec::units::HumanDuration;
use crate::spec::{self, BuildOptions, Loaded, PluginParts, PluginRequest, ResolvedScenario, ResolvedTarget};
use crate::{Executor, Report, Scenario};

/// Reads, parses and resolves a scenario file; relative paths inside resolve against its
/// directory. Every finding names the file, line, column and key.
pub(super) fn load(path: &Path, env: &Environment) -> Result<Loaded, CliError> {
    let absolute = env.cwd.join(path);
    let base = absolute.parent().map_or_else(|| env.cwd.clone(), Path::to_path_buf);
    spec::load(path, &base).kind(ErrorKind::Config)
}

/// Adds the `--plugin` flags to the scenario's plugins and applies `--plugin-config`.
fn add_plugin_flags(
    r: &mut ResolvedScenario,
    flags: &PluginFlags,
    env: &Environment,
    watch: bool,
) -> Result<(), CliError> {
    for p in &flags.plugins {
        r.plugins.push(PluginRequest::from_path(p, &env.cwd, watch));
    }
    for c in &flags.plugin_configs {
        for p in loaded_plugins(&mut r.plugins, &env.cwd, "--plugin-config", &c.path)? {
            p.config_json.clone_from(&c.json);
        }
    }
    for g in &flags.grants {
        let grant = spec::resolve_grant(&g.grant, &env.cwd)
            .map_err(|e| CliError::new(ErrorKind::Usage, anyhow!("--grant {}={}: {e}", g.path.display(), g.grant)))?;
        for p in loaded_plugins(&mut r.plugins, &env.cwd, "--grant", &g.path)? {
            if !p.grants.contains(&grant) {
                p.grants.push(grant.clone());
            }
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || std::fs::canonicalize(a).ok().zip(std::fs::canonicalize(b).ok()).is_some_and(|(a, b)| a == b)
}

/// Everything `run` checks before it starts anything, shared with `validate`: the plugin
/// flags, every plugin loaded and configured, and the scenario built (injector values,
/// labels). Returns the scenario, ready to run, and the SHA-256 of each plugin by label.
pub(super) fn prepare(
    loaded: &mut Loaded,
    flags: &PluginFlags,
    env: &Environment,
    watch: bool,
    options: BuildOptions,
) -> Result<(Scenario<ServiceTarget>, BTreeMap<String, String>), CliError> {
    add_plugin_flags(&mut loaded.resolved, flags, env, watch)?;
    if watch {
        if loaded.resolved.plugins.is_empty() {
            tracing::warn!(target: "chaoskit::cli", "--watch has no effect: the scenario loads no plugin");
        }
        loaded.resolved.plugins.iter_mut().for_each(|p| p.watch = true);
    }
    let (parts, digests) = plugins::resolve_plugins(&loaded.resolved.plugins, &loaded.resolved.file, &loaded.source)?;
    let scenario = spec::build(&loaded.resolved, BuildOptions { plugins: parts, ..options })
        .map_err(|e| e.located(&loaded.source))
        .kind(ErrorKind::Config)?;
    Ok((scenario, digests))
}

fn apply_overrides(r: &mut ResolvedScenario, args: &RunArgs) -> Result<(), CliError> {
    if let Some(seed) = args.seed {
        r.seed = Some(seed);
    }
    if let Some(n) = args.repeat {
        if n == 0 {
            return Err(CliError::new(ErrorKind::Usage, anyhow!("--repeat 0: give at least 1 iteration")));
        }
        r.repeat = Some(n);
        r.duration = None;
    }
    if let Some(d) = args.duration {
        if d.is_zero() {
            return Err(CliError::new(ErrorKind::Usage, anyhow!("--duration 0s: give a duration longer than zero")));
        }
        r.duration = Some(HumanDuration(d));
        r.repeat = None;
    }
    if let Some(c) = args.concurrency {
        if c == 0 {
            return Err(CliError::new(ErrorKind::Usage, anyhow!("--concurrency 0: give at least 1")));
        }
        if c > crate::spec::MAX_CONCURRENCY {
            return Err(CliError::new(
                ErrorKind::Usage,
                anyhow!("--concurrency {c}: give at most {}", crate::spec::MAX_CONCURRENCY),
            ));
        }
        r.concurrency = c;
    }
    if let Some(shard) = args.shard
        && r.seed.is_none()
    {
        return Err(CliError::new(
            ErrorKind::Usage,
            anyhow!(
                "--shard {shard} needs a fixed seed, so that every shard makes the decisions of the same run: \
                 set `seed` in the scenario file or pass --seed"
            ),
        ));
    }
    Ok(())
}

/// Where a run comes from, so `replay` can find the scenario and refuse a changed one.
pub(super) fn provenance(
    scenario: &Path,
    env: &Environment,
    plugins: std::collections::BTreeMap<String, String>,
) -> Option<crate::report::Provenance> {
    let absolute = env.cwd.join(scenario);
    let bytes = std::fs::read(&absolute).ok()?;
    let file = absolute.canonicalize().unwrap_or(absolute);
    Some(crate::report::Provenance {
        scenario_file: file.display().to_string(),
        scenario_sha256: output::sha256_hex(&bytes),
        plugins,
    })
}

/// The report files of a run, written atomically.
fn write_reports(report: &Report, dir: &Path, journal: &str) -> anyhow::Result<()> {
    let files: [(&str, String); 4] = [
        ("journal.json", report.to_json()),
        ("report.txt", report.to_text_with_journal(journal)),
        ("junit.xml", report.to_junit()),
        ("report.html", report.to_html_with_journal(journal)),
    ];
    for (name, contents) in files {
        let path = dir.join(name);
        output::write_atomic(&path, contents.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

/// What a report of a run that did not run needs, from the resolved file.
fn not_run(r: &ResolvedScenario, started: SystemTime, wall: Instant) -> NotRun {
    let target = match &r.target {
        ResolvedTarget::None { name } | ResolvedTarget::Address { name, .. } | ResolvedTarget::Process { name, .. } => {
            name.clone()
        }
    };
    NotRun {
        scenario: r.name.clone(),
        target,
        seed: r.seed.unwrap_or(0),
        started_at_unix_ms: started.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        wall_time_us: wall.elapsed().as_micros() as u64,
        plan: Plan {
            iterations: if r.duration.is_some() { None } else { r.repeat },
            duration_ms: r.duration.map(|d| d.0.as_millis() as u64),
            concurrency: r.concurrency,
            failure_policy: r.failure_policy,
        },
        thresholds: r.thresholds,
    }
}

/// Ctrl-C (or SIGTERM, as CI timeouts send) cancels `cancel`: no new iterations; those in
/// flight get the grace period; then injectors stop, the target is torn down and the
/// report is written (Executor::cancel_on).
fn watch_signals(cancel: CancellationToken, quiet: bool) -> Result<tokio::task::JoinHandle<()>, CliError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")
        .kind(ErrorKind::Setup)?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_ok() { "interrupted" } else { return },
            _ = terminate.recv() => "terminated",
        };
        if !quiet {
            output::eprint_line(&format!("\n{name}: finishing iterations in flight, then writing the report"));
        }
        cancel.cancel();
    }))
}

pub(super) async fn run(args: RunArgs, env: &Environment) -> Result<i32, CliError> {
    let mut loaded = load(&args.scenario, env)?;
    let started = SystemTime::now();
    let wall = Instant::now();
    let report_dir = env.cwd.join(&args.report_dir);
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("cannot create the report directory `{}`", report_dir.display()))
        .kind(ErrorKind::Config)?;
    // How the journal is named in replay commands: as the user would type it from here.
    let journal = args.report_dir.join("journal.json").display().to_string();
    let overridden = apply_overrides(&mut loaded.resolved, &args);
    // The seed is settled before anything is built from the file (in-process proxies draw
    // from it too) and before any report is written, so every report names the one used.
    loaded.resolved.seed.get_or_insert_with(crate::run::fresh_seed);
    if let Err(err) = overridden {
        // From here on every way out leaves a report, a flag mistake included.
        let reason = format!("the run could not start: {}", err.error);
        let report = Report::not_run(not_run(&loaded.resolved, started, wall), StopReason::NotStarted, reason);
        write_reports(&report, &report_dir, &journal).kind(ErrorKind::Config)?;
        return Err(err);
    }

    let cancel = CancellationToken::new();
    let signals = watch_signals(cancel.clone(), args.quiet)?;
    let mode = progress::resolve(args.quiet, env.stderr_is_terminal, env.is_ci);

    let mut exporter = None;
    let outcome = execute(&args, env, &mut loaded, &report_dir, &cancel, mode, &mut exporter).await;
    signals.abort();

    let (report, failure) = match outcome {
        Ok(report) => (report, None),
        Err(err) => {
            let interrupted = cancel.is_cancelled();
            let (stop, reason) = if interrupted {
                (
                    StopReason::Interrupted,
                    format!("interrupted before the first iteration, during setup: {}", err.error),
                )
            } else {
                (StopReason::NotStarted, format!("the run could not start: {}", err.error))
            };
            let report = Report::not_run(not_run(&loaded.resolved, started, wall), stop, reason);
            (report, (!interrupted).then_some(err))
        }
    };
    write_reports(&report, &report_dir, &journal).kind(ErrorKind::Config)?;
    if let Some(err) = failure {
        if let Some(e) = exporter.take() {
            e.abandon();
        }
        // The message is the one `validate` prints for the same mistake; the report (verdict
        // FAIL, with that message as its reason) is in the report directory as always.
        return Err(err);
    }
    output::print_stdout(&report_cmd::render_with_journal(&report, args.format, &journal))
        .context("cannot write to stdout")
        .kind(ErrorKind::Config)?;
    if !args.quiet {
        output::eprint_line(&progress::summary(&report, &args.report_dir, args.format));
    }
    if let Some(e) = exporter.take() {
        if report.stop_reason == StopReason::Interrupted {
            e.abandon();
        } else {
            e.finish(&report, args.metrics_grace, args.quiet).await.kind(ErrorKind::Config)?;
        }
    }
    Ok(exit::code_for_run(&report))
}

/// From a loaded file to a finished report: plugins, build, metrics, the run itself.
async fn execute(
    args: &RunArgs,
    env: &Environment,
    loaded: &mut Loaded,
    report_dir: &Path,
    cancel: &CancellationToken,
    mode: progress::Mode,
    exporter: &mut Option<metrics::Exporter>,
) -> Result<Report, CliError> {
    let metrics_on = args.metrics_addr.is_some() || args.metrics_file.is_some();
    let wait_line = progress::target_wait(mode, args.quiet);
    let options = BuildOptions {
        log_dir: Some(report_dir.to_path_buf()),
        cancel: cancel.clone(),
        plugins: PluginParts::default(),
        on_target_wait: Some(ReadinessObserver(wait_line.observer())),
        on_step: metrics_on.then(|| spec::StepObserver(Arc::new(metrics::observe_step))),
    };
    let (scenario, digests) = prepare(loaded, &args.plugins, env, args.watch, options)?;
    let resolved = &loaded.resolved;
    if metrics_on {
        let labels = metrics::RunLabels {
            scenario: &resolved.name,
            seed: resolved.seed.unwrap_or(0),
            planned_iterations: resolved.repeat.filter(|_| resolved.duration.is_none()),
            planned_duration: resolved.duration.map(|d| d.0),
        };
        *exporter = Some(
            metrics::install(args.metrics_addr, args.metrics_file.clone(), &labels).await.kind(ErrorKind::Config)?,
        );
    }

    let planned = match args.shard {
        Some(shard) => resolved.repeat.map(|n| shard.iterations_of(n)),
        None => resolved.repeat,
    };
    let bar = progress::bar(mode, planned, resolved.duration.map(|d| d.0));
    let mut executor = Executor::new(scenario).cancel_on(cancel.clone()).grace_period(resolved.grace_period.0);
    if let Some(shard) = args.shard {
        executor = executor.shard(shard);
    }
    {
        // The clock starts with the first iteration, not with target setup (a process
        // target may take long to build and start), so rate and ETA mean what they say;
        // the first progress also ends the "waiting for the target" line.
        let started = std::sync::atomic::AtomicBool::new(false);
        let bar = bar.clone();
        let wait_line = wait_line.clone();
        executor = executor.on_progress(Duration::from_millis(100), move |p| {
            if !started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                wait_line.done();
                if let Some(bar) = &bar {
                    bar.reset_elapsed();
                    bar.reset_eta();
                }
            }
            if let Some(bar) = &bar {
                progress::update(bar, p);
            }
        });
    }
    if metrics_on {
        executor = executor.on_iteration(metrics::observe);
    }
    // Memory, descriptors and threads of the host over the run, charted in the HTML report:
    // a long run must hold flat (a missing sample series is not worth failing the run for).
    let sampler = crate::report::ResourceSampler::start(Duration::from_secs(1)).ok();
    let result = executor.run().await;
    let host_resources = sampler.map(|s| s.finish()).unwrap_or_default();
    wait_line.done();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut report = result.map_err(|e| {
        let kind = if cancel.is_cancelled() { ErrorKind::Interrupted } else { ErrorKind::Setup };
        CliError::new(kind, e)
    })?;
    report.provenance = provenance(&args.scenario, env, digests);
    report.host_resources = host_resources;
    Ok(report)
}

/// The plugins a `FLAG PATH=…` option names (relative to `cwd`), or a usage error that lists
/// the loaded ones.
fn loaded_plugins<'a>(
    plugins: &'a mut [PluginRequest],
    cwd: &Path,
    flag: &str,
    path: &Path,
) -> Result<Vec<&'a mut PluginRequest>, CliError> {
    let wanted = cwd.join(path);
    if !plugins.iter().any(|p| same_file(&p.path, &wanted)) {
        let loaded: Vec<String> = plugins.iter().map(|p| format!("`{}`", p.path.display())).collect();
        let loaded = if loaded.is_empty() { "none".to_string() } else { loaded.join(", ") };
        return Err(CliError::new(
            ErrorKind::Usage,
            anyhow!(
                "{flag} names `{}`, which is not a loaded plugin; add `--plugin {}` or use one of: {loaded}",
                path.display(),
                path.display()
            ),
        ));
    }
    Ok(plugins.iter_mut().filter(|p| same_file(&p.path, &wanted)).collect())
}
