//! The iterative lookup: α requests in flight, converging on the k closest.
//!
//! The shortlist holds every contact learned so far, sorted by distance to the
//! target. The lookup keeps up to α requests in flight to the closest contacts
//! not yet asked, and finishes when the k closest contacts that have not
//! failed have all answered (a get stops earlier, once `read_holders` of
//! them returned values; see [`crate::holder_read`]).
//!
//! A contact that does not answer within one timeout is *stalled*: as the
//! Kademlia paper puts it, it is "removed from consideration until and unless
//! it responds". It no longer holds one of the α slots nor blocks the end of
//! the lookup, but a late answer (to the retransmission) still counts.
//! Each contact carries its depth: 1 for contacts from the local table, d + 1
//! for contacts learned from a depth-d reply. The depth of the node that
//! supplied the result is the lookup's hop count.

use crate::id::NodeId;
use crate::wire::Contact;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    InFlight,
    Stalled,
    Answered,
    Failed,
}

/// Whether a candidate counts among the k closest: it has neither failed
/// nor stalled.
fn considered(c: &Candidate) -> bool {
    !matches!(c.state, State::Failed | State::Stalled)
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    contact: Contact,
    distance: NodeId,
    depth: u8,
    state: State,
}

/// The shortlist of one lookup.
#[derive(Clone, Debug)]
pub(crate) struct Shortlist {
    target: NodeId,
    k: usize,
    alpha: usize,
    candidates: Vec<Candidate>,
    in_flight: usize,
}

impl Shortlist {
    /// A shortlist seeded with contacts from the local table (depth 1).
    pub fn new(target: NodeId, k: usize, alpha: usize, seed: &[Contact]) -> Self {
        let mut s = Shortlist {
            target,
            k,
            alpha,
            candidates: Vec::with_capacity(2 * k),
            in_flight: 0,
        };
        s.learn(seed, 1);
        s
    }

    pub fn target(&self) -> NodeId {
        self.target
    }

    /// Adds contacts learned from a reply at `depth`, keeping the list sorted
    /// and bounded (contacts far beyond the k closest can never be asked).
    pub fn learn(&mut self, contacts: &[Contact], depth: u8) {
        for c in contacts {
            let distance = c.id.distance(&self.target);
            match self
                .candidates
                .binary_search_by(|x| x.distance.cmp(&distance))
            {
                Ok(_) => {} // already known
                Err(pos) => self.candidates.insert(
                    pos,
                    Candidate {
                        contact: *c,
                        distance,
                        depth,
                        state: State::Fresh,
                    },
                ),
            }
        }
        self.trim();
    }

