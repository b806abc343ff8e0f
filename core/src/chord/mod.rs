//! Chord (Stoica et al., SIGCOMM 2001) as a sans-IO state machine.
//!
//! - ids and keys sit on a circle of 2^m positions, m = `id_bits` ≤ 160
//!   ([`ChordConfig::ring_position`]); a key belongs to its successor, the
//!   first node at or after it clockwise;
//! - m fingers (finger i is the successor of n + 2^i), stored by runs of equal
//!   fingers; a successor list of r entries; a predecessor;
//! - join through a bootstrap node: look up the own id to find the successor,
//!   then stabilize at once;
//! - stabilize/notify, fix-fingers and check-predecessor run on periodic
//!   timers with bounded random jitter;
//! - a peer that does not answer a request and its retransmissions is dead:
//!   it leaves the successor list, the fingers and the predecessor slot;
//! - lookups are iterative (the origin asks each hop, one request at a time,
//!   the paper's mode and the default), parallel iterative (up to α requests
//!   in flight) or recursive (each hop forwards; the last sends the result to
//!   the origin), chosen per request.
//!   Routing follows fingers; the successor list is only a fallback when no
//!   live finger precedes the key. A lookup's hop count is Stoica's path
//!   length: the nodes the request visits after the origin, up to and
//!   including the key's predecessor, which names the key's successor;
//! - values are multi-valued with a TTL (as in Kademlia), stored on the key's
//!   successor and the next `replicas − 1` nodes; the responsible node pushes
//!   them to its successors hourly, the publisher republishes daily, and a
//!   node hands a newly arrived predecessor the keys that are now its own;
//!   a get asks `read_holders` of the replicas at once and returns the union
//!   of their values ([`crate::holder_read`]);
//! - a graceful leave hands every value to the successor and tells the
//!   predecessor and the successor, so they close the gap at once.
//!
//! Traffic is accounted by [`TrafficClass`] (rule in [`crate::protocol`]):
//! lookups and gets (steps, recursive forwards and results, replica reads)
//! are `Lookup`; puts and removes `Store`; bootstrap pings, the join lookup
//! and the first stabilization and fix-fingers round after joining `Join`;
//! stabilize, notify, successor hints, fix-fingers, check-predecessor and
//! leave notices `RoutingMaintenance`; replica pushes, key hand-offs and the
//! publisher's republishing `DataMaintenance`.

mod config;
mod fingers;
mod lookup;
mod maintenance;
mod ring;
mod routing;
mod storage;
mod successors;
#[cfg(test)]
mod tests;

pub use config::ChordConfig;

use crate::addr::Addr;
use crate::holder_read::HolderRead;
use crate::id::NodeId;
use crate::outbox::Outbox;
use crate::protocol::{
    Command, CommandError, Deadline, Event, NodeStats, Protocol, RequestId, RequestStats,
    RouteEntry, RouteRole, RoutingMode, TimerReason, TrafficClass, Transmit,
};
use crate::publisher::Publications;
use crate::recursive::{Forwarding, RecentRoutes};
use crate::rng::NodeRng;
use crate::rpc::{Expired, Rpcs};
use crate::store::ValueStore;
use crate::store_batch::StoreBatches;
use crate::time::{Duration, Instant};
use crate::timers::TimerQueue;
use crate::wire::{Body, Contact, MAX_VALUE_LEN, MAX_VALUES, Message};
use fingers::FingerTable;
use lookup::Walk;
use rand::{RngExt, SeedableRng};
use ring::{Ring, in_half_open};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use successors::SuccessorList;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Joining,
    Joined,
    Left,
}

/// What a lookup is for.
#[derive(Clone, Debug)]
enum Purpose {
    Lookup,
    Get,
    Store {
        value: Vec<u8>,
        ttl_secs: u32,
        report: bool,
    },
    Join,
    Finger(u8),
}

impl Purpose {
    /// The traffic class of a lookup for this purpose; `fingers` is the
    /// class of the fix-fingers round in progress.
    fn class(&self, fingers: TrafficClass) -> TrafficClass {
        match self {
            Purpose::Lookup | Purpose::Get => TrafficClass::Lookup,
            Purpose::Store { report: true, .. } => TrafficClass::Store,
            Purpose::Store { report: false, .. } => TrafficClass::DataMaintenance,
            Purpose::Join => TrafficClass::Join,
            Purpose::Finger(_) => fingers,
        }
    }
}

