//! Joining, stabilization, notify, fix-fingers, check-predecessor and leaving.

use super::lookup::{Tier, Walk};
use super::ring::{clockwise, in_half_open, in_open};
use super::{Chord, JoinState, LookupState, Phase, Purpose, RpcFor};
use crate::addr::Addr;
use crate::protocol::{Event, RequestId, RequestStats, TrafficClass};
use crate::time::{Duration, Instant};
use crate::wire::{Body, Contact};

impl Chord {
    pub(super) fn stabilize_period(&mut self) -> Duration {
        self.jittered(self.cfg.stabilize_interval)
    }

    pub(super) fn fix_fingers_period(&mut self) -> Duration {
        self.jittered(self.cfg.fix_fingers_interval)
    }

    // ---- join --------------------------------------------------------------

    /// Join through `bootstrap` (none: start a new ring): ping them, then look
    /// up the own id through the first that answers.
    pub(super) fn start_join(&mut self, now: Instant, id: RequestId, bootstrap: Vec<Addr>) {
        if bootstrap.is_empty() {
            self.phase = Phase::Joined;
            self.events.push(Event::Joined { id, neighbours: 0 });
            self.start_maintenance(now);
            return;
        }
        self.phase = Phase::Joining;
        self.join = Some(JoinState {
            pings_outstanding: bootstrap.len() as u32,
            walking: false,
        });
        for addr in bootstrap {
            self.request_addr(now, addr, None, Body::Ping, RpcFor::Join(id));
        }
    }

    pub(super) fn on_bootstrap_pong(&mut self, now: Instant, id: RequestId, bootstrap: Contact) {
        let Some(j) = self.join.as_mut() else {
            return;
        };
        if j.walking {
            return;
        }
        j.walking = true;
        // The joining node is not on the ring: any first hop is progress.
        let walk = Walk::new(self.ring, self.pos, None, &[(bootstrap, Tier::Finger)], 1);
        let stats = RequestStats {
            started: now,
            finished: now,
            ..RequestStats::default()
        };
        self.lookups.insert(
            id,
            LookupState {
                purpose: Purpose::Join,
                class: TrafficClass::Join,
                target: self.id,
                walk,
                stats,
                route: None,
            },
        );
        self.drive(now, id);
    }

    pub(super) fn on_bootstrap_failed(&mut self, id: RequestId) {
        if let Some(j) = self.join.as_mut() {
            j.pings_outstanding = j.pings_outstanding.saturating_sub(1);
            if j.pings_outstanding == 0 && !j.walking {
                self.join = None;
                self.phase = Phase::Idle;
                self.events.push(Event::JoinFailed { id });
            }
        }
    }

    /// The join lookup found the own id's successor and its successors;
    /// `answered_by` named them. Unless that is the successor itself, it is
    /// the predecessor (until a closer node notifies us).
    pub(super) fn finish_join(
        &mut self,
        now: Instant,
        id: RequestId,
        closest: Vec<Contact>,
        answered_by: Option<Contact>,
    ) {
        self.join = None;
        if let Some(p) = answered_by
            && closest.first().is_some_and(|s| s.id != p.id)
            && p.id != self.id
        {
            self.predecessor = Some(p);
        }
        self.successors.set(closest);
        if self.successors.is_empty() {
            self.phase = Phase::Idle;
            self.events.push(Event::JoinFailed { id });
            return;
        }
        self.neighbours_dirty = true;
        self.phase = Phase::Joined;
        self.events.push(Event::Joined {
            id,
            neighbours: self.neighbour_set().len(),
        });
        self.start_maintenance(now);
    }

    /// Starts the periodic timers; stabilization and the first fix-fingers
    /// round run at once, so a new node is linked in and routes well quickly
    /// (their traffic counts as joining).
    pub(super) fn start_maintenance(&mut self, now: Instant) {
        let check = self.jittered(self.cfg.check_predecessor_interval);
        self.next_check_predecessor = now + check;
        self.next_stabilize = now + self.stabilize_period();
        self.next_fix_fingers = now + self.fix_fingers_period();
        self.store_deadline = None;
        self.update_store_deadline();
        self.stabilize_as(now, TrafficClass::Join);
        self.start_fix_round_as(now, TrafficClass::Join);
    }

    // ---- stabilize and notify ----------------------------------------------

    /// Stabilizes as routing maintenance ([`Chord::stabilize_as`]).
    pub(super) fn stabilize(&mut self, now: Instant) {
        self.stabilize_as(now, TrafficClass::RoutingMaintenance);
    }

