//! The injector contract: what the decision seam asks and what an injector may do around a
//! run. It lives on the ground floor with the point and action types, so `inject` (the
//! built-ins), the proxy adapters and the plugin adapters all depend on it, never the reverse.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{Action, Capabilities, Draws, Point};

/// What an injector learns when its run starts.
#[derive(Clone, Copy, Debug)]
pub struct StartContext<'a> {
    /// The label the scenario gave it.
    pub label: &'a str,
    /// The scenario seed (for background randomness, derive from it; never draw from the OS).
    pub seed: u64,
    /// Its index among the scenario's injectors.
    pub index: usize,
}

/// Why an injector could not start or stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    /// The injector refused to start.
    #[error("{0}")]
    Failed(String),
    /// An I/O error while starting or stopping (threads, sockets, files).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Adds faults to a run.
///
/// Only [`capabilities`](Injector::capabilities) and [`decide`](Injector::decide) matter
/// for an injector that answers chaos points; background injectors (CPU, memory) answer
/// nothing and do their work between `start` and `stop`.
#[diagnostic::on_unimplemented(
    note = "see the `chaoskit::inject` module docs for the built-in injectors and `inject::from_fn`"
)]
pub trait Injector: Send + Sync + 'static {
    /// Which chaos point kinds this injector answers.
    fn capabilities(&self) -> Capabilities;

    /// Called once before the first iteration.
    fn start(&self, ctx: &StartContext<'_>) -> Result<(), InjectError> {
        let _ = ctx;
        Ok(())
    }

    /// Called once after the last iteration (in reverse declaration order), also after
    /// failures and cancellation.
    fn stop(&self) -> Result<(), InjectError> {
        Ok(())
    }

    /// Decides a chaos point. Hot path: called for every point of a kind it answers.
    /// `draws` is this injector's seeded stream for the current iteration.
    fn decide(&self, point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        let _ = (point, draws);
        Action::None
    }

    /// Checks the configuration; `Scenario::build` reports the problem with the label.
    fn validate_config(&self) -> Result<(), String> {
        Ok(())
    }

    /// What makes this injector's decisions depend on more than the seed and the iteration
    /// (a wall clock, shared state, host time), named for the report and for `replay`; `None`
    /// when a replay with the same seed decides exactly the same.
    fn replay_hazard(&self) -> Option<String> {
        None
    }

    /// Lines for the report (e.g. a plugin disabled after repeated failures).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The site name or pattern (`*` wildcards, see [`crate::sites`]) this injector targets,
    /// if it targets named sites (failpoints, `#[chaos_fn]` functions). It is then asked only
    /// at points whose name matches, and the coverage report shows the pattern.
    fn target(&self) -> Option<&str> {
        None
    }

    /// Whether this injector can never fire (e.g. probability 0): the run leaves it out of
    /// every chaos point, so an idle point stays as cheap as with no injector at all.
    fn is_inert(&self) -> bool {
        false
    }

    /// Async lifecycle hooks, for injectors that act over the network (see [`AsyncHooks`]).
    fn hooks(&self) -> Option<&dyn AsyncHooks> {
        None
    }

    /// This injector behind an `Arc<dyn Injector>`.
    fn into_shared(self) -> Arc<dyn Injector>
    where
        Self: Sized,
    {
        Arc::new(self)
    }
}

/// Forwards every method, so `Arc<dyn Injector>` and `Box<dyn Injector>` are injectors too.
macro_rules! forward_injector {
    ($ty:ty) => {
        impl<I: Injector + ?Sized> Injector for $ty {
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            fn start(&self, ctx: &StartContext<'_>) -> Result<(), InjectError> {
                (**self).start(ctx)
            }
            fn stop(&self) -> Result<(), InjectError> {
                (**self).stop()
            }
            fn decide(&self, point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
                (**self).decide(point, draws)
            }
            fn validate_config(&self) -> Result<(), String> {
                (**self).validate_config()
            }
            fn replay_hazard(&self) -> Option<String> {
                (**self).replay_hazard()
            }
            fn notes(&self) -> Vec<String> {
                (**self).notes()
            }
            fn hooks(&self) -> Option<&dyn AsyncHooks> {
                (**self).hooks()
            }
            fn target(&self) -> Option<&str> {
                (**self).target()
            }
            fn is_inert(&self) -> bool {
                (**self).is_inert()
            }
        }
    };
}
forward_injector!(Arc<I>);
forward_injector!(Box<I>);

/// The future an async hook returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), InjectError>> + Send + 'a>>;

/// Async lifecycle of an injector, reached through [`Injector::hooks`].
///
/// The executor awaits `start_async` right after [`Injector::start`] (in declaration order)
/// and `stop_async` right before [`Injector::stop`] (in reverse order), on every path. Whether
/// the fault applies is decided through the one decision function, like every chaos point: a
/// whole-run injector at a point of kind `network` named `run` once after start (applied by
/// `enter_run`), a per-iteration injector at a point named `iteration` at the start of each
/// iteration (applied by `enter_iteration` before the first step and removed by
/// `leave_iteration` after the last). Both decisions are journaled and replayable.
pub trait AsyncHooks: Send + Sync {
    /// Async set-up after `Injector::start` (the fault itself is applied by
    /// [`enter_run`](Self::enter_run) or [`enter_iteration`](Self::enter_iteration)).
    fn start_async<'a>(&'a self, ctx: StartContext<'a>) -> HookFuture<'a>;

    /// Async clean-up before `Injector::stop`; must undo whatever is still applied.
    fn stop_async(&self) -> HookFuture<'_>;

    /// Whether the fault is decided per iteration (else it lasts the whole run).
    fn per_iteration(&self) -> bool {
        false
    }

    /// Applies the fault for the whole run (only when the run-level decision fired); removed
    /// by `stop_async`.
    fn enter_run(&self) -> HookFuture<'_> {
        Box::pin(async { Ok(()) })
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
