//! Plugins: the one place plugin requests become injectors and validators.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
        let bytes = |b: u64| usize::try_from(b).unwrap_or(usize::MAX);
        if let Some(delay) = r.limits.max_delay {
            limits = limits.max_delay(delay.0);
        }
        if let Some(b) = r.limits.max_message {
            limits = limits.max_message(bytes(b));
        }
        if let Some(n) = r.limits.max_counters {
            limits = limits.max_counters(n as usize);
        }
        if let Some(b) = r.limits.max_counter_name {
            limits = limits.max_counter_name(bytes(b));
        }
        if let Some(rate) = r.limits.log_rate {
            limits = limits.log_rate(rate);
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

/// The target plugin components are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Installs the wasm32-wasip2 standard library through rustup when it is missing, so a
/// fresh toolchain can build plugins from source; says so on stderr.
fn ensure_wasm_target() -> Result<(), CliError> {
    let Ok(out) = Command::new("rustup").args(["target", "list", "--installed"]).output() else {
        return Ok(()); // No rustup: let cargo report a missing target itself.
    };
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("installing the {WASM_TARGET} target with rustup (needed once, to build plugins from source)");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .map_err(|e| plugin_error(anyhow!("cannot run rustup: {e}")))?;
    if !status.success() {
        return Err(plugin_error(anyhow!(
            "`rustup target add {WASM_TARGET}` failed; install the target and run again"
        )));
    }
    Ok(())
}

/// Builds a plugin crate for `wasm32-wasip2` (release) in its own workspace's target
/// directory and returns its component's path, as cargo reports it.
fn build_crate(dir: &Path) -> Result<PathBuf, CliError> {
    ensure_wasm_target()?;
    let manifest = std::fs::canonicalize(dir.join("Cargo.toml"))
        .map_err(|e| plugin_error(anyhow!("cannot read `{}`: {e}", dir.join("Cargo.toml").display())))?;
    eprintln!("building plugin `{}` for {WASM_TARGET}", dir.display());
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        // What configures the host's build must not leak into the guest's.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| plugin_error(anyhow!("cannot run cargo to build plugin `{}`: {e}", dir.display())))?;
    if !out.status.success() {
        return Err(plugin_error(anyhow!(
            "building plugin `{}` for {WASM_TARGET} failed (compiler output above); by hand: \
             `cargo build --release --target {WASM_TARGET} --manifest-path {}`",
            dir.display(),
            manifest.display()
        )));
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let ours = msg["reason"] == "compiler-artifact" && msg["manifest_path"].as_str() == manifest.to_str();
        let wasm =
            msg["filenames"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm"));
        if let (true, Some(wasm)) = (ours, wasm) {
            return Ok(PathBuf::from(wasm));
        }
    }
    Err(plugin_error(anyhow!(
        "building `{}` produced no .wasm component; is it a `cdylib` plugin crate?",
        dir.display()
    )))
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
                let note = if crate::plugin::HOST_INTERFACES.iter().any(|(name, _)| name == import) {
                    "host interface"
                } else if import.starts_with("chaoskit:") {
                    "refused at load: this host does not define it"
                } else if import.starts_with("wasi:cli/") || import.starts_with("wasi:io/") {
                    "std baseline, inert; stdout/stderr logged with grant `stdio`"
                } else {
                    "refused at load (no grant provides it)"
                };
                println!("  {import}  ({note})");
            }
            println!("limits (defaults; set them under `limits` of the scenario's [[plugins]] entry):");
            for (name, value) in Limits::default().describe() {
                println!("  {name:<20}{value}");
            }
            Ok(0)
        }
    }
}
