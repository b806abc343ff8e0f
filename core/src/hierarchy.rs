//! The super-node/client hierarchy (after P2PP's peers and clients): how
//! nodes that cannot take part in a DHT still use it.
//!
//! [`Hierarchy`] wraps any DHT [`Protocol`] and gives each node one of two
//! roles ([`Role`]):
//!
//! - **Full** nodes run the inner DHT and serve as super-nodes. Public nodes
//!   and full-cone NATed nodes are full; a NATed full node sends a
//!   [`Body::Keepalive`] every [`HierarchyConfig::keepalive`] to a random
//!   routing-table entry (the node it joined through if it has none), so its
//!   endpoint-independent mapping, the address the rest of the overlay knows
//!   it by, never lapses. The receiver answers it as it answers a client's,
//!   and counts the sender among its attached nodes until it falls silent.
//! - **Client** nodes (behind restricted, port-restricted or symmetric NATs,
//!   or UDP-blocking firewalls) never join the DHT. They attach to a
//!   super-node, a full node from their bootstrap list, with a keepalive that
//!   the super-node answers ([`Body::KeepaliveAck`]) with the client's
//!   address as it sees it and a few backup full nodes. The keepalive repeats
//!   every [`HierarchyConfig::keepalive`], which refreshes the client's NAT
//!   binding towards the super-node. Lookups, gets, puts and removes go to the
//!   super-node as a [`Body::ClientRequest`]; the super-node runs them on its
//!   inner DHT node and answers with a [`Body::ClientAnswer`]; the client
//!   reports the usual [`Event`], with one extra hop and its own messages
//!   counted.
//!
//! The inner DHT never sees a client's packets (the wrapper consumes the four
//! hierarchy message kinds before the inner node sees any datagram), so a
//! client is never in a routing table and a lookup returns full nodes only.
//!
//! **Failure handling.** A client counts a super-node as dead after
//! [`HierarchyConfig::max_missed`] keepalives in a row go unanswered, or a
//! request times out on its last retry but one; it then attaches to the next
//! candidate: the backups it was given, then its bootstrap list. A super-node
//! with [`HierarchyConfig::max_clients`] clients refuses new ones and names
//! its backups instead, which spreads clients over the full nodes.
//!
//! **Where roles come from.** The driver chooses each node's role. In the
//! simulator it follows the node's NAT class; a deployed node would take it
//! from its own [`crate::nat::NatAgent`] classification (a node that finds
//! itself open or behind a full cone runs full).
//!
//! **Traffic accounting.** A client counts its requests and the answers to
//! them under the command's [`TrafficClass`], as the inner DHTs do. Keepalives
//! and their answers belong to no class: the simulator reports them by
//! message kind ([`MsgKind::Keepalive`], [`MsgKind::KeepaliveAck`]).
//!
//! [`MsgKind::Keepalive`]: crate::wire::MsgKind::Keepalive
//! [`MsgKind::KeepaliveAck`]: crate::wire::MsgKind::KeepaliveAck

use crate::addr::Addr;
use crate::id::NodeId;
use crate::protocol::{
    Command, CommandError, Deadline, Event, NodeStats, Protocol, RequestId, RequestStats,
    RouteEntry, TimerReason, TrafficClass, Transmit,
};
use crate::rng::NodeRng;
use crate::time::{Duration, Instant};
use crate::wire::{Body, ClientOp, Contact, MAX_VALUE_LEN, Message};
use rand::{RngExt, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The hierarchy's parameters, shared by all nodes of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct HierarchyConfig {
    /// Keepalive period of clients and NATed full nodes; `None` disables
    /// keepalives (a client then never notices a dead super-node until a
    /// request fails). Default 25 s, well inside a 30 s binding timeout.
    pub keepalive: Option<Duration>,
    /// How long a keepalive waits for its answer. Default 2 s.
    pub keepalive_timeout: Duration,
    /// Unanswered keepalives in a row after which the super-node is dead.
    /// Default 2.
    pub max_missed: u32,
    /// How long a client request waits for the super-node's answer before it
    /// is sent again. It must cover the inner DHT's slowest request. Default 10 s.
    pub request_timeout: Duration,
    /// Retransmissions of a client request. Default 2.
    pub request_retries: u32,
    /// Clients a super-node accepts. Default 32.
    pub max_clients: usize,
    /// Backup full nodes named in each keepalive answer. Default 3.
    pub backups: usize,
    /// How long a super-node remembers a silent client. Default 90 s.
    pub client_ttl: Duration,
    /// How many nodes a lookup result holds (the inner DHT's k or successor
    /// count): a super-node that places itself in a result trims it to this.
    pub result_size: usize,
}

impl Default for HierarchyConfig {
    fn default() -> Self {
        HierarchyConfig {
            keepalive: Some(Duration::from_secs(25)),
            keepalive_timeout: Duration::from_secs(2),
            max_missed: 2,
            request_timeout: Duration::from_secs(10),
            request_retries: 2,
            max_clients: 32,
            backups: 3,
            client_ttl: Duration::from_secs(90),
            result_size: 20,
        }
    }
}

