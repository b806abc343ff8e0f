//! The finger table, stored by runs.
//!
//! Finger `i` is the successor of `n + 2^i`. In an N-node ring of width m,
//! the lowest m − log2(N) or so fingers all equal the immediate successor and
//! consecutive higher ones often coincide, so the table keeps one entry per
//! run: `(i, c)` means finger `i` is `c`, and so are the fingers above `i` up
//! to the next entry. Fingers below the first entry are the immediate
//! successor. That is about log2(N) entries instead of m.

use crate::id::NodeId;
use crate::wire::Contact;

/// The finger table.
#[derive(Clone, Debug, Default)]
pub(crate) struct FingerTable {
    /// `(lowest index of the run, contact)`, by index.
    runs: Vec<(u8, Contact)>,
}

impl FingerTable {
    /// Sets finger `i` to `c`, starting a run at `i`.
    pub fn set(&mut self, i: u8, c: Contact) {
        match self.runs.binary_search_by_key(&i, |r| r.0) {
            Ok(pos) => self.runs[pos].1 = c,
            Err(pos) => self.runs.insert(pos, (i, c)),
        }
    }

    /// Removes the runs starting at indices in `lo..hi`.
    pub fn clear_range(&mut self, lo: u16, hi: u16) {
        self.runs
            .retain(|(i, _)| (*i as u16) < lo || (*i as u16) >= hi);
    }

    /// Removes every finger pointing at `id`; true if there was one.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        let before = self.runs.len();
        self.runs.retain(|(_, c)| c.id != *id);
        self.runs.len() != before
    }

    /// The runs, by index.
    pub fn runs(&self) -> &[(u8, Contact)] {
        &self.runs
    }

    /// The distinct contacts, by index of their first run.
    pub fn contacts(&self) -> impl Iterator<Item = Contact> + '_ {
        self.runs.iter().map(|(_, c)| *c)
    }

    /// Forgets every finger.
    pub fn clear(&mut self) {
        self.runs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Addr;

    fn c(x: u8) -> Contact {
        Contact {
            id: NodeId([x; 20]),
            addr: Addr::new([10, 0, 0, x], 1),
        }
    }

    #[test]
    fn runs_are_set_cleared_and_removed_by_contact() {
        let mut f = FingerTable::default();
        f.set(150, c(1));
        f.set(155, c(2));
        f.set(152, c(3));
        assert_eq!(f.runs(), &[(150, c(1)), (152, c(3)), (155, c(2))]);
        f.set(152, c(4));
        assert_eq!(f.runs()[1], (152, c(4)));
        f.clear_range(151, 155);
        assert_eq!(f.runs(), &[(150, c(1)), (155, c(2))]);
        f.set(159, c(1));
        assert!(f.remove(&c(1).id));
        assert_eq!(f.contacts().collect::<Vec<_>>(), vec![c(2)]);
        assert!(!f.remove(&c(1).id));
    }
}
