//! Plugins: the one place plugin requests become injectors and validators.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::anyhow;

use super::args::{PluginArgs, PluginCommand};
use super::exit::{CliError, ErrorKind};
use crate::plugin::{Compiler, Grant, Limits, LoadedPlugin, PluginError, PluginHost, PluginSpec};
use crate::report::escape::terminal_safe;
use crate::spec::{PluginParts, PluginRequest, PluginSource, SourceMap, SpecError};

fn plugin_error(e: impl Into<anyhow::Error>) -> CliError {
    CliError::new(ErrorKind::PluginLoad, e)
}

/// Turns plugin requests (scenario `[[plugins]]` and `--plugin` flags) into injectors and
/// validators: each is loaded and `configure`d, so a configuration the plugin refuses is
/// found here (by `validate` too), located at the `[[plugins]]` entry's `config` in `file`.
/// No requests: no plugins, nothing to load. Loaded plugins keep the engine (and their file
/// watchers, with `--watch`) alive for as long as the run holds them. Also returns the SHA-256
/// of each plugin's component by label (the run's provenance, checked by `replay`).
pub(super) fn resolve_plugins(
    requests: &[PluginRequest],
    file: &str,
    source: &SourceMap,
) -> Result<(PluginParts, BTreeMap<String, String>), CliError> {
    let mut parts = PluginParts::default();
    let mut digests = BTreeMap::new();
    if requests.is_empty() {
        return Ok((parts, digests));
    }
    let host = plugin_host()?;
    let mut in_file = 0usize;
    for r in requests {
        let entry = (r.source == PluginSource::Scenario).then(|| {
            in_file += 1;
            in_file - 1
        });
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
        if let Some(b) = r.limits.max_insert {
            limits = limits.max_insert(bytes(b));
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
        if let Some(n) = r.limits.max_sockets {
            limits = limits.max_sockets(n as usize);
        }
        if let Some(n) = r.limits.max_files {
            limits = limits.max_files(n as usize);
        }
        if let Some(n) = r.limits.max_requests {
            limits = limits.max_requests(n as usize);
        }
        let mut spec =
            PluginSpec::new(&path).named(r.label.clone()).config(r.config_json.clone()).limits(limits).watch(r.watch);
        for grant in &r.grants {
            // Checked (and directories made absolute) when the request was resolved.
            let grant = Grant::parse(grant)
                .map_err(|e| plugin_error(anyhow!("plugin `{}`: {}", r.label, terminal_safe(&e))))?;
            spec = spec.grant(grant);
        }
        if let Ok(bytes) = std::fs::read(&path) {
            digests.insert(r.label.clone(), super::output::sha256_hex(&bytes));
        }
        let loaded = host.load(spec).map_err(|e| locate(e, r, entry, file, source))?;
        match loaded {
            LoadedPlugin::Injector(i) => parts.injectors.push((r.label.clone(), Box::new(i))),
            LoadedPlugin::Validator(v) => parts.validators.push((r.label.clone(), Box::new(v))),
            LoadedPlugin::Toxic(t) => parts.toxics.push(std::sync::Arc::new(t)),
        }
    }
    Ok((parts, digests))
}

/// Where the command line keeps compiled plugins between runs: `$CHAOSKIT_CACHE_DIR` (`off`
/// or empty: nowhere), else `$XDG_CACHE_HOME/chaoskit`, else `~/.cache/chaoskit`.
pub(super) fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("CHAOSKIT_CACHE_DIR") {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("chaoskit")),
    }
}

/// The compiler `$CHAOSKIT_COMPILER` names (`winch` or `cranelift`); unset or empty: the
/// default. Another value is a configuration error, not a silent default.
fn compiler() -> Result<Compiler, CliError> {
    match std::env::var("CHAOSKIT_COMPILER") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|e: String| CliError::new(ErrorKind::Config, anyhow!("CHAOSKIT_COMPILER: {}", terminal_safe(&e)))),
        _ => Ok(Compiler::default()),
    }
}

