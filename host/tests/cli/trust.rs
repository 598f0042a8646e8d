//! What the reports say must be exactly true: plugin text cannot forge a line, a critical
//! complaint fails the run, failures are grouped for triage with the replay command, and a
//! plugin configuration is checked by `validate` as by `run`.

use crate::util::{Dir, journal};

const STEPS: &str = "[[steps]]\ntype = \"command\"\nname = \"call\"\ncommand = \"true\"\n";

#[test]
fn a_plugin_message_cannot_forge_a_verdict_and_a_critical_complaint_fails_the_run() {
    let liar = plugin_artifacts::path(plugin_artifacts::FIXTURE_BAD_VALIDATOR);
    let dir = Dir::new("liar");
    dir.write(
        "s.toml",
        &format!(
            "version = 1\n[scenario]\nname = \"liar\"\nrepeat = 40\nseed = 1\nfailure_policy = \"continue_on_failure\"\nthresholds = {{ min_success_rate = 0.0 }}\n{STEPS}[[plugins]]\npath = \"{liar}\"\nlabel = \"liar\"\nconfig = {{ mode = \"lie\", every = 20 }}\n"
        ),
    );
    let run = dir.run(&["run", "s.toml"]);
    // 2 of 40 iterations complained about by a critical validator: the run fails, although
    // the success rate (95%) is above the minimum.
    run.expect_code(1);
    for (what, text) in [("stdout", run.stdout()), ("report.txt", dir.read("chaoskit-report/report.txt"))] {
        assert!(!text.contains('\u{1b}'), "{what} carries a raw escape sequence:\n{text}");
        let verdicts: Vec<&str> = text.lines().filter(|l| l.starts_with("VERDICT")).collect();
        assert_eq!(verdicts, vec!["VERDICT: FAIL"], "{what}: exactly one verdict line\n{text}");
        assert!(text.contains("leak\\n\\nVERDICT: PASS\\e[2K\\e[1A"), "{what} shows the text escaped:\n{text}");
    }
    assert!(!run.stderr().contains('\u{1b}'), "{}", run.explain());
    let j = journal(&dir);
    assert_eq!(j["verdict"], "FAIL");
    assert_eq!(j["iterations"]["failed"], 2);
    let reason = j["reasons"].as_array().unwrap().iter().find_map(|r| r.as_str().filter(|r| r.contains("liar")));
    let reason = reason.expect("a reason names the critical validator");
    assert!(reason.starts_with("critical validator `liar` complained about 2 of 40 iterations: leak"), "{reason}");
    assert!(reason.contains("a critical validator's complaint fails the run"), "{reason}");
    // The JSON keeps the plugin's text exactly; only display escapes it.
    assert_eq!(j["failures"][0]["violations"][0]["message"], "leak\n\nVERDICT: PASS\u{1b}[2K\u{1b}[1A");
}

