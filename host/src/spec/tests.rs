//! Spec parsing and resolution, with the user-facing error texts pinned.

use std::path::Path;

use super::schema::{InjectorSpec, StepSpec};
use super::*;

const MINIMAL_TOML: &str = r#"
version = 1

[scenario]
name = "mini"
repeat = 5

[[steps]]
type = "command"
command = "true"
"#;

fn toml(text: &str) -> Result<ScenarioFile, SpecError> {
    from_str(text, Format::Toml, "s.toml")
}

fn err(r: Result<ScenarioFile, SpecError>) -> String {
    r.expect_err("should fail").to_string()
}

fn resolved(text: &str) -> Result<ResolvedScenario, SpecError> {
    resolve(toml(text)?, "s.toml", Path::new("/base"))
}

#[test]
fn the_demo_scenario_parses_and_resolves() {
    let file = toml(include_str!("../../../examples/scenarios/demo.toml")).unwrap();
    assert_eq!(file.steps.len(), 3);
    assert_eq!(file.proxies.len(), 1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
    let r = resolve(file, "demo.toml", &dir).unwrap();
    assert_eq!(r.name, "demo: items under chaos");
    assert_eq!(r.repeat, Some(300));
    assert_eq!(r.concurrency, 4);
    assert_eq!(r.thresholds.min_success_rate, 0.90);
    assert_eq!(r.injectors[2].label(), Some("failpoint"));
    let ResolvedTarget::Process { program, cwd, .. } = &r.target else { panic!("process target") };
    assert_eq!(program, Path::new("cargo"));
    assert_eq!(cwd, &dir);
    // The Wasm plugins are crates the run builds first; only the state check reaches out,
    // to the one address it is granted.
    assert_eq!(
        r.plugins.iter().map(|p| (p.label.as_str(), p.build, p.grants.len())).collect::<Vec<_>>(),
        [("latency-spike", true, 0), ("p99-under-1s", true, 0), ("service-counters", true, 1)]
    );
}

#[test]
fn toml_yaml_and_json_read_the_same_schema() {
    let toml_text = r#"
version = 1
[scenario]
name = "same"
duration = "2s"
thresholds = { preset = "strict" }
[target]
type = "address"
address = "127.0.0.1:9"
[[steps]]
type = "http"
url = "http://127.0.0.1:9/x"
expect_status = [200, 204]
headers = { accept = "text/plain" }
[[injectors]]
type = "memory"
size = "1MiB"
[[validators]]
type = "no_stall"
timeout = "1s"
severity = "warning"
"#;
    let yaml_text = r#"
version: 1
scenario:
  name: same
  duration: 2s
  thresholds: { preset: strict }
target:
  type: address
  address: "127.0.0.1:9"
steps:
  - type: http
    url: http://127.0.0.1:9/x
    expect_status: [200, 204]
    headers: { accept: text/plain }
injectors:
  - type: memory
    size: 1MiB
validators:
  - type: no_stall
    timeout: 1s
    severity: warning
"#;
    let json_text = r#"{
  "version": 1,
  "scenario": { "name": "same", "duration": "2s", "thresholds": { "preset": "strict" } },
  "target": { "type": "address", "address": "127.0.0.1:9" },
  "steps": [ { "type": "http", "url": "http://127.0.0.1:9/x", "expect_status": [200, 204], "headers": { "accept": "text/plain" } } ],
  "injectors": [ { "type": "memory", "size": "1MiB" } ],
  "validators": [ { "type": "no_stall", "timeout": "1s", "severity": "warning" } ]
}"#;
    let a = toml(toml_text).unwrap();
    let b = from_str(yaml_text, Format::Yaml, "s.yaml").unwrap();
    let c = from_str(json_text, Format::Json, "s.json").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.injectors[0], InjectorSpec::Memory { label: None, size: units::ByteSize(1 << 20) });
}

