//! The smallest useful experiment: one step, two injectors, two validators.
//!
//! Run with `cargo run -p chaoskit-examples --example quickstart`; it prints the report and
//! exits 0 on PASS or UNSTABLE, 1 on FAIL.

use std::time::Duration;

use chaoskit::{Scenario, inject, validate};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scenario = Scenario::builder("quickstart")
        .target(chaoskit::target("echo service", ()))
        .step("call", |ctx, _service| async move {
            ctx.maybe_delay().await;
            ctx.maybe_error()?;
            Ok::<_, chaoskit::ChaosError>(())
        })
        .inject("slow", inject::delay(0.2, Duration::from_millis(1), Duration::from_millis(5)))
        .inject("flaky", inject::error(0.02).message("503 from upstream"))
        .assert("fast enough", validate::max_iteration_time(Duration::from_millis(50)))
        .assert("no stalls", validate::no_stall(Duration::from_secs(1)))
        .repeat(500)
        .seed(2026)
        .continue_on_failure()
        .build()?;
    let report = chaoskit::run(scenario).await?;
    println!("{}", report.to_text());
    std::process::exit(if report.is_success() { 0 } else { 1 });
}
