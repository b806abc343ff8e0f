//! Kademlia (Maymounkov and Mazières, IPTPS 2002) as a sans-IO state machine.
//!
//! - k-buckets with least-recently-seen ordering; a full bucket keeps newcomers
//!   in a replacement cache and evicts its head only after a failed liveness
//!   check ([`routing`]);
//! - iterative lookups with α requests in flight ([`lookup`]; the paper's
//!   mode and the default, [`RoutingMode::ParallelIterative`]), or with one
//!   ([`RoutingMode::Iterative`]), or recursive ones, chosen per request
//!   (`recursive.rs`, with a fallback to iterative); the node's own lookups
//!   (joins, refreshes, gets, puts) always keep α in flight;
//! - RPC timeouts with retries; a contact is stale after repeated failures;
//! - multi-valued keys with expiry, stored on the k closest nodes, republished
//!   hourly by holders and daily by the original publisher (the value store
//!   is shared with Chord, so put, get and remove mean the same in both); a
//!   get reads `read_holders` holders and returns the union of their values
//!   ([`crate::holder_read`]);
//! - join through a known node: self-lookup, then refresh of the buckets
//!   farther than the closest neighbour; idle buckets are refreshed hourly.
//!
//! Defaults follow the paper (k = 20, α = 3, 1 h refresh and republish, 24 h
//! expiry, stale after 5 failures), except that a get reads 2 holders where
//! the paper's returns the first one's values.
//!
//! Outstanding requests live in the RPC table shared with Chord
//! (`crate::rpc`), which also accounts for traffic by [`TrafficClass`] (rule
//! in [`crate::protocol`]): lookups and gets (iterative steps, recursive
//! forwards and results) are `Lookup`; puts and removes (the lookup of the k
//! closest and the STOREs) `Store`; bootstrap pings, the self-lookup and the
//! bucket refreshes that follow it `Join`; periodic bucket refreshes and
//! liveness checks of a full bucket's head `RoutingMaintenance`; republishing
//! by holders and by the publisher `DataMaintenance`.

mod lookup;
mod recursive;
mod routing;

use crate::addr::Addr;
use crate::holder_read::HolderRead;
use crate::id::{HashAlg, NodeId};
use crate::outbox::Outbox;
use crate::protocol::{
    Command, CommandError, Deadline, Event, NodeStats, Protocol, RequestId, RequestStats,
    RouteEntry, RoutingMode, TimerReason, TrafficClass, Transmit,
};
use crate::publisher::{self, Publications};
use crate::recursive::{Forwarding, RecentRoutes};
use crate::rng::NodeRng;
use crate::rpc::{Expired, Rpcs};
use crate::store::ValueStore;
use crate::store_batch::{StoreBatch, StoreBatches};
use crate::time::{Duration, Instant};
use crate::timers::TimerQueue;
use crate::wire::{Body, Contact, MAX_CONTACTS, MAX_VALUE_LEN, MAX_VALUES, Message};
use lookup::Shortlist;
use rand::{RngExt, SeedableRng};
use routing::{Evicted, RoutingTable, Seen};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Kademlia parameters. Every field can be set from an experiment spec.
#[derive(Clone, Debug, PartialEq)]
pub struct KademliaConfig {
    /// Bucket size and replication factor.
    pub k: usize,
    /// Requests in flight per lookup.
    pub alpha: usize,
    /// Replacement-cache entries per bucket.
    pub replacement_cache: usize,
    /// The longest wait for a reply before retrying (and the wait before any
    /// round trip has been measured).
    pub rpc_timeout: Duration,
    /// The shortest wait for a reply. Between the two, the wait adapts to
    /// measured round trips (SRTT + 4·RTTVAR), unless `adaptive_timeout` is off.
    pub min_rpc_timeout: Duration,
    /// Adapt the wait to measured round trips; off, every wait is `rpc_timeout`.
    pub adaptive_timeout: bool,
    /// Retransmissions of an unanswered request before it counts as failed.
    pub rpc_retries: u8,
    /// Consecutive failures after which a contact is evicted.
    pub stale_after: u8,
    /// Consecutive failures after which a contact is replaced when a
    /// replacement is waiting.
    pub replace_after: u8,
    /// A bucket whose range saw no lookup for this long is refreshed.
    pub refresh_interval: Duration,
    /// Holders republish values this often.
    pub republish_interval: Duration,
    /// The original publisher republishes this often (capped at 80% of the TTL).
    pub publisher_republish: Duration,
    /// Relative jitter applied to every periodic timer (0.1 = ±10%).
    pub timer_jitter: f64,
    /// Most values a node holds for others.
    pub max_stored_values: usize,
    /// The hash that maps names to keys.
    pub hash: HashAlg,
    /// Recursive lookups: hops after which a request is stopped and reported
    /// as looping.
    pub max_hops: u8,
    /// Recursive lookups: how long the origin waits for the result before it
    /// looks the target up iteratively instead.
    pub recursive_timeout: Duration,
    /// Holders a get reads (1 to k): its lookup goes on after the first node
    /// that answers with values until this many have, or until it converges,
    /// and the get returns the union of their values ([`crate::holder_read`]
    /// semantics). 1 is the paper's get, which returns the first holder's
    /// values; a holder that a put or remove missed then serves a stale set.
    pub read_holders: usize,
}

