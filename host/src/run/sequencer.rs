//! Puts finished iterations back in index order for validators that keep state across
//! iterations (see `Validator::ordered`): workers finish in any order at concurrency > 1.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Items keyed by iteration index, handed out strictly in index order.
pub(crate) struct Sequencer<F> {
    state: Mutex<State<F>>,
}

struct State<F> {
    next: u64,
    pending: BTreeMap<u64, F>,
}

impl<F> Sequencer<F> {
    pub(crate) fn new() -> Self {
        Sequencer { state: Mutex::new(State { next: 0, pending: BTreeMap::new() }) }
    }

    /// Adds the item of iteration `index`, then hands every item now due to `f`, in order.
    /// `f` runs under the sequencer's lock, so two workers never interleave their items.
    pub(crate) fn push(&self, index: u64, item: F, mut f: impl FnMut(F)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.pending.insert(index, item);
        loop {
            let next = state.next;
            let Some(item) = state.pending.remove(&next) else { break };
            state.next += 1;
            f(item);
        }
    }

    /// Hands what is left to `f` in index order, skipping indices that never ran (the run
    /// stopped between claiming and running them).
    pub(crate) fn drain(&self, mut f: impl FnMut(F)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (_, item) in std::mem::take(&mut state.pending) {
            f(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
