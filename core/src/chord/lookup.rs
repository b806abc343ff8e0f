//! The iterative Chord lookup: up to α requests in flight (one for plain
//! iterative routing), each answer moving the walk strictly closer to the
//! key's predecessor.
//!
//! The origin keeps every node it has heard of that precedes the key, ordered
//! by tier (fingers first, successor-list entries only as a fallback) and then
//! by clockwise distance to the key. It asks the best ones it has not asked
//! that are strictly closer to the key than the closest node that has
//! answered, up to α at a time; an answer either names the key's successor
//! ("done") or offers closer nodes. A node that does not answer is skipped
//! and the next best tried, so the walk backs off along the candidates it
//! learned, never backwards. With α = 1 this is the walk of Stoica et al.;
//! with α > 1 the next-best fingers are asked at once, so a dead or slow
//! finger costs no extra round trip.
//!
//! A node asked gets a depth: one more than the depth of the closest node
//! that had answered when it was asked (1 if none had). The depth of the
//! node that names the key's successor is the lookup's hop count: the path
//! length of Stoica et al. With α = 1 it is the number of nodes that
//! answered, exactly the path a recursive request takes.

use super::ring::{Ring, clockwise};
use crate::id::NodeId;
use crate::wire::Contact;

/// Preference of a candidate: fingers route; the successor list is a fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tier {
    /// A finger (or a node learned from an answer).
    Finger,
    /// A successor-list entry, used when no finger is left.
    Fallback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    Asked,
    Answered,
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    contact: Contact,
    /// Clockwise distance from the candidate's position to the key.
    dist: NodeId,
    tier: Tier,
    /// Set when the candidate is asked.
    depth: u8,
    state: State,
}

/// One iterative lookup's progress.
#[derive(Clone, Debug)]
pub(crate) struct Walk {
    ring: Ring,
    key: NodeId,
    alpha: usize,
    candidates: Vec<Candidate>,
    /// Distance to the key of the closest node that answered (None:
    /// unbounded, for a joining node that is not on the ring yet).
    progress: Option<NodeId>,
    /// Depth of the closest node that answered (0: none yet).
    progress_depth: u8,
    in_flight: usize,
    last_answered: Option<Contact>,
    /// The largest depth of a node that answered.
    hops: u32,
}

impl Walk {
    /// A walk towards the position `key`, starting from a node at distance
    /// `progress` from it, with the local candidates `seed` (depth 1) and up
    /// to `alpha` (at least 1) requests in flight.
    pub fn new(
        ring: Ring,
        key: NodeId,
        progress: Option<NodeId>,
        seed: &[(Contact, Tier)],
        alpha: usize,
    ) -> Self {
        let mut w = Walk {
            ring,
            key,
            alpha: alpha.max(1),
            candidates: Vec::new(),
            progress,
            progress_depth: 0,
            in_flight: 0,
            last_answered: None,
            hops: 0,
        };
        for (c, tier) in seed {
            w.learn(&[*c], *tier);
        }
        w
    }

    /// The depth of the deepest node that answered so far.
    pub fn hops(&self) -> u32 {
        self.hops
    }

    fn allowed(&self, dist: &NodeId) -> bool {
        *dist != NodeId::ZERO && self.progress.is_none_or(|p| *dist < p)
    }

    /// Adds candidates; those not strictly between the closest answer and
    /// the key can never be asked and are dropped.
    pub fn learn(&mut self, contacts: &[Contact], tier: Tier) {
        for c in contacts {
            let dist = clockwise(&self.ring.position(&c.id), &self.key);
            if !self.allowed(&dist) {
                continue;
            }
            match self.candidates.iter_mut().find(|x| x.contact.id == c.id) {
                Some(x) => x.tier = x.tier.min(tier),
                None => self.candidates.push(Candidate {
                    contact: *c,
                    dist,
                    tier,
                    depth: 0,
                    state: State::Fresh,
                }),
            }
        }
    }

    /// The next node to ask, if fewer than α requests are in flight and one
    /// is left.
    pub fn next(&mut self) -> Option<Contact> {
        if self.in_flight >= self.alpha {
            return None;
        }
        let (progress, depth) = (self.progress, self.progress_depth.saturating_add(1));
        let best = self
            .candidates
            .iter_mut()
            .filter(|c| {
                c.state == State::Fresh
                    && c.dist != NodeId::ZERO
                    && progress.is_none_or(|p| c.dist < p)
            })
            .min_by_key(|c| (c.tier, c.dist))?;
        best.state = State::Asked;
        best.depth = depth;
        self.in_flight += 1;
        Some(best.contact)
    }

    /// The node that answered last.
    pub fn last_answered(&self) -> Option<Contact> {
        self.last_answered
    }

