//! The scenario file schema, version 1: one set of serde structs read from TOML, YAML or
//! JSON. Every struct refuses unknown keys; every `type` names a variant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::units::{ByteSize, HumanDuration};
use crate::FailurePolicy;
use crate::validate::Severity;

/// A whole scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Schema version; this host reads `1`.
    pub version: u32,
    /// Name, plan, policy and thresholds.
    pub scenario: ScenarioSection,
    /// The system under test (default: none, for scenarios made of command steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// What each iteration does, in order (`chaoskit-host run` needs at least one; a program
    /// that supplies its own steps through `spec::apply` may leave them out).
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// The program's failpoint sites (`fail_point!` names, `#[chaos_fn]` functions as
    /// `module::path::function`) that `failpoint` injectors may name, besides the steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    /// Built-in injectors.
    #[serde(default)]
    pub injectors: Vec<InjectorSpec>,
    /// Built-in validators.
    #[serde(default)]
    pub validators: Vec<ValidatorSpec>,
    /// WebAssembly plugins (injectors or validators).
    #[serde(default)]
    pub plugins: Vec<PluginSpec>,
    /// Chaos proxies in front of the target's dependencies (created at setup, removed at
    /// teardown); `proxy_toxic` and `proxy_down` injectors act on them.
    #[serde(default)]
    pub proxies: Vec<ProxySpec>,
}

/// One `[[proxies]]` entry: a TCP chaos proxy, in this process or on a Toxiproxy-compatible
/// server (`chaoskit-host proxy` or Shopify's Toxiproxy) elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// Unique name; injectors refer to it.
    pub name: String,
    /// Where clients connect (`host:port`; default `127.0.0.1:0`, a free loopback port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Where the proxy forwards to (`host:port`).
    pub upstream: String,
    /// URL of a remote proxy API (e.g. `http://10.0.0.5:8474`); default: in this process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// The `[scenario]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSection {
    /// Shown in reports.
    pub name: String,
    /// Seed of every random decision (default: chosen at run start and reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Iterations to run (default 1); exclusive with `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u64>,
    /// Run iterations for this long instead of a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    /// Iterations in flight at once (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// `fail_fast` (default) or `continue_on_failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<FailurePolicy>,
    /// Verdict thresholds: a preset and overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ThresholdsSpec>,
    /// Abandon any step running longer than this (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout: Option<HumanDuration>,
    /// How long iterations in flight may finish after Ctrl-C (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<HumanDuration>,
}

/// A thresholds preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// At least 95% of iterations pass; warnings make the run UNSTABLE.
    #[default]
    Default,
    /// Every iteration passes and no validator complains.
    Strict,
    /// At least 80% of iterations pass.
    Relaxed,
}

/// `thresholds = { preset = "strict", min_success_rate = 0.99 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsSpec {
    /// Start from this preset (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// Minimum share of passing iterations, in `[0, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_success_rate: Option<f64>,
    /// Most failing iterations allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u64>,
    /// Whether a warning fails the run instead of making it UNSTABLE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings_fail: Option<bool>,
    /// Share of configured faults that must be reached at least once, in `[0, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_coverage: Option<f64>,
}

/// The `[target]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetSpec {
    /// A process the host starts before the run and stops after it.
    Process(ProcessSpec),
    /// A service that is already running.
    Address(AddressSpec),
}

/// A process target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Shown in reports (default: the command's file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The program: a bare name is looked up in `PATH`; a path is relative to the
    /// scenario file's directory.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the scenario file (default: the file's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// How to tell the process is ready (default: started is ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ReadySpec>,
    /// After SIGTERM, how long to wait before killing it (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<HumanDuration>,
}

/// Readiness: `ready = { tcp = "127.0.0.1:8080" }` or `ready = { http = "http://127.0.0.1:8080/health" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    /// Ready once this address accepts a TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// Ready once this URL answers with a status below 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Give up after this long (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// An address target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSpec {
    /// Shown in reports (default: the address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `host:port` of the running service.
    pub address: String,
}

/// Expected HTTP status: one code or a list (default: any 2xx).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StatusList(pub Vec<u16>);

