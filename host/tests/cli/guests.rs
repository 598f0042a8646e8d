//! Plugins in other languages (issue 13): the JavaScript injector and the Python validator of
//! `plugins/`, built from source, loaded by the unchanged host, give the same journal under the
//! same seed as their Rust twins; `plugin new` projects in each language build with their one
//! command and run.
//!
//! What the guest toolchains put in a component (checked by
//! `javascript_and_python_components_import_only_the_host_interface`):
//!
//! - componentize-js 0.23.0 (StarlingMonkey) by default imports `wasi:io`, `wasi:clocks`,
//!   `wasi:random`, `wasi:cli` (stdio, terminal), `wasi:filesystem` and `wasi:http` (0.2.10 /
//!   0.2.12); with `disableFeatures: ["stdio", "random", "clocks", "http", "fetch-event"]` (what
//!   `plugin-sdk-js/build.mjs` passes; `jco componentize --disable all` says the same) only
//!   `chaoskit:plugin/types` and `chaoskit:plugin/host`. About 12 MB.
//! - componentize-py 0.25.1 by default imports all of WASI 0.2.9 (`wasi:io`, `clocks`, `random`,
//!   `cli`, `filesystem`, `sockets`); with `--stub-wasi` (what `plugin-sdk-py/build.py` passes)
//!   only the two `chaoskit:plugin` interfaces: each WASI function becomes a trapping stub.
//!   About 18 MB.
//! - (jco's QuickJS backend, `--backend qjs --backend-qjs-stub-wasi`, also imports only ours, at
//!   1.6 MB; not used: it is not the Bytecode Alliance's componentize-js.)

use crate::util::Dir;
use plugin_artifacts as artifacts;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

/// Every kept iteration (failures and samples) by index, with its decisions and error, and the
/// validators' results: what must match between two runs with the same seed.
fn journal_decisions(j: &serde_json::Value) -> Vec<String> {
    let mut all: Vec<serde_json::Value> =
        j["failures"].as_array().unwrap().iter().chain(j["samples"].as_array().unwrap()).cloned().collect();
    all.sort_by_key(|r| r["index"].as_u64());
    all.dedup_by_key(|r| r["index"].as_u64());
    all.iter().map(|r| format!("{} {} {} {}", r["index"], r["ok"], r["error"], r["decisions"])).collect()
}

fn run_journal(dir: &Dir, scenario: &str, report: &str) -> serde_json::Value {
    let run = dir.run(&["run", scenario, "--quiet", "--report-dir", report]);
    assert!(run.code() == 0 || run.code() == 1, "{}", run.explain());
    serde_json::from_str(&dir.read(&format!("{report}/journal.json"))).unwrap()
}

fn scenario(plugin: &str, label: &str, config: &str, extra: &str) -> String {
    format!(
        "version = 1\n[scenario]\nname = \"twins\"\nseed = 11\nrepeat = 300\nfailure_policy = \"continue_on_failure\"\n\
         thresholds = {{ min_success_rate = 0.0 }}\n[[steps]]\ntype = \"command\"\nname = \"db.query\"\ncommand = \"true\"\n\
         {extra}[[plugins]]\npath = \"{plugin}\"\nlabel = \"{label}\"\nconfig = {config}\n\
         # Deadlines are wall time: a loaded test machine must not turn into fail-open decisions.\n\
         limits = {{ decide_deadline = \"10s\" }}\n"
    )
}