#[test]
fn failures_are_grouped_with_counts_injectors_and_the_replay_command() {
    let dir = Dir::new("groups");
    dir.write(
        "s.toml",
        r#"version = 1
[scenario]
name = "groups"
repeat = 200
seed = 11
failure_policy = "continue_on_failure"
thresholds = { min_success_rate = 0.0 }
[[steps]]
type = "command"
name = "pay"
command = "true"
[[injectors]]
type = "failpoint"
label = "declined"
name = "pay"
probability = 0.3
action = "error"
message = "card declined"
[[injectors]]
type = "delay"
label = "slow"
probability = 0.5
min = "1us"
max = "2us"
"#,
    );
    let run = dir.run(&["run", "s.toml", "--report-dir", "out dir"]);
    run.expect_code(0);
    let j: serde_json::Value = serde_json::from_str(&dir.read("out dir/journal.json")).unwrap();
    let failures = j["failures"].as_array().unwrap();
    let failed = j["iterations"]["failed"].as_u64().unwrap();
    assert!(failed > 20, "{failed}");
    assert_eq!(failures.len() as u64, failed);
    let first = failures.iter().map(|f| f["index"].as_u64().unwrap()).min().unwrap();
    let last = failures.iter().map(|f| f["index"].as_u64().unwrap()).max().unwrap();
    let text = run.stdout();
    // The journal records the scenario's absolute path, so the command works from anywhere.
    let scenario = dir.join("s.toml").canonicalize().unwrap().display().to_string();
    assert!(text.contains("in 1 group"), "{text}");
    assert!(text.contains(&format!("  1. {failed} × step `pay`: chaos: card declined\n")), "{text}");
    assert!(text.contains(&format!("first iteration {first}, last {last}")), "{text}");
    assert!(text.contains(&format!("injectors fired: declined (in {failed})")), "{text}");
    assert!(
        text.contains(&format!("replay: chaoskit-host replay 'out dir/journal.json' {scenario} --iteration {first}")),
        "{text}"
    );
    assert_eq!(text.matches("card declined").count(), 1, "one line for the whole group:\n{text}");
    let html = dir.read("out dir/report.html");
    assert_eq!(html.matches("<details class=\"group\"").count(), 1);
    assert!(
        html.contains(&format!("chaoskit-host replay &#39;out dir/journal.json&#39; {scenario} --iteration {first}"))
    );
    // Expanded, the group lists each iteration's decisions.
    assert!(html.contains("declined → error &#34;card declined&#34; at failpoint `pay`"), "decisions listed");
}

#[test]
fn validate_checks_a_plugin_configuration_as_run_does() {
    let validator = plugin_artifacts::path(plugin_artifacts::FIXTURE_BAD_VALIDATOR);
    let dir = Dir::new("plugin-config");
    dir.write(
        "s.yaml",
        &format!(
            "version: 1\nscenario:\n  name: cfg\nsteps:\n  - type: command\n    command: \"true\"\nplugins:\n  - path: {validator}\n    label: strict\n    config: {{ mode: trap, evry: 2 }}\n"
        ),
    );
    let validate = dir.run(&["validate", "s.yaml"]);
    validate.expect_code(2);
    let run = dir.run(&["run", "s.yaml"]);
    run.expect_code(2);
    assert_eq!(validate.stderr(), run.stderr());
    assert!(
        validate
            .stderr()
            .starts_with("error: s.yaml:10:13: plugins[0].config: plugin `strict` refused its configuration: "),
        "{}",
        validate.explain()
    );
    assert!(validate.stderr().contains("evry"), "{}", validate.explain());

    // The same plugin from the command line, configured with --plugin-config.
    dir.write("plain.toml", &format!("version = 1\n[scenario]\nname = \"cfg\"\n{STEPS}"));
    let flag = format!("{validator}={{\"mode\": \"trap\", \"evry\": 2}}");
    let validate = dir.run(&["validate", "plain.toml", "--plugin", validator, "--plugin-config", &flag]);
    validate.expect_code(2);
    assert!(
        validate.stderr().starts_with(&format!("error: --plugin-config {validator}: plugin `")),
        "{}",
        validate.explain()
    );
    let good = format!("{validator}={{\"mode\": \"trap\", \"every\": 1000}}");
    dir.run(&["validate", "plain.toml", "--plugin", validator, "--plugin-config", &good]).expect_code(0);
    let stray = dir.run(&["validate", "plain.toml", "--plugin-config", "other.wasm={}"]);
    stray.expect_code(2);
    assert!(
        stray.stderr().contains("--plugin-config names `other.wasm`, which is not a loaded plugin"),
        "{}",
        stray.explain()
    );
}

