//! Several injectors acting as one, each keeping its capabilities.

use super::{InjectError, Injector, StartContext};
use crate::chaos::{Action, Capabilities, Draws, Point, combine};

/// Injectors grouped under one label. Unlike the Go original's composite, the group
/// answers every kind any child answers, so a delay child and a panic child both work.
pub struct Composite {
    children: Vec<Box<dyn Injector>>,
}

/// Groups injectors under one label. Children start in order and stop in reverse order;
/// at a chaos point every child that answers its kind is asked, in order, drawing from the
/// group's stream, and their actions combine as described in [`chaoskit::chaos`](crate::chaos).
pub fn composite(children: impl IntoIterator<Item = Box<dyn Injector>>) -> Composite {
    Composite { children: children.into_iter().collect() }
}

impl Injector for Composite {
    fn capabilities(&self) -> Capabilities {
        self.children.iter().fold(Capabilities::NONE, |c, i| c | i.capabilities())
    }

    fn start(&self, ctx: &StartContext<'_>) -> Result<(), InjectError> {
        for (n, child) in self.children.iter().enumerate() {
            if let Err(e) = child.start(ctx) {
                for started in self.children[..n].iter().rev() {
                    if let Err(stop) = started.stop() {
                        tracing::warn!(target: "chaoskit::inject", label = ctx.label, error = %stop, "child stop failed");
                    }
                }
                return Err(InjectError::Failed(format!("child {n} failed to start: {e}")));
            }
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), InjectError> {
        let mut failures = Vec::new();
        for (n, child) in self.children.iter().enumerate().rev() {
            if let Err(e) = child.stop() {
                failures.push(format!("child {n}: {e}"));
            }
        }
        if failures.is_empty() { Ok(()) } else { Err(InjectError::Failed(failures.join("; "))) }
    }

    fn decide(&self, point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        let mut action = Action::None;
        for child in &self.children {
            if child.capabilities().answers(point.kind) {
                action = combine(action, child.decide(point, draws));
            }
        }
        action
    }

    fn validate_config(&self) -> Result<(), String> {
        for (n, child) in self.children.iter().enumerate() {
            child.validate_config().map_err(|e| format!("child {n}: {e}"))?;
        }
        Ok(())
    }

    fn replay_hazard(&self) -> Option<String> {
        let hazards: Vec<String> = self.children.iter().filter_map(|c| c.replay_hazard()).collect();
        (!hazards.is_empty()).then(|| hazards.join("; "))
    }

    fn notes(&self) -> Vec<String> {
        self.children.iter().flat_map(|c| c.notes()).collect()
    }
}
