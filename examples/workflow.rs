//! Chaos against an in-process workflow engine whose compensation path recurses.
//!
//! Faults: delays and errors in activities, errors in compensations (scope
//! `compensation`), CPU pressure. Validators: recursion depth, no leaked tokio tasks or OS
//! threads, no stalled step, the books balance after every workflow.
//!
//! Run with `cargo run -p chaoskit-examples --example workflow`; writes the report to
//! stdout and `target/chaoskit-workflow/` (JSON journal and JUnit).

use std::sync::atomic::Ordering;
use std::time::Duration;

use chaoskit::{Scenario, Thresholds, inject, validate};
use chaoskit_examples::Engine;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let engine = Engine { max_retries: 6, ..Engine::default() };
    let books = engine.books.clone();
    let scenario = Scenario::builder("order workflow")
        .target(chaoskit::target("workflow engine", engine))
        .step("place order", |ctx, engine| async move {
            // A failed order is an expected outcome under chaos; the invariants are what we judge.
            let _ = engine.run(&ctx).await;
            Ok::<_, chaoskit::BoxError>(())
        })
        .inject("slow activities", inject::delay(0.1, Duration::from_micros(100), Duration::from_millis(2)))
        .inject("failing activities", inject::error(0.15).message("service unavailable"))
        .scope("compensation", |s| s.inject("failing undo", inject::error(0.3).message("undo timed out")))
        .inject("busy neighbour", inject::cpu(1, 0.25))
        .assert("bounded recursion", validate::recursion_depth(8))
        .assert("no task leak", validate::no_task_leak(0))
        .assert("no thread leak", validate::no_thread_leak(0))
        .assert("no stall", validate::no_stall(Duration::from_secs(2)))
        .assert(
            "books balance",
            validate::state(move || {
                let (r, c) = (books.reserved.load(Ordering::SeqCst), books.charged.load(Ordering::SeqCst));
                if r == 0 && c == 0 { Ok(()) } else { Err(format!("books out of balance: reserved {r}, charged {c}")) }
            }),
        )
        .repeat(2_000)
        .seed(7)
        .continue_on_failure()
        .thresholds(Thresholds::default().min_success_rate(0.99))
        .build()?;
    let report = chaoskit::run(scenario).await?;
    println!("{}", report.to_text());
    let dir = std::path::Path::new("target/chaoskit-workflow");
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("journal.json"), report.to_json())?;
    std::fs::write(dir.join("junit.xml"), report.to_junit())?;
    println!("journal and JUnit written to {}", dir.display());
    std::process::exit(if report.is_success() { 0 } else { 1 });
}
