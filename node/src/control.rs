//! The control interface: requests, replies, the loopback TCP server and its client.
//!
//! One TCP connection carries one exchange: the client writes one JSON request
//! line ([`CtlRequest`]), the node answers with one JSON reply line and closes
//! the connection. A reply line is either `{"ok": <CtlReply>}` or
//! `{"error": "<message>"}`; [`ctl`] turns the latter into [`NodeError::Remote`].
//!
//! ```text
//! -> {"op":"put","key":"alice@example.com","value":"127.0.0.1:5060","ttl_secs":600}
//! <- {"ok":{"reply":"stored","key":"alice@example.com","key_id":"…","removed":false,"replicas":10,…}}
//! ```

use crate::error::NodeError;
use peerlab_core::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Longest request line the server reads, in bytes.
const MAX_REQUEST_LINE: u64 = 64 * 1024;
/// Longest reply the client reads, in bytes.
const MAX_REPLY: u64 = 16 * 1024 * 1024;
/// How long the server waits for a connected client's request line.
const REQUEST_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the blocking client waits to connect.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A control request. Keys are names (such as `alice@example.com`), hashed to
/// ids with the node's configured hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum CtlRequest {
    /// Add `value` to the values stored under `key`.
    Put {
        /// The key's name.
        key: String,
        /// The value (UTF-8 text, at most 1024 bytes).
        value: String,
        /// Lifetime in seconds (default 3600); the node republishes before it runs out.
        #[serde(default)]
        ttl_secs: Option<u32>,
    },
    /// Read every value stored under `key`.
    Get {
        /// The key's name.
        key: String,
    },
    /// Remove one value from the values stored under `key`.
    Remove {
        /// The key's name.
        key: String,
        /// The value to remove.
        value: String,
    },
    /// Find the nodes closest to (responsible for) `key`.
    Lookup {
        /// The key's name.
        key: String,
    },
    /// Show the routing table.
    Routes,
    /// Show the node's counters.
    Stats,
    /// Leave the overlay and stop the node (after removing its registrations).
    Leave,
    /// Register this node under an address of record (`alice@example.com`):
    /// a contact record with the node's id and UDP address, refreshed until
    /// unregistered.
    Register {
        /// The address of record.
        aor: String,
    },
    /// Remove this node's registration under `aor`.
    Unregister {
        /// The address of record.
        aor: String,
    },
    /// Read the live contact records under `aor`.
    Whois {
        /// The address of record.
        aor: String,
    },
    /// Look `aor` up and place a call of `seconds` with synthetic media both
    /// ways, directly or through relay nodes with passive failover.
    Call {
        /// The callee's address of record.
        aor: String,
        /// Call length in seconds (frames per direction: seconds / 20 ms).
        seconds: f64,
        /// UDP addresses of relay nodes in failover order: the media goes
        /// through the first that accepts, and moves to the next when the
        /// current one stops carrying media. Empty for a direct call.
        #[serde(default)]
        relays: Vec<SocketAddr>,
        /// Milliseconds without media before failing over to the next relay
        /// (`None`: the engine's default, 1000 ms).
        #[serde(default)]
        detect_ms: Option<u64>,
        /// Relays carrying the media at once (active failover; `None`: 1).
        #[serde(default)]
        redundancy: Option<u8>,
    },
}

/// One contact record in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlRecord {
    /// The registered node's id.
    #[serde(with = "hex_id")]
    pub node: NodeId,
    /// Its UDP (host) address.
    pub addr: SocketAddr,
    /// The registrar's sequence number.
    pub seq: u32,
    /// When it expires, microseconds since the Unix epoch.
    pub expires_at_us: u64,
}

/// One direction of a call in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtlDirection {
    /// Frames sent.
    pub sent: u32,
    /// Distinct frames received.
    pub received: u32,
    /// Frames missing by sequence number.
    pub lost: u32,
    /// Longest time between consecutive frames at the receiver, ms.
    pub max_gap_ms: f64,
    /// Mean one-way delay, ms (sender and receiver share the host clock).
    pub mean_delay_ms: f64,
}

/// What one relay carried for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlRelay {
    /// The relay's UDP address.
    pub addr: SocketAddr,
    /// Frames the caller sent through it.
    pub sent: u32,
    /// Frames the caller received through it.
    pub received: u32,
    /// Frames it reports forwarding, both legs (`None`: no report; only the
    /// relays still carrying the call at its end are asked).
    pub relayed_frames: Option<u32>,
    /// Datagram bytes it reports forwarding, both legs.
    pub relayed_bytes: Option<u64>,
}

