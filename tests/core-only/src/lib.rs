//! A crate that depends on the ChaosKit core alone (`default-features = false`), as a library
//! user who only wants chaos points would. `.ci/run` builds and tests it and checks that its
//! `cargo tree` has no wasmtime, axum, hyper, clap, askama or indicatif.

use std::time::Duration;

use chaoskit::{Action, Report, Scenario, inject, points, validate};

/// Runs a small scenario with the core's injectors, validators and reports.
pub async fn run_core_scenario(seed: u64) -> Report {
    let scenario = Scenario::builder("core-only")
        .target(chaoskit::target("service", ()))
        .step("call", |ctx, _svc| async move {
            ctx.maybe_delay().await;
            points::failpoint("db.write").await?;
            ctx.maybe_error()?;
            Ok::<_, chaoskit::ChaosError>(())
        })
        .inject("slow", inject::delay(0.2, Duration::from_micros(10), Duration::from_micros(50)))
        .inject("db", inject::failpoint("db.write", 0.1, Action::Error("disk full".into())))
        .assert("fast", validate::max_iteration_time(Duration::from_secs(1)))
        .repeat(100)
        .seed(seed)
        .continue_on_failure()
        .build()
        .expect("a valid scenario");
    chaoskit::run(scenario).await.expect("the run completes")
}

/// A site as a library would write it; compiled out unless chaoskit's `failpoints` is on.
pub fn stored() -> u32 {
    chaoskit::fail_point!("core.store", |_| 1);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_failpoints_feature_sites_compile_out() {
        // `cargo test -p core-only` builds chaoskit without `failpoints` (CI runs it so);
        // in a whole-workspace build other members turn the feature on, and the site is live.
        chaoskit::fail::cfg("core.store", "return").unwrap();
        let expected = u32::from(chaoskit::fail::has_failpoints());
        assert_eq!(stored(), expected);
        chaoskit::fail::remove("core.store");
        assert_eq!(stored(), 0);
    }

    #[tokio::test]
    async fn the_core_runs_a_scenario_and_renders_its_reports() {
        let report = run_core_scenario(7).await;
        assert_eq!(report.iterations.total, 100);
        assert!(report.to_text().contains("VERDICT"));
        assert!(report.to_junit().contains("<testsuite"));
        let back = Report::from_json(&report.to_json()).unwrap();
        assert_eq!(back.seed, 7);
        // Same seed, same decisions.
        let again = run_core_scenario(7).await;
        assert_eq!(again.iterations.failed, report.iterations.failed);
        assert!(report.iterations.failed > 0, "the 10% failpoint fired in 100 iterations");
    }
}