/// A lookup in progress at its origin.
#[derive(Clone, Debug)]
struct LookupState {
    purpose: Purpose,
    /// The class its messages count under.
    class: TrafficClass,
    /// The id as given (the walk works on its ring position).
    target: NodeId,
    walk: Walk,
    stats: RequestStats,
    /// The route id while a recursive attempt is outstanding.
    route: Option<u64>,
}

/// Why a request was sent, to resume when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RpcFor {
    /// A ping to a bootstrap node.
    Join(RequestId),
    /// An iterative-routing step of a lookup.
    Step(RequestId),
    /// A recursive request forwarded to a next hop (key into `forwards`).
    Forward(u64),
    /// GET_NEIGHBOURS to the successor, counted under the class (the
    /// stabilization right after a join counts as joining).
    Stabilize(TrafficClass),
    /// A ping to the predecessor.
    CheckPredecessor,
    /// FIND_VALUE to a replica.
    Fetch(RequestId),
    /// STORE to a replica for a put or remove.
    Store(RequestId),
    /// STORE moving or replicating a held value.
    Handoff,
}

/// A get whose lookup has finished: `read_holders` replicas are asked at
/// once, the next one whenever one fails or has nothing.
#[derive(Clone, Debug)]
struct Fetch {
    key: NodeId,
    /// Replicas not asked yet, most responsible first.
    remaining: VecDeque<Contact>,
    /// Replicas that answered without values.
    empty: u8,
    /// Replicas asked that have not answered or failed yet.
    in_flight: u8,
    /// The values of the replicas that answered with some.
    read: HolderRead,
    /// The lookup's hops.
    hops: u32,
    stats: RequestStats,
}

#[derive(Clone, Copy, Debug)]
struct JoinState {
    pings_outstanding: u32,
    walking: bool,
}

/// One Chord node.
#[derive(Clone, Debug)]
pub struct Chord {
    cfg: Arc<ChordConfig>,
    id: NodeId,
    addr: Addr,
    ring: Ring,
    /// The local position on the circle.
    pos: NodeId,
    rng: NodeRng,
    phase: Phase,
    successors: SuccessorList,
    predecessor: Option<Contact>,
    fingers: FingerTable,
    store: ValueStore,
    published: Publications,
    lookups: BTreeMap<RequestId, LookupState>,
    /// Recursive requests this node originated: route id → lookup.
    routes: BTreeMap<u64, RequestId>,
    route_timers: TimerQueue<u64>,
    /// Recursive requests being forwarded, until the next hop acknowledges.
    forwards: BTreeMap<u64, Forwarding>,
    next_forward: u64,
    recent: RecentRoutes,
    fetches: BTreeMap<RequestId, Fetch>,
    batches: StoreBatches,
    rpcs: Rpcs<RpcFor>,
    join: Option<JoinState>,
    /// The next finger index of the fix-fingers round in progress.
    fix_round: Option<u16>,
    /// The traffic class of that round (the first after a join counts as joining).
    fix_class: TrafficClass,
    stabilizing: bool,
    checking_predecessor: bool,
    next_stabilize: Instant,
    next_fix_fingers: Instant,
    next_check_predecessor: Instant,
    store_deadline: Option<Deadline>,
    transmits: Outbox<Transmit>,
    events: Outbox<Event>,
    /// Peers that failed recently, and until when to distrust them.
    failed: VecDeque<(NodeId, Instant)>,
    /// The neighbour set last reported through PeerAdded/PeerRemoved, by id.
    neighbours: Vec<Contact>,
    neighbours_dirty: bool,
    next_request: u64,
    requests_sent: u64,
    request_timeouts: u64,
    loops_detected: u64,
}

