//! Routing: next hops, iterative lookups and recursive forwarding.

use super::lookup::{Tier, Walk};
use super::ring::{clockwise, in_open};
use super::{Chord, LookupState, Purpose, RpcFor};
use crate::id::NodeId;
use crate::protocol::{Event, RequestId, RequestStats, TrafficClass};
use crate::recursive::{Forwarding, PathCheck, check_path};
use crate::time::Instant;
use crate::wire::{Body, Contact};

impl Chord {
    /// The nodes that precede the ring position `key`, best first: fingers
    /// (and the immediate successor, which is finger 0) by clockwise distance
    /// to the key, then the rest of the successor list as a fallback.
    pub(super) fn next_hops(&self, key: &NodeId) -> Vec<(Contact, Tier)> {
        let ring = self.ring;
        let precedes = |c: &Contact| in_open(&ring.position(&c.id), &self.pos, key);
        let by_distance = |c: &Contact| (clockwise(&ring.position(&c.id), key), c.id);
        let mut fingers: Vec<Contact> = self
            .fingers
            .contacts()
            .chain(self.successors.first())
            .filter(precedes)
            .collect();
        fingers.sort_by_key(by_distance);
        fingers.dedup_by_key(|c| c.id);
        let mut fallback: Vec<Contact> = self
            .successors
            .as_slice()
            .iter()
            .copied()
            .filter(|c| precedes(c) && !fingers.iter().any(|f| f.id == c.id))
            .collect();
        fallback.sort_by_key(by_distance);
        fingers
            .into_iter()
            .map(|c| (c, Tier::Finger))
            .chain(fallback.into_iter().map(|c| (c, Tier::Fallback)))
            .collect()
    }

    /// The answer to NEXT_HOP for the ring position `key`.
    pub(super) fn answer_next_hop(&self, key: &NodeId) -> Body {
        match self.local_answer(key) {
            Some(contacts) => Body::NextHopReply {
                done: true,
                contacts,
            },
            None => {
                // Only the best tier is offered, so the origin's next choice
                // is the hop this node would forward to in recursive mode.
                let hops = self.next_hops(key);
                let tier = hops.first().map(|h| h.1);
                Body::NextHopReply {
                    done: false,
                    contacts: hops
                        .into_iter()
                        .filter(|h| Some(h.1) == tier)
                        .take(self.cfg.next_hop_candidates)
                        .map(|(c, _)| c)
                        .collect(),
                }
            }
        }
    }

    fn new_walk(&self, key: NodeId, alpha: usize) -> Walk {
        Walk::new(
            self.ring,
            key,
            Some(clockwise(&self.pos, &key)),
            &self.next_hops(&key),
            alpha,
        )
    }

    fn insert_lookup(
        &mut self,
        now: Instant,
        purpose: Purpose,
        target: NodeId,
        id: RequestId,
        alpha: usize,
    ) {
        let walk = self.new_walk(self.ring.position(&target), alpha);
        let stats = RequestStats {
            started: now,
            finished: now,
            ..RequestStats::default()
        };
        let class = purpose.class(self.fix_class);
        self.lookups.insert(
            id,
            LookupState {
                purpose,
                class,
                target,
                walk,
                stats,
                route: None,
            },
        );
    }

    /// Starts an iterative lookup of `target` on behalf of `purpose`, one
    /// request at a time.
    pub(super) fn start_lookup(
        &mut self,
        now: Instant,
        purpose: Purpose,
        target: NodeId,
        id: RequestId,
    ) {
        self.start_lookup_with(now, purpose, target, id, 1);
    }

    /// Starts an iterative lookup of `target` on behalf of `purpose`, with
    /// up to `alpha` requests in flight.
    pub(super) fn start_lookup_with(
        &mut self,
        now: Instant,
        purpose: Purpose,
        target: NodeId,
        id: RequestId,
        alpha: usize,
    ) {
        self.insert_lookup(now, purpose, target, id, alpha);
        if let Some(list) = self.local_answer(&self.ring.position(&target)) {
            return self.finish_lookup(now, id, list, 0);
        }
        self.drive(now, id);
    }

    /// Asks the next nodes of an iterative lookup (up to its α in flight),
    /// or ends it when none is left and no answer is awaited.
    pub(super) fn drive(&mut self, now: Instant, id: RequestId) {
        let Some(l) = self.lookups.get_mut(&id) else {
            return;
        };
        if l.route.is_some() {
            return;
        }
        let target = l.target;
        let mut ask = Vec::new();
        while let Some(c) = l.walk.next() {
            ask.push(c);
        }
        if ask.is_empty() && !l.walk.is_waiting() {
            let hops = l.walk.hops();
            return self.finish_lookup(now, id, Vec::new(), hops);
        }
        for c in ask {
            self.request(now, c, Body::NextHop { key: target }, RpcFor::Step(id));
        }
    }

    /// A NEXT_HOP answer for lookup `id` from `from`.
    pub(super) fn on_step(
        &mut self,
        now: Instant,
        id: RequestId,
        from: &NodeId,
        done: bool,
        contacts: Vec<Contact>,
    ) {
        let own = self.id;
        let Some(l) = self.lookups.get_mut(&id) else {
            return;
        };
        let Some(depth) = l.walk.answered(from) else {
            return;
        };
        if done && !contacts.is_empty() {
            return self.finish_lookup(now, id, contacts, depth as u32);
        }
        let learned: Vec<Contact> = contacts.into_iter().filter(|c| c.id != own).collect();
        l.walk.learn(&learned, Tier::Finger);
        self.drive(now, id);
    }

