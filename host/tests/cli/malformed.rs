//! Mistakes in files and flags: exit 2, and a message that says where and what is valid.

use crate::util::Dir;

const GOOD: &str = "version = 1\n[scenario]\nname = \"m\"\n[[steps]]\ntype = \"command\"\ncommand = \"true\"\n";

#[test]
fn an_unknown_injector_type_suggests_the_closest_name() {
    let dir = Dir::new("dealy");
    dir.write("bad.toml", &format!("{GOOD}[[injectors]]\ntype = \"dealy\"\nprobability = 0.5\n"));
    let run = dir.run(&["run", "bad.toml"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: bad.toml:8:8: injectors[0].type: unknown value `dealy`; valid values: `delay`, `delay_every`, `panic`, `error`, `cancel`, `failpoint`, `network`, `cpu`, `memory`, `proxy_toxic`, `proxy_down` (did you mean `delay`?)\n"
    );
    assert!(!dir.join("chaoskit-report").exists(), "nothing ran, nothing was written");
}

#[test]
fn yaml_and_json_errors_carry_line_column_and_key() {
    let dir = Dir::new("yaml-json");
    dir.write(
        "bad.yaml",
        "version: 1\nscenario:\n  name: m\n  concurrency: many\nsteps:\n  - type: command\n    command: \"true\"\n",
    );
    let run = dir.run(&["validate", "bad.yaml"]);
    run.expect_code(2);
    assert!(run.stderr().starts_with("error: bad.yaml:4:16: scenario.concurrency: "), "{}", run.explain());
    dir.write("bad.json", "{\"version\": 1, \"scenario\": {\"name\": \"m\"},\n \"steps\": [{\"type\": \"http\", \"url\": \"http://127.0.0.1:1/\", \"timeout\": \"soon\"}]}");
    let run = dir.run(&["validate", "bad.json"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: bad.json:2:77: steps[0].timeout: invalid duration \"soon\" (expected e.g. \"500ms\", \"5s\", \"10m\")\n"
    );
}

#[test]
fn a_misspelt_key_lists_the_valid_keys() {
    let dir = Dir::new("key");
    dir.write("bad.toml", &GOOD.replace("name = \"m\"", "name = \"m\"\nrepeats = 3"));
    let run = dir.run(&["validate", "bad.toml"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: bad.toml:4:1: scenario.repeats: unknown key `repeats`; valid keys: `name`, `seed`, `repeat`, `duration`, `concurrency`, `failure_policy`, `thresholds`, `step_timeout`, `grace_period` (did you mean `repeat`?)\n"
    );
}

#[test]
fn files_that_cannot_be_read_or_named_are_configuration_errors() {
    let dir = Dir::new("missing");
    let run = dir.run(&["run", "nope.toml"]);
    run.expect_code(2);
    assert!(run.stderr().starts_with("error: cannot read `nope.toml`: "), "{}", run.explain());
    dir.write("s.ini", GOOD);
    let run = dir.run(&["validate", "s.ini"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: `s.ini`: unknown scenario format; name the file *.toml, *.yaml, *.yml or *.json\n"
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0_with_examples() {
    let dir = Dir::new("usage");
    dir.run(&["run"]).expect_code(2);
    dir.run(&["frobnicate"]).expect_code(2);
    dir.run(&["run", "s.toml", "--repeat", "3", "--duration", "1s"]).expect_code(2);
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["validate", "--help"],
        &["report", "--help"],
        &["plugin", "inspect", "--help"],
    ] {
        let run = dir.run(args);
        run.expect_code(0);
        assert!(run.stdout().contains("Examples:"), "{}", run.explain());
    }
}

#[test]
fn validate_prints_the_resolved_scenario() {
    let dir = Dir::new("validate");
    dir.write("s.toml", GOOD);
    let run = dir.run(&["validate", "s.toml"]);
    run.expect_code(0);
    assert_eq!(run.stderr(), "s.toml: ok — scenario `m`: 1 step, 0 injectors, 0 validators, 0 plugins; 1 iteration\n");
    let run = dir.run(&["validate", "s.toml", "--resolved"]);
    run.expect_code(0);
    let resolved: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(resolved["name"], "m");
    assert_eq!(resolved["steps"][0]["name"], "command-1");
    assert_eq!(resolved["grace_period"], "5s");
    assert_eq!(resolved["target"]["type"], "none");
}

#[test]
fn a_bad_plugin_is_a_plugin_error_naming_the_file_and_the_fault() {
    let dir = Dir::new("plugins");
    dir.write("s.toml", GOOD);
    dir.write("x.wasm", "\0asm");
    let run = dir.run(&["run", "s.toml", "--plugin", "x.wasm"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("x.wasm` is not a valid component: the file is truncated: 4 bytes"),
        "{}",
        run.explain()
    );
    dir.write("g.wasm", "Garbage!");
    let run = dir.run(&["plugin", "inspect", "g.wasm"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("g.wasm` is not a WebAssembly component: it starts with bytes 47 61 72 62"),
        "{}",
        run.explain()
    );
    dir.write(
        "p.toml",
        &format!("{GOOD}[[plugins]]\npath = \"x.wasm\"\nlabel = \"every-nth\"\nconfig = {{ n = 3 }}\n"),
    );
    // `validate` loads the plugin as `run` does, so it refuses what `run` refuses, in the
    // same words, at the entry's line.
    let validate = dir.run(&["validate", "p.toml"]);
    validate.expect_code(2);
    let run = dir.run(&["run", "p.toml"]);
    run.expect_code(2);
    assert_eq!(validate.stderr(), run.stderr());
    assert!(validate.stderr().starts_with("error: p.toml:8:8: plugins[0].path: plugin `"), "{}", validate.explain());
    // The run that could not start still left its report.
    let j = crate::util::journal(&dir);
    assert_eq!(j["verdict"], "FAIL");
    assert_eq!(j["stop_reason"], "not_started");
    assert!(j["reasons"][0].as_str().unwrap().starts_with("the run could not start: p.toml:8:8: plugins[0].path"));
}

#[test]
fn a_wasm_plugin_joins_a_run_from_the_command_line_and_can_be_inspected() {
    let spike = plugin_artifacts::path(plugin_artifacts::LATENCY_SPIKE);
    let dir = Dir::new("plugin-run");
    dir.write(
        "s.toml",
        &format!(
            "{GOOD}[[plugins]]\npath = \"{spike}\"\nlabel = \"spike\"\nconfig = {{ period = 1, burst = 1, min_ms = 1, max_ms = 1 }}\n"
        ),
    );
    let run = dir.run(&["run", "s.toml", "--repeat", "5", "--quiet"]);
    run.expect_code(0);
    let j = crate::util::journal(&dir);
    let spike_summary = j["injectors"].as_array().unwrap().iter().find(|i| i["label"] == "spike").cloned();
    assert!(spike_summary.is_some(), "{}", run.explain());
    let run = dir.run(&["plugin", "inspect", spike]);
    run.expect_code(0);
    assert!(run.stdout().contains("injector"), "{}", run.explain());
}

#[test]
fn plugin_inspect_does_not_claim_a_world_whose_types_do_not_match() {
    let wrong = plugin_artifacts::path(plugin_artifacts::FIXTURE_WRONG_TYPES);
    let dir = Dir::new("inspect-wrong");
    let run = dir.run(&["plugin", "inspect", wrong]);
    run.expect_code(0);
    assert!(
        run.stdout().contains(
            "world:   none (not a ChaosKit plugin: it exports the names of an injector but their types do not match the contract: "
        ),
        "{}",
        run.explain()
    );
}

/// Issue 11: the limits on what a plugin can make the host keep are shown by `plugin inspect`,
/// set in the scenario, and named with their value in the report when hit.
#[test]
fn plugin_limits_are_inspected_set_in_the_scenario_and_named_when_hit() {
    let misbehave = plugin_artifacts::path(plugin_artifacts::FIXTURE_MISBEHAVE);
    let dir = Dir::new("plugin-limits");
    let run = dir.run(&["plugin", "inspect", misbehave]);
    run.expect_code(0);
    for line in [
        "limits (defaults",
        "max_delay           1s",
        "max_message         4096 bytes",
        "log_rate            100 lines/s",
    ] {
        assert!(run.stdout().contains(line), "{line:?} in {}", run.explain());
    }
    let unknown = plugin_artifacts::path(plugin_artifacts::FIXTURE_UNKNOWN_IMPORT);
    dir.write("u.toml", &format!("{GOOD}[[plugins]]\npath = \"{unknown}\"\n"));
    let run = dir.run(&["run", "u.toml", "--quiet"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("imports `chaoskit:plugin/host@0.1.0#steal-secrets`, which this host does not define"),
        "{}",
        run.explain()
    );
    dir.write(
        "s.toml",
        &format!(
            "{GOOD}[[plugins]]\npath = \"{misbehave}\"\nlabel = \"forever\"\nconfig = {{ mode = \"forever\" }}\nlimits = {{ max_delay = \"3ms\", max_message = \"1KiB\", log_rate = 10 }}\n"
        ),
    );
    let run = dir.run(&["run", "s.toml", "--repeat", "3", "--quiet"]);
    run.expect_code(0);
    let j = crate::util::journal(&dir);
    // Five chaos points per iteration, each asked for u64::MAX ns, each applied 3 ms.
    assert_eq!(j["injectors"][0]["injections"]["delay"], 15);
    let notes = j["injectors"].to_string();
    assert!(
        notes.contains("plugin `forever` asked for 15 delays over the limit `max_delay` = 3ms (the longest 18446744073.709551615s); each applied 3ms"),
        "{notes}"
    );
}

/// Issue 15: grants come from the scenario (relative to the file) or from `--grant`; without
/// one the plugin says which grant it needs; a bad grant is a configuration error at its line,
/// from `validate` as from `run`; `plugin inspect` shows how each WASI import is provided.
#[test]
fn grants_reach_the_plugin_from_the_scenario_and_the_command_line() {
    let schedule = plugin_artifacts::path(plugin_artifacts::FAULT_SCHEDULE);
    let dir = Dir::new("grants");
    std::fs::create_dir_all(dir.join("schedules")).unwrap();
    dir.write("schedules/faults.txt", "every 1 delay 1\n");
    let entry = format!("{GOOD}[[plugins]]\npath = \"{schedule}\"\nlabel = \"schedule\"\n");
    dir.write("s.toml", &format!("{entry}grants = [\"fs:ro:schedules\"]\n"));
    let run = dir.run(&["run", "s.toml", "--repeat", "3", "--quiet"]);
    run.expect_code(0);
    let j = crate::util::journal(&dir);
    assert_eq!(j["injectors"][0]["injections"]["delay"], 3, "{}", run.explain());
    let notes = j["injectors"][0]["notes"].to_string();
    assert!(notes.contains("plugin `schedule` was granted `fs:ro:"), "{notes}");

    dir.write("n.toml", &entry);
    let run = dir.run(&["run", "n.toml", "--quiet"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("is its directory granted? e.g. `grants = [\"fs:ro:./schedules=/schedules\"]`"),
        "{}",
        run.explain()
    );
    let run =
        dir.run(&["run", "n.toml", "--repeat", "2", "--quiet", "--grant", &format!("{schedule}=fs:ro:schedules")]);
    run.expect_code(0);

    dir.write("b.toml", &format!("{entry}grants = [\"fs:ro:missing\"]\n"));
    let validate = dir.run(&["validate", "b.toml"]);
    validate.expect_code(2);
    let missing = dir.join("missing");
    assert_eq!(
        validate.stderr(),
        format!(
            "error: b.toml:10:11: plugins[0].grants[0]: `fs:ro:{0}=/missing`: `{0}` is not a directory\n",
            missing.display()
        )
    );
    let run = dir.run(&["run", "n.toml", "--grant", &format!("{schedule}=http:nowhere")]);
    run.expect_code(2);
    assert!(run.stderr().contains("`http:nowhere`: `nowhere` has no port"), "{}", run.explain());

    let run = dir.run(&["plugin", "inspect", schedule]);
    run.expect_code(0);
    assert!(run.stdout().contains("(empty: no directories; grant `fs:ro:DIR or fs:rw:DIR`)"), "{}", run.explain());
    assert!(
        run.stdout().contains("(virtual: derived from the iteration (replays); grant `clocks:wall`)"),
        "{}",
        run.explain()
    );
}

#[test]
fn concurrency_is_capped_in_the_file_and_on_the_command_line() {
    let dir = Dir::new("concurrency-cap");
    dir.write("bad.toml", &GOOD.replace("name = \"m\"", "name = \"m\"\nconcurrency = 1000000"));
    let run = dir.run(&["validate", "bad.toml"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(err.starts_with("error: bad.toml:4:"), "file and line: {}", run.explain());
    assert!(err.contains("scenario.concurrency") && err.contains("at most 1024"), "{}", run.explain());
    dir.write("good.toml", GOOD);
    let run = dir.run(&["run", "good.toml", "--concurrency", "5000"]);
    run.expect_code(2);
    assert!(run.stderr().contains("1024"), "{}", run.explain());
    // As with `--concurrency 0`: no iteration ran, and the journal says why.
    let j: serde_json::Value = serde_json::from_str(&dir.read("chaoskit-report/journal.json")).unwrap();
    assert_eq!((j["stop_reason"].as_str(), j["iterations"]["total"].as_u64()), (Some("not_started"), Some(0)));
    assert!(j["reasons"][0].as_str().unwrap().contains("1024"), "{j}");
}

/// Was: the scenario file was read whole whatever it was: `/dev/zero` behind a symlink
/// filled memory, a FIFO hung the command.
#[cfg(unix)]
#[test]
fn a_scenario_file_that_is_not_a_bounded_regular_file_is_refused() {
    let dir = Dir::new("scenario-bounds");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.toml")).unwrap();
    let run = dir.run(&["validate", "zero.toml"]);
    run.expect_code(2);
    assert!(run.stderr().contains("zero.toml") && run.stderr().contains("not a regular file"), "{}", run.explain());
    let fifo = dir.join("fifo.toml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let run = dir.run(&["validate", "fifo.toml"]);
    run.expect_code(2);
    assert!(run.stderr().contains("not a regular file"), "{}", run.explain());
    dir.write("big.toml", &format!("{GOOD}# {}\n", "x".repeat(5 << 20)));
    let run = dir.run(&["validate", "big.toml"]);
    run.expect_code(2);
    assert!(run.stderr().contains("larger than 4194304 bytes"), "{}", run.explain());
}
