//! The orders service's `fail_point!` sites under the example scenario file, in-process.

use std::path::Path;

use chaoskit::Verdict;

#[tokio::test]
async fn the_scenario_file_drives_the_services_failpoints_seeded_and_covered() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/failpoints.toml");
    let a = chaoskit_examples::orders::run_file(&path).await.unwrap();
    assert_eq!(a.verdict, Verdict::Pass, "{}", a.to_text());
    assert!(a.iterations.failed > 0, "storage and audit errors fire");
    assert!(a.failures.iter().any(|f| f.error.as_deref().unwrap_or("").contains("db: disk full")));
    // Every configured fault was reached, by name or glob.
    assert_eq!(a.coverage.len(), 3);
    assert!(a.coverage.iter().all(|c| c.reached > 0 && c.fired > 0), "{:?}", a.coverage);
    // The file's seed makes the run replayable.
    let b = chaoskit_examples::orders::run_file(&path).await.unwrap();
    let failing = |r: &chaoskit::Report| r.failures.iter().map(|f| (f.index, f.error.clone())).collect::<Vec<_>>();
    assert_eq!(failing(&a), failing(&b));
    // Every declared site is in the service.
    let file = chaoskit::spec::load_file(&path).unwrap();
    assert_eq!(file.sites, chaoskit_examples::orders::SITES);
}
