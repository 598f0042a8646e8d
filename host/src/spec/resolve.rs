//! Stage two: defaults filled in, paths resolved, cross-field rules checked.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::error::SpecError;
use super::schema::{
    InjectorSpec, PluginSpec, Preset, ProcessSpec, ProxySpec, ReadySpec, ScenarioFile, StepSpec, TargetSpec,
    ValidatorSpec,
};
use super::suggest::closest;
use super::units::HumanDuration;
use crate::report::Thresholds;
use crate::scenario::FailurePolicy;
use crate::services::parse_url;

/// Where a plugin request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginSource {
    /// A `[[plugins]]` entry.
    Scenario,
    /// A `--plugin` flag.
    CommandLine,
}

/// Resource limits of a plugin; `None` leaves the runtime's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PluginLimits {
    /// Linear memory per instance, bytes.
    pub memory_bytes: Option<u64>,
    /// Budget of one `decide` call.
    pub decide_deadline: Option<HumanDuration>,
    /// Longest delay one decision may ask for.
    pub max_delay: Option<HumanDuration>,
    /// Longest message kept from the plugin, bytes.
    pub max_message: Option<u64>,
    /// Most bytes one toxic `filter` call may write.
    pub max_insert: Option<u64>,
    /// Most host counters.
    pub max_counters: Option<u32>,
    /// Longest counter name, bytes.
    pub max_counter_name: Option<u64>,
    /// Log lines per second.
    pub log_rate: Option<u32>,
    /// TCP sockets open at once, per instance.
    pub max_sockets: Option<u32>,
    /// Files open at once, per instance.
    pub max_files: Option<u32>,
    /// Outgoing HTTP requests in flight at once.
    pub max_requests: Option<u32>,
}

/// A plugin to load: everything the plugin runtime needs, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PluginRequest {
    /// Label in reports.
    pub label: String,
    /// Absolute path of the component, or of the plugin crate to build when `build` is set.
    pub path: PathBuf,
    /// Whether `path` is a plugin crate (a directory with a `Cargo.toml`) that the host builds
    /// for `wasm32-wasip2` before loading it.
    pub build: bool,
    /// JSON passed to `configure` (`{}` when none was given).
    pub config_json: String,
    /// Limits.
    pub limits: PluginLimits,
    /// Capabilities granted.
    pub grants: Vec<String>,
    /// Reload on change.
    pub watch: bool,
    /// Where it was asked for.
    pub source: PluginSource,
}

impl PluginRequest {
    /// A request for a `--plugin` path with default settings.
    pub fn from_path(path: &Path, cwd: &Path, watch: bool) -> Self {
        let path = if path.is_absolute() { path.to_path_buf() } else { cwd.join(path) };
        PluginRequest {
            label: plugin_label(&path),
            build: path.join("Cargo.toml").is_file(),
            path,
            config_json: "{}".into(),
            limits: PluginLimits::default(),
            grants: Vec::new(),
            watch,
            source: PluginSource::CommandLine,
        }
    }
}

fn plugin_label(path: &Path) -> String {
    path.file_stem().map_or_else(|| "plugin".to_string(), |s| s.to_string_lossy().into_owned())
}

/// The target, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResolvedTarget {
    /// No target.
    None {
        /// Shown in reports.
        name: String,
    },
    /// A running service.
    Address {
        /// Shown in reports.
        name: String,
        /// `host:port`.
        address: String,
    },
    /// A process started and stopped by the host.
    Process {
        /// Shown in reports.
        name: String,
        /// Program path (or a bare name looked up in `PATH`).
        program: PathBuf,
        /// Arguments.
        args: Vec<String>,
        /// Extra environment.
        env: BTreeMap<String, String>,
        /// Working directory.
        cwd: PathBuf,
        /// Readiness check, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        ready: Option<ReadySpec>,
        /// Readiness budget.
        ready_timeout: HumanDuration,
        /// SIGTERM-to-kill budget.
        stop_timeout: HumanDuration,
    },
}

