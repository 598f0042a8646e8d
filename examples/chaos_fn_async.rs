//! Function-level injection: `#[chaos_fn]` puts a named chaos point at the entry of async
//! functions (`module::path::function`) without touching their bodies; the scenario targets
//! them by name or glob to delay them, fail them, or make them return a default.
//!
//! ```sh
//! cargo run -p chaoskit-examples --example chaos_fn_async
//! ```
//!
//! Expect `VERDICT: PASS` with about 3% of checkouts failing ("payment refused: card
//! declined"), some recommendations empty, and every function reached in the coverage section.

use std::time::Duration;

use chaoskit::{Action, Scenario, inject, validate};

mod shop {
    use chaoskit::{ChaosError, chaos_fn};

    /// A payment error the service already has; `#[chaos_fn(error = ...)]` builds it.
    #[derive(Debug)]
    pub struct PaymentError(pub String);

    impl std::fmt::Display for PaymentError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "payment refused: {}", self.0)
        }
    }

    impl std::error::Error for PaymentError {}

    fn refused(e: ChaosError) -> PaymentError {
        PaymentError(e.message)
    }

    /// Charges a card (the chaos point is `chaos_fn_async::shop::charge`).
    #[chaos_fn(error = refused)]
    pub async fn charge(cents: u64) -> Result<u64, PaymentError> {
        tokio::task::yield_now().await;
        Ok(cents)
    }

    /// Looks up stock; an injected error becomes `Err(ChaosError.into())`.
    #[chaos_fn]
    pub async fn reserve(item: u32) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        Ok(item)
    }

    /// Best-effort recommendations: an injected error returns `Default::default()` (none).
    #[chaos_fn(default)]
    pub async fn recommendations(item: u32) -> Vec<u32> {
        vec![item + 1, item + 2]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scenario = Scenario::builder("checkout with #[chaos_fn]")
        .target(chaoskit::target("shop", ()))
        .step("checkout", |ctx, _shop| async move {
            let item = ctx.iteration() as u32;
            shop::reserve(item).await?;
            let _suggested = shop::recommendations(item).await;
            shop::charge(1_999).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        // By exact name, and by glob over the module.
        .inject(
            "declines",
            inject::failpoint("chaos_fn_async::shop::charge", 0.03, Action::Error("card declined".into())),
        )
        .inject("slow shop", inject::failpoint("*::shop::*", 0.1, Action::Delay(Duration::from_millis(2))))
        .inject("no recs", inject::failpoint("*::recommendations", 0.2, Action::Error("recs down".into())))
        .assert("fast", validate::max_iteration_time(Duration::from_millis(500)))
        .repeat(300)
        .seed(9)
        .continue_on_failure()
        .require_coverage(1.0)
        .build()?;
    let report = chaoskit::run(scenario).await?;
    println!("{}", report.to_text());
    if !report.is_success() {
        std::process::exit(1);
    }
    Ok(())
}