impl<'de> Deserialize<'de> for StatusList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StatusList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an HTTP status code or a list of them")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusList, E> {
                status(v).map(|s| StatusList(vec![s]))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StatusList, E> {
                status(u64::try_from(v).unwrap_or(0)).map(|s| StatusList(vec![s]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<StatusList, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<u64>()? {
                    out.push(status(v)?);
                }
                Ok(StatusList(out))
            }
        }
        fn status<E: serde::de::Error>(v: u64) -> Result<u16, E> {
            match u16::try_from(v) {
                Ok(s) if (100..=599).contains(&s) => Ok(s),
                _ => Err(E::custom(format!("{v} is not an HTTP status code (100 to 599)"))),
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[steps]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepSpec {
    /// An HTTP/1.1 request (no TLS).
    Http(HttpStep),
    /// A TCP exchange: connect, send, expect bytes.
    Tcp(TcpStep),
    /// A command run each iteration; exit code 0 is success.
    Command(CommandStep),
}

/// An HTTP step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// Step name (default `http-<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Method (default `GET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `http://host:port/path`.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Expected status codes (default: any 2xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<StatusList>,
    /// The response body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body: Option<String>,
    /// Whole-request timeout (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// A TCP step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpStep {
    /// Step name (default `tcp-<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `host:port`.
    pub address: String,
    /// Bytes to send after connecting (UTF-8 text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Text the reply must contain (read until found, EOF or timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Whole-exchange timeout (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// A command step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    /// Step name (default `command-<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The program (bare name: `PATH`; path: relative to the scenario file).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Kill it after this long (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// What a failpoint does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailAction {
    /// Sleep `delay`.
    Delay,
    /// Fail with `message`.
    Error,
    /// Panic with `message`.
    Panic,
    /// Cancel the iteration.
    Cancel,
}

/// One `[[injectors.rules]]` entry of a network injector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRuleSpec {
    /// Host pattern: `*`, an exact host, `*.example.com` or `api.*`.
    pub host: String,
    /// Latency added (default 0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<HumanDuration>,
    /// Jitter around the latency (default 0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<HumanDuration>,
    /// Probability the connection is dropped (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
    /// Probability the rule applies (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// One `[[injectors]]` entry; `label` defaults to the type name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InjectorSpec {
    /// Delays delay points with a probability.
    Delay {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Probability per point, in `[0, 1]`.
        probability: f64,
        /// Shortest delay.
        min: HumanDuration,
        /// Longest delay.
        max: HumanDuration,
    },
    /// One delay every `interval`.
    DelayEvery {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// How often a delay becomes pending.
        interval: HumanDuration,
        /// Shortest delay.
        min: HumanDuration,
        /// Longest delay.
        max: HumanDuration,
    },
    /// Panics at panic points.
    Panic {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Probability per point.
        probability: f64,
        /// Panic message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Fails error points.
    Error {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Probability per point.
        probability: f64,
        /// Error message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Cancels operations.
    Cancel {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Probability per point.
        probability: f64,
    },
    /// A named failpoint (each step is a failpoint named after the step).
    Failpoint {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// The failpoint (step) name.
        name: String,
        /// Probability per point.
        probability: f64,
        /// What happens.
        action: FailAction,
        /// For `action = "delay"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay: Option<HumanDuration>,
        /// For `error` and `panic`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Latency and drops before connections, by host pattern.
    Network {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Rules, first match wins.
        rules: Vec<NetworkRuleSpec>,
    },
    /// Burns CPU while the run is active.
    Cpu {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Threads (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workers: Option<usize>,
        /// Busy share of each 10 ms slice, in `[0, 1]` (default 0.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duty: Option<f64>,
    },
    /// Holds touched memory while the run is active.
    Memory {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// How much.
        size: ByteSize,
    },
    /// Adds a Toxiproxy toxic to a `[[proxies]]` entry, for the run or per iteration.
    ProxyToxic {
        /// Label in reports (also names the toxic: `chaoskit-<label>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// The `[[proxies]]` name.
        proxy: String,
        /// latency, bandwidth, slow_close, timeout, reset_peer, slicer or limit_data.
        toxic: String,
        /// `upstream` (client to server) or `downstream` (default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream: Option<String>,
        /// Toxiproxy's attributes and units, e.g. `{ latency = 100, jitter = 10 }` (ms).
        #[serde(default)]
        attributes: BTreeMap<String, serde_json::Value>,
        /// Probability the toxic applies (to the run, or to each iteration). Default 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        probability: Option<f64>,
        /// Decide and apply per iteration instead of for the whole run (default false).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        per_iteration: Option<bool>,
        /// Share of connections the toxic affects once applied, in `[0, 1]` (Toxiproxy's
        /// `toxicity`; default 1). Drawn per connection from the run's seed and journaled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        toxicity: Option<f32>,
    },
    /// Takes a `[[proxies]]` entry down (its listener and connections close).
    ProxyDown {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// The `[[proxies]]` name.
        proxy: String,
        /// Probability the proxy goes down (for the run, or in each iteration). Default 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        probability: Option<f64>,
        /// Decide per iteration instead of for the whole run (default false).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        per_iteration: Option<bool>,
    },
}

/// One `[[validators]]` entry; `label` defaults to the type name, `severity` to the
/// validator's own (critical for all built-ins).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ValidatorSpec {
    /// At most `max` panics over the run.
    MaxPanics {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Panics allowed.
        max: u64,
    },
    /// Recursion depth at most `limit`.
    RecursionDepth {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Deepest allowed.
        limit: u32,
    },
    /// No tokio tasks leaked in the host.
    NoTaskLeak {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Extra tasks tolerated (default 0).
        #[serde(default)]
        tolerance: u32,
    },
    /// No OS threads leaked in the host.
    NoThreadLeak {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Extra threads tolerated (default 0).
        #[serde(default)]
        tolerance: u32,
    },
    /// Each step finishes within `timeout`, or is abandoned.
    NoStall {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Per-step budget.
        timeout: HumanDuration,
    },
    /// Each iteration takes at most `max`.
    MaxIterationTime {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Per-iteration budget.
        max: HumanDuration,
    },
    /// The host's resident memory at most `max`.
    MemoryLimit {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Limit.
        max: ByteSize,
    },
    /// The target process's resident memory at most `max`.
    TargetRss {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Limit.
        max: ByteSize,
    },
    /// The target process's threads grow by at most `max_growth` over their count at run start.
    TargetThreads {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Extra threads tolerated (default 0).
        #[serde(default)]
        max_growth: u32,
    },
    /// The target process's open file descriptors grow by at most `max_growth`.
    TargetFds {
        /// Label in reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// `critical` or `warning`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<Severity>,
        /// Extra descriptors tolerated (default 0).
        #[serde(default)]
        max_growth: u32,
    },
}

impl ValidatorSpec {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValidatorSpec::MaxPanics { .. } => "max_panics",
            ValidatorSpec::RecursionDepth { .. } => "recursion_depth",
            ValidatorSpec::NoTaskLeak { .. } => "no_task_leak",
            ValidatorSpec::NoThreadLeak { .. } => "no_thread_leak",
            ValidatorSpec::NoStall { .. } => "no_stall",
            ValidatorSpec::MaxIterationTime { .. } => "max_iteration_time",
            ValidatorSpec::MemoryLimit { .. } => "memory_limit",
            ValidatorSpec::TargetRss { .. } => "target_rss",
            ValidatorSpec::TargetThreads { .. } => "target_threads",
            ValidatorSpec::TargetFds { .. } => "target_fds",
        }
    }

    /// The label and severity, if given.
    pub fn label_and_severity(&self) -> (Option<&str>, Option<Severity>) {
        match self {
            ValidatorSpec::MaxPanics { label, severity, .. }
            | ValidatorSpec::RecursionDepth { label, severity, .. }
            | ValidatorSpec::NoTaskLeak { label, severity, .. }
            | ValidatorSpec::NoThreadLeak { label, severity, .. }
            | ValidatorSpec::NoStall { label, severity, .. }
            | ValidatorSpec::MaxIterationTime { label, severity, .. }
            | ValidatorSpec::MemoryLimit { label, severity, .. }
            | ValidatorSpec::TargetRss { label, severity, .. }
            | ValidatorSpec::TargetThreads { label, severity, .. }
            | ValidatorSpec::TargetFds { label, severity, .. } => (label.as_deref(), *severity),
        }
    }
}

/// Plugin resource limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PluginLimitsSpec {
    /// Linear memory per instance (e.g. `"64MiB"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Budget of one `decide` call (e.g. `"5ms"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide_deadline: Option<HumanDuration>,
    /// Longest delay one decision may ask for (default `"1s"`); longer ones are cut to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<HumanDuration>,
    /// Longest message kept from the plugin (default `"4KiB"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message: Option<ByteSize>,
    /// For a toxic: most bytes one `filter` call may write (default `"1MiB"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_insert: Option<ByteSize>,
    /// Most host counters the plugin may create (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_counters: Option<u32>,
    /// Longest counter name (default `"256B"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_counter_name: Option<ByteSize>,
    /// Log lines per second (default 100); the rest are suppressed and counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_rate: Option<u32>,
    /// With a `tcp:` grant: TCP sockets one instance may hold open at once (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sockets: Option<u32>,
    /// With an `fs:` grant: files one instance may hold open at once (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u32>,
    /// With an `http:` grant: outgoing requests in flight at once (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
}

/// One `[[plugins]]` entry: a WebAssembly component (injector, validator or toxic).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// Path to the `.wasm` component, relative to the scenario file.
    pub path: String,
    /// Label in reports (default: the file stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Passed to the plugin's `configure` as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<PluginLimitsSpec>,
    /// Capabilities granted (default: none).
    #[serde(default)]
    pub grants: Vec<String>,
    /// Reload the plugin when its file changes.
    #[serde(default)]
    pub watch: bool,
}

