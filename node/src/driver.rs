//! The event loop: one task owns the core node and feeds it datagrams, timer
//! expiries and control requests, then drains what the node wants sent and
//! what it reports. It drives any DHT through the [`Protocol`] trait; the
//! little it needs beyond it is [`LiveDht`].
//!
//! Beside the DHT it drives two more sans-IO pieces: a
//! [`peerlab_core::registration::Registrar`] (`ctl register`, refreshed on its
//! timer, removed on graceful leave) and a [`peerlab_core::media::MediaEngine`]
//! (`ctl call`, answering calls, relaying). Media-kind datagrams go to the
//! engine, the rest to the DHT. Both run on the *media clock*, microseconds
//! since the Unix epoch ([`media_clock_offset`]), so contact-record expiry
//! times and frame timestamps mean the same on every node of the host.

use crate::NodeInfo;
use crate::control::{
    CtlCall, CtlContact, CtlCost, CtlDirection, CtlMsg, CtlRecord, CtlRelay, CtlReply, CtlRequest,
    CtlRoute, CtlStats,
};
use crate::error::NodeError;
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::media::{
    self, CallSpec, CallSummary, DirectionReport, MediaEngine, MediaEvent, MediaProfile,
};
use peerlab_core::protocol::{CommandError, RequestStats, RoutingMode};
use peerlab_core::registration::{self, ContactRecord, Registrar, RegistrarConfig};
use peerlab_core::{Addr, Command, Event, HashAlg, Instant, Message, NodeId, Protocol, RequestId};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration as StdDuration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Put lifetime when the request names none.
pub(crate) const DEFAULT_TTL_SECS: u32 = 3600;
/// Wait between join attempts after a failed join.
const JOIN_RETRY: StdDuration = StdDuration::from_secs(3);
/// Receive buffer: the largest UDP payload plus one byte, so oversize datagrams are seen as such.
const RECV_BUF: usize = 65_536;
/// Contact-record lifetime (SIP's default `Expires`) and refresh period.
pub(crate) const REGISTRATION: (u32, u32) = (3600, 1800);
/// Longest call `ctl call` places, in seconds.
const MAX_CALL_SECS: f64 = 3600.0;
/// Most relay candidates `ctl call` takes.
const MAX_CALL_RELAYS: usize = 8;
/// The range of `ctl call`'s detection time, ms: at least a few voice
/// frames (shorter would fail over on ordinary jitter), at most a minute.
const DETECT_MS: (u64, u64) = (60, 60_000);
/// How long a graceful leave waits for its registrations to be removed.
const LEAVE_GRACE: StdDuration = StdDuration::from_secs(5);

/// The media clock's offset for a loop whose core time starts at `origin`:
/// microseconds since the Unix epoch at `origin`. The epoch is read once per
/// process, so every node in a process shares one media clock exactly; nodes
/// in different processes share the host clock up to each process's reading.
pub(crate) fn media_clock_offset(origin: tokio::time::Instant) -> u64 {
    static ANCHOR: std::sync::OnceLock<(std::time::Instant, u64)> = std::sync::OnceLock::new();
    let (at, epoch_us) = *ANCHOR.get_or_init(|| {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (
            std::time::Instant::now(),
            u64::try_from(since.as_micros()).unwrap_or(0),
        )
    });
    let origin = origin.into_std();
    let ahead = origin.saturating_duration_since(at).as_micros();
    let behind = at.saturating_duration_since(origin).as_micros();
    (u128::from(epoch_us) + ahead)
        .saturating_sub(behind)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The core address for a socket address, if it is IPv4.
pub(crate) fn to_core(addr: SocketAddr) -> Option<Addr> {
    match addr {
        SocketAddr::V4(a) => Some(Addr::new(a.ip().octets(), a.port())),
        SocketAddr::V6(_) => None,
    }
}

/// The socket address for a core address.
pub(crate) fn to_std(addr: Addr) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(addr.ip), addr.port))
}

/// What the driver needs from a DHT beyond [`Protocol`].
pub(crate) trait LiveDht: Protocol + Send + 'static {
    /// The protocol's name, for `ctl routes` and logs.
    const NAME: &'static str;
    /// How `ctl lookup` routes: the protocol's paper default.
    const ROUTING: RoutingMode;
    /// The hash that maps names to keys.
    fn hash(&self) -> HashAlg;
    /// Whether the node has joined and not left.
    fn joined(&self) -> bool;
}

impl LiveDht for Kademlia {
    const NAME: &'static str = "kademlia";
    const ROUTING: RoutingMode = KademliaConfig::DEFAULT_ROUTING;
    fn hash(&self) -> HashAlg {
        self.config().hash
    }
    fn joined(&self) -> bool {
        self.is_joined()
    }
}