    /// Ends a lookup with its result (empty: it failed).
    pub(super) fn finish_lookup(
        &mut self,
        now: Instant,
        id: RequestId,
        closest: Vec<Contact>,
        hops: u32,
    ) {
        let Some(mut l) = self.lookups.remove(&id) else {
            return;
        };
        if let Some(r) = l.route {
            self.routes.remove(&r);
        }
        l.stats.finished = now;
        l.stats.hops = hops;
        match l.purpose {
            Purpose::Lookup => self.events.push(Event::LookupDone {
                id,
                target: l.target,
                closest,
                stats: l.stats,
            }),
            Purpose::Get => self.start_fetch(now, id, l.target, closest, hops, l.stats),
            Purpose::Store {
                value,
                ttl_secs,
                report,
            } => self.store_batch(
                now, id, l.target, &closest, value, ttl_secs, report, l.stats,
            ),
            Purpose::Join => {
                let answered_by = l.walk.last_answered();
                self.finish_join(now, id, closest, answered_by)
            }
            Purpose::Finger(i) => self.on_finger_found(now, i, &closest),
        }
    }

    // ---- recursive routing -------------------------------------------------

    /// Starts a recursive lookup of `target`.
    pub(super) fn start_recursive(&mut self, now: Instant, target: NodeId, id: RequestId) {
        self.insert_lookup(now, Purpose::Lookup, target, id, 1);
        if let Some(list) = self.local_answer(&self.ring.position(&target)) {
            return self.finish_lookup(now, id, list, 0);
        }
        let route_id = self.rpcs.fresh_txid();
        if let Some(l) = self.lookups.get_mut(&id) {
            l.route = Some(route_id);
        }
        self.routes.insert(route_id, id);
        self.route_timers
            .schedule(now + self.cfg.recursive_timeout, route_id);
        let fw = Forwarding::new(route_id, self.me(), target, 0, &[], &self.id);
        let f = self.next_forward;
        self.next_forward += 1;
        self.forwards.insert(f, fw);
        self.forward(now, f);
    }

    /// Sends forwarding state `f` to its best next hop not tried yet; with
    /// none left, reports a dead end to the origin.
    pub(super) fn forward(&mut self, now: Instant, f: u64) {
        let Some(fw) = self.forwards.get(&f) else {
            return;
        };
        let key = self.ring.position(&fw.key);
        let next = self
            .next_hops(&key)
            .into_iter()
            .map(|(c, _)| c)
            .find(|c| !fw.tried.contains(&c.id));
        match next {
            Some(c) => {
                let Some(fw) = self.forwards.get_mut(&f) else {
                    return;
                };
                fw.tried.push(c.id);
                let body = fw.next_body();
                let (origin, route_id) = (fw.origin.id, fw.route_id);
                self.count_origin_forward(origin, route_id);
                self.request(now, c, body, RpcFor::Forward(f));
            }
            None => {
                let Some(fw) = self.forwards.remove(&f) else {
                    return;
                };
                let hops = fw.path.len().saturating_sub(1).min(255) as u8;
                let result = Body::RouteResult {
                    hops,
                    sent: fw.sent,
                    loop_detected: false,
                    contacts: Vec::new(),
                };
                self.deliver_result(now, fw.origin, fw.route_id, result);
            }
        }
    }

    /// Counts a transmission of the origin's own recursive request.
    pub(super) fn count_origin_forward(&mut self, origin: NodeId, route_id: u64) {
        if origin == self.id
            && let Some(id) = self.routes.get(&route_id)
            && let Some(l) = self.lookups.get_mut(id)
        {
            l.stats.messages += 1;
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
            let result = Body::RouteResult {
                hops,
                sent,
                loop_detected: true,
                contacts: Vec::new(),
            };
            return self.deliver_result(now, origin, route_id, result);
        }
        if !self.recent.first_time(origin.id, route_id) {
            return; // a retransmission: acknowledged again, not forwarded twice
        }
        if let Some(contacts) = self.local_answer(&self.ring.position(&key)) {
            let result = Body::RouteResult {
                hops,
                sent,
                loop_detected: false,
                contacts,
            };
            return self.deliver_result(now, origin, route_id, result);
        }
        let fw = Forwarding::new(route_id, origin, key, sent, path, &self.id);
        let f = self.next_forward;
        self.next_forward += 1;
        self.forwards.insert(f, fw);
        self.forward(now, f);
    }

    /// Sends a recursive result to the origin (or takes it, if that is us).
    /// Only user lookups are routed recursively, so it counts as `Lookup`.
    fn deliver_result(&mut self, now: Instant, origin: Contact, route_id: u64, result: Body) {
        if origin.id != self.id {
            return self.send_counted(origin.addr, route_id, result, TrafficClass::Lookup);
        }
        if let Body::RouteResult {
            hops,
            sent,
            loop_detected,
            contacts,
        } = result
        {
            self.on_route_result(now, route_id, hops, sent, loop_detected, contacts);
        }
    }

    /// The result of a recursive request this node originated.
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
        self.finish_lookup(now, id, contacts, hops as u32);
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

    /// Finds the result of a failed recursive request iteratively.
    fn fall_back(&mut self, now: Instant, id: RequestId) {
        let Some(l) = self.lookups.get(&id) else {
            return;
        };
        let walk = self.new_walk(self.ring.position(&l.target), 1);
        if let Some(l) = self.lookups.get_mut(&id) {
            l.walk = walk;
            l.route = None;
            l.stats.fell_back = true;
        }
        self.drive(now, id);
    }
}
