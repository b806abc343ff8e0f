//! The brute-force global view: which live nodes are truly closest to a key.
//!
//! It looks at every node's id directly, independently of any routing state,
//! so it can judge whether a protocol's lookup found the right nodes.

use peerlab_core::NodeId;

/// All node ids, by node index.
#[derive(Clone, Debug)]
pub struct Oracle {
    ids: Vec<NodeId>,
}

impl Oracle {
    /// An oracle over the given ids (index = node).
    pub fn new(ids: Vec<NodeId>) -> Self {
        Oracle { ids }
    }

    /// The id of node `i`.
    pub fn id(&self, i: u32) -> NodeId {
        self.ids[i as usize]
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_is_sorted_by_xor_and_respects_liveness() {
        let id = |x: u8| NodeId([x; 20]);
        let o = Oracle::new(vec![id(0b0001), id(0b0100), id(0b0011), id(0b1000)]);
        let key = id(0b0010);
        // Distances: 3, 6, 1, 10 (per byte).
        assert_eq!(o.closest(&key, 2, |_| true), vec![2, 0]);
        assert_eq!(o.closest(&key, 9, |i| i != 2), vec![0, 1, 3]);
    }
}