#[test]
fn the_javascript_injector_decides_as_its_rust_twin_under_the_same_seed() {
    let Some(js) = artifacts::foreign(artifacts::FLAKY_DEPENDENCY_JS, "flaky-dependency-js") else { return };
    let rust = artifacts::path(artifacts::FLAKY_DEPENDENCY);
    let dir = Dir::new("js-twin");
    // A ramp (counter), draws (seeded stream), a cap (second counter) and a point filter.
    let config = "{ start_rate = 0.05, end_rate = 0.6, ramp_calls = 200, max_errors = 60, points = \"db\" }";
    dir.write("rust.toml", &scenario(rust, "flaky", config, ""));
    dir.write("js.toml", &scenario(js, "flaky", config, ""));
    let rust = run_journal(&dir, "rust.toml", "rust");
    let js = run_journal(&dir, "js.toml", "js");
    let decisions = journal_decisions(&rust);
    assert!(rust["failures"].as_array().unwrap().len() >= 20, "the Rust injector injected errors: {}", rust);
    assert_eq!(journal_decisions(&js), decisions, "same seed, same decisions");
    assert_eq!(js["iterations"], rust["iterations"]);
    assert_eq!(js["injectors"], rust["injectors"], "same per-injector counts");
}

#[test]
fn the_python_validator_judges_as_its_rust_twin_under_the_same_seed() {
    let Some(py) = artifacts::foreign(artifacts::ERROR_BUDGET_PY, "error-budget-py") else { return };
    let rust = artifacts::path(artifacts::ERROR_BUDGET);
    let dir = Dir::new("py-twin");
    let config = "{ budget = 4, window = 20 }";
    let errors = "[[injectors]]\ntype = \"error\"\nprobability = 0.15\n";
    dir.write("rust.toml", &scenario(rust, "budget", config, errors));
    dir.write("py.toml", &scenario(py, "budget", config, errors));
    let rust = run_journal(&dir, "rust.toml", "rust");
    let py = run_journal(&dir, "py.toml", "py");
    let violations = rust["validators"].to_string();
    assert!(
        violations.contains("error budget exceeded: 5 failed iterations in the last 20 (budget 4)"),
        "{violations}"
    );
    assert_eq!(py["validators"], rust["validators"], "same verdicts and messages");
    assert_eq!(journal_decisions(&py), journal_decisions(&rust));
    assert_eq!(py["verdict"], rust["verdict"]);
}

#[test]
fn javascript_and_python_components_import_only_the_host_interface() {
    for (guest, name) in
        [(artifacts::FLAKY_DEPENDENCY_JS, "flaky-dependency-js"), (artifacts::ERROR_BUDGET_PY, "error-budget-py")]
    {
        let Some(path) = artifacts::foreign(guest, name) else { continue };
        let dir = Dir::new("guest-inspect");
        let run = dir.run(&["plugin", "inspect", path]);
        run.expect_code(0);
        let out = run.stdout();
        let imports: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("imports"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(imports, ["chaoskit:plugin/types@0.2.0", "chaoskit:plugin/host@0.2.0"], "{name}: {out}");
        assert!(out.contains("config schema (JSON Schema of the `config` table):"), "{out}");
    }
}

#[test]
fn plugin_inspect_shows_a_declared_configuration_schema_and_says_when_there_is_none() {
    let dir = Dir::new("inspect-schema");
    let run = dir.run(&["plugin", "inspect", artifacts::path(artifacts::FLAKY_DEPENDENCY)]);
    run.expect_code(0);
    assert!(run.stdout().contains("config schema (JSON Schema of the `config` table):\n  {\n"), "{}", run.explain());
    assert!(run.stdout().contains("\"end_rate\": {"), "{}", run.explain());
    let run = dir.run(&["plugin", "inspect", artifacts::path(artifacts::LATENCY_SPIKE)]);
    run.expect_code(0);
    assert!(run.stdout().contains("config schema: none declared"), "{}", run.explain());
}

/// A command with the outer build's configuration removed (it must not leak into a guest's).
fn clean(mut cmd: Command) -> Command {
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        cmd.env_remove(var);
    }
    cmd
}

