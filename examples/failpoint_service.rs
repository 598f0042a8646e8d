//! An orders service with `fail` crate failpoints (`examples/src/orders.rs`), driven two ways.
//!
//! By a scenario file, in-process: the file's failpoint injectors target the sites by name and
//! glob, every decision is seeded and journaled, and the report lists coverage.
//!
//! ```sh
//! cargo run -p chaoskit-examples --example failpoint_service
//! ```
//!
//! Expect `VERDICT: PASS` after 500 iterations with a few percent failing ("db: disk full",
//! "audit: audit log unavailable") and a coverage section where every fault was reached.
//!
//! By FAILPOINTS, as with the `fail` crate (no run, unseeded):
//!
//! ```sh
//! FAILPOINTS='orders.db.write=3*return(disk full);orders.cache.get=50%return' \
//!     cargo run -p chaoskit-examples --example failpoint_service
//! ```
//!
//! Expect 20 orders: the first three fail with "db: disk full", about half are priced at 100.

use std::path::Path;

use chaoskit::fail::FailScenario;
use chaoskit_examples::orders::Orders;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("FAILPOINTS").is_some() {
        let scenario = FailScenario::setup();
        let orders = Orders::default();
        for item in 0..20 {
            match orders.place(item) {
                Ok(price) => println!("order {item}: placed at {price}"),
                Err(e) => println!("order {item}: failed: {e}"),
            }
        }
        println!("{} of 20 orders stored", orders.stored());
        scenario.teardown();
        return Ok(());
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/failpoints.toml");
    let report = chaoskit_examples::orders::run_file(&path).await.map_err(|e| anyhow::anyhow!(e))?;
    println!("{}", report.to_text());
    if !report.is_success() {
        std::process::exit(1);
    }
    Ok(())
}