    /// Asks the successor for its predecessor and successor list, counting
    /// the traffic under `class`. With no successor left, the nearest finger
    /// (or the predecessor) takes its place.
    pub(super) fn stabilize_as(&mut self, now: Instant, class: TrafficClass) {
        if self.stabilizing {
            return;
        }
        if self.successors.is_empty() {
            let (ring, pos) = (self.ring, self.pos);
            let nearest = self
                .fingers
                .contacts()
                .chain(self.predecessor)
                .filter(|c| c.id != self.id)
                .min_by_key(|c| clockwise(&pos, &ring.position(&c.id)));
            if let Some(c) = nearest {
                self.successors.set([c]);
                self.neighbours_dirty = true;
            }
        }
        let Some(s) = self.successors.first() else {
            return;
        };
        self.stabilizing = true;
        self.request(now, s, Body::GetNeighbours, RpcFor::Stabilize(class));
    }

    /// The successor `s` answered stabilization: adopt its predecessor if that
    /// sits between us, take its successor list as ours, and notify the
    /// (possibly new) successor. The notify, and any further stabilization,
    /// count under the answered request's `class`.
    pub(super) fn on_neighbours(
        &mut self,
        now: Instant,
        s: Contact,
        predecessor: Option<Contact>,
        successors: Vec<Contact>,
        class: TrafficClass,
    ) {
        self.stabilizing = false;
        let spos = self.ring.position(&s.id);
        let mut list = Vec::with_capacity(successors.len() + 2);
        let mut adopted = false;
        if let Some(x) = predecessor
            && x.id != self.id
            && in_open(&self.ring.position(&x.id), &self.pos, &spos)
            && !self.recently_failed(now, &x.id)
        {
            list.push(x);
            adopted = true;
        }
        list.push(s);
        list.extend(
            successors
                .into_iter()
                .filter(|c| !self.recently_failed(now, &c.id)),
        );
        let before = self.successors.as_slice().to_vec();
        self.successors.set(list);
        if self.successors.as_slice() != before.as_slice() {
            self.neighbours_dirty = true;
        }
        if let Some(first) = self.successors.first() {
            self.notify_peer(first.addr, Body::Notify, class);
        }
        if adopted {
            // The successor pointer was behind: follow the predecessor chain
            // at once rather than one node per interval, so a node passed
            // over during a burst of joins is linked in within a few round
            // trips. Each step moves strictly closer, so the chase ends.
            self.stabilize_as(now, class);
        }
    }

    /// `n` believes it may be our predecessor: adopt it if we have none or it
    /// sits between the current one and us, and hand it the keys that are now
    /// its own. A lone node also takes it as its successor.
    pub(super) fn on_notify(&mut self, now: Instant, n: Contact) {
        let npos = self.ring.position(&n.id);
        let old = self.predecessor;
        let adopt = match old {
            None => true,
            Some(p) => p.id != n.id && in_open(&npos, &self.ring.position(&p.id), &self.pos),
        };
        if adopt {
            self.set_predecessor(Some(n));
            if let Some(p) = old {
                self.hand_over(now, n, &self.ring.position(&p.id), &npos);
                // Aggressive join (OverSim's default): the old predecessor
                // learns of the newcomer at once instead of at its next
                // stabilization, so a burst of joins keeps the ring linked.
                self.notify_peer(
                    p.addr,
                    Body::SuccessorHint { successor: n },
                    TrafficClass::RoutingMaintenance,
                );
            }
        }
        if self.successors.is_empty() {
            self.successors.set([n]);
            self.neighbours_dirty = true;
        }
    }

    /// `n` joined between us and our successor (says the successor): take it
    /// as the new successor if it is closer. Stabilization verifies it.
    pub(super) fn on_successor_hint(&mut self, now: Instant, n: Contact) {
        if n.id == self.id || self.recently_failed(now, &n.id) {
            return;
        }
        let closer = self.successors.first().is_none_or(|s| {
            in_open(
                &self.ring.position(&n.id),
                &self.pos,
                &self.ring.position(&s.id),
            )
        });
        if closer {
            self.successors.merge([n]);
            self.neighbours_dirty = true;
        }
    }

    /// Pings the predecessor; if it does not answer it is forgotten.
    pub(super) fn check_predecessor(&mut self, now: Instant) {
        let d = self.jittered(self.cfg.check_predecessor_interval);
        self.next_check_predecessor = now + d;
        if self.checking_predecessor {
            return;
        }
        if let Some(p) = self.predecessor {
            self.checking_predecessor = true;
            self.request(now, p, Body::Ping, RpcFor::CheckPredecessor);
        }
    }

    // ---- fix fingers -------------------------------------------------------

    /// Starts a round that refreshes every finger, lowest first. Fingers whose
    /// start lies before the successor are the successor and need no lookup;
    /// a found finger f also covers every higher finger whose start lies
    /// before f, so a round costs about log2(N) lookups, not m. Its traffic
    /// is routing maintenance ([`Chord::start_fix_round_as`]).
    pub(super) fn start_fix_round(&mut self, now: Instant) {
        self.start_fix_round_as(now, TrafficClass::RoutingMaintenance);
    }

