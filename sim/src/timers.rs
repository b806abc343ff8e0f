//! One deadline per node, in an indexed binary heap.
//!
//! Each node has at most one entry, updated in place when its deadline moves
//! (in either direction) and removed when it has none. Compared with pushing a
//! new event whenever a deadline moves, this keeps no superseded timers in
//! the event queue: memory is 16 bytes per node and no spurious wake-ups are
//! processed. Ties are broken by node index, so the order is deterministic.

use peerlab_core::Instant;

const ABSENT: u32 = u32::MAX;

/// An indexed min-heap of `(deadline, node)`.
#[derive(Clone, Debug, Default)]
pub struct NodeTimers {
    heap: Vec<(Instant, u32)>,
    pos: Vec<u32>,
}

impl NodeTimers {
    /// Room for nodes `0..n`.
    pub fn new(n: u32) -> Self {
        NodeTimers {
            heap: Vec::new(),
            pos: vec![ABSENT; n as usize],
        }
    }

    /// The earliest deadline and its node.
    pub fn peek(&self) -> Option<(Instant, u32)> {
        self.heap.first().copied()
    }

    /// Node `i`'s deadline, if it has one.
    pub fn get(&self, i: u32) -> Option<Instant> {
        let p = self.pos[i as usize];
        (p != ABSENT).then(|| self.heap[p as usize].0)
    }

    /// Number of nodes with a deadline.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no node has a deadline.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Sets node `i`'s deadline to `at`, or clears it with `None`.
    pub fn set(&mut self, i: u32, at: Option<Instant>) {
        let p = self.pos[i as usize];
        match (p, at) {
            (ABSENT, None) => {}
            (ABSENT, Some(at)) => {
                self.heap.push((at, i));
                let last = self.heap.len() - 1;
                self.pos[i as usize] = last as u32;
                self.sift_up(last);
            }
            (p, Some(at)) => {
                let p = p as usize;
                let old = self.heap[p].0;
                self.heap[p].0 = at;
                if at < old {
                    self.sift_up(p)
                } else {
                    self.sift_down(p)
                }
            }
            (p, None) => self.remove_at(p as usize),
        }
    }

    /// Removes and returns the earliest entry if it is due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32)> {
        let top = self.peek().filter(|(at, _)| *at <= now)?;
        self.remove_at(0);
        Some(top)
    }

    fn remove_at(&mut self, p: usize) {
        let last = self.heap.len() - 1;
        self.swap(p, last);
        let (_, i) = self.heap.pop().unwrap_or((Instant::ZERO, 0));
        self.pos[i as usize] = ABSENT;
        if p < self.heap.len() {
            self.sift_down(p);
            self.sift_up(p);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].1 as usize] = a as u32;
        self.pos[self.heap[b].1 as usize] = b as u32;
    }

    fn sift_up(&mut self, mut p: usize) {
        while p > 0 {
            let parent = (p - 1) / 2;
            if self.heap[p] >= self.heap[parent] {
                break;
            }
            self.swap(p, parent);
            p = parent;
        }
    }

    fn sift_down(&mut self, mut p: usize) {
        loop {
            let (l, r) = (2 * p + 1, 2 * p + 2);
            let mut m = p;
            if l < self.heap.len() && self.heap[l] < self.heap[m] {
                m = l;
            }
            if r < self.heap.len() && self.heap[r] < self.heap[m] {
                m = r;
            }
            if m == p {
                break;
            }
            self.swap(p, m);
            p = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlab_core::rng::NodeRng;
    use rand::{RngExt, SeedableRng};
    use std::collections::BTreeMap;

    /// Against a brute-force model: a map from node to deadline.
    #[test]
    fn agrees_with_a_brute_force_model_under_random_updates() {
        let mut rng = NodeRng::seed_from_u64(4);
        let mut t = NodeTimers::new(50);
        let mut model: BTreeMap<u32, Instant> = BTreeMap::new();
        let mut now = Instant::ZERO;
        for _ in 0..20_000 {
            let i = rng.random_range(0..50u32);
            match rng.random_range(0..4) {
                0 => {
                    t.set(i, None);
                    model.remove(&i);
                }
                1 => {
                    now = Instant::from_micros(now.as_micros() + rng.random_range(0..50));
                    let want = model
                        .iter()
                        .map(|(n, at)| (*at, *n))
                        .min()
                        .filter(|(at, _)| *at <= now);
                    assert_eq!(t.pop_due(now), want);
                    if let Some((_, n)) = want {
                        model.remove(&n);
                    }
                }
                _ => {
                    let at = Instant::from_micros(now.as_micros() + rng.random_range(0..1000));
                    t.set(i, Some(at));
                    model.insert(i, at);
                }
            }
            assert_eq!(t.len(), model.len());
            assert_eq!(t.peek(), model.iter().map(|(n, at)| (*at, *n)).min());
            assert_eq!(t.get(i), model.get(&i).copied());
        }
    }
}