#[test]
fn an_unknown_injector_type_suggests_the_closest_name_in_every_format() {
    let t = MINIMAL_TOML.to_string() + "\n[[injectors]]\ntype = \"dealy\"\nprobability = 0.1\n";
    assert_eq!(
        err(toml(&t)),
        "s.toml:13:8: injectors[0].type: unknown value `dealy`; valid values: `delay`, `delay_every`, `panic`, `error`, `cancel`, `failpoint`, `network`, `cpu`, `memory`, `proxy_toxic`, `proxy_down` (did you mean `delay`?)"
    );
    let y = "version: 1\nscenario: { name: y }\nsteps:\n  - { type: command, command: \"true\" }\ninjectors:\n  - type: dealy\n    probability: 0.1\n";
    assert_eq!(
        err(from_str(y, Format::Yaml, "s.yaml")),
        "s.yaml:6:5: injectors[0].type: unknown value `dealy`; valid values: `delay`, `delay_every`, `panic`, `error`, `cancel`, `failpoint`, `network`, `cpu`, `memory`, `proxy_toxic`, `proxy_down` (did you mean `delay`?)"
    );
    let j = "{\"version\": 1, \"scenario\": {\"name\": \"j\"},\n \"steps\": [{\"type\": \"command\", \"command\": \"true\"}],\n \"injectors\": [{\"type\": \"dealy\"}]}";
    assert_eq!(
        err(from_str(j, Format::Json, "s.json")),
        "s.json:3:31: injectors[0].type: unknown value `dealy`; valid values: `delay`, `delay_every`, `panic`, `error`, `cancel`, `failpoint`, `network`, `cpu`, `memory`, `proxy_toxic`, `proxy_down` (did you mean `delay`?)"
    );
}

#[test]
fn an_unknown_key_names_the_path_and_the_closest_key() {
    let t = MINIMAL_TOML.replace("command = \"true\"", "command = \"true\"\ntimout = \"1s\"");
    assert_eq!(
        err(toml(&t)),
        "s.toml:11:1: steps[0].timout: unknown key `timout`; valid keys: `name`, `command`, `args`, `env`, `cwd`, `timeout` (did you mean `timeout`?)"
    );
}

#[test]
fn a_bad_duration_names_the_key_and_shows_the_valid_forms() {
    let t = MINIMAL_TOML.replace("command = \"true\"", "command = \"true\"\ntimeout = \"5 sec\"");
    assert_eq!(
        err(toml(&t)),
        "s.toml:11:11: steps[0].timeout: invalid duration \"5 sec\" (expected e.g. \"500ms\", \"5s\", \"10m\")"
    );
    let y =
        "version: 1\nscenario: { name: y }\nsteps:\n  - type: http\n    url: http://127.0.0.1:1/\n    timeout: soon\n";
    assert_eq!(
        err(from_str(y, Format::Yaml, "s.yaml")),
        "s.yaml:6:14: steps[0].timeout: invalid duration \"soon\" (expected e.g. \"500ms\", \"5s\", \"10m\")"
    );
    let t = MINIMAL_TOML.replace("repeat = 5", "duration = 30");
    assert_eq!(
        err(toml(&t)),
        "s.toml:6:12: scenario.duration: a bare number (30) is ambiguous for a duration; write a unit, e.g. \"30ms\" or \"30s\""
    );
}

#[test]
fn versions_are_checked_first() {
    assert_eq!(
        err(toml(&MINIMAL_TOML.replace("version = 1", ""))),
        "s.toml: missing `version`; add `version = 1` at the top of the file"
    );
    assert_eq!(
        err(toml(&MINIMAL_TOML.replace("version = 1", "version = 2"))),
        "s.toml: `version = 2` is not supported; this host reads `version = 1`"
    );
}

#[test]
fn syntax_errors_carry_a_position() {
    let e = err(toml("version = 1\n[scenario\nname = 1\n"));
    assert!(e.starts_with("s.toml:2:"), "{e}");
    let e = err(from_str("{\"version\": 1,", Format::Json, "s.json"));
    assert!(e.starts_with("s.json:1:"), "{e}");
}

