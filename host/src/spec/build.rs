//! Stage three: a resolved scenario becomes a runnable `Scenario<ServiceTarget>`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::SpecError;
use super::resolve::{ResolvedScenario, ResolvedTarget};
use super::schema::{FailAction, InjectorSpec, StepSpec, ValidatorSpec};
use crate::chaos::Action;
use crate::inject::{self, Injector, NetworkRule};
use crate::proxy::{Client, Proxy, Stream, ToxicKind};
use crate::scenario::{BuildError, Scenario};
use crate::services::{
    CommandCall, HttpCall, PidCell, ProcessConfig, ProcessTarget, ProxySet, Readiness, ReadinessObserver,
    ServiceTarget, TargetFds, TargetRss, TargetThreads, TcpCall, parse_url,
};
use crate::validate::{self, Validator, ValidatorExt};

/// Injectors and validators the plugin runtime made from the scenario's plugin requests.
#[derive(Default)]
pub struct PluginParts {
    /// `(label, injector)` pairs, added after the built-in injectors.
    pub injectors: Vec<(String, Box<dyn Injector>)>,
    /// `(label, validator)` pairs, added after the built-in validators.
    pub validators: Vec<(String, Box<dyn Validator>)>,
    /// Custom toxic types (Wasm `toxic` plugins) for the scenario's in-process proxies; a
    /// `proxy_toxic` injector names one by its label.
    pub toxics: Vec<std::sync::Arc<dyn crate::proxy::ToxicPlugin>>,
}

/// What building needs from outside the file.
#[derive(Default)]
pub struct BuildOptions {
    /// Where a process target's output goes (`<dir>/target.stdout.log`, `.stderr.log`);
    /// discarded when `None`.
    pub log_dir: Option<PathBuf>,
    /// Stops waiting for a process target's readiness (Ctrl-C).
    pub cancel: CancellationToken,
    /// Plugin-made injectors and validators.
    pub plugins: PluginParts,
    /// Told what a process target is waiting for while it starts (progress).
    pub on_target_wait: Option<ReadinessObserver>,
    /// Told how long each step run took and whether it passed (per-step metrics).
    pub on_step: Option<StepObserver>,
}

/// Called after every step run with the step's name, its duration and whether it passed.
#[derive(Clone)]
pub struct StepObserver(pub Arc<StepFn>);

/// What a [`StepObserver`] calls: the step's name, how long it ran, whether it passed.
pub type StepFn = dyn Fn(&str, Duration, bool) + Send + Sync;

/// Runs `run` and tells `observer` how it went.
async fn observed<F, T, E>(observer: &Option<StepObserver>, name: &str, run: F) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    let Some(observer) = observer else {
        return run.await;
    };
    let started = std::time::Instant::now();
    let result = run.await;
    (observer.0)(name, started.elapsed(), result.is_ok());
    result
}

