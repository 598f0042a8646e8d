//! Builds every crate of the `plugins/` workspace for `wasm32-wasip2` (release) and writes
//! `gen.rs` with one `pub const NAME: &str` path per plugin plus the `foreach_plugin!` and
//! `foreach_fixture!` macros.
//!
//! Plugins written in JavaScript (`plugins/<name>/src/plugin.js`) and Python
//! (`plugins/<name>/app.py`) are built too, with the pinned toolchains that
//! `scripts/guest-toolchains.sh` installs into `plugin-sdk-js/node_modules` and
//! `plugin-sdk-py/.venv`. Without a toolchain, each such guest's const is `None` and
//! `GUEST_SKIPPED` says why; a failed build of an installed toolchain is recorded in
//! `BUILD_ERROR`.
//!
//! The guests are built by a nested cargo with its own target directory inside `OUT_DIR`, so it
//! never fights the outer build for the target-directory lock. A failed guest build is recorded
//! in `BUILD_ERROR`, not fatal: the host tests that need the plugins fail with the reason.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir.join("../..").canonicalize().expect("repository root");
    let plugins = root.join("plugins");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = out_dir.join("target");

    // `plugins/fixtures` too: a new fixture directory must regenerate the list of guests.
    for path in [
        "plugins/Cargo.toml",
        "plugins/Cargo.lock",
        "plugins/fixtures",
        "wit",
        "plugin-sdk/src",
        "plugin-sdk/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=CI");

    let guests = guest_crates(&plugins);
    for (_, dir) in &guests {
        println!("cargo:rerun-if-changed={}", dir.join("Cargo.toml").display());
        println!("cargo:rerun-if-changed={}", dir.join("src").display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"));
    // What the outer build configured for the host must not leak into the guests (a clippy
    // wrapper, coverage or sanitizer flags, a `--target` of its own).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_LLVM_COV",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", &target_dir);
    if env::var_os("CI").is_some() {
        cmd.env("RUSTFLAGS", "-Dwarnings");
    }
    let error = match cmd.output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "building plugins/ for {TARGET} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Some(format!("could not run cargo to build plugins/: {e}")),
    };
    if let Some(e) = &error {
        println!("cargo:warning=plugin-artifacts: {}", e.lines().next().unwrap_or_default());
    }

    let (foreign, foreign_error) = foreign_guests(&root, &plugins, &out_dir);
    let error = match (error, foreign_error) {
        (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
        (a, b) => a.or(b),
    };

    let release = target_dir.join(TARGET).join("release");
    let mut out = String::new();
    let mut plugin_names = Vec::new();
    let mut fixture_names = Vec::new();
    for (name, _) in &guests {
        let file = release.join(format!("{}.wasm", name.replace('-', "_")));
        let konst = name.to_uppercase().replace('-', "_");
        writeln!(out, "/// Path of the `{name}` component, built from `plugins/`.").unwrap();
        writeln!(out, "pub const {konst}: &str = {:?};", file.display().to_string()).unwrap();
        // Suites: a `fixture-` prefix marks adversarial fixtures, anything else is a plugin.
        if let Some(rest) = name.strip_prefix("fixture-") {
            assert!(!rest.is_empty(), "fixture crate `{name}` needs a name after `fixture-`");
            fixture_names.push(rest.replace('-', "_"));
        } else {
            plugin_names.push(name.replace('-', "_"));
        }
        // Rebuild when any source file the guest was compiled from changes.
        let dep_info = release.join(format!("lib{}.d", name.replace('-', "_")));
        let dep_info = if dep_info.exists() { dep_info } else { release.join(format!("{}.d", name.replace('-', "_"))) };
        if let Ok(text) = fs::read_to_string(&dep_info) {
            for dep in text.lines().flat_map(|l| l.split_once(':').map(|(_, d)| d)) {
                for path in dep.split_whitespace() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
        }
    }
    let mut foreign_names = Vec::new();
    let mut skipped = Vec::new();
    for guest in &foreign {
        let konst = guest.name.to_uppercase().replace('-', "_");
        writeln!(
            out,
            "/// Path of the `{}` component ({}), built from `plugins/`; `None` without its toolchain.",
            guest.name, guest.lang
        )
        .unwrap();
        writeln!(out, "pub const {konst}: Option<&str> = {:?};", guest.built.as_ref().map(|p| p.display().to_string()))
            .unwrap();
        foreign_names.push(guest.name.replace('-', "_"));
        if let Some(why) = &guest.skipped {
            skipped.push(format!("{}: {why}", guest.name));
        }
    }
    let skipped = (!skipped.is_empty()).then(|| skipped.join("; "));
    writeln!(out, "/// Why some JavaScript or Python guests were not built (a toolchain is not installed).\npub const GUEST_SKIPPED: Option<&str> = {skipped:?};").unwrap();
    writeln!(
        out,
        "/// Why the plugins could not be built, when they could not.\npub const BUILD_ERROR: Option<&str> = {error:?};"
    )
    .unwrap();
    for (mac, names, what) in [
        ("foreach_plugin", &plugin_names, "plugin in `plugins/`"),
        ("foreach_fixture", &fixture_names, "fixture in `plugins/fixtures/`"),
        ("foreach_foreign_guest", &foreign_names, "JavaScript or Python plugin in `plugins/`"),
    ] {
        writeln!(out, "/// Calls `$mac!(name)` for every {what} (snake case, without the `fixture_` prefix).").unwrap();
        writeln!(out, "#[macro_export]\nmacro_rules! {mac} {{\n    ($mac:ident) => {{").unwrap();
        for n in names.iter() {
            writeln!(out, "        $mac!({n});").unwrap();
        }
        writeln!(out, "    }};\n}}").unwrap();
    }
    fs::write(out_dir.join("gen.rs"), out).expect("write gen.rs");
}

/// `(package name, directory)` of every crate in `plugins/` and `plugins/fixtures/`.
fn guest_crates(plugins: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for dir in [plugins.to_path_buf(), plugins.join("fixtures")] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let manifest = entry.path().join("Cargo.toml");
            let Ok(text) = fs::read_to_string(&manifest) else {
                continue;
            };
            let name = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = ").map(|v| v.trim_matches('"').to_owned()))
                .unwrap_or_else(|| panic!("no package name in {}", manifest.display()));
            found.push((name, entry.path()));
        }
    }
    found.sort();
    found
}

