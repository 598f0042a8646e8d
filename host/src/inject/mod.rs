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
mod network;
mod pressure;
#[cfg(feature = "proxy")]
mod proxy_fault;

pub use composite::{Composite, composite};
pub use delay::{Delay, delay, delay_every};
pub use fault::{Chance, Failpoint, FnInjector, cancel, error, failpoint, from_fn, panic};
pub use network::{Network, NetworkRule, host_matches, network};
pub use pressure::{CpuPressure, MemoryPressure, cpu, memory};
#[cfg(feature = "proxy")]
pub use proxy_fault::{ProxyEndpoint, ProxyFault, proxy_down, proxy_toxic};

pub use crate::chaos::{AsyncHooks, HookFuture, InjectError, Injector, StartContext};

/// Checks a probability lies in `[0, 1]`.
pub(crate) fn check_probability(p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) { Ok(()) } else { Err(format!("probability {p} is outside [0, 1]")) }
}