const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes the scenario the executor runs.
pub fn build(r: &ResolvedScenario, options: BuildOptions) -> Result<Scenario<ServiceTarget>, SpecError> {
    if r.steps.is_empty() {
        return Err(invalid(r, "steps", "a scenario needs at least one step (`[[steps]]`)".into()));
    }
    let target = match &r.target {
        ResolvedTarget::None { name } => ServiceTarget::none(name),
        ResolvedTarget::Address { name, address } => ServiceTarget::address(name, address),
        ResolvedTarget::Process { name, program, args, env, cwd, ready, ready_timeout, stop_timeout } => {
            let ready = match ready {
                Some(r) => match (&r.tcp, &r.http) {
                    (Some(addr), _) => Readiness::Tcp(addr.clone()),
                    (None, Some(url)) => Readiness::Http(url.clone()),
                    (None, None) => Readiness::Started,
                },
                None => Readiness::Started,
            };
            let config = ProcessConfig {
                program: program.clone(),
                args: args.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
                ready,
                ready_timeout: ready_timeout.0,
                stop_timeout: stop_timeout.0,
                log_prefix: options.log_dir.as_ref().map(|d| d.join("target")),
                on_wait: options.on_target_wait.clone(),
            };
            ServiceTarget::process(name, ProcessTarget::new(config, options.cancel.clone()))
        }
    };
    // The seed is settled before anything is built from it: in-process proxies draw from it
    // too, so rerunning with the reported seed replays their draws as well.
    let seed = r.seed.unwrap_or_else(crate::run::fresh_seed);
    let decisions = crate::chaos::DecisionLog::new();
    let mut proxies = ProxySet::with_toxic_plugins(seed, decisions.clone(), options.plugins.toxics.clone());
    for (n, p) in r.proxies.iter().enumerate() {
        let server = match &p.server {
            Some(url) => {
                Some(Client::new(url).map_err(|e| invalid(r, &format!("proxies[{n}].server"), e.to_string()))?)
            }
            None => None,
        };
        let listen = p.listen.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        proxies.add(Proxy::new(p.name.clone(), listen, p.upstream.clone()), server);
    }
    let pid = target.pid_cell();

    let mut b = Scenario::builder(r.name.clone())
        .concurrency(r.concurrency)
        .failure_policy(r.failure_policy)
        .thresholds(r.thresholds);
    b = match (r.repeat, r.duration) {
        (_, Some(d)) => b.run_for(d.0),
        (Some(n), None) => b.repeat(n),
        (None, None) => b,
    };
    b = b.seed(seed).decision_log(decisions);
    if let Some(t) = r.step_timeout {
        b = b.step_timeout(t.0);
    }

    for step in &r.steps {
        b = match step {
            StepSpec::Http(h) => {
                let name = h.name.clone().unwrap_or_default();
                let call = Arc::new(HttpCall {
                    name: name.clone(),
                    method: h.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase(),
                    url: parse_url(&h.url).map_err(|m| invalid(r, "steps", m))?,
                    headers: h.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    body: h.body.clone(),
                    expect_status: h.expect_status.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
                    expect_body: h.expect_body.clone(),
                    timeout: h.timeout.map_or(DEFAULT_STEP_TIMEOUT, |t| t.0),
                });
                let observer = options.on_step.clone();
                b.step(name, move |ctx, _target| {
                    let call = call.clone();
                    let observer = observer.clone();
                    async move { observed(&observer, &call.name, call.run(&ctx)).await }
                })
            }
            StepSpec::Tcp(t) => {
                let name = t.name.clone().unwrap_or_default();
                let call = Arc::new(TcpCall {
                    name: name.clone(),
                    address: t.address.clone(),
                    send: t.send.clone(),
                    expect: t.expect.clone(),
                    timeout: t.timeout.map_or(DEFAULT_STEP_TIMEOUT, |t| t.0),
                });
                let observer = options.on_step.clone();
                b.step(name, move |ctx, _target| {
                    let call = call.clone();
                    let observer = observer.clone();
                    async move { observed(&observer, &call.name, call.run(&ctx)).await }
                })
            }
            StepSpec::Command(c) => {
                let name = c.name.clone().unwrap_or_default();
                let call = Arc::new(CommandCall {
                    name: name.clone(),
                    program: PathBuf::from(&c.command),
                    args: c.args.clone(),
                    env: c.env.clone(),
                    cwd: c.cwd.as_ref().map_or_else(|| r.base_dir.clone(), PathBuf::from),
                    timeout: c.timeout.map_or(DEFAULT_COMMAND_TIMEOUT, |t| t.0),
                });
                let observer = options.on_step.clone();
                b.step(name, move |ctx, _target| {
                    let call = call.clone();
                    let observer = observer.clone();
                    async move { observed(&observer, &call.name, call.run(&ctx)).await }
                })
            }
        };
    }

    for (n, spec) in r.injectors.iter().enumerate() {
        let injector = injector(spec, &proxies).map_err(|m| invalid(r, &format!("injectors[{n}]"), m))?;
        b = b.inject(spec.label().unwrap_or(spec.type_name()).to_string(), injector);
    }
    for spec in &r.validators {
        let (label, severity) = spec.label_and_severity();
        let label = label.unwrap_or(spec.type_name()).to_string();
        let v = validator(spec, pid.clone());
        b = match severity {
            Some(s) => b.assert(label, v.with_severity(s)),
            None => b.assert(label, v),
        };
    }
    for (label, i) in options.plugins.injectors {
        b = b.inject(label, i);
    }
    for (label, v) in options.plugins.validators {
        b = b.assert(label, v);
    }

    b.target(target.with_proxies(proxies)).build().map_err(|e| match e {
        BuildError::InvalidInjector { label, reason, .. } => {
            let key = r
                .injectors
                .iter()
                .position(|i| i.label() == Some(label.as_str()))
                .map_or_else(|| format!("plugins (`{label}`)"), |n| format!("injectors[{n}]"));
            SpecError::Invalid { file: r.file.clone(), key, message: reason }
        }
        BuildError::DuplicateLabel { what, label, .. } => SpecError::Invalid {
            file: r.file.clone(),
            key: what.to_string(),
            message: format!("two {what} are labelled `{label}`; give each a distinct `label`"),
        },
        other => invalid(r, "scenario", other.to_string()),
    })
}

fn invalid(r: &ResolvedScenario, key: &str, message: String) -> SpecError {
    SpecError::Invalid { file: r.file.clone(), key: key.into(), message }
}

