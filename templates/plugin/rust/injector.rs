//! `{{name}}`: a ChaosKit injector.
//!
//! At delay points, delays by `delay_ms` with probability `probability` (a draw from the
//! host's seeded stream: same seed, same delays). At error points, fails every `every`-th
//! decision of the run, counted across all workers by a host counter.

chaoskit_plugin_sdk::config_schema!("../config.schema.json");

use chaoskit_plugin_sdk::{Action, Capabilities, Counter, Injector, Point, PointKind, export_injector, random};
use serde::Deserialize;

/// The scenario's JSON configuration (`config = { ... }` in `[[plugins]]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Chance of a delay at each delay point, 0..=1.
    #[serde(default = "default_probability")]
    probability: f64,
    /// Delay length in milliseconds.
    #[serde(default = "default_delay_ms")]
    delay_ms: u64,
    /// Fail every `every`-th error decision of the run; 0 never fails.
    #[serde(default = "default_every")]
    every: i64,
}

fn default_probability() -> f64 {
    0.1
}
fn default_delay_ms() -> u64 {
    1
}
fn default_every() -> i64 {
    10
}

struct {{Type}} {
    config: Config,
    /// Error decisions so far, shared by every instance (one per worker).
    decisions: Counter,
}

impl Injector for {{Type}} {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.probability) {
            return Err(format!("`probability` ({}) must be within 0..=1", config.probability));
        }
        if config.every < 0 {
            return Err("`every` must not be negative".into());
        }
        Ok(Self { config, decisions: Counter::new("{{name}}.errors") })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::DELAY | Capabilities::ERROR
    }

    fn decide(&mut self, point: &Point, _iteration: u64) -> Action {
        match point.kind {
            PointKind::Delay if random::chance(self.config.probability) => Action::delay_ms(self.config.delay_ms),
            PointKind::Error if self.config.every > 0 && self.decisions.add(1) % self.config.every == 0 => {
                Action::Error(format!("{{name}}: injected error at `{}`", point.name))
            }
            _ => Action::None,
        }
    }
}

export_injector!({{Type}});
