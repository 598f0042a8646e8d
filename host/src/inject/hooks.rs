//! Async work around the run and each iteration, for injectors that drive something over the
//! network (a chaos proxy, in-process or remote).

use std::future::Future;
use std::pin::Pin;

use super::{InjectError, StartContext};

/// The future an async hook returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), InjectError>> + Send + 'a>>;

/// Async lifecycle of an injector, reached through [`Injector::hooks`](super::Injector::hooks).
///
/// The executor awaits `start_async` right after [`Injector::start`](super::Injector::start)
/// (in declaration order) and `stop_async` right before [`Injector::stop`](super::Injector::stop)
/// (in reverse order), on every path. A per-iteration injector is also asked, at the start of
/// each iteration, to decide a chaos point of kind `network` named `iteration` (with its own
/// seeded stream, journaled like any decision); when it fires, `enter_iteration` runs before
/// the first step and `leave_iteration` after the last.
pub trait AsyncHooks: Send + Sync {
    /// Async set-up after `Injector::start`.
    fn start_async<'a>(&'a self, ctx: StartContext<'a>) -> HookFuture<'a>;

    /// Async clean-up before `Injector::stop`; must undo whatever is still applied.
    fn stop_async(&self) -> HookFuture<'_>;

    /// Whether the fault is decided per iteration (else it lasts the whole run).
    fn per_iteration(&self) -> bool {
        false
    }

    /// Applies the fault for iteration `iteration` (only when its decision fired).
    fn enter_iteration(&self, iteration: u64) -> HookFuture<'_> {
        let _ = iteration;
        Box::pin(async { Ok(()) })
    }

    /// Removes the fault after iteration `iteration` (only when its decision fired).
    fn leave_iteration(&self, iteration: u64) -> HookFuture<'_> {
        let _ = iteration;
        Box::pin(async { Ok(()) })
    }
}