    fn trim(&mut self) {
        // Keep everything up to the (3k)-th live candidate; drop only Fresh tails.
        let cap = 3 * self.k;
        if self.candidates.len() <= cap {
            return;
        }
        let mut live = 0;
        let mut cut = self.candidates.len();
        for (i, c) in self.candidates.iter().enumerate() {
            if considered(c) {
                live += 1;
                if live == cap {
                    cut = i + 1;
                    break;
                }
            }
        }
        let mut i = cut;
        while i < self.candidates.len() {
            if self.candidates[i].state == State::Fresh {
                self.candidates.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// The next contact to ask, if a slot is free and one of the k closest live
    /// contacts has not been asked yet. Marks it in flight and returns its depth.
    pub fn next_query(&mut self) -> Option<(Contact, u8)> {
        if self.in_flight >= self.alpha {
            return None;
        }
        let k = self.k;
        let c = self
            .candidates
            .iter_mut()
            .filter(|c| considered(c))
            .take(k)
            .find(|c| c.state == State::Fresh)?;
        c.state = State::InFlight;
        self.in_flight += 1;
        Some((c.contact, c.depth))
    }

    /// Moves an asked contact (in flight or stalled) to `to`.
    fn set(&mut self, id: &NodeId, to: State) -> bool {
        let distance = id.distance(&self.target);
        let Ok(pos) = self
            .candidates
            .binary_search_by(|x| x.distance.cmp(&distance))
        else {
            return false;
        };
        let c = &mut self.candidates[pos];
        match c.state {
            State::InFlight => self.in_flight -= 1,
            State::Stalled => {}
            _ => return false,
        }
        c.state = to;
        true
    }

    /// `id` has not answered within one timeout; it may still answer later.
    pub fn stalled(&mut self, id: &NodeId) {
        let distance = id.distance(&self.target);
        if let Ok(pos) = self
            .candidates
            .binary_search_by(|x| x.distance.cmp(&distance))
            && self.candidates[pos].state == State::InFlight
        {
            self.candidates[pos].state = State::Stalled;
            self.in_flight -= 1;
        }
    }

    /// `id` answered. Returns its depth if it was in flight.
    pub fn answered(&mut self, id: &NodeId) -> Option<u8> {
        let depth = self.depth_of(id);
        self.set(id, State::Answered).then_some(depth).flatten()
    }

    /// `id` did not answer.
    pub fn failed(&mut self, id: &NodeId) {
        self.set(id, State::Failed);
    }

    fn depth_of(&self, id: &NodeId) -> Option<u8> {
        let distance = id.distance(&self.target);
        self.candidates
            .binary_search_by(|x| x.distance.cmp(&distance))
            .ok()
            .map(|p| self.candidates[p].depth)
    }

    /// Whether the lookup is finished: nothing in flight, the k closest
    /// contacts still considered have all been asked, and no stalled contact
    /// could still enter the result (none is closer than the k-th answer).
    pub fn is_done(&self) -> bool {
        if self.in_flight > 0
            || self
                .candidates
                .iter()
                .filter(|c| considered(c))
                .take(self.k)
                .any(|c| c.state == State::Fresh)
        {
            return false;
        }
        let kth = self
            .candidates
            .iter()
            .filter(|c| c.state == State::Answered)
            .nth(self.k - 1)
            .map(|c| c.distance);
        !self
            .candidates
            .iter()
            .any(|c| c.state == State::Stalled && kth.is_none_or(|d| c.distance < d))
    }

    /// The k closest contacts that answered, closest first, and the depth of the closest.
    pub fn result(&self) -> (Vec<Contact>, u8) {
        let answered = self
            .candidates
            .iter()
            .filter(|c| c.state == State::Answered);
        let depth = answered.clone().next().map_or(0, |c| c.depth);
        (answered.take(self.k).map(|c| c.contact).collect(), depth)
    }

    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight
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
            addr: Addr::from_u32(x as u32, 1),
        }
    }

    #[test]
    fn asks_alpha_at_a_time_closest_first_and_stops_at_k() {
        let target = NodeId::ZERO;
        let mut s = Shortlist::new(target, 2, 2, &[c(8), c(1), c(4)]);
        assert_eq!(s.next_query().map(|q| q.0), Some(c(1)));
        assert_eq!(s.next_query().map(|q| q.0), Some(c(4)));
        assert_eq!(s.next_query(), None, "alpha = 2 in flight");
        // c(1) answers with a closer contact at depth 2.
        assert_eq!(s.answered(&c(1).id), Some(1));
        s.learn(&[c(2)], 2);
        assert_eq!(s.next_query(), Some((c(2), 2)));
        s.failed(&c(4).id);
        assert!(!s.is_done());
        s.answered(&c(2).id);
        // k = 2 closest live: c(1), c(2); both answered. c(8) is never asked.
        assert!(s.is_done());
        assert_eq!(s.result(), (vec![c(1), c(2)], 1));
    }

    #[test]
    fn failures_pull_farther_contacts_into_the_k_closest() {
        let mut s = Shortlist::new(NodeId::ZERO, 1, 1, &[c(1), c(2)]);
        assert_eq!(s.next_query().map(|q| q.0), Some(c(1)));
        s.failed(&c(1).id);
        assert!(!s.is_done());
        assert_eq!(s.next_query().map(|q| q.0), Some(c(2)));
        s.answered(&c(2).id);
        assert!(s.is_done());
        assert_eq!(s.result().0, vec![c(2)]);
    }

    #[test]
    fn a_stalled_contact_frees_its_slot_and_may_still_answer() {
        let mut s = Shortlist::new(NodeId::ZERO, 2, 1, &[c(1), c(2), c(3)]);
        assert_eq!(s.next_query().map(|q| q.0), Some(c(1)));
        assert_eq!(s.next_query(), None, "alpha = 1");
        s.stalled(&c(1).id);
        // Its slot is free and the window of k = 2 reaches c(3).
        assert_eq!(s.next_query().map(|q| q.0), Some(c(2)));
        s.answered(&c(2).id);
        assert_eq!(s.next_query().map(|q| q.0), Some(c(3)));
        s.answered(&c(3).id);
        // c(1) is closer than the k-th answer, so the lookup waits for it.
        assert!(!s.is_done());
        // A late answer from the stalled contact still counts.
        assert_eq!(s.answered(&c(1).id), Some(1));
        assert!(s.is_done());
        assert_eq!(s.result().0, vec![c(1), c(2)]);
    }

    #[test]
    fn a_stalled_contact_that_fails_releases_the_lookup() {
        let mut s = Shortlist::new(NodeId::ZERO, 1, 1, &[c(1), c(2)]);
        s.next_query();
        s.stalled(&c(1).id);
        assert_eq!(s.next_query().map(|q| q.0), Some(c(2)));
        s.answered(&c(2).id);
        assert!(!s.is_done(), "stalled c(1) is closer than the only answer");
        s.failed(&c(1).id);
        assert!(s.is_done());
        assert_eq!(s.result().0, vec![c(2)]);
    }

    #[test]
    fn late_or_unknown_answers_are_ignored() {
        let mut s = Shortlist::new(NodeId::ZERO, 3, 3, &[c(1)]);
        assert_eq!(s.answered(&c(1).id), None, "not asked yet");
        assert_eq!(s.answered(&c(9).id), None, "never known");
        s.next_query();
        s.failed(&c(1).id);
        assert_eq!(s.answered(&c(1).id), None, "answered after its timeout");
        assert_eq!(s.in_flight(), 0);
    }
}
