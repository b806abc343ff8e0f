//! A small deadline queue for state machines.
//!
//! Entries are ordered by (deadline, insertion sequence), so ties resolve in
//! the order they were scheduled and never by anything that varies between
//! runs. Cancelled entries are not removed eagerly: callers drop them with
//! [`TimerQueue::pop_due`] or [`TimerQueue::prune`] when they reach the head.

use crate::time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A min-queue of `(deadline, key)` pairs.
#[derive(Debug, Clone)]
pub struct TimerQueue<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, u64, K)>>,
    seq: u64,
}

impl<K: Ord + Copy> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<K: Ord + Copy> TimerQueue<K> {
    /// Schedules `key` at `at`.
    pub fn schedule(&mut self, at: Instant, key: K) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, key)));
    }
    /// The earliest deadline and its key.
    pub fn peek(&self) -> Option<(Instant, K)> {
        self.heap.peek().map(|Reverse((at, _, k))| (*at, *k))
    }
    /// Removes and returns the earliest key if its deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse((_, _, k))| k),
            _ => None,
        }
    }
    /// Drops entries at the head for which `live` is false, so `peek` shows a
    /// live deadline. Once empty, the queue gives back burst capacity.
    pub fn prune(&mut self, mut live: impl FnMut(&K) -> bool) {
        while let Some(Reverse((_, _, k))) = self.heap.peek() {
            if live(k) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.is_empty() && self.heap.capacity() > 8 {
            self.heap.shrink_to(8);
        }
    }
    /// Number of entries, cancelled ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    /// Whether the queue holds no entries.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
    /// Removes every entry.
    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_then_insertion_order() {
        let mut q = TimerQueue::default();
        q.schedule(Instant::from_secs(2), 'b');
        q.schedule(Instant::from_secs(1), 'a');
        q.schedule(Instant::from_secs(2), 'c');
        assert_eq!(q.pop_due(Instant::from_millis(500)), None);
        let now = Instant::from_secs(5);
        let order: Vec<char> = std::iter::from_fn(|| q.pop_due(now)).collect();
        assert_eq!(order, ['a', 'b', 'c']);
    }

    #[test]
    fn prune_skips_cancelled_heads_only() {
        let mut q = TimerQueue::default();
        for i in 0..5u32 {
            q.schedule(Instant::from_secs(i as u64), i);
        }
        q.prune(|k| *k >= 2 || *k == 3);
        assert_eq!(q.peek(), Some((Instant::from_secs(2), 2)));
        assert_eq!(q.len(), 3);
    }
}