impl LiveDht for Chord {
    const NAME: &'static str = "chord";
    const ROUTING: RoutingMode = ChordConfig::DEFAULT_ROUTING;
    fn hash(&self) -> HashAlg {
        self.config().hash
    }
    fn joined(&self) -> bool {
        self.is_joined()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    datagrams_sent: u64,
    bytes_sent: u64,
    datagrams_received: u64,
    bytes_received: u64,
    decode_errors: u64,
    send_errors: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaitKind {
    Lookup,
    Get,
    Put,
    Remove,
}

/// A registration-level request waiting for a DHT command to finish.
enum RegWait {
    /// `ctl register`: answered when the put is acknowledged.
    Register {
        aor: String,
        record: ContactRecord,
        reply: oneshot::Sender<Result<CtlReply, String>>,
    },
    /// `ctl whois`: answered with the decoded contacts.
    Whois {
        aor: String,
        reply: oneshot::Sender<Result<CtlReply, String>>,
    },
    /// `ctl call`: the callee lookup; the call starts when it finishes.
    CallLookup {
        aor: String,
        call: CallParams,
        started: Instant,
        reply: oneshot::Sender<Result<CtlReply, String>>,
    },
}

/// Removals issued together (`ctl unregister`, or a graceful leave when
/// `reply` is `None`): the records' removals and the tombstone puts that
/// hide them from readers of a stale holder.
struct Removals {
    aor: String,
    key_id: NodeId,
    records: u32,
    remaining: usize,
    reply: Option<oneshot::Sender<Result<CtlReply, String>>>,
}

/// `ctl call`'s parameters, as requested.
struct CallRequest {
    seconds: f64,
    relays: Vec<SocketAddr>,
    detect_ms: Option<u64>,
    redundancy: Option<u8>,
}

/// A validated `ctl call`.
struct CallParams {
    seconds: f64,
    relays: Vec<Addr>,
    detect: peerlab_core::Duration,
    redundancy: u8,
}

impl CallRequest {
    /// The call length, the relay candidates, the detection time and the
    /// redundancy, or what is wrong with them.
    fn validate(self) -> Result<CallParams, String> {
        let seconds = self.seconds;
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_CALL_SECS) {
            return Err(format!(
                "call length {seconds} s is out of range (expected more than 0 and at most {MAX_CALL_SECS} s)"
            ));
        }
        if self.relays.len() > MAX_CALL_RELAYS {
            return Err(format!(
                "{} relays given; at most {MAX_CALL_RELAYS} are taken",
                self.relays.len()
            ));
        }
        let mut relays = Vec::with_capacity(self.relays.len());
        for (i, r) in self.relays.iter().enumerate() {
            let a = match to_core(*r) {
                Some(a) if !r.ip().is_unspecified() && r.port() != 0 => a,
                _ => {
                    return Err(format!(
                        "relay address {r} is not a reachable IPv4 address and port"
                    ));
                }
            };
            if self.relays[..i].contains(r) {
                return Err(format!("relay address {r} is listed twice"));
            }
            relays.push(a);
        }
        let detect = match self.detect_ms {
            None => media::DEFAULT_DETECT,
            Some(ms) if (DETECT_MS.0..=DETECT_MS.1).contains(&ms) => {
                peerlab_core::Duration::from_millis(ms)
            }
            Some(ms) => {
                return Err(format!(
                    "detection time {ms} ms is out of range (expected {} to {} ms)",
                    DETECT_MS.0, DETECT_MS.1
                ));
            }
        };
        let redundancy = match self.redundancy {
            None => 1,
            Some(k) if k >= 1 && usize::from(k) <= relays.len() => k,
            Some(k) => {
                return Err(format!(
                    "redundancy {k} needs between 1 and as many relays as given ({})",
                    relays.len()
                ));
            }
        };
        Ok(CallParams {
            seconds,
            relays,
            detect,
            redundancy,
        })
    }
}

/// A call placed for `ctl call`.
struct PlacedCall {
    aor: String,
    callee: NodeId,
    callee_addr: SocketAddr,
    frames: u32,
    detect: peerlab_core::Duration,
    redundancy: u8,
    reply: oneshot::Sender<Result<CtlReply, String>>,
}

/// A control request waiting for the core to finish it.
struct Waiting {
    key: String,
    kind: WaitKind,
    reply: oneshot::Sender<Result<CtlReply, String>>,
}

/// What woke the loop.
enum Input {
    Datagram(usize, SocketAddr),
    RecvError(std::io::Error),
    Timer,
    Control(CtlMsg),
    Shutdown,
}

/// The state the event loop owns.
pub(crate) struct Driver<P> {
    node: P,
    socket: UdpSocket,
    info: NodeInfo,
    hash: HashAlg,
    bootstrap: Vec<Addr>,
    origin: tokio::time::Instant,
    /// The last time given to the core; core time never goes backwards.
    last_now: Instant,
    joined: bool,
    join_retry: Option<Instant>,
    waiting: BTreeMap<RequestId, Waiting>,
    counters: Counters,
    send_buf: Vec<u8>,
    stopping: bool,
    media: MediaEngine,
    clock_offset_us: u64,
    registrar: Registrar,
    /// Puts the registrar issued, for [`Registrar::put_done`].
    reg_puts: BTreeMap<RequestId, NodeId>,
    reg_waiting: BTreeMap<RequestId, RegWait>,
    removal_of: BTreeMap<RequestId, u64>,
    removals: BTreeMap<u64, Removals>,
    next_removals: u64,
    calls: BTreeMap<u64, PlacedCall>,
    /// A graceful leave in progress: its deadline and reason.
    leaving: Option<(Instant, String)>,
}

impl<P: LiveDht> Driver<P> {
    pub(crate) fn new(
        node: P,
        socket: UdpSocket,
        info: NodeInfo,
        bootstrap: Vec<Addr>,
        relay: bool,
    ) -> Self {
        let hash = node.hash();
        let origin = tokio::time::Instant::now();
        let clock_offset_us = media_clock_offset(origin);
        let local = to_core(info.udp).unwrap_or(Addr::new([0; 4], 0));
        let device = registration::Device {
            node_id: info.id,
            nat: peerlab_core::nat::NatType::Open,
            host: local,
            reflexive: None,
            super_node: None,
        };
        let reg_cfg = RegistrarConfig {
            expires_s: REGISTRATION.0,
            refresh_s: REGISTRATION.1,
            hash,
        };
        let registrar = Registrar::new(reg_cfg, device).expect("REGISTRATION is a valid config");
        Driver {
            media: MediaEngine::new(info.id, local, clock_offset_us, relay),
            clock_offset_us,
            registrar,
            reg_puts: BTreeMap::new(),
            reg_waiting: BTreeMap::new(),
            removal_of: BTreeMap::new(),
            removals: BTreeMap::new(),
            next_removals: 0,
            calls: BTreeMap::new(),
            leaving: None,
            node,
            socket,
            info,
            hash,
            bootstrap,
            origin,
            last_now: Instant::ZERO,
            joined: false,
            join_retry: None,
            waiting: BTreeMap::new(),
            counters: Counters::default(),
            send_buf: Vec::with_capacity(2048),
            stopping: false,
        }
    }