#[test]
fn resolution_rules_name_the_key() {
    let both = MINIMAL_TOML.replace("repeat = 5", "repeat = 5\nduration = \"1s\"");
    assert_eq!(
        resolved(&both).unwrap_err().to_string(),
        "s.toml: scenario: `repeat` and `duration` are exclusive; set one"
    );
    let watch = MINIMAL_TOML.to_string() + "\n[[validators]]\ntype = \"target_rss\"\nmax = \"1GiB\"\n";
    assert_eq!(
        resolved(&watch).unwrap_err().to_string(),
        "s.toml: validators[0]: `target_rss` watches the target process; it needs `[target] type = \"process\"`"
    );
    let dup = MINIMAL_TOML.to_string()
        + "\n[[injectors]]\ntype = \"cancel\"\nprobability = 0.1\n[[injectors]]\ntype = \"cancel\"\nprobability = 0.2\n";
    assert_eq!(
        resolved(&dup).unwrap_err().to_string(),
        "s.toml: injectors[1].label: two injectors are labelled `cancel` (a label defaults to the type name); give each a distinct `label`"
    );
    let https = MINIMAL_TOML.to_string() + "\n[[steps]]\ntype = \"http\"\nurl = \"https://example.com/\"\n";
    assert_eq!(
        resolved(&https).unwrap_err().to_string(),
        "s.toml: steps[1].url: `https://example.com/`: https is not supported (this host has no TLS); use http://"
    );
}

#[test]
fn defaults_are_filled_in() {
    let r = resolved(MINIMAL_TOML).unwrap();
    assert_eq!(r.repeat, Some(5));
    assert_eq!(r.concurrency, 1);
    assert_eq!(r.failure_policy, crate::FailurePolicy::FailFast);
    assert_eq!(r.grace_period.0, std::time::Duration::from_secs(5));
    let StepSpec::Command(c) = &r.steps[0] else { panic!("command step") };
    assert_eq!(c.name.as_deref(), Some("command-1"));
    assert_eq!(c.cwd.as_deref(), Some("/base"));
}

#[test]
fn plugins_resolve_against_the_file_with_their_config_as_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slow.wasm"), b"\0asm").unwrap();
    let t = MINIMAL_TOML.to_string()
        + "\n[[plugins]]\npath = \"slow.wasm\"\nconfig = { n = 10, name = \"x\" }\nlimits = { memory = \"16MiB\", decide_deadline = \"2ms\" }\ngrants = [\"stdio\"]\n";
    let r = resolve(toml(&t).unwrap(), "s.toml", dir.path()).unwrap();
    let p = &r.plugins[0];
    assert_eq!(p.label, "slow");
    assert_eq!(p.path, dir.path().join("slow.wasm"));
    assert_eq!(p.config_json, r#"{"n":10,"name":"x"}"#);
    assert_eq!(p.limits.memory_bytes, Some(16 << 20));
    assert_eq!(p.grants, vec!["stdio".to_string()]);
    let clocks = t.replace("\"stdio\"", "\"clock\"");
    let e = resolve(toml(&clocks).unwrap(), "s.toml", dir.path()).unwrap_err().to_string();
    assert_eq!(
        e,
        "s.toml: plugins[0].grants[0]: unknown grant `clock`; valid grants: `stdio`, `random:os`, `clocks:wall`, `fs:ro:DIR[=GUEST]`, `fs:rw:DIR[=GUEST]`, `http:HOST:PORT`, `tcp:HOST:PORT`, `env:NAME[=VALUE]` (did you mean `clocks`?)"
    );
    // A directory grant is made absolute against the file's directory and must exist.
    std::fs::create_dir(dir.path().join("schedules")).unwrap();
    let fs = t.replace("\"stdio\"", "\"stdio\", \"fs:ro:schedules\", \"http:127.0.0.1:8080\"");
    let r = resolve(toml(&fs).unwrap(), "s.toml", dir.path()).unwrap();
    assert_eq!(
        r.plugins[0].grants,
        vec![
            "stdio".to_string(),
            format!("fs:ro:{}=/schedules", dir.path().join("schedules").display()),
            "http:127.0.0.1:8080".to_string()
        ]
    );
    let gone = t.replace("\"stdio\"", "\"stdio\", \"fs:ro:gone\"");
    let e = resolve(toml(&gone).unwrap(), "s.toml", dir.path()).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "s.toml: plugins[0].grants[1]: `fs:ro:{0}=/gone`: `{0}` is not a directory",
            dir.path().join("gone").display()
        )
    );
    let no_port = t.replace("\"stdio\"", "\"http:localhost\"");
    let e = resolve(toml(&no_port).unwrap(), "s.toml", dir.path()).unwrap_err().to_string();
    assert_eq!(
        e,
        "s.toml: plugins[0].grants[0]: `http:localhost`: `localhost` has no port (write `HOST:PORT`, `*` for any)"
    );
    let missing = MINIMAL_TOML.to_string() + "\n[[plugins]]\npath = \"nope.wasm\"\n";
    let e = resolve(toml(&missing).unwrap(), "s.toml", dir.path()).unwrap_err().to_string();
    assert!(
        e.starts_with("s.toml: plugins[0].path: no component file or plugin crate directory at `nope.wasm`"),
        "{e}"
    );
    // A directory with a Cargo.toml is a plugin crate the run builds first.
    std::fs::create_dir(dir.path().join("my-plugin")).unwrap();
    std::fs::write(dir.path().join("my-plugin/Cargo.toml"), "[package]\nname = \"my-plugin\"\n").unwrap();
    let from_source = MINIMAL_TOML.to_string() + "\n[[plugins]]\npath = \"my-plugin\"\n";
    let r = resolve(toml(&from_source).unwrap(), "s.toml", dir.path()).unwrap();
    assert!(r.plugins[0].build);
    assert_eq!(r.plugins[0].label, "my-plugin");
    assert_eq!(r.plugins[0].path, dir.path().join("my-plugin"));
}