impl InjectorSpec {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            InjectorSpec::Delay { .. } => "delay",
            InjectorSpec::DelayEvery { .. } => "delay_every",
            InjectorSpec::Panic { .. } => "panic",
            InjectorSpec::Error { .. } => "error",
            InjectorSpec::Cancel { .. } => "cancel",
            InjectorSpec::Failpoint { .. } => "failpoint",
            InjectorSpec::Network { .. } => "network",
            InjectorSpec::Cpu { .. } => "cpu",
            InjectorSpec::Memory { .. } => "memory",
            InjectorSpec::ProxyToxic { .. } => "proxy_toxic",
            InjectorSpec::ProxyDown { .. } => "proxy_down",
        }
    }

    /// The label slot, to fill in a default.
    pub(crate) fn label_mut(&mut self) -> &mut Option<String> {
        match self {
            InjectorSpec::Delay { label, .. }
            | InjectorSpec::DelayEvery { label, .. }
            | InjectorSpec::Panic { label, .. }
            | InjectorSpec::Error { label, .. }
            | InjectorSpec::Cancel { label, .. }
            | InjectorSpec::Failpoint { label, .. }
            | InjectorSpec::Network { label, .. }
            | InjectorSpec::Cpu { label, .. }
            | InjectorSpec::Memory { label, .. }
            | InjectorSpec::ProxyToxic { label, .. }
            | InjectorSpec::ProxyDown { label, .. } => label,
        }
    }

    /// The label, if one was given.
    pub fn label(&self) -> Option<&str> {
        match self {
            InjectorSpec::Delay { label, .. }
            | InjectorSpec::DelayEvery { label, .. }
            | InjectorSpec::Panic { label, .. }
            | InjectorSpec::Error { label, .. }
            | InjectorSpec::Cancel { label, .. }
            | InjectorSpec::Failpoint { label, .. }
            | InjectorSpec::Network { label, .. }
            | InjectorSpec::Cpu { label, .. }
            | InjectorSpec::Memory { label, .. }
            | InjectorSpec::ProxyToxic { label, .. }
            | InjectorSpec::ProxyDown { label, .. } => label.as_deref(),
        }
    }
}
