//! A duration run that keeps going through failures and prints live statistics.
//!
//! Run with `cargo run -p chaoskit-examples --example continuous` (10 seconds; pass a
//! number of seconds as the first argument to change it). Ctrl-C stops it early and still
//! prints the report.

use std::time::Duration;

use chaoskit::{CancellationToken, Executor, Scenario, inject, validate};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let scenario = Scenario::builder("continuous")
        .target(chaoskit::target("cache", ()))
        .step("get", |ctx, _| async move {
            ctx.maybe_delay().await;
            ctx.maybe_error()?;
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, chaoskit::ChaosError>(())
        })
        .inject("jitter", inject::delay(0.3, Duration::from_micros(200), Duration::from_millis(3)))
        .inject("misses", inject::error(0.01).message("cache miss storm"))
        .assert("latency", validate::max_iteration_time(Duration::from_millis(20)))
        .run_for(Duration::from_secs(seconds))
        .concurrency(4)
        .continue_on_failure()
        .build()?;
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let report = Executor::new(scenario)
        .cancel_on(cancel)
        .on_progress(Duration::from_secs(1), |p| {
            let rate = if p.done == 0 { 100.0 } else { 100.0 * (p.done - p.failed) as f64 / p.done as f64 };
            eprintln!(
                "[{:>5.1}s] {:>8} iterations  {:>8.0}/s  success {rate:.2}%",
                p.elapsed.as_secs_f64(),
                p.done,
                p.done as f64 / p.elapsed.as_secs_f64().max(1e-9)
            );
        })
        .run()
        .await?;
    println!("{}", report.to_text());
    std::process::exit(if report.is_success() { 0 } else { 1 });
}