/// A scenario file with every default applied and every path resolved; serialisable, so
/// `validate --resolved` shows exactly what would run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedScenario {
    /// The file it came from.
    pub file: String,
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// Scenario name.
    pub name: String,
    /// Seed, if fixed.
    pub seed: Option<u64>,
    /// Iterations (when not a duration run).
    pub repeat: Option<u64>,
    /// Duration of a duration run.
    pub duration: Option<HumanDuration>,
    /// Iterations in flight.
    pub concurrency: usize,
    /// Failure policy.
    pub failure_policy: FailurePolicy,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Step timeout, if any.
    pub step_timeout: Option<HumanDuration>,
    /// Ctrl-C grace period.
    pub grace_period: HumanDuration,
    /// The target.
    pub target: ResolvedTarget,
    /// Steps, names filled in.
    pub steps: Vec<StepSpec>,
    /// Declared failpoint and function sites.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    /// Injectors, labels filled in.
    pub injectors: Vec<InjectorSpec>,
    /// Validators, labels filled in.
    pub validators: Vec<ValidatorSpec>,
    /// Plugins to load.
    pub plugins: Vec<PluginRequest>,
    /// Chaos proxies, `listen` filled in.
    pub proxies: Vec<ProxySpec>,
}

/// Most iterations in flight a scenario file (or `--concurrency`) may ask for.
pub const MAX_CONCURRENCY: usize = 1024;

const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() { path.to_path_buf() } else { base.join(path) }
}

/// A program: bare names stay for `PATH` lookup, paths resolve against `base`.
fn resolve_program(base: &Path, p: &str) -> PathBuf {
    if p.contains('/') { resolve_path(base, p) } else { PathBuf::from(p) }
}

fn check_addr(file: &str, key: String, addr: &str) -> Result<(), SpecError> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => {
            Err(SpecError::Invalid { file: file.into(), key, message: format!("`{addr}` is not a host:port address") })
        }
    }
}

