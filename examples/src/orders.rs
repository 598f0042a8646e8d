//! An orders service with `fail` crate failpoints. Switching it from `fail` to chaoskit
//! changed one line: `use fail::fail_point;` became `use chaoskit::fail_point;`.

use std::sync::Mutex;

use chaoskit::fail_point;

/// The failpoint sites of this service (what a scenario file declares in `sites`).
pub const SITES: [&str; 3] = ["orders.cache.get", "orders.db.write", "orders.audit.append"];

/// An in-memory orders service.
#[derive(Debug, Default)]
pub struct Orders {
    stored: Mutex<Vec<u32>>,
    audit: Mutex<Vec<String>>,
}

impl Orders {
    /// Prices and stores an order, then audits it; returns the price.
    pub fn place(&self, item: u32) -> Result<u32, String> {
        let price = self.price(item);
        self.store(item)?;
        self.audit(format!("placed {item} at {price}"))?;
        Ok(price)
    }

    /// Orders stored so far.
    pub fn stored(&self) -> usize {
        self.stored.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn price(&self, item: u32) -> u32 {
        // A cache miss falls back to the list price.
        fail_point!("orders.cache.get", |_| 100);
        10 + item % 5
    }

    fn store(&self, item: u32) -> Result<(), String> {
        fail_point!("orders.db.write", |msg: Option<String>| Err(format!("db: {}", msg.unwrap_or_default())));
        self.stored.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        Ok(())
    }

    fn audit(&self, line: String) -> Result<(), String> {
        fail_point!("orders.audit.append", |msg: Option<String>| Err(format!("audit: {}", msg.unwrap_or_default())));
        self.audit.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        Ok(())
    }
}

/// Runs a scenario file against a fresh service in-process: the file gives the plan, the
/// faults and the validators; the step places one order per iteration.
pub async fn run_file(path: &std::path::Path) -> Result<chaoskit::Report, Box<dyn std::error::Error + Send + Sync>> {
    let name = path.display().to_string();
    let resolved =
        chaoskit::spec::resolve(chaoskit::spec::load_file(path)?, &name, path.parent().unwrap_or(".".as_ref()))?;
    let builder = chaoskit::Scenario::builder(resolved.name.clone())
        .target(chaoskit::target("orders", Orders::default()))
        .blocking_step("place order", |ctx, orders| orders.place(ctx.iteration() as u32).map(|_| ()));
    let scenario = chaoskit::spec::apply(&resolved, builder)?.build()?;
    Ok(chaoskit::run(scenario).await?)
}
