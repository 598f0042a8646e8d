//! Cost of a chaos point, beside its baselines in the same run: a plain function call, and
//! the `fail` crate's `fail_point!` ("off" and "10%return"), single-threaded and from two
//! threads at once.
//!
//! Run with `cargo bench -p chaoskit-host --bench chaos_points`.

#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaoskit::{ChaosContext, Injector, inject};
use criterion::{Criterion, criterion_group, criterion_main};

#[inline(never)]
fn plain_call(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn with_fail_point() -> u64 {
    fail::fail_point!("bench", |_| 1);
    0
}

fn error_p0() -> ChaosContext {
    ChaosContext::detached(1, 0, [("never", inject::error(0.0).into_shared())])
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("chaos point, 1 thread");
    g.bench_function("baseline: plain function call", |b| b.iter(|| plain_call(black_box(1))));
    let no_injector = ChaosContext::detached::<&str>(1, 0, []);
    g.bench_function("maybe_error, no injector", |b| b.iter(|| black_box(&no_injector).maybe_error()));
    let inert = ChaosContext::inert();
    g.bench_function("maybe_error, inert context", |b| b.iter(|| black_box(&inert).maybe_error()));
    let p0 = error_p0();
    g.bench_function("maybe_error, built-in error injector p=0", |b| b.iter(|| black_box(&p0).maybe_error()));
    let p10 = ChaosContext::detached(1, 0, [("tenth", inject::error(0.1).into_shared())]);
    g.bench_function("maybe_error, built-in error injector p=0.1", |b| b.iter(|| black_box(&p10).maybe_error()));
    let scenario = fail::FailScenario::setup();
    fail::cfg("bench", "off").unwrap();
    g.bench_function("baseline: fail_point! off", |b| b.iter(with_fail_point));
    fail::cfg("bench", "10%return").unwrap();
    g.bench_function("baseline: fail_point! 10%return", |b| b.iter(with_fail_point));
    scenario.teardown();
    g.finish();
}

/// Per-call time when two threads hit the same point at once.
fn two_threads(iters: u64, call: Arc<dyn Fn() + Send + Sync>) -> Duration {
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (call, barrier) = (call.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    call();
                }
                start.elapsed()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).max().unwrap()
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("chaos point, 2 threads at once");
    let shared = error_p0();
    g.bench_function("maybe_error, built-in error injector p=0", |b| {
        let ctx = shared.clone();
        b.iter_custom(move |n| {
            let ctx = ctx.clone();
            two_threads(n, Arc::new(move || drop(black_box(ctx.maybe_error()))))
        })
    });
    let shared10 = ChaosContext::detached(1, 0, [("tenth", inject::error(0.1).into_shared())]);
    g.bench_function("maybe_error, built-in error injector p=0.1 (one iteration's stream)", |b| {
        let ctx = shared10.clone();
        b.iter_custom(move |n| {
            let ctx = ctx.clone();
            two_threads(n, Arc::new(move || drop(black_box(ctx.maybe_error()))))
        })
    });
    let scenario = fail::FailScenario::setup();
    fail::cfg("bench", "off").unwrap();
    g.bench_function("baseline: fail_point! off", |b| {
        b.iter_custom(|n| {
            two_threads(
                n,
                Arc::new(|| {
                    black_box(with_fail_point());
                }),
            )
        })
    });
    fail::cfg("bench", "10%return").unwrap();
    g.bench_function("baseline: fail_point! 10%return", |b| {
        b.iter_custom(|n| {
            two_threads(
                n,
                Arc::new(|| {
                    black_box(with_fail_point());
                }),
            )
        })
    });
    scenario.teardown();
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = single_thread, contended
}
criterion_main!(benches);
