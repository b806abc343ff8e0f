//! Recursive routing pieces shared by every DHT.
//!
//! In recursive mode a request ([`Body::Route`]) travels hop by hop: each
//! node that receives it acknowledges it ([`Body::RouteAck`]) and either
//! forwards it to its next hop or, when it can answer, sends the result
//! ([`Body::RouteResult`]) straight to the origin. Forwarding is reliable hop
//! by hop: a next hop that does not acknowledge within the RPC timeout (and
//! its retransmissions) is treated as failed, and the forwarder tries its
//! next-best hop; a forwarder with no hop left reports an empty result. The
//! origin waits at most its recursive timeout and then finds the result
//! iteratively instead ([`crate::protocol::RequestStats::fell_back`]).
//!
//! **Loops.** Correct nodes only forward to a node strictly closer to the key,
//! so loops need inconsistent routing state (mismatched configurations,
//! faulty or hostile peers). The request carries a 32-bit fingerprint of each
//! node it visited, origin first; a node that finds its own fingerprint there
//! has been visited before, and a node whose hop number exceeds the hop limit
//! is on a path too long to be sane. Either way it stops the request and
//! reports `loop_detected` to the origin, which then falls back to iterative
//! routing. Fingerprints cost 4 bytes per hop instead of 20; two random ids
//! share one with probability 2⁻³², and a collision only causes a spurious
//! fallback.

use crate::id::{ID_BYTES, NodeId};
use crate::wire::{Body, Contact, MAX_PATH};
use std::collections::VecDeque;

/// A node's fingerprint in a recursive request's path: the XOR of the five
/// 32-bit words of its id.
pub fn fingerprint(id: &NodeId) -> u32 {
    let mut fp = 0u32;
    for w in id.0.chunks_exact(4).take(ID_BYTES / 4) {
        fp ^= u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
    }
    fp
}

/// What a node should do with a recursive request it received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathCheck {
    /// Handle it: answer or forward.
    Continue,
    /// The node has handled this request before: the route loops.
    Loop,
    /// The request has travelled more than the hop limit.
    HopLimit,
}

/// Checks a received request's `path` (fingerprints of the nodes before this
/// one, origin first) against the node's own id and the hop limit. The
/// receiver's hop number is `path.len()`.
pub fn check_path(path: &[u32], own: &NodeId, max_hops: u8) -> PathCheck {
    let me = fingerprint(own);
    if path.contains(&me) {
        PathCheck::Loop
    } else if path.len() > max_hops as usize {
        PathCheck::HopLimit
    } else {
        PathCheck::Continue
    }
}

/// A request this node is forwarding (or, at the origin, sending).
#[derive(Clone, Debug)]
pub(crate) struct Forwarding {
    /// The origin's identifier for the request.
    pub route_id: u64,
    /// Where the result goes.
    pub origin: Contact,
    /// The key routed to.
    pub key: NodeId,
    /// Request messages sent so far, this node's included.
    pub sent: u16,
    /// The path including this node.
    pub path: Vec<u32>,
    /// Next hops already tried.
    pub tried: Vec<NodeId>,
}

impl Forwarding {
    /// The state for forwarding a request received with `path`: this node's
    /// fingerprint is appended.
    pub fn new(
        route_id: u64,
        origin: Contact,
        key: NodeId,
        sent: u16,
        path: &[u32],
        own: &NodeId,
    ) -> Self {
        let mut path = path.to_vec();
        path.truncate(MAX_PATH - 1);
        path.push(fingerprint(own));
        Forwarding {
            route_id,
            origin,
            key,
            sent,
            path,
            tried: Vec::new(),
        }
    }

    /// Records one more transmission and returns the body to send.
    pub fn next_body(&mut self) -> Body {
        self.sent = self.sent.saturating_add(1);
        Body::Route {
            route_id: self.route_id,
            origin: self.origin,
            key: self.key,
            sent: self.sent,
            path: self.path.clone(),
        }
    }
}

/// Counts one more transmission in a `Route` body (for retransmissions).
pub(crate) fn count_resend(body: &mut Body) {
    if let Body::Route { sent, .. } = body {
        *sent = sent.saturating_add(1);
    }
}

/// Recently handled requests, so a retransmitted `Route` (its
/// acknowledgement was lost) is acknowledged again but not forwarded twice.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentRoutes {
    seen: VecDeque<(NodeId, u64)>,
}

impl RecentRoutes {
    /// Requests remembered.
    const CAPACITY: usize = 64;

    /// Records `(origin, route_id)`; false if it was already recorded.
    pub fn first_time(&mut self, origin: NodeId, route_id: u64) -> bool {
        if self.seen.contains(&(origin, route_id)) {
            return false;
        }
        if self.seen.len() == Self::CAPACITY {
            self.seen.pop_front();
        }
        self.seen.push_back((origin, route_id));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(first: u8, last: u8) -> NodeId {
        let mut b = [0u8; 20];
        b[0] = first;
        b[19] = last;
        NodeId(b)
    }

    #[test]
    fn fingerprints_fold_every_word_of_the_id() {
        assert_eq!(fingerprint(&NodeId::ZERO), 0);
        assert_eq!(fingerprint(&id(0x80, 0)), 0x8000_0000);
        assert_eq!(fingerprint(&id(0, 7)), 7);
        assert_eq!(fingerprint(&id(0x80, 7)), 0x8000_0007);
        let mut b = [0u8; 20];
        b[8] = 1; // third word
        assert_eq!(fingerprint(&NodeId(b)), 0x0100_0000);
    }

    #[test]
    fn a_revisited_node_or_an_overlong_path_stops_the_request() {
        let a = id(1, 1);
        let b = id(2, 2);
        let path = vec![fingerprint(&a), fingerprint(&b)];
        assert_eq!(check_path(&path, &id(3, 3), 5), PathCheck::Continue);
        assert_eq!(check_path(&path, &a, 5), PathCheck::Loop);
        assert_eq!(check_path(&path, &b, 5), PathCheck::Loop);
        // The receiver is hop 2: allowed with a limit of 2, not with 1.
        assert_eq!(check_path(&path, &id(3, 3), 2), PathCheck::Continue);
        assert_eq!(check_path(&path, &id(3, 3), 1), PathCheck::HopLimit);
    }

    #[test]
    fn forwarding_appends_itself_and_counts_transmissions() {
        let origin = Contact {
            id: id(1, 1),
            addr: crate::addr::Addr::new([1, 0, 0, 1], 1),
        };
        let mut f = Forwarding::new(9, origin, id(5, 5), 2, &[7], &id(4, 4));
        assert_eq!(f.path, vec![7, fingerprint(&id(4, 4))]);
        let mut body = f.next_body();
        assert!(matches!(&body, Body::Route { sent: 3, path, .. } if path.len() == 2));
        count_resend(&mut body);
        assert!(matches!(body, Body::Route { sent: 4, .. }));
    }

    #[test]
    fn duplicates_are_recognised_within_the_window() {
        let mut r = RecentRoutes::default();
        assert!(r.first_time(id(1, 1), 5));
        assert!(!r.first_time(id(1, 1), 5));
        assert!(r.first_time(id(1, 1), 6));
        for i in 0..RecentRoutes::CAPACITY as u64 {
            r.first_time(id(2, 2), i);
        }
        assert!(r.first_time(id(1, 1), 5), "forgotten after the window");
    }
}
