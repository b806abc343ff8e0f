//! The NAT-traversal agent: one sans-IO state machine per node for NAT type
//! discovery, keepalives, the rendezvous role and hole punching.
//!
//! Roles:
//! - **Server** (public nodes, [`NatConfig::serve`]): answers binding
//!   requests, from its alternate port or through its partner when asked,
//!   and acts as rendezvous: every binding request registers its sender
//!   under the address it came from, and a [`Body::Connect`] for a
//!   registered node makes the server introduce both sides to each other
//!   with [`Body::PunchInvite`].
//! - **Client** (every node): classifies itself ([`NatCommand::Classify`],
//!   see [`super::discovery`]), keeps its binding at its rendezvous alive
//!   ([`NatCommand::Attach`], a binding request every
//!   [`NatConfig::keepalive`]; a changed mapped address is reported and
//!   triggers a new classification), and connects to other nodes
//!   ([`NatCommand::Connect`]).
//!
//! A connection attempt (caller side):
//! 1. if the callee's record says it has no UDP, or the caller has none,
//!    the answer is a TCP relay at once;
//! 2. if the callee's reflexive address is known, a direct probe: a
//!    [`Body::ProbeAck`] within [`NatConfig::attempt_timeout`] → direct;
//! 3. else a [`Body::Connect`] to the rendezvous (retried); no invitation →
//!    relay, reason "no rendezvous";
//! 4. on the invitation both sides send [`Body::Probe`]s to each other,
//!    [`NatConfig::probes_per_attempt`] per attempt, every
//!    [`NatConfig::probe_interval`], up to [`NatConfig::punch_attempts`]
//!    attempts. Every probe is answered with a [`Body::ProbeAck`] to the
//!    address it came from, and a probe from an unexpected address (a
//!    symmetric NAT's fresh port) becomes the new probe target, as ICE
//!    learns peer-reflexive candidates. An ack → connected: "direct" when
//!    the caller is public (the callee called back: connection reversal),
//!    otherwise "punched". No ack in any attempt → UDP relay, reason
//!    "probes unanswered".
//!
//! Everything is driven by the caller: [`NatAgent::handle_message`],
//! [`NatAgent::handle_timeout`], [`NatAgent::handle_command`] in;
//! [`NatAgent::poll_transmit`], [`NatAgent::poll_timeout`],
//! [`NatAgent::poll_event`] out. No clock, no sockets; the only randomness
//! is the seeded transaction-id stream.

use std::collections::{BTreeMap, VecDeque};

use rand::{Rng, SeedableRng};

use super::discovery::{Classification, Discovery, DiscoveryServers};
use super::{NatType, RelayKind};
use crate::config::ConfigError;
use crate::protocol::Transmit;
use crate::rng::NodeRng;
use crate::wire::{Body, Change, Contact, Message};
use crate::{Addr, Duration, Instant, NodeId};

/// Timing and roles of a [`NatAgent`].
#[derive(Clone, Debug, PartialEq)]
pub struct NatConfig {
    /// How long a request (binding test, connect) waits for its answer.
    pub request_timeout: Duration,
    /// Retries of an unanswered request.
    pub request_retries: u32,
    /// Interval of keepalive binding requests to the rendezvous; `None`
    /// disables them (and lets NAT bindings expire). Default 25 s, well
    /// inside the 30 s shortest binding timeout measured.
    pub keepalive: Option<Duration>,
    /// Hole-punching attempts.
    pub punch_attempts: u32,
    /// Probes per attempt.
    pub probes_per_attempt: u32,
    /// Time between probes within an attempt.
    pub probe_interval: Duration,
    /// Time from one attempt's start to the next's (also the direct probe's
    /// timeout).
    pub attempt_timeout: Duration,
    /// How long a rendezvous remembers a client after its last keepalive.
    pub registration_ttl: Duration,
    /// The server role, for public nodes.
    pub serve: Option<ServerRole>,
}