/// A plugin of `plugins/` written in another language than Rust.
struct ForeignGuest {
    /// Directory name, e.g. `flaky-dependency-js`.
    name: String,
    lang: &'static str,
    /// The component, when it was built.
    built: Option<PathBuf>,
    /// Why it was not built: its toolchain is not installed.
    skipped: Option<String>,
}

/// Builds the JavaScript (`src/plugin.js`) and Python (`app.py`) plugins of `plugins/` into
/// `OUT_DIR/guests`, each with the helper module's build script, for the world its source
/// exports (`exportInjector` / `export_injector` or the validator's). Returns them and the
/// build failures, if any.
fn foreign_guests(root: &Path, plugins: &Path, out_dir: &Path) -> (Vec<ForeignGuest>, Option<String>) {
    let js_sdk = root.join("plugin-sdk-js");
    let py_sdk = root.join("plugin-sdk-py");
    // A toolchain's marker file appears when it is installed (a missing one reruns this script
    // on every build, which costs only the no-op guest cargo build).
    for path in [
        js_sdk.join("node_modules/.package-lock.json"),
        js_sdk.join("chaoskit.js"),
        js_sdk.join("build.mjs"),
        py_sdk.join(".venv/bin/componentize-py"),
        py_sdk.join("chaoskit.py"),
        py_sdk.join("build.py"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let node_ready = js_sdk.join("node_modules/@bytecodealliance/componentize-js").is_dir();
    let python = py_sdk.join(".venv/bin/python");
    let python_ready = py_sdk.join(".venv/bin/componentize-py").exists();
    let guests_dir = out_dir.join("guests");
    let _ = fs::create_dir_all(&guests_dir);
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let Ok(entries) = fs::read_dir(plugins) else {
        return (found, None);
    };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (lang, source, ready, install) = if dir.join("src/plugin.js").exists() {
            ("JavaScript", dir.join("src/plugin.js"), node_ready, "componentize-js (plugin-sdk-js/node_modules)")
        } else if dir.join("app.py").exists() {
            ("Python", dir.join("app.py"), python_ready, "componentize-py (plugin-sdk-py/.venv)")
        } else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", dir.display());
        println!("cargo:rerun-if-changed={}", source.display());
        let schema = dir.join("config.schema.json");
        println!("cargo:rerun-if-changed={}", schema.display());
        let text = fs::read_to_string(&source).unwrap_or_default();
        let world = if text.contains("exportValidator(") || text.contains("export_validator(") {
            "validator"
        } else {
            "injector"
        };
        let out = guests_dir.join(format!("{}.wasm", name.replace('-', "_")));
        let mut guest = ForeignGuest { name: name.clone(), lang, built: None, skipped: None };
        if !ready {
            guest.skipped = Some(format!("{install} is not installed; run scripts/guest-toolchains.sh"));
            found.push(guest);
            continue;
        }
        let mut cmd = if lang == "JavaScript" {
            let mut c = Command::new("node");
            c.arg(js_sdk.join("build.mjs"));
            c
        } else {
            let mut c = Command::new(&python);
            c.arg(py_sdk.join("build.py"));
            c
        };
        cmd.arg(world).arg(&source).arg(&out).arg("--wit").arg(root.join("wit")).env("PYTHONDONTWRITEBYTECODE", "1");
        match cmd.output() {
            Ok(o) if o.status.success() => guest.built = Some(out),
            Ok(o) => errors.push(format!(
                "building the {lang} plugin `{name}` failed ({}):\n{}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => errors.push(format!("could not run the {lang} build of `{name}`: {e}")),
        }
        found.push(guest);
    }
    (found, (!errors.is_empty()).then(|| errors.join("\n")))
}
