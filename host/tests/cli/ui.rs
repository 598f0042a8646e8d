//! UI tests for scenario mistakes: each file in `tests/ui/spec/` sits beside the `.err`
//! that `validate` must print for it, and `run` must print exactly the same (one validation
//! pass). `CHAOSKIT_BLESS=1` rewrites the `.err` files.

use std::path::Path;
use std::process::{Command, Output};

fn chaoskit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaoskit-host"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("CI", "true")
        .env("CHAOSKIT_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/chaoskit-plugin-cache"))
        .output()
        .expect("run chaoskit-host")
}

/// `name:12:7: key: …`: the message names the line and column.
fn has_position(message: &str, name: &str) -> bool {
    let Some(rest) = message.strip_prefix(&format!("error: {name}:")) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().is_some_and(|l| l.parse::<usize>().is_ok());
    let column = parts.next().is_some_and(|c| c.parse::<usize>().is_ok());
    line && column
}

#[test]
fn every_bad_scenario_prints_its_pinned_error_from_validate_and_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/spec");
    let reports = tempfile::tempdir().expect("temp dir");
    let report_dir = reports.path().to_str().expect("utf-8 temp path");
    let bless = std::env::var_os("CHAOSKIT_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/ui/spec")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e != "err"))
        .collect();
    cases.sort();
    let formats = |ext: &str| cases.iter().filter(|c| c.extension().is_some_and(|e| e == ext)).count();
    assert!(formats("toml") >= 5 && formats("yaml") >= 5 && formats("json") >= 5, "at least five cases in each format");
    let mut mismatches = Vec::new();
    let mut located = 0;
    for case in &cases {
        let name = case.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        let validate = chaoskit(&dir, &["validate", name]);
        assert_eq!(validate.status.code(), Some(2), "validate {name} must be refused with exit 2");
        let stderr = String::from_utf8_lossy(&validate.stderr).into_owned();
        let run = chaoskit(&dir, &["run", name, "--report-dir", report_dir]);
        assert_eq!(run.status.code(), Some(2), "run {name} must be refused with exit 2");
        let run_stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        if run_stderr != stderr {
            mismatches
                .push(format!("{name}: run and validate differ\n  validate: {stderr:?}\n  run:      {run_stderr:?}"));
        }
        located += usize::from(has_position(&stderr, name));
        let expected_path =
            case.with_extension(format!("{}.err", case.extension().and_then(|e| e.to_str()).unwrap_or("")));
        if bless {
            std::fs::write(&expected_path, &stderr).expect("write .err");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if stderr != expected {
            mismatches.push(format!("{name}\n  expected: {expected:?}\n  actual:   {stderr:?}"));
        }
    }
    assert!(mismatches.is_empty(), "UI mismatches (CHAOSKIT_BLESS=1 to accept):\n{}", mismatches.join("\n"));
    assert!(located >= 15, "at least 15 messages name a line and column; {located} do");
}