/// A finished call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtlCall {
    /// The callee's address of record.
    pub aor: String,
    /// The call id.
    pub call: u64,
    /// The callee's node id.
    #[serde(with = "hex_id")]
    pub callee: NodeId,
    /// The callee's UDP address.
    pub callee_addr: SocketAddr,
    /// The relay at the end of the call, if any.
    pub relay: Option<SocketAddr>,
    /// How the call ended: `completed`, or `relay-lost` when the relay was
    /// lost with no candidate left to replace it.
    pub outcome: String,
    /// Every relay that carried the call, in order of use.
    pub relays: Vec<CtlRelay>,
    /// Relay switches (passive failovers).
    pub switches: u32,
    /// Interruptions: losses of the relay's media.
    pub interruptions: u32,
    /// Their total length at the caller, ms (last frame through the lost
    /// relay to the first through its replacement).
    pub interrupted_ms: f64,
    /// The detection time the call used, ms.
    pub detect_ms: f64,
    /// Relays carrying the media at once (1: passive failover only).
    pub redundancy: u8,
    /// Frames each side was to send.
    pub frames: u32,
    /// Bytes of one frame's datagram.
    pub frame_bytes: u32,
    /// From the start of the callee lookup to the first frame sent, ms.
    pub setup_ms: f64,
    /// Caller to callee (`None` if the callee's report never came).
    pub forward: Option<CtlDirection>,
    /// Callee to caller (`None` if the callee's report never came).
    pub backward: Option<CtlDirection>,
    /// Frames the relays that reported forwarded for the call, both legs, summed.
    pub relayed_frames: Option<u32>,
    /// Datagram bytes the relays that reported forwarded, both legs, summed.
    pub relayed_bytes: Option<u64>,
}

/// What a finished overlay request cost.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtlCost {
    /// Overlay hops to the node that supplied the result.
    pub hops: u32,
    /// Time from command to result, in milliseconds.
    pub latency_ms: f64,
    /// Request messages sent for it (retries included).
    pub messages: u32,
    /// Requests that timed out.
    pub timeouts: u32,
}

/// A peer in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlContact {
    /// The peer's overlay id.
    #[serde(with = "hex_id")]
    pub id: NodeId,
    /// The peer's UDP address.
    pub addr: SocketAddr,
}

/// One routing-table entry in a reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlRoute {
    /// What the entry is for: `bucket 3`, `repl 3` (a replacement-cache
    /// entry), `succ 0`, `finger 12` or `pred`.
    pub role: String,
    /// The peer's overlay id.
    #[serde(with = "hex_id")]
    pub id: NodeId,
    /// The peer's UDP address.
    pub addr: SocketAddr,
    /// Consecutive failed requests to the peer.
    pub failures: u8,
}

/// A node's counters: the core's `NodeStats` plus the driver's socket counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtlStats {
    /// The node's overlay id.
    #[serde(with = "hex_id")]
    pub id: NodeId,
    /// The node's UDP address.
    pub udp: SocketAddr,
    /// Whether the node has joined the overlay.
    pub joined: bool,
    /// Seconds since the node started.
    pub uptime_secs: f64,
    /// Contacts in the routing table.
    pub routing_entries: usize,
    /// Values held for others.
    pub stored_values: usize,
    /// Requests sent (retries included).
    pub requests_sent: u64,
    /// Requests that timed out.
    pub request_timeouts: u64,
    /// Lookups in progress.
    pub active_lookups: usize,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Bytes sent in datagrams.
    pub bytes_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Bytes received in datagrams.
    pub bytes_received: u64,
    /// Received datagrams that did not decode (dropped).
    pub decode_errors: u64,
    /// Addresses of record this node is registered under.
    #[serde(default)]
    pub registrations: usize,
    /// Calls placed.
    #[serde(default)]
    pub calls_placed: u64,
    /// Calls answered.
    #[serde(default)]
    pub calls_answered: u64,
    /// Calls accepted for relaying.
    #[serde(default)]
    pub relayed_calls: u64,
    /// Media frames forwarded as a relay.
    #[serde(default)]
    pub relayed_frames: u64,
    /// Media bytes forwarded as a relay.
    #[serde(default)]
    pub relayed_bytes: u64,
    /// Datagrams the socket failed to send.
    pub send_errors: u64,
}

