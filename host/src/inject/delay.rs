//! The delay injector: probability mode and interval mode.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{InjectError, Injector, StartContext, check_probability};
use crate::chaos::{Action, Capabilities, Draws, Point};

/// Slows delay points down by a duration drawn uniformly from `[min, max)`.
#[derive(Debug)]
pub struct Delay {
    min: Duration,
    max: Duration,
    mode: Mode,
    window_start: Mutex<Option<Instant>>,
    consumed: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Probability(f64),
    Every(Duration),
}

/// Delays each delay point with probability `p` by a duration in `[min, max)`.
///
/// `p = 0` never delays and never draws; `p = 1` always delays.
pub fn delay(p: f64, min: Duration, max: Duration) -> Delay {
    Delay::new(Mode::Probability(p), min, max)
}

/// Interval mode: one delay becomes pending every `interval` after the run starts; the next
/// delay point takes it. A point with nothing pending returns at once, never blocks.
pub fn delay_every(interval: Duration, min: Duration, max: Duration) -> Delay {
    Delay::new(Mode::Every(interval), min, max)
}

impl Delay {
    fn new(mode: Mode, min: Duration, max: Duration) -> Self {
        Delay { min, max, mode, window_start: Mutex::new(None), consumed: AtomicU64::new(0) }
    }

    /// Takes one pending interval delay if there is one.
    fn take_pending(&self, interval: Duration) -> bool {
        let Some(start) = *self.window_start.lock().unwrap_or_else(|e| e.into_inner()) else {
            return false;
        };
        let due = (start.elapsed().as_nanos() / interval.as_nanos().max(1)) as u64;
        self.consumed.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| (c < due).then_some(c + 1)).is_ok()
    }
}

impl Injector for Delay {
    fn capabilities(&self) -> Capabilities {
        Capabilities::DELAY
    }

    fn start(&self, _ctx: &StartContext<'_>) -> Result<(), InjectError> {
        *self.window_start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.consumed.store(0, Ordering::Release);
        Ok(())
    }

    fn stop(&self) -> Result<(), InjectError> {
        *self.window_start.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    #[inline]
    fn decide(&self, _point: &Point<'_>, draws: &mut Draws<'_>) -> Action {
        let fire = match self.mode {
            Mode::Probability(p) => draws.chance(p),
            Mode::Every(interval) => self.take_pending(interval),
        };
        if fire { Action::Delay(draws.uniform(self.min, self.max)) } else { Action::None }
    }

    fn replay_hazard(&self) -> Option<String> {
        match self.mode {
            Mode::Every(interval) => Some(format!(
                "interval mode (one delay every {interval:?}) decides by wall clock: which iterations are delayed depends on timing"
            )),
            Mode::Probability(_) => None,
        }
    }

    fn is_inert(&self) -> bool {
        matches!(self.mode, Mode::Probability(p) if p <= 0.0) || self.max.is_zero()
    }

    fn validate_config(&self) -> Result<(), String> {
        if self.min > self.max {
            return Err(format!(
                "delay range min {} is greater than max {}",
                crate::units::format_duration(self.min),
                crate::units::format_duration(self.max)
            ));
        }
        match self.mode {
            Mode::Probability(p) => check_probability(p),
            Mode::Every(i) if i.is_zero() => Err("delay interval must be greater than zero".into()),
            Mode::Every(_) => Ok(()),
        }
    }
}