/// A node's place in the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Runs the DHT and serves clients; `keepalive` if it sits behind a NAT
    /// whose mapping must be kept open.
    Full {
        /// Whether to send keepalives.
        keepalive: bool,
    },
    /// Attaches to a super-node and sends its requests through it.
    Client,
}

/// What the hierarchy needs from an inner DHT beyond [`Protocol`].
pub trait Tiered: Protocol {
    /// Puts the super-node's own contact `me` where it belongs in the result
    /// `closest` of a lookup of `target` it ran for a client, trimmed to `k`
    /// nodes. A DHT whose lookups leave out the node that runs them
    /// (Kademlia) must add it; one that includes it (Chord) need not.
    fn place_self(target: &NodeId, closest: &mut Vec<Contact>, me: Contact, k: usize);
}

impl Tiered for crate::kademlia::Kademlia {
    fn place_self(target: &NodeId, closest: &mut Vec<Contact>, me: Contact, k: usize) {
        closest.retain(|c| c.id != me.id);
        let d = me.id.distance(target);
        let at = closest.partition_point(|c| c.id.distance(target) < d);
        closest.insert(at, me);
        closest.truncate(k);
    }
}

impl Tiered for crate::chord::Chord {
    fn place_self(_: &NodeId, _: &mut Vec<Contact>, _: Contact, _: usize) {}
}

/// A client request the super-node is running on its inner node.
#[derive(Clone, Debug)]
struct Serving {
    client: Addr,
    txid: u64,
    target: NodeId,
    /// A lookup (whose result may need the super-node itself in it).
    lookup: bool,
}

