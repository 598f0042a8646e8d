//! Background injectors: CPU burn and memory pressure, active between start and stop.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{InjectError, Injector, StartContext};
use crate::chaos::Capabilities;

/// The stop flag and the threads of a running CPU injector.
type Burners = (Arc<AtomicBool>, Vec<JoinHandle<()>>);

/// Burns CPU on worker threads while the run is active.
#[derive(Debug)]
pub struct CpuPressure {
    workers: usize,
    duty: f64,
    running: Mutex<Option<Burners>>,
}

/// Burns CPU on `workers` threads, each busy for `duty` (0..=1) of every 10 ms slice.
pub fn cpu(workers: usize, duty: f64) -> CpuPressure {
    CpuPressure { workers, duty, running: Mutex::new(None) }
}

const SLICE: Duration = Duration::from_millis(10);

impl Injector for CpuPressure {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    fn start(&self, ctx: &StartContext<'_>) -> Result<(), InjectError> {
        self.stop()?;
        let stop = Arc::new(AtomicBool::new(false));
        let busy = SLICE.mul_f64(self.duty.clamp(0.0, 1.0));
        let mut threads = Vec::with_capacity(self.workers);
        for n in 0..self.workers {
            let flag = stop.clone();
            let spawned = std::thread::Builder::new().name(format!("chaoskit-cpu-{n}")).spawn(move || {
                let mut x = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    let slice = Instant::now();
                    while slice.elapsed() < busy {
                        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                    if let Some(rest) = SLICE.checked_sub(slice.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
            });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    threads.into_iter().for_each(|t| drop(t.join()));
                    return Err(e.into());
                }
            }
        }
        tracing::debug!(target: "chaoskit::inject", label = ctx.label, workers = self.workers, "cpu pressure started");
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop, threads));
        Ok(())
    }

    fn stop(&self) -> Result<(), InjectError> {
        if let Some((stop, threads)) = self.running.lock().unwrap_or_else(|e| e.into_inner()).take() {
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                t.join().map_err(|_| InjectError::Failed("a cpu worker panicked".into()))?;
            }
        }
        Ok(())
    }

    fn validate_config(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.duty) {
            return Err(format!("cpu duty cycle {} is outside [0, 1]", self.duty));
        }
        if self.workers == 0 {
            return Err("cpu workers must be at least 1".into());
        }
        Ok(())
    }
}

impl Drop for CpuPressure {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Holds a block of touched memory while the run is active.
#[derive(Debug)]
pub struct MemoryPressure {
    bytes: usize,
    held: Mutex<Option<Vec<u8>>>,
}

/// Allocates `bytes` and writes every page (so they are resident, not just reserved);
/// released at stop.
pub fn memory(bytes: usize) -> MemoryPressure {
    MemoryPressure { bytes, held: Mutex::new(None) }
}

impl MemoryPressure {
    /// Whether the memory is currently held.
    pub fn is_holding(&self) -> bool {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

impl Injector for MemoryPressure {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    fn start(&self, _ctx: &StartContext<'_>) -> Result<(), InjectError> {
        let mut block = Vec::new();
        block
            .try_reserve_exact(self.bytes)
            .map_err(|e| InjectError::Failed(format!("cannot allocate {} bytes: {e}", self.bytes)))?;
        // Write every byte: a zeroed allocation could stay unmapped and never count in RSS.
        block.resize(self.bytes, 0xA5);
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(black_box(block));
        Ok(())
    }

    fn stop(&self) -> Result<(), InjectError> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(())
    }
}
