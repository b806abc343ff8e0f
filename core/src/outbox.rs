//! Output queues that give back burst capacity.
//!
//! A node's outputs come in bursts (a join sends dozens of requests at once)
//! and are drained right away by the driver. A plain `VecDeque` would keep
//! the burst's capacity for the node's lifetime; across 10^6 simulated nodes
//! that idle capacity is gigabytes. [`Outbox`] shrinks once it is drained.

use std::collections::VecDeque;

/// Capacity kept when an outbox is drained.
const KEEP: usize = 4;

/// A FIFO queue of outputs that releases burst capacity once empty.
#[derive(Clone, Debug)]
pub struct Outbox<T> {
    queue: VecDeque<T>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox {
            queue: VecDeque::new(),
        }
    }
}

impl<T> Outbox<T> {
    /// Appends an output.
    pub fn push(&mut self, item: T) {
        self.queue.push_back(item);
    }

    /// Takes the oldest output; when that empties the queue, releases any
    /// capacity beyond a few slots.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.queue.pop_front();
        if self.queue.is_empty() && self.queue.capacity() > KEEP {
            self.queue.shrink_to(KEEP);
        }
        item
    }

    /// Number of queued outputs.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The queued outputs, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.queue.iter()
    }

    /// Takes every queued output, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.queue.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_fifo_and_gives_back_burst_capacity() {
        let mut o = Outbox::default();
        for i in 0..100 {
            o.push(i);
        }
        assert!(o.queue.capacity() >= 100);
        let drained: Vec<i32> = std::iter::from_fn(|| o.pop()).collect();
        assert_eq!(drained, (0..100).collect::<Vec<_>>());
        assert!(o.queue.capacity() <= KEEP);
        o.push(7);
        assert_eq!(o.pop(), Some(7));
    }
}