    /// Core time now: microseconds since the loop's origin, never earlier than
    /// `at_least` or than any time handed out before.
    fn now(&mut self, at_least: Instant) -> Instant {
        let elapsed = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_now = self
            .last_now
            .max(Instant::from_micros(elapsed))
            .max(at_least);
        self.last_now
    }

    /// The tokio instant for a core instant.
    fn wall(&self, at: Instant) -> tokio::time::Instant {
        self.origin
            .checked_add(StdDuration::from_micros(at.as_micros()))
            .unwrap_or_else(|| tokio::time::Instant::now() + StdDuration::from_secs(365 * 86_400))
    }

    /// The media clock (µs since the Unix epoch) for core time `at`.
    fn media_time(&self, at: Instant) -> Instant {
        Instant::from_micros(at.as_micros().saturating_add(self.clock_offset_us))
    }

    /// The core time for media-clock time `at`.
    fn core_time(&self, at: Instant) -> Instant {
        Instant::from_micros(at.as_micros().saturating_sub(self.clock_offset_us))
    }

    /// The earliest of the core's, the engine's and the registrar's
    /// deadlines, a pending join retry and a graceful leave's deadline.
    fn next_wake(&self) -> Option<Instant> {
        let core = self.node.poll_timeout().map(|d| d.at);
        let reg = self.registrar.poll_timeout().map(|t| self.core_time(t));
        let leave = self.leaving.as_ref().map(|l| l.0);
        [core, self.join_retry, self.media.poll_timeout(), reg, leave]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs until a shutdown signal, a `leave` request, or the handle is dropped.
    pub(crate) async fn run(
        mut self,
        mut control: mpsc::Receiver<CtlMsg>,
        mut shutdown: oneshot::Receiver<()>,
    ) -> Result<(), NodeError> {
        let mut recv_buf = vec![0u8; RECV_BUF];
        self.join();
        self.after_input().await;
        while !self.stopping {
            let wake = self.next_wake();
            let sleep_to = wake.map_or_else(|| self.wall(Instant::NEVER), |at| self.wall(at));
            let input = tokio::select! {
                r = self.socket.recv_from(&mut recv_buf) => match r {
                    Ok((len, from)) => Input::Datagram(len, from),
                    Err(e) => Input::RecvError(e),
                },
                () = tokio::time::sleep_until(sleep_to), if wake.is_some() => Input::Timer,
                Some(msg) = control.recv() => Input::Control(msg),
                _ = &mut shutdown, if self.leaving.is_none() => Input::Shutdown,
            };
            match input {
                Input::Datagram(len, from) => self.on_datagram(&recv_buf[..len], from),
                Input::RecvError(e) => {
                    // ICMP errors surface here on some platforms; the socket stays usable.
                    tracing::debug!(error = %e, "UDP receive error");
                }
                Input::Timer => self.on_timer(wake.unwrap_or(Instant::ZERO)),
                Input::Control(msg) => self.on_control(msg),
                Input::Shutdown => self.begin_leave("shutdown requested"),
            }
            self.after_input().await;
            self.maybe_finish_leave();
            if self.stopping {
                // Send the leave's goodbyes.
                self.after_input().await;
            }
        }
        tracing::info!(id = %self.info.id, "node stopped");
        Ok(())
    }

    fn join(&mut self) {
        let now = self.now(Instant::ZERO);
        self.join_retry = None;
        let bootstrap = self.bootstrap.clone();
        match self.node.handle_command(now, Command::Join { bootstrap }) {
            Ok(_) if self.bootstrap.is_empty() => {
                tracing::info!(id = %self.info.id, "starting a new overlay")
            }
            Ok(_) => {
                tracing::info!(id = %self.info.id, bootstrap = ?self.bootstrap_list(), "joining")
            }
            Err(e) => tracing::warn!(error = %e, "join refused"),
        }
    }

    fn bootstrap_list(&self) -> Vec<String> {
        self.bootstrap.iter().map(|a| a.to_string()).collect()
    }

    fn leave(&mut self, why: &str) {
        let now = self.now(Instant::ZERO);
        if let Err(e) = self.node.handle_command(now, Command::Leave) {
            tracing::debug!(error = %e, "leave: core was not joined");
        }
        tracing::info!(id = %self.info.id, "leaving the overlay ({why})");
        self.stopping = true;
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        self.counters.datagrams_received += 1;
        self.counters.bytes_received += bytes.len() as u64;
        let Some(from_core) = to_core(from) else {
            tracing::debug!(%from, "dropping datagram from an IPv6 source");
            return;
        };
        match Message::decode(bytes) {
            Ok(msg) if media::is_media(msg.body.kind()) => {
                let now = self.now(Instant::ZERO);
                self.media.handle_message(now, from_core, msg);
            }
            Ok(msg) => {
                let now = self.now(Instant::ZERO);
                self.node.handle_message(now, from_core, msg);
            }
            Err(e) => {
                self.counters.decode_errors += 1;
                tracing::debug!(%from, len = bytes.len(), error = %e, "dropping undecodable datagram");
            }
        }
    }

    fn on_timer(&mut self, due: Instant) {
        let now = self.now(due);
        if self.join_retry.is_some_and(|at| at <= now) {
            tracing::info!(bootstrap = ?self.bootstrap_list(), "retrying join");
            self.join();
        }
        self.node.handle_timeout(now);
        self.media.handle_timeout(now);
        if self
            .registrar
            .poll_timeout()
            .is_some_and(|t| t <= self.media_time(now))
        {
            let cmds = self.registrar.handle_timeout(self.media_time(now));
            for cmd in cmds {
                self.issue_registrar(now, cmd);
            }
        }
    }

    /// Sends everything the core and the engine queued, then handles their events.
    async fn after_input(&mut self) {
        loop {
            self.send_queued().await;
            let mut any = false;
            while let Some(ev) = self.node.poll_event() {
                any = true;
                self.on_event(ev);
            }
            while let Some(ev) = self.media.poll_event() {
                any = true;
                self.on_media_event(ev);
            }
            // Handling an event may have queued more (a call starting after
            // its lookup, a refresh's removals).
            if !any {
                break;
            }
        }
    }

    async fn send_queued(&mut self) {
        while let Some(t) = self
            .node
            .poll_transmit()
            .or_else(|| self.media.poll_transmit())
        {
            self.send_buf.clear();
            t.msg.encode(&mut self.send_buf);
            let dst = to_std(t.dst);
            match self.socket.send_to(&self.send_buf, dst).await {
                Ok(n) => {
                    self.counters.datagrams_sent += 1;
                    self.counters.bytes_sent += n as u64;
                }
                Err(e) => {
                    self.counters.send_errors += 1;
                    tracing::debug!(%dst, error = %e, "UDP send failed");
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Joined { neighbours, .. } => {
                self.joined = true;
                self.join_retry = None;
                tracing::info!(id = %self.info.id, neighbours, "joined the overlay");
            }
            Event::JoinFailed { .. } => {
                let now = self.now(Instant::ZERO);
                self.join_retry =
                    Some(now + peerlab_core::Duration::from_micros(JOIN_RETRY.as_micros() as u64));
                tracing::warn!(
                    bootstrap = ?self.bootstrap_list(),
                    retry_in_secs = JOIN_RETRY.as_secs(),
                    "join failed: no bootstrap node answered"
                );
            }
            Event::LookupDone {
                id,
                target,
                closest,
                stats,
            } => self.finish(id, |key| CtlReply::Closest {
                key,
                key_id: target,
                closest: closest
                    .iter()
                    .map(|c| CtlContact {
                        id: c.id,
                        addr: to_std(c.addr),
                    })
                    .collect(),
                cost: cost(&stats),
            }),
            Event::GetDone {
                id,
                key: key_id,
                values,
                ..
            } if self.reg_waiting.contains_key(&id) => self.on_contacts(id, key_id, &values),
            Event::StoreDone {
                id, key, replicas, ..
            } if self.reg_puts.contains_key(&id)
                || self.reg_waiting.contains_key(&id)
                || self.removal_of.contains_key(&id) =>
            {
                self.on_registration_stored(id, key, replicas)
            }
            Event::GetDone {
                id,
                key: key_id,
                values,
                stats,
                ..
            } => self.finish(id, |key| CtlReply::Values {
                key,
                key_id,
                values: values
                    .iter()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect(),
                cost: cost(&stats),
            }),
            Event::StoreDone {
                id,
                key: key_id,
                replicas,
                stats,
            } => {
                let removed = self
                    .waiting
                    .get(&id)
                    .is_some_and(|w| w.kind == WaitKind::Remove);
                self.finish(id, |key| CtlReply::Stored {
                    key,
                    key_id,
                    removed,
                    replicas,
                    cost: cost(&stats),
                })
            }
            Event::PeerAdded(c) => tracing::trace!(peer = %c.id, addr = %c.addr, "peer added"),
            Event::PeerRemoved(c) => tracing::debug!(peer = %c.id, addr = %c.addr, "peer removed"),
        }
    }

    /// Answers the control request waiting for `id`, if any.
    fn finish(&mut self, id: RequestId, reply: impl FnOnce(String) -> CtlReply) {
        if let Some(w) = self.waiting.remove(&id) {
            // The client may have gone away; nothing to do then.
            let _ = w.reply.send(Ok(reply(w.key)));
        }
    }

    fn on_control(&mut self, CtlMsg { req, reply }: CtlMsg) {
        let hash = self.hash;
        let key_id = |key: &str| NodeId::from_name(hash, key);
        let (key, kind, cmd) = match req {
            CtlRequest::Put {
                ttl_secs: Some(0), ..
            } => {
                let _ = reply.send(Err(
                    "ttl_secs must be at least 1 (use remove to delete a value)".into(),
                ));
                return;
            }
            CtlRequest::Put {
                key,
                value,
                ttl_secs,
            } => {
                let cmd = Command::Put {
                    key: key_id(&key),
                    value: value.into_bytes(),
                    ttl_secs: ttl_secs.unwrap_or(DEFAULT_TTL_SECS),
                };
                (key, WaitKind::Put, cmd)
            }
            CtlRequest::Get { key } => {
                let cmd = Command::Get { key: key_id(&key) };
                (key, WaitKind::Get, cmd)
            }
            CtlRequest::Remove { key, value } => {
                let cmd = Command::Remove {
                    key: key_id(&key),
                    value: value.into_bytes(),
                };
                (key, WaitKind::Remove, cmd)
            }
            CtlRequest::Lookup { key } => {
                let cmd = Command::Lookup {
                    target: key_id(&key),
                    mode: P::ROUTING,
                };
                (key, WaitKind::Lookup, cmd)
            }
            CtlRequest::Routes => {
                let _ = reply.send(Ok(self.routes()));
                return;
            }
            CtlRequest::Stats => {
                let stats = self.stats();
                let _ = reply.send(Ok(CtlReply::Stats(stats)));
                return;
            }
            CtlRequest::Leave => {
                self.begin_leave("leave requested over the control interface");
                let _ = reply.send(Ok(CtlReply::Left { node: self.info.id }));
                return;
            }
            CtlRequest::Register { aor } => return self.ctl_register(&aor, reply),
            CtlRequest::Unregister { aor } => return self.ctl_unregister(&aor, reply),
            CtlRequest::Whois { aor } => return self.ctl_lookup_aor(&aor, None, reply),
            CtlRequest::Call {
                aor,
                seconds,
                relays,
                detect_ms,
                redundancy,
            } => {
                let call = CallRequest {
                    seconds,
                    relays,
                    detect_ms,
                    redundancy,
                };
                return self.ctl_lookup_aor(&aor, Some(call), reply);
            }
        };
        let now = self.now(Instant::ZERO);
        match self.node.handle_command(now, cmd) {
            Ok(id) => {
                self.waiting.insert(id, Waiting { key, kind, reply });
            }
            Err(e) => {
                let _ = reply.send(Err(self.refusal(e)));
            }
        }
    }

    // ---- registration and calls ---------------------------------------------

    /// Refuses `reply` unless the node can issue DHT requests now.
    fn ready(&self, reply: &mut Option<oneshot::Sender<Result<CtlReply, String>>>) -> bool {
        if self.leaving.is_some() || self.stopping {
            if let Some(r) = reply.take() {
                let _ = r.send(Err("the node is leaving the overlay".into()));
            }
            return false;
        }
        if !self.node.joined() {
            if let Some(r) = reply.take() {
                let _ = r.send(Err(self.refusal(CommandError::NotJoined)));
            }
            return false;
        }
        true
    }

    fn ctl_register(&mut self, aor: &str, reply: oneshot::Sender<Result<CtlReply, String>>) {
        let mut reply = Some(reply);
        if !self.ready(&mut reply) {
            return;
        }
        let Some(reply) = reply else { return };
        if self.info.udp.ip().is_unspecified() {
            let _ = reply.send(Err(format!(
                "cannot register: the node listens on {}, which is not an address others can                  reach; start it with a concrete --listen address",
                self.info.udp
            )));
            return;
        }
        let now = self.now(Instant::ZERO);
        let cmds = match self.registrar.register(self.media_time(now), aor) {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(e.to_string()));
                return;
            }
        };
        let Some(record) = self.registrar.current(aor) else {
            let _ = reply.send(Err("registration vanished".into()));
            return;
        };
        let name = registration::normalize_aor(aor).unwrap_or_else(|_| aor.to_string());
        let mut reply = Some(reply);
        for cmd in cmds {
            if let Some(id) = self.issue_registrar(now, cmd)
                && let Some(reply) = reply.take()
            {
                let wait = RegWait::Register {
                    aor: name.clone(),
                    record,
                    reply,
                };
                self.reg_waiting.insert(id, wait);
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(Err("the DHT refused the registration's put".into()));
        }
    }

    /// Issues a registrar command; puts are remembered for `put_done`.
    fn issue_registrar(&mut self, now: Instant, cmd: Command) -> Option<RequestId> {
        let key = match &cmd {
            Command::Put { key, .. } => Some(*key),
            _ => None,
        };
        match self.node.handle_command(now, cmd) {
            Ok(id) => {
                if let Some(key) = key {
                    self.reg_puts.insert(id, key);
                }
                Some(id)
            }
            Err(e) => {
                tracing::warn!(error = %e, "registration command refused");
                None
            }
        }
    }

    /// Issues removals as one group; `reply` (if any) is answered when all are done.
    fn issue_removals(
        &mut self,
        aor: String,
        key_id: NodeId,
        cmds: Vec<Command>,
        reply: Option<oneshot::Sender<Result<CtlReply, String>>>,
    ) -> usize {
        let now = self.now(Instant::ZERO);
        let group = self.next_removals;
        self.next_removals += 1;
        // The records removed; the tombstone put that hides them is not one.
        let records = cmds
            .iter()
            .filter(|c| matches!(c, Command::Remove { .. }))
            .count() as u32;
        let mut remaining = 0;
        for cmd in cmds {
            if let Some(id) = self.issue_registrar(now, cmd) {
                // A tombstone put confirms no registration.
                self.reg_puts.remove(&id);
                self.removal_of.insert(id, group);
                remaining += 1;
            }
        }
        let r = Removals {
            aor,
            key_id,
            records,
            remaining,
            reply,
        };
        if remaining == 0 {
            Self::answer_removals(r);
        } else {
            self.removals.insert(group, r);
        }
        remaining
    }

    fn answer_removals(r: Removals) {
        if let Some(reply) = r.reply {
            let _ = reply.send(Ok(CtlReply::Unregistered {
                aor: r.aor,
                key_id: r.key_id,
                records: r.records,
            }));
        }
    }

    /// The normalized AoR and its DHT key, or why `aor` is not one.
    fn aor_key(&self, aor: &str) -> Result<(String, NodeId), String> {
        let name = registration::normalize_aor(aor).map_err(|e| e.to_string())?;
        let key = self.hash.hash(name.as_bytes());
        Ok((name, key))
    }

    fn ctl_unregister(&mut self, aor: &str, reply: oneshot::Sender<Result<CtlReply, String>>) {
        let mut reply = Some(reply);
        if !self.ready(&mut reply) {
            return;
        }
        let Some(reply) = reply else { return };
        let (name, key_id) = match self.aor_key(aor) {
            Ok(x) => x,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let now = self.now(Instant::ZERO);
        let cmds = self
            .registrar
            .unregister(self.media_time(now), aor)
            .unwrap_or_default();
        self.issue_removals(name, key_id, cmds, Some(reply));
    }

    /// `ctl whois` (`call` is `None`) or the lookup that starts `ctl call`.
    fn ctl_lookup_aor(
        &mut self,
        aor: &str,
        call: Option<CallRequest>,
        reply: oneshot::Sender<Result<CtlReply, String>>,
    ) {
        let mut reply = Some(reply);
        if !self.ready(&mut reply) {
            return;
        }
        let Some(reply) = reply else { return };
        let (name, key) = match self.aor_key(aor) {
            Ok(x) => x,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let call = match call.map(|c| c.validate()).transpose() {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let now = self.now(Instant::ZERO);
        let id = match self.node.handle_command(now, Command::Get { key }) {
            Ok(id) => id,
            Err(e) => {
                let _ = reply.send(Err(self.refusal(e)));
                return;
            }
        };
        let wait = match call {
            None => RegWait::Whois { aor: name, reply },
            Some(call) => RegWait::CallLookup {
                aor: name,
                call,
                started: now,
                reply,
            },
        };
        self.reg_waiting.insert(id, wait);
    }

    fn on_contacts(&mut self, id: RequestId, key_id: NodeId, values: &[Vec<u8>]) {
        let Some(wait) = self.reg_waiting.remove(&id) else {
            return;
        };
        let now = self.now(Instant::ZERO);
        let contacts = registration::read_contacts(values, self.media_time(now));
        match wait {
            RegWait::Whois { aor, reply } => {
                let records = contacts.records.iter().map(ctl_record).collect();
                let _ = reply.send(Ok(CtlReply::Contacts {
                    aor,
                    key_id,
                    records,
                    dropped: contacts.malformed + contacts.expired + contacts.superseded,
                }));
            }
            RegWait::CallLookup {
                aor,
                call,
                started,
                reply,
            } => {
                // Another device of the same user is a callee too; never call ourselves.
                let Some(callee) = contacts
                    .records
                    .iter()
                    .find(|r| r.node_id != self.info.id)
                    .copied()
                else {
                    let _ = reply.send(Err(format!(
                        "user {aor} not found: no live contact record under key {key_id}"
                    )));
                    return;
                };
                let profile = MediaProfile::VOICE_64K;
                let frames =
                    profile.frames_for(peerlab_core::Duration::from_secs_f64(call.seconds));
                let detect = call.detect;
                let redundancy = call.redundancy;
                let spec = CallSpec {
                    callee: callee.host,
                    relays: call.relays,
                    detect,
                    redundancy,
                    frames,
                    profile,
                    started,
                };
                let call = self.media.start_call(now, spec);
                self.calls.insert(
                    call,
                    PlacedCall {
                        aor,
                        callee: callee.node_id,
                        callee_addr: to_std(callee.host),
                        frames,
                        detect,
                        redundancy,
                        reply,
                    },
                );
            }
            RegWait::Register { reply, .. } => {
                let _ = reply.send(Err("internal error: a get answered a registration".into()));
            }
        }
    }

    fn on_registration_stored(&mut self, id: RequestId, key: NodeId, replicas: u32) {
        if self.reg_puts.remove(&id).is_some() {
            let now = self.now(Instant::ZERO);
            for cmd in self.registrar.put_done(key, replicas) {
                self.issue_registrar(now, cmd);
            }
        }
        if let Some(RegWait::Register { aor, record, reply }) = self.reg_waiting.remove(&id) {
            let answer = if replicas == 0 {
                Err(format!(
                    "registration of {aor} reached no replica; the node retries it"
                ))
            } else {
                Ok(CtlReply::Registered {
                    aor,
                    key_id: key,
                    record: ctl_record(&record),
                    replicas,
                })
            };
            let _ = reply.send(answer);
        }
        if let Some(group) = self.removal_of.remove(&id)
            && let Some(r) = self.removals.get_mut(&group)
        {
            r.remaining = r.remaining.saturating_sub(1);
            if r.remaining == 0
                && let Some(r) = self.removals.remove(&group)
            {
                Self::answer_removals(r);
            }
        }
    }

    fn on_media_event(&mut self, ev: MediaEvent) {
        let MediaEvent::CallDone { call, outcome } = ev;
        let Some(placed) = self.calls.remove(&call) else {
            return;
        };
        let answer = match outcome {
            Ok(s) => Ok(CtlReply::Call(Box::new(ctl_call(&placed, &s)))),
            Err(e) => Err(format!("call to {} failed: {e}", placed.aor)),
        };
        let _ = placed.reply.send(answer);
    }

    /// Starts a graceful leave: removes every registration first (waiting
    /// at most [`LEAVE_GRACE`]), then leaves the overlay.
    fn begin_leave(&mut self, why: &str) {
        if self.leaving.is_some() || self.stopping {
            return;
        }
        let now = self.now(Instant::ZERO);
        let cmds = self.registrar.unregister_all(self.media_time(now));
        if cmds.is_empty() || !self.node.joined() {
            self.leave(why);
            return;
        }
        tracing::info!(
            records = cmds.len(),
            "removing registrations before leaving"
        );
        let issued = self.issue_removals(String::new(), NodeId::ZERO, cmds, None);
        if issued == 0 {
            self.leave(why);
            return;
        }
        let now = self.now(Instant::ZERO);
        let grace = peerlab_core::Duration::from_micros(LEAVE_GRACE.as_micros() as u64);
        self.leaving = Some((now + grace, why.to_string()));
    }

    /// Leaves once a graceful leave's removals are done or its grace ran out.
    fn maybe_finish_leave(&mut self) {
        let Some((deadline, why)) = self.leaving.clone() else {
            return;
        };
        let pending = self.removals.values().any(|r| r.reply.is_none());
        let now = self.now(Instant::ZERO);
        if !pending || now >= deadline {
            if pending {
                tracing::warn!("leaving with registration removals unfinished");
            }
            self.leaving = None;
            self.leave(&why);
        }
    }

    fn refusal(&self, e: CommandError) -> String {
        match e {
            CommandError::NotJoined if self.stopping => "the node has left the overlay".to_string(),
            CommandError::NotJoined => format!(
                "node {} has not joined the overlay yet (joining through {}); try again shortly",
                self.info.id,
                self.bootstrap_list().join(", ")
            ),
            other => other.to_string(),
        }
    }

    fn routes(&self) -> CtlReply {
        let entries = self
            .node
            .routes()
            .into_iter()
            .map(|r| CtlRoute {
                role: r.role.to_string(),
                id: r.contact.id,
                addr: to_std(r.contact.addr),
                failures: r.failures,
            })
            .collect();
        CtlReply::Routes {
            node: self.info.id,
            protocol: P::NAME.to_string(),
            entries,
        }
    }

    fn stats(&self) -> CtlStats {
        let s = self.node.stats();
        let c = self.counters;
        let m = self.media.stats();
        CtlStats {
            id: self.info.id,
            udp: self.info.udp,
            joined: self.joined && self.node.joined(),
            uptime_secs: self.origin.elapsed().as_secs_f64(),
            routing_entries: s.routing_entries,
            stored_values: s.stored_values,
            requests_sent: s.requests_sent,
            request_timeouts: s.request_timeouts,
            active_lookups: s.active_lookups,
            datagrams_sent: c.datagrams_sent,
            bytes_sent: c.bytes_sent,
            datagrams_received: c.datagrams_received,
            bytes_received: c.bytes_received,
            decode_errors: c.decode_errors,
            send_errors: c.send_errors,
            registrations: self.registrar.len(),
            calls_placed: m.calls_placed,
            calls_answered: m.calls_answered,
            relayed_calls: m.relayed_calls,
            relayed_frames: m.relayed_frames,
            relayed_bytes: m.relayed_bytes,
        }
    }
}

fn ctl_record(r: &ContactRecord) -> CtlRecord {
    CtlRecord {
        node: r.node_id,
        addr: to_std(r.host),
        seq: r.seq,
        expires_at_us: r.expires_at.as_micros(),
    }
}

fn ctl_direction(d: DirectionReport) -> CtlDirection {
    CtlDirection {
        sent: d.sent,
        received: d.received,
        lost: d.lost,
        max_gap_ms: d.max_gap_us as f64 / 1000.0,
        mean_delay_ms: d.mean_delay_us as f64 / 1000.0,
    }
}

fn ctl_call(placed: &PlacedCall, s: &CallSummary) -> CtlCall {
    CtlCall {
        aor: placed.aor.clone(),
        call: s.call,
        callee: placed.callee,
        callee_addr: placed.callee_addr,
        relay: s.relay.map(to_std),
        outcome: s.end.name().to_string(),
        relays: s
            .relays
            .iter()
            .map(|r| CtlRelay {
                addr: to_std(r.relay),
                sent: r.sent,
                received: r.received,
                relayed_frames: r.report.map(|x| x.frames),
                relayed_bytes: r.report.map(|x| x.bytes),
            })
            .collect(),
        switches: s.switches,
        interruptions: s.interruptions,
        interrupted_ms: s.interrupted_us as f64 / 1000.0,
        detect_ms: placed.detect.as_micros() as f64 / 1000.0,
        redundancy: placed.redundancy,
        frames: placed.frames,
        frame_bytes: MediaProfile::VOICE_64K.datagram_len() as u32,
        setup_ms: s.setup_us as f64 / 1000.0,
        forward: s.forward.map(ctl_direction),
        backward: s.backward.map(ctl_direction),
        relayed_frames: s.relayed.map(|r| r.frames),
        relayed_bytes: s.relayed.map(|r| r.bytes),
    }
}

fn cost(s: &RequestStats) -> CtlCost {
    CtlCost {
        hops: s.hops,
        latency_ms: s.finished.saturating_since(s.started).as_millis_f64(),
        messages: s.messages,
        timeouts: s.timeouts,
    }
}
