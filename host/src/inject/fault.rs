//! Injectors that answer one kind of point with a fixed action and a probability (panic,
//! error, cancel, named failpoints), and closures.

use super::{Injector, check_probability};
use crate::chaos::{Action, Capabilities, Draws, Point};

/// Answers points of one kind with a fixed action, with probability `p`.
#[derive(Clone, Debug)]
pub struct Chance {
    kind: Capabilities,
    p: f64,
    action: Action,
}

/// Panics at panic points with probability `p` (message "chaos: injected panic").
pub fn panic(p: f64) -> Chance {
    Chance { kind: Capabilities::PANIC, p, action: Action::Panic("chaos: injected panic".into()) }
}

/// Fails error points with probability `p` (message "injected error").
pub fn error(p: f64) -> Chance {
    Chance { kind: Capabilities::ERROR, p, action: Action::Error("injected error".into()) }
}

/// Cancels the token returned by `maybe_cancel` with probability `p`.
pub fn cancel(p: f64) -> Chance {
    Chance { kind: Capabilities::CANCEL, p, action: Action::Cancel }
}

impl Chance {
    /// The panic or error message (no effect on cancellation).
    pub fn message(mut self, message: impl Into<String>) -> Self {
        if let Action::Panic(m) | Action::Error(m) = &mut self.action {
            *m = message.into();
        }
        self
    }
}

impl Injector for Chance {
    fn capabilities(&self) -> Capabilities {
        self.kind
    }
    #[inline]
    fn decide(&self, _point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        if draws.chance(self.p) { self.action.clone() } else { Action::None }
    }
    fn validate_config(&self) -> Result<(), String> {
        check_probability(self.p)
    }
    fn is_inert(&self) -> bool {
        self.p <= 0.0
    }
}

/// Applies an action at a named failpoint with probability `p`.
#[derive(Clone, Debug)]
pub struct Failpoint {
    name: String,
    p: f64,
    action: Action,
}

/// At the failpoint called `name`, applies `action` with probability `p`
/// (like the `fail` crate's `fail_point!`, but seeded and per iteration).
///
/// `name` may be a pattern (`db.*`, `shop::*`: see [`crate::sites`]) and reaches
/// `chaoskit::points::failpoint` sites, `fail_point!` sites and `#[chaos_fn]` functions
/// (named `module::path::function`).
pub fn failpoint(name: impl Into<String>, p: f64, action: Action) -> Failpoint {
    Failpoint { name: name.into(), p, action }
}

impl Injector for Failpoint {
    fn capabilities(&self) -> Capabilities {
        Capabilities::FAILPOINT
    }
    #[inline]
    fn decide(&self, point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        if crate::sites::matches(&self.name, point.name) && draws.chance(self.p) {
            self.action.clone()
        } else {
            Action::None
        }
    }
    fn validate_config(&self) -> Result<(), String> {
        check_probability(self.p)
    }
    fn target(&self) -> Option<&str> {
        Some(&self.name)
    }
    fn is_inert(&self) -> bool {
        self.p <= 0.0
    }
}

/// An injector made of a closure.
pub struct FnInjector<F> {
    capabilities: Capabilities,
    f: F,
}

/// An injector answering `kinds` with a closure over the point and the seeded stream.
///
/// ```
/// use chaoskit::{inject, Action, Capabilities};
/// use std::time::Duration;
/// // Delay every tenth iteration by 5 ms.
/// let every_tenth = inject::from_fn(Capabilities::DELAY, |point, _draws| {
///     if point.iteration % 10 == 0 { Action::Delay(Duration::from_millis(5)) } else { Action::None }
/// });
/// # let _ = every_tenth;
/// ```
pub fn from_fn<F>(kinds: Capabilities, f: F) -> FnInjector<F>
where
    F: Fn(&Point<'_>, &mut Draws<'_>) -> Action + Send + Sync + 'static,
{
    FnInjector { capabilities: kinds, f }
}

impl<F> Injector for FnInjector<F>
where
    F: Fn(&Point<'_>, &mut Draws<'_>) -> Action + Send + Sync + 'static,
{
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }
    fn decide(&self, point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        if self.capabilities.answers(point.kind) { (self.f)(point, draws) } else { Action::None }
    }
}