impl Default for KademliaConfig {
    fn default() -> Self {
        KademliaConfig {
            k: 20,
            alpha: 3,
            replacement_cache: 8,
            rpc_timeout: Duration::from_secs(2),
            min_rpc_timeout: Duration::from_millis(200),
            adaptive_timeout: true,
            rpc_retries: 1,
            stale_after: 5,
            replace_after: 1,
            refresh_interval: Duration::from_secs(3600),
            republish_interval: Duration::from_secs(3600),
            publisher_republish: Duration::from_secs(24 * 3600),
            timer_jitter: 0.1,
            max_stored_values: 65_536,
            hash: HashAlg::Sha1,
            // OverSim's hopCountMax; 10 s is several round trips plus one
            // dead hop's timeouts.
            max_hops: 50,
            recursive_timeout: Duration::from_secs(10),
            // Two holders: a stale one is outvoted by any fresh one
            // (sim/tests/registration.rs measures the effect).
            read_holders: 2,
        }
    }
}

pub use crate::config::ConfigError;

impl KademliaConfig {
    /// The routing mode of the paper: iterative lookups with α requests in
    /// flight (Maymounkov and Mazières, §2.3).
    pub const DEFAULT_ROUTING: RoutingMode = RoutingMode::ParallelIterative;

    /// Checks every parameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, value: &dyn ToString, expected| {
            Err(ConfigError::new("kademlia", field, value, expected))
        };
        if self.k == 0 || self.k > MAX_CONTACTS {
            return err("k", &self.k, "1 to 64");
        }
        if self.alpha == 0 || self.alpha > self.k {
            return err("alpha", &self.alpha, "1 to k");
        }
        if self.rpc_timeout == Duration::ZERO {
            return err("rpc_timeout", &self.rpc_timeout, "greater than zero");
        }
        if self.min_rpc_timeout == Duration::ZERO || self.min_rpc_timeout > self.rpc_timeout {
            return err(
                "min_rpc_timeout",
                &self.min_rpc_timeout,
                "greater than zero and at most rpc_timeout",
            );
        }
        if self.stale_after == 0 || self.replace_after == 0 {
            return err(
                "stale_after",
                &self.stale_after,
                "at least 1 (and replace_after at least 1)",
            );
        }
        for (field, d) in [
            ("refresh_interval", self.refresh_interval),
            ("republish_interval", self.republish_interval),
            ("publisher_republish", self.publisher_republish),
        ] {
            if d == Duration::ZERO {
                return err(field, &d, "greater than zero");
            }
        }
        if !(0.0..1.0).contains(&self.timer_jitter) {
            return err("timer_jitter", &self.timer_jitter, "a fraction in [0, 1)");
        }
        if self.max_hops == 0 {
            return err("max_hops", &self.max_hops, "1 to 255");
        }
        if self.recursive_timeout == Duration::ZERO {
            return err(
                "recursive_timeout",
                &self.recursive_timeout,
                "greater than zero",
            );
        }
        if self.read_holders == 0 || self.read_holders > self.k {
            return err("read_holders", &self.read_holders, "1 to k");
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Joining,
    Joined,
    Left,
}

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
    /// A bucket refresh, counted under the class (the refreshes that end a
    /// join count as joining).
    Refresh(TrafficClass),
}

