//! `latency-spike`: bursts of delays in recurring windows.
//!
//! Every `period` (iterations, or milliseconds of host time), the first `burst` of it is a
//! spike window: inside it, each delay point is delayed with probability `probability` by a
//! uniform duration in `[min_ms, max_ms]`. Outside the window nothing is injected.
//!
//! Configuration (JSON):
//!
//! | key           | meaning                                          | default        |
//! |---------------|--------------------------------------------------|----------------|
//! | `period`      | window period (> 0)                              | required       |
//! | `burst`       | length of the spike at the start of each period  | required       |
//! | `unit`        | `"iterations"` (replayable) or `"ms"` (host time) | `"iterations"` |
//! | `min_ms`      | shortest delay                                   | `50`           |
//! | `max_ms`      | longest delay                                    | `min_ms`       |
//! | `probability` | chance of a delay inside the window              | `1.0`          |
//!
//! Example: `{"period": 100, "burst": 10, "min_ms": 20, "max_ms": 80}` delays iterations
//! 0–9, 100–109, … by 20–80 ms.

use chaoskit_plugin_sdk::{Action, Capabilities, Injector, Point, export_injector, random, time};
use serde::Deserialize;
use std::time::Duration;

/// How the window is measured.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Unit {
    /// Iteration numbers: the same seed gives the same spikes.
    Iterations,
    /// Milliseconds of host time since the plugin started.
    Ms,
}

/// Configuration, see the crate docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    period: u64,
    burst: u64,
    #[serde(default = "iterations")]
    unit: Unit,
    #[serde(default = "fifty")]
    min_ms: u64,
    max_ms: Option<u64>,
    #[serde(default = "one")]
    probability: f64,
}

fn iterations() -> Unit {
    Unit::Iterations
}
fn fifty() -> u64 {
    50
}
fn one() -> f64 {
    1.0
}

struct LatencySpike {
    config: Config,
    min: Duration,
    max: Duration,
}

impl Injector for LatencySpike {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.period == 0 {
            return Err("`period` must be greater than 0".into());
        }
        if config.burst > config.period {
            return Err(format!("`burst` ({}) must not exceed `period` ({})", config.burst, config.period));
        }
        let max_ms = config.max_ms.unwrap_or(config.min_ms);
        if max_ms < config.min_ms {
            return Err(format!("`max_ms` ({max_ms}) must be at least `min_ms` ({})", config.min_ms));
        }
        if !(0.0..=1.0).contains(&config.probability) {
            return Err(format!("`probability` ({}) must be within 0..=1", config.probability));
        }
        Ok(Self { min: Duration::from_millis(config.min_ms), max: Duration::from_millis(max_ms), config })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::DELAY
    }

    fn decide(&mut self, _point: &Point, iteration: u64) -> Action {
        let position = match self.config.unit {
            Unit::Iterations => iteration,
            Unit::Ms => time::now().as_millis() as u64,
        };
        if position % self.config.period >= self.config.burst {
            return Action::None;
        }
        if !random::chance(self.config.probability) {
            return Action::None;
        }
        Action::Delay(random::duration(self.min, self.max))
    }
}

export_injector!(LatencySpike);