/// Applies defaults, resolves paths against `base_dir` and checks cross-field rules.
pub fn resolve(spec: ScenarioFile, file: &str, base_dir: &Path) -> Result<ResolvedScenario, SpecError> {
    let invalid = |key: &str, message: String| SpecError::Invalid { file: file.into(), key: key.into(), message };
    let s = spec.scenario;
    if s.repeat.is_some() && s.duration.is_some() {
        return Err(invalid("scenario", "`repeat` and `duration` are exclusive; set one".into()));
    }
    if s.repeat == Some(0) {
        return Err(invalid("scenario.repeat", "0 iterations: `repeat` must be at least 1".into()));
    }
    if s.duration.is_some_and(|d| d.0.is_zero()) {
        return Err(invalid("scenario.duration", "0s: `duration` must be longer than zero".into()));
    }
    let concurrency = s.concurrency.unwrap_or(1);
    if concurrency == 0 {
        return Err(invalid("scenario.concurrency", "0: `concurrency` must be at least 1".into()));
    }
    if concurrency > MAX_CONCURRENCY {
        return Err(invalid(
            "scenario.concurrency",
            format!(
                "{concurrency}: `concurrency` must be at most {MAX_CONCURRENCY} (each iteration in flight holds a worker)"
            ),
        ));
    }
    let t = s.thresholds.unwrap_or_default();
    let mut thresholds = match t.preset.unwrap_or_default() {
        Preset::Default => Thresholds::default(),
        Preset::Strict => Thresholds::strict(),
        Preset::Relaxed => Thresholds::relaxed(),
    };
    if let Some(rate) = t.min_success_rate {
        if !(0.0..=1.0).contains(&rate) {
            return Err(invalid(
                "scenario.thresholds.min_success_rate",
                format!("{rate} is outside [0, 1] (0.95 means 95% of iterations must pass)"),
            ));
        }
        thresholds.min_success_rate = rate;
    }
    if let Some(max) = t.max_failures {
        thresholds.max_failures = Some(max);
    }
    if s.step_timeout.is_some_and(|d| d.0.is_zero()) {
        return Err(invalid("scenario.step_timeout", "0s is too short; give a duration longer than zero".into()));
    }
    if let Some(w) = t.warnings_fail {
        thresholds.warnings_fail = w;
    }
    if let Some(share) = t.require_coverage {
        if !(0.0..=1.0).contains(&share) {
            return Err(invalid("scenario.thresholds.require_coverage", format!("{share} is outside [0, 1]")));
        }
        thresholds.require_coverage = Some(share);
    }

    let target = match spec.target {
        None => ResolvedTarget::None { name: s.name.clone() },
        Some(TargetSpec::Address(a)) => {
            check_addr(file, "target.address".into(), &a.address)?;
            ResolvedTarget::Address { name: a.name.unwrap_or_else(|| a.address.clone()), address: a.address }
        }
        Some(TargetSpec::Process(p)) => resolve_process(p, file, base_dir)?,
    };

    let mut names = HashSet::new();
    let mut steps = Vec::with_capacity(spec.steps.len());
    for (n, mut step) in spec.steps.into_iter().enumerate() {
        let key = |field: &str| format!("steps[{n}].{field}");
        let (name, kind) = match &mut step {
            StepSpec::Http(h) => {
                parse_url(&h.url).map_err(|e| invalid(&key("url"), e))?;
                if let Some(m) = &h.method
                    && hyper::Method::from_bytes(m.as_bytes()).is_err()
                {
                    return Err(invalid(&key("method"), format!("`{m}` is not an HTTP method")));
                }
                (&mut h.name, "http")
            }
            StepSpec::Tcp(t) => {
                check_addr(file, key("address"), &t.address)?;
                (&mut t.name, "tcp")
            }
            StepSpec::Command(c) => {
                c.command = resolve_program(base_dir, &c.command).display().to_string();
                c.cwd = Some(
                    c.cwd
                        .as_deref()
                        .map_or_else(|| base_dir.to_path_buf(), |d| resolve_path(base_dir, d))
                        .display()
                        .to_string(),
                );
                (&mut c.name, "command")
            }
        };
        let name = name.get_or_insert_with(|| format!("{kind}-{}", n + 1)).clone();
        if !names.insert(name.clone()) {
            return Err(invalid(&key("name"), format!("step `{name}` is defined twice; step names must be unique")));
        }
        steps.push(step);
    }

    let mut injectors = spec.injectors;
    for i in injectors.iter_mut() {
        let default = i.type_name();
        i.label_mut().get_or_insert_with(|| default.to_string());
    }
    unique(file, "injectors", injectors.iter().map(|i| i.label().unwrap_or_default()))?;
    for (n, i) in injectors.iter().enumerate() {
        check_injector(i).map_err(|(field, message)| invalid(&format!("injectors[{n}].{field}"), message))?;
    }

    let mut proxies = spec.proxies;
    for (n, p) in proxies.iter_mut().enumerate() {
        p.listen.get_or_insert_with(|| "127.0.0.1:0".into());
        if p.upstream.trim().is_empty() {
            return Err(invalid(&format!("proxies[{n}].upstream"), "the upstream `host:port` is required".into()));
        }
        if let Some(server) = &p.server {
            crate::proxy::Client::new(server).map_err(|e| invalid(&format!("proxies[{n}].server"), e.to_string()))?;
        }
    }
    unique(file, "proxies", proxies.iter().map(|p| p.name.as_str()))?;
    for (n, i) in injectors.iter().enumerate() {
        let (proxy, toxic) = match i {
            InjectorSpec::ProxyToxic { proxy, toxic, stream, attributes, .. } => {
                if let Some(stream) = stream
                    && crate::proxy::Stream::parse(stream).is_none()
                {
                    return Err(invalid(
                        &format!("injectors[{n}].stream"),
                        format!("unknown stream `{stream}`; valid values: `upstream`, `downstream`"),
                    ));
                }
                (proxy, Some((toxic, attributes)))
            }
            InjectorSpec::ProxyDown { proxy, .. } => (proxy, None),
            _ => continue,
        };
        if !proxies.iter().any(|p| &p.name == proxy) {
            let names: Vec<&str> = proxies.iter().map(|p| p.name.as_str()).collect();
            let hint =
                closest(proxy, names.iter().copied()).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
            let valid = if names.is_empty() {
                "none: add a `[[proxies]]` entry".to_string()
            } else {
                format!("`{}`", names.join("`, `"))
            };
            return Err(invalid(
                &format!("injectors[{n}].proxy"),
                format!("no proxy named `{proxy}`; defined: {valid}{hint}"),
            ));
        }
        if let Some((toxic, attributes)) = toxic {
            const TOXICS: [&str; 7] =
                ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"];
            // A `[[plugins]]` entry may be a toxic plugin; its attributes are checked by the
            // plugin when the toxic is added.
            let plugin_toxic = spec.plugins.iter().any(|p| {
                p.label.as_deref().map_or_else(|| plugin_label(std::path::Path::new(&p.path)) == *toxic, |l| l == toxic)
            });
            if plugin_toxic {
                continue;
            }
            if !TOXICS.contains(&toxic.as_str()) {
                let hint = closest(toxic, TOXICS).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
                return Err(invalid(
                    &format!("injectors[{n}].toxic"),
                    format!(
                        "unknown toxic `{toxic}`; valid values: `{}`, or the label of a toxic plugin in `[[plugins]]`{hint}",
                        TOXICS.join("`, `")
                    ),
                ));
            }
            let attrs: serde_json::Map<String, serde_json::Value> = attributes.clone().into_iter().collect();
            let kind = crate::proxy::ToxicKind::from_attributes(toxic, &attrs)
                .map_err(|e| invalid(&format!("injectors[{n}].attributes"), e.to_string()))?;
            kind.validate().map_err(|e| invalid(&format!("injectors[{n}].attributes"), e.to_string()))?;
        }
    }

    let mut validators = spec.validators;
    let process_target = matches!(target, ResolvedTarget::Process { .. });
    for (n, v) in validators.iter_mut().enumerate() {
        let default = v.type_name();
        if default.starts_with("target_") && !process_target {
            return Err(invalid(
                &format!("validators[{n}]"),
                format!("`{default}` watches the target process; it needs `[target] type = \"process\"`"),
            ));
        }
        set_validator_label(v, default);
    }
    unique(file, "validators", validators.iter().map(|v| v.label_and_severity().0.unwrap_or_default()))?;

    let mut plugins = Vec::with_capacity(spec.plugins.len());
    for (n, p) in spec.plugins.into_iter().enumerate() {
        let mut p = p;
        for (k, grant) in p.grants.iter_mut().enumerate() {
            let at = format!("plugins[{n}].grants[{k}]");
            *grant = resolve_grant(grant, base_dir).map_err(|message| invalid(&at, message))?;
        }
        plugins.push(resolve_plugin(p, base_dir).map_err(|m| invalid(&format!("plugins[{n}].path"), m))?);
    }

    super::sites::check(file, &steps, &injectors, &spec.sites)?;
    Ok(ResolvedScenario {
        sites: spec.sites,
        file: file.into(),
        base_dir: base_dir.to_path_buf(),
        name: s.name,
        seed: s.seed,
        repeat: if s.duration.is_some() { None } else { Some(s.repeat.unwrap_or(1)) },
        duration: s.duration,
        concurrency,
        failure_policy: s.failure_policy.unwrap_or_default(),
        thresholds,
        step_timeout: s.step_timeout,
        grace_period: s.grace_period.unwrap_or(HumanDuration(DEFAULT_GRACE)),
        target,
        steps,
        injectors,
        validators,
        plugins,
        proxies,
    })
}