/// What a public node offers as discovery server and rendezvous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerRole {
    /// Its alternate port, for [`Change::Port`] answers.
    pub alt_port: u16,
    /// Its partner at another IP, for [`Change::Address`] answers.
    pub partner: Option<Addr>,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            request_timeout: Duration::from_millis(500),
            request_retries: 2,
            keepalive: Some(Duration::from_secs(25)),
            punch_attempts: 3,
            probes_per_attempt: 3,
            probe_interval: Duration::from_millis(50),
            attempt_timeout: Duration::from_secs(1),
            registration_ttl: Duration::from_secs(90),
            serve: None,
        }
    }
}

impl NatConfig {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field, d: Duration| {
            if d.as_micros() == 0 {
                Err(ConfigError::new("nat", field, &d, "a positive duration"))
            } else {
                Ok(())
            }
        };
        positive("request_timeout", self.request_timeout)?;
        positive("probe_interval", self.probe_interval)?;
        positive("attempt_timeout", self.attempt_timeout)?;
        positive("registration_ttl", self.registration_ttl)?;
        if let Some(k) = self.keepalive {
            positive("keepalive", k)?;
        }
        if self.punch_attempts == 0 {
            return Err(ConfigError::new("nat", "punch_attempts", &0, "at least 1"));
        }
        if self.probes_per_attempt == 0 {
            return Err(ConfigError::new(
                "nat",
                "probes_per_attempt",
                &0,
                "at least 1",
            ));
        }
        let spread = self
            .probe_interval
            .as_micros()
            .saturating_mul(u64::from(self.probes_per_attempt - 1));
        if spread >= self.attempt_timeout.as_micros() {
            return Err(ConfigError::new(
                "nat",
                "attempt_timeout",
                &self.attempt_timeout,
                "longer than probe_interval × (probes_per_attempt − 1)",
            ));
        }
        Ok(())
    }
}

/// What the application asks of the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatCommand {
    /// Classify this node's NAT against the given servers.
    Classify(DiscoveryServers),
    /// Keep a binding alive at `rendezvous`, which registers this node there.
    Attach {
        /// The rendezvous (the node's super-node, or any public contact).
        rendezvous: Addr,
    },
    /// The node's local address changed (a new interface or DHCP lease):
    /// re-classify against the last servers.
    LocalAddressChanged(Addr),
    /// Connect to another node, as its contact record describes it.
    Connect(ConnectRequest),
}

/// A connection request: what the caller knows of the callee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    /// The callee.
    pub target: NodeId,
    /// Its reflexive address, if its record has one.
    pub reflexive: Option<Addr>,
    /// Its NAT class, if its record says.
    pub nat: Option<NatType>,
    /// A rendezvous the callee is attached to.
    pub rendezvous: Addr,
}

/// How a connection attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// The callee answered a probe to its address, or (public caller) the
    /// callee called back.
    Direct,
    /// Simultaneous probes opened both NATs.
    Punched {
        /// The attempt that succeeded (1-based).
        attempt: u32,
        /// Whether the caller learned the callee's address from its probes
        /// (a symmetric NAT's fresh port).
        peer_reflexive: bool,
    },
    /// Media needs a relay.
    NeedsRelay {
        /// UDP (TURN-like) or TCP.
        kind: RelayKind,
        /// Why.
        reason: RelayCause,
    },
}

/// Why a connection needs a relay, as the agent saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RelayCause {
    /// This node or the callee has no UDP.
    UdpBlocked,
    /// The rendezvous never introduced the two sides (unreachable, or the
    /// callee is not registered there, e.g. its binding expired).
    NoRendezvous,
    /// Every punching attempt went unanswered.
    ProbesUnanswered,
}

