//! UI tests for scenario mistakes: each file in `tests/ui/spec/` sits beside the `.err`
//! that `validate` must print for it. `CHAOSKIT_BLESS=1` rewrites the `.err` files.

use std::path::Path;
use std::process::Command;

#[test]
fn every_bad_scenario_prints_its_pinned_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/spec");
    let bless = std::env::var_os("CHAOSKIT_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/ui/spec")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e != "err"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the UI cases are there");
    let mut mismatches = Vec::new();
    for case in cases {
        let name = case.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        let out = Command::new(env!("CARGO_BIN_EXE_chaoskit-host"))
            .args(["validate", name])
            .current_dir(&dir)
            .env_remove("RUST_LOG")
            .output()
            .expect("run chaoskit-host");
        assert_eq!(out.status.code(), Some(2), "{name} must be refused with exit 2");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
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
}