/// Capabilities a scenario can grant a plugin.
/// Check a grant's text (as `run` will read it) and what it names on the host; a directory is
/// made absolute against `base_dir`, so the grant means the same from any working directory.
pub(crate) fn resolve_grant(text: &str, base_dir: &Path) -> Result<String, String> {
    let grant = crate::grant::Grant::parse(text).map_err(|message| {
        let kind = text.split(':').next().unwrap_or(text);
        match closest(kind, crate::grant::GRANT_KINDS) {
            Some(c) if c != kind && message.starts_with("unknown grant") => format!("{message} (did you mean `{c}`?)"),
            _ => message,
        }
    })?;
    let grant = grant.resolve(base_dir);
    if let Some(problem) = grant.check_host() {
        return Err(problem);
    }
    Ok(match grant {
        crate::grant::Grant::Dir { .. } => grant.to_string(),
        _ => text.to_string(),
    })
}

/// A probability must be a share.
fn probability(field: &str, p: f64) -> Result<(), (String, String)> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err((field.to_string(), format!("probability {p} is outside [0, 1] (0.1 means 10% of chaos points)")))
    }
}

/// A delay range must not be upside down.
fn range(min: HumanDuration, max: HumanDuration) -> Result<(), (String, String)> {
    if min <= max {
        return Ok(());
    }
    Err((
        "min".to_string(),
        format!("min {min} is longer than max {max}; `min` must be at most `max` (swap them, or set both to {min})"),
    ))
}

