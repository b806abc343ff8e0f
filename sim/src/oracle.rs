//! The brute-force global view: which live nodes are truly responsible for a key.
//!
//! It looks at every node's id directly, independently of any routing state,
//! so it can judge whether a protocol's lookup found the right nodes.

use crate::dht::Metric;
use peerlab_core::NodeId;

/// All node ids, by node index, and the same ids in ring order.
#[derive(Clone, Debug)]
pub struct Oracle {
    ids: Vec<NodeId>,
    ring: Vec<(NodeId, u32)>,
}

impl Oracle {
    /// An oracle over the given ids (index = node).
    pub fn new(ids: Vec<NodeId>) -> Self {
        let mut ring: Vec<(NodeId, u32)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32))
            .collect();
        ring.sort_unstable();
        Oracle { ids, ring }
    }

    /// The id of node `i`.
    pub fn id(&self, i: u32) -> NodeId {
        self.ids[i as usize]
    }

    /// The `n` nodes responsible for `key` under `metric` among those for
    /// which `live` is true, most responsible first.
    pub fn responsible(
        &self,
        metric: Metric,
        key: &NodeId,
        n: usize,
        live: impl FnMut(u32) -> bool,
    ) -> Vec<u32> {
        match metric {
            Metric::Xor => self.closest(key, n, live),
            Metric::Ring => self.successors(key, n, live),
        }
    }

    /// The `k` nodes closest to `key` by XOR distance among those for which
    /// `live` is true, closest first.
    pub fn closest(&self, key: &NodeId, k: usize, mut live: impl FnMut(u32) -> bool) -> Vec<u32> {
        let mut all: Vec<(NodeId, u32)> = (0..self.ids.len() as u32)
            .filter(|&i| live(i))
            .map(|i| (self.ids[i as usize].distance(key), i))
            .collect();
        if all.len() > k {
            all.select_nth_unstable(k);
            all.truncate(k);
        }
        all.sort_unstable();
        all.into_iter().map(|(_, i)| i).collect()
    }

    /// The key's successor (the first live id at or after it, clockwise) and
    /// the live nodes after it, `n` in all.
    pub fn successors(
        &self,
        key: &NodeId,
        n: usize,
        mut live: impl FnMut(u32) -> bool,
    ) -> Vec<u32> {
        let start = self.ring.partition_point(|(id, _)| id < key);
        let len = self.ring.len();
        (0..len)
            .map(|o| self.ring[(start + o) % len].1)
            .filter(|&i| live(i))
            .take(n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(x: u8) -> NodeId {
        NodeId([x; 20])
    }

    #[test]
    fn closest_is_sorted_by_xor_and_respects_liveness() {
        let o = Oracle::new(vec![id(0b0001), id(0b0100), id(0b0011), id(0b1000)]);
        let key = id(0b0010);
        // Distances: 3, 6, 1, 10 (per byte).
        assert_eq!(o.closest(&key, 2, |_| true), vec![2, 0]);
        assert_eq!(o.closest(&key, 9, |i| i != 2), vec![0, 1, 3]);
    }

    #[test]
    fn successors_wrap_around_the_ring_and_skip_dead_nodes() {
        let o = Oracle::new(vec![id(40), id(10), id(30), id(20)]);
        assert_eq!(o.successors(&id(15), 2, |_| true), vec![3, 2]);
        assert_eq!(
            o.successors(&id(20), 1, |_| true),
            vec![3],
            "an id is its own successor"
        );
        assert_eq!(
            o.successors(&id(41), 3, |_| true),
            vec![1, 3, 2],
            "wraps past the top"
        );
        assert_eq!(o.successors(&id(15), 2, |i| i != 3), vec![2, 0]);
        assert_eq!(o.responsible(Metric::Ring, &id(15), 1, |_| true), vec![3]);
    }
}