    /// Starts a fix-fingers round whose traffic counts under `class`, unless
    /// one is in progress.
    pub(super) fn start_fix_round_as(&mut self, now: Instant, class: TrafficClass) {
        if self.fix_round.is_some() {
            return;
        }
        self.fix_class = class;
        let m = self.ring.bits();
        let Some(succ) = self.successors.first() else {
            self.fingers.clear();
            self.neighbours_dirty = true;
            return;
        };
        let first = self.first_finger_beyond(0, &self.ring.position(&succ.id));
        self.fingers.clear_range(0, first);
        self.neighbours_dirty = true;
        if first < m {
            self.fix_round = Some(first);
            self.fix_next(now);
        }
    }

    /// The lowest finger index at or above `from` whose start is not in
    /// (self, `pos`], or m if there is none.
    fn first_finger_beyond(&self, from: u16, pos: &crate::id::NodeId) -> u16 {
        let m = self.ring.bits();
        (from..m)
            .find(|i| !in_half_open(&self.ring.finger_start(&self.pos, *i), &self.pos, pos))
            .unwrap_or(m)
    }

    fn fix_next(&mut self, now: Instant) {
        let Some(i) = self.fix_round else {
            return;
        };
        let target = self.ring.finger_start(&self.pos, i);
        let id = self.new_request();
        self.start_lookup(now, Purpose::Finger(i.min(255) as u8), target, id);
    }

    /// The lookup for finger `i` finished; move on to the next finger it
    /// does not cover.
    pub(super) fn on_finger_found(&mut self, now: Instant, i: u8, closest: &[Contact]) {
        let m = self.ring.bits();
        let i16 = i as u16;
        let next = match closest.first() {
            None => i16 + 1,
            Some(f) if f.id == self.id => {
                // We are the successor of the start: so are all higher fingers.
                self.fingers.clear_range(i16, m);
                self.neighbours_dirty = true;
                m
            }
            Some(f) => {
                self.fingers.set(i, *f);
                let next = self.first_finger_beyond(i16 + 1, &self.ring.position(&f.id));
                self.fingers.clear_range(i16 + 1, next);
                self.neighbours_dirty = true;
                next
            }
        };
        if next >= m {
            self.fix_round = None;
        } else {
            self.fix_round = Some(next);
            self.fix_next(now);
        }
    }

    // ---- leaving -----------------------------------------------------------

    /// A neighbour leaves gracefully: forget it and close the gap with the
    /// neighbours it names.
    pub(super) fn on_leaving(
        &mut self,
        n: Contact,
        predecessor: Option<Contact>,
        successors: Vec<Contact>,
    ) {
        let was_predecessor = self.predecessor.is_some_and(|p| p.id == n.id);
        let was_successor = self.successors.contains(&n.id);
        self.dead(&n.id);
        if was_predecessor
            && let Some(q) = predecessor
            && q.id != self.id
            && q.id != n.id
        {
            self.set_predecessor(Some(q));
        }
        if was_successor {
            self.successors
                .merge(successors.into_iter().filter(|c| c.id != n.id));
            self.neighbours_dirty = true;
        }
    }

    /// Before going quiet: every held value to the successor, and a LEAVING
    /// message to the successor and the predecessor.
    pub(super) fn hand_over_on_leave(&mut self, now: Instant) {
        let succ = self.successors.first();
        let leaving = Body::Leaving {
            predecessor: self.predecessor,
            successors: self.successors.as_slice().to_vec(),
        };
        if let Some(s) = succ {
            let values: Vec<Body> = self
                .store
                .entries()
                .filter_map(|(key, stored)| {
                    let ttl_secs = remaining_secs(stored.expires, now)?;
                    Some(Body::Store {
                        key,
                        value: stored.value.clone(),
                        ttl_secs,
                    })
                })
                .collect();
            for body in values {
                self.notify_peer(s.addr, body, TrafficClass::DataMaintenance);
            }
            self.notify_peer(s.addr, leaving.clone(), TrafficClass::RoutingMaintenance);
        }
        if let Some(p) = self.predecessor
            && succ.is_none_or(|s| s.id != p.id)
        {
            self.notify_peer(p.addr, leaving, TrafficClass::RoutingMaintenance);
        }
    }
}

/// Whole seconds left until `expires` (rounded up), if any.
pub(super) fn remaining_secs(expires: Instant, now: Instant) -> Option<u32> {
    let secs = (expires - now).as_micros().div_ceil(1_000_000);
    (secs > 0).then(|| secs.min(u32::MAX as u64) as u32)
}
