//! Injectors: what adds faults during a run.
//!
//! - [`Injector`]: the trait. An injector answers the chaos point kinds it declares in
//!   [`Injector::capabilities`], and may act on its own between [`Injector::start`] and
//!   [`Injector::stop`] (CPU burn, memory pressure).
//! - Built-ins: [`delay`], [`delay_every`], [`panic()`], [`error`], [`cancel`], [`failpoint`],
//!   [`network`], [`cpu`], [`memory`], [`composite`], and [`from_fn`] for a closure.
//! - Through a chaos proxy ([`crate::proxy`], in-process or remote): [`proxy_toxic`] and
//!   [`proxy_down`], for the whole run or per iteration ([`AsyncHooks`]).
//!
//! Injectors are started in declaration order and stopped in reverse order, on every path.
//! An injector can be started again after it was stopped (one value can serve several runs).

mod composite;
mod delay;
mod fault;
mod hooks;
mod network;
mod pressure;
#[cfg(feature = "proxy")]
mod proxy_fault;

use std::sync::Arc;

pub use composite::{Composite, composite};
pub use delay::{Delay, delay, delay_every};
pub use fault::{Chance, Failpoint, FnInjector, cancel, error, failpoint, from_fn, panic};
pub use hooks::{AsyncHooks, HookFuture};
pub use network::{Network, NetworkRule, host_matches, network};
pub use pressure::{CpuPressure, MemoryPressure, cpu, memory};
#[cfg(feature = "proxy")]
pub use proxy_fault::{ProxyEndpoint, ProxyFault, proxy_down, proxy_toxic};

use crate::chaos::{Action, Capabilities, Draws, Point};

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

/// Checks a probability lies in `[0, 1]`.
pub(crate) fn check_probability(p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) { Ok(()) } else { Err(format!("probability {p} is outside [0, 1]")) }
}
