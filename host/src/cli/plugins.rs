//! Plugins: the one place plugin requests become injectors and validators.

use anyhow::anyhow;

use super::args::{PluginArgs, PluginCommand};
use super::exit::{CliError, ErrorKind};
use crate::spec::{PluginParts, PluginRequest};

/// The message of every plugin entry point until the Wasm runtime is wired in.
const NOT_BUILT: &str = "plugin support is not built into this binary yet";

/// Turns plugin requests (scenario `[[plugins]]` and `--plugin` flags) into injectors and
/// validators. No requests: no plugins, nothing to load.
pub(super) fn resolve_plugins(requests: &[PluginRequest]) -> Result<PluginParts, CliError> {
    let Some(first) = requests.first() else {
        return Ok(PluginParts::default());
    };
    // PLUGIN-HOOK: load each request with the plugin runtime, e.g.
    //   let host = chaoskit::plugin::PluginHost::new()?;
    //   for r in requests {
    //       let spec = PluginSpec::new(&r.path).config(&r.config_json).limits(..r.limits..)
    //           .grant(..r.grants..).watch(r.watch);
    //       match host.load(spec)? {   // errors → ErrorKind::PluginLoad (exit 2)
    //           LoadedPlugin::Injector(i) => parts.injectors.push((r.label.clone(), Box::new(i))),
    //           LoadedPlugin::Validator(v) => parts.validators.push((r.label.clone(), Box::new(v))),
    //       }
    //   }
    // and keep `host` alive for the run (hot reload) by returning it with the parts.
    Err(CliError::new(
        ErrorKind::PluginLoad,
        anyhow!("cannot load plugin `{}` from `{}`: {NOT_BUILT}", first.label, first.path.display()),
    ))
}

/// `chaoskit-host plugin …`.
pub(super) fn plugin_command(args: PluginArgs) -> Result<i32, CliError> {
    match args.command {
        PluginCommand::Inspect { path } => {
            // PLUGIN-HOOK: `chaoskit::plugin::inspect(&path)` → print world (injector or
            // validator), imports (and whether they need grants), exports, size; exit 0.
            Err(CliError::new(ErrorKind::PluginLoad, anyhow!("cannot inspect `{}`: {NOT_BUILT}", path.display())))
        }
    }
}