fn must(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `plugin new NAME --kind KIND --lang LANG` in `dir`, built with the project's own command,
/// then run with `run scenario.toml --plugin <component>`: returns the journal.
fn new_project(dir: &Dir, name: &str, kind: &str, lang: &str) -> serde_json::Value {
    let run = dir.run(&["plugin", "new", name, "--kind", kind, "--lang", lang]);
    run.expect_code(0);
    let project = dir.join(name);
    let crate_name = name.replace('-', "_");
    let wasm = match lang {
        "rust" => {
            // The template depends on chaoskit-plugin-sdk from crates.io, as a user's would; a
            // patch (beside the project, not in it) builds it against this checkout instead.
            std::fs::create_dir_all(dir.join(".cargo")).unwrap();
            dir.write(
                ".cargo/config.toml",
                &format!("[patch.crates-io]\nchaoskit-plugin-sdk = {{ path = {:?} }}\n", root().join("plugin-sdk")),
            );
            let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-new-target");
            let mut cmd = clean(Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())));
            cmd.args(["build", "--release", "--target", "wasm32-wasip2"])
                .current_dir(&project)
                .env("CARGO_TARGET_DIR", &target);
            must(cmd, "cargo build of the new Rust project");
            target.join("wasm32-wasip2/release").join(format!("{crate_name}.wasm"))
        }
        "js" => {
            // The pinned toolchain this repository installed stands in for `npm install`.
            std::os::unix::fs::symlink(root().join("plugin-sdk-js/node_modules"), project.join("node_modules"))
                .unwrap();
            let mut cmd = Command::new(project.join("build.sh"));
            cmd.current_dir(&project);
            must(cmd, "build.sh of the new JavaScript project");
            project.join(format!("{crate_name}.wasm"))
        }
        _ => {
            let mut cmd = Command::new(project.join("build.sh"));
            cmd.current_dir(&project).env("CHAOSKIT_PYTHON", root().join("plugin-sdk-py/.venv/bin/python"));
            must(cmd, "build.sh of the new Python project");
            project.join(format!("{crate_name}.wasm"))
        }
    };
    assert!(wasm.exists(), "{} was not built", wasm.display());
    let wasm = wasm.to_str().unwrap().to_owned();
    let run = dir
        .command(&["run", "scenario.toml", "--plugin", &wasm, "--report-dir", "report"])
        .current_dir(&project)
        .output()
        .unwrap();
    // 0 PASS, 1 FAIL (a validator that complains): the run completed either way.
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "run did not complete ({}): {}{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let run = dir.run(&["plugin", "inspect", &wasm]);
    run.expect_code(0);
    assert!(run.stdout().contains(&format!("world:   {kind}")), "{}", run.explain());
    assert!(run.stdout().contains("\"title\": \""), "the template's schema is embedded: {}", run.explain());
    serde_json::from_str(&std::fs::read_to_string(project.join("report/journal.json")).unwrap()).unwrap()
}

#[test]
fn plugin_new_makes_rust_javascript_and_python_projects_that_build_run_and_agree() {
    let dir = Dir::new("plugin-new");
    let rust = new_project(&dir, "slow-db", "injector", "rust");
    let decisions = journal_decisions(&rust);
    let label = rust["injectors"][0]["label"].clone();
    assert_eq!(label, "slow_db", "{}", rust["injectors"]);
    let injected = rust["injectors"].to_string();
    assert!(decisions.iter().any(|d| d.contains("slow-db: injected error at")), "{decisions:?}");
    // The validator template, in Rust.
    let validator = new_project(&dir, "in-a-row", "validator", "rust");
    assert_eq!(validator["validators"][0]["label"], "in_a_row", "{}", validator["validators"]);
    // The same injector template in JavaScript and Python decides the same under the same seed.
    let js_ready = artifacts::foreign(artifacts::FLAKY_DEPENDENCY_JS, "flaky-dependency-js").is_some();
    let py_ready = artifacts::foreign(artifacts::ERROR_BUDGET_PY, "error-budget-py").is_some();
    if js_ready {
        let js_dir = Dir::new("plugin-new-js");
        let js = new_project(&js_dir, "slow-db", "injector", "js");
        assert_eq!(journal_decisions(&js), decisions, "JavaScript template = Rust template");
        assert_eq!(js["injectors"].to_string(), injected);
        new_project(&js_dir, "in-a-row", "validator", "js");
    }
    if py_ready {
        let py_dir = Dir::new("plugin-new-py");
        let py = new_project(&py_dir, "slow-db", "injector", "python");
        assert_eq!(journal_decisions(&py), decisions, "Python template = Rust template");
        assert_eq!(py["injectors"].to_string(), injected);
        new_project(&py_dir, "in-a-row", "validator", "python");
    }
}

