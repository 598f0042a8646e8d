//! `chaoskit-host run`: load, resolve, build, run with progress and Ctrl-C, write reports.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::exit::{self, ErrorKind};
use super::{CliError, Environment, Kind, metrics, output, plugins, progress, report_cmd};
use crate::spec::units::HumanDuration;
use crate::spec::{self, BuildOptions, PluginRequest, ResolvedScenario};
use crate::{Executor, Report};

/// Loads and resolves a scenario file; relative paths inside resolve against its directory.
pub(super) fn load(path: &Path, env: &Environment) -> Result<ResolvedScenario, CliError> {
    let file = spec::load_file(path).kind(ErrorKind::Config)?;
    let absolute = env.cwd.join(path);
    let base = absolute.parent().map_or_else(|| env.cwd.clone(), Path::to_path_buf);
    spec::resolve(file, &path.display().to_string(), &base).kind(ErrorKind::Config)
}

fn apply_overrides(r: &mut ResolvedScenario, args: &RunArgs, env: &Environment) -> Result<(), CliError> {
    if let Some(seed) = args.seed {
        r.seed = Some(seed);
    }
    if let Some(n) = args.repeat {
        if n == 0 {
            return Err(CliError::new(ErrorKind::Usage, anyhow!("--repeat must be at least 1")));
        }
        r.repeat = Some(n);
        r.duration = None;
    }
    if let Some(d) = args.duration {
        if d.is_zero() {
            return Err(CliError::new(ErrorKind::Usage, anyhow!("--duration must be longer than zero")));
        }
        r.duration = Some(HumanDuration(d));
        r.repeat = None;
    }
    if let Some(c) = args.concurrency {
        if c == 0 {
            return Err(CliError::new(ErrorKind::Usage, anyhow!("--concurrency must be at least 1")));
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
    for p in &args.plugins {
        r.plugins.push(PluginRequest::from_path(p, &env.cwd, args.watch));
    }
    if args.watch {
        if r.plugins.is_empty() {
            tracing::warn!(target: "chaoskit::cli", "--watch has no effect: the scenario loads no plugin");
        }
        r.plugins.iter_mut().for_each(|p| p.watch = true);
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
fn write_reports(report: &Report, dir: &Path) -> anyhow::Result<()> {
    let files: [(&str, String); 4] = [
        ("journal.json", report.to_json()),
        ("report.txt", report.to_text()),
        ("junit.xml", report.to_junit()),
        ("report.html", report.to_html()),
    ];
    for (name, contents) in files {
        let path = dir.join(name);
        output::write_atomic(&path, contents.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

pub(super) async fn run(args: RunArgs, env: &Environment) -> Result<i32, CliError> {
    let mut resolved = load(&args.scenario, env)?;
    apply_overrides(&mut resolved, &args, env)?;
    let (plugin_parts, plugin_digests) = plugins::resolve_plugins(&resolved.plugins)?;
    let provenance = provenance(&args.scenario, env, plugin_digests);

    let report_dir = env.cwd.join(&args.report_dir);
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("cannot create the report directory `{}`", report_dir.display()))
        .kind(ErrorKind::Config)?;
    if let Some(addr) = args.metrics_addr {
        metrics::install(addr).kind(ErrorKind::Config)?;
    }

    let cancel = CancellationToken::new();
    let scenario = spec::build(
        &resolved,
        BuildOptions { log_dir: Some(report_dir.clone()), cancel: cancel.clone(), plugins: plugin_parts },
    )
    .kind(ErrorKind::Config)?;

    // Ctrl-C (or SIGTERM, as CI timeouts send): no new iterations; those in flight get the
    // grace period; then injectors stop, the target is torn down and the report is written
    // (Executor::cancel_on).
    let interrupt = {
        let cancel = cancel.clone();
        let quiet = args.quiet;
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch SIGTERM")
            .kind(ErrorKind::Setup)?;
        tokio::spawn(async move {
            let name = tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_ok() { "interrupted" } else { return },
                _ = terminate.recv() => "terminated",
            };
            if !quiet {
                output::eprint_line(&format!("\n{name}: finishing iterations in flight, then writing the report"));
            }
            cancel.cancel();
        })
    };

    let mode = progress::resolve(args.quiet, env.stderr_is_terminal, env.is_ci);
    let planned = match args.shard {
        Some(shard) => resolved.repeat.map(|n| shard.iterations_of(n)),
        None => resolved.repeat,
    };
    let bar = progress::bar(mode, planned, resolved.duration.map(|d| d.0));
    let mut executor = Executor::new(scenario).cancel_on(cancel.clone()).grace_period(resolved.grace_period.0);
    if let Some(shard) = args.shard {
        executor = executor.shard(shard);
    }
    if let Some(bar) = bar.clone() {
        // The clock starts with the first iteration, not with target setup (a process
        // target may take long to build and start), so rate and ETA mean what they say.
        let started = std::sync::atomic::AtomicBool::new(false);
        executor = executor.on_progress(Duration::from_millis(100), move |p| {
            if !started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                bar.reset_elapsed();
                bar.reset_eta();
            }
            progress::update(&bar, p);
        });
    }
    if args.metrics_addr.is_some() {
        executor = executor.on_iteration(metrics::observe);
    }
    let result = executor.run().await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    interrupt.abort();

    let mut report = match result {
        Ok(report) => report,
        Err(e) if cancel.is_cancelled() => return Err(CliError::new(ErrorKind::Interrupted, e)),
        Err(e) => return Err(CliError::new(ErrorKind::Setup, e)),
    };
    report.provenance = provenance;
    write_reports(&report, &report_dir).kind(ErrorKind::Config)?;
    if !args.quiet {
        output::eprint_line(&progress::summary(&report, &report_dir));
    }
    output::print_stdout(&report_cmd::render(&report, args.format))
        .context("cannot write to stdout")
        .kind(ErrorKind::Config)?;

    Ok(exit::code_for_run(&report))
}
