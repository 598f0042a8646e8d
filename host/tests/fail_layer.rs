//! `fail_point!` sites and `#[chaos_fn]` functions inside chaoskit runs: decisions are
//! seeded and journaled, injectors target sites by name or glob, and the report's coverage
//! says what was reached and what fired. Needs the `failpoints` feature (on in
//! `cargo test --workspace`; alone: `cargo test -p chaoskit-host --features failpoints --test fail_layer`).

use std::time::{Duration, Instant};

use chaoskit::{Action, ChaosError, JournalConfig, Report, Verdict, chaos_fn, fail_point, inject};

/// A repository whose methods carry `fail` crate failpoints, unchanged but for the import.
fn write_row(row: u32) -> Result<u32, String> {
    fail_point!("db.write", |msg: Option<String>| Err(msg.unwrap_or_default()));
    Ok(row)
}

fn read_row(row: u32) -> Result<u32, String> {
    fail_point!("db.read", |msg: Option<String>| Err(msg.unwrap_or_default()));
    Ok(row + 1)
}

fn cache_get() -> Option<u32> {
    fail_point!("cache.get", |_| None);
    Some(1)
}

/// An error type a `#[chaos_fn(error = ...)]` conversion builds.
#[derive(Debug, PartialEq)]
struct PayError(String);

fn pay_error(e: ChaosError) -> PayError {
    PayError(format!("payment refused: {}", e.message))
}

#[chaos_fn(error = pay_error)]
async fn pay(amount: u32) -> Result<u32, PayError> {
    Ok(amount)
}

#[chaos_fn]
fn ship(order: u32) -> Result<u32, ChaosError> {
    Ok(order)
}

/// Only configured through `fail::cfg` below (no run targets it).
#[chaos_fn]
fn restock(n: u32) -> Result<u32, ChaosError> {
    Ok(n)
}

#[chaos_fn(default)]
async fn recommendations() -> Vec<u32> {
    vec![1, 2, 3]
}

