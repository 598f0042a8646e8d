//! Sleeps that end close to their deadline: [`PreciseTimer`].
//!
//! tokio's timer wheel has 1 ms slots and rounds a deadline up to the next slot, so a 1 ms latency
//! toxic held chunks for about 2.3 ms. A precise sleep waits on tokio until [`COARSE_MARGIN`]
//! before its deadline (cheap, shared by every connection), then hands the rest to one timer
//! thread per registry that waits on a condition variable with the kernel's high-resolution
//! timeout and wakes the task when the instant has come (within tens of microseconds).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long before a deadline a sleep leaves tokio's timer for the timer thread: more than
/// tokio's rounding (one 1 ms slot) plus scheduling slack.
const COARSE_MARGIN: Duration = Duration::from_micros(2500);

/// A timer thread that wakes tasks at precise instants. Dropping the last handle stops it.
#[derive(Debug)]
pub(crate) struct PreciseTimer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    due: Mutex<BinaryHeap<Reverse<Due>>>,
    changed: Condvar,
    stop: AtomicBool,
    seq: AtomicU64,
}

#[derive(Debug)]
struct Due {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl Default for PreciseTimer {
    fn default() -> Self {
        PreciseTimer { shared: Arc::default(), thread: Mutex::new(None) }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

impl PreciseTimer {
    /// Waits until `at`: on tokio's timer for all but the last [`COARSE_MARGIN`], then on the
    /// timer thread. Cancel-safe (dropping the future leaves at most one stale wake-up behind).
    pub(crate) async fn sleep_until(&self, at: Instant) {
        let now = Instant::now();
        if at <= now {
            return;
        }
        if at - now > COARSE_MARGIN {
            tokio::time::sleep_until((at - COARSE_MARGIN).into()).await;
        }
        std::future::poll_fn(|cx| {
            if Instant::now() >= at {
                return Poll::Ready(());
            }
            self.register(at, cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    fn register(&self, at: Instant, waker: Waker) {
        self.ensure_thread();
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let mut due = self.shared.due.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = due.peek().is_none_or(|Reverse(first)| at < first.at);
        due.push(Reverse(Due { at, seq, waker }));
        drop(due);
        if earliest {
            self.shared.changed.notify_one();
        }
    }

    fn ensure_thread(&self) {
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if thread.is_some() {
            return;
        }
        let shared = Arc::downgrade(&self.shared);
        match std::thread::Builder::new().name("chaoskit-proxy-timer".into()).spawn(move || run(shared)) {
            Ok(handle) => *thread = Some(handle),
            Err(e) => {
                // Without the thread, sleeps still end: wake at once and let tokio's timer round.
                tracing::warn!(target: "chaoskit::proxy", error = %e, "cannot start the precise timer thread");
            }
        }
    }
}

/// The timer thread wakes this much before a deadline and spins the rest: a futex wait ends tens
/// of microseconds late, a short spin does not.
const SPIN: Duration = Duration::from_micros(20);

fn run(shared: Weak<Shared>) {
    let Some(shared) = shared.upgrade() else { return };
    // The kernel's default 50 µs timer slack would add to every wait of this thread.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_timerslack(1);
    let mut ready = Vec::new();
    let mut due = shared.due.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let soon = Instant::now() + SPIN;
        let mut last = None;
        while due.peek().is_some_and(|Reverse(first)| first.at <= soon) {
            if let Some(Reverse(d)) = due.pop() {
                last = Some(d.at);
                ready.push(d.waker);
            }
        }
        if let Some(last) = last {
            drop(due);
            // At most `SPIN`: never wake a sleep before its instant (it would only register again).
            while Instant::now() < last {
                std::hint::spin_loop();
            }
            ready.drain(..).for_each(Waker::wake);
            due = shared.due.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        let now = Instant::now();
        due = match due.peek().map(|Reverse(first)| first.at.saturating_duration_since(now + SPIN)) {
            Some(wait) => shared.changed.wait_timeout(due, wait).unwrap_or_else(|p| p.into_inner()).0,
            None => shared.changed.wait(due).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_never_end_before_their_deadline() {
        let timer = PreciseTimer::default();
        for wait in [0u64, 300, 1000, 3000] {
            let at = Instant::now() + Duration::from_micros(wait);
            timer.sleep_until(at).await;
            assert!(Instant::now() >= at, "woke before the deadline of a {wait} µs sleep");
        }
        // How late they wake is measured (and reported) by the proxy's latency-accuracy test.
    }
}
