//! Code under test for the examples: a small in-process workflow engine (a saga) whose
//! compensation path recurses, instrumented with chaos points.
//!
//! `Engine::run` executes activities in order; when one fails, the completed ones are
//! compensated in reverse order by a recursive `compensate`. A compensation can fail too
//! (chaos says so), and the engine then retries it one level deeper: under heavy fault
//! rates the recursion grows, which is exactly what a recursion-depth validator bounds.

pub mod orders;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chaoskit::{ChaosContext, ChaosError};

/// Shared books the workflow keeps: money held and stock reserved must return to zero after
/// every failed workflow (the invariant a state validator checks).
#[derive(Debug, Default)]
pub struct Books {
    /// Units of stock currently reserved.
    pub reserved: AtomicI64,
    /// Money currently charged.
    pub charged: AtomicI64,
}

/// A workflow engine over shared books.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// The books every workflow updates.
    pub books: Arc<Books>,
    /// How many times a failed compensation is retried (each retry one level deeper).
    pub max_retries: u32,
}

/// One activity of the order workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Reserve stock.
    Reserve,
    /// Charge the customer.
    Charge,
    /// Hand the parcel to the carrier.
    Ship,
}

impl Engine {
    /// Runs the order workflow; on failure, compensates what was done and returns the error.
    pub async fn run(&self, ctx: &ChaosContext) -> Result<(), ChaosError> {
        let mut done = Vec::new();
        for activity in [Activity::Reserve, Activity::Charge, Activity::Ship] {
            match self.execute(ctx, activity).await {
                Ok(()) => done.push(activity),
                Err(e) => {
                    self.compensate(ctx, &done, 1, 0);
                    return Err(e);
                }
            }
        }
        // A shipped order keeps its reservation and charge: settle the books.
        self.books.reserved.fetch_sub(1, Ordering::SeqCst);
        self.books.charged.fetch_sub(100, Ordering::SeqCst);
        Ok(())
    }

    async fn execute(&self, ctx: &ChaosContext, activity: Activity) -> Result<(), ChaosError> {
        ctx.maybe_delay().await;
        // Activities talk to other services concurrently; the engine joins what it spawns.
        let audit = tokio::spawn(async move { activity });
        ctx.maybe_error()?;
        match activity {
            Activity::Reserve => self.books.reserved.fetch_add(1, Ordering::SeqCst),
            Activity::Charge => self.books.charged.fetch_add(100, Ordering::SeqCst),
            Activity::Ship => 0,
        };
        audit.await.map_err(|e| ChaosError { message: format!("audit task failed: {e}") })?;
        Ok(())
    }

    /// Undoes `done` in reverse order. A failing undo is retried one level deeper.
    fn compensate(&self, ctx: &ChaosContext, done: &[Activity], depth: u32, retries: u32) {
        ctx.record_recursion_depth(depth);
        let Some((last, rest)) = done.split_last() else { return };
        if ctx.in_scope("compensation").maybe_error().is_err() && retries < self.max_retries {
            // Retry the same undo, deeper in the stack.
            return self.compensate(ctx, done, depth + 1, retries + 1);
        }
        match last {
            Activity::Reserve => self.books.reserved.fetch_sub(1, Ordering::SeqCst),
            Activity::Charge => self.books.charged.fetch_sub(100, Ordering::SeqCst),
            Activity::Ship => 0,
        };
        self.compensate(ctx, rest, depth + 1, retries);
    }
}