/// A successful control reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum CtlReply {
    /// A put or remove finished.
    Stored {
        /// The key's name.
        key: String,
        /// The key's id.
        #[serde(with = "hex_id")]
        key_id: NodeId,
        /// Whether this was a remove.
        removed: bool,
        /// Nodes that acknowledged the store, the local node included.
        replicas: u32,
        /// What it cost.
        cost: CtlCost,
    },
    /// A get finished; `values` is empty when the key was not found.
    Values {
        /// The key's name.
        key: String,
        /// The key's id.
        #[serde(with = "hex_id")]
        key_id: NodeId,
        /// The values found (non-UTF-8 bytes are shown lossily).
        values: Vec<String>,
        /// What it cost.
        cost: CtlCost,
    },
    /// A lookup finished.
    Closest {
        /// The key's name.
        key: String,
        /// The key's id.
        #[serde(with = "hex_id")]
        key_id: NodeId,
        /// The nodes responsible for the key, most responsible first:
        /// Kademlia's closest live nodes other than the asking node, or
        /// Chord's successor of the key and the nodes after it.
        closest: Vec<CtlContact>,
        /// What it cost.
        cost: CtlCost,
    },
    /// The routing state: Kademlia's buckets and replacement caches, or
    /// Chord's successor list, fingers and predecessor.
    Routes {
        /// The node's id.
        #[serde(with = "hex_id")]
        node: NodeId,
        /// The DHT the node runs (`kademlia`, `chord`).
        #[serde(default)]
        protocol: String,
        /// The entries, in the order the protocol lists them (by bucket;
        /// successors nearest first, then fingers, then the predecessor).
        entries: Vec<CtlRoute>,
    },
    /// The node's counters.
    Stats(CtlStats),
    /// The node registered under an address of record.
    Registered {
        /// The normalized address of record.
        aor: String,
        /// Its DHT key.
        #[serde(with = "hex_id")]
        key_id: NodeId,
        /// The record stored.
        record: CtlRecord,
        /// Nodes that acknowledged the store.
        replicas: u32,
    },
    /// The node's registration was removed.
    Unregistered {
        /// The normalized address of record.
        aor: String,
        /// Its DHT key.
        #[serde(with = "hex_id")]
        key_id: NodeId,
        /// Records removed (0 if the node was not registered).
        records: u32,
    },
    /// The live contacts under an address of record.
    Contacts {
        /// The normalized address of record.
        aor: String,
        /// Its DHT key.
        #[serde(with = "hex_id")]
        key_id: NodeId,
        /// The newest live record per node, in node-id order.
        records: Vec<CtlRecord>,
        /// Values that were expired, superseded or malformed and dropped.
        dropped: usize,
    },
    /// A call finished (boxed: it is much larger than the other replies).
    Call(Box<CtlCall>),
    /// The node left the overlay and is stopping.
    Left {
        /// The node's id.
        #[serde(with = "hex_id")]
        node: NodeId,
    },
}

impl fmt::Display for CtlCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hops {}, latency {:.3} ms, {} messages, {} timeouts",
            self.hops, self.latency_ms, self.messages, self.timeouts
        )
    }
}

