//! `demo-state-check`: checks the demo service's own state after each iteration.
//!
//! Reads `GET http://{service}/api/stats` through `wasi:http` (the scenario grants the host:
//! `grants = ["http:127.0.0.1:8077"]`; without it every request is refused and the check fails
//! closed) and checks two invariants the steps can break:
//!
//! - the counters never go backwards (a restart or a lost update would make them), and
//! - `/api/flaky` failed at most `max_error_ratio` of its requests (judged once it served
//!   `min_requests`).
//!
//! Configuration (JSON):
//!
//! | key               | meaning                                    | default            |
//! |-------------------|--------------------------------------------|--------------------|
//! | `service`         | `HOST:PORT` of the demo service            | `"127.0.0.1:8077"` |
//! | `max_error_ratio` | most failed `/api/flaky` requests, 0..=1   | `0.1`              |
//! | `min_requests`    | `/api/flaky` requests before the ratio counts | `20`            |

use chaoskit_plugin_sdk::{Outcome, Validator, export_validator};
use serde::Deserialize;

/// Configuration, see the crate docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_service")]
    service: String,
    #[serde(default = "default_ratio")]
    max_error_ratio: f64,
    #[serde(default = "default_min")]
    min_requests: u64,
}

fn default_service() -> String {
    "127.0.0.1:8077".into()
}
fn default_ratio() -> f64 {
    0.1
}
fn default_min() -> u64 {
    20
}

/// What `/api/stats` answers.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Debug)]
struct Stats {
    items: u64,
    flaky: u64,
    flaky_errors: u64,
}

struct StateCheck {
    config: Config,
    last: Stats,
}

/// GET `http://{authority}{path}` through `wasi:http/outgoing-handler`: status and body.
fn get(authority: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "bad method")?;
    request.set_scheme(Some(&Scheme::Http)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| format!("bad authority `{authority}`"))?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let pending = wasip2::http::outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending.get().ok_or("no response")?.map_err(|()| "taken")?.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend(chunk),
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("reading the body: {e:?}")),
        }
        if bytes.len() > 64 * 1024 {
            return Err("the stats are over 64 KiB".into());
        }
    }
    Ok((status, bytes))
}

impl StateCheck {
    fn stats(&self) -> Result<Stats, String> {
        let (status, body) = get(&self.config.service, "/api/stats")
            .map_err(|e| format!("cannot read the demo service's stats: {e}"))?;
        if status != 200 {
            return Err(format!("GET /api/stats answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET /api/stats answered something else than stats: {e}"))
    }
}

impl Validator for StateCheck {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.max_error_ratio) {
            return Err(format!("`max_error_ratio` ({}) must be within 0..=1", config.max_error_ratio));
        }
        Ok(Self { config, last: Stats::default() })
    }

    fn check(&mut self, outcome: &Outcome) -> Result<(), String> {
        let now = self.stats()?;
        let last = std::mem::replace(&mut self.last, now);
        if now.items < last.items || now.flaky < last.flaky || now.flaky_errors < last.flaky_errors {
            return Err(format!(
                "the demo service's counters went backwards after iteration {}: {last:?} then {now:?} (a restart or a lost update)",
                outcome.iteration
            ));
        }
        if now.flaky >= self.config.min_requests {
            let ratio = now.flaky_errors as f64 / now.flaky as f64;
            if ratio > self.config.max_error_ratio {
                return Err(format!(
                    "/api/flaky failed {} of {} requests ({:.1}%), over the {:.1}% allowed",
                    now.flaky_errors,
                    now.flaky,
                    ratio * 100.0,
                    self.config.max_error_ratio * 100.0
                ));
            }
        }
        Ok(())
    }
}

export_validator!(StateCheck);