#[test]
fn plugin_new_refuses_a_bad_name_and_an_existing_directory() {
    let dir = Dir::new("plugin-new-bad");
    let run = dir.run(&["plugin", "new", "Slow_DB", "--kind", "injector"]);
    run.expect_code(2);
    assert!(run.stderr().contains("plugin name `Slow_DB` is not valid"), "{}", run.explain());
    dir.write("taken", "");
    std::fs::remove_file(dir.join("taken")).unwrap();
    std::fs::create_dir_all(dir.join("taken/src")).unwrap();
    let run = dir.run(&["plugin", "new", "taken", "--kind", "validator"]);
    run.expect_code(2);
    assert!(run.stderr().contains("already exists and is not empty"), "{}", run.explain());
}

#[test]
fn the_command_line_keeps_compiled_plugins_in_its_cache_directory_unless_told_off() {
    let dir = Dir::new("compile-cache");
    let spike = artifacts::path(artifacts::LATENCY_SPIKE);
    let files = |d: &Path| {
        let mut n = 0;
        let mut stack = vec![d.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    stack.push(entry.path());
                } else {
                    n += 1;
                }
            }
        }
        n
    };
    let cache = dir.join("cache");
    let run = dir.command(&["plugin", "inspect", spike]).env("CHAOSKIT_CACHE_DIR", &cache).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(files(&cache) > 0, "the compiled component is kept in {}", cache.display());
    // `off`: nothing written under XDG_CACHE_HOME either.
    let xdg = dir.join("xdg");
    let run = dir
        .command(&["plugin", "inspect", spike])
        .env("CHAOSKIT_CACHE_DIR", "off")
        .env("XDG_CACHE_HOME", &xdg)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(files(&xdg), 0);
    // Unset: under XDG_CACHE_HOME/chaoskit.
    let run = dir
        .command(&["plugin", "inspect", spike])
        .env_remove("CHAOSKIT_CACHE_DIR")
        .env("XDG_CACHE_HOME", &xdg)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(files(&xdg.join("chaoskit")) > 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created private.
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
        // A cache other users may write is native code anyone could have planted: not used.
        let shared = dir.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let run = dir.command(&["plugin", "inspect", spike]).env("CHAOSKIT_CACHE_DIR", &shared).output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "a cache never fails a command: {err}");
        assert!(err.contains("is not trusted: its mode 0777 lets other users write it"), "{err}");
        assert!(err.contains("compiling plugins without it"), "{err}");
        assert_eq!(files(&shared), 0, "nothing read from or written to an untrusted cache");
    }
}

#[test]
fn the_compiler_is_chosen_by_chaoskit_compiler_and_a_bad_name_is_a_usage_error() {
    let dir = Dir::new("compiler-choice");
    let spike = artifacts::path(artifacts::LATENCY_SPIKE);
    for compiler in ["winch", "cranelift", ""] {
        let run = dir
            .command(&["plugin", "inspect", spike])
            .env("CHAOSKIT_CACHE_DIR", "off")
            .env("CHAOSKIT_COMPILER", compiler)
            .output()
            .unwrap();
        assert!(run.status.success(), "{compiler}: {}", String::from_utf8_lossy(&run.stderr));
    }
    let run = dir
        .command(&["plugin", "inspect", spike])
        .env("CHAOSKIT_CACHE_DIR", "off")
        .env("CHAOSKIT_COMPILER", "llvm")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("CHAOSKIT_COMPILER: unknown compiler `llvm` (expected `winch` or `cranelift`)"),
        "{stderr}"
    );
}