async fn run_db(seed: u64, extra: Option<(&'static str, inject::Failpoint)>, require: Option<f64>) -> Report {
    let mut builder = chaoskit::Scenario::builder("fail layer")
        .target(chaoskit::target("db", ()))
        .step("write then read", |_ctx, _db| async move {
            let row = write_row(1)?;
            read_row(row)?;
            let _ = cache_get();
            Ok::<_, String>(())
        })
        .inject("db faults", inject::failpoint("db.*", 0.05, Action::Error("disk full".into())))
        .repeat(200)
        .seed(seed)
        .journal(JournalConfig::keep_all())
        .continue_on_failure()
        .thresholds(chaoskit::Thresholds::relaxed());
    if let Some((label, injector)) = extra {
        builder = builder.inject(label, injector);
    }
    if let Some(share) = require {
        builder = builder.require_coverage(share);
    }
    chaoskit::run(builder.build().unwrap()).await.unwrap()
}

fn failing(report: &Report) -> Vec<(u64, String)> {
    report
        .failures
        .iter()
        .map(|f| (f.index, f.decisions.iter().map(|d| d.point.clone()).collect::<Vec<_>>().join(",")))
        .collect()
}

#[tokio::test]
async fn fail_point_sites_are_decided_by_the_run_seeded_and_journaled() {
    let a = run_db(11, None, None).await;
    let b = run_db(11, None, None).await;
    assert!(!a.failures.is_empty(), "a 5% glob injector fires in 200 iterations");
    assert_eq!(failing(&a), failing(&b), "same seed, same decisions at the same sites");
    let first = &a.failures[0];
    assert_eq!(first.decisions[0].kind, chaoskit::PointKind::Failpoint);
    assert!(first.decisions[0].point.starts_with("db."), "{first:?}");
    assert!(first.error.as_deref().unwrap().contains("disk full"), "{first:?}");
    let c = run_db(12, None, None).await;
    assert_ne!(failing(&a), failing(&c), "another seed, other decisions");
}

#[tokio::test]
async fn coverage_counts_reached_and_fired_and_warns_about_a_typo() {
    let typo = inject::failpoint("db.wirte", 0.5, Action::Error("never".into()));
    let report = run_db(3, Some(("typo", typo)), None).await;
    let db = report.coverage.iter().find(|c| c.injector == "db faults").unwrap();
    // Every iteration reaches db.write; db.read only when the write passed.
    assert!(db.reached > 200 && db.reached < 400, "{db:?}");
    assert_eq!(db.fired, report.injectors[0].injections.values().sum::<u64>());
    assert!(db.fired > 0);
    let typo = report.coverage.iter().find(|c| c.injector == "typo").unwrap();
    assert_eq!((typo.reached, typo.fired), (0, 0));
    assert!(typo.is_gap());
    assert_ne!(report.verdict, Verdict::Fail, "a gap is only a warning by default: {:?}", report.reasons);
    assert!(
        report.reasons.iter().any(|r| r.contains("never reached") && r.contains("db.wirte")),
        "{:?}",
        report.reasons
    );
    // Every format shows it.
    assert!(report.to_text().contains("NEVER REACHED"), "{}", report.to_text());
    assert!(report.to_json().contains("\"coverage\""));
    assert!(report.to_junit().contains("coverage typo"));
    assert!(report.to_html().contains("never reached"));
}

#[tokio::test]
async fn require_coverage_fails_a_run_whose_fault_never_fired() {
    let typo = inject::failpoint("db.wirte", 0.5, Action::Error("never".into()));
    let report = run_db(3, Some(("typo", typo)), Some(1.0)).await;
    assert_eq!(report.verdict, Verdict::Fail, "{:?}", report.reasons);
    assert!(
        report.reasons.iter().any(|r| r.contains("coverage 50% is below the required 100%")),
        "{:?}",
        report.reasons
    );
    assert!(report.to_junit().contains("was never reached"));
    // An injector with probability 0 is inert, not a gap.
    let off = inject::failpoint("db.wirte", 0.0, Action::Error("never".into()));
    let report = run_db(3, Some(("off", off)), Some(1.0)).await;
    assert_ne!(report.verdict, Verdict::Fail, "{:?}", report.reasons);
    assert!(report.coverage.iter().find(|c| c.injector == "off").unwrap().inert);
}

#[tokio::test]
async fn chaos_fn_functions_delay_fail_and_default_without_editing_their_bodies() {
    let scenario = chaoskit::Scenario::builder("functions")
        .target(chaoskit::target("shop", ()))
        .step("order", |_ctx, _shop| async move {
            let started = Instant::now();
            let recs = recommendations().await;
            let slow = started.elapsed() >= Duration::from_millis(20);
            chaoskit::points::record_metric("slow", f64::from(u8::from(slow)));
            chaoskit::points::record_metric("recs", recs.len() as f64);
            let paid = pay(10).await.map_err(|e| e.0)?;
            ship(paid).map_err(|e| e.message)?;
            Ok::<_, String>(())
        })
        .inject("pay fails", inject::failpoint("fail_layer::pay", 1.0, Action::Error("card declined".into())))
        .inject("slow recs", inject::failpoint("*::recommendations", 1.0, Action::Delay(Duration::from_millis(20))))
        .repeat(3)
        .seed(1)
        .journal(JournalConfig::keep_all())
        .continue_on_failure()
        .thresholds(chaoskit::Thresholds::relaxed())
        .build()
        .unwrap();
    let report = chaoskit::run(scenario).await.unwrap();
    assert_eq!(report.iterations.failed, 3);
    let failure = &report.failures[0];
    assert_eq!(failure.error.as_deref(), Some("step `order` failed: payment refused: card declined"), "{failure:?}");
    let points: Vec<&str> = failure.decisions.iter().map(|d| d.point.as_str()).collect();
    assert_eq!(points, ["fail_layer::recommendations", "fail_layer::pay"]);
    let metrics: Vec<_> = failure.events.iter().map(|e| format!("{e:?}")).collect();
    assert!(metrics.iter().any(|m| m.contains("\"slow\"") && m.contains("1.0")), "{metrics:?}");
    let ship = report.coverage.iter().all(|c| c.reached == 3);
    assert!(ship, "{:?}", report.coverage);
}

#[tokio::test]
async fn chaos_fn_default_and_from_conversions() {
    let scenario = chaoskit::Scenario::builder("defaults")
        .target(chaoskit::target("shop", ()))
        .step("order", |_ctx, _shop| async move {
            let recs = recommendations().await;
            assert!(recs.is_empty(), "an injected error returns Default::default()");
            ship(1).map_err(|e| e.message)?;
            Ok::<_, String>(())
        })
        .inject("all", inject::failpoint("fail_layer::*", 1.0, Action::Error("boom".into())))
        .repeat(2)
        .seed(1)
        .continue_on_failure()
        .thresholds(chaoskit::Thresholds::relaxed())
        .build()
        .unwrap();
    let report = chaoskit::run(scenario).await.unwrap();
    assert_eq!(report.iterations.failed, 2);
    assert_eq!(report.failures[0].error.as_deref(), Some("step `order` failed: boom"));
}

#[test]
fn fail_cfg_still_drives_sites_outside_runs() {
    // `cache.get` is configured by name, as with the fail crate.
    chaoskit::fail::cfg("cache.get", "1*return").unwrap();
    assert_eq!(cache_get(), None);
    assert_eq!(cache_get(), Some(1));
    chaoskit::fail::remove("cache.get");
    // A #[chaos_fn] site is a failpoint too: fail::cfg reaches it by its path.
    assert_eq!(restock(3), Ok(3));
    chaoskit::fail::cfg("fail_layer::restock", "return(stopped)").unwrap();
    assert_eq!(restock(3), Err(ChaosError { message: "stopped".into() }));
    chaoskit::fail::remove("fail_layer::restock");
    assert_eq!(restock(3), Ok(3));
}
