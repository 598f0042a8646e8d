//! `{{name}}`: a ChaosKit validator.
//!
//! Fails an iteration when more than `max_consecutive` iterations in a row have failed.

chaoskit_plugin_sdk::config_schema!("../config.schema.json");

use chaoskit_plugin_sdk::{Outcome, Validator, export_validator};
use serde::Deserialize;

/// The scenario's JSON configuration (`config = { ... }` in `[[plugins]]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Most failed iterations in a row that still pass.
    #[serde(default = "default_max")]
    max_consecutive: u64,
}

fn default_max() -> u64 {
    3
}

struct {{Type}} {
    config: Config,
    failed_in_a_row: u64,
}

impl Validator for {{Type}} {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Self { config, failed_in_a_row: 0 })
    }

    fn check(&mut self, outcome: &Outcome) -> Result<(), String> {
        self.failed_in_a_row = if outcome.ok { 0 } else { self.failed_in_a_row + 1 };
        if self.failed_in_a_row > self.config.max_consecutive {
            return Err(format!(
                "{} iterations failed in a row (at most {} allowed)",
                self.failed_in_a_row, self.config.max_consecutive
            ));
        }
        Ok(())
    }
}

export_validator!({{Type}});
