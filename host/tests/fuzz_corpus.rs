//! The fuzz targets' bodies (`fuzz/src/lib.rs`) run under `cargo test` over each target's seed
//! corpus (`fuzz/corpus/<target>/`) and every crash fuzzing found (`fuzz/regressions/<target>/`),
//! so the inputs that once crashed stay fixed without a fuzzing toolchain. Fuzzing itself:
//! `fuzz/run.sh` (see fuzz/README.md).

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

/// Run `body` on every file of the corpus and the regressions of `target`; returns how many.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("read corpus file");
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "fuzz target `{target}` panicked on {}", file.display());
            count += 1;
        }
    }
    count
}

#[test]
fn scenario_files_in_every_format_never_panic() {
    assert!(replay("scenario_file", targets::scenario_file) >= 10);
}

#[test]
fn toxiproxy_api_bodies_never_panic_nor_fail_the_server() {
    assert!(replay("toxiproxy_api", targets::toxiproxy_api) >= 10);
}

#[test]
fn journals_read_by_report_never_panic() {
    assert!(replay("report_json", targets::report_json) >= 2);
}

#[test]
fn plugin_results_crossing_the_boundary_stay_within_the_limits() {
    assert!(replay("plugin_results", targets::plugin_results) >= 10);
}

#[test]
fn component_bytes_never_panic_the_loader() {
    replay("component_bytes", targets::component_bytes);
    // The real components, cut short and with bytes flipped at fixed places (the fuzzer's
    // component seeds are these files; nothing binary is committed).
    for artifact in [plugin_artifacts::LATENCY_SPIKE, plugin_artifacts::FIXTURE_UNKNOWN_IMPORT] {
        let bytes = std::fs::read(plugin_artifacts::path(artifact)).expect("artifact");
        targets::component_bytes(&bytes);
        for cut in [8, 9, 64, bytes.len() / 3, bytes.len() - 1] {
            targets::component_bytes(&bytes[..cut]);
        }
        for at in [8, 12, 100, bytes.len() / 2, bytes.len() - 5] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0xff;
            targets::component_bytes(&flipped);
        }
    }
}

#[test]
fn shard_journals_merge_or_are_refused_without_panicking() {
    assert!(replay("journal_merge", targets::journal_merge) >= 15);
}

#[test]
fn schedule_files_read_back_the_same_after_writing() {
    assert!(replay("schedule_file", targets::schedule_file) >= 15);
}

#[test]
fn toxic_attributes_are_refused_with_their_range_or_run_on_a_real_proxy() {
    assert!(replay("toxic_attributes", targets::toxic_attributes) >= 30);
}

#[test]
fn toxiproxy_client_answers_any_server_bytes_promptly() {
    assert!(replay("toxiproxy_client", targets::toxiproxy_client) >= 20);
}
