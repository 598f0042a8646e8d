//! Failpoint and function sites in scenario files: which names are known, and a file's
//! faults applied to a program's own steps.
//!
//! A `failpoint` injector names a site or a pattern (`db.*`, `shop::*`). The sites a file
//! knows are its steps (each step is a failpoint named after it) and the names it declares
//! in `sites = [...]`: the `fail_point!` names and `#[chaos_fn]` functions
//! (`module::path::function`) of the program under test. The host cannot see inside
//! another program, so the file says what is there; a name or pattern that matches none of
//! them is refused by `validate` (with the closest known name), instead of never firing.

use super::build::{injector, validator};
use super::error::SpecError;
use super::resolve::ResolvedScenario;
use super::schema::{InjectorSpec, StepSpec};
use super::suggest::closest;
use crate::scenario::{ScenarioBuilder, Target};
use crate::services::ProxySet;
use crate::validate::ValidatorExt;

/// Refuses a `failpoint` injector whose name or pattern matches no step and no declared site.
pub(super) fn check(
    file: &str,
    steps: &[StepSpec],
    injectors: &[InjectorSpec],
    sites: &[String],
) -> Result<(), SpecError> {
    let step_names = steps.iter().filter_map(|s| match s {
        StepSpec::Http(h) => h.name.as_deref(),
        StepSpec::Tcp(t) => t.name.as_deref(),
        StepSpec::Command(c) => c.name.as_deref(),
    });
    let known: Vec<&str> = step_names.chain(sites.iter().map(String::as_str)).collect();
    for (n, spec) in injectors.iter().enumerate() {
        let InjectorSpec::Failpoint { name, .. } = spec else { continue };
        if known.iter().any(|k| crate::sites::matches(name, k)) {
            continue;
        }
        let hint = if crate::sites::is_pattern(name) { None } else { closest(name, known.iter().copied()) };
        let listed = if known.is_empty() {
            "none".to_string()
        } else {
            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        };
        return Err(SpecError::Invalid {
            file: file.into(),
            key: format!("injectors[{n}].name"),
            message: format!(
                "`{name}` matches no step and no declared site (known: {listed}){}; list the program's \
                 `fail_point!` names and `#[chaos_fn]` functions in `sites = [...]`",
                hint.map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
            ),
        });
    }
    Ok(())
}

