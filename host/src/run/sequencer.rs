//! Puts finished iterations back in index order for validators that keep state across
//! iterations (see `Validator::ordered`): workers finish in any order at concurrency > 1.
//!
//! One worker at a time hands items out; the others leave theirs and go on. A worker never
//! waits for another's validator call: on an async runtime a worker blocked on a lock holds a
//! runtime thread, and a validator waiting on I/O (a WASI plugin's HTTP request) needs those
//! threads to drive its I/O and timers. With every thread blocked on the lock, the run hung.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Items keyed by iteration index, handed out strictly in index order.
pub(crate) struct Sequencer<F> {
    /// Held only to insert or take an item, never while one is handed out.
    state: Mutex<State<F>>,
    /// Whether a worker is handing items out.
    handing: AtomicBool,
}

struct State<F> {
    next: u64,
    pending: BTreeMap<u64, F>,
}

/// Clears `handing` when the hand-out ends, also if `f` panics.
struct Handing<'a>(&'a AtomicBool);

impl Drop for Handing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<F> Sequencer<F> {
    pub(crate) fn new() -> Self {
        Sequencer { state: Mutex::new(State { next: 0, pending: BTreeMap::new() }), handing: AtomicBool::new(false) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<F>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next item due, taken out.
    fn take_due(&self) -> Option<F> {
        let mut state = self.state();
        let next = state.next;
        let item = state.pending.remove(&next)?;
        state.next += 1;
        Some(item)
    }

    /// Adds the item of iteration `index`. If no other worker is handing items out, hands
    /// every item now due to `f`, in order; otherwise returns at once and that worker hands
    /// this item out when it is due. `f` never runs on two workers at once.
    pub(crate) fn push(&self, index: u64, item: F, mut f: impl FnMut(F)) {
        self.state().pending.insert(index, item);
        loop {
            if self.handing.swap(true, Ordering::AcqRel) {
                return;
            }
            {
                let _handing = Handing(&self.handing);
                while let Some(item) = self.take_due() {
                    f(item);
                }
            }
            // An item may have become due after the last look and before `handing` cleared:
            // its worker saw `handing` set and left it here. Look again.
            let due = {
                let state = self.state();
                state.pending.contains_key(&state.next)
            };
            if !due {
                return;
            }
        }
    }

    /// Items waiting (for an earlier iteration, or for the worker handing them out): workers
    /// pause claiming new iterations while this is large, so a slow validator bounds memory.
    pub(crate) fn backlog(&self) -> usize {
        self.state().pending.len()
    }

    /// Hands what is left to `f` in index order, skipping indices that never ran (the run
    /// stopped between claiming and running them).
    pub(crate) fn drain(&self, mut f: impl FnMut(F)) {
        let pending = std::mem::take(&mut self.state().pending);
        for (_, item) in pending {
            f(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    #[test]
    fn items_come_out_in_index_order_whatever_order_they_arrive_in() {
        let seq = Sequencer::new();
        let mut seen = Vec::new();
        for i in [2u64, 0, 3, 1, 5] {
            seq.push(i, i, |x| seen.push(x));
        }
        assert_eq!(seen, [0, 1, 2, 3]);
        seq.drain(|x| seen.push(x));
        assert_eq!(seen, [0, 1, 2, 3, 5]);
    }

    /// A worker whose item arrives while another hands items out (its validator blocked,
    /// say on I/O) is not held: it returns, and the first worker hands its item out in order.
    #[test]
    fn a_push_during_a_slow_hand_out_returns_at_once_and_its_item_follows_in_order() {
        let seq = Arc::new(Sequencer::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let first = {
            let (seq, seen) = (Arc::clone(&seq), Arc::clone(&seen));
            std::thread::spawn(move || {
                seq.push(0, 0u64, |x| {
                    if x == 0 {
                        entered_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    }
                    seen.lock().unwrap().push(x);
                })
            })
        };
        entered.recv().unwrap();
        let (done_tx, done) = mpsc::channel();
        let second = {
            let (seq, seen) = (Arc::clone(&seq), Arc::clone(&seen));
            std::thread::spawn(move || {
                seq.push(1, 1u64, |x| seen.lock().unwrap().push(x));
                done_tx.send(()).unwrap();
            })
        };
        done.recv_timeout(Duration::from_secs(10)).expect("the second push returns while the first hands out");
        assert_eq!(seq.backlog(), 1, "item 1 waits for the worker handing out");
        release.send(()).unwrap();
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(*seen.lock().unwrap(), [0, 1]);
        assert_eq!(seq.backlog(), 0);
    }
}
