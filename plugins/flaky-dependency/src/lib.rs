//! `flaky-dependency`: a dependency that gets flakier as the run goes on.
//!
//! Each error point fails with a probability that ramps linearly from `start_rate` to `end_rate`
//! over the first `ramp_calls` decisions. The decision count is a host counter shared by all
//! instances (workers) of the plugin, so the ramp follows the whole run, not one worker; so is
//! the number of injected errors, which `max_errors` caps run-wide.
//!
//! Configuration (JSON):
//!
//! | key          | meaning                                                    | default        |
//! |--------------|------------------------------------------------------------|----------------|
//! | `start_rate` | error probability at the first decision (0..=1)            | `0.0`          |
//! | `end_rate`   | error probability once the ramp is done (0..=1)            | required       |
//! | `ramp_calls` | decisions (all workers together) over which the rate ramps | `1000`         |
//! | `max_errors` | stop injecting after this many errors in the run           | unlimited      |
//! | `points`     | only points whose name contains this text                  | all points     |
//! | `message`    | error message                                              | see below      |
//!
//! Example: `{"end_rate": 0.5, "ramp_calls": 200, "points": "db."}` makes `db.*` calls fail
//! rarely at first and half the time after 200 decisions. The default message is
//! `flaky dependency: injected error`.
//!
//! With several workers the ramp position of a decision depends on how their calls interleave;
//! with one worker, the same seed gives the same errors.

chaoskit_plugin_sdk::config_schema!("../config.schema.json");

use chaoskit_plugin_sdk::{Action, Capabilities, Counter, Injector, Point, export_injector, random};
use serde::Deserialize;

/// Configuration, see the crate docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    start_rate: f64,
    end_rate: f64,
    #[serde(default = "thousand")]
    ramp_calls: u64,
    max_errors: Option<i64>,
    points: Option<String>,
    #[serde(default = "message")]
    message: String,
}

fn thousand() -> u64 {
    1000
}
fn message() -> String {
    "flaky dependency: injected error".into()
}

struct FlakyDependency {
    config: Config,
    decisions: Counter,
    errors: Counter,
}

impl Injector for FlakyDependency {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        for (key, rate) in [("start_rate", config.start_rate), ("end_rate", config.end_rate)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("`{key}` ({rate}) must be within 0..=1"));
            }
        }
        Ok(Self { config, decisions: Counter::new("flaky.decisions"), errors: Counter::new("flaky.errors") })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ERROR
    }

    fn wants(&self, point: &Point) -> bool {
        self.capabilities().contains(point.kind.into())
            && self.config.points.as_deref().is_none_or(|needle| point.name.contains(needle))
    }

    fn decide(&mut self, _point: &Point, _iteration: u64) -> Action {
        let c = &self.config;
        // The n-th decision of the run, counted across every worker.
        let n = self.decisions.add(1) - 1;
        let progress = if c.ramp_calls == 0 { 1.0 } else { (n as f64 / c.ramp_calls as f64).min(1.0) };
        let rate = c.start_rate + (c.end_rate - c.start_rate) * progress;
        if !random::chance(rate) {
            return Action::None;
        }
        if let Some(max) = c.max_errors
            && self.errors.add(1) > max
        {
            return Action::None;
        }
        Action::Error(c.message.clone())
    }
}

export_injector!(FlakyDependency);
