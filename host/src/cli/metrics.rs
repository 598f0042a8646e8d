//! Prometheus metrics of a run (`--metrics-addr`, `--metrics-file`); the recorder is the
//! CLI's, never the library's. Every series carries the `scenario` and `seed` labels, so
//! runs on one dashboard stay apart.
//!
//! - `chaoskit_planned_iterations` (gauge; 0 for a duration run) and
//!   `chaoskit_planned_duration_seconds` (gauge; 0 for a counted run)
//! - `chaoskit_iterations_total{outcome="pass|fail"}`
//! - `chaoskit_iteration_duration_seconds` (histogram)
//! - `chaoskit_step_runs_total{step, outcome}` and `chaoskit_step_duration_seconds{step}`
//!   (histogram): iterations and latency per step
//! - `chaoskit_injections_total{injector, action}`
//! - `chaoskit_validator_violations_total{validator}`: iterations a validator complained about
//! - `chaoskit_plugin_failures_total{plugin}`
//! - `chaoskit_run_finished{verdict}` (gauge, 1 once the run has a verdict)
//!
//! `/metrics` stays up for `--metrics-grace` after the run (so the last scrape sees the final
//! values), and `--metrics-file` writes them once more in the text format node-exporter's
//! textfile collector reads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{IterationSummary, Report};

const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The installed recorder and, with an address, the `/metrics` server.
pub(super) struct Exporter {
    handle: PrometheusHandle,
    addr: Option<SocketAddr>,
    server: Option<tokio::task::JoinHandle<()>>,
    upkeep: tokio::task::JoinHandle<()>,
    file: Option<PathBuf>,
}

/// What the series are labelled with and what the run plans.
pub(super) struct RunLabels<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    pub planned_iterations: Option<u64>,
    pub planned_duration: Option<Duration>,
}

/// Installs the recorder; serves `/metrics` on `addr` when given.
pub(super) async fn install(
    addr: Option<SocketAddr>,
    file: Option<PathBuf>,
    labels: &RunLabels<'_>,
) -> anyhow::Result<Exporter> {
    let builder = PrometheusBuilder::new()
        .add_global_label("scenario", labels.scenario)
        .add_global_label("seed", labels.seed.to_string())
        .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), &BUCKETS)?;
    let handle = builder.install_recorder().context("cannot install the metrics recorder")?;
    let server = match addr {
        Some(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot serve metrics on {addr}"))?;
            let handle = handle.clone();
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let handle = handle.clone();
                    async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()) }
                }),
            );
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }))
        }
        None => None,
    };
    let upkeep = {
        let handle = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        })
    };
    describe();
    metrics::gauge!("chaoskit_planned_iterations").set(labels.planned_iterations.unwrap_or(0) as f64);
    metrics::gauge!("chaoskit_planned_duration_seconds").set(labels.planned_duration.map_or(0.0, |d| d.as_secs_f64()));
    // Present from the start, so dashboards see zeros rather than gaps.
    metrics::counter!("chaoskit_iterations_total", "outcome" => "pass").absolute(0);
    metrics::counter!("chaoskit_iterations_total", "outcome" => "fail").absolute(0);
    // PLUGIN-HOOK: increment `chaoskit_plugin_failures_total{plugin}` from the plugin
    // runtime's failure callback once it exists.
    Ok(Exporter { handle, addr, server, upkeep, file })
}

fn describe() {
    metrics::describe_gauge!("chaoskit_planned_iterations", "Iterations the run plans (0 for a duration run)");
    metrics::describe_gauge!(
        "chaoskit_planned_duration_seconds",
        metrics::Unit::Seconds,
        "Duration the run plans (0 for a counted run)"
    );
    metrics::describe_counter!("chaoskit_iterations_total", "Iterations finished, by outcome");
    metrics::describe_histogram!("chaoskit_iteration_duration_seconds", metrics::Unit::Seconds, "Iteration wall time");
    metrics::describe_counter!("chaoskit_step_runs_total", "Step runs, by step and outcome");
    metrics::describe_histogram!("chaoskit_step_duration_seconds", metrics::Unit::Seconds, "Step wall time, by step");
    metrics::describe_counter!("chaoskit_injections_total", "Faults injected, by injector and action");
    metrics::describe_counter!(
        "chaoskit_validator_violations_total",
        "Iterations a validator complained about, by validator"
    );
    metrics::describe_counter!("chaoskit_plugin_failures_total", "Plugin traps, timeouts and limit hits, by plugin");
    metrics::describe_gauge!("chaoskit_run_finished", "1 once the run has its verdict (the `verdict` label)");
}

/// Records one finished iteration.
pub(super) fn observe(s: &IterationSummary<'_>) {
    let outcome = if s.ok { "pass" } else { "fail" };
    metrics::counter!("chaoskit_iterations_total", "outcome" => outcome).increment(1);
    metrics::histogram!("chaoskit_iteration_duration_seconds").record(s.duration.as_secs_f64());
    for (injector, action) in s.injections {
        metrics::counter!("chaoskit_injections_total", "injector" => injector.to_string(), "action" => *action)
            .increment(1);
    }
    for validator in s.violations {
        metrics::counter!("chaoskit_validator_violations_total", "validator" => validator.to_string()).increment(1);
    }
}

/// Records one finished step run.
pub(super) fn observe_step(step: &str, duration: Duration, ok: bool) {
    let outcome = if ok { "pass" } else { "fail" };
    metrics::counter!("chaoskit_step_runs_total", "step" => step.to_string(), "outcome" => outcome).increment(1);
    metrics::histogram!("chaoskit_step_duration_seconds", "step" => step.to_string()).record(duration.as_secs_f64());
}

impl Exporter {
    /// Marks the run finished, writes the textfile, and keeps `/metrics` up for `grace`
    /// (cut short by Ctrl-C), then stops serving.
    pub(super) async fn finish(self, report: &Report, grace: Duration, quiet: bool) -> anyhow::Result<()> {
        metrics::gauge!("chaoskit_run_finished", "verdict" => report.verdict.as_str()).set(1.0);
        self.handle.run_upkeep();
        if let Some(file) = &self.file {
            write_textfile(file, &self.handle.render())?;
        }
        if let (Some(addr), Some(_)) = (self.addr, &self.server)
            && !grace.is_zero()
        {
            if !quiet {
                super::output::eprint_line(&format!(
                    "serving the final metrics on http://{addr}/metrics for {} (Ctrl-C to stop now)",
                    crate::spec::units::format_duration(grace)
                ));
            }
            tokio::select! {
                () = tokio::time::sleep(grace) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        self.stop();
        Ok(())
    }

    /// Stops serving at once (an interrupted or failed run), after writing the textfile.
    pub(super) fn abandon(self) {
        if let Some(file) = &self.file {
            let _ = write_textfile(file, &self.handle.render());
        }
        self.stop();
    }

    fn stop(self) {
        if let Some(server) = self.server {
            server.abort();
        }
        self.upkeep.abort();
    }
}

fn write_textfile(path: &Path, text: &str) -> anyhow::Result<()> {
    super::output::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write the metrics file `{}`", path.display()))
}