/// What serde cannot check about one injector: shares in `[0, 1]`, ranges the right way
/// round, intervals and worker counts above zero. Returns the field at fault and why.
fn check_injector(i: &InjectorSpec) -> Result<(), (String, String)> {
    match i {
        InjectorSpec::Delay { probability: p, min, max, .. } => {
            probability("probability", *p)?;
            range(*min, *max)
        }
        InjectorSpec::DelayEvery { interval, min, max, .. } => {
            if interval.0.is_zero() {
                return Err(("interval".into(), "0s: `interval` must be longer than zero".into()));
            }
            range(*min, *max)
        }
        InjectorSpec::Panic { probability: p, .. }
        | InjectorSpec::Error { probability: p, .. }
        | InjectorSpec::Cancel { probability: p, .. }
        | InjectorSpec::Failpoint { probability: p, .. } => probability("probability", *p),
        InjectorSpec::Network { rules, .. } => {
            for (k, r) in rules.iter().enumerate() {
                if let Some(p) = r.probability {
                    probability(&format!("rules[{k}].probability"), p)?;
                }
                if let Some(d) = r.drop
                    && !(0.0..=1.0).contains(&d)
                {
                    return Err((
                        format!("rules[{k}].drop"),
                        format!("drop probability {d} is outside [0, 1] (0.05 drops 5% of connections)"),
                    ));
                }
            }
            Ok(())
        }
        InjectorSpec::Cpu { workers, duty, .. } => {
            if *workers == Some(0) {
                return Err(("workers".into(), "0 workers: `workers` must be at least 1".into()));
            }
            match duty {
                Some(d) if !(0.0..=1.0).contains(d) => {
                    Err(("duty".into(), format!("duty {d} is outside [0, 1] (0.5 keeps a core half busy)")))
                }
                _ => Ok(()),
            }
        }
        InjectorSpec::Memory { .. } => Ok(()),
        InjectorSpec::ProxyToxic { probability: p, .. } | InjectorSpec::ProxyDown { probability: p, .. } => {
            p.map_or(Ok(()), |p| probability("probability", p))
        }
    }
}