impl Purpose {
    /// The traffic class of a lookup for this purpose.
    fn class(&self) -> TrafficClass {
        match self {
            Purpose::Lookup | Purpose::Get => TrafficClass::Lookup,
            Purpose::Store { report: true, .. } => TrafficClass::Store,
            Purpose::Store { report: false, .. } => TrafficClass::DataMaintenance,
            Purpose::Join => TrafficClass::Join,
            Purpose::Refresh(class) => *class,
        }
    }
}

#[derive(Clone, Debug)]
struct LookupState {
    purpose: Purpose,
    list: Shortlist,
    stats: RequestStats,
    /// A get's holders read so far.
    read: Option<HolderRead>,
    /// The route id while a recursive attempt is outstanding.
    route: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RpcFor {
    Lookup(RequestId),
    Store(RequestId),
    Check(usize),
    Join(RequestId),
    /// A recursive request forwarded to a next hop (key into `forwards`).
    Forward(u64),
}

#[derive(Clone, Copy, Debug)]
struct JoinState {
    pings_outstanding: u32,
    lookup_started: bool,
}

/// One Kademlia node.
#[derive(Clone, Debug)]
pub struct Kademlia {
    cfg: Arc<KademliaConfig>,
    id: NodeId,
    addr: Addr,
    rng: NodeRng,
    phase: Phase,
    table: RoutingTable,
    store: ValueStore,
    published: Publications,
    lookups: BTreeMap<RequestId, LookupState>,
    batches: StoreBatches,
    rpcs: Rpcs<RpcFor>,
    join: Option<JoinState>,
    next_request: u64,
    next_maintenance: Instant,
    store_deadline: Option<Deadline>,
    transmits: Outbox<Transmit>,
    events: Outbox<Event>,
    requests_sent: u64,
    request_timeouts: u64,
    /// Recursive lookups this node originated: route id → lookup.
    routes: BTreeMap<u64, RequestId>,
    route_timers: TimerQueue<u64>,
    /// Recursive requests being forwarded, until the next hop acknowledges.
    forwards: BTreeMap<u64, Forwarding>,
    next_forward: u64,
    recent: RecentRoutes,
    loops_detected: u64,
}

impl Kademlia {
    /// A node with the given id and address, its RNG seeded with `seed`.
    /// `cfg` is shared between nodes; validate it first.
    pub fn new(cfg: Arc<KademliaConfig>, id: NodeId, addr: Addr, seed: u64) -> Self {
        let mut rng = NodeRng::seed_from_u64(seed);
        let first_txid = rng.random::<u64>() >> 1;
        let table = RoutingTable::new(id, cfg.k, cfg.replacement_cache);
        let rpcs = Rpcs::new(
            id,
            first_txid,
            cfg.min_rpc_timeout,
            cfg.rpc_timeout,
            cfg.adaptive_timeout,
            cfg.rpc_retries,
        );
        Kademlia {
            cfg,
            id,
            addr,
            rng,
            phase: Phase::Idle,
            table,
            store: ValueStore::default(),
            published: Publications::default(),
            lookups: BTreeMap::new(),
            batches: StoreBatches::default(),
            rpcs,
            join: None,
            next_request: 1,
            next_maintenance: Instant::NEVER,
            store_deadline: None,
            transmits: Outbox::default(),
            events: Outbox::default(),
            requests_sent: 0,
            request_timeouts: 0,
            routes: BTreeMap::new(),
            route_timers: TimerQueue::default(),
            forwards: BTreeMap::new(),
            next_forward: 0,
            recent: RecentRoutes::default(),
            loops_detected: 0,
        }
    }

