//! The same scenario in TOML, YAML and JSON runs the same.

use crate::util::{Dir, journal};

const TOML: &str = r#"version = 1
[scenario]
name = "formats"
seed = 5
repeat = 10
failure_policy = "continue_on_failure"
[[steps]]
type = "command"
name = "true"
command = "true"
[[injectors]]
type = "error"
probability = 0.3
[[validators]]
type = "max_panics"
max = 0
"#;

const YAML: &str = r#"version: 1
scenario:
  name: formats
  seed: 5
  repeat: 10
  failure_policy: continue_on_failure
steps:
  - type: command
    name: "true"
    command: "true"
injectors:
  - type: error
    probability: 0.3
validators:
  - type: max_panics
    max: 0
"#;

const JSON: &str = r#"{
  "version": 1,
  "scenario": { "name": "formats", "seed": 5, "repeat": 10, "failure_policy": "continue_on_failure" },
  "steps": [ { "type": "command", "name": "true", "command": "true" } ],
  "injectors": [ { "type": "error", "probability": 0.3 } ],
  "validators": [ { "type": "max_panics", "max": 0 } ]
}"#;

#[test]
fn toml_yaml_and_json_scenarios_give_the_same_decisions() {
    let mut failures = Vec::new();
    for (name, text) in [("s.toml", TOML), ("s.yaml", YAML), ("s.json", JSON)] {
        let dir = Dir::new(name);
        dir.write(name, text);
        let run = dir.run(&["run", name, "-q"]);
        let j = journal(&dir);
        assert_eq!(j["iterations"]["total"], 10, "{}", run.explain());
        failures.push((j["iterations"]["failed"].clone(), j["verdict"].clone(), run.code()));
    }
    // Same seed, same injector: the same iterations fail whatever the file format.
    assert_eq!(failures[0], failures[1]);
    assert_eq!(failures[0], failures[2]);
    assert!(failures[0].0.as_u64().unwrap() > 0, "the error injector fired: {failures:?}");
}

#[test]
fn yml_is_yaml_too() {
    let dir = Dir::new("yml");
    dir.write("s.yml", YAML);
    dir.run(&["validate", "s.yml"]).expect_code(0);
}
