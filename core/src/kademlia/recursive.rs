//! Recursive Kademlia lookups.
//!
//! The origin hands the request to its closest contact to the target. Each
//! hop acknowledges it and forwards it to its own closest contact, provided
//! that contact is strictly closer to the target by XOR distance than the hop
//! itself (so a path can never revisit a node of a consistent overlay); the
//! origin is never chosen, since, as in an iterative lookup, the result is
//! about the other nodes. A hop that knows no closer contact, or whose closer
//! contacts all failed to acknowledge, is the last: it sends its k closest
//! (itself included, the origin left out) straight to the origin. Loops and
//! the hop limit are handled as in [`crate::recursive`]; if the result does
//! not arrive within `recursive_timeout`, or reports a loop or a dead end,
//! the origin runs an ordinary iterative lookup instead
//! ([`RequestStats::fell_back`](crate::protocol::RequestStats::fell_back)).
//! The hop count is the last hop's position on the path.

use super::lookup::Shortlist;
use super::{Kademlia, LookupState, Purpose, RpcFor};
use crate::id::NodeId;
use crate::protocol::{RequestId, RequestStats, TrafficClass};
use crate::recursive::{Forwarding, PathCheck, check_path};
use crate::time::Instant;
use crate::wire::{Body, Contact, Message};

impl Kademlia {
    /// Starts a recursive lookup of `target`.
    pub(super) fn start_recursive(&mut self, now: Instant, target: NodeId, id: RequestId) {
        self.table.touch(&target, now);
        let list = Shortlist::new(target, self.cfg.k, self.cfg.alpha, &[]);
        let stats = RequestStats {
            started: now,
            finished: now,
            ..RequestStats::default()
        };
        let route_id = self.fresh_txid();
        self.lookups.insert(
            id,
            LookupState {
                purpose: Purpose::Lookup,
                list,
                stats,
                read: None,
                route: Some(route_id),
            },
        );
        self.routes.insert(route_id, id);
        self.route_timers
            .schedule(now + self.cfg.recursive_timeout, route_id);
        let me = Contact {
            id: self.id,
            addr: self.addr,
        };
        let fw = Forwarding::new(route_id, me, target, 0, &[], &self.id);
        let f = self.next_forward;
        self.next_forward += 1;
        self.forwards.insert(f, fw);
        self.forward(now, f);
    }

    /// The next hop for forwarding state `f`: the closest contact not tried
    /// yet that is not the origin and, past the origin, is closer to the key
    /// than this node.
    fn next_hop(&self, f: &Forwarding) -> Option<Contact> {
        let at_origin = f.origin.id == self.id;
        let own = self.id.distance(&f.key);
        self.table
            .closest(&f.key, self.cfg.k + f.tried.len(), Some(&f.origin.id))
            .into_iter()
            .filter(|c| !f.tried.contains(&c.id))
            .find(|c| at_origin || c.id.distance(&f.key) < own)
    }

    /// This node's answer as the last hop: its k closest to the key, itself
    /// included, and the origin and the hops that just failed left out. Every
    /// contact closer than this node has failed, so it heads the list.
    fn last_hop_result(&self, key: &NodeId, origin: &NodeId, failed: &[NodeId]) -> Vec<Contact> {
        let mut out: Vec<Contact> = self
            .table
            .closest(key, self.cfg.k + failed.len(), Some(origin))
            .into_iter()
            .filter(|c| !failed.contains(&c.id))
            .collect();
        if self.id != *origin {
            out.push(Contact {
                id: self.id,
                addr: self.addr,
            });
        }
        out.sort_by_key(|c| c.id.distance(key));
        out.truncate(self.cfg.k);
        out
    }

    /// Sends forwarding state `f` on to its next hop, or answers as the last hop.
    pub(super) fn forward(&mut self, now: Instant, f: u64) {
        let Some(fw) = self.forwards.get(&f) else {
            return;
        };
        match self.next_hop(fw) {
            Some(c) => {
                let Some(fw) = self.forwards.get_mut(&f) else {
                    return;
                };
                fw.tried.push(c.id);
                let body = fw.next_body();
                if fw.origin.id == self.id
                    && let Some(id) = self.routes.get(&fw.route_id)
                    && let Some(l) = self.lookups.get_mut(id)
                {
                    l.stats.messages += 1;
                }
                self.request(now, c.addr, Some(c.id), body, RpcFor::Forward(f));
            }
            None => {
                let Some(fw) = self.forwards.remove(&f) else {
                    return;
                };
                // At the origin, no contact left: a dead end. Elsewhere this
                // node is the closest reachable one.
                let contacts = if fw.origin.id == self.id {
                    Vec::new()
                } else {
                    self.last_hop_result(&fw.key, &fw.origin.id, &fw.tried)
                };
                let hops = fw.path.len().saturating_sub(1).min(255) as u8;
                self.deliver_result(now, fw.origin, fw.route_id, hops, fw.sent, false, contacts);
            }
        }
    }

