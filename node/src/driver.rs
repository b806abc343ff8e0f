//! The event loop: one task owns the core node and feeds it datagrams, timer
//! expiries and control requests, then drains what the node wants sent and
//! what it reports. It drives any DHT through the [`Protocol`] trait; the
//! little it needs beyond it is [`LiveDht`].

use crate::NodeInfo;
use crate::control::{CtlContact, CtlCost, CtlMsg, CtlReply, CtlRequest, CtlRoute, CtlStats};
use crate::error::NodeError;
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::{CommandError, RequestStats, RoutingMode};
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
}

impl<P: LiveDht> Driver<P> {
    pub(crate) fn new(node: P, socket: UdpSocket, info: NodeInfo, bootstrap: Vec<Addr>) -> Self {
        let hash = node.hash();
        Driver {
            node,
            socket,
            info,
            hash,
            bootstrap,
            origin: tokio::time::Instant::now(),
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

    /// The earliest of the core's deadline and a pending join retry.
    fn next_wake(&self) -> Option<Instant> {
        let core = self.node.poll_timeout().map(|d| d.at);
        [core, self.join_retry].into_iter().flatten().min()
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
                _ = &mut shutdown => Input::Shutdown,
            };
            match input {
                Input::Datagram(len, from) => self.on_datagram(&recv_buf[..len], from),
                Input::RecvError(e) => {
                    // ICMP errors surface here on some platforms; the socket stays usable.
                    tracing::debug!(error = %e, "UDP receive error");
                }
                Input::Timer => self.on_timer(wake.unwrap_or(Instant::ZERO)),
                Input::Control(msg) => self.on_control(msg),
                Input::Shutdown => self.leave("shutdown requested"),
            }
            self.after_input().await;
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
    }

    /// Sends everything the core queued, then handles its events.
    async fn after_input(&mut self) {
        while let Some(t) = self.node.poll_transmit() {
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
        while let Some(ev) = self.node.poll_event() {
            self.on_event(ev);
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
                stats,
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
                self.leave("leave requested over the control interface");
                let _ = reply.send(Ok(CtlReply::Left { node: self.info.id }));
                return;
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
        }
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