impl ConnectOutcome {
    /// The oracle's view of this outcome, for comparison with
    /// [`super::connectivity`].
    pub fn connectivity(self) -> super::Connectivity {
        use super::{Connectivity, RelayReason};
        match self {
            ConnectOutcome::Direct => Connectivity::Direct,
            ConnectOutcome::Punched { .. } => Connectivity::Punched,
            ConnectOutcome::NeedsRelay { kind, reason } => Connectivity::Relay(
                kind,
                match reason {
                    RelayCause::UdpBlocked => RelayReason::UdpBlocked,
                    RelayCause::NoRendezvous | RelayCause::ProbesUnanswered => {
                        RelayReason::PunchFailed
                    }
                },
            ),
        }
    }
}

/// What the agent reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatEvent {
    /// A classification finished.
    Classified(Classification),
    /// A keepalive answer carried a different mapped address than before.
    ReflexiveChanged {
        /// The address known until now.
        old: Addr,
        /// The address the rendezvous now sees.
        new: Addr,
    },
    /// A connection attempt this node started ended.
    Connected {
        /// The callee.
        target: NodeId,
        /// How.
        outcome: ConnectOutcome,
        /// The callee's address for media, if end to end.
        peer: Option<Addr>,
    },
    /// A connection another node started reached this node (callee side).
    Accepted {
        /// The caller.
        peer: Contact,
    },
}

/// Traffic the agent sent, for overhead accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatTraffic {
    /// Keepalive binding requests sent.
    pub keepalives: u64,
    /// Binding requests sent for classification.
    pub discovery: u64,
    /// Probes and acks sent.
    pub probes: u64,
    /// Messages sent as server or rendezvous.
    pub served: u64,
    /// Bytes of all of the above.
    pub bytes: u64,
}

/// An outstanding request and what its answer means.
#[derive(Clone, Copy, Debug)]
struct Pending {
    purpose: Purpose,
    dst: Addr,
    body_change: Option<Change>,
    deadline: Instant,
    tries_left: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Discovery,
    Keepalive,
    /// A connect request for the session with this txid.
    Connect,
}

/// A connection attempt in progress, keyed by its session id (the txid of
/// every message that belongs to it).
#[derive(Clone, Debug)]
struct Session {
    peer_id: NodeId,
    caller: bool,
    phase: Phase,
    /// Where probes go (updated on a probe from elsewhere).
    target: Option<Addr>,
    learned: bool,
    attempt: u32,
    probes_left: u32,
    next_probe: Instant,
    attempt_end: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A single probe to the known reflexive address.
    Direct,
    /// Waiting for the rendezvous's invitation.
    Rendezvous,
    /// Probing.
    Punching,
}

/// A client registered with this node as rendezvous.
#[derive(Clone, Copy, Debug)]
struct Registration {
    addr: Addr,
    expires: Instant,
}

/// The NAT-traversal state machine of one node.
#[derive(Debug)]
pub struct NatAgent {
    cfg: NatConfig,
    id: NodeId,
    local: Addr,
    rng: NodeRng,
    classification: Option<Classification>,
    discovery: Option<Discovery>,
    servers: Option<DiscoveryServers>,
    rendezvous: Option<Addr>,
    reflexive: Option<Addr>,
    next_keepalive: Option<Instant>,
    pending: BTreeMap<u64, Pending>,
    sessions: BTreeMap<u64, Session>,
    /// Direct probes in flight: probe txid → session id. A direct probe has
    /// its own txid so its answer is told apart from punching acks.
    direct: BTreeMap<u64, u64>,
    /// The rendezvous of each session this node started.
    session_rendezvous: BTreeMap<u64, Addr>,
    registry: BTreeMap<NodeId, Registration>,
    out: VecDeque<Transmit>,
    events: VecDeque<NatEvent>,
    traffic: NatTraffic,
}

