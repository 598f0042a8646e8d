//! `replay` and `shrink` against a real service (the checkout example) behind in-process
//! chaos proxies, and the seed settled before proxies are built.

use std::path::PathBuf;

use super::util::{Dir, free_port, http_service, journal};

/// The checkout example's binary (cargo builds the package's examples for `cargo test`).
fn checkout_service() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_chaoskit-host"));
    let path = bin.parent().expect("bin dir").join("examples").join("checkout_service");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p chaoskit-host --example checkout_service`",
        path.display()
    );
    path
}

/// The README's checkout scenario on free ports, with the service binary given directly.
fn checkout_scenario(dir: &Dir) -> PathBuf {
    let text = include_str!("../../../examples/scenarios/checkout.toml");
    let ports: Vec<String> = (0..4).map(|_| free_port().to_string()).collect();
    let service = checkout_service();
    let text = text
        .replace(
            r#"command = "cargo"
args = ["run", "--quiet", "-p", "chaoskit-host", "--example", "checkout_service", "--","#,
            &format!("command = {:?}\nargs = [", service.display().to_string()),
        )
        .replace("8091", &ports[0])
        .replace("8092", &ports[1])
        .replace("8093", &ports[2])
        .replace("8094", &ports[3])
        .replace("repeat = 120", "repeat = 60");
    assert!(!text.contains("\"cargo\""), "the target command was replaced");
    dir.write("checkout.toml", &text)
}

fn first_double_charge(dir: &Dir) -> u64 {
    let j = journal(dir);
    j["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .find(|f| f["failed_step"] == "audit")
        .unwrap_or_else(|| panic!("some iteration double-charged: {}", j["failures"]))["index"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_double_charge_is_found_replayed_100_times_and_shrunk_to_its_two_faults() {
    let dir = Dir::new("replay");
    let scenario = checkout_scenario(&dir);
    let run = dir.run(&["run", scenario.to_str().unwrap(), "--quiet"]);
    run.expect_code(1);
    let k = first_double_charge(&dir).to_string();

    let replay =
        dir.run(&["replay", "chaoskit-report/journal.json", "checkout.toml", "--iteration", &k, "--times", "100"]);
    replay.expect_code(0);
    assert!(replay.stdout().contains("REPRODUCED: 100/100 replays failed the same way"), "{}", replay.explain());

    let shrink = dir.run(&["shrink", "chaoskit-report/journal.json", "checkout.toml", "--iteration", &k]);
    shrink.expect_code(0);
    let out = shrink.stdout();
    let schedule: serde_json::Value =
        serde_json::from_str(&dir.read(&format!("chaoskit-report/schedule-iteration-{k}.json"))).unwrap();
    let mut kept: Vec<&str> =
        schedule["decisions"].as_array().unwrap().iter().map(|d| d["injector"].as_str().unwrap()).collect();
    kept.sort();
    assert_eq!(kept, ["lost-answer", "slow-status"], "{out}");
    let replays: u32 = out.split(" in ").nth(1).and_then(|s| s.split(' ').next()).unwrap().parse().unwrap();
    assert!(replays <= 50, "{out}");

    let again =
        dir.run(&["replay", &format!("chaoskit-report/schedule-iteration-{k}.json"), "checkout.toml", "--times", "5"]);
    again.expect_code(0);
    assert!(again.stdout().contains("REPRODUCED: 5/5"), "{}", again.explain());

    let seeded = dir.run(&[
        "replay",
        "chaoskit-report/journal.json",
        "checkout.toml",
        "--iteration",
        &k,
        "--seeded",
        "--times",
        "3",
    ]);
    seeded.expect_code(0);
    assert!(seeded.stdout().contains("the seed drew exactly the journaled decisions"), "{}", seeded.explain());
}

#[test]
fn replay_refuses_a_changed_scenario_or_a_passing_iteration_unless_told() {
    let dir = Dir::new("replay-refuse");
    let scenario = checkout_scenario(&dir);
    dir.run(&["run", scenario.to_str().unwrap(), "--quiet"]).expect_code(1);
    let j = journal(&dir);
    let k = first_double_charge(&dir).to_string();
    let passing = j["samples"].as_array().unwrap().iter().find(|s| s["ok"] == true).unwrap()["index"].to_string();

    let passed = dir.run(&["replay", "chaoskit-report/journal.json", "checkout.toml", "--iteration", &passing]);
    passed.expect_code(2);
    assert!(passed.stderr().contains("passed; there is no failure to replay"), "{}", passed.explain());
    let missing = dir.run(&["replay", "chaoskit-report/journal.json", "checkout.toml"]);
    missing.expect_code(2);
    assert!(missing.stderr().contains("pass --iteration K (failing iterations kept:"), "{}", missing.explain());

    let text = std::fs::read_to_string(&scenario).unwrap();
    std::fs::write(&scenario, text.replace("probability = 0.5", "probability = 0.4")).unwrap();
    let changed = dir.run(&["replay", "chaoskit-report/journal.json", "checkout.toml", "--iteration", &k]);
    changed.expect_code(2);
    assert!(changed.stderr().contains("changed since the run; pass --force"), "{}", changed.explain());
    let forced = dir.run(&["replay", "chaoskit-report/journal.json", "checkout.toml", "--iteration", &k, "--force"]);
    forced.expect_code(0);
    assert!(forced.stderr().contains("replaying anyway (--force)"), "{}", forced.explain());
}

#[test]
fn a_file_without_seed_replays_every_decision_including_the_proxys_with_the_reported_seed() {
    let dir = Dir::new("seedless");
    let port = http_service();
    let proxy_port = free_port();
    let scenario = dir.write(
        "seedless.toml",
        &format!(
            r#"version = 1
[scenario]
name = "seedless"
repeat = 40
failure_policy = "continue_on_failure"
thresholds = {{ preset = "relaxed", min_success_rate = 0.0 }}
[target]
type = "address"
address = "127.0.0.1:{port}"
[[proxies]]
name = "link"
listen = "127.0.0.1:{proxy_port}"
upstream = "127.0.0.1:{port}"
[[steps]]
type = "http"
name = "via-proxy"
url = "http://127.0.0.1:{proxy_port}/ok"
timeout = "2s"
[[injectors]]
type = "delay"
probability = 0.3
min = "1ms"
max = "2ms"
[[injectors]]
type = "proxy_toxic"
label = "per-iteration"
proxy = "link"
toxic = "latency"
attributes = {{ latency = 1 }}
probability = 0.4
per_iteration = true
[[injectors]]
type = "proxy_toxic"
label = "some-connections"
proxy = "link"
toxic = "latency"
attributes = {{ latency = 1 }}
toxicity = 0.5
"#
        ),
    );
    let decisions = |j: &serde_json::Value| {
        let mut all: Vec<serde_json::Value> =
            j["failures"].as_array().unwrap().iter().chain(j["samples"].as_array().unwrap()).cloned().collect();
        all.sort_by_key(|r| r["index"].as_u64());
        let per_iteration: Vec<String> = all.iter().map(|r| format!("{} {}", r["index"], r["decisions"])).collect();
        (per_iteration, j["run_decisions"].clone())
    };
    dir.run(&["run", scenario.to_str().unwrap(), "--quiet", "--report-dir", "first"]).expect_code(0);
    let first: serde_json::Value = serde_json::from_str(&dir.read("first/journal.json")).unwrap();
    let seed = first["seed"].as_u64().unwrap().to_string();
    dir.run(&["run", scenario.to_str().unwrap(), "--quiet", "--report-dir", "second", "--seed", &seed]).expect_code(0);
    let second: serde_json::Value = serde_json::from_str(&dir.read("second/journal.json")).unwrap();
    let (iterations, run) = decisions(&first);
    assert!(
        run.as_array().is_some_and(|r| r.iter().any(|d| d["injector"] == "proxy link")),
        "the proxy's toxicity draws are journaled: {run}"
    );
    assert!(iterations.iter().any(|l| l.contains("per-iteration")), "{iterations:?}");
    assert_eq!(decisions(&second), (iterations, run));
}
