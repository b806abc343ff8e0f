//! The iterative Chord lookup: one request at a time, each answer moving
//! strictly closer to the key's predecessor.
//!
//! The origin keeps every node it has heard of that precedes the key, ordered
//! by tier (fingers first, successor-list entries only as a fallback) and then
//! by clockwise distance to the key. It asks the best one it has not asked
//! that is strictly closer to the key than the last node that answered; the
//! answer either names the key's successor ("done") or offers closer nodes.
//! A node that does not answer is skipped and the next best tried, so the walk
//! backs off along the candidates it learned, never backwards. The hop count
//! is the number of nodes that answered: the path length of Stoica et al.

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
    state: State,
}

/// One iterative lookup's progress.
#[derive(Clone, Debug)]
pub(crate) struct Walk {
    ring: Ring,
    key: NodeId,
    candidates: Vec<Candidate>,
    /// Distance to the key of the last node that answered (None: unbounded,
    /// for a joining node that is not on the ring yet).
    progress: Option<NodeId>,
    asking: Option<NodeId>,
    last_answered: Option<Contact>,
    hops: u32,
}

impl Walk {
    /// A walk towards the position `key`, starting from a node at distance
    /// `progress` from it, with the local candidates `seed`.
    pub fn new(
        ring: Ring,
        key: NodeId,
        progress: Option<NodeId>,
        seed: &[(Contact, Tier)],
    ) -> Self {
        let mut w = Walk {
            ring,
            key,
            candidates: Vec::new(),
            progress,
            asking: None,
            last_answered: None,
            hops: 0,
        };
        for (c, tier) in seed {
            w.learn(&[*c], *tier);
        }
        w
    }

    /// Overlay hops so far: nodes that answered.
    pub fn hops(&self) -> u32 {
        self.hops
    }

    fn allowed(&self, dist: &NodeId) -> bool {
        *dist != NodeId::ZERO && self.progress.is_none_or(|p| *dist < p)
    }

    /// Adds candidates; those not strictly between the last answer and the
    /// key can never be asked and are dropped.
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
                    state: State::Fresh,
                }),
            }
        }
    }

    /// The next node to ask, if none is being asked and one is left.
    pub fn next(&mut self) -> Option<Contact> {
        if self.asking.is_some() {
            return None;
        }
        let progress = self.progress;
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
        self.asking = Some(best.contact.id);
        Some(best.contact)
    }

    /// The node that answered last.
    pub fn last_answered(&self) -> Option<Contact> {
        self.last_answered
    }

    /// Whether a request is outstanding.
    pub fn is_waiting(&self) -> bool {
        self.asking.is_some()
    }

    /// `id` answered; false if it was not the node being asked.
    pub fn answered(&mut self, id: &NodeId) -> bool {
        if self.asking != Some(*id) {
            return false;
        }
        self.asking = None;
        if let Some(c) = self.candidates.iter_mut().find(|c| c.contact.id == *id) {
            c.state = State::Answered;
            self.progress = Some(c.dist);
            self.last_answered = Some(c.contact);
        }
        self.hops += 1;
        true
    }

    /// `id` did not answer.
    pub fn failed(&mut self, id: &NodeId) {
        if self.asking == Some(*id) {
            self.asking = None;
        }
        if let Some(c) = self.candidates.iter_mut().find(|c| c.contact.id == *id) {
            c.state = State::Failed;
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
        );
        assert_eq!(w.next(), Some(c(90)));
        assert_eq!(w.next(), None, "one at a time");
        w.failed(&c(90).id);
        assert_eq!(w.next(), Some(c(60)), "backs off to the next finger");
        assert!(w.answered(&c(60).id));
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
        );
        assert_eq!(w.next(), Some(c(200)));
        assert!(!w.answered(&c(1).id), "not the node asked");
        assert!(w.answered(&c(200).id));
        assert_eq!(w.next(), None);
    }
}
