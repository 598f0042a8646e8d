//! `run --shard I/N` and `report merge`: one scenario as one process and as four shard
//! processes of the real binary, merged into the same report; replay from the merged journal.

use std::collections::BTreeMap;

use serde_json::Value;

use super::util::{Dir, http_service};

fn scenario(port: u16) -> String {
    format!(
        r#"version = 1
[scenario]
name = "sharded checkout"
seed = 1234
repeat = 120
concurrency = 2
failure_policy = "continue_on_failure"
thresholds = {{ min_success_rate = 0.5 }}

[target]
type = "address"
address = "127.0.0.1:{port}"

[[steps]]
type = "http"
name = "get"
url = "http://127.0.0.1:{port}/ok"
timeout = "2s"

[[injectors]]
type = "delay"
probability = 0.3
min = "1ms"
max = "2ms"

[[injectors]]
type = "error"
probability = 0.15
message = "injected 503"

[[injectors]]
type = "panic"
probability = 0.05

[[validators]]
type = "max_iteration_time"
max = "5s"

[[validators]]
type = "max_panics"
max = 2
"#
    )
}

fn read(dir: &Dir, path: &str) -> Value {
    serde_json::from_str(&dir.read(path)).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// Every kept iteration by index: whether it passed, its error and its decisions.
fn kept(j: &Value) -> BTreeMap<u64, Value> {
    let mut out = BTreeMap::new();
    for list in ["failures", "samples"] {
        for r in j[list].as_array().expect("kept iterations") {
            let v = serde_json::json!([r["ok"], r["error"], r["decisions"]]);
            out.insert(r["index"].as_u64().unwrap(), v);
        }
    }
    out
}

#[test]
fn four_shard_processes_merge_into_the_single_runs_decisions_counts_and_verdict() {
    let port = http_service();
    let dir = Dir::new("shard");
    dir.write("s.toml", &scenario(port));
    let single = dir.run(&["run", "s.toml", "--quiet", "--report-dir", "single"]);
    let single_code = single.code();
    assert!(single_code == 0 || single_code == 1, "{}", single.explain());

    // Four shard processes at once, as an Indexed Job would run them.
    let shards: Vec<_> = (0..4)
        .map(|i| {
            dir.command(&[
                "run",
                "s.toml",
                "--quiet",
                "--shard",
                &format!("{i}/4"),
                "--report-dir",
                &format!("shard-{i}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn a shard")
        })
        .collect();
    for (i, child) in shards.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 1)), "shard {i}: {code:?} {}", String::from_utf8_lossy(&out.stderr));
        let j = read(&dir, &format!("shard-{i}/journal.json"));
        assert_eq!(j["shard"], serde_json::json!({"index": i, "count": 4}));
        assert_eq!(j["iterations"]["total"], 30);
        assert!(kept(&j).keys().all(|k| k % 4 == i as u64), "shard {i} keeps only its indices");
    }

    let journals: Vec<String> = (0..4).map(|i| format!("shard-{i}/journal.json")).collect();
    let mut args = vec!["report", "merge"];
    args.extend(journals.iter().rev().map(String::as_str));
    args.extend(["-o", "merged/journal.json"]);
    let merge = dir.run(&args);
    merge.expect_code(single_code);
    assert!(merge.stdout().contains("merged from 4 shard journals"), "{}", merge.explain());

    let (s, m) = (read(&dir, "single/journal.json"), read(&dir, "merged/journal.json"));
    assert!(s["iterations"]["failed"].as_u64().unwrap() > 0, "the scenario fails some iterations");
    assert!(s["events"]["panics"].as_u64().unwrap() > 2, "the panic budget is exceeded over the whole run");
    for field in ["iterations", "success_rate", "events", "verdict", "reasons", "failures_omitted"] {
        assert_eq!(m[field], s[field], "{field}");
    }
    let injections = |j: &Value| -> Vec<Value> {
        j["injectors"].as_array().unwrap().iter().map(|i| i["injections"].clone()).collect()
    };
    assert_eq!(injections(&m), injections(&s));
    let judged = |j: &Value| -> Vec<Value> {
        j["validators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| serde_json::json!([v["violations"], v["first_violation_iteration"], v["final_violation"]]))
            .collect()
    };
    assert_eq!(judged(&m), judged(&s));
    assert_eq!(kept(&m), kept(&s), "same decisions and outcomes for every kept iteration");
    assert_eq!(m["merged"]["shards"], 4);
    assert!(m.get("shard").is_none());
    let histogram_total: u64 =
        m["timeline"].as_array().unwrap().iter().map(|b| b["iterations"].as_u64().unwrap()).sum();
    assert_eq!(histogram_total, 120);

    // A failing iteration of the merged journal replays from it.
    let k = m["failures"][0]["index"].as_u64().expect("a kept failure").to_string();
    let replay = dir.run(&["replay", "merged/journal.json", "s.toml", "--iteration", &k]);
    replay.expect_code(0);
    assert!(replay.stdout().contains(&format!("iteration {k}")), "{}", replay.explain());
}

#[test]
fn shards_of_other_runs_or_missing_shards_do_not_merge_and_exit_2() {
    let port = http_service();
    let dir = Dir::new("shard-refused");
    dir.write("s.toml", &scenario(port));
    for (i, seed) in [(0, "1234"), (1, "1234"), (1, "99")] {
        let out = format!("s{i}-{seed}");
        let run = dir.run(&[
            "run",
            "s.toml",
            "--quiet",
            "--repeat",
            "8",
            "--seed",
            seed,
            "--shard",
            &format!("{i}/3"),
            "--report-dir",
            &out,
        ]);
        assert!(matches!(run.code(), 0 | 1), "{}", run.explain());
    }
    let missing = dir.run(&["report", "merge", "s0-1234/journal.json", "s1-1234/journal.json", "-o", "m.json"]);
    missing.expect_code(2);
    assert!(
        missing.stderr().contains("shard 2 of 3 missing: a merged report must cover every shard"),
        "{}",
        missing.explain()
    );
    let reseeded = dir.run(&["report", "merge", "s0-1234/journal.json", "s1-99/journal.json", "-o", "m.json"]);
    reseeded.expect_code(2);
    assert!(
        reseeded.stderr().contains(
            "`s1-99/journal.json` is not a shard of the same run: its seed is 99, but `s0-1234/journal.json` has 1234"
        ),
        "{}",
        reseeded.explain()
    );
    let twice = dir.run(&["report", "merge", "s1-1234/journal.json", "s1-1234/journal.json", "-o", "m.json"]);
    twice.expect_code(2);
    assert!(twice.stderr().contains("shard 1/3 is given twice"), "{}", twice.explain());
    assert!(!dir.join("m.json").exists());

    let unseeded = dir.write("u.toml", &scenario(port).replace("seed = 1234\n", ""));
    let run = dir.run(&["run", unseeded.to_str().unwrap(), "--shard", "0/2"]);
    run.expect_code(2);
    assert!(run.stderr().contains("--shard 0/2 needs a fixed seed"), "{}", run.explain());
    let bad = dir.run(&["run", "s.toml", "--shard", "4/4"]);
    bad.expect_code(2);
    assert!(bad.stderr().contains("invalid shard `4/4`: the index must be below the count"), "{}", bad.explain());
}