    /// A transaction id no request uses (for recursive route ids).
    fn fresh_txid(&mut self) -> u64 {
        self.rpcs.fresh_txid()
    }

    /// The configuration this node runs with.
    pub fn config(&self) -> &KademliaConfig {
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

    /// Sends a reply, or a message counted elsewhere.
    fn send(&mut self, dst: Addr, msg: Message) {
        self.transmits.push(Transmit {
            src: self.addr,
            dst,
            msg,
        });
    }

    fn request(
        &mut self,
        now: Instant,
        dst: Addr,
        to: Option<NodeId>,
        request: Body,
        purpose: RpcFor,
    ) {
        let class = self.class_of(purpose);
        let msg = self.rpcs.start(now, dst, to, request, purpose, class);
        self.send(dst, msg);
        self.requests_sent += 1;
        self.count_message(purpose);
    }

    /// The traffic class of a request sent for `purpose`.
    fn class_of(&self, purpose: RpcFor) -> TrafficClass {
        match purpose {
            RpcFor::Lookup(id) => self
                .lookups
                .get(&id)
                .map_or(TrafficClass::Lookup, |l| l.purpose.class()),
            RpcFor::Store(id) => self.batches.class(id),
            RpcFor::Check(_) => TrafficClass::RoutingMaintenance,
            RpcFor::Join(_) => TrafficClass::Join,
            // Only user lookups are routed recursively.
            RpcFor::Forward(_) => TrafficClass::Lookup,
        }
    }

    fn count_message(&mut self, purpose: RpcFor) {
        let stats = match purpose {
            RpcFor::Lookup(r) => self.lookups.get_mut(&r).map(|l| &mut l.stats),
            RpcFor::Store(r) => self.batches.stats_mut(r),
            _ => None,
        };
        if let Some(s) = stats {
            s.messages += 1;
        }
    }

    fn note_seen(&mut self, now: Instant, c: Contact) {
        match self.table.seen(c) {
            Seen::Added => self.events.push(Event::PeerAdded(c)),
            Seen::BucketFull {
                bucket,
                head,
                check: true,
            } => {
                self.request(
                    now,
                    head.addr,
                    Some(head.id),
                    Body::Ping,
                    RpcFor::Check(bucket),
                );
            }
            _ => {}
        }
    }

    fn note_evicted(&mut self, ev: Option<Evicted>) {
        if let Some(ev) = ev {
            self.events.push(Event::PeerRemoved(ev.removed));
            if let Some(p) = ev.promoted {
                self.events.push(Event::PeerAdded(p));
            }
        }
    }

    // ---- lookups ---------------------------------------------------------

    fn start_lookup(&mut self, now: Instant, purpose: Purpose, target: NodeId, id: RequestId) {
        self.start_lookup_with(now, purpose, target, id, self.cfg.alpha);
    }

    /// Starts an iterative lookup with `alpha` requests in flight (1 for
    /// [`RoutingMode::Iterative`], `cfg.alpha` for everything else).
    fn start_lookup_with(
        &mut self,
        now: Instant,
        purpose: Purpose,
        target: NodeId,
        id: RequestId,
        alpha: usize,
    ) {
        self.table.touch(&target, now);
        let seed = self.table.closest(&target, self.cfg.k, None);
        let list = Shortlist::new(target, self.cfg.k, alpha, &seed);
        let stats = RequestStats {
            started: now,
            finished: now,
            ..RequestStats::default()
        };
        let read = matches!(purpose, Purpose::Get).then(|| HolderRead::new(self.cfg.read_holders));
        self.lookups.insert(
            id,
            LookupState {
                purpose,
                list,
                stats,
                read,
                route: None,
            },
        );
        self.drive(now, id);
    }

    fn drive(&mut self, now: Instant, id: RequestId) {
        let Some(l) = self.lookups.get_mut(&id) else {
            return;
        };
        if l.route.is_some() {
            return; // waiting for a recursive result
        }
        let get = matches!(l.purpose, Purpose::Get);
        let target = l.list.target();
        let mut queries = Vec::new();
        // A get is done once enough holders answered; until then its lookup
        // goes on (α in flight) towards the k closest.
        let read_done = l.read.as_ref().is_some_and(HolderRead::is_complete);
        if !read_done {
            while let Some((c, _)) = l.list.next_query() {
                queries.push(c);
            }
        }
        let done = read_done || l.list.is_done();
        for c in queries {
            let body = if get {
                Body::FindValue { key: target }
            } else {
                Body::FindNode { target }
            };
            self.request(now, c.addr, Some(c.id), body, RpcFor::Lookup(id));
        }
        if done {
            self.finish_lookup(now, id);
        }
    }

    fn finish_lookup(&mut self, now: Instant, id: RequestId) {
        let Some(mut l) = self.lookups.remove(&id) else {
            return;
        };
        let target = l.list.target();
        let (closest, depth) = l.list.result();
        l.stats.finished = now;
        l.stats.hops = depth as u32;
        match l.purpose {
            Purpose::Lookup => self.events.push(Event::LookupDone {
                id,
                target,
                closest,
                stats: l.stats,
            }),
            Purpose::Get => {
                let read = l.read.unwrap_or_else(|| HolderRead::new(1));
                let (values, holders, hops) = read.finish();
                if let Some(hops) = hops {
                    l.stats.hops = hops;
                }
                self.events.push(Event::GetDone {
                    id,
                    key: target,
                    values,
                    holders,
                    stats: l.stats,
                });
            }
            Purpose::Store {
                value,
                ttl_secs,
                report,
            } => {
                self.store_batch(now, id, target, closest, value, ttl_secs, report, l.stats);
            }
            Purpose::Join => {
                self.phase = Phase::Joined;
                self.join = None;
                self.events.push(Event::Joined {
                    id,
                    neighbours: self.table.len(),
                });
                // Refresh every bucket farther than the closest neighbour.
                let nearest = closest
                    .first()
                    .map_or(0, |c| self.id.common_prefix_len(&c.id));
                for b in 0..nearest.min(self.table.bucket_count().max(1)) {
                    self.refresh_bucket(now, b, TrafficClass::Join);
                }
                self.next_maintenance = now + self.maintenance_period();
            }
            Purpose::Refresh(_) => {}
        }
    }

    fn maintenance_period(&mut self) -> Duration {
        // Idle buckets are noticed within a sixth of the refresh interval.
        let d = Duration::from_micros(self.cfg.refresh_interval.as_micros() / 6);
        self.jittered(d)
    }

    fn refresh_bucket(&mut self, now: Instant, bucket: usize, class: TrafficClass) {
        let target = self.id.random_at_prefix(bucket, &mut self.rng);
        let id = self.new_request();
        self.start_lookup(now, Purpose::Refresh(class), target, id);
    }

    #[allow(clippy::too_many_arguments)]
    fn store_batch(
        &mut self,
        now: Instant,
        id: RequestId,
        key: NodeId,
        closest: Vec<Contact>,
        value: Vec<u8>,
        ttl_secs: u32,
        report: bool,
        stats: RequestStats,
    ) {
        // The value belongs on the k closest nodes overall. When the local node
        // is one of them it keeps a copy and the farthest remote one is dropped.
        let mut closest = closest;
        let local_is_close = closest.len() < self.cfg.k
            || closest
                .last()
                .is_some_and(|far| self.id.distance(&key) < far.id.distance(&key));
        let mut acked = 0;
        if local_is_close {
            closest.truncate(self.cfg.k - 1);
            if self.apply_store(now, key, value.clone(), ttl_secs) {
                acked += 1;
            }
        }
        let outstanding = closest.len() as u32;
        let batch = StoreBatch {
            key,
            outstanding,
            acked,
            stats,
            report,
        };
        if let Some(e) = self.batches.start(now, id, batch) {
            self.events.push(e);
        }
        for c in closest {
            let body = Body::Store {
                key,
                value: value.clone(),
                ttl_secs,
            };
            self.request(now, c.addr, Some(c.id), body, RpcFor::Store(id));
        }
    }

    /// A STORE of batch `id` was answered (`Some`) or timed out (`None`).
    fn store_answered(&mut self, now: Instant, id: RequestId, stored: Option<bool>) {
        if let Some(e) = self.batches.answered(now, id, stored) {
            self.events.push(e);
        }
    }

    /// Stores (ttl > 0) or removes (ttl = 0) a value held for the overlay.
    fn apply_store(&mut self, now: Instant, key: NodeId, value: Vec<u8>, ttl_secs: u32) -> bool {
        let ok = if ttl_secs == 0 {
            self.store.remove(&key, &value);
            true
        } else {
            let expires = now + Duration::from_secs(ttl_secs as u64);
            let republish = now + self.jittered(self.cfg.republish_interval);
            self.store
                .insert(key, value, expires, republish, self.cfg.max_stored_values)
        };
        self.update_store_deadline();
        ok
    }

    fn update_store_deadline(&mut self) {
        self.store_deadline = publisher::store_deadline(&self.store, &self.published);
    }

    fn publisher_period(&mut self, ttl_secs: u32) -> Duration {
        let d = publisher::publisher_period(self.cfg.publisher_republish, ttl_secs);
        self.jittered(d)
    }

    // ---- inputs ------------------------------------------------------------

    fn on_request(&mut self, now: Instant, from: Addr, msg: &Message) {
        let reply = match &msg.body {
            Body::Ping => Body::Pong { observed: from },
            Body::FindNode { target } => Body::Nodes {
                contacts: self.table.closest(target, self.cfg.k, Some(&msg.sender)),
            },
            Body::FindValue { key } => {
                let values = self.store.get(key, MAX_VALUES);
                if values.is_empty() {
                    Body::Nodes {
                        contacts: self.table.closest(key, self.cfg.k, Some(&msg.sender)),
                    }
                } else {
                    Body::Values { values }
                }
            }
            Body::Store {
                key,
                value,
                ttl_secs,
            } => {
                let stored = value.len() <= MAX_VALUE_LEN
                    && self.apply_store(now, *key, value.clone(), *ttl_secs);
                Body::StoreAck { stored }
            }
            Body::Route {
                route_id,
                origin,
                key,
                sent,
                path,
            } => {
                self.send(from, Message::new(msg.txid, self.id, Body::RouteAck));
                let (route_id, origin, key, sent) = (*route_id, *origin, *key, *sent);
                let path = path.clone();
                return self.on_route(now, route_id, origin, key, sent, &path);
            }
            _ => return,
        };
        self.send(from, Message::new(msg.txid, self.id, reply));
    }

    fn on_response(&mut self, now: Instant, from: Addr, msg: Message) {
        if let Body::RouteResult {
            hops,
            sent,
            loop_detected,
            contacts,
        } = msg.body
        {
            return self.on_route_result(now, msg.txid, hops, sent, loop_detected, contacts);
        }
        // Only an answer from the node (or address) asked is taken.
        let Some(p) = self.rpcs.take_answer(now, from, &msg) else {
            return;
        };
        match (p.purpose, msg.body) {
            (RpcFor::Lookup(id), body) => {
                let Some(l) = self.lookups.get_mut(&id) else {
                    return;
                };
                let Some(depth) = l.list.answered(&msg.sender) else {
                    return;
                };
                match body {
                    Body::Nodes { contacts } => {
                        let own = self.id;
                        let learned: Vec<Contact> =
                            contacts.into_iter().filter(|c| c.id != own).collect();
                        l.list.learn(&learned, depth.saturating_add(1));
                    }
                    Body::Values { values } => {
                        if let Some(read) = l.read.as_mut() {
                            read.add(values, u32::from(depth));
                        }
                    }
                    _ => {}
                }
                self.drive(now, id);
            }
            (RpcFor::Store(id), Body::StoreAck { stored }) => {
                self.store_answered(now, id, Some(stored))
            }
            (RpcFor::Check(bucket), _) => self.table.check_done(bucket),
            (RpcFor::Forward(f), _) => {
                self.forwards.remove(&f);
            }
            (RpcFor::Join(id), Body::Pong { .. }) => {
                if let Some(j) = self.join.as_mut()
                    && !j.lookup_started
                {
                    j.lookup_started = true;
                    self.start_lookup(now, Purpose::Join, self.id, id);
                }
            }
            _ => {}
        }
    }

    /// Requests whose wait ended: retransmit or give up.
    fn on_rpc_deadlines(&mut self, now: Instant) {
        while let Some(e) = self.rpcs.poll_expired(now) {
            match e {
                Expired::Retry(txid) => self.on_rpc_retry(now, txid),
                Expired::Failed(p) => self.on_rpc_failed(now, p.purpose, p.to),
            }
        }
    }

    /// Retransmits a request that was not answered in time.
    fn on_rpc_retry(&mut self, now: Instant, txid: u64) {
        let Some((purpose, to)) = self.rpcs.pending(txid).map(|p| (p.purpose, p.to)) else {
            return;
        };
        let Some((dst, msg)) = self.rpcs.resend(now, txid, crate::recursive::count_resend) else {
            return;
        };
        if let RpcFor::Forward(f) = purpose
            && let Some(fw) = self.forwards.get_mut(&f)
        {
            fw.sent = fw.sent.saturating_add(1);
        }
        self.send(dst, msg);
        self.requests_sent += 1;
        self.count_message(purpose);
        // The lookup stops waiting for it but still takes a late answer.
        if let (RpcFor::Lookup(id), Some(to)) = (purpose, to)
            && let Some(l) = self.lookups.get_mut(&id)
        {
            l.list.stalled(&to);
            self.drive(now, id);
        }
    }

    /// A request and its retransmissions went unanswered.
    fn on_rpc_failed(&mut self, now: Instant, purpose: RpcFor, to: Option<NodeId>) {
        self.request_timeouts += 1;
        if let Some(to) = to {
            let ev = match purpose {
                RpcFor::Check(_) => self.table.evict(&to),
                _ => self
                    .table
                    .failed(&to, self.cfg.stale_after, self.cfg.replace_after),
            };
            self.note_evicted(ev);
        }
        match purpose {
            RpcFor::Lookup(id) => {
                if let (Some(l), Some(to)) = (self.lookups.get_mut(&id), to) {
                    l.list.failed(&to);
                    l.stats.timeouts += 1;
                    self.drive(now, id);
                }
            }
            RpcFor::Store(id) => self.store_answered(now, id, None),
            RpcFor::Check(bucket) => self.table.check_done(bucket),
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
            RpcFor::Join(id) => {
                if let Some(j) = self.join.as_mut() {
                    j.pings_outstanding -= 1;
                    if j.pings_outstanding == 0 && !j.lookup_started {
                        self.join = None;
                        self.phase = Phase::Idle;
                        self.events.push(Event::JoinFailed { id });
                    }
                }
            }
        }
    }

    fn maintain(&mut self, now: Instant) {
        let idle_since = Instant::from_micros(
            now.as_micros()
                .saturating_sub(self.cfg.refresh_interval.as_micros()),
        );
        for b in self.table.idle_buckets(idle_since) {
            self.refresh_bucket(now, b, TrafficClass::RoutingMaintenance);
        }
        self.next_maintenance = now + self.maintenance_period();
    }

    fn republish(&mut self, now: Instant) {
        self.store.expire(now);
        let next = now + self.jittered(self.cfg.republish_interval);
        for (key, value, expires) in self.store.take_due(now, next) {
            let ttl_secs = (expires - now).as_micros().div_ceil(1_000_000) as u32;
            if ttl_secs > 0 {
                let id = self.new_request();
                self.start_lookup(
                    now,
                    Purpose::Store {
                        value,
                        ttl_secs,
                        report: false,
                    },
                    key,
                    id,
                );
            }
        }
        for (key, value, ttl_secs) in self.published.due(now) {
            let next = now + self.publisher_period(ttl_secs);
            self.published.reschedule(key, value.clone(), next);
            let id = self.new_request();
            self.start_lookup(
                now,
                Purpose::Store {
                    value,
                    ttl_secs,
                    report: false,
                },
                key,
                id,
            );
        }
        self.update_store_deadline();
    }
}

impl Protocol for Kademlia {
    fn node_id(&self) -> NodeId {
        self.id
    }