impl NatAgent {
    /// A new agent for the node `id` at local address `local`, with its
    /// transaction ids drawn from `seed`. `cfg` should have been validated.
    pub fn new(cfg: NatConfig, id: NodeId, local: Addr, seed: u64) -> Self {
        NatAgent {
            cfg,
            id,
            local,
            rng: NodeRng::seed_from_u64(seed),
            classification: None,
            discovery: None,
            servers: None,
            rendezvous: None,
            reflexive: None,
            next_keepalive: None,
            pending: BTreeMap::new(),
            sessions: BTreeMap::new(),
            direct: BTreeMap::new(),
            session_rendezvous: BTreeMap::new(),
            registry: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            traffic: NatTraffic::default(),
        }
    }

    /// The latest classification.
    pub fn classification(&self) -> Option<Classification> {
        self.classification
    }

    /// The node's reflexive address as its rendezvous last saw it.
    pub fn reflexive(&self) -> Option<Addr> {
        self.reflexive
            .or_else(|| self.classification.and_then(|c| c.reflexive))
    }

    /// Traffic sent so far.
    pub fn traffic(&self) -> NatTraffic {
        self.traffic
    }

    /// Nodes registered with this node as rendezvous at `now`.
    pub fn registered(&self, now: Instant) -> usize {
        self.registry.values().filter(|r| r.expires > now).count()
    }

    /// An application command at `now`.
    pub fn handle_command(&mut self, now: Instant, cmd: NatCommand) {
        match cmd {
            NatCommand::Classify(servers) => self.start_discovery(now, servers),
            NatCommand::Attach { rendezvous } => {
                self.rendezvous = Some(rendezvous);
                self.send_keepalive(now);
            }
            NatCommand::LocalAddressChanged(addr) => {
                self.local = addr;
                if let Some(s) = self.servers {
                    self.start_discovery(now, s);
                }
            }
            NatCommand::Connect(req) => self.start_connect(now, req),
        }
    }

    /// A datagram `msg` from `from`, received on the local endpoint `at`
    /// (the main address or the server's alternate port).
    pub fn handle_message(&mut self, now: Instant, from: Addr, at: Addr, msg: Message) {
        let txid = msg.txid;
        match msg.body {
            Body::Binding { change } => self.serve_binding(now, from, at, txid, msg.sender, change),
            Body::BindingRelay { reply_to } if self.cfg.serve.is_some() => {
                let body = Body::BindingAnswer { mapped: reply_to };
                self.send_served(self.local, reply_to, txid, body);
            }
            Body::BindingAnswer { mapped } => self.on_binding_answer(now, txid, mapped),
            Body::Connect { target } => self.serve_connect(now, from, txid, msg.sender, target),
            Body::PunchInvite { peer } => self.on_invite(now, txid, peer),
            Body::Probe => {
                self.send_probe_msg(from, txid, Body::ProbeAck);
                if let Some(s) = self.sessions.get_mut(&txid)
                    && s.phase == Phase::Punching
                    && s.target != Some(from)
                {
                    s.target = Some(from);
                    s.learned = true;
                }
            }
            Body::ProbeAck => self.on_probe_ack(txid, from),
            _ => {}
        }
    }