/// A super-node: the inner DHT node and its clients.
struct Full<P> {
    inner: P,
    keepalive: bool,
    /// Where keepalives go (the node joined through) and when the next is due.
    keepalive_to: Option<Addr>,
    next_keepalive: Option<Instant>,
    /// Clients by id: their address and when they were last heard from.
    clients: BTreeMap<NodeId, (Addr, Instant)>,
    serving: BTreeMap<RequestId, Serving>,
    /// Client requests in progress, by (client address, txid), to ignore
    /// retransmissions.
    by_txid: BTreeMap<(Addr, u64), RequestId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attach {
    /// Not attached and not trying (before join, after leaving or failing).
    Idle,
    /// A keepalive went to `to` and waits for its answer.
    Trying {
        to: Addr,
        txid: u64,
        until: Instant,
        tries: u32,
    },
    /// Attached to `to`; the next keepalive is due at `next`.
    Attached {
        to: Addr,
        next: Option<Instant>,
        /// An unanswered keepalive and its deadline.
        waiting: Option<(u64, Instant)>,
        missed: u32,
    },
}

/// A client request in flight to the super-node.
#[derive(Clone, Debug)]
struct Asking {
    id: RequestId,
    op: ClientOp,
    started: Instant,
    deadline: Instant,
    sent: u32,
    timeouts: u32,
}

/// A client: its super-node and its requests.
struct Client {
    state: Attach,
    join: Option<RequestId>,
    bootstrap: Vec<Addr>,
    /// Candidates still to try, next last.
    candidates: Vec<Addr>,
    /// Candidates tried since the client was last attached (a refusal never
    /// sends it back to one of them, so referrals cannot loop).
    tried: Vec<Addr>,
    /// When a client that found no super-node starts over from its
    /// bootstrap list.
    retry: Option<Instant>,
    backups: Vec<Contact>,
    asking: BTreeMap<u64, Asking>,
    /// Requests waiting for a super-node.
    queued: Vec<(u64, Asking)>,
    requests_sent: u64,
    request_timeouts: u64,
    traffic: [crate::protocol::ClassTraffic; TrafficClass::COUNT],
    /// Of `traffic`, the answers received.
    received: [crate::protocol::ClassTraffic; TrafficClass::COUNT],
}

enum State<P> {
    Full(Box<Full<P>>),
    Client(Box<Client>),
}

/// A DHT node in the super-node/client hierarchy (see the [module docs](self)).
pub struct Hierarchy<P> {
    cfg: Arc<HierarchyConfig>,
    id: NodeId,
    addr: Addr,
    state: State<P>,
    rng: NodeRng,
    next_txid: u64,
    next_request: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl<P: Tiered> Hierarchy<P> {
    /// A full node running `inner` (its id and address are the inner node's).
    pub fn full(cfg: Arc<HierarchyConfig>, inner: P, keepalive: bool, seed: u64) -> Self {
        Hierarchy {
            cfg,
            id: inner.node_id(),
            addr: inner.local_addr(),
            state: State::Full(Box::new(Full {
                inner,
                keepalive,
                keepalive_to: None,
                next_keepalive: None,
                clients: BTreeMap::new(),
                serving: BTreeMap::new(),
                by_txid: BTreeMap::new(),
            })),
            rng: NodeRng::seed_from_u64(seed),
            next_txid: 0,
            next_request: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// A client with the given id and local address.
    pub fn client(cfg: Arc<HierarchyConfig>, id: NodeId, addr: Addr, seed: u64) -> Self {
        Hierarchy {
            cfg,
            id,
            addr,
            state: State::Client(Box::new(Client {
                state: Attach::Idle,
                join: None,
                bootstrap: Vec::new(),
                candidates: Vec::new(),
                tried: Vec::new(),
                retry: None,
                backups: Vec::new(),
                asking: BTreeMap::new(),
                queued: Vec::new(),
                requests_sent: 0,
                request_timeouts: 0,
                traffic: Default::default(),
                received: Default::default(),
            })),
            rng: NodeRng::seed_from_u64(seed),
            next_txid: 0,
            next_request: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        match &self.state {
            State::Full(f) => Role::Full {
                keepalive: f.keepalive,
            },
            State::Client(_) => Role::Client,
        }
    }

    /// The inner DHT node, if this node is full.
    pub fn inner(&self) -> Option<&P> {
        match &self.state {
            State::Full(f) => Some(&f.inner),
            State::Client(_) => None,
        }
    }

    /// The super-node a client is attached to, if any.
    pub fn super_node(&self) -> Option<Addr> {
        match &self.state {
            State::Client(c) => match c.state {
                Attach::Attached { to, .. } => Some(to),
                _ => None,
            },
            State::Full(_) => None,
        }
    }

    /// Clients a full node currently serves.
    pub fn clients(&self) -> usize {
        match &self.state {
            State::Full(f) => f.clients.len(),
            State::Client(_) => 0,
        }
    }

    fn txid(&mut self) -> u64 {
        self.next_txid += 1;
        // Seeded high bits, so txids do not repeat across sessions.
        (self.rng.random::<u64>() & !0xFFFF_FFFF) | (self.next_txid & 0xFFFF_FFFF)
    }

    fn send(&mut self, dst: Addr, txid: u64, body: Body) {
        self.transmits.push_back(Transmit {
            src: self.addr,
            dst,
            msg: Message::new(txid, self.id, body),
        });
    }

    /// Drains the inner node's outputs, turning the results of client
    /// requests into answers.
    fn pump(&mut self) {
        let State::Full(f) = &mut self.state else {
            return;
        };
        while let Some(t) = f.inner.poll_transmit() {
            self.transmits.push_back(t);
        }
        let me = Contact {
            id: self.id,
            addr: self.addr,
        };
        let k = self.cfg.result_size;
        while let Some(e) = f.inner.poll_event() {
            let (id, stats) = match &e {
                Event::LookupDone { id, stats, .. }
                | Event::GetDone { id, stats, .. }
                | Event::StoreDone { id, stats, .. } => (*id, *stats),
                _ => {
                    self.events.push_back(e);
                    continue;
                }
            };
            let Some(s) = f.serving.remove(&id) else {
                self.events.push_back(e);
                continue;
            };
            f.by_txid.remove(&(s.client, s.txid));
            let (mut contacts, values, replicas) = match e {
                Event::LookupDone { closest, .. } => (closest, Vec::new(), 0),
                Event::GetDone { values, .. } => (Vec::new(), values, 0),
                Event::StoreDone { replicas, .. } => (Vec::new(), Vec::new(), replicas),
                _ => unreachable!("matched above"),
            };
            if s.lookup {
                P::place_self(&s.target, &mut contacts, me, k);
            }
            self.transmits.push_back(Transmit {
                src: self.addr,
                dst: s.client,
                msg: Message::new(
                    s.txid,
                    self.id,
                    Body::ClientAnswer {
                        hops: stats.hops.min(255) as u8,
                        sent: stats.messages.min(u16::MAX as u32) as u16,
                        replicas: replicas.min(255) as u8,
                        contacts,
                        values,
                    },
                ),
            });
        }
    }

    // ---- super-node side ---------------------------------------------------

    fn serve_keepalive(&mut self, now: Instant, from: Addr, msg: &Message) {
        let cfg = self.cfg.clone();
        let State::Full(f) = &mut self.state else {
            return;
        };
        let ttl = cfg.client_ttl;
        f.clients.retain(|_, (_, seen)| now < *seen + ttl);
        let known = f.clients.contains_key(&msg.sender);
        let accepted = known || f.clients.len() < cfg.max_clients;
        if accepted {
            f.clients.insert(msg.sender, (from, now));
        }
        // Backups: a few full nodes from the routing table, chosen at random.
        let mut pool: Vec<Contact> = f.inner.routes().into_iter().map(|r| r.contact).collect();
        pool.sort_unstable();
        pool.dedup();
        let mut backups = Vec::new();
        while backups.len() < cfg.backups && !pool.is_empty() {
            let i = self.rng.random_range(0..pool.len());
            backups.push(pool.swap_remove(i));
        }
        let accepted = accepted || backups.is_empty();
        self.send(
            from,
            msg.txid,
            Body::KeepaliveAck {
                mapped: from,
                accepted,
                backups,
            },
        );
    }

    fn serve_request(&mut self, now: Instant, from: Addr, txid: u64, op: ClientOp) {
        let State::Full(f) = &mut self.state else {
            return;
        };
        if f.by_txid.contains_key(&(from, txid)) {
            return; // a retransmission of a request in progress
        }
        let target = op.key();
        let lookup = matches!(op, ClientOp::Lookup { .. });
        let cmd = match op {
            ClientOp::Lookup { target, mode } => Command::Lookup { target, mode },
            ClientOp::Get { key } => Command::Get { key },
            ClientOp::Put {
                key,
                value,
                ttl_secs,
            } => Command::Put {
                key,
                value,
                ttl_secs,
            },
            ClientOp::Remove { key, value } => Command::Remove { key, value },
        };
        match f.inner.handle_command(now, cmd) {
            Ok(id) => {
                f.serving.insert(
                    id,
                    Serving {
                        client: from,
                        txid,
                        target,
                        lookup,
                    },
                );
                f.by_txid.insert((from, txid), id);
            }
            Err(_) => {
                let body = Body::ClientAnswer {
                    hops: 0,
                    sent: 0,
                    replicas: 0,
                    contacts: Vec::new(),
                    values: Vec::new(),
                };
                self.send(from, txid, body);
            }
        }
    }

    // ---- client side -------------------------------------------------------

    /// Sends a keepalive that asks `to` to take this client.
    fn try_attach(&mut self, now: Instant, to: Addr, tries: u32) {
        let txid = self.txid();
        let until = now + self.cfg.keepalive_timeout;
        if let State::Client(c) = &mut self.state {
            c.state = Attach::Trying {
                to,
                txid,
                until,
                tries,
            };
            if !c.tried.contains(&to) {
                c.tried.push(to);
            }
        }
        self.send(to, txid, Body::Keepalive);
    }

    /// Tries the next candidate super-node (the bootstrap nodes not yet
    /// tried come last), or gives up until one keepalive period later.
    fn next_candidate(&mut self, now: Instant) {
        let period = self.cfg.keepalive.unwrap_or(self.cfg.request_timeout);
        let State::Client(c) = &mut self.state else {
            return;
        };
        if c.candidates.is_empty() {
            let tried = &c.tried;
            c.candidates = c
                .bootstrap
                .iter()
                .rev()
                .filter(|a| !tried.contains(a))
                .copied()
                .collect();
            c.candidates.dedup();
        }
        match c.candidates.pop() {
            Some(to) => self.try_attach(now, to, 0),
            None => {
                c.state = Attach::Idle;
                c.tried.clear();
                c.retry = (c.join.is_none() && !c.bootstrap.is_empty()).then(|| now + period);
                if let Some(id) = c.join.take() {
                    self.events.push_back(Event::JoinFailed { id });
                }
                // Requests waiting for a super-node fail.
                let queued: Vec<(u64, Asking)> = std::mem::take(&mut c.queued);
                for (_, a) in queued {
                    self.fail(now, a);
                }
            }
        }
    }

    /// The super-node seems dead: move to the next candidate, carrying the
    /// requests in flight over to it.
    fn detach(&mut self, now: Instant) {
        let State::Client(c) = &mut self.state else {
            return;
        };
        let dead = match c.state {
            Attach::Attached { to, .. } | Attach::Trying { to, .. } => Some(to),
            Attach::Idle => None,
        };
        if let Some(d) = dead
            && !c.tried.contains(&d)
        {
            c.tried.push(d);
        }
        let tried = &c.tried;
        let backups: Vec<Addr> = c
            .backups
            .drain(..)
            .map(|b| b.addr)
            .filter(|a| !tried.contains(a))
            .collect();
        c.candidates.retain(|a| Some(*a) != dead);
        c.candidates.extend(backups.into_iter().rev());
        let asking: Vec<(u64, Asking)> = std::mem::take(&mut c.asking).into_iter().collect();
        c.queued.extend(asking);
        self.next_candidate(now);
    }

    fn on_keepalive_ack(
        &mut self,
        now: Instant,
        from: Addr,
        txid: u64,
        accepted: bool,
        backups: Vec<Contact>,
    ) {
        let period = self.cfg.keepalive;
        let State::Client(c) = &mut self.state else {
            return;
        };
        match c.state {
            Attach::Trying { to, txid: t, .. } if t == txid && to == from => {
                if !accepted {
                    for b in backups.iter().rev() {
                        if !c.tried.contains(&b.addr) && !c.candidates.contains(&b.addr) {
                            c.candidates.push(b.addr);
                        }
                    }
                    self.next_candidate(now);
                    return;
                }
                c.backups = backups;
                c.candidates.clear();
                c.tried.clear();
                c.state = Attach::Attached {
                    to,
                    next: period.map(|p| now + p),
                    waiting: None,
                    missed: 0,
                };
                if let Some(id) = c.join.take() {
                    self.events.push_back(Event::Joined { id, neighbours: 1 });
                }
                let queued = std::mem::take(&mut c.queued);
                for (t, a) in queued {
                    self.ask(now, t, a);
                }
            }
            Attach::Attached {
                to,
                next,
                waiting: Some((t, _)),
                ..
            } if t == txid && to == from => {
                if !backups.is_empty() {
                    c.backups = backups;
                }
                c.state = Attach::Attached {
                    to,
                    next,
                    waiting: None,
                    missed: 0,
                };
            }
            _ => {}
        }
    }

    /// Sends (or resends) request `a` under txid `t` to the super-node, or
    /// queues it until there is one.
    fn ask(&mut self, now: Instant, t: u64, mut a: Asking) {
        let timeout = self.cfg.request_timeout;
        let (sender, addr) = (self.id, self.addr);
        let State::Client(c) = &mut self.state else {
            return;
        };
        let Attach::Attached { to, .. } = c.state else {
            c.queued.push((t, a));
            return;
        };
        let msg = Message::new(t, sender, Body::ClientRequest { op: a.op.clone() });
        c.traffic[class_of(&a.op).index()].add(msg.encoded_len());
        c.requests_sent += 1;
        a.sent += 1;
        a.deadline = now + timeout;
        c.asking.insert(t, a);
        self.transmits.push_back(Transmit {
            src: addr,
            dst: to,
            msg,
        });
    }

    fn on_answer(&mut self, now: Instant, from: Addr, msg: Message) {
        let len = msg.encoded_len();
        let State::Client(c) = &mut self.state else {
            return;
        };
        let Attach::Attached { to, .. } = c.state else {
            return;
        };
        if to != from {
            return;
        }
        let Some(a) = c.asking.remove(&msg.txid) else {
            return;
        };
        c.traffic[class_of(&a.op).index()].add(len);
        c.received[class_of(&a.op).index()].add(len);
        let Body::ClientAnswer {
            hops,
            sent,
            replicas,
            contacts,
            values,
        } = msg.body
        else {
            return;
        };
        let stats = RequestStats {
            started: a.started,
            finished: now,
            hops: hops as u32 + 1,
            messages: a.sent + sent as u32,
            timeouts: a.timeouts,
            ..RequestStats::default()
        };
        self.events
            .push_back(done(a.id, a.op, contacts, values, replicas as u32, stats));
    }

    /// Reports request `a` as failed (no super-node answered).
    fn fail(&mut self, now: Instant, a: Asking) {
        let stats = RequestStats {
            started: a.started,
            finished: now,
            hops: 0,
            messages: a.sent,
            timeouts: a.timeouts,
            ..RequestStats::default()
        };
        self.events
            .push_back(done(a.id, a.op, Vec::new(), Vec::new(), 0, stats));
    }

    fn client_timeout(&mut self, now: Instant) {
        let cfg = self.cfg.clone();
        let State::Client(c) = &mut self.state else {
            return;
        };
        match c.state {
            Attach::Idle if c.retry.is_some_and(|r| r <= now) => {
                c.retry = None;
                return self.next_candidate(now);
            }
            Attach::Trying {
                to, until, tries, ..
            } if until <= now => {
                if tries < cfg.max_missed {
                    self.try_attach(now, to, tries + 1);
                } else {
                    self.detach(now);
                }
                return self.client_timeout(now);
            }
            Attach::Attached {
                to,
                next,
                waiting,
                missed,
            } => {
                if let Some((_, until)) = waiting
                    && until <= now
                {
                    if missed + 1 >= cfg.max_missed {
                        self.detach(now);
                        return self.client_timeout(now);
                    }
                    let txid = self.txid();
                    if let State::Client(c) = &mut self.state {
                        c.state = Attach::Attached {
                            to,
                            next,
                            waiting: Some((txid, now + cfg.keepalive_timeout)),
                            missed: missed + 1,
                        };
                    }
                    self.send(to, txid, Body::Keepalive);
                } else if let (Some(at), None) = (next, waiting)
                    && at <= now
                {
                    let txid = self.txid();
                    if let State::Client(c) = &mut self.state {
                        c.state = Attach::Attached {
                            to,
                            next: cfg.keepalive.map(|p| now + p),
                            waiting: Some((txid, now + cfg.keepalive_timeout)),
                            missed,
                        };
                    }
                    self.send(to, txid, Body::Keepalive);
                }
            }
            _ => {}
        }
        // Requests whose answer is overdue.
        let State::Client(c) = &mut self.state else {
            return;
        };
        let due: Vec<u64> = c
            .asking
            .iter()
            .filter(|(_, a)| a.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        let mut suspect = false;
        for t in due {
            let State::Client(c) = &mut self.state else {
                return;
            };
            let Some(mut a) = c.asking.remove(&t) else {
                continue;
            };
            a.timeouts += 1;
            c.request_timeouts += 1;
            if a.sent > cfg.request_retries {
                self.fail(now, a);
            } else if a.timeouts >= 2 {
                // The second timeout in a row: the super-node may be gone;
                // the request goes to the next one.
                suspect = true;
                c.queued.push((t, a));
            } else {
                self.ask(now, t, a);
            }
        }
        if suspect {
            self.detach(now);
        }
    }

    fn client_deadline(&self) -> Option<Instant> {
        let State::Client(c) = &self.state else {
            return None;
        };
        let attach = match c.state {
            Attach::Idle => c.retry,
            Attach::Trying { until, .. } => Some(until),
            Attach::Attached { next, waiting, .. } => match waiting {
                Some((_, until)) => Some(until),
                None => next,
            },
        };
        let asks = c.asking.values().map(|a| a.deadline).min();
        attach.into_iter().chain(asks).min()
    }
}

/// The traffic class of a client request.
fn class_of(op: &ClientOp) -> TrafficClass {
    match op {
        ClientOp::Lookup { .. } | ClientOp::Get { .. } => TrafficClass::Lookup,
        ClientOp::Put { .. } | ClientOp::Remove { .. } => TrafficClass::Store,
    }
}

/// The event that ends a client request.
fn done(
    id: RequestId,
    op: ClientOp,
    closest: Vec<Contact>,
    values: Vec<Vec<u8>>,
    replicas: u32,
    stats: RequestStats,
) -> Event {
    match op {
        ClientOp::Lookup { target, .. } => Event::LookupDone {
            id,
            target,
            closest,
            stats,
        },
        // The super node merged its holders' values; to the client its
        // answer is one holder.
        ClientOp::Get { key } => Event::GetDone {
            id,
            key,
            holders: u32::from(!values.is_empty()),
            values,
            stats,
        },
        ClientOp::Put { key, .. } | ClientOp::Remove { key, .. } => Event::StoreDone {
            id,
            key,
            replicas,
            stats,
        },
    }
}

impl<P: Tiered> Protocol for Hierarchy<P> {
    fn node_id(&self) -> NodeId {
        self.id
    }

    fn local_addr(&self) -> Addr {
        self.addr
    }

    fn handle_message(&mut self, now: Instant, from: Addr, msg: Message) {
        match (&mut self.state, &msg.body) {
            (State::Full(_), Body::Keepalive) => self.serve_keepalive(now, from, &msg),
            (State::Full(_), Body::ClientRequest { op }) => {
                let op = op.clone();
                self.serve_request(now, from, msg.txid, op);
            }
            (State::Full(_), Body::KeepaliveAck { .. } | Body::ClientAnswer { .. }) => {}
            (State::Full(f), _) => f.inner.handle_message(now, from, msg),
            (State::Client(_), Body::KeepaliveAck { .. }) => {
                let Body::KeepaliveAck {
                    accepted, backups, ..
                } = msg.body
                else {
                    return;
                };
                self.on_keepalive_ack(now, from, msg.txid, accepted, backups);
            }
            (State::Client(_), Body::ClientAnswer { .. }) => self.on_answer(now, from, msg),
            // A client takes no part in the DHT.
            (State::Client(_), _) => {}
        }
        self.pump();
    }

    fn handle_timeout(&mut self, now: Instant) {
        let keepalive = self.cfg.keepalive;
        match &mut self.state {
            State::Full(f) => {
                f.inner.handle_timeout(now);
                if let (Some(boot), Some(at)) = (f.keepalive_to, f.next_keepalive)
                    && at <= now
                {
                    f.next_keepalive = keepalive.map(|p| now + p);
                    // Any destination refreshes an endpoint-independent
                    // mapping; a random routing entry is likely alive and
                    // spreads the load. The bootstrap node if there is none.
                    let routes = f.inner.routes();
                    let to = if routes.is_empty() {
                        boot
                    } else {
                        routes[self.rng.random_range(0..routes.len())].contact.addr
                    };
                    let txid = self.txid();
                    self.send(to, txid, Body::Keepalive);
                }
            }
            State::Client(_) => self.client_timeout(now),
        }
        self.pump();
    }

    fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<RequestId, CommandError> {
        let keepalive = self.cfg.keepalive;
        let r = match &mut self.state {
            State::Full(f) => {
                if let Command::Join { bootstrap } = &cmd
                    && f.keepalive
                {
                    f.keepalive_to = bootstrap.first().copied();
                    f.next_keepalive = keepalive.map(|p| now + p);
                }
                if matches!(cmd, Command::Leave) {
                    f.next_keepalive = None;
                }
                f.inner.handle_command(now, cmd)
            }
            State::Client(c) => {
                let joined = !matches!(c.state, Attach::Idle) || c.join.is_some();
                match cmd {
                    Command::Join { bootstrap } => {
                        if joined {
                            return Err(CommandError::AlreadyJoined);
                        }
                        self.next_request += 1;
                        let id = RequestId(self.next_request);
                        c.bootstrap = bootstrap;
                        c.candidates = c.bootstrap.iter().rev().copied().collect();
                        c.join = Some(id);
                        self.next_candidate(now);
                        Ok(id)
                    }
                    Command::Leave => {
                        c.state = Attach::Idle;
                        c.retry = None;
                        c.asking.clear();
                        c.queued.clear();
                        c.candidates.clear();
                        c.bootstrap.clear();
                        Ok(RequestId(u64::MAX))
                    }
                    cmd => {
                        if !joined {
                            return Err(CommandError::NotJoined);
                        }
                        let op = match cmd {
                            Command::Lookup { target, mode } => ClientOp::Lookup { target, mode },
                            Command::Get { key } => ClientOp::Get { key },
                            Command::Put {
                                key,
                                value,
                                ttl_secs,
                            } => ClientOp::Put {
                                key,
                                value,
                                ttl_secs,
                            },
                            Command::Remove { key, value } => ClientOp::Remove { key, value },
                            Command::Join { .. } | Command::Leave => unreachable!("matched above"),
                        };
                        if let ClientOp::Put { value, .. } | ClientOp::Remove { value, .. } = &op
                            && value.len() > MAX_VALUE_LEN
                        {
                            return Err(CommandError::ValueTooLong {
                                len: value.len(),
                                max: MAX_VALUE_LEN,
                            });
                        }
                        self.next_request += 1;
                        let id = RequestId(self.next_request);
                        let t = self.txid();
                        let a = Asking {
                            id,
                            op,
                            started: now,
                            deadline: now,
                            sent: 0,
                            timeouts: 0,
                        };
                        self.ask(now, t, a);
                        Ok(id)
                    }
                }
            }
        };
        self.pump();
        r
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_timeout(&self) -> Option<Deadline> {
        match &self.state {
            State::Full(f) => {
                let inner = f.inner.poll_timeout();
                match (inner, f.keepalive_to.and(f.next_keepalive)) {
                    (Some(d), Some(k)) if d.at <= k => Some(d),
                    (_, Some(k)) => Some(Deadline {
                        at: k,
                        reason: TimerReason::Maintenance,
                    }),
                    (d, None) => d,
                }
            }
            State::Client(_) => self.client_deadline().map(|at| Deadline {
                at,
                reason: TimerReason::RpcTimeout,
            }),
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn routes(&self) -> Vec<RouteEntry> {
        match &self.state {
            State::Full(f) => f.inner.routes(),
            State::Client(_) => Vec::new(),
        }
    }

    fn stats(&self) -> NodeStats {
        match &self.state {
            State::Full(f) => f.inner.stats(),
            State::Client(c) => NodeStats {
                requests_sent: c.requests_sent,
                request_timeouts: c.request_timeouts,
                active_lookups: c.asking.len() + c.queued.len(),
                traffic: c.traffic,
                received: c.received,
                ..NodeStats::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::HashAlg;
    use crate::kademlia::{Kademlia, KademliaConfig};
    use crate::protocol::RoutingMode;

    /// Hierarchy nodes over a lossless, zero-delay network; node `i` is at
    /// 10.0.0.(i+1):4000 and can be taken down.
    struct Net {
        nodes: Vec<Hierarchy<Kademlia>>,
        up: Vec<bool>,
        now: Instant,
        events: Vec<(usize, Event)>,
        /// Datagrams sent, by (sender, kind name).
        sent: Vec<(usize, &'static str)>,
    }

    fn addr(i: usize) -> Addr {
        Addr::new([10, 0, 0, i as u8 + 1], 4000)
    }

    impl Net {
        /// `full` full nodes (0 founds the DHT) and `clients` clients.
        fn new(full: usize, clients: usize, cfg: HierarchyConfig) -> Net {
            let h = Arc::new(cfg);
            let kad = Arc::new(KademliaConfig::default());
            let id = |i: usize| NodeId::from_name(HashAlg::Sha1, &format!("node-{i}"));
            let mut nodes = Vec::new();
            for i in 0..full {
                let inner = Kademlia::new(kad.clone(), id(i), addr(i), i as u64);
                nodes.push(Hierarchy::full(h.clone(), inner, false, i as u64));
            }
            for i in full..full + clients {
                nodes.push(Hierarchy::client(h.clone(), id(i), addr(i), i as u64));
            }
            let n = nodes.len();
            Net {
                nodes,
                up: vec![true; n],
                now: Instant::ZERO,
                events: Vec::new(),
                sent: Vec::new(),
            }
        }

        fn command(&mut self, i: usize, cmd: Command) -> RequestId {
            let r = self.nodes[i]
                .handle_command(self.now, cmd)
                .expect("accepted");
            self.deliver();
            r
        }

        fn deliver(&mut self) {
            loop {
                let mut out = Vec::new();
                for (i, n) in self.nodes.iter_mut().enumerate() {
                    while let Some(t) = n.poll_transmit() {
                        out.push((i, t));
                    }
                    while let Some(e) = n.poll_event() {
                        self.events.push((i, e));
                    }
                }
                if out.is_empty() {
                    return;
                }
                for (i, t) in out {
                    self.sent.push((i, t.msg.body.kind().name()));
                    let j = t.dst.ip[3] as usize - 1;
                    if self.up[i] && j < self.nodes.len() && self.up[j] {
                        self.nodes[j].handle_message(self.now, addr(i), t.msg);
                    }
                }
            }
        }

        fn run_until(&mut self, end: Instant) {
            loop {
                let next = (0..self.nodes.len())
                    .filter(|&i| self.up[i])
                    .filter_map(|i| self.nodes[i].poll_timeout().map(|d| d.at))
                    .min();
                match next {
                    Some(t) if t <= end => {
                        self.now = self.now.max(t);
                        for i in 0..self.nodes.len() {
                            if self.up[i]
                                && self.nodes[i]
                                    .poll_timeout()
                                    .is_some_and(|d| d.at <= self.now)
                            {
                                self.nodes[i].handle_timeout(self.now);
                            }
                        }
                        self.deliver();
                    }
                    _ => break,
                }
            }
            self.now = end;
        }

        fn secs(&self, s: u64) -> Instant {
            self.now + Duration::from_secs(s)
        }

        /// Joins the full nodes through node 0, then the clients.
        fn join(&mut self, full: usize) {
            self.command(0, Command::Join { bootstrap: vec![] });
            for i in 1..self.nodes.len() {
                if i == full {
                    let t = self.secs(10);
                    self.run_until(t);
                }
                self.command(
                    i,
                    Command::Join {
                        bootstrap: vec![addr(0)],
                    },
                );
            }
            let t = self.secs(5);
            self.run_until(t);
        }

        fn lookup_done(&self, node: usize, req: RequestId) -> Option<(Vec<Contact>, RequestStats)> {
            self.events.iter().find_map(|(i, e)| match e {
                Event::LookupDone {
                    id, closest, stats, ..
                } if *i == node && *id == req => Some((closest.clone(), *stats)),
                _ => None,
            })
        }
    }

    #[test]
    fn a_client_attaches_and_its_lookup_returns_the_true_closest_full_nodes() {
        let mut net = Net::new(6, 1, HierarchyConfig::default());
        net.join(6);
        assert_eq!(net.nodes[6].super_node(), Some(addr(0)));
        assert!(
            net.events
                .iter()
                .any(|(i, e)| *i == 6 && matches!(e, Event::Joined { .. }))
        );
        assert_eq!(net.nodes[0].clients(), 1);
        let target = NodeId::from_name(HashAlg::Sha1, "key");
        let req = net.command(
            6,
            Command::Lookup {
                target,
                mode: RoutingMode::Iterative,
            },
        );
        let (closest, stats) = net.lookup_done(6, req).expect("answered");
        // Brute force: the six full nodes by XOR distance (k = 20 > 6), the
        // super-node included, the client never.
        let mut truth: Vec<(NodeId, Addr)> =
            (0..6).map(|i| (net.nodes[i].node_id(), addr(i))).collect();
        truth.sort_by_key(|(id, _)| id.distance(&target));
        let got: Vec<(NodeId, Addr)> = closest.iter().map(|c| (c.id, c.addr)).collect();
        assert_eq!(got, truth);
        assert!(stats.hops >= 1 && stats.messages >= 1, "{stats:?}");
        // The inner DHTs never heard of the client.
        for i in 0..6 {
            assert!(
                net.nodes[i]
                    .routes()
                    .iter()
                    .all(|r| r.contact.addr != addr(6))
            );
        }
    }

    #[test]
    fn a_full_super_node_refers_clients_to_its_backups() {
        let cfg = HierarchyConfig {
            max_clients: 1,
            ..HierarchyConfig::default()
        };
        let mut net = Net::new(4, 3, cfg);
        net.join(4);
        let supers: Vec<Option<Addr>> = (4..7).map(|i| net.nodes[i].super_node()).collect();
        assert!(supers.iter().all(Option::is_some), "{supers:?}");
        for s in 0..4 {
            assert!(net.nodes[s].clients() <= 1);
        }
        assert_eq!(supers[0], Some(addr(0)), "the first client is taken");
    }

    #[test]
    fn keepalives_repeat_and_a_dead_super_node_is_replaced() {
        let mut net = Net::new(4, 1, HierarchyConfig::default());
        net.join(4);
        let keepalives = |net: &Net| net.sent.iter().filter(|s| **s == (4, "keepalive")).count();
        let before = keepalives(&net);
        let t = net.secs(100);
        net.run_until(t);
        assert_eq!(keepalives(&net) - before, 4, "one per 25 s");
        // Node 0 dies: two unanswered keepalives later the client is
        // attached to one of the backups node 0 named.
        net.up[0] = false;
        let t = net.secs(30);
        net.run_until(t);
        let s = net.nodes[4].super_node().expect("re-attached");
        assert_ne!(s, addr(0));
        let target = NodeId::from_name(HashAlg::Sha1, "after");
        let req = net.command(
            4,
            Command::Lookup {
                target,
                mode: RoutingMode::Iterative,
            },
        );
        let t = net.secs(20);
        net.run_until(t);
        let (closest, _) = net.lookup_done(4, req).expect("answered");
        assert!(!closest.is_empty() && closest.iter().all(|c| c.addr != addr(4)));
    }
}
