//! Resident memory after a long run: 10 million trivial iterations (override with
//! `CHAOSKIT_BENCH_ITERATIONS`), with two injectors and a validator, against the resident
//! memory of the same process before the run.
//!
//! Run with `cargo bench -p chaoskit-host --bench long_run_memory`.

use std::time::{Duration, Instant};

use chaoskit::{BoxError, Scenario, inject, validate};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // Only `cargo bench` passes `--bench`; under `cargo test --benches` this is a no-op.
    }
    let iterations: u64 =
        std::env::var("CHAOSKIT_BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let before = validate::process_rss_bytes().unwrap();
    let scenario = Scenario::builder("long run")
        .target(chaoskit::target("t", ()))
        .step("work", |ctx, _| async move {
            ctx.maybe_delay().await;
            ctx.maybe_error()?;
            Ok::<_, BoxError>(())
        })
        .inject("delay", inject::delay(0.0, Duration::from_millis(1), Duration::from_millis(2)))
        .inject("error", inject::error(0.001))
        .assert("depth", validate::recursion_depth(100))
        .repeat(iterations)
        .continue_on_failure()
        .seed(1)
        .build()
        .unwrap();
    let start = Instant::now();
    let report = rt.block_on(chaoskit::run(scenario)).unwrap();
    let elapsed = start.elapsed();
    let after = validate::process_rss_bytes().unwrap();
    println!(
        "{} iterations in {:.2}s ({:.0} ns/iteration), {} failed (kept {}), RSS before {:.1} MB, after {:.1} MB, growth {:.1} MB",
        report.iterations.total,
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / iterations as f64,
        report.iterations.failed,
        report.failures.len(),
        before as f64 / 1e6,
        after as f64 / 1e6,
        (after as f64 - before as f64) / 1e6
    );
}
