//! Plugins: the one place plugin requests become injectors and validators.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::anyhow;

use super::args::{PluginArgs, PluginCommand};
use super::exit::{CliError, ErrorKind};
use crate::plugin::{Grant, Limits, LoadedPlugin, PluginHost, PluginSpec};
use crate::spec::{PluginParts, PluginRequest};

fn plugin_error(e: impl Into<anyhow::Error>) -> CliError {
    CliError::new(ErrorKind::PluginLoad, e)
}

/// Turns plugin requests (scenario `[[plugins]]` and `--plugin` flags) into injectors and
/// validators. No requests: no plugins, nothing to load. Loaded plugins keep the engine (and
/// their file watchers, with `--watch`) alive for as long as the run holds them.
pub(super) fn resolve_plugins(requests: &[PluginRequest]) -> Result<PluginParts, CliError> {
    let mut parts = PluginParts::default();
    if requests.is_empty() {
        return Ok(parts);
    }
    let host = PluginHost::new().map_err(plugin_error)?;
    for r in requests {
        let path = if r.build { build_crate(&r.path)? } else { r.path.clone() };
        let mut limits = Limits::default();
        if let Some(bytes) = r.limits.memory_bytes {
            limits = limits.memory(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        if let Some(deadline) = r.limits.decide_deadline {
            limits = limits.decide_deadline(deadline.0);
        }
        let mut spec =
            PluginSpec::new(&path).named(r.label.clone()).config(r.config_json.clone()).limits(limits).watch(r.watch);
        for grant in &r.grants {
            spec = spec.grant(match grant.as_str() {
                "stdio" => Grant::Stdio,
                other => {
                    return Err(plugin_error(anyhow!(
                        "plugin `{}`: unknown grant `{other}` (valid: `stdio`)",
                        r.label
                    )));
                }
            });
        }
        match host.load(spec).map_err(plugin_error)? {
            LoadedPlugin::Injector(i) => parts.injectors.push((r.label.clone(), Box::new(i))),
            LoadedPlugin::Validator(v) => parts.validators.push((r.label.clone(), Box::new(v))),
        }
    }
    Ok(parts)
}

/// Build a plugin crate for `wasm32-wasip2` (release) and return its component's path.
fn build_crate(dir: &Path) -> Result<PathBuf, CliError> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| plugin_error(anyhow!("cannot read `{}`: {e}", manifest.display())))?;
    let name = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("package")?.get("name")?.as_str().map(str::to_owned))
        .ok_or_else(|| plugin_error(anyhow!("`{}` has no `package.name`", manifest.display())))?;
    let target_dir = dir.join("target");
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|e| plugin_error(anyhow!("cannot run cargo to build plugin `{}`: {e}", dir.display())))?;
    if !out.status.success() {
        return Err(plugin_error(anyhow!(
            "building plugin `{}` for wasm32-wasip2 failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_"))))
}

/// `chaoskit-host plugin …`.
pub(super) fn plugin_command(args: PluginArgs) -> Result<i32, CliError> {
    match args.command {
        PluginCommand::Inspect { path } => {
            let host = PluginHost::new().map_err(plugin_error)?;
            let info = host.inspect(&path).map_err(plugin_error)?;
            let world = match info.world {
                Some(w) => w.to_string(),
                None => "none (not a ChaosKit plugin: exports match neither world)".into(),
            };
            println!("plugin:  {}", info.path.display());
            println!("world:   {world}");
            println!("size:    {} bytes", info.size);
            println!("sha256:  {}", info.sha256);
            println!("exports: {}", info.exports.join(", "));
            println!("imports:");
            for import in &info.imports {
                let note = if import.starts_with("chaoskit:plugin/") {
                    "host interface"
                } else if import.starts_with("wasi:cli/") || import.starts_with("wasi:io/") {
                    "std baseline, inert; stdout/stderr logged with grant `stdio`"
                } else {
                    "refused at load (no grant provides it)"
                };
                println!("  {import}  ({note})");
            }
            Ok(0)
        }
    }
}
