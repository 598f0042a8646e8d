//! What replaying one iteration costs, beside running the same iteration's steps directly.
//!
//! The iteration does real work for about a millisecond (a sleep, as a service call would),
//! hits three chaos points, and two of its failpoints fire. The replay applies its journaled
//! decisions through a `ReplaySession` (target and injectors set up once).
//!
//! Run with `cargo bench -p chaoskit-host --bench replay`.

#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::time::{Duration, Instant};

use chaoskit::replay::ReplaySession;
use chaoskit::{Action, BoxError, ChaosContext, Injector, JournalConfig, Scenario, inject};
use criterion::{Criterion, criterion_group, criterion_main};

async fn step(ctx: ChaosContext) -> Result<(), BoxError> {
    ctx.maybe_delay().await;
    let a = ctx.failpoint("a").await.is_err();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let b = ctx.failpoint("b").await.is_err();
    if a && b { Err("both".into()) } else { Ok(()) }
}

fn scenario() -> Scenario<chaoskit::NamedTarget<()>> {
    Scenario::builder("replay bench")
        .target(chaoskit::target("t", ()))
        .step("work", |ctx, _| step(ctx))
        .inject("noise", inject::delay(0.5, Duration::from_micros(5), Duration::from_micros(20)))
        .inject("a", inject::failpoint("a", 1.0, Action::Error("a".into())))
        .inject("b", inject::failpoint("b", 1.0, Action::Error("b".into())))
        .journal(JournalConfig::keep_all())
        .continue_on_failure()
        .repeat(1)
        .seed(3)
        .build()
        .unwrap()
}

fn replay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let report = rt.block_on(chaoskit::run(scenario())).unwrap();
    let failed = report.failures[0].clone();
    let mut g = c.benchmark_group("one iteration");
    g.bench_function("baseline: the iteration's steps, called directly", |b| {
        let ctx = ChaosContext::detached(
            3,
            0,
            [
                ("a", inject::failpoint("a", 1.0, Action::Error("a".into())).into_shared()),
                ("b", inject::failpoint("b", 1.0, Action::Error("b".into())).into_shared()),
            ],
        );
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let _ = step(ctx.clone()).await;
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("replay with the journaled schedule", |b| {
        let mut session = rt.block_on(async { ReplaySession::start(scenario(), Some(&report.run_decisions)) }).unwrap();
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let record = session.run(failed.index, Some(&failed.decisions)).await.unwrap();
                    assert!(!record.ok);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = replay
}
criterion_main!(benches);