impl Chord {
    /// A node with the given id and address, its RNG seeded with `seed`.
    /// `cfg` is shared between nodes; validate it first.
    pub fn new(cfg: Arc<ChordConfig>, id: NodeId, addr: Addr, seed: u64) -> Self {
        let mut rng = NodeRng::seed_from_u64(seed);
        let first_txid = rng.random::<u64>() >> 1;
        let ring = Ring::new(cfg.id_bits);
        let rpcs = Rpcs::new(
            id,
            first_txid,
            cfg.min_rpc_timeout,
            cfg.rpc_timeout,
            cfg.adaptive_timeout,
            cfg.rpc_retries,
        );
        Chord {
            successors: SuccessorList::new(ring, id, cfg.successors.max(1)),
            cfg,
            id,
            addr,
            ring,
            pos: ring.position(&id),
            rng,
            phase: Phase::Idle,
            predecessor: None,
            fingers: FingerTable::default(),
            store: ValueStore::default(),
            published: Publications::default(),
            lookups: BTreeMap::new(),
            routes: BTreeMap::new(),
            route_timers: TimerQueue::default(),
            forwards: BTreeMap::new(),
            next_forward: 0,
            recent: RecentRoutes::default(),
            fetches: BTreeMap::new(),
            batches: StoreBatches::default(),
            rpcs,
            join: None,
            fix_round: None,
            fix_class: TrafficClass::RoutingMaintenance,
            stabilizing: false,
            checking_predecessor: false,
            next_stabilize: Instant::NEVER,
            next_fix_fingers: Instant::NEVER,
            next_check_predecessor: Instant::NEVER,
            store_deadline: None,
            transmits: Outbox::default(),
            events: Outbox::default(),
            failed: VecDeque::new(),
            neighbours: Vec::new(),
            neighbours_dirty: false,
            next_request: 1,
            requests_sent: 0,
            request_timeouts: 0,
            loops_detected: 0,
        }
    }

    /// The configuration this node runs with.
    pub fn config(&self) -> &ChordConfig {
        &self.cfg
    }

    /// Whether the node has joined and not left.
    pub fn is_joined(&self) -> bool {
        self.phase == Phase::Joined
    }

    /// The values this node holds under `key` (for oracles and diagnostics).
    pub fn stored(&self, key: &NodeId) -> Vec<Vec<u8>> {
        self.store.get(key, usize::MAX)
    }

    /// The successor list, nearest first.
    pub fn successor_list(&self) -> Vec<Contact> {
        self.successors.as_slice().to_vec()
    }

    /// The predecessor, if known.
    pub fn predecessor(&self) -> Option<Contact> {
        self.predecessor
    }

    /// The fingers as `(index, contact)` runs: finger `index` and the ones
    /// above it up to the next run's index are `contact`; fingers below the
    /// first run are the immediate successor.
    pub fn fingers(&self) -> Vec<(u8, Contact)> {
        self.fingers.runs().to_vec()
    }

    fn me(&self) -> Contact {
        Contact {
            id: self.id,
            addr: self.addr,
        }
    }

    fn jittered(&mut self, d: Duration) -> Duration {
        let j = self.cfg.timer_jitter;
        if j == 0.0 {
            return d;
        }
        d.mul_f64(1.0 - j + 2.0 * j * self.rng.random::<f64>())
    }