#[test]
fn a_resolved_scenario_builds() {
    let r = resolved(MINIMAL_TOML).unwrap();
    let s = build(&r, BuildOptions::default()).unwrap();
    assert_eq!(s.name(), "mini");
    let bad = MINIMAL_TOML.to_string()
        + "\n[[injectors]]\ntype = \"delay\"\nprobability = 1.5\nmin = \"1ms\"\nmax = \"2ms\"\n";
    // Refused by the shared validation pass, before building, at the value's line.
    let e = resolved(&bad).unwrap_err();
    assert_eq!(
        e.located(&crate::spec::SourceMap::new(&bad, Format::Toml)).to_string(),
        "s.toml:14:15: injectors[0].probability: probability 1.5 is outside [0, 1] (0.1 means 10% of chaos points)"
    );
}

fn doc_block<'a>(doc: &'a str, lang: &str, nth: usize) -> &'a str {
    let fence = format!("```{lang}\n");
    let start = doc.match_indices(&fence).nth(nth).map(|(i, _)| i + fence.len()).expect("block");
    &doc[start..start + doc[start..].find("```").expect("closed block")]
}

#[test]
fn the_examples_in_docs_scenario_md_parse() {
    let doc = include_str!("../../../docs/scenario.md");
    let full = toml(doc_block(doc, "toml", 0)).unwrap();
    assert_eq!(full.steps.len(), 3);
    assert_eq!(full.injectors.len(), 3);
    assert_eq!(full.validators.len(), 2);
    assert_eq!(full.plugins[0].config, Some(serde_json::json!({ "n": 10, "delay_ms": 25 })));
    let yaml = from_str(doc_block(doc, "yaml", 0), Format::Yaml, "doc.yaml").unwrap();
    let json = from_str(doc_block(doc, "json", 0), Format::Json, "doc.json").unwrap();
    assert_eq!(yaml, json);
    resolve(yaml, "doc.yaml", Path::new("/")).unwrap();
    let proxies = format!(
        "version = 1\n[scenario]\nname = \"p\"\n[[steps]]\ntype = \"command\"\ncommand = \"true\"\n{}",
        doc_block(doc, "toml", 1)
    );
    let with_proxies = resolve(toml(&proxies).unwrap(), "doc.toml", Path::new("/")).unwrap();
    assert_eq!(with_proxies.proxies[0].name, "db");
    assert_eq!(with_proxies.injectors[0].label(), Some("slow-db"));
    assert_eq!(with_proxies.injectors[1].label(), Some("proxy_down"));
}
