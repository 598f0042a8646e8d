//! Chaos points deep in a call stack, reached without passing the context around.
//!
//! The repository layer below knows nothing about scenarios: it calls
//! `chaoskit::points::*`, which find the current iteration's context (and do nothing at
//! all in production, outside a run).
//!
//! Run with `cargo run -p chaoskit-examples --example chaos_context`.

use std::time::Duration;

use chaoskit::{Action, Scenario, inject, points, validate};

mod repository {
    use chaoskit::{ChaosError, points};

    /// A lookup that may be slow, may fail at a named failpoint, and walks a tree.
    pub async fn find_user(id: u64) -> Result<String, ChaosError> {
        points::maybe_delay().await;
        points::failpoint("users.select").await?;
        walk_tree(1, 4);
        Ok(format!("user-{id}"))
    }

    fn walk_tree(depth: u32, max: u32) {
        points::record_recursion_depth(depth);
        if depth < max {
            walk_tree(depth + 1, max);
        }
    }
}

async fn handler(id: u64) -> Result<String, chaoskit::ChaosError> {
    let user = repository::find_user(id).await?;
    points::record_metric("user_name_len", user.len() as f64);
    Ok(user)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Outside a run, the same code has no chaos at all.
    assert_eq!(handler(1).await?, "user-1");

    let scenario = Scenario::builder("users api")
        .target(chaoskit::target("users", ()))
        .step("get user", |ctx, _| async move { handler(ctx.iteration()).await.map(drop) })
        .inject("slow db", inject::delay(0.2, Duration::from_millis(1), Duration::from_millis(3)))
        .inject("db errors", inject::failpoint("users.select", 0.05, Action::Error("connection reset".into())))
        .assert("recursion", validate::recursion_depth(10))
        .repeat(300)
        .seed(1)
        .continue_on_failure()
        .build()?;
    let report = chaoskit::run(scenario).await?;
    println!("{}", report.to_text());
    std::process::exit(if report.is_success() { 0 } else { 1 });
}
