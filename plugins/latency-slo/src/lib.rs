//! `latency-slo`: a latency quantile of the iterations stays under a bound.
//!
//! Records every iteration's duration and, at the end of the run, fails when the `quantile`
//! (p99 by default, nearest-rank) exceeds `max_ms`, e.g.
//! `p99 latency 212.4ms exceeds the 150ms objective (1000 iterations)`. Runs with fewer than
//! `min_samples` recorded iterations pass (too little data to judge). Counted once per run.
//!
//! Configuration (JSON):
//!
//! | key           | meaning                                   | default |
//! |---------------|-------------------------------------------|---------|
//! | `max_ms`      | bound for the quantile, in milliseconds   | required |
//! | `quantile`    | which quantile, in (0, 1]                 | `0.99`  |
//! | `min_samples` | fewest iterations needed to judge         | `1`     |
//! | `skip`        | warm-up iterations not recorded           | `0`     |
//! | `only_ok`     | record only successful iterations         | `false` |
//!
//! Example: `{"max_ms": 150, "quantile": 0.99, "skip": 10}`.

use chaoskit_plugin_sdk::{Counting, Outcome, Validator, export_validator};
use serde::Deserialize;

/// Configuration, see the crate docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    max_ms: f64,
    #[serde(default = "p99")]
    quantile: f64,
    #[serde(default = "one")]
    min_samples: usize,
    #[serde(default)]
    skip: u64,
    #[serde(default)]
    only_ok: bool,
}

fn p99() -> f64 {
    0.99
}
fn one() -> usize {
    1
}

struct LatencySlo {
    config: Config,
    samples_ns: Vec<u64>,
}

impl Validator for LatencySlo {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(config.quantile > 0.0 && config.quantile <= 1.0) {
            return Err(format!("`quantile` ({}) must be within (0, 1]", config.quantile));
        }
        if config.max_ms.is_nan() || config.max_ms < 0.0 {
            return Err(format!("`max_ms` ({}) must be a non-negative number", config.max_ms));
        }
        Ok(Self { config, samples_ns: Vec::new() })
    }

    fn counting(&self) -> Counting {
        Counting::PerRun
    }

    fn check(&mut self, outcome: &Outcome) -> Result<(), String> {
        if outcome.iteration >= self.config.skip && (outcome.ok || !self.config.only_ok) {
            self.samples_ns.push(outcome.duration.as_nanos() as u64);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        let n = self.samples_ns.len();
        if n == 0 || n < self.config.min_samples {
            return Ok(());
        }
        self.samples_ns.sort_unstable();
        // Nearest rank: the smallest sample with at least q·n samples at or below it.
        let rank = ((self.config.quantile * n as f64).ceil() as usize).clamp(1, n);
        let value_ms = self.samples_ns[rank - 1] as f64 / 1e6;
        if value_ms > self.config.max_ms {
            let label = format!("p{}", self.config.quantile * 100.0);
            return Err(format!(
                "{label} latency {value_ms:.1}ms exceeds the {}ms objective ({n} iterations)",
                self.config.max_ms
            ));
        }
        Ok(())
    }
}

export_validator!(LatencySlo);