    /// Whether a request is outstanding.
    pub fn is_waiting(&self) -> bool {
        self.in_flight > 0
    }

    /// Requests outstanding.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// `id` answered: its depth, or None if it was not being asked.
    pub fn answered(&mut self, id: &NodeId) -> Option<u8> {
        let c = self
            .candidates
            .iter_mut()
            .find(|c| c.contact.id == *id && c.state == State::Asked)?;
        c.state = State::Answered;
        self.in_flight -= 1;
        if self.progress.is_none_or(|p| c.dist < p) {
            self.progress = Some(c.dist);
            self.progress_depth = c.depth;
        }
        self.last_answered = Some(c.contact);
        self.hops = self.hops.max(c.depth as u32);
        Some(c.depth)
    }

    /// `id` did not answer.
    pub fn failed(&mut self, id: &NodeId) {
        if let Some(c) = self
            .candidates
            .iter_mut()
            .find(|c| c.contact.id == *id && c.state == State::Asked)
        {
            c.state = State::Failed;
            self.in_flight -= 1;
        }
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
    fn asks_the_closest_preceding_finger_then_only_moves_forward() {
        let ring = Ring::new(160);
        let key = c(100).id;
        // From a node at 10: fingers 20, 60, 90 and 110 (past the key), and a
        // successor-list entry at 95 that is only a fallback.
        let mut w = Walk::new(
            ring,
            key,
            Some(clockwise(&c(10).id, &key)),
            &[
                (c(20), Tier::Finger),
                (c(60), Tier::Finger),
                (c(90), Tier::Finger),
                (c(110), Tier::Finger),
                (c(95), Tier::Fallback),
            ],
            1,
        );
        assert_eq!(w.next(), Some(c(90)));
        assert_eq!(w.next(), None, "one at a time");
        w.failed(&c(90).id);
        assert_eq!(w.next(), Some(c(60)), "backs off to the next finger");
        assert_eq!(w.answered(&c(60).id), Some(1));
        assert_eq!(w.hops(), 1);
        // 60 offers 70 and 30 (behind it: dropped).
        w.learn(&[c(70), c(30)], Tier::Finger);
        assert_eq!(w.next(), Some(c(70)));
        w.failed(&c(70).id);
        // No finger left that is closer than 60: the fallback.
        assert_eq!(w.next(), Some(c(95)));
        w.failed(&c(95).id);
        assert_eq!(w.next(), None, "20 is behind the last answer");
        assert!(!w.is_waiting());
    }

    #[test]
    fn an_unbounded_walk_accepts_any_first_node_but_never_the_key_itself() {
        let key = c(50).id;
        let mut w = Walk::new(
            Ring::new(160),
            key,
            None,
            &[(c(50), Tier::Finger), (c(200), Tier::Finger)],
            1,
        );
        assert_eq!(w.next(), Some(c(200)));
        assert_eq!(w.answered(&c(1).id), None, "not the node asked");
        assert_eq!(w.answered(&c(200).id), Some(1));
        assert_eq!(w.next(), None);
    }

    #[test]
    fn alpha_requests_fly_at_once_best_first_and_depth_is_the_hop_count() {
        let ring = Ring::new(160);
        let key = c(100).id;
        let seed = [
            (c(20), Tier::Finger),
            (c(60), Tier::Finger),
            (c(90), Tier::Finger),
            (c(95), Tier::Fallback),
        ];
        let mut w = Walk::new(ring, key, Some(clockwise(&c(10).id, &key)), &seed, 3);
        assert_eq!(w.next(), Some(c(90)));
        assert_eq!(w.next(), Some(c(60)));
        assert_eq!(w.next(), Some(c(20)));
        assert_eq!(w.next(), None, "three in flight");
        assert_eq!(w.in_flight(), 3);
        // The farthest answers first: it frees a slot, and what it offers is
        // asked at depth 2; the fallback is still behind every finger.
        assert_eq!(w.answered(&c(20).id), Some(1));
        w.learn(&[c(40), c(97)], Tier::Finger);
        assert_eq!(w.next(), Some(c(97)));
        assert_eq!(w.next(), None);
        // The best finger answers: progress jumps to it, and 40 (behind it)
        // can no longer be asked; the fallback at 95 can.
        assert_eq!(w.answered(&c(90).id), Some(1));
        w.failed(&c(60).id);
        assert_eq!(w.next(), Some(c(95)));
        assert_eq!(w.next(), None, "40 is behind the closest answer");
        assert_eq!(w.answered(&c(97).id), Some(2));
        assert_eq!(w.hops(), 2);
        w.failed(&c(95).id);
        assert!(!w.is_waiting());
    }
}
