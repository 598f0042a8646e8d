//! Prometheus metrics during a run (`--metrics-addr`); the recorder is the CLI's, never
//! the library's.
//!
//! - `chaoskit_iterations_total{outcome="pass|fail"}`
//! - `chaoskit_iteration_duration_seconds` (histogram)
//! - `chaoskit_injections_total{injector, action}`
//! - `chaoskit_validator_failures_total{validator}`
//! - `chaoskit_plugin_failures_total{plugin}`

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::IterationSummary;

const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the recorder and serves `/metrics` on `addr`.
pub(super) fn install(addr: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Full("chaoskit_iteration_duration_seconds".into()), &BUCKETS)?
        .install()
        .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
    metrics::describe_counter!("chaoskit_iterations_total", "Iterations finished, by outcome");
    metrics::describe_histogram!("chaoskit_iteration_duration_seconds", metrics::Unit::Seconds, "Iteration wall time");
    metrics::describe_counter!("chaoskit_injections_total", "Faults injected, by injector and action");
    metrics::describe_counter!("chaoskit_validator_failures_total", "Validator complaints, by validator");
    metrics::describe_counter!("chaoskit_plugin_failures_total", "Plugin traps, timeouts and limit hits, by plugin");
    // Present from the start, so dashboards see zeros rather than gaps.
    metrics::counter!("chaoskit_iterations_total", "outcome" => "pass").absolute(0);
    metrics::counter!("chaoskit_iterations_total", "outcome" => "fail").absolute(0);
    // PLUGIN-HOOK: increment `chaoskit_plugin_failures_total{plugin}` from the plugin
    // runtime's failure callback once it exists.
    Ok(())
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
        metrics::counter!("chaoskit_validator_failures_total", "validator" => validator.to_string()).increment(1);
    }
}