impl fmt::Display for CtlReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlReply::Stored {
                key,
                key_id,
                removed,
                replicas,
                cost,
            } => {
                let what = if *removed {
                    "removed from"
                } else {
                    "stored on"
                };
                writeln!(f, "key {key} (id {key_id}): {what} {replicas} replicas")?;
                write!(f, "{cost}")
            }
            CtlReply::Values {
                key,
                key_id,
                values,
                cost,
            } => {
                if values.is_empty() {
                    writeln!(f, "key {key} (id {key_id}): not found")?;
                } else {
                    writeln!(f, "key {key} (id {key_id}): {} values", values.len())?;
                    for v in values {
                        writeln!(f, "  {v}")?;
                    }
                }
                write!(f, "{cost}")
            }
            CtlReply::Closest {
                key,
                key_id,
                closest,
                cost,
            } => {
                writeln!(
                    f,
                    "key {key} (id {key_id}): {} closest nodes",
                    closest.len()
                )?;
                for (i, c) in closest.iter().enumerate() {
                    writeln!(f, "  {:>2}  {}  {}", i + 1, c.id, c.addr)?;
                }
                write!(f, "{cost}")
            }
            CtlReply::Routes {
                node,
                protocol,
                entries,
            } => {
                writeln!(
                    f,
                    "routing table of {node} ({protocol}): {} entries",
                    entries.len()
                )?;
                write!(f, "{:>9}  {:<40}  {:<21}  failures", "role", "id", "addr")?;
                for e in entries {
                    write!(
                        f,
                        "\n{:>9}  {}  {:<21}  {}",
                        e.role,
                        e.id,
                        e.addr.to_string(),
                        e.failures
                    )?;
                }
                Ok(())
            }
            CtlReply::Stats(s) => {
                writeln!(f, "node {} udp {}", s.id, s.udp)?;
                writeln!(f, "joined              {}", s.joined)?;
                writeln!(f, "uptime              {:.1} s", s.uptime_secs)?;
                writeln!(f, "routing entries     {}", s.routing_entries)?;
                writeln!(f, "stored values       {}", s.stored_values)?;
                writeln!(f, "requests sent       {}", s.requests_sent)?;
                writeln!(f, "request timeouts    {}", s.request_timeouts)?;
                writeln!(f, "active lookups      {}", s.active_lookups)?;
                writeln!(
                    f,
                    "datagrams sent      {} ({} bytes)",
                    s.datagrams_sent, s.bytes_sent
                )?;
                writeln!(
                    f,
                    "datagrams received  {} ({} bytes)",
                    s.datagrams_received, s.bytes_received
                )?;
                writeln!(f, "decode errors       {}", s.decode_errors)?;
                writeln!(f, "send errors         {}", s.send_errors)?;
                writeln!(f, "registrations       {}", s.registrations)?;
                writeln!(
                    f,
                    "calls placed        {} (answered {})",
                    s.calls_placed, s.calls_answered
                )?;
                write!(
                    f,
                    "relayed             {} calls, {} frames, {} bytes",
                    s.relayed_calls, s.relayed_frames, s.relayed_bytes
                )
            }
            CtlReply::Registered {
                aor,
                key_id,
                record,
                replicas,
            } => write!(
                f,
                "registered {} at {} under {aor} (key {key_id}, seq {}): stored on {replicas} replicas",
                record.node, record.addr, record.seq
            ),
            CtlReply::Unregistered {
                aor,
                key_id,
                records,
            } => write!(f, "{aor} (key {key_id}): removed {records} records"),
            CtlReply::Contacts {
                aor,
                key_id,
                records,
                dropped,
            } => {
                write!(f, "{aor} (key {key_id}): {} contacts", records.len())?;
                if *dropped > 0 {
                    write!(f, " ({dropped} stale or malformed values dropped)")?;
                }
                for r in records {
                    write!(
                        f,
                        "\n  {}  {:<21}  seq {}",
                        r.node,
                        r.addr.to_string(),
                        r.seq
                    )?;
                }
                Ok(())
            }
            CtlReply::Call(c) => {
                write!(
                    f,
                    "call {} to {} ({} at {})",
                    c.call, c.aor, c.callee, c.callee_addr
                )?;
                if c.relays.is_empty() {
                    writeln!(f, " direct")?;
                } else {
                    let via: Vec<String> = c.relays.iter().map(|r| r.addr.to_string()).collect();
                    writeln!(f, " via relay {}", via.join(" then "))?;
                }
                writeln!(
                    f,
                    "{} frames each way of {} bytes; setup {:.3} ms; outcome {}",
                    c.frames, c.frame_bytes, c.setup_ms, c.outcome
                )?;
                if !c.relays.is_empty() {
                    writeln!(
                        f,
                        "failover (detect {:.0} ms, {} at once): {} switches, {} interruptions totalling {:.3} ms",
                        c.detect_ms, c.redundancy, c.switches, c.interruptions, c.interrupted_ms
                    )?;
                    for r in &c.relays {
                        write!(
                            f,
                            "  relay {}: caller sent {} received {}",
                            r.addr, r.sent, r.received
                        )?;
                        match (r.relayed_frames, r.relayed_bytes) {
                            (Some(n), Some(b)) => writeln!(f, "; forwarded {n} frames, {b} bytes")?,
                            _ => writeln!(f, "; no report")?,
                        }
                    }
                }
                for (name, d) in [
                    ("caller -> callee", c.forward),
                    ("callee -> caller", c.backward),
                ] {
                    match d {
                        Some(d) => writeln!(
                            f,
                            "{name}: sent {} received {} lost {} max gap {:.3} ms mean delay {:.3} ms",
                            d.sent, d.received, d.lost, d.max_gap_ms, d.mean_delay_ms
                        )?,
                        None => writeln!(f, "{name}: no report from the callee")?,
                    }
                }
                match (c.relayed_frames, c.relayed_bytes) {
                    (Some(n), Some(b)) => write!(f, "relayed {n} frames, {b} bytes"),
                    _ if c.relay.is_some() => write!(f, "no report from the relay"),
                    _ => write!(f, "not relayed"),
                }
            }
            CtlReply::Left { node } => write!(f, "node {node} left the overlay"),
        }
    }
}

