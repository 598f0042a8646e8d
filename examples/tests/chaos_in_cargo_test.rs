//! Using ChaosKit from `cargo test`: the scenario is the test.
//!
//! Run with `cargo test -p chaoskit-examples`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chaoskit::{Scenario, Verdict, inject, validate};
use chaoskit_examples::Engine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_keeps_its_books_balanced_under_chaos() -> anyhow::Result<()> {
    let engine = Engine { max_retries: 3, ..Engine::default() };
    let books = engine.books.clone();
    let scenario = Scenario::builder("books balance")
        .target(chaoskit::target("engine", engine))
        .step("order", |ctx, engine| async move {
            let _ = engine.run(&ctx).await;
            Ok::<_, chaoskit::BoxError>(())
        })
        .inject("errors", inject::error(0.2))
        .scope("compensation", |s| s.inject("undo errors", inject::error(0.3)))
        .assert("recursion", validate::recursion_depth(3 + 3 + 1))
        .assert(
            "balanced",
            validate::state(move || {
                match (books.reserved.load(Ordering::SeqCst), books.charged.load(Ordering::SeqCst)) {
                    (0, 0) => Ok(()),
                    (r, c) => Err(format!("reserved {r}, charged {c}")),
                }
            }),
        )
        .concurrency(1)
        .repeat(300)
        .seed(42)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    assert_eq!(report.verdict(), Verdict::Pass, "{}", report.to_text());
    assert!(report.injectors[0].injections["error"] > 0, "chaos really happened");
    Ok(())
}

#[tokio::test]
async fn an_unbounded_retry_policy_is_caught_by_the_recursion_validator() -> anyhow::Result<()> {
    let engine = Engine { max_retries: 50, ..Engine::default() };
    let scenario = Scenario::builder("unbounded retries")
        .target(chaoskit::target("engine", engine))
        .step("order", |ctx, engine| async move {
            let _ = engine.run(&ctx).await;
            Ok::<_, chaoskit::BoxError>(())
        })
        .inject("errors", inject::error(0.5))
        .scope("compensation", |s| s.inject("undo errors", inject::error(0.9)))
        .assert("recursion", validate::recursion_depth(10))
        .repeat(200)
        .seed(42)
        .continue_on_failure()
        .step_timeout(Duration::from_secs(5))
        .build()?;
    let report = chaoskit::run(scenario).await?;
    assert_eq!(report.verdict(), Verdict::Fail);
    assert!(report.failures[0].error.as_deref().unwrap().contains("recursion depth"));
    Ok(())
}