    fn new_request(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn push(&mut self, dst: Addr, msg: Message) {
        if msg.body.kind().is_request() {
            self.requests_sent += 1;
        }
        self.transmits.push(Transmit {
            src: self.addr,
            dst,
            msg,
        });
    }

    /// Sends a reply (not counted: a reply counts at its requester).
    fn send(&mut self, dst: Addr, txid: u64, body: Body) {
        self.push(dst, Message::new(txid, self.id, body));
    }

    /// Sends a one-way request with a fresh txid, counted under `class`.
    fn notify_peer(&mut self, dst: Addr, body: Body, class: TrafficClass) {
        let txid = self.rpcs.fresh_txid();
        self.send_counted(dst, txid, body, class);
    }

    /// Sends an unsolicited message, counted under `class`.
    fn send_counted(&mut self, dst: Addr, txid: u64, body: Body, class: TrafficClass) {
        let msg = Message::new(txid, self.id, body);
        self.rpcs.count_sent(class, &msg);
        self.push(dst, msg);
    }

    /// Sends a request and waits for its answer.
    fn request(&mut self, now: Instant, to: Contact, body: Body, purpose: RpcFor) {
        self.request_addr(now, to.addr, Some(to.id), body, purpose);
    }

    fn request_addr(
        &mut self,
        now: Instant,
        dst: Addr,
        to: Option<NodeId>,
        body: Body,
        purpose: RpcFor,
    ) {
        let class = self.class_of(purpose);
        let msg = self.rpcs.start(now, dst, to, body, purpose, class);
        self.count_message(purpose);
        self.push(dst, msg);
    }

    /// The traffic class of a request sent for `purpose`.
    fn class_of(&self, purpose: RpcFor) -> TrafficClass {
        match purpose {
            RpcFor::Join(_) => TrafficClass::Join,
            RpcFor::Step(id) => self
                .lookups
                .get(&id)
                .map_or(TrafficClass::Lookup, |l| l.class),
            RpcFor::Forward(_) | RpcFor::Fetch(_) => TrafficClass::Lookup,
            RpcFor::Stabilize(class) => class,
            RpcFor::CheckPredecessor => TrafficClass::RoutingMaintenance,
            RpcFor::Store(id) => self.batches.class(id),
            RpcFor::Handoff => TrafficClass::DataMaintenance,
        }
    }

    fn count_message(&mut self, purpose: RpcFor) {
        let stats = match purpose {
            RpcFor::Step(r) => self.lookups.get_mut(&r).map(|l| &mut l.stats),
            RpcFor::Fetch(r) => self.fetches.get_mut(&r).map(|f| &mut f.stats),
            RpcFor::Store(r) => self.batches.stats_mut(r),
            _ => None,
        };
        if let Some(s) = stats {
            s.messages += 1;
        }
    }

    /// Forgets a peer that failed to answer (or left): successor list,
    /// fingers and predecessor.
    fn dead(&mut self, id: &NodeId) {
        let a = self.successors.remove(id);
        let b = self.fingers.remove(id);
        let c = self.predecessor.is_some_and(|p| p.id == *id);
        if c {
            self.predecessor = None;
        }
        if a || b || c {
            self.neighbours_dirty = true;
        }
    }

    /// Remembers a failed peer for one stabilization interval, so a
    /// neighbour that has not noticed yet cannot hand it back at once.
    fn remember_failed(&mut self, now: Instant, id: NodeId) {
        const REMEMBERED: usize = 32;
        self.failed.retain(|(f, until)| *f != id && *until > now);
        if self.failed.len() == REMEMBERED {
            self.failed.pop_front();
        }
        self.failed
            .push_back((id, now + self.cfg.stabilize_interval));
    }

    /// Whether `id` failed within the last stabilization interval.
    fn recently_failed(&self, now: Instant, id: &NodeId) -> bool {
        self.failed.iter().any(|(f, until)| f == id && *until > now)
    }

    fn set_predecessor(&mut self, p: Option<Contact>) {
        if self.predecessor != p {
            self.predecessor = p;
            self.neighbours_dirty = true;
        }
    }

    /// Reports routing-state changes as PeerAdded/PeerRemoved events.
    fn sync_neighbours(&mut self) {
        if !self.neighbours_dirty {
            return;
        }
        self.neighbours_dirty = false;
        let now = self.neighbour_set();
        let old = std::mem::take(&mut self.neighbours);
        for c in &old {
            if now.binary_search_by_key(&c.id, |x| x.id).is_err() {
                self.events.push(Event::PeerRemoved(*c));
            }
        }
        for c in &now {
            if old.binary_search_by_key(&c.id, |x| x.id).is_err() {
                self.events.push(Event::PeerAdded(*c));
            }
        }
        self.neighbours = now;
    }

    /// Every distinct peer in the routing state, by id.
    fn neighbour_set(&self) -> Vec<Contact> {
        let mut all: Vec<Contact> = self
            .successors
            .as_slice()
            .iter()
            .copied()
            .chain(self.fingers.contacts())
            .chain(self.predecessor)
            .collect();
        all.sort_by_key(|c| c.id);
        all.dedup_by_key(|c| c.id);
        all
    }

    /// Whether this node is responsible for the ring position `key`: it lies
    /// in (predecessor, self] (or is the node's own position), or the node is
    /// alone.
    fn responsible(&self, key: &NodeId) -> bool {
        if self.successors.is_empty() || *key == self.pos {
            return true;
        }
        self.predecessor
            .is_some_and(|p| in_half_open(key, &self.ring.position(&p.id), &self.pos))
    }

    /// The answer to a lookup of `key` if this node knows it: the key's
    /// successor followed by its successors.
    fn local_answer(&self, key: &NodeId) -> Option<Vec<Contact>> {
        let r = self.cfg.successors;
        if self.responsible(key) {
            let mut out = vec![self.me()];
            out.extend(self.successors.as_slice().iter().take(r.saturating_sub(1)));
            return Some(out);
        }
        let succ = self.successors.first()?;
        in_half_open(key, &self.pos, &self.ring.position(&succ.id))
            .then(|| self.successors.as_slice().to_vec())
    }

    // ---- inputs ------------------------------------------------------------

    fn on_request(&mut self, now: Instant, from: Addr, msg: Message) {
        let sender = Contact {
            id: msg.sender,
            addr: from,
        };
        let reply = match msg.body {
            Body::Ping => Body::Pong { observed: from },
            Body::NextHop { key } => self.answer_next_hop(&self.ring.position(&key)),
            Body::GetNeighbours => Body::Neighbours {
                predecessor: self.predecessor,
                successors: self.successors.as_slice().to_vec(),
            },
            Body::FindValue { key } => Body::Values {
                values: self.store.get(&key, MAX_VALUES),
            },
            Body::Store {
                key,
                value,
                ttl_secs,
            } => {
                let stored =
                    value.len() <= MAX_VALUE_LEN && self.apply_store(now, key, value, ttl_secs);
                Body::StoreAck { stored }
            }
            Body::Notify => return self.on_notify(now, sender),
            Body::SuccessorHint { successor } => return self.on_successor_hint(now, successor),
            Body::Leaving {
                predecessor,
                successors,
            } => return self.on_leaving(sender, predecessor, successors),
            Body::Route {
                route_id,
                origin,
                key,
                sent,
                path,
            } => {
                self.send(from, msg.txid, Body::RouteAck);
                return self.on_route(now, route_id, origin, key, sent, &path);
            }
            _ => return,
        };
        self.send(from, msg.txid, reply);
    }

    fn on_answer(&mut self, now: Instant, from: Addr, msg: Message) {
        if let Body::RouteResult {
            hops,
            sent,
            loop_detected,
            contacts,
        } = msg.body
        {
            return self.on_route_result(now, msg.txid, hops, sent, loop_detected, contacts);
        }
        let Some(p) = self.rpcs.take_answer(now, from, &msg) else {
            return;
        };
        let sender = Contact {
            id: msg.sender,
            addr: from,
        };
        if p.to.is_some_and(|to| to != msg.sender) {
            // Another node answers at that address: the contact is stale.
            return self.on_failed(now, p.purpose, p.to);
        }
        match (p.purpose, msg.body) {
            (RpcFor::Join(id), Body::Pong { .. }) => self.on_bootstrap_pong(now, id, sender),
            (RpcFor::Step(id), Body::NextHopReply { done, contacts }) => {
                self.on_step(now, id, &sender.id, done, contacts)
            }
            (RpcFor::Forward(f), Body::RouteAck) => {
                self.forwards.remove(&f);
            }
            (
                RpcFor::Stabilize(class),
                Body::Neighbours {
                    predecessor,
                    successors,
                },
            ) => self.on_neighbours(now, sender, predecessor, successors, class),
            (RpcFor::CheckPredecessor, _) => self.checking_predecessor = false,
            (RpcFor::Fetch(id), Body::Values { values }) => self.on_fetched(now, id, Some(values)),
            (RpcFor::Store(id), Body::StoreAck { stored }) => {
                self.store_answered(now, id, Some(stored))
            }
            // An answer of the wrong kind: treat the request as failed.
            (purpose, _) => self.on_failed(now, purpose, p.to),
        }
    }

    /// A request (and its retransmissions) went unanswered.
    fn on_failed(&mut self, now: Instant, purpose: RpcFor, to: Option<NodeId>) {
        if let Some(to) = to {
            self.dead(&to);
            self.remember_failed(now, to);
        }
        match purpose {
            RpcFor::Join(id) => self.on_bootstrap_failed(id),
            RpcFor::Step(id) => {
                if let (Some(l), Some(to)) = (self.lookups.get_mut(&id), to) {
                    l.walk.failed(&to);
                    l.stats.timeouts += 1;
                }
                self.drive(now, id);
            }
            RpcFor::Forward(f) => {
                // The origin's own first hop failing counts against its request.
                if let Some(fw) = self.forwards.get(&f)
                    && fw.origin.id == self.id
                    && let Some(id) = self.routes.get(&fw.route_id)
                    && let Some(l) = self.lookups.get_mut(id)
                {
                    l.stats.timeouts += 1;
                }
                self.forward(now, f)
            }
            RpcFor::Stabilize(class) => {
                self.stabilizing = false;
                // Successor-list repair: the next entry is the new successor.
                self.stabilize_as(now, class);
            }
            RpcFor::CheckPredecessor => self.checking_predecessor = false,
            RpcFor::Fetch(id) => self.on_fetched(now, id, None),
            RpcFor::Store(id) => self.store_answered(now, id, None),
            RpcFor::Handoff => {}
        }
    }

    fn on_rpc_deadlines(&mut self, now: Instant) {
        while let Some(e) = self.rpcs.poll_expired(now) {
            match e {
                Expired::Retry(txid) => {
                    let purpose = self.rpcs.purpose(txid).copied();
                    if let Some((dst, msg)) =
                        self.rpcs.resend(now, txid, crate::recursive::count_resend)
                    {
                        if let Some(p) = purpose {
                            self.count_message(p);
                            if let RpcFor::Forward(f) = p
                                && let Some(fw) = self.forwards.get_mut(&f)
                            {
                                fw.sent = fw.sent.saturating_add(1);
                            }
                        }
                        self.push(dst, msg);
                    }
                }
                Expired::Failed(p) => {
                    self.request_timeouts += 1;
                    self.on_failed(now, p.purpose, p.to);
                }
            }
        }
    }

    fn leave(&mut self, now: Instant) {
        self.hand_over_on_leave(now);
        self.phase = Phase::Left;
        self.lookups.clear();
        self.routes.clear();
        self.route_timers.clear();
        self.forwards.clear();
        self.fetches.clear();
        self.batches.clear();
        self.rpcs.clear();
        self.join = None;
        self.fix_round = None;
        self.next_stabilize = Instant::NEVER;
        self.next_fix_fingers = Instant::NEVER;
        self.next_check_predecessor = Instant::NEVER;
        self.store_deadline = None;
    }
}

impl Protocol for Chord {
    fn node_id(&self) -> NodeId {
        self.id
    }