fn set_validator_label(v: &mut ValidatorSpec, default: &str) {
    match v {
        ValidatorSpec::MaxPanics { label, .. }
        | ValidatorSpec::RecursionDepth { label, .. }
        | ValidatorSpec::NoTaskLeak { label, .. }
        | ValidatorSpec::NoThreadLeak { label, .. }
        | ValidatorSpec::NoStall { label, .. }
        | ValidatorSpec::MaxIterationTime { label, .. }
        | ValidatorSpec::MemoryLimit { label, .. }
        | ValidatorSpec::TargetRss { label, .. }
        | ValidatorSpec::TargetThreads { label, .. }
        | ValidatorSpec::TargetFds { label, .. } => {
            label.get_or_insert_with(|| default.to_string());
        }
    }
}

fn unique<'a>(file: &str, what: &str, labels: impl Iterator<Item = &'a str>) -> Result<(), SpecError> {
    let mut seen = HashSet::new();
    for (n, label) in labels.enumerate() {
        if !seen.insert(label) {
            return Err(SpecError::Invalid {
                file: file.into(),
                key: format!("{what}[{n}].label"),
                message: format!(
                    "two {what} are labelled `{label}` (a label defaults to the type name); give each a distinct `label`"
                ),
            });
        }
    }
    Ok(())
}

fn resolve_process(p: ProcessSpec, file: &str, base_dir: &Path) -> Result<ResolvedTarget, SpecError> {
    if let Some(ready) = &p.ready {
        let invalid = |message: String| SpecError::Invalid { file: file.into(), key: "target.ready".into(), message };
        match (&ready.tcp, &ready.http) {
            (Some(addr), None) => check_addr(file, "target.ready.tcp".into(), addr)?,
            (None, Some(url)) => {
                parse_url(url).map_err(|e| SpecError::Invalid {
                    file: file.into(),
                    key: "target.ready.http".into(),
                    message: e,
                })?;
            }
            _ => return Err(invalid("set exactly one of `tcp` or `http`".into())),
        }
    }
    let program = resolve_program(base_dir, &p.command);
    let name =
        p.name.unwrap_or_else(|| program.file_name().map_or(p.command.clone(), |n| n.to_string_lossy().into_owned()));
    Ok(ResolvedTarget::Process {
        name,
        program,
        args: p.args,
        env: p.env,
        cwd: p.cwd.as_deref().map_or_else(|| base_dir.to_path_buf(), |d| resolve_path(base_dir, d)),
        ready_timeout: p.ready.as_ref().and_then(|r| r.timeout).unwrap_or(HumanDuration(DEFAULT_READY_TIMEOUT)),
        ready: p.ready,
        stop_timeout: p.stop_timeout.unwrap_or(HumanDuration(DEFAULT_STOP_TIMEOUT)),
    })
}

fn resolve_plugin(p: PluginSpec, base_dir: &Path) -> Result<PluginRequest, String> {
    let path = resolve_path(base_dir, &p.path);
    let build = path.is_dir() && path.join("Cargo.toml").is_file();
    if !path.is_file() && !build {
        return Err(format!(
            "no component file or plugin crate directory at `{}` (relative paths start at the scenario file's directory)",
            p.path
        ));
    }
    let limits = p.limits.unwrap_or_default();
    Ok(PluginRequest {
        label: p.label.unwrap_or_else(|| plugin_label(&path)),
        build,
        path,
        config_json: p.config.map_or_else(|| "{}".to_string(), |c| c.to_string()),
        limits: PluginLimits {
            memory_bytes: limits.memory.map(|m| m.0),
            decide_deadline: limits.decide_deadline,
            max_delay: limits.max_delay,
            max_message: limits.max_message.map(|m| m.0),
            max_insert: limits.max_insert.map(|m| m.0),
            max_counters: limits.max_counters,
            max_counter_name: limits.max_counter_name.map(|m| m.0),
            log_rate: limits.log_rate,
            max_sockets: limits.max_sockets,
            max_files: limits.max_files,
            max_requests: limits.max_requests,
        },
        grants: p.grants,
        watch: p.watch,
        source: PluginSource::Scenario,
    })
}
