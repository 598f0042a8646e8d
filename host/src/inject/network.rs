//! In-process network chaos at `maybe_network(host, port)` points, by host pattern.

use std::time::Duration;

use super::{Injector, check_probability};
use crate::chaos::{Action, Capabilities, Draws, NetworkFault, Point};

/// What to do to connections whose host matches a pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkRule {
    /// Host pattern: `*`, an exact host, `*.example.com` (subdomains only) or `api.*`.
    pub host: String,
    /// Base latency added.
    pub latency: Duration,
    /// Latency varies uniformly within `latency ± jitter` (never below zero).
    pub jitter: Duration,
    /// Probability the connection is dropped.
    pub drop: f64,
    /// Probability the rule applies at all to a given point.
    pub probability: f64,
}

impl NetworkRule {
    /// A rule for `host` that applies always and does nothing yet.
    pub fn new(host: impl Into<String>) -> Self {
        NetworkRule { host: host.into(), latency: Duration::ZERO, jitter: Duration::ZERO, drop: 0.0, probability: 1.0 }
    }
    /// Base latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    /// Jitter around the base latency.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
    /// Drop probability.
    pub fn drop(mut self, p: f64) -> Self {
        self.drop = p;
        self
    }
    /// Probability the rule applies.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }
}

/// Contextual network chaos: the first rule whose pattern matches the host decides.
#[derive(Clone, Debug, Default)]
pub struct Network {
    rules: Vec<NetworkRule>,
}

/// A network injector with no rules yet; add them with [`Network::rule`].
pub fn network() -> Network {
    Network::default()
}

impl Network {
    /// Adds a rule; rules are tried in order.
    pub fn rule(mut self, rule: NetworkRule) -> Self {
        self.rules.push(rule);
        self
    }
}

/// Whether `host` matches `pattern` (`*`, exact, `*.suffix` with a dot boundary, `prefix.*`).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" || pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix("*.") {
        return host.len() > suffix.len() + 1
            && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            && host.as_bytes()[host.len() - suffix.len() - 1] == b'.';
    }
    if let Some(prefix) = pattern.strip_suffix(".*") {
        return host.len() > prefix.len() + 1
            && host[..prefix.len()].eq_ignore_ascii_case(prefix)
            && host.as_bytes()[prefix.len()] == b'.';
    }
    false
}

fn split_host(site: &str) -> &str {
    match site.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            host.trim_start_matches('[').trim_end_matches(']')
        }
        _ => site,
    }
}

impl Injector for Network {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NETWORK
    }

    fn decide(&self, point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        let host = split_host(point.name);
        let Some(rule) = self.rules.iter().find(|r| host_matches(&r.host, host)) else {
            return Action::None;
        };
        if !draws.chance(rule.probability) {
            return Action::None;
        }
        let latency = if rule.jitter.is_zero() {
            rule.latency
        } else {
            let offset = draws.uniform(Duration::ZERO, rule.jitter * 2);
            (rule.latency + offset).saturating_sub(rule.jitter)
        };
        let fault = NetworkFault { latency, drop: draws.chance(rule.drop) };
        if fault.is_none() { Action::None } else { Action::Network(fault) }
    }

    fn validate_config(&self) -> Result<(), String> {
        for r in &self.rules {
            check_probability(r.drop).map_err(|e| format!("rule `{}` drop: {e}", r.host))?;
            check_probability(r.probability).map_err(|e| format!("rule `{}`: {e}", r.host))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_respect_dot_boundaries() {
        assert!(host_matches("*", "anything"));
        assert!(host_matches("api.example.com", "API.example.com"));
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        assert!(host_matches("api.*", "api.example.com"));
        assert!(!host_matches("api.*", "apix.example.com"));
        assert!(!host_matches("api.*", "xapi.example.com"));
    }

    #[test]
    fn split_host_handles_ports_and_ipv6() {
        assert_eq!(split_host("db.local:5432"), "db.local");
        assert_eq!(split_host("[::1]:80"), "::1");
        assert_eq!(split_host("plain"), "plain");
    }
}