    /// A recursive request arrived (already acknowledged).
    pub(super) fn on_route(
        &mut self,
        now: Instant,
        route_id: u64,
        origin: Contact,
        key: NodeId,
        sent: u16,
        path: &[u32],
    ) {
        let hops = path.len().min(255) as u8;
        if check_path(path, &self.id, self.cfg.max_hops) != PathCheck::Continue {
            self.loops_detected += 1;
            return self.deliver_result(now, origin, route_id, hops, sent, true, Vec::new());
        }
        if !self.recent.first_time(origin.id, route_id) {
            return; // a retransmission: acknowledged again, not forwarded twice
        }
        let fw = Forwarding::new(route_id, origin, key, sent, path, &self.id);
        let f = self.next_forward;
        self.next_forward += 1;
        self.forwards.insert(f, fw);
        self.forward(now, f);
    }

    /// Sends a result to the origin (or takes it, if that is us).
    #[allow(clippy::too_many_arguments)]
    fn deliver_result(
        &mut self,
        now: Instant,
        origin: Contact,
        route_id: u64,
        hops: u8,
        sent: u16,
        loop_detected: bool,
        contacts: Vec<Contact>,
    ) {
        if origin.id == self.id {
            return self.on_route_result(now, route_id, hops, sent, loop_detected, contacts);
        }
        let body = Body::RouteResult {
            hops,
            sent,
            loop_detected,
            contacts,
        };
        // Unsolicited: counted here. Only user lookups are routed recursively.
        let msg = Message::new(route_id, self.id, body);
        self.rpcs.count_sent(TrafficClass::Lookup, &msg);
        self.send(origin.addr, msg);
    }

    /// The result of a recursive lookup this node originated.
    pub(super) fn on_route_result(
        &mut self,
        now: Instant,
        route_id: u64,
        hops: u8,
        sent: u16,
        loop_detected: bool,
        contacts: Vec<Contact>,
    ) {
        let Some(id) = self.routes.remove(&route_id) else {
            return;
        };
        let Some(l) = self.lookups.get_mut(&id) else {
            return;
        };
        l.route = None;
        l.stats.messages = l.stats.messages.max(sent as u32);
        l.stats.loop_detected |= loop_detected;
        if loop_detected || contacts.is_empty() {
            return self.fall_back(now, id);
        }
        let Some(mut l) = self.lookups.remove(&id) else {
            return;
        };
        l.stats.finished = now;
        l.stats.hops = hops as u32;
        let own = self.id;
        let closest: Vec<Contact> = contacts
            .into_iter()
            .filter(|c| c.id != own)
            .take(self.cfg.k)
            .collect();
        self.events.push(crate::protocol::Event::LookupDone {
            id,
            target: l.list.target(),
            closest,
            stats: l.stats,
        });
    }

    /// The origin gave up waiting for a recursive result.
    pub(super) fn on_route_timeout(&mut self, now: Instant, route_id: u64) {
        let Some(id) = self.routes.remove(&route_id) else {
            return;
        };
        if let Some(l) = self.lookups.get_mut(&id) {
            l.route = None;
            l.stats.timeouts += 1;
        }
        self.fall_back(now, id);
    }

    /// Finds the result of a failed recursive lookup iteratively.
    fn fall_back(&mut self, now: Instant, id: RequestId) {
        let Some(l) = self.lookups.get(&id) else {
            return;
        };
        let target = l.list.target();
        let seed = self.table.closest(&target, self.cfg.k, None);
        let list = Shortlist::new(target, self.cfg.k, self.cfg.alpha, &seed);
        if let Some(l) = self.lookups.get_mut(&id) {
            l.list = list;
            l.route = None;
            l.stats.fell_back = true;
        }
        self.drive(now, id);
    }
}