    /// Timers due at or before `now` fire.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&t, _)| t)
            .collect();
        for txid in due {
            self.request_timed_out(now, txid);
        }
        if self.next_keepalive.is_some_and(|t| t <= now) {
            self.send_keepalive(now);
        }
        let due: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.phase != Phase::Rendezvous && s.next_probe.min(s.attempt_end) <= now)
            .map(|(&t, _)| t)
            .collect();
        for txid in due {
            self.session_tick(now, txid);
        }
        self.registry.retain(|_, r| r.expires > now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When [`NatAgent::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.deadline);
        let sessions = self
            .sessions
            .values()
            .filter(|s| s.phase != Phase::Rendezvous)
            .map(|s| s.next_probe.min(s.attempt_end));
        pending.chain(sessions).chain(self.next_keepalive).min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.pop_front()
    }

    // ---- client: discovery and keepalives -------------------------------

    fn start_discovery(&mut self, now: Instant, servers: DiscoveryServers) {
        self.servers = Some(servers);
        self.pending.retain(|_, p| p.purpose != Purpose::Discovery);
        self.discovery = Some(Discovery::new(servers, self.local));
        self.next_discovery_test(now);
    }

    fn next_discovery_test(&mut self, now: Instant) {
        let Some(d) = &self.discovery else { return };
        match d.next_test() {
            Some(t) => self.request(now, Purpose::Discovery, t.dst, t.change),
            None => {
                if let Some(c) = d.result() {
                    self.classification = Some(c);
                    self.events.push_back(NatEvent::Classified(c));
                }
                self.discovery = None;
            }
        }
    }

    fn send_keepalive(&mut self, now: Instant) {
        let Some(rv) = self.rendezvous else { return };
        self.pending.retain(|_, p| p.purpose != Purpose::Keepalive);
        self.request(now, Purpose::Keepalive, rv, Change::None);
        self.next_keepalive = self.cfg.keepalive.map(|k| now + k);
    }

    fn on_binding_answer(&mut self, now: Instant, txid: u64, mapped: Addr) {
        let Some(p) = self.pending.remove(&txid) else {
            return;
        };
        match p.purpose {
            Purpose::Discovery => {
                if let Some(d) = &mut self.discovery {
                    d.record(Some(mapped));
                }
                self.next_discovery_test(now);
            }
            Purpose::Keepalive => {
                let old = self.reflexive();
                self.reflexive = Some(mapped);
                if let Some(old) = old
                    && old != mapped
                {
                    self.events
                        .push_back(NatEvent::ReflexiveChanged { old, new: mapped });
                    if let Some(s) = self.servers {
                        self.start_discovery(now, s);
                    }
                }
            }
            Purpose::Connect => {}
        }
    }

    // ---- requests with retries ----------------------------------------

    fn request(&mut self, now: Instant, purpose: Purpose, dst: Addr, change: Change) {
        let txid = self.rng.next_u64();
        let p = Pending {
            purpose,
            dst,
            body_change: Some(change),
            deadline: now + self.cfg.request_timeout,
            tries_left: self.cfg.request_retries,
        };
        self.pending.insert(txid, p);
        self.send_request(txid, &p);
    }

    fn send_request(&mut self, txid: u64, p: &Pending) {
        let body = match (p.purpose, p.body_change) {
            (Purpose::Connect, _) => match self.sessions.get(&txid) {
                Some(s) => Body::Connect { target: s.peer_id },
                None => return,
            },
            (_, change) => Body::Binding {
                change: change.unwrap_or(Change::None),
            },
        };
        let msg = Message::new(txid, self.id, body);
        self.traffic.bytes += msg.encoded_len() as u64;
        match p.purpose {
            Purpose::Discovery => self.traffic.discovery += 1,
            Purpose::Keepalive => self.traffic.keepalives += 1,
            Purpose::Connect => self.traffic.probes += 1,
        }
        self.out.push_back(Transmit {
            src: self.local,
            dst: p.dst,
            msg,
        });
    }

    fn request_timed_out(&mut self, now: Instant, txid: u64) {
        let Some(mut p) = self.pending.remove(&txid) else {
            return;
        };
        if p.tries_left > 0 {
            p.tries_left -= 1;
            p.deadline = now + self.cfg.request_timeout;
            self.pending.insert(txid, p);
            self.send_request(txid, &p);
            return;
        }
        match p.purpose {
            Purpose::Discovery => {
                if let Some(d) = &mut self.discovery {
                    d.record(None);
                }
                self.next_discovery_test(now);
            }
            Purpose::Keepalive => {}
            Purpose::Connect => {
                // A direct probe still in flight may yet succeed; its own
                // timer decides then.
                let direct = self.sessions.get(&txid).map(|s| s.phase) == Some(Phase::Direct);
                if !direct {
                    self.fail(txid, RelayKind::Udp, RelayCause::NoRendezvous);
                }
            }
        }
    }

    // ---- client: connections ------------------------------------------

    fn start_connect(&mut self, now: Instant, req: ConnectRequest) {
        let txid = self.rng.next_u64();
        let blocked = |t: Option<NatType>| t == Some(NatType::UdpBlocked);
        if blocked(self.classification.map(|c| c.nat_type)) || blocked(req.nat) {
            let outcome = ConnectOutcome::NeedsRelay {
                kind: RelayKind::Tcp,
                reason: RelayCause::UdpBlocked,
            };
            self.events.push_back(NatEvent::Connected {
                target: req.target,
                outcome,
                peer: None,
            });
            return;
        }
        let mut s = Session {
            peer_id: req.target,
            caller: true,
            phase: Phase::Rendezvous,
            target: req.reflexive,
            learned: false,
            attempt: 0,
            probes_left: 0,
            next_probe: now,
            attempt_end: now + self.cfg.attempt_timeout,
        };
        if let Some(addr) = req.reflexive {
            s.phase = Phase::Direct;
            s.next_probe = now + self.cfg.attempt_timeout;
            self.sessions.insert(txid, s);
            let probe = self.rng.next_u64();
            self.direct.insert(probe, txid);
            self.send_probe_msg(addr, probe, Body::Probe);
        } else {
            self.sessions.insert(txid, s);
        }
        self.session_rendezvous.insert(txid, req.rendezvous);
        // The rendezvous request goes out at once, in parallel with the
        // direct probe, so a failed direct probe costs no extra round trip.
        let p = Pending {
            purpose: Purpose::Connect,
            dst: req.rendezvous,
            body_change: None,
            deadline: now + self.cfg.request_timeout,
            tries_left: self.cfg.request_retries,
        };
        self.pending.insert(txid, p);
        self.send_request(txid, &p);
    }

    fn on_invite(&mut self, now: Instant, txid: u64, peer: Contact) {
        self.pending.remove(&txid);
        let session = self.sessions.entry(txid).or_insert_with(|| Session {
            peer_id: peer.id,
            caller: false,
            phase: Phase::Rendezvous,
            target: None,
            learned: false,
            attempt: 0,
            probes_left: 0,
            next_probe: now,
            attempt_end: now,
        });
        if session.phase == Phase::Punching {
            return;
        }
        if session.target != Some(peer.addr) {
            session.target = Some(peer.addr);
        }
        session.phase = Phase::Punching;
        if !session.caller {
            self.events.push_back(NatEvent::Accepted { peer });
        }
        self.begin_attempt(now, txid);
    }

    fn begin_attempt(&mut self, now: Instant, txid: u64) {
        let (probes, timeout) = (self.cfg.probes_per_attempt, self.cfg.attempt_timeout);
        let Some(s) = self.sessions.get_mut(&txid) else {
            return;
        };
        s.attempt += 1;
        s.probes_left = probes;
        s.next_probe = now;
        s.attempt_end = now + timeout;
        self.session_tick(now, txid);
    }

    fn session_tick(&mut self, now: Instant, txid: u64) {
        let Some(s) = self.sessions.get(&txid).cloned() else {
            return;
        };
        match s.phase {
            Phase::Rendezvous => {}
            Phase::Direct => {
                if s.next_probe <= now {
                    // The direct probe went unanswered: wait for the
                    // rendezvous (its request is already out).
                    if let Some(x) = self.sessions.get_mut(&txid) {
                        x.phase = Phase::Rendezvous;
                    }
                    if !self.pending.contains_key(&txid) {
                        self.fail(txid, RelayKind::Udp, RelayCause::NoRendezvous);
                    }
                }
            }
            Phase::Punching => {
                if s.attempt_end <= now {
                    if s.attempt >= self.cfg.punch_attempts {
                        if s.caller {
                            self.fail(txid, RelayKind::Udp, RelayCause::ProbesUnanswered);
                        } else {
                            self.sessions.remove(&txid);
                        }
                    } else {
                        if s.caller {
                            // The callee's invitation may have been lost:
                            // ask the rendezvous again, which re-invites both.
                            self.resend_connect(txid);
                        }
                        self.begin_attempt(now, txid);
                    }
                    return;
                }
                if s.probes_left > 0 && s.next_probe <= now {
                    if let Some(dst) = s.target {
                        self.send_probe_msg(dst, txid, Body::Probe);
                    }
                    if let Some(x) = self.sessions.get_mut(&txid) {
                        x.probes_left -= 1;
                        x.next_probe = if x.probes_left > 0 {
                            now + self.cfg.probe_interval
                        } else {
                            x.attempt_end
                        };
                    }
                }
            }
        }
    }

    fn resend_connect(&mut self, txid: u64) {
        let (Some(s), Some(rv)) = (self.sessions.get(&txid), self.session_rendezvous.get(&txid))
        else {
            return;
        };
        let msg = Message::new(txid, self.id, Body::Connect { target: s.peer_id });
        self.traffic.probes += 1;
        self.traffic.bytes += msg.encoded_len() as u64;
        self.out.push_back(Transmit {
            src: self.local,
            dst: *rv,
            msg,
        });
    }

    fn on_probe_ack(&mut self, txid: u64, from: Addr) {
        let (session, direct) = match self.direct.remove(&txid) {
            Some(session) => (session, true),
            None => (txid, false),
        };
        let Some(s) = self.sessions.remove(&session) else {
            return;
        };
        self.pending.remove(&session);
        self.direct.retain(|_, v| *v != session);
        self.session_rendezvous.remove(&session);
        if !s.caller {
            return;
        }
        let public = self.classification.map(|c| c.nat_type) == Some(NatType::Open);
        let outcome = match s.phase {
            _ if direct || public => ConnectOutcome::Direct,
            Phase::Direct | Phase::Rendezvous => ConnectOutcome::Direct,
            Phase::Punching => ConnectOutcome::Punched {
                attempt: s.attempt,
                peer_reflexive: s.learned,
            },
        };
        self.events.push_back(NatEvent::Connected {
            target: s.peer_id,
            outcome,
            peer: Some(from),
        });
    }

    fn fail(&mut self, txid: u64, kind: RelayKind, reason: RelayCause) {
        self.pending.remove(&txid);
        self.direct.retain(|_, v| *v != txid);
        self.session_rendezvous.remove(&txid);
        if let Some(s) = self.sessions.remove(&txid) {
            self.events.push_back(NatEvent::Connected {
                target: s.peer_id,
                outcome: ConnectOutcome::NeedsRelay { kind, reason },
                peer: None,
            });
        }
    }

    fn send_probe_msg(&mut self, dst: Addr, txid: u64, body: Body) {
        let msg = Message::new(txid, self.id, body);
        self.traffic.probes += 1;
        self.traffic.bytes += msg.encoded_len() as u64;
        self.out.push_back(Transmit {
            src: self.local,
            dst,
            msg,
        });
    }

    // ---- server: bindings and rendezvous ------------------------------

    fn serve_binding(
        &mut self,
        now: Instant,
        from: Addr,
        at: Addr,
        txid: u64,
        sender: NodeId,
        change: Change,
    ) {
        let Some(role) = self.cfg.serve else { return };
        // Only requests to the main port register: a symmetric NAT maps the
        // alternate port to another external port, which the rendezvous
        // could not reach from its main port.
        if at == self.local {
            self.registry.insert(
                sender,
                Registration {
                    addr: from,
                    expires: now + self.cfg.registration_ttl,
                },
            );
        }
        let answer = Body::BindingAnswer { mapped: from };
        match change {
            Change::None => self.send_served(at, from, txid, answer),
            Change::Port => {
                let alt = Addr::new(self.local.ip, role.alt_port);
                self.send_served(alt, from, txid, answer);
            }
            Change::Address => {
                if let Some(partner) = role.partner {
                    let relay = Body::BindingRelay { reply_to: from };
                    self.send_served(self.local, partner, txid, relay);
                }
            }
        }
    }

    fn serve_connect(
        &mut self,
        now: Instant,
        from: Addr,
        txid: u64,
        sender: NodeId,
        target: NodeId,
    ) {
        if self.cfg.serve.is_none() {
            return;
        }
        let Some(reg) = self.registry.get(&target).copied() else {
            return;
        };
        if reg.expires <= now {
            return;
        }
        let to_callee = Body::PunchInvite {
            peer: Contact {
                id: sender,
                addr: from,
            },
        };
        let to_caller = Body::PunchInvite {
            peer: Contact {
                id: target,
                addr: reg.addr,
            },
        };
        self.send_served(self.local, reg.addr, txid, to_callee);
        self.send_served(self.local, from, txid, to_caller);
    }

    fn send_served(&mut self, src: Addr, dst: Addr, txid: u64, body: Body) {
        let msg = Message::new(txid, self.id, body);
        self.traffic.served += 1;
        self.traffic.bytes += msg.encoded_len() as u64;
        self.out.push_back(Transmit { src, dst, msg });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_bad_values_are_named() {
        assert_eq!(NatConfig::default().validate(), Ok(()));
        let bad = NatConfig {
            attempt_timeout: Duration::from_millis(50),
            ..NatConfig::default()
        };
        let e = bad.validate().expect_err("probes overrun the attempt");
        assert_eq!(e.field, "attempt_timeout");
        let bad = NatConfig {
            punch_attempts: 0,
            ..NatConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("punch_attempts"));
    }

    fn agent(serve: bool, ip: u8) -> NatAgent {
        let cfg = NatConfig {
            serve: serve.then_some(ServerRole {
                alt_port: 3479,
                partner: None,
            }),
            ..NatConfig::default()
        };
        NatAgent::new(
            cfg,
            NodeId([ip; 20]),
            Addr::new([198, 51, 100, ip], 3478),
            7,
        )
    }

    #[test]
    fn a_server_answers_from_the_port_asked_for_and_registers_the_sender() {
        let mut s = agent(true, 1);
        let client = Addr::new([203, 0, 113, 9], 40000);
        let main = Addr::new([198, 51, 100, 1], 3478);
        let req = |change| Message::new(5, NodeId([9; 20]), Body::Binding { change });
        s.handle_message(Instant::ZERO, client, main, req(Change::Port));
        let t = s.poll_transmit().expect("answer");
        assert_eq!(t.src.port, 3479);
        assert_eq!(t.dst, client);
        assert_eq!(t.msg.body, Body::BindingAnswer { mapped: client });
        assert_eq!(s.registered(Instant::ZERO), 1);
        // Without a partner, a change-address request goes unanswered.
        s.handle_message(Instant::ZERO, client, main, req(Change::Address));
        assert_eq!(s.poll_transmit(), None);
        // Registrations expire.
        assert_eq!(s.registered(Instant::from_secs(91)), 0);
    }

    #[test]
    fn unanswered_requests_retry_then_give_up() {
        let mut c = agent(false, 2);
        let servers = DiscoveryServers {
            primary: Addr::new([198, 51, 100, 1], 3478),
            alt_port: 3479,
            partner: Addr::new([198, 51, 100, 3], 3478),
        };
        c.handle_command(Instant::ZERO, NatCommand::Classify(servers));
        let mut sent = 0;
        let mut now = Instant::ZERO;
        loop {
            while c.poll_transmit().is_some() {
                sent += 1;
            }
            if let Some(NatEvent::Classified(x)) = c.poll_event() {
                assert_eq!(x.nat_type, NatType::UdpBlocked);
                break;
            }
            now = c.poll_timeout().expect("a retry timer");
            c.handle_timeout(now);
        }
        assert_eq!(sent, 3, "one request and two retries");
        assert_eq!(now, Instant::from_millis(1500));
    }
}
