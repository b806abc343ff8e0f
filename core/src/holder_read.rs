//! A get that reads several holders of a key and merges their values.
//!
//! Shared by every DHT, so a get means the same in each. The get asks the
//! key's holders (Kademlia: the nodes that answer its FIND_VALUE with values
//! while the lookup converges on the k closest; Chord: the key's successor
//! and the replicas after it) until `read_holders` of them have answered
//! with values, or no holder is left to ask, and returns the union of their
//! value sets, with how many holders it merged ([`crate::Event::GetDone`]).
//!
//! Why a union: a holder that a put missed (it joined later, the STORE was
//! lost, it was down) lacks the new value, and a single read of it returns a
//! stale set; any fresh holder among those merged supplies the value. The
//! union cannot undo a remove a holder missed, though: that holder still has
//! the value, and it comes back. Applications whose values replace one
//! another write the removal as a newer value (a tombstone) and keep the
//! newest per item when reading, as registration does
//! ([`crate::registration::read_contacts`]).
//!
//! Values are kept in the order first seen (the first holder's first), each
//! once; the hop count is that of the farthest holder merged, since the
//! answer is known only when its reply arrives.

use std::collections::BTreeSet;

/// The values of the holders read so far.
#[derive(Clone, Debug)]
pub(crate) struct HolderRead {
    want: usize,
    values: Vec<Vec<u8>>,
    seen: BTreeSet<Vec<u8>>,
    holders: u32,
    hops: u32,
}

impl HolderRead {
    /// A read that is complete once `want` holders (at least 1) answered.
    pub fn new(want: usize) -> Self {
        HolderRead {
            want: want.max(1),
            values: Vec::new(),
            seen: BTreeSet::new(),
            holders: 0,
            hops: 0,
        }
    }

    /// A holder at `hops` answered with `values`; an empty set is no holder.
    pub fn add(&mut self, values: Vec<Vec<u8>>, hops: u32) {
        if values.is_empty() {
            return;
        }
        self.holders += 1;
        self.hops = self.hops.max(hops);
        for v in values {
            if !self.seen.contains(&v) {
                self.seen.insert(v.clone());
                self.values.push(v);
            }
        }
    }

    /// Holders merged so far.
    pub fn holders(&self) -> usize {
        self.holders as usize
    }

    /// Whether enough holders answered.
    pub fn is_complete(&self) -> bool {
        self.holders() >= self.want
    }

    /// The merged values, the holders merged, and the hops of the farthest
    /// one (`None` if no holder answered).
    pub fn finish(self) -> (Vec<Vec<u8>>, u32, Option<u32>) {
        let hops = (self.holders > 0).then_some(self.hops);
        (self.values, self.holders, hops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_union_keeps_first_seen_order_each_value_once() {
        let mut r = HolderRead::new(3);
        r.add(v(&["b", "a"]), 2);
        assert!(!r.is_complete());
        r.add(Vec::new(), 9); // not a holder
        r.add(v(&["a", "c"]), 3);
        r.add(v(&["b"]), 1);
        assert!(r.is_complete());
        assert_eq!(r.finish(), (v(&["b", "a", "c"]), 3, Some(3)));
    }

    #[test]
    fn nothing_found_has_no_holder_and_no_hops() {
        let mut r = HolderRead::new(0);
        assert!(!r.is_complete(), "at least one holder is wanted");
        r.add(Vec::new(), 4);
        assert_eq!(r.finish(), (Vec::new(), 0, None));
    }
}