    fn local_addr(&self) -> Addr {
        self.addr
    }

    fn handle_message(&mut self, now: Instant, from: Addr, msg: Message) {
        if msg.sender == self.id {
            return;
        }
        if !self.failed.is_empty() {
            // Heard from: alive after all.
            self.failed.retain(|(f, _)| *f != msg.sender);
        }
        let request = msg.body.kind().is_request();
        match self.phase {
            Phase::Joined if request => self.on_request(now, from, msg),
            Phase::Joined | Phase::Joining if !request => self.on_answer(now, from, msg),
            _ => {}
        }
        let routes = &self.routes;
        self.route_timers.prune(|r| routes.contains_key(r));
        self.sync_neighbours();
    }

    fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Idle | Phase::Left) {
            return;
        }
        self.on_rpc_deadlines(now);
        while let Some(route_id) = self.route_timers.pop_due(now) {
            self.on_route_timeout(now, route_id);
        }
        if self.phase == Phase::Joined {
            if self.next_check_predecessor <= now {
                self.check_predecessor(now);
            }
            if self.next_stabilize <= now {
                self.next_stabilize = now + self.stabilize_period();
                self.stabilize(now);
            }
            if self.next_fix_fingers <= now {
                self.next_fix_fingers = now + self.fix_fingers_period();
                self.start_fix_round(now);
            }
            if self.store_deadline.is_some_and(|d| d.at <= now) {
                self.republish(now);
            }
        }
        let routes = &self.routes;
        self.route_timers.prune(|r| routes.contains_key(r));
        self.sync_neighbours();
    }

    fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<RequestId, CommandError> {
        let joined = self.phase == Phase::Joined;
        let out = match cmd {
            Command::Join { bootstrap } => {
                if self.phase != Phase::Idle {
                    return Err(CommandError::AlreadyJoined);
                }
                let id = self.new_request();
                self.start_join(now, id, bootstrap);
                Ok(id)
            }
            _ if !joined => Err(CommandError::NotJoined),
            Command::Leave => {
                self.leave(now);
                Ok(self.new_request())
            }
            Command::Lookup { target, mode } => {
                let id = self.new_request();
                match mode {
                    RoutingMode::Iterative => self.start_lookup(now, Purpose::Lookup, target, id),
                    RoutingMode::ParallelIterative => {
                        let alpha = self.cfg.alpha;
                        self.start_lookup_with(now, Purpose::Lookup, target, id, alpha)
                    }
                    RoutingMode::Recursive => self.start_recursive(now, target, id),
                }
                Ok(id)
            }
            Command::Get { key } => {
                let id = self.new_request();
                self.start_lookup(now, Purpose::Get, key, id);
                Ok(id)
            }
            Command::Put { value, .. } | Command::Remove { value, .. }
                if value.len() > MAX_VALUE_LEN =>
            {
                Err(CommandError::ValueTooLong {
                    len: value.len(),
                    max: MAX_VALUE_LEN,
                })
            }
            Command::Put {
                key,
                value,
                ttl_secs,
            } => {
                let ttl_secs = ttl_secs.max(1);
                let next = now + self.publisher_period(ttl_secs);
                self.published.publish(key, value.clone(), ttl_secs, next);
                self.update_store_deadline();
                let id = self.new_request();
                let purpose = Purpose::Store {
                    value,
                    ttl_secs,
                    report: true,
                };
                self.start_lookup(now, purpose, key, id);
                Ok(id)
            }
            Command::Remove { key, value } => {
                self.published.withdraw(key, value.clone());
                self.update_store_deadline();
                let id = self.new_request();
                let purpose = Purpose::Store {
                    value,
                    ttl_secs: 0,
                    report: true,
                };
                self.start_lookup(now, purpose, key, id);
                Ok(id)
            }
        };
        self.sync_neighbours();
        out
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    fn poll_timeout(&self) -> Option<Deadline> {
        let rpc = [
            self.rpcs.next_deadline(),
            self.route_timers.peek().map(|(at, _)| at),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| Deadline {
            at,
            reason: TimerReason::RpcTimeout,
        });
        let maint = [
            self.next_stabilize,
            self.next_fix_fingers,
            self.next_check_predecessor,
        ]
        .into_iter()
        .filter(|at| *at != Instant::NEVER)
        .min()
        .map(|at| Deadline {
            at,
            reason: TimerReason::Maintenance,
        });
        [rpc, maint, self.store_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    fn routes(&self) -> Vec<RouteEntry> {
        let entry = |role, contact| RouteEntry {
            role,
            contact,
            failures: 0,
        };
        let mut out: Vec<RouteEntry> = self
            .successors
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, c)| entry(RouteRole::Successor(i as u8), *c))
            .collect();
        out.extend(
            self.fingers
                .runs()
                .iter()
                .map(|(i, c)| entry(RouteRole::Finger(*i), *c)),
        );
        out.extend(self.predecessor.map(|p| entry(RouteRole::Predecessor, p)));
        out
    }

    fn stats(&self) -> NodeStats {
        NodeStats {
            routing_entries: self.neighbour_set().len(),
            stored_values: self.store.len(),
            requests_sent: self.requests_sent,
            request_timeouts: self.request_timeouts,
            active_lookups: self.lookups.len(),
            loops_detected: self.loops_detected,
            traffic: self.rpcs.traffic(),
            received: self.rpcs.received(),
        }
    }
}
