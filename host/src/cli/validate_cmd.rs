//! `chaoskit-host validate`: every check `run` makes before it starts anything, run nothing.

use super::args::ValidateArgs;
use super::exit::{ErrorKind, ExitCodes};
use super::output;
use super::{CliError, Environment, Kind};
use crate::spec::BuildOptions;

pub(super) fn validate(args: ValidateArgs, env: &Environment) -> Result<i32, CliError> {
    let mut loaded = super::run::load(&args.scenario, env)?;
    // The same pass as `run`: plugin flags, plugins loaded and configured, the scenario
    // built; nothing is started (a process target is only configured, proxies only named).
    let (scenario, _) = super::run::prepare(&mut loaded, &args.plugins, env, false, BuildOptions::default())?;
    drop(scenario);
    let resolved = &loaded.resolved;
    if args.resolved {
        let json = serde_json::to_string_pretty(resolved).kind(ErrorKind::Config)?;
        output::print_stdout(&format!("{json}\n")).kind(ErrorKind::Config)?;
    } else {
        let plan = match (resolved.repeat, resolved.duration) {
            (_, Some(d)) => format!("for {}", crate::spec::units::format_duration(d.0)),
            (Some(n), None) => count(n as usize, "iteration"),
            (None, None) => String::new(),
        };
        output::eprint_line(&format!(
            "{}: ok — scenario `{}`: {}, {}, {}, {}; {plan}",
            resolved.file,
            resolved.name,
            count(resolved.steps.len(), "step"),
            count(resolved.injectors.len(), "injector"),
            count(resolved.validators.len(), "validator"),
            count(resolved.plugins.len(), "plugin"),
        ));
    }
    Ok(ExitCodes::PASS)
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}