/// The plugin host of one command: with the on-disk compile cache (a multi-megabyte
/// JavaScript or Python component compiles for seconds once, then loads in milliseconds),
/// or without it, with a warning, when the directory cannot be used: a cache never fails a run.
fn plugin_host() -> Result<PluginHost, CliError> {
    let builder = PluginHost::builder().compiler(compiler()?);
    if let Some(dir) = cache_dir() {
        // The host creates the directory (0700) and checks that it is the user's own.
        match builder.clone().disk_cache(&dir).build().map_err(|e| e.to_string()) {
            Ok(host) => return Ok(host),
            Err(e) => tracing::warn!(
                target: "chaoskit::plugin",
                "{e}; compiling plugins without it (set CHAOSKIT_CACHE_DIR)"
            ),
        }
    }
    builder.build().map_err(plugin_error)
}

/// A load failure, placed: a scenario plugin's at its entry (`config` when the plugin refused
/// its configuration, `path` otherwise), a `--plugin`'s named by its flag. What the plugin
/// said is escaped: it is the plugin's text, not ours.
fn locate(e: PluginError, r: &PluginRequest, entry: Option<usize>, file: &str, source: &SourceMap) -> CliError {
    let (field, message) = match &e {
        PluginError::Config { message, .. } => {
            ("config", format!("plugin `{}` refused its configuration: {}", r.label, terminal_safe(&suggest(message))))
        }
        other => ("path", terminal_safe(&other.to_string()).into_owned()),
    };
    match entry {
        Some(n) => plugin_error(
            SpecError::Invalid { file: file.to_string(), key: format!("plugins[{n}].{field}"), message }
                .located(source),
        ),
        None if field == "config" => plugin_error(anyhow!("--plugin-config {}: {message}", r.path.display())),
        None => plugin_error(anyhow!("--plugin {}: {message}", r.path.display())),
    }
}

/// A plugin SDK's serde message (`invalid configuration: unknown field `x`, expected one of
/// `a`, `b` at line 1 column 10`) with the valid keys listed and the closest one suggested.
fn suggest(message: &str) -> String {
    let Some(at) = message.find("unknown field `").or_else(|| message.find("unknown variant `")) else {
        return message.to_string();
    };
    let serde = &message[at..];
    let serde = serde.rfind(" at line ").map_or(serde, |end| &serde[..end]);
    format!("{}{}", &message[..at], crate::spec::enrich(serde))
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
            let host = plugin_host()?;
            let info = host.inspect(&path).map_err(plugin_error)?;
            let world = match (info.world, &info.mismatch) {
                (Some(w), _) => w.to_string(),
                (None, Some(why)) => format!("none (not a ChaosKit plugin: {})", terminal_safe(why)),
                (None, None) => "none (not a ChaosKit plugin: exports match neither world)".into(),
            };
            println!("plugin:  {}", info.path.display());
            println!("world:   {world}");
            println!("size:    {} bytes", info.size);
            println!("sha256:  {}", info.sha256);
            println!("exports: {}", info.exports.join(", "));
            println!("imports (how each is provided with no grant; the grant that gives more):");
            for p in &info.provisions {
                let grant = p.grant.as_deref().map(|g| format!("; grant `{g}`")).unwrap_or_default();
                println!("  {}  ({}{grant})", terminal_safe(&p.import), p.default);
            }
            match &info.config_schema {
                None => println!("config schema: none declared (the plugin's docs say what `config` takes)"),
                Some(Err(why)) => println!("config schema: not shown: {}", terminal_safe(why)),
                Some(Ok(schema)) => {
                    println!("config schema (JSON Schema of the `config` table):");
                    for line in schema.lines() {
                        println!("  {}", terminal_safe(line));
                    }
                }
            }
            println!("limits (defaults; set them under `limits` of the scenario's [[plugins]] entry):");
            for (name, value) in Limits::default().describe() {
                println!("  {name:<20}{value}");
            }
            Ok(0)
        }
        PluginCommand::New { name, kind, lang, dir } => {
            let created = super::scaffold::create(&name, kind, lang, &dir)?;
            println!("created {}", created.dir.display());
            println!("build:  cd {} && {}", created.dir.display(), created.build);
            println!("run:    chaoskit-host run scenario.toml --plugin {}", created.wasm);
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn a_refused_plugin_key_gets_a_suggestion() {
        assert_eq!(
            suggest(
                "invalid configuration: unknown field `end_rat`, expected one of `start_rate`, `end_rate` at line 1 column 10"
            ),
            "invalid configuration: unknown key `end_rat`; valid keys: `start_rate`, `end_rate` (did you mean `end_rate`?)"
        );
        assert_eq!(suggest("budget must be positive"), "budget must be positive");
    }
}