/// One reply line on the wire.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Envelope {
    Ok(CtlReply),
    Error(String),
}

/// Serde for ids as 40 hexadecimal digits.
mod hex_id {
    use peerlab_core::NodeId;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(id: &NodeId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

// ---- server ----------------------------------------------------------------

/// A request handed from a control connection to the event loop.
pub(crate) struct CtlMsg {
    /// The request.
    pub req: CtlRequest,
    /// Where the event loop sends the reply or a refusal.
    pub reply: oneshot::Sender<Result<CtlReply, String>>,
}

/// Accepts control connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, to_loop: mpsc::Sender<CtlMsg>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tracing::trace!(%peer, "control connection");
                tokio::spawn(serve_connection(stream, to_loop.clone()));
            }
            Err(e) => {
                // Usually out of file descriptors; back off instead of spinning.
                tracing::warn!(error = %e, "control accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, to_loop: mpsc::Sender<CtlMsg>) {
    let (rd, mut wr) = stream.into_split();
    let outcome = match tokio::time::timeout(REQUEST_READ_TIMEOUT, read_request(rd)).await {
        Err(_) => Err("timed out waiting for the request line".to_string()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(req)) => dispatch(req, &to_loop).await,
    };
    let envelope = match outcome {
        Ok(r) => Envelope::Ok(r),
        Err(e) => Envelope::Error(e),
    };
    let mut line = serde_json::to_string(&envelope).unwrap_or_else(|e| {
        format!(
            "{{\"error\":\"cannot encode the reply: {}\"}}",
            e.to_string().replace('"', "'")
        )
    });
    line.push('\n');
    if let Err(e) = wr.write_all(line.as_bytes()).await {
        tracing::debug!(error = %e, "control client went away before the reply");
    }
    let _ = wr.shutdown().await;
}

async fn read_request(rd: tokio::net::tcp::OwnedReadHalf) -> Result<CtlRequest, String> {
    let mut reader = BufReader::new(rd).take(MAX_REQUEST_LINE + 1);
    let mut line = String::new();
    match reader.read_line(&mut line).await {
        Ok(n) if n as u64 > MAX_REQUEST_LINE => {
            return Err(format!("request line longer than {MAX_REQUEST_LINE} bytes"));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err("request line is not valid UTF-8".to_string());
        }
        Err(e) => return Err(format!("cannot read the request line: {e}")),
    }
    parse_request(&line)
}

/// Parses one request line.
fn parse_request(line: &str) -> Result<CtlRequest, String> {
    let line = line.trim();
    if line.is_empty() {
        return Err(
            "empty request line (expected one JSON object, e.g. {\"op\":\"stats\"})".to_string(),
        );
    }
    serde_json::from_str(line).map_err(|e| {
        format!(
            "malformed request: {e} (expected one JSON object with \"op\" one of put, get, remove, lookup, \
             routes, stats, leave, register, unregister, whois, call)"
        )
    })
}

async fn dispatch(req: CtlRequest, to_loop: &mpsc::Sender<CtlMsg>) -> Result<CtlReply, String> {
    let stopped = || "the node is shutting down".to_string();
    let (tx, rx) = oneshot::channel();
    to_loop
        .send(CtlMsg { req, reply: tx })
        .await
        .map_err(|_| stopped())?;
    rx.await
        .map_err(|_| "the node stopped before the request finished".to_string())?
}

// ---- client ------------------------------------------------------------------

fn encode_request(req: &CtlRequest) -> Result<String, NodeError> {
    let mut line = serde_json::to_string(req)
        .map_err(|e| NodeError::io("cannot encode the control request", e.into()))?;
    line.push('\n');
    Ok(line)
}

fn parse_reply(addr: SocketAddr, bytes: &[u8]) -> Result<CtlReply, NodeError> {
    let bad = |reason: String| NodeError::BadReply { addr, reason };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("reply is not valid UTF-8".into()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("the connection closed without a reply".into()));
    }
    match serde_json::from_str::<Envelope>(text).map_err(|e| bad(e.to_string()))? {
        Envelope::Ok(reply) => Ok(reply),
        Envelope::Error(msg) => Err(NodeError::Remote(msg)),
    }
}

/// Sends one request to the control interface at `control` and waits for the reply.
///
/// A refusal or failure reported by the node comes back as [`NodeError::Remote`].
pub async fn ctl(control: SocketAddr, req: &CtlRequest) -> Result<CtlReply, NodeError> {
    let err = |source| NodeError::Control {
        addr: control,
        source,
    };
    let line = encode_request(req)?;
    let mut stream = TcpStream::connect(control).await.map_err(err)?;
    stream.write_all(line.as_bytes()).await.map_err(err)?;
    let mut reply = Vec::new();
    (&mut stream)
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .await
        .map_err(err)?;
    parse_reply(control, &reply)
}

/// [`ctl`] for synchronous callers (a CLI); it needs no async runtime.
pub fn ctl_blocking(control: SocketAddr, req: &CtlRequest) -> Result<CtlReply, NodeError> {
    use std::io::{Read, Write};
    let err = |source| NodeError::Control {
        addr: control,
        source,
    };
    let line = encode_request(req)?;
    let mut stream =
        std::net::TcpStream::connect_timeout(&control, CONNECT_TIMEOUT).map_err(err)?;
    stream.write_all(line.as_bytes()).map_err(err)?;
    let mut reply = Vec::new();
    (&mut stream)
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .map_err(err)?;
    parse_reply(control, &reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json_lines() {
        let reqs = [
            CtlRequest::Put {
                key: "alice".into(),
                value: "v".into(),
                ttl_secs: Some(5),
            },
            CtlRequest::Get {
                key: "alice".into(),
            },
            CtlRequest::Remove {
                key: "a".into(),
                value: "v".into(),
            },
            CtlRequest::Lookup { key: "a".into() },
            CtlRequest::Routes,
            CtlRequest::Stats,
            CtlRequest::Leave,
            CtlRequest::Register {
                aor: "alice@example.com".into(),
            },
            CtlRequest::Unregister { aor: "a@b".into() },
            CtlRequest::Whois { aor: "a@b".into() },
            CtlRequest::Call {
                aor: "a@b".into(),
                seconds: 1.5,
                relays: vec![
                    "127.0.0.1:9".parse().unwrap(),
                    "127.0.0.1:10".parse().unwrap(),
                ],
                detect_ms: Some(300),
                redundancy: Some(2),
            },
        ];
        for r in reqs {
            let line = encode_request(&r).unwrap();
            assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
            assert_eq!(parse_request(&line).unwrap(), r);
        }
        assert_eq!(
            parse_request(r#"{"op":"put","key":"k","value":"v"}"#).unwrap(),
            CtlRequest::Put {
                key: "k".into(),
                value: "v".into(),
                ttl_secs: None
            }
        );
    }

    #[test]
    fn malformed_requests_are_explained() {
        for bad in [
            "",
            "nonsense",
            "{}",
            r#"{"op":"fly"}"#,
            r#"{"op":"get"}"#,
            r#"{"op":"get","key":3}"#,
        ] {
            let e = parse_request(bad).unwrap_err();
            assert!(e.contains("request"), "{bad}: {e}");
        }
    }

    #[test]
    fn replies_round_trip_and_errors_become_remote() {
        let id = NodeId::from_name(peerlab_core::HashAlg::Sha1, "k");
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let cost = CtlCost {
            hops: 1,
            latency_ms: 0.5,
            messages: 3,
            timeouts: 0,
        };
        let reply = CtlReply::Values {
            key: "k".into(),
            key_id: id,
            values: vec![],
            cost,
        };
        let line = serde_json::to_string(&Envelope::Ok(reply.clone())).unwrap();
        assert_eq!(parse_reply(addr, line.as_bytes()).unwrap(), reply);
        assert!(reply.to_string().contains("not found"));
        let line = serde_json::to_string(&Envelope::Error("nope".into())).unwrap();
        assert!(
            matches!(parse_reply(addr, line.as_bytes()), Err(NodeError::Remote(m)) if m == "nope")
        );
        assert!(matches!(
            parse_reply(addr, b""),
            Err(NodeError::BadReply { .. })
        ));
        assert!(matches!(
            parse_reply(addr, b"{\"ok\":1}"),
            Err(NodeError::BadReply { .. })
        ));
    }
}