    fn local_addr(&self) -> Addr {
        self.addr
    }

    fn handle_message(&mut self, now: Instant, from: Addr, msg: Message) {
        if !matches!(self.phase, Phase::Joining | Phase::Joined) || msg.sender == self.id {
            return;
        }
        self.note_seen(
            now,
            Contact {
                id: msg.sender,
                addr: from,
            },
        );
        match msg.body.kind() {
            k if is_request(k) => self.on_request(now, from, &msg),
            _ => self.on_response(now, from, msg),
        }
        let routes = &self.routes;
        self.route_timers.prune(|r| routes.contains_key(r));
    }

    fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Idle | Phase::Left) {
            return;
        }
        self.on_rpc_deadlines(now);
        while let Some(route_id) = self.route_timers.pop_due(now) {
            self.on_route_timeout(now, route_id);
        }
        let routes = &self.routes;
        self.route_timers.prune(|r| routes.contains_key(r));
        if self.next_maintenance <= now {
            self.maintain(now);
        }
        if self.store_deadline.is_some_and(|d| d.at <= now) {
            self.republish(now);
        }
    }

    fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<RequestId, CommandError> {
        let joined = self.phase == Phase::Joined;
        match cmd {
            Command::Join { bootstrap } => {
                if self.phase != Phase::Idle {
                    return Err(CommandError::AlreadyJoined);
                }
                let id = self.new_request();
                if bootstrap.is_empty() {
                    self.phase = Phase::Joined;
                    self.next_maintenance = now + self.maintenance_period();
                    self.events.push(Event::Joined { id, neighbours: 0 });
                    return Ok(id);
                }
                self.phase = Phase::Joining;
                self.join = Some(JoinState {
                    pings_outstanding: bootstrap.len() as u32,
                    lookup_started: false,
                });
                for addr in bootstrap {
                    self.request(now, addr, None, Body::Ping, RpcFor::Join(id));
                }
                Ok(id)
            }
            _ if !joined => Err(CommandError::NotJoined),
            Command::Leave => {
                self.phase = Phase::Left;
                self.lookups.clear();
                self.batches.clear();
                self.rpcs.clear();
                self.routes.clear();
                self.route_timers.clear();
                self.forwards.clear();
                self.next_maintenance = Instant::NEVER;
                self.store_deadline = None;
                Ok(self.new_request())
            }
            Command::Lookup {
                target,
                mode: RoutingMode::Recursive,
            } => {
                let id = self.new_request();
                self.start_recursive(now, target, id);
                Ok(id)
            }
            Command::Lookup {
                target,
                mode: RoutingMode::Iterative,
            } => {
                let id = self.new_request();
                self.start_lookup_with(now, Purpose::Lookup, target, id, 1);
                Ok(id)
            }
            Command::Lookup {
                target,
                mode: RoutingMode::ParallelIterative,
            } => {
                let id = self.new_request();
                self.start_lookup(now, Purpose::Lookup, target, id);
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
                self.start_lookup(
                    now,
                    Purpose::Store {
                        value,
                        ttl_secs,
                        report: true,
                    },
                    key,
                    id,
                );
                Ok(id)
            }
            Command::Remove { key, value } => {
                self.published.withdraw(key, value.clone());
                self.update_store_deadline();
                let id = self.new_request();
                self.start_lookup(
                    now,
                    Purpose::Store {
                        value,
                        ttl_secs: 0,
                        report: true,
                    },
                    key,
                    id,
                );
                Ok(id)
            }
        }
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
        let maint = (self.next_maintenance != Instant::NEVER).then_some(Deadline {
            at: self.next_maintenance,
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
        self.table.snapshot()
    }

    fn stats(&self) -> NodeStats {
        NodeStats {
            routing_entries: self.table.len(),
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

fn is_request(k: crate::wire::MsgKind) -> bool {
    k.is_request()
}