#[test]
fn every_path_in_the_help_examples_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf();
    let dir = Dir::new("help-paths");
    let mut checked = 0;
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["validate", "--help"],
        &["report", "--help"],
        &["plugin", "inspect", "--help"],
    ] {
        let help = dir.run(args);
        help.expect_code(0);
        for token in help.stdout().split_whitespace() {
            let path = token.split('=').next().unwrap_or(token).trim_matches(|c| c == '\'' || c == '"');
            if !(path.starts_with("examples/") || path.starts_with("plugins/")) {
                continue;
            }
            // A built component names the plugin crate it is built from.
            let source = match path.strip_prefix("plugins/target/wasm32-wasip2/release/") {
                Some(wasm) => format!("plugins/{}", wasm.trim_end_matches(".wasm").replace('_', "-")),
                None => path.to_string(),
            };
            assert!(
                root.join(&source).exists(),
                "`chaoskit-host {}` shows `{path}`, which does not exist",
                args.join(" ")
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "the examples name real paths ({checked} checked)");
}

#[test]
fn logs_are_plain_text_when_stderr_is_not_a_terminal() {
    let dir = Dir::new("plain-logs");
    dir.write("s.toml", &format!("version = 1\n[scenario]\nname = \"logs\"\nrepeat = 2\n{STEPS}"));
    let run = dir.run(&["-v", "run", "s.toml"]);
    run.expect_code(0);
    assert!(run.stderr().contains("INFO"), "info logs are on: {}", run.explain());
    assert!(!run.stderr().contains('\u{1b}'), "no colour codes in a pipe: {}", run.explain());
}

#[test]
fn a_flag_mistake_after_the_file_was_read_still_leaves_a_report() {
    let dir = Dir::new("flag-report");
    dir.write("s.toml", &format!("version = 1\n[scenario]\nname = \"flags\"\n{STEPS}"));
    let run = dir.run(&["run", "s.toml", "--concurrency", "0"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "error: --concurrency 0: give at least 1\n");
    let j = journal(&dir);
    assert_eq!((j["verdict"].as_str(), j["stop_reason"].as_str()), (Some("FAIL"), Some("not_started")));
    assert_eq!(j["reasons"][0], "the run could not start: --concurrency 0: give at least 1");
    assert!(dir.read("chaoskit-report/report.txt").contains("VERDICT: FAIL"));
}

#[test]
fn a_journal_never_chooses_the_scenario_that_replay_runs() {
    let dir = Dir::new("journal-chooses");
    // Each iteration appends to ran.txt, then fails: the command step is what a hostile
    // journal would want to run.
    dir.write(
        "s.toml",
        r#"version = 1
[scenario]
name = "chooses"
repeat = 3
seed = 5
failure_policy = "continue_on_failure"
[[steps]]
type = "command"
name = "mark"
command = "sh"
args = ["-c", "echo x >> ran.txt"]
[[steps]]
type = "command"
name = "pay"
command = "true"
[[injectors]]
type = "failpoint"
label = "declined"
name = "pay"
probability = 1.0
action = "error"
message = "card declined"
"#,
    );
    dir.run(&["run", "s.toml", "--quiet"]).expect_code(1);
    std::fs::remove_file(dir.join("ran.txt")).expect("the run ran its steps");

    for command in ["replay", "shrink"] {
        let refused = dir.run(&[command, "chaoskit-report/journal.json", "--iteration", "0"]);
        refused.expect_code(2);
        let err = refused.stderr();
        assert!(err.contains("names scenario `") && err.contains("s.toml"), "{}", refused.explain());
        assert!(err.contains("it is not run without your say"), "{}", refused.explain());
        assert!(
            err.contains(&format!("chaoskit-host {command} chaoskit-report/journal.json "))
                && err.contains("--iteration 0"),
            "the confirming command: {}",
            refused.explain()
        );
        assert!(!dir.join("ran.txt").exists(), "`{command}` without a scenario ran the journal's scenario");
    }

    let named = dir.run(&["replay", "chaoskit-report/journal.json", "s.toml", "--iteration", "0"]);
    named.expect_code(0);
    assert!(dir.join("ran.txt").exists(), "the scenario the user named runs: {}", named.explain());
}
