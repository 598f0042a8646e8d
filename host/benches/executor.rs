//! Executor overhead per trivial iteration, beside a plain loop awaiting the same step.
//!
//! Run with `cargo bench -p chaoskit-host --bench executor`.

#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chaoskit::{BoxError, ChaosContext, Scenario, inject, validate};
use criterion::{Criterion, criterion_group, criterion_main};

async fn trivial(ctx: ChaosContext) -> Result<(), BoxError> {
    black_box(&ctx);
    Ok(())
}

fn scenario(iterations: u64, concurrency: usize, chaos: bool) -> Scenario<chaoskit::NamedTarget<()>> {
    let mut b = Scenario::builder("bench")
        .target(chaoskit::target("t", ()))
        .step("trivial", |ctx, _| trivial(ctx))
        .repeat(iterations)
        .concurrency(concurrency)
        .seed(1);
    if chaos {
        b = b
            .inject("delay", inject::delay(0.0, Duration::from_millis(1), Duration::from_millis(2)))
            .inject("error", inject::error(0.0))
            .assert("depth", validate::recursion_depth(100))
            .assert("time", validate::max_iteration_time(Duration::from_secs(1)));
    }
    b.build().unwrap()
}

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut g = c.benchmark_group("per iteration");
    g.bench_function("baseline: plain loop awaiting the step", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let ctx = ChaosContext::inert();
                let start = Instant::now();
                for _ in 0..n {
                    trivial(ctx.clone()).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    for (name, concurrency, chaos) in [
        ("executor, sequential", 1, false),
        ("executor, concurrency(2)", 2, false),
        ("executor, 2 injectors + 2 validators", 1, true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                let s = scenario(n, concurrency, chaos);
                rt.block_on(async {
                    let start = Instant::now();
                    let report = chaoskit::run(s).await.unwrap();
                    let elapsed = start.elapsed();
                    assert_eq!(report.iterations.total, n);
                    elapsed
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = overhead
}
criterion_main!(benches);
