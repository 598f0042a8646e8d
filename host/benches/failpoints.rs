//! The `fail`-compatible layer and `#[chaos_fn]` against their baselines in the same run:
//! `chaoskit::fail_point!` against the `fail` crate's `fail_point!` (nothing configured,
//! `off`, `10%return`, and two threads on one site), and a `#[chaos_fn]` function with no
//! run active against the same function without the attribute.
//!
//! Run with `cargo bench -p chaoskit-host --features failpoints --bench failpoints`.

#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

#[inline(never)]
fn fail_crate_site() -> u64 {
    fail::fail_point!("bench", |_| 1);
    0
}

#[inline(never)]
fn chaoskit_site() -> u64 {
    chaoskit::fail_point!("bench", |_| 1);
    0
}

#[inline(never)]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[chaoskit::chaos_fn(default)]
#[inline(never)]
fn with_chaos_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Per-call time when two threads hit the same site at once.
fn two_threads(iters: u64, call: fn() -> u64) -> Duration {
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(call());
                }
                start.elapsed()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).max().unwrap()
}

/// Measures both layers with the site configured as `actions` (`None`: nothing configured).
fn configured(c: &mut Criterion, group: &str, actions: Option<&str>) {
    let scenario = fail::FailScenario::setup();
    let ours = chaoskit::fail::FailScenario::setup();
    if let Some(actions) = actions {
        fail::cfg("bench", actions).unwrap();
        chaoskit::fail::cfg("bench", actions).unwrap();
    }
    let mut g = c.benchmark_group(group);
    g.bench_function("baseline: fail crate", |b| b.iter(fail_crate_site));
    g.bench_function("chaoskit::fail_point!", |b| b.iter(chaoskit_site));
    g.bench_function("2 threads, baseline: fail crate", |b| b.iter_custom(|n| two_threads(n, fail_crate_site)));
    g.bench_function("2 threads, chaoskit::fail_point!", |b| b.iter_custom(|n| two_threads(n, chaoskit_site)));
    g.finish();
    ours.teardown();
    scenario.teardown();
}

fn fail_point(c: &mut Criterion) {
    configured(c, "fail_point!, nothing configured", None);
    configured(c, "fail_point!, off", Some("off"));
    configured(c, "fail_point!, 10%return", Some("10%return"));
}

fn chaos_fn(c: &mut Criterion) {
    let mut g = c.benchmark_group("#[chaos_fn], no run active");
    g.bench_function("baseline: plain call", |b| b.iter(|| plain(black_box(1))));
    g.bench_function("#[chaos_fn] call", |b| b.iter(|| with_chaos_fn(black_box(1))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = fail_point, chaos_fn
}
criterion_main!(benches);
