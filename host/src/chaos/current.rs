//! The current chaos context, reachable from code deep in a call stack.
//!
//! The executor makes the iteration's context current for each step (a task-local for
//! async steps, a thread-local for blocking ones). These free functions use it, and do
//! nothing at all outside a run, so they can stay in production-shaped code.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{ChaosContext, ChaosError, NetworkFault};

tokio::task_local! {
    static TASK_CONTEXT: ChaosContext;
}

thread_local! {
    static THREAD_CONTEXT: RefCell<Option<ChaosContext>> = const { RefCell::new(None) };
}

/// The context of the iteration this code runs in, if any.
pub fn current() -> Option<ChaosContext> {
    with_current(|ctx| ctx.clone())
}

/// Calls `f` with the current context, without cloning it; `None` outside a run.
pub fn with_current<R>(f: impl FnOnce(&ChaosContext) -> R) -> Option<R> {
    let mut f = Some(f);
    if let Ok(r) = TASK_CONTEXT.try_with(|ctx| (f.take().expect("called once"))(ctx)) {
        return Some(r);
    }
    let f = f.take()?;
    THREAD_CONTEXT.with(|slot| slot.borrow().as_ref().map(f))
}

/// Runs `fut` with `ctx` as the current context.
pub(crate) fn scope<F: Future>(ctx: ChaosContext, fut: F) -> impl Future<Output = F::Output> {
    TASK_CONTEXT.scope(ctx, fut)
}

/// Runs `f` on this thread with `ctx` as the current context.
pub(crate) fn on_thread<R>(ctx: ChaosContext, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<ChaosContext>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            THREAD_CONTEXT.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let previous = THREAD_CONTEXT.with(|slot| slot.borrow_mut().replace(ctx));
    let _reset = Reset(previous);
    f()
}

/// [`ChaosContext::maybe_delay`] on the current context; returns at once outside a run.
pub async fn maybe_delay() -> Duration {
    match current() {
        Some(ctx) => ctx.maybe_delay().await,
        None => Duration::ZERO,
    }
}

/// [`ChaosContext::maybe_panic`] on the current context.
pub fn maybe_panic() {
    with_current(|ctx| ctx.maybe_panic());
}

/// [`ChaosContext::maybe_error`] on the current context.
pub fn maybe_error() -> Result<(), ChaosError> {
    with_current(|ctx| ctx.maybe_error()).unwrap_or(Ok(()))
}

/// [`ChaosContext::maybe_cancel`] on the current context; a token nobody cancels outside a run.
pub fn maybe_cancel() -> CancellationToken {
    with_current(|ctx| ctx.maybe_cancel()).unwrap_or_default()
}

/// [`ChaosContext::maybe_network`] on the current context.
pub async fn maybe_network(host: &str, port: u16) -> NetworkFault {
    match current() {
        Some(ctx) => ctx.maybe_network(host, port).await,
        None => NetworkFault::NONE,
    }
}

/// [`ChaosContext::failpoint`] on the current context.
pub async fn failpoint(name: &str) -> Result<(), ChaosError> {
    match current() {
        Some(ctx) => ctx.failpoint(name).await,
        None => Ok(()),
    }
}

/// [`ChaosContext::record_recursion_depth`] on the current context.
pub fn record_recursion_depth(depth: u32) {
    with_current(|ctx| ctx.record_recursion_depth(depth));
}

/// [`ChaosContext::record_panic`] on the current context.
pub fn record_panic(message: &str) {
    with_current(|ctx| ctx.record_panic(message));
}

/// [`ChaosContext::record_error`] on the current context.
pub fn record_error(message: &str) {
    with_current(|ctx| ctx.record_error(message));
}

/// [`ChaosContext::record_metric`] on the current context.
pub fn record_metric(name: &str, value: f64) {
    with_current(|ctx| ctx.record_metric(name, value));
}
