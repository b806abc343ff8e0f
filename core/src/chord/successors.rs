//! The successor list: the r nodes that follow this one on the circle.
//!
//! The list is always kept in ring order (by clockwise distance from the
//! local position), without duplicates or the local node, and at most r long.
//! When the first entry fails, the next one is the new successor: that is what
//! keeps the ring connected while up to r − 1 consecutive nodes fail at once.

use super::ring::{Ring, clockwise};
use crate::id::NodeId;
use crate::wire::Contact;

/// The successor list of one node.
#[derive(Clone, Debug)]
pub(crate) struct SuccessorList {
    ring: Ring,
    own: NodeId,
    own_pos: NodeId,
    cap: usize,
    list: Vec<Contact>,
}

impl SuccessorList {
    /// An empty list for the node `own`, holding at most `cap` entries.
    pub fn new(ring: Ring, own: NodeId, cap: usize) -> Self {
        SuccessorList {
            ring,
            own,
            own_pos: ring.position(&own),
            cap,
            list: Vec::with_capacity(cap),
        }
    }

    /// The immediate successor, if any node is known.
    pub fn first(&self) -> Option<Contact> {
        self.list.first().copied()
    }

    /// The entries, nearest first.
    pub fn as_slice(&self) -> &[Contact] {
        &self.list
    }

    /// Whether `id` is in the list.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.list.iter().any(|c| c.id == *id)
    }

    /// Whether the list is empty (the node believes it is alone).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Replaces the list with `contacts`, put in ring order; the local node
    /// and duplicates are dropped and the list is cut to r entries.
    pub fn set(&mut self, contacts: impl IntoIterator<Item = Contact>) {
        let mut all: Vec<Contact> = contacts.into_iter().filter(|c| c.id != self.own).collect();
        let (ring, own_pos) = (self.ring, self.own_pos);
        all.sort_by_key(|c| (clockwise(&own_pos, &ring.position(&c.id)), c.id));
        all.dedup_by_key(|c| c.id);
        all.truncate(self.cap);
        self.list = all;
    }

    /// Merges `contacts` into the list (ring order, cut to r entries).
    pub fn merge(&mut self, contacts: impl IntoIterator<Item = Contact>) {
        let old = std::mem::take(&mut self.list);
        self.set(old.into_iter().chain(contacts));
    }

    /// Removes `id`; true if it was there.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        let before = self.list.len();
        self.list.retain(|c| c.id != *id);
        self.list.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Addr;

    fn c(x: u8) -> Contact {
        let mut b = [0u8; 20];
        b[0] = x;
        Contact {
            id: NodeId(b),
            addr: Addr::new([10, 0, 0, x], 1),
        }
    }

    #[test]
    fn entries_are_kept_in_ring_order_from_the_local_node() {
        let mut s = SuccessorList::new(Ring::new(160), c(100).id, 3);
        // 100 is local; ring order after it: 120, 200, 10, 50.
        s.set([c(10), c(200), c(100), c(120), c(200), c(50)]);
        assert_eq!(s.as_slice(), &[c(120), c(200), c(10)]);
        s.merge([c(110), c(5)]);
        assert_eq!(s.as_slice(), &[c(110), c(120), c(200)]);
        assert!(s.remove(&c(110).id));
        assert_eq!(s.first(), Some(c(120)));
        assert!(!s.remove(&c(110).id));
    }
}
