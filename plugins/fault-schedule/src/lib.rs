//! `fault-schedule`: injects the faults a schedule file lists, iteration by iteration.
//!
//! The file is read once, when the plugin is configured, from a directory the scenario grants
//! (`grants = ["fs:ro:./schedules"]`, seen by the plugin as `/schedules`). Without the grant the
//! plugin refuses its configuration, naming the grant to add. Each line is
//! `WHEN KIND [ARG]`, `#` starts a comment:
//!
//! ```text
//! # at iteration 3, delay every delay point by 25 ms
//! 3 delay 25
//! # every 10th iteration (0, 10, 20, …), fail the error points
//! every 10 error inventory service unavailable
//! 7 panic boom
//! 12 cancel
//! ```
//!
//! `WHEN` is an iteration index or `every N`; `KIND` is `delay` (ARG: milliseconds), `error` or
//! `panic` (ARG: the message) or `cancel`. A fault applies at the points of its kind; the
//! first matching line wins. Decisions depend only on the iteration, so runs replay.
//!
//! Configuration (JSON):
//!
//! | key    | meaning                                   | default |
//! |--------|-------------------------------------------|---------|
//! | `file` | the schedule, as the plugin sees it        | `/schedules/faults.txt` |

use chaoskit_plugin_sdk::{Action, Capabilities, Injector, Point, PointKind, export_injector};
use serde::Deserialize;
use std::time::Duration;

/// Configuration, see the crate docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_file")]
    file: String,
}

fn default_file() -> String {
    "/schedules/faults.txt".into()
}

#[derive(Debug, Clone, PartialEq)]
enum When {
    At(u64),
    Every(u64),
}

#[derive(Debug, Clone, PartialEq)]
enum Fault {
    Delay(Duration),
    Error(String),
    Panic(String),
    Cancel,
}

struct Schedule {
    lines: Vec<(When, Fault)>,
}

fn parse_line(line: &str) -> Result<Option<(When, Fault)>, String> {
    let line = line.split('#').next().unwrap_or_default().trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let number = |w: Option<&str>, what: &str| -> Result<u64, String> {
        w.and_then(|w| w.parse().ok()).ok_or_else(|| format!("`{line}`: expected {what}"))
    };
    let when = match words.next() {
        Some("every") => {
            let n = number(words.next(), "a count after `every`")?;
            if n == 0 {
                return Err(format!("`{line}`: `every 0` never fires; use a count above 0"));
            }
            When::Every(n)
        }
        w => When::At(number(w, "an iteration index or `every N` first")?),
    };
    let kind = words.next().ok_or_else(|| format!("`{line}`: expected a fault after the iteration"))?;
    let rest = words.collect::<Vec<_>>().join(" ");
    let fault = match kind {
        "delay" => Fault::Delay(Duration::from_millis(
            rest.parse().map_err(|_| format!("`{line}`: `delay` needs milliseconds, e.g. `delay 25`"))?,
        )),
        "error" => Fault::Error(if rest.is_empty() { "scheduled error".into() } else { rest }),
        "panic" => Fault::Panic(if rest.is_empty() { "scheduled panic".into() } else { rest }),
        "cancel" => Fault::Cancel,
        other => return Err(format!("`{line}`: unknown fault `{other}` (delay, error, panic, cancel)")),
    };
    Ok(Some((when, fault)))
}

impl Injector for Schedule {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let text = std::fs::read_to_string(&config.file).map_err(|e| {
            let dir = config.file.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
            format!(
                "cannot read the schedule `{}`: {e} (is its directory granted? e.g. `grants = [\"fs:ro:./schedules={dir}\"]`)",
                config.file
            )
        })?;
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if let Some(entry) = parse_line(line).map_err(|e| format!("{}:{}: {e}", config.file, n + 1))? {
                lines.push(entry);
            }
        }
        Ok(Self { lines })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::DELAY | Capabilities::ERROR | Capabilities::PANIC | Capabilities::CANCEL
    }

    fn decide(&mut self, point: &Point, iteration: u64) -> Action {
        for (when, fault) in &self.lines {
            let now = match when {
                When::At(i) => *i == iteration,
                When::Every(n) => iteration % n == 0,
            };
            let action = match (fault, point.kind) {
                (Fault::Delay(d), PointKind::Delay) => Action::Delay(*d),
                (Fault::Error(m), PointKind::Error) => Action::Error(m.clone()),
                (Fault::Panic(m), PointKind::Panic) => Action::Panic(m.clone()),
                (Fault::Cancel, PointKind::Cancel) => Action::Cancel,
                _ => continue,
            };
            if now {
                return action;
            }
        }
        Action::None
    }
}

export_injector!(Schedule);