/// Applies a scenario file's plan (seed, iterations, concurrency, policy, thresholds, step
/// timeout), built-in injectors and built-in validators to `builder`, for a program whose
/// steps are its own code (e.g. functions with `fail_point!` sites or `#[chaos_fn]`): the
/// file decides the faults, by site name or glob, and the run decides them seeded and
/// journaled. The file's `steps` and `target` are not used (`steps` may be left out);
/// proxy faults and plugins need `chaoskit-host run` and are refused.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let file = chaoskit::spec::load_file("faults.toml".as_ref())?;
/// let resolved = chaoskit::spec::resolve(file, "faults.toml", ".".as_ref())?;
/// let builder = chaoskit::Scenario::builder(resolved.name.clone())
///     .target(chaoskit::target("orders", ()))
///     .step("place order", |_ctx, _orders| async move { Ok::<_, chaoskit::ChaosError>(()) });
/// let scenario = chaoskit::spec::apply(&resolved, builder)?.build()?;
/// let report = chaoskit::run(scenario).await?;
/// # let _ = report; Ok(()) }
/// ```
pub fn apply<T: Target>(r: &ResolvedScenario, builder: ScenarioBuilder<T>) -> Result<ScenarioBuilder<T>, SpecError> {
    let invalid = |key: String, message: String| SpecError::Invalid { file: r.file.clone(), key, message };
    if !r.plugins.is_empty() || !r.proxies.is_empty() {
        let key = if r.plugins.is_empty() { "proxies" } else { "plugins" };
        return Err(invalid(
            key.into(),
            "plugins and proxies need `chaoskit-host run`; a program's own steps take built-in injectors only".into(),
        ));
    }
    let mut b = builder.concurrency(r.concurrency).failure_policy(r.failure_policy).thresholds(r.thresholds);
    b = match (r.repeat, r.duration) {
        (_, Some(d)) => b.run_for(d.0),
        (Some(n), None) => b.repeat(n),
        (None, None) => b,
    };
    if let Some(seed) = r.seed {
        b = b.seed(seed);
    }
    if let Some(t) = r.step_timeout {
        b = b.step_timeout(t.0);
    }
    let proxies = ProxySet::new(r.seed.unwrap_or(0), crate::chaos::DecisionLog::new());
    for (n, spec) in r.injectors.iter().enumerate() {
        let made = injector(spec, &proxies).map_err(|m| invalid(format!("injectors[{n}]"), m))?;
        b = b.inject(spec.label().unwrap_or(spec.type_name()).to_string(), made);
    }
    for spec in &r.validators {
        let (label, severity) = spec.label_and_severity();
        let label = label.unwrap_or(spec.type_name()).to_string();
        let v = validator(spec, None);
        b = match severity {
            Some(s) => b.assert(label, v.with_severity(s)),
            None => b.assert(label, v),
        };
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::spec::{Format, from_str, resolve};

    fn resolve_toml(sites: &str, name: &str) -> Result<crate::spec::ResolvedScenario, String> {
        let text = format!(
            "version = 1\n{sites}\n[scenario]\nname = \"s\"\n\n[[steps]]\ntype = \"command\"\nname = \"pay\"\ncommand = \"true\"\n\n[[injectors]]\ntype = \"failpoint\"\nname = \"{name}\"\nprobability = 0.1\naction = \"error\"\n"
        );
        let file = from_str(&text, Format::Toml, "s.toml").map_err(|e| e.to_string())?;
        resolve(file, "s.toml", Path::new(".")).map_err(|e| e.to_string())
    }

    #[test]
    fn failpoint_names_must_match_a_step_or_a_declared_site() {
        let sites = "sites = [\"db.write\", \"shop::checkout::pay\"]";
        assert!(resolve_toml(sites, "db.write").is_ok());
        assert!(resolve_toml(sites, "pay").is_ok(), "a step is a failpoint");
        assert!(resolve_toml(sites, "db.*").is_ok());
        assert!(resolve_toml(sites, "shop::*").is_ok());
        let typo = resolve_toml(sites, "db.wirte").unwrap_err();
        assert!(typo.contains("injectors[0].name: `db.wirte` matches no step and no declared site"), "{typo}");
        assert!(typo.contains("(did you mean `db.write`?)"), "{typo}");
        let pattern = resolve_toml(sites, "cache.*").unwrap_err();
        assert!(pattern.contains("known: `pay`, `db.write`, `shop::checkout::pay`"), "{pattern}");
        let undeclared = resolve_toml("", "db.write").unwrap_err();
        assert!(undeclared.contains("list the program's `fail_point!` names"), "{undeclared}");
    }

    #[test]
    fn a_file_without_steps_applies_its_faults_to_code_steps() {
        let text = "version = 1\nsites = [\"db.*\"]\n[scenario]\nname = \"code\"\nrepeat = 7\nseed = 3\n\
                    thresholds = { require_coverage = 1.0 }\n\n[[injectors]]\ntype = \"failpoint\"\n\
                    name = \"db.*\"\nprobability = 1.0\naction = \"error\"\n";
        let resolved = resolve(from_str(text, Format::Toml, "c.toml").unwrap(), "c.toml", Path::new(".")).unwrap();
        assert_eq!(resolved.thresholds.require_coverage, Some(1.0));
        let builder = crate::Scenario::builder("code")
            .target(crate::target("t", ()))
            .step("s", |ctx, _t| async move { ctx.failpoint("db.write").await });
        let scenario = super::apply(&resolved, builder).unwrap().build().unwrap();
        assert_eq!(scenario.seed(), Some(3));
        // The CLI path still wants steps.
        let err = crate::spec::build(&resolved, Default::default()).err().unwrap();
        assert!(err.to_string().contains("at least one step"), "{err}");
    }
}