pub(super) fn injector(spec: &InjectorSpec, proxies: &ProxySet) -> Result<Box<dyn Injector>, String> {
    Ok(match spec {
        InjectorSpec::Delay { probability, min, max, .. } => Box::new(inject::delay(*probability, min.0, max.0)),
        InjectorSpec::DelayEvery { interval, min, max, .. } => Box::new(inject::delay_every(interval.0, min.0, max.0)),
        InjectorSpec::Panic { probability, message, .. } => {
            let p = inject::panic(*probability);
            Box::new(match message {
                Some(m) => p.message(m.clone()),
                None => p,
            })
        }
        InjectorSpec::Error { probability, message, .. } => {
            let e = inject::error(*probability);
            Box::new(match message {
                Some(m) => e.message(m.clone()),
                None => e,
            })
        }
        InjectorSpec::Cancel { probability, .. } => Box::new(inject::cancel(*probability)),
        InjectorSpec::Failpoint { name, probability, action, delay, message, .. } => {
            let message = message.clone().unwrap_or_else(|| format!("failpoint `{name}` fired"));
            let action = match action {
                FailAction::Delay => Action::Delay(delay.map_or(Duration::from_millis(100), |d| d.0)),
                FailAction::Error => Action::Error(message),
                FailAction::Panic => Action::Panic(message),
                FailAction::Cancel => Action::Cancel,
            };
            Box::new(inject::failpoint(name.clone(), *probability, action))
        }
        InjectorSpec::Network { rules, .. } => {
            let mut n = inject::network();
            for rule in rules {
                n = n.rule(
                    NetworkRule::new(rule.host.clone())
                        .latency(rule.latency.map_or(Duration::ZERO, |d| d.0))
                        .jitter(rule.jitter.map_or(Duration::ZERO, |d| d.0))
                        .drop(rule.drop.unwrap_or(0.0))
                        .probability(rule.probability.unwrap_or(1.0)),
                );
            }
            Box::new(n)
        }
        InjectorSpec::Cpu { workers, duty, .. } => Box::new(inject::cpu(workers.unwrap_or(1), duty.unwrap_or(0.5))),
        InjectorSpec::Memory { size, .. } => Box::new(inject::memory(usize::try_from(size.0).unwrap_or(usize::MAX))),
        InjectorSpec::ProxyToxic { proxy, toxic, stream, attributes, probability, per_iteration, toxicity, .. } => {
            let endpoint = proxies.endpoint(proxy).ok_or_else(|| format!("no proxy named `{proxy}`"))?;
            let attrs: serde_json::Map<String, serde_json::Value> = attributes.clone().into_iter().collect();
            let kind = ToxicKind::from_attributes(toxic, &attrs).map_err(|e| e.to_string())?;
            let stream = stream.as_deref().map_or(Some(Stream::Downstream), Stream::parse).ok_or("unknown stream")?;
            let fault = inject::proxy_toxic(endpoint, proxy.clone(), stream, kind)
                .probability(probability.unwrap_or(1.0))
                .toxicity(toxicity.unwrap_or(1.0));
            if per_iteration.unwrap_or(false) { Box::new(fault.per_iteration()) } else { Box::new(fault) }
        }
        InjectorSpec::ProxyDown { proxy, probability, per_iteration, .. } => {
            let endpoint = proxies.endpoint(proxy).ok_or_else(|| format!("no proxy named `{proxy}`"))?;
            let fault = inject::proxy_down(endpoint, proxy.clone()).probability(probability.unwrap_or(1.0));
            if per_iteration.unwrap_or(false) { Box::new(fault.per_iteration()) } else { Box::new(fault) }
        }
    })
}

pub(super) fn validator(spec: &ValidatorSpec, pid: Option<PidCell>) -> Box<dyn Validator> {
    // `resolve` refuses target validators without a process target; a default cell then
    // reads as "not running", never as another process.
    let pid = || pid.clone().unwrap_or_default();
    match spec {
        ValidatorSpec::MaxPanics { max, .. } => Box::new(validate::max_panics(*max)),
        ValidatorSpec::RecursionDepth { limit, .. } => Box::new(validate::recursion_depth(*limit)),
        ValidatorSpec::NoTaskLeak { tolerance, .. } => Box::new(validate::no_task_leak(*tolerance)),
        ValidatorSpec::NoThreadLeak { tolerance, .. } => Box::new(validate::no_thread_leak(*tolerance)),
        ValidatorSpec::NoStall { timeout, .. } => Box::new(validate::no_stall(timeout.0)),
        ValidatorSpec::MaxIterationTime { max, .. } => Box::new(validate::max_iteration_time(max.0)),
        ValidatorSpec::MemoryLimit { max, .. } => Box::new(validate::memory_limit(max.0)),
        ValidatorSpec::TargetRss { max, .. } => Box::new(TargetRss::new(pid(), max.0)),
        ValidatorSpec::TargetThreads { max_growth, .. } => Box::new(TargetThreads::new(pid(), *max_growth)),
        ValidatorSpec::TargetFds { max_growth, .. } => Box::new(TargetFds::new(pid(), *max_growth)),
    }
}
