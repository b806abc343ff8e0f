//! Messages and their binary wire codec.
//!
//! Every datagram is one [`Message`]: a fixed header followed by a typed body.
//!
//! ```text
//! offset  size  field
//! 0       1     version (currently 1)
//! 1       1     message type (see [`MsgKind`])
//! 2       8     transaction id, big-endian
//! 10      20    sender node id
//! 30      ...   body, field by field; variable-length fields carry a length prefix
//! ```
//!
//! The decoder checks every length against the bytes that remain and against
//! the protocol limits below, rejects trailing bytes, and returns a
//! [`DecodeError`] that says what was wrong and at which offset. It never
//! panics, whatever the input (a property test feeds it millions of random and
//! mutated datagrams, and a cargo-fuzz target exists for longer campaigns).
//!
//! The simulator passes `Message` values without encoding them;
//! [`Message::encoded_len`] gives the exact on-wire size for bandwidth accounting.

use crate::addr::Addr;
use crate::id::{ID_BYTES, NodeId};
use crate::protocol::RoutingMode;

/// Wire format version written in every header.
pub const VERSION: u8 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 1 + 1 + 8 + ID_BYTES;
/// Largest datagram the codec accepts or produces (the IPv4 UDP payload limit).
pub const MAX_DATAGRAM: usize = 65_507;
/// Largest stored value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most values one reply may carry.
pub const MAX_VALUES: usize = 32;
/// Most contacts one reply may carry.
pub const MAX_CONTACTS: usize = 64;
/// Most relays one [`Body::RelaySwitch`] may name.
pub const MAX_SWITCH_RELAYS: usize = 8;
/// Most visited-node fingerprints a recursive request may carry (its hop limit
/// can therefore be at most this).
pub const MAX_PATH: usize = 255;

/// A peer as it appears on the wire and in routing tables: id and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Contact {
    /// The peer's overlay id.
    pub id: NodeId,
    /// Where the peer receives datagrams.
    pub addr: Addr,
}

impl Contact {
    /// Wire size of a contact.
    pub const WIRE_LEN: usize = ID_BYTES + Addr::WIRE_LEN;
}

/// One datagram: header fields and a typed body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    /// Matches a response to its request.
    pub txid: u64,
    /// The sending node's id.
    pub sender: NodeId,
    /// What the message says.
    pub body: Body,
}

/// The typed content of a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Body {
    /// Liveness check.
    Ping,
    /// Answer to `Ping`; reports the address the request came from, as the
    /// responder saw it (the sender's reflexive address behind a NAT).
    Pong {
        /// The requester's address as observed by the responder.
        observed: Addr,
    },
    /// Ask for the contacts closest to `target`.
    FindNode {
        /// The id being looked up.
        target: NodeId,
    },
    /// Contacts closest to a requested id.
    Nodes {
        /// Up to [`MAX_CONTACTS`] contacts, closest first.
        contacts: Vec<Contact>,
    },
    /// Ask for the values stored under `key`, or else the closest contacts.
    FindValue {
        /// The key being read.
        key: NodeId,
    },
    /// Values stored under a requested key.
    Values {
        /// Up to [`MAX_VALUES`] values of at most [`MAX_VALUE_LEN`] bytes.
        values: Vec<Vec<u8>>,
    },
    /// Store `value` under `key` for `ttl_secs`; a TTL of zero removes it.
    Store {
        /// The key.
        key: NodeId,
        /// The value, at most [`MAX_VALUE_LEN`] bytes.
        value: Vec<u8>,
        /// Remaining lifetime in seconds; zero removes the value.
        ttl_secs: u32,
    },
    /// Answer to `Store`.
    StoreAck {
        /// Whether the value was stored (or removed).
        stored: bool,
    },
    /// Chord, iterative routing: asks a node for the next hop towards the
    /// predecessor of `key`.
    NextHop {
        /// The key (ring position) being routed to.
        key: NodeId,
    },
    /// Answer to `NextHop`.
    NextHopReply {
        /// True if the responder precedes the key: `contacts` is then the key's
        /// successor (the responsible node) followed by its successors. False:
        /// `contacts` are nodes closer to the key, closest first.
        done: bool,
        /// Up to [`MAX_CONTACTS`] contacts.
        contacts: Vec<Contact>,
    },
    /// Chord stabilisation: asks a node for its predecessor and successor list.
    GetNeighbours,
    /// Answer to `GetNeighbours`.
    Neighbours {
        /// The responder's predecessor, if it knows one.
        predecessor: Option<Contact>,
        /// The responder's successor list, nearest first.
        successors: Vec<Contact>,
    },
    /// Chord: the sender believes it may be the receiver's predecessor. Not answered.
    Notify,
    /// Chord graceful leave: the sender is leaving; these were its neighbours.
    /// Sent to its predecessor and successor. Not answered.
    Leaving {
        /// The leaving node's predecessor.
        predecessor: Option<Contact>,
        /// The leaving node's successor list, nearest first.
        successors: Vec<Contact>,
    },
    /// Chord: the sender adopted `successor` as its predecessor in place of
    /// the receiver, so `successor` now sits between them: the receiver's
    /// successor may be `successor`. Not answered.
    SuccessorHint {
        /// The node that joined between the receiver and the sender.
        successor: Contact,
    },
    /// Recursive routing: a request travelling hop by hop towards `key`.
    /// Each hop acknowledges it with [`Body::RouteAck`] and forwards it.
    Route {
        /// The origin's identifier for the request (the txid of its result).
        route_id: u64,
        /// Where the result goes.
        origin: Contact,
        /// The key being routed to.
        key: NodeId,
        /// Request messages sent for this request so far, retries included.
        sent: u16,
        /// Fingerprints of the nodes that handled the request, origin first
        /// (at most [`MAX_PATH`]); its length is the hop number of the receiver.
        path: Vec<u32>,
    },
    /// Hop-by-hop acknowledgement of [`Body::Route`].
    RouteAck,
    /// The result of a recursive request, sent by its last hop straight to the
    /// origin; the message's txid is the request's `route_id`.
    RouteResult {
        /// Overlay hops from the origin to the node that produced the result.
        hops: u8,
        /// Request messages sent for the request, retries included.
        sent: u16,
        /// The request was stopped because it looped or reached the hop limit.
        loop_detected: bool,
        /// The result, most responsible first; empty if routing failed.
        contacts: Vec<Contact>,
    },
    /// NAT traversal: a STUN-like binding request. The receiver answers with
    /// [`Body::BindingAnswer`] carrying the address it saw the request come
    /// from, sent from the endpoint `change` asks for. Clients also use it as
    /// their keepalive, which registers them with the receiver as rendezvous.
    Binding {
        /// Where the answer should come from.
        change: Change,
    },
    /// NAT traversal: the answer to [`Body::Binding`] (same txid).
    BindingAnswer {
        /// The request's source address as the answering side saw it.
        mapped: Addr,
    },
    /// NAT traversal: a server asks its partner (at another IP address) to
    /// answer a [`Change::Address`] binding request in its place.
    BindingRelay {
        /// Where the answer goes: the requester's mapped address.
        reply_to: Addr,
    },
    /// NAT traversal: ask a rendezvous to introduce the sender to `target`,
    /// a node registered with it, for hole punching.
    Connect {
        /// The node to reach.
        target: NodeId,
    },
    /// NAT traversal: a rendezvous tells each side of a [`Body::Connect`]
    /// where the other is (same txid on both sides).
    PunchInvite {
        /// The other side and its address as the rendezvous sees it.
        peer: Contact,
    },
    /// NAT traversal: a hole-punching or direct-connectivity probe.
    Probe,
    /// NAT traversal: the answer to [`Body::Probe`] (same txid).
    ProbeAck,
    /// Hierarchy: a client's keepalive to its super-node, which also asks to
    /// be (or stay) attached. It refreshes the client's NAT binding and tells
    /// the super-node the client's current address.
    Keepalive,
    /// Hierarchy: the answer to [`Body::Keepalive`] (same txid).
    KeepaliveAck {
        /// The client's address as the super-node sees it.
        mapped: Addr,
        /// Whether the super-node serves the client (false: it is full, try
        /// one of `backups`).
        accepted: bool,
        /// A few full nodes the client may attach to if this one fails.
        backups: Vec<Contact>,
    },
    /// Hierarchy: a client asks its super-node to run a request on the DHT.
    ClientRequest {
        /// The request.
        op: ClientOp,
    },
    /// Hierarchy: the super-node's answer to [`Body::ClientRequest`] (same txid).
    ClientAnswer {
        /// Overlay hops the super-node's request took.
        hops: u8,
        /// Request messages the super-node sent for it, retries included.
        sent: u16,
        /// Nodes that acknowledged a put or remove.
        replicas: u8,
        /// A lookup's result, most responsible first.
        contacts: Vec<Contact>,
        /// A get's values.
        values: Vec<Vec<u8>>,
    },
    /// Media: ask a relay to forward call `call` between the sender (the
    /// request's source address) and `peer`. Answered by [`Body::RelayAnswer`].
    RelayAllocate {
        /// The call id.
        call: u64,
        /// The other leg's address.
        peer: Addr,
    },
    /// Media: the relay's answer to [`Body::RelayAllocate`] (same txid).
    RelayAnswer {
        /// The call id.
        call: u64,
        /// Whether the relay forwards the call.
        accepted: bool,
    },
    /// Media: the caller offers a call of `frames` frames each way; the callee
    /// sends its media to `send_to` (the caller, or the caller's relay).
    CallOffer {
        /// The call id.
        call: u64,
        /// Frames each side sends.
        frames: u32,
        /// Milliseconds between frames.
        frame_ms: u16,
        /// Payload bytes per frame.
        payload_len: u16,
        /// Where the callee sends its frames.
        send_to: Addr,
    },
    /// Media: the callee's answer to [`Body::CallOffer`] (same txid).
    CallAnswer {
        /// The call id.
        call: u64,
        /// Whether the callee takes the call.
        accepted: bool,
    },
    /// Media: one synthetic voice (or video) frame.
    Media {
        /// The call id.
        call: u64,
        /// Sequence number, from 0 per direction.
        seq: u32,
        /// Send time in the sender's media clock, microseconds.
        sent_at: u64,
        /// The synthetic payload.
        payload: Vec<u8>,
    },
    /// Media: the caller ends call `call` after sending `sent` frames; the
    /// callee or relay answers with [`Body::CallReport`].
    Hangup {
        /// The call id.
        call: u64,
        /// Frames the caller sent (0 to a relay).
        sent: u32,
    },
    /// Media: what one side saw of a call (same txid as the [`Body::Hangup`]).
    /// A callee reports the frames it received and sent; a relay reports the
    /// frames and bytes it forwarded (both legs) in `received` and `bytes`.
    CallReport {
        /// The call id.
        call: u64,
        /// Frames received (a relay: frames forwarded).
        received: u32,
        /// Datagram bytes received (a relay: bytes forwarded).
        bytes: u64,
        /// Frames this side sent (0 for a relay).
        sent: u32,
        /// Frames missing by sequence number.
        lost: u32,
        /// Longest time between consecutive frames, microseconds.
        max_gap_us: u64,
        /// Mean one-way delay, microseconds.
        mean_delay_us: u64,
    },
    /// Media: the caller changed the relays carrying call `call` (a failover,
    /// or the set of an actively redundant call); the callee sends each of
    /// its frames to every address in `relays` from now on. `epoch` numbers
    /// the caller's switches from 1, so a late copy of an older switch is
    /// told apart. Answered by [`Body::RelaySwitchAck`].
    RelaySwitch {
        /// The call id.
        call: u64,
        /// The switch's number within the call, from 1.
        epoch: u32,
        /// The relays to send through (at most [`MAX_SWITCH_RELAYS`]).
        relays: Vec<Addr>,
    },
    /// Media: the callee's answer to [`Body::RelaySwitch`] (same txid).
    RelaySwitchAck {
        /// The call id.
        call: u64,
        /// The switch acknowledged.
        epoch: u32,
    },
}

/// What a client asks its super-node to do ([`Body::ClientRequest`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOp {
    /// Find the nodes responsible for `target`.
    Lookup {
        /// The id to look up.
        target: NodeId,
        /// How the super-node routes it (the client's per-request choice).
        mode: RoutingMode,
    },
    /// Read the values under `key`.
    Get {
        /// The key.
        key: NodeId,
    },
    /// Add `value` under `key` for `ttl_secs` seconds.
    Put {
        /// The key.
        key: NodeId,
        /// The value, at most [`MAX_VALUE_LEN`] bytes.
        value: Vec<u8>,
        /// Lifetime in seconds.
        ttl_secs: u32,
    },
    /// Remove `value` from under `key`.
    Remove {
        /// The key.
        key: NodeId,
        /// The value.
        value: Vec<u8>,
    },
}

impl ClientOp {
    fn code(&self) -> u8 {
        match self {
            ClientOp::Lookup {
                mode: RoutingMode::Iterative,
                ..
            } => 0,
            ClientOp::Lookup {
                mode: RoutingMode::ParallelIterative,
                ..
            } => 4,
            ClientOp::Lookup {
                mode: RoutingMode::Recursive,
                ..
            } => 5,
            ClientOp::Get { .. } => 1,
            ClientOp::Put { .. } => 2,
            ClientOp::Remove { .. } => 3,
        }
    }

    /// The key or target the request is about.
    pub fn key(&self) -> NodeId {
        match self {
            ClientOp::Lookup { target: k, .. }
            | ClientOp::Get { key: k }
            | ClientOp::Put { key: k, .. }
            | ClientOp::Remove { key: k, .. } => *k,
        }
    }

    fn encoded_len(&self) -> usize {
        1 + ID_BYTES
            + match self {
                ClientOp::Lookup { .. } | ClientOp::Get { .. } => 0,
                ClientOp::Put { value, .. } => 2 + value.len().min(MAX_VALUE_LEN) + 4,
                ClientOp::Remove { value, .. } => 2 + value.len().min(MAX_VALUE_LEN),
            }
    }
}

/// Which endpoint should answer a [`Body::Binding`] request (after the
/// CHANGE-REQUEST attribute of RFC 5780).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// The address and port the request was sent to.
    None,
    /// The server's partner, at another IP address.
    Address,
    /// The same IP address, from the server's alternate port.
    Port,
}

impl Change {
    fn code(self) -> u8 {
        match self {
            Change::None => 0,
            Change::Address => 1,
            Change::Port => 2,
        }
    }
}

/// The message type, for accounting and dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum MsgKind {
    /// [`Body::Ping`]
    Ping = 1,
    /// [`Body::Pong`]
    Pong = 2,
    /// [`Body::FindNode`]
    FindNode = 3,
    /// [`Body::Nodes`]
    Nodes = 4,
    /// [`Body::FindValue`]
    FindValue = 5,
    /// [`Body::Values`]
    Values = 6,
    /// [`Body::Store`]
    Store = 7,
    /// [`Body::StoreAck`]
    StoreAck = 8,
    /// [`Body::NextHop`]
    NextHop = 16,
    /// [`Body::NextHopReply`]
    NextHopReply = 17,
    /// [`Body::GetNeighbours`]
    GetNeighbours = 18,
    /// [`Body::Neighbours`]
    Neighbours = 19,
    /// [`Body::Notify`]
    Notify = 20,
    /// [`Body::Leaving`]
    Leaving = 21,
    /// [`Body::Route`]
    Route = 22,
    /// [`Body::RouteAck`]
    RouteAck = 23,
    /// [`Body::RouteResult`]
    RouteResult = 24,
    /// [`Body::SuccessorHint`]
    SuccessorHint = 25,
    /// [`Body::Binding`]
    Binding = 26,
    /// [`Body::BindingAnswer`]
    BindingAnswer = 27,
    /// [`Body::BindingRelay`]
    BindingRelay = 28,
    /// [`Body::Connect`]
    Connect = 29,
    /// [`Body::PunchInvite`]
    PunchInvite = 30,
    /// [`Body::Probe`]
    Probe = 31,
    /// [`Body::ProbeAck`]
    ProbeAck = 32,
    /// [`Body::Keepalive`]
    Keepalive = 33,
    /// [`Body::KeepaliveAck`]
    KeepaliveAck = 34,
    /// [`Body::ClientRequest`]
    ClientRequest = 35,
    /// [`Body::ClientAnswer`]
    ClientAnswer = 36,
    // Codes 37..=39 are left free: other branches add kinds around 33..=36,
    // so the media kinds start at 40 to avoid collisions when merging.
    /// [`Body::RelayAllocate`]
    RelayAllocate = 40,
    /// [`Body::RelayAnswer`]
    RelayAnswer = 41,
    /// [`Body::CallOffer`]
    CallOffer = 42,
    /// [`Body::CallAnswer`]
    CallAnswer = 43,
    /// [`Body::Media`]
    Media = 44,
    /// [`Body::Hangup`]
    Hangup = 45,
    /// [`Body::CallReport`]
    CallReport = 46,
    /// [`Body::RelaySwitch`]
    RelaySwitch = 47,
    /// [`Body::RelaySwitchAck`]
    RelaySwitchAck = 48,
}

impl MsgKind {
    /// Every kind, in type-code order (equal to [`MsgKind::index`] order).
    pub const ALL: [MsgKind; 38] = [
        MsgKind::Ping,
        MsgKind::Pong,
        MsgKind::FindNode,
        MsgKind::Nodes,
        MsgKind::FindValue,
        MsgKind::Values,
        MsgKind::Store,
        MsgKind::StoreAck,
        MsgKind::NextHop,
        MsgKind::NextHopReply,
        MsgKind::GetNeighbours,
        MsgKind::Neighbours,
        MsgKind::Notify,
        MsgKind::Leaving,
        MsgKind::Route,
        MsgKind::RouteAck,
        MsgKind::RouteResult,
        MsgKind::SuccessorHint,
        MsgKind::Binding,
        MsgKind::BindingAnswer,
        MsgKind::BindingRelay,
        MsgKind::Connect,
        MsgKind::PunchInvite,
        MsgKind::Probe,
        MsgKind::ProbeAck,
        MsgKind::Keepalive,
        MsgKind::KeepaliveAck,
        MsgKind::ClientRequest,
        MsgKind::ClientAnswer,
        MsgKind::RelayAllocate,
        MsgKind::RelayAnswer,
        MsgKind::CallOffer,
        MsgKind::CallAnswer,
        MsgKind::Media,
        MsgKind::Hangup,
        MsgKind::CallReport,
        MsgKind::RelaySwitch,
        MsgKind::RelaySwitchAck,
    ];
    /// Number of kinds (for per-kind counter arrays).
    pub const COUNT: usize = Self::ALL.len();

    /// A dense index in `0..COUNT` (type codes have gaps: 1..=8, 16..=36,
    /// then 40..=48).
    pub fn index(self) -> usize {
        let code = self as usize;
        if code >= 40 {
            code - 11
        } else if code >= 16 {
            code - 8
        } else {
            code - 1
        }
    }

    /// Whether messages of this kind are requests (answered by the receiver,
    /// or one-way notifications) rather than answers to a request.
    pub fn is_request(self) -> bool {
        use MsgKind::*;
        matches!(
            self,
            Ping | FindNode
                | FindValue
                | Store
                | NextHop
                | GetNeighbours
                | Notify
                | Leaving
                | SuccessorHint
                | Route
                | Binding
                | BindingRelay
                | Connect
                | PunchInvite
                | Probe
                | Keepalive
                | ClientRequest
                | RelayAllocate
                | CallOffer
                | Media
                | Hangup
                | RelaySwitch
        )
    }
    /// The snake_case name used in result tables.
    pub fn name(self) -> &'static str {
        match self {
            MsgKind::Ping => "ping",
            MsgKind::Pong => "pong",
            MsgKind::FindNode => "find_node",
            MsgKind::Nodes => "nodes",
            MsgKind::FindValue => "find_value",
            MsgKind::Values => "values",
            MsgKind::Store => "store",
            MsgKind::StoreAck => "store_ack",
            MsgKind::NextHop => "next_hop",
            MsgKind::NextHopReply => "next_hop_reply",
            MsgKind::GetNeighbours => "get_neighbours",
            MsgKind::Neighbours => "neighbours",
            MsgKind::Notify => "notify",
            MsgKind::Leaving => "leaving",
            MsgKind::Route => "route",
            MsgKind::RouteAck => "route_ack",
            MsgKind::RouteResult => "route_result",
            MsgKind::SuccessorHint => "successor_hint",
            MsgKind::Binding => "binding",
            MsgKind::BindingAnswer => "binding_answer",
            MsgKind::BindingRelay => "binding_relay",
            MsgKind::Connect => "connect",
            MsgKind::PunchInvite => "punch_invite",
            MsgKind::Probe => "probe",
            MsgKind::ProbeAck => "probe_ack",
            MsgKind::Keepalive => "keepalive",
            MsgKind::KeepaliveAck => "keepalive_ack",
            MsgKind::ClientRequest => "client_request",
            MsgKind::ClientAnswer => "client_answer",
            MsgKind::RelayAllocate => "relay_allocate",
            MsgKind::RelayAnswer => "relay_answer",
            MsgKind::CallOffer => "call_offer",
            MsgKind::CallAnswer => "call_answer",
            MsgKind::Media => "media",
            MsgKind::Hangup => "hangup",
            MsgKind::CallReport => "call_report",
            MsgKind::RelaySwitch => "relay_switch",
            MsgKind::RelaySwitchAck => "relay_switch_ack",
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| *k as u8 == code)
    }
}

impl Body {
    /// This body's message type.
    pub fn kind(&self) -> MsgKind {
        match self {
            Body::Ping => MsgKind::Ping,
            Body::Pong { .. } => MsgKind::Pong,
            Body::FindNode { .. } => MsgKind::FindNode,
            Body::Nodes { .. } => MsgKind::Nodes,
            Body::FindValue { .. } => MsgKind::FindValue,
            Body::Values { .. } => MsgKind::Values,
            Body::Store { .. } => MsgKind::Store,
            Body::StoreAck { .. } => MsgKind::StoreAck,
            Body::NextHop { .. } => MsgKind::NextHop,
            Body::NextHopReply { .. } => MsgKind::NextHopReply,
            Body::GetNeighbours => MsgKind::GetNeighbours,
            Body::Neighbours { .. } => MsgKind::Neighbours,
            Body::Notify => MsgKind::Notify,
            Body::Leaving { .. } => MsgKind::Leaving,
            Body::Route { .. } => MsgKind::Route,
            Body::RouteAck => MsgKind::RouteAck,
            Body::RouteResult { .. } => MsgKind::RouteResult,
            Body::SuccessorHint { .. } => MsgKind::SuccessorHint,
            Body::Binding { .. } => MsgKind::Binding,
            Body::BindingAnswer { .. } => MsgKind::BindingAnswer,
            Body::BindingRelay { .. } => MsgKind::BindingRelay,
            Body::Connect { .. } => MsgKind::Connect,
            Body::PunchInvite { .. } => MsgKind::PunchInvite,
            Body::Probe => MsgKind::Probe,
            Body::ProbeAck => MsgKind::ProbeAck,
            Body::Keepalive => MsgKind::Keepalive,
            Body::KeepaliveAck { .. } => MsgKind::KeepaliveAck,
            Body::ClientRequest { .. } => MsgKind::ClientRequest,
            Body::ClientAnswer { .. } => MsgKind::ClientAnswer,
            Body::RelayAllocate { .. } => MsgKind::RelayAllocate,
            Body::RelayAnswer { .. } => MsgKind::RelayAnswer,
            Body::CallOffer { .. } => MsgKind::CallOffer,
            Body::CallAnswer { .. } => MsgKind::CallAnswer,
            Body::Media { .. } => MsgKind::Media,
            Body::Hangup { .. } => MsgKind::Hangup,
            Body::CallReport { .. } => MsgKind::CallReport,
            Body::RelaySwitch { .. } => MsgKind::RelaySwitch,
            Body::RelaySwitchAck { .. } => MsgKind::RelaySwitchAck,
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Body::Ping => 0,
            Body::Pong { .. } => Addr::WIRE_LEN,
            Body::FindNode { .. } | Body::FindValue { .. } => ID_BYTES,
            Body::Nodes { contacts } => 1 + contacts.len().min(MAX_CONTACTS) * Contact::WIRE_LEN,
            Body::Values { values } => values_len(values),
            Body::Store { value, .. } => ID_BYTES + 2 + value.len().min(MAX_VALUE_LEN) + 4,
            Body::StoreAck { .. } => 1,
            Body::NextHop { .. } => ID_BYTES,
            Body::NextHopReply { contacts, .. } => 1 + contacts_len(contacts),
            Body::GetNeighbours | Body::Notify | Body::RouteAck => 0,
            Body::Neighbours {
                predecessor,
                successors,
            }
            | Body::Leaving {
                predecessor,
                successors,
            } => option_contact_len(predecessor) + contacts_len(successors),
            Body::Route { path, .. } => {
                8 + Contact::WIRE_LEN + ID_BYTES + 2 + 1 + 4 * path.len().min(MAX_PATH)
            }
            Body::RouteResult { contacts, .. } => 1 + 2 + 1 + contacts_len(contacts),
            Body::SuccessorHint { .. } => Contact::WIRE_LEN,
            Body::Binding { .. } => 1,
            Body::BindingAnswer { .. } | Body::BindingRelay { .. } => Addr::WIRE_LEN,
            Body::Connect { .. } => ID_BYTES,
            Body::PunchInvite { .. } => Contact::WIRE_LEN,
            Body::Probe | Body::ProbeAck | Body::Keepalive => 0,
            Body::KeepaliveAck { backups, .. } => Addr::WIRE_LEN + 1 + contacts_len(backups),
            Body::ClientRequest { op } => op.encoded_len(),
            Body::ClientAnswer {
                contacts, values, ..
            } => 1 + 2 + 1 + contacts_len(contacts) + values_len(values),
            Body::RelayAllocate { .. } => 8 + Addr::WIRE_LEN,
            Body::RelayAnswer { .. } | Body::CallAnswer { .. } => 8 + 1,
            Body::CallOffer { .. } => 8 + 4 + 2 + 2 + Addr::WIRE_LEN,
            Body::Media { payload, .. } => 8 + 4 + 8 + 2 + payload.len().min(MAX_VALUE_LEN),
            Body::Hangup { .. } => 8 + 4,
            Body::CallReport { .. } => 8 + 4 + 8 + 4 + 4 + 8 + 8,
            Body::RelaySwitch { relays, .. } => {
                8 + 4 + 1 + relays.len().min(MAX_SWITCH_RELAYS) * Addr::WIRE_LEN
            }
            Body::RelaySwitchAck { .. } => 8 + 4,
        }
    }
}

/// Encoded size of a contact list with its count byte.
fn contacts_len(contacts: &[Contact]) -> usize {
    1 + contacts.len().min(MAX_CONTACTS) * Contact::WIRE_LEN
}

/// Encoded size of a value list with its count byte.
fn values_len(values: &[Vec<u8>]) -> usize {
    1 + values
        .iter()
        .take(MAX_VALUES)
        .map(|v| 2 + v.len().min(MAX_VALUE_LEN))
        .sum::<usize>()
}

/// Encoded size of an optional contact with its presence byte.
fn option_contact_len(c: &Option<Contact>) -> usize {
    1 + c.map_or(0, |_| Contact::WIRE_LEN)
}

/// Why a datagram could not be decoded. Offsets are byte positions in the datagram.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram ended inside a field.
    #[error(
        "truncated datagram: field `{field}` at offset {offset} needs {needed} bytes, {available} remain"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The header names a version this build does not speak.
    #[error("unsupported wire version {0} (this build speaks version {VERSION})")]
    UnsupportedVersion(u8),
    /// The header names no known message type.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// A count or length exceeds the protocol limit.
    #[error("field `{field}` at offset {offset} is {value}, above the limit of {max}")]
    OverLimit {
        /// The field.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// The value read.
        value: usize,
        /// The largest allowed.
        max: usize,
    },
    /// A boolean field holds something other than 0 or 1.
    #[error("field `{field}` at offset {offset} must be 0 or 1, found {value}")]
    BadBool {
        /// The field.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// The byte read.
        value: u8,
    },
    /// An enumerated field holds a value outside its range.
    #[error("field `{field}` at offset {offset} has no meaning for value {value}")]
    BadEnum {
        /// The field.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// The byte read.
        value: u8,
    },
    /// Bytes remain after the body.
    #[error("{0} trailing bytes after the message body")]
    TrailingBytes(usize),
    /// The datagram is larger than any valid message.
    #[error("datagram of {0} bytes exceeds the maximum of {MAX_DATAGRAM}")]
    TooLarge(usize),
}

impl Message {
    /// A message from its parts.
    pub fn new(txid: u64, sender: NodeId, body: Body) -> Self {
        Message { txid, sender, body }
    }

    /// Exact size of the encoded datagram in bytes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len()
    }

    /// Appends the encoded datagram to `out`.
    ///
    /// Bodies built by the core respect the protocol limits; a body that does not
    /// (an over-long value, too many contacts) is truncated to the limit so the
    /// output always decodes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(VERSION);
        out.push(self.body.kind() as u8);
        out.extend_from_slice(&self.txid.to_be_bytes());
        out.extend_from_slice(&self.sender.0);
        match &self.body {
            Body::Ping => {}
            Body::Pong { observed } => put_addr(out, observed),
            Body::FindNode { target } => out.extend_from_slice(&target.0),
            Body::FindValue { key } => out.extend_from_slice(&key.0),
            Body::Nodes { contacts } => put_contacts(out, contacts),
            Body::Values { values } => put_values(out, values),
            Body::Store {
                key,
                value,
                ttl_secs,
            } => {
                out.extend_from_slice(&key.0);
                put_bytes(out, value);
                out.extend_from_slice(&ttl_secs.to_be_bytes());
            }
            Body::StoreAck { stored } => out.push(u8::from(*stored)),
            Body::NextHop { key } => out.extend_from_slice(&key.0),
            Body::NextHopReply { done, contacts } => {
                out.push(u8::from(*done));
                put_contacts(out, contacts);
            }
            Body::GetNeighbours | Body::Notify | Body::RouteAck => {}
            Body::Neighbours {
                predecessor,
                successors,
            }
            | Body::Leaving {
                predecessor,
                successors,
            } => {
                match predecessor {
                    Some(c) => {
                        out.push(1);
                        put_contact(out, c);
                    }
                    None => out.push(0),
                }
                put_contacts(out, successors);
            }
            Body::Route {
                route_id,
                origin,
                key,
                sent,
                path,
            } => {
                out.extend_from_slice(&route_id.to_be_bytes());
                put_contact(out, origin);
                out.extend_from_slice(&key.0);
                out.extend_from_slice(&sent.to_be_bytes());
                let n = path.len().min(MAX_PATH);
                out.push(n as u8);
                for fp in &path[..n] {
                    out.extend_from_slice(&fp.to_be_bytes());
                }
            }
            Body::RouteResult {
                hops,
                sent,
                loop_detected,
                contacts,
            } => {
                out.push(*hops);
                out.extend_from_slice(&sent.to_be_bytes());
                out.push(u8::from(*loop_detected));
                put_contacts(out, contacts);
            }
            Body::SuccessorHint { successor } => put_contact(out, successor),
            Body::Binding { change } => out.push(change.code()),
            Body::BindingAnswer { mapped } => put_addr(out, mapped),
            Body::BindingRelay { reply_to } => put_addr(out, reply_to),
            Body::Connect { target } => out.extend_from_slice(&target.0),
            Body::PunchInvite { peer } => put_contact(out, peer),
            Body::Probe | Body::ProbeAck | Body::Keepalive => {}
            Body::KeepaliveAck {
                mapped,
                accepted,
                backups,
            } => {
                put_addr(out, mapped);
                out.push(u8::from(*accepted));
                put_contacts(out, backups);
            }
            Body::ClientRequest { op } => {
                out.push(op.code());
                out.extend_from_slice(&op.key().0);
                match op {
                    ClientOp::Lookup { .. } | ClientOp::Get { .. } => {}
                    ClientOp::Put {
                        value, ttl_secs, ..
                    } => {
                        put_bytes(out, value);
                        out.extend_from_slice(&ttl_secs.to_be_bytes());
                    }
                    ClientOp::Remove { value, .. } => put_bytes(out, value),
                }
            }
            Body::ClientAnswer {
                hops,
                sent,
                replicas,
                contacts,
                values,
            } => {
                out.push(*hops);
                out.extend_from_slice(&sent.to_be_bytes());
                out.push(*replicas);
                put_contacts(out, contacts);
                put_values(out, values);
            }
            Body::RelayAllocate { call, peer } => {
                out.extend_from_slice(&call.to_be_bytes());
                put_addr(out, peer);
            }
            Body::RelayAnswer { call, accepted } | Body::CallAnswer { call, accepted } => {
                out.extend_from_slice(&call.to_be_bytes());
                out.push(u8::from(*accepted));
            }
            Body::CallOffer {
                call,
                frames,
                frame_ms,
                payload_len,
                send_to,
            } => {
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&frames.to_be_bytes());
                out.extend_from_slice(&frame_ms.to_be_bytes());
                out.extend_from_slice(&payload_len.to_be_bytes());
                put_addr(out, send_to);
            }
            Body::Media {
                call,
                seq,
                sent_at,
                payload,
            } => {
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&sent_at.to_be_bytes());
                put_bytes(out, payload);
            }
            Body::Hangup { call, sent } => {
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&sent.to_be_bytes());
            }
            Body::CallReport {
                call,
                received,
                bytes,
                sent,
                lost,
                max_gap_us,
                mean_delay_us,
            } => {
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&received.to_be_bytes());
                out.extend_from_slice(&bytes.to_be_bytes());
                out.extend_from_slice(&sent.to_be_bytes());
                out.extend_from_slice(&lost.to_be_bytes());
                out.extend_from_slice(&max_gap_us.to_be_bytes());
                out.extend_from_slice(&mean_delay_us.to_be_bytes());
            }
            Body::RelaySwitch {
                call,
                epoch,
                relays,
            } => {
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&epoch.to_be_bytes());
                let n = relays.len().min(MAX_SWITCH_RELAYS);
                out.push(n as u8);
                for a in &relays[..n] {
                    put_addr(out, a);
                }
            }
            Body::RelaySwitchAck { call, epoch } => {
                out.extend_from_slice(&call.to_be_bytes());
                out.extend_from_slice(&epoch.to_be_bytes());
            }
        }
    }

    /// The encoded datagram as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }

    /// Decodes one datagram. Never panics.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        if buf.len() > MAX_DATAGRAM {
            return Err(DecodeError::TooLarge(buf.len()));
        }
        let mut r = Reader { buf, pos: 0 };
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let code = r.u8("type")?;
        let kind = MsgKind::from_code(code).ok_or(DecodeError::UnknownType(code))?;
        let txid = u64::from_be_bytes(r.array("txid")?);
        let sender = NodeId(r.array("sender")?);
        let body = match kind {
            MsgKind::Ping => Body::Ping,
            MsgKind::Pong => Body::Pong {
                observed: r.addr("observed")?,
            },
            MsgKind::FindNode => Body::FindNode {
                target: NodeId(r.array("target")?),
            },
            MsgKind::FindValue => Body::FindValue {
                key: NodeId(r.array("key")?),
            },
            MsgKind::Nodes => Body::Nodes {
                contacts: r.contacts("contacts")?,
            },
            MsgKind::Values => Body::Values {
                values: r.values("values")?,
            },
            MsgKind::Store => Body::Store {
                key: NodeId(r.array("key")?),
                value: r.bytes("value")?,
                ttl_secs: u32::from_be_bytes(r.array("ttl_secs")?),
            },
            MsgKind::StoreAck => Body::StoreAck {
                stored: r.bool("stored")?,
            },
            MsgKind::NextHop => Body::NextHop {
                key: NodeId(r.array("key")?),
            },
            MsgKind::NextHopReply => Body::NextHopReply {
                done: r.bool("done")?,
                contacts: r.contacts("contacts")?,
            },
            MsgKind::GetNeighbours => Body::GetNeighbours,
            MsgKind::Neighbours => Body::Neighbours {
                predecessor: r.option_contact("predecessor")?,
                successors: r.contacts("successors")?,
            },
            MsgKind::Notify => Body::Notify,
            MsgKind::Leaving => Body::Leaving {
                predecessor: r.option_contact("predecessor")?,
                successors: r.contacts("successors")?,
            },
            MsgKind::Route => {
                let route_id = u64::from_be_bytes(r.array("route_id")?);
                let origin = r.contact("origin")?;
                let key = NodeId(r.array("key")?);
                let sent = u16::from_be_bytes(r.array("sent")?);
                let n = r.count("path", MAX_PATH)?;
                let mut path = Vec::with_capacity(n);
                for _ in 0..n {
                    path.push(u32::from_be_bytes(r.array("path.fingerprint")?));
                }
                Body::Route {
                    route_id,
                    origin,
                    key,
                    sent,
                    path,
                }
            }
            MsgKind::RouteAck => Body::RouteAck,
            MsgKind::RouteResult => Body::RouteResult {
                hops: r.u8("hops")?,
                sent: u16::from_be_bytes(r.array("sent")?),
                loop_detected: r.bool("loop_detected")?,
                contacts: r.contacts("contacts")?,
            },
            MsgKind::SuccessorHint => Body::SuccessorHint {
                successor: r.contact("successor")?,
            },
            MsgKind::Binding => Body::Binding {
                change: match r.u8("change")? {
                    0 => Change::None,
                    1 => Change::Address,
                    2 => Change::Port,
                    value => {
                        return Err(DecodeError::BadEnum {
                            field: "change",
                            value,
                            offset: r.pos - 1,
                        });
                    }
                },
            },
            MsgKind::BindingAnswer => Body::BindingAnswer {
                mapped: r.addr("mapped")?,
            },
            MsgKind::BindingRelay => Body::BindingRelay {
                reply_to: r.addr("reply_to")?,
            },
            MsgKind::Connect => Body::Connect {
                target: NodeId(r.array("target")?),
            },
            MsgKind::PunchInvite => Body::PunchInvite {
                peer: r.contact("peer")?,
            },
            MsgKind::Probe => Body::Probe,
            MsgKind::ProbeAck => Body::ProbeAck,
            MsgKind::Keepalive => Body::Keepalive,
            MsgKind::KeepaliveAck => Body::KeepaliveAck {
                mapped: r.addr("mapped")?,
                accepted: r.bool("accepted")?,
                backups: r.contacts("backups")?,
            },
            MsgKind::ClientRequest => {
                let offset = r.pos;
                let code = r.u8("op")?;
                let key = NodeId(r.array("op.key")?);
                let op = match code {
                    0 => ClientOp::Lookup {
                        target: key,
                        mode: RoutingMode::Iterative,
                    },
                    4 => ClientOp::Lookup {
                        target: key,
                        mode: RoutingMode::ParallelIterative,
                    },
                    5 => ClientOp::Lookup {
                        target: key,
                        mode: RoutingMode::Recursive,
                    },
                    1 => ClientOp::Get { key },
                    2 => ClientOp::Put {
                        key,
                        value: r.bytes("op.value")?,
                        ttl_secs: u32::from_be_bytes(r.array("op.ttl_secs")?),
                    },
                    3 => ClientOp::Remove {
                        key,
                        value: r.bytes("op.value")?,
                    },
                    value => {
                        return Err(DecodeError::BadEnum {
                            field: "op",
                            offset,
                            value,
                        });
                    }
                };
                Body::ClientRequest { op }
            }
            MsgKind::ClientAnswer => Body::ClientAnswer {
                hops: r.u8("hops")?,
                sent: u16::from_be_bytes(r.array("sent")?),
                replicas: r.u8("replicas")?,
                contacts: r.contacts("contacts")?,
                values: r.values("values")?,
            },
            MsgKind::RelayAllocate => Body::RelayAllocate {
                call: r.u64("call")?,
                peer: r.addr("peer")?,
            },
            MsgKind::RelayAnswer => Body::RelayAnswer {
                call: r.u64("call")?,
                accepted: r.bool("accepted")?,
            },
            MsgKind::CallOffer => Body::CallOffer {
                call: r.u64("call")?,
                frames: u32::from_be_bytes(r.array("frames")?),
                frame_ms: u16::from_be_bytes(r.array("frame_ms")?),
                payload_len: u16::from_be_bytes(r.array("payload_len")?),
                send_to: r.addr("send_to")?,
            },
            MsgKind::CallAnswer => Body::CallAnswer {
                call: r.u64("call")?,
                accepted: r.bool("accepted")?,
            },
            MsgKind::Media => Body::Media {
                call: r.u64("call")?,
                seq: u32::from_be_bytes(r.array("seq")?),
                sent_at: r.u64("sent_at")?,
                payload: r.bytes("payload")?,
            },
            MsgKind::Hangup => Body::Hangup {
                call: r.u64("call")?,
                sent: u32::from_be_bytes(r.array("sent")?),
            },
            MsgKind::CallReport => Body::CallReport {
                call: r.u64("call")?,
                received: u32::from_be_bytes(r.array("received")?),
                bytes: r.u64("bytes")?,
                sent: u32::from_be_bytes(r.array("sent")?),
                lost: u32::from_be_bytes(r.array("lost")?),
                max_gap_us: r.u64("max_gap_us")?,
                mean_delay_us: r.u64("mean_delay_us")?,
            },
            MsgKind::RelaySwitch => {
                let call = r.u64("call")?;
                let epoch = u32::from_be_bytes(r.array("epoch")?);
                let n = r.count("relays", MAX_SWITCH_RELAYS)?;
                let mut relays = Vec::with_capacity(n);
                for _ in 0..n {
                    relays.push(r.addr("relays.addr")?);
                }
                Body::RelaySwitch {
                    call,
                    epoch,
                    relays,
                }
            }
            MsgKind::RelaySwitchAck => Body::RelaySwitchAck {
                call: r.u64("call")?,
                epoch: u32::from_be_bytes(r.array("epoch")?),
            },
        };
        let rest = buf.len() - r.pos;
        if rest != 0 {
            return Err(DecodeError::TrailingBytes(rest));
        }
        Ok(Message { txid, sender, body })
    }
}

fn put_addr(out: &mut Vec<u8>, a: &Addr) {
    out.extend_from_slice(&a.ip);
    out.extend_from_slice(&a.port.to_be_bytes());
}

fn put_contact(out: &mut Vec<u8>, c: &Contact) {
    out.extend_from_slice(&c.id.0);
    put_addr(out, &c.addr);
}

fn put_contacts(out: &mut Vec<u8>, contacts: &[Contact]) {
    let n = contacts.len().min(MAX_CONTACTS);
    out.push(n as u8);
    for c in &contacts[..n] {
        put_contact(out, c);
    }
}

fn put_values(out: &mut Vec<u8>, values: &[Vec<u8>]) {
    let n = values.len().min(MAX_VALUES);
    out.push(n as u8);
    for v in &values[..n] {
        put_bytes(out, v);
    }
}

fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    let n = v.len().min(MAX_VALUE_LEN);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&v[..n]);
}

/// A bounds-checked cursor over a datagram.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&[u8], DecodeError> {
        let available = self.buf.len() - self.pos;
        if available < n {
            return Err(DecodeError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(field, N)?);
        Ok(a)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }
    fn addr(&mut self, field: &'static str) -> Result<Addr, DecodeError> {
        let ip = self.array::<4>(field)?;
        let port = u16::from_be_bytes(self.array(field)?);
        Ok(Addr { ip, port })
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadBool {
                field,
                offset,
                value,
            }),
        }
    }
    fn contact(&mut self, field: &'static str) -> Result<Contact, DecodeError> {
        let id = NodeId(self.array(field)?);
        let addr = self.addr(field)?;
        Ok(Contact { id, addr })
    }
    fn option_contact(&mut self, field: &'static str) -> Result<Option<Contact>, DecodeError> {
        Ok(if self.bool(field)? {
            Some(self.contact(field)?)
        } else {
            None
        })
    }
    fn contacts(&mut self, field: &'static str) -> Result<Vec<Contact>, DecodeError> {
        let n = self.count(field, MAX_CONTACTS)?;
        let mut contacts = Vec::with_capacity(n);
        for _ in 0..n {
            let id = NodeId(self.array("contact.id")?);
            let addr = self.addr("contact.addr")?;
            contacts.push(Contact { id, addr });
        }
        Ok(contacts)
    }
    fn count(&mut self, field: &'static str, max: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let n = self.u8(field)? as usize;
        if n > max {
            return Err(DecodeError::OverLimit {
                field,
                offset,
                value: n,
                max,
            });
        }
        Ok(n)
    }
    fn values(&mut self, field: &'static str) -> Result<Vec<Vec<u8>>, DecodeError> {
        let n = self.count(field, MAX_VALUES)?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(self.bytes("value")?);
        }
        Ok(values)
    }
    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let offset = self.pos;
        let n = u16::from_be_bytes(self.array(field)?) as usize;
        if n > MAX_VALUE_LEN {
            return Err(DecodeError::OverLimit {
                field,
                offset,
                value: n,
                max: MAX_VALUE_LEN,
            });
        }
        Ok(self.take(field, n)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::HashAlg;

    fn samples() -> Vec<Message> {
        let id = NodeId::from_name(HashAlg::Sha1, "n");
        let c = Contact {
            id,
            addr: Addr::new([10, 0, 0, 1], 4000),
        };
        vec![
            Body::Ping,
            Body::Pong { observed: c.addr },
            Body::FindNode { target: id },
            Body::Nodes {
                contacts: vec![c; 3],
            },
            Body::FindValue { key: id },
            Body::Values {
                values: vec![b"sip:alice@10.0.0.1".to_vec(), vec![]],
            },
            Body::Store {
                key: id,
                value: vec![7; 100],
                ttl_secs: 3600,
            },
            Body::StoreAck { stored: true },
            Body::NextHop { key: id },
            Body::NextHopReply {
                done: true,
                contacts: vec![c; 2],
            },
            Body::GetNeighbours,
            Body::Neighbours {
                predecessor: Some(c),
                successors: vec![c; 8],
            },
            Body::Notify,
            Body::Leaving {
                predecessor: None,
                successors: vec![c],
            },
            Body::Route {
                route_id: 77,
                origin: c,
                key: id,
                sent: 3,
                path: vec![1, 2, 0xFFFF_FFFF],
            },
            Body::RouteAck,
            Body::RouteResult {
                hops: 4,
                sent: 5,
                loop_detected: true,
                contacts: vec![],
            },
            Body::SuccessorHint { successor: c },
            Body::Binding {
                change: Change::Port,
            },
            Body::BindingAnswer { mapped: c.addr },
            Body::BindingRelay { reply_to: c.addr },
            Body::Connect { target: id },
            Body::PunchInvite { peer: c },
            Body::Probe,
            Body::ProbeAck,
            Body::Keepalive,
            Body::KeepaliveAck {
                mapped: c.addr,
                accepted: true,
                backups: vec![c; 2],
            },
            Body::ClientRequest {
                op: ClientOp::Put {
                    key: id,
                    value: b"v".to_vec(),
                    ttl_secs: 60,
                },
            },
            Body::ClientAnswer {
                hops: 3,
                sent: 9,
                replicas: 0,
                contacts: vec![c],
                values: vec![b"x".to_vec()],
            },
            Body::RelayAllocate {
                call: 7,
                peer: c.addr,
            },
            Body::RelayAnswer {
                call: 7,
                accepted: true,
            },
            Body::CallOffer {
                call: 7,
                frames: 50,
                frame_ms: 20,
                payload_len: 160,
                send_to: c.addr,
            },
            Body::CallAnswer {
                call: 7,
                accepted: false,
            },
            Body::Media {
                call: 7,
                seq: 3,
                sent_at: 1_000_000,
                payload: vec![0xab; 160],
            },
            Body::Hangup { call: 7, sent: 50 },
            Body::CallReport {
                call: 7,
                received: 49,
                bytes: 49 * 212,
                sent: 50,
                lost: 1,
                max_gap_us: 40_000,
                mean_delay_us: 80,
            },
            Body::RelaySwitch {
                call: 7,
                epoch: 1,
                relays: vec![c.addr; 2],
            },
            Body::RelaySwitchAck { call: 7, epoch: 1 },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, b)| Message::new(i as u64 * 0x0101_0101, id, b))
        .collect()
    }

    #[test]
    fn every_kind_round_trips_with_exact_length() {
        for m in samples() {
            let bytes = m.to_bytes();
            assert_eq!(bytes.len(), m.encoded_len(), "{m:?}");
            assert_eq!(Message::decode(&bytes).unwrap(), m);
        }
    }

    #[test]
    fn kinds_have_dense_indices_and_unique_codes_and_names() {
        for (i, k) in MsgKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?}");
            assert_eq!(MsgKind::from_code(*k as u8), Some(*k));
        }
        let mut names: Vec<&str> = MsgKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), MsgKind::COUNT);
        assert_eq!(MsgKind::from_code(9), None);
        assert_eq!(MsgKind::from_code(37), None);
        assert_eq!(MsgKind::from_code(0), None);
        // Every sample's kind appears once, and requests are classified.
        let kinds: Vec<MsgKind> = samples().iter().map(|m| m.body.kind()).collect();
        assert_eq!(kinds, MsgKind::ALL.to_vec());
        let requests: Vec<&str> = MsgKind::ALL
            .iter()
            .filter(|k| k.is_request())
            .map(|k| k.name())
            .collect();
        assert_eq!(
            requests,
            [
                "ping",
                "find_node",
                "find_value",
                "store",
                "next_hop",
                "get_neighbours",
                "notify",
                "leaving",
                "route",
                "successor_hint",
                "binding",
                "binding_relay",
                "connect",
                "punch_invite",
                "probe",
                "keepalive",
                "client_request",
                "relay_allocate",
                "call_offer",
                "media",
                "hangup",
                "relay_switch"
            ]
        );
    }

    #[test]
    fn every_change_request_round_trips_and_unknown_ones_are_rejected() {
        for change in [Change::None, Change::Address, Change::Port] {
            let m = Message::new(9, NodeId::ZERO, Body::Binding { change });
            assert_eq!(Message::decode(&m.to_bytes()), Ok(m));
        }
        let mut b = Message::new(
            9,
            NodeId::ZERO,
            Body::Binding {
                change: Change::Port,
            },
        )
        .to_bytes();
        let last = b.len() - 1;
        b[last] = 3;
        assert_eq!(
            Message::decode(&b),
            Err(DecodeError::BadEnum {
                field: "change",
                offset: last,
                value: 3
            })
        );
    }

    #[test]
    fn optional_contacts_and_flags_reject_bytes_other_than_0_and_1() {
        let c = Contact {
            id: NodeId([3; 20]),
            addr: Addr::new([1, 2, 3, 4], 5),
        };
        let m = Message::new(
            1,
            NodeId::ZERO,
            Body::Neighbours {
                predecessor: Some(c),
                successors: vec![],
            },
        );
        let mut b = m.to_bytes();
        b[HEADER_LEN] = 2;
        assert!(matches!(
            Message::decode(&b),
            Err(DecodeError::BadBool {
                field: "predecessor",
                ..
            })
        ));
        let r = Message::new(
            1,
            NodeId::ZERO,
            Body::Route {
                route_id: 1,
                origin: c,
                key: NodeId::ZERO,
                sent: 1,
                path: vec![9; 300],
            },
        );
        // An over-long path is cut to the limit on encode, so it still decodes.
        let d = Message::decode(&r.to_bytes()).unwrap();
        assert!(matches!(d.body, Body::Route { path, .. } if path.len() == MAX_PATH));
    }

    #[test]
    fn header_layout_is_as_documented() {
        let m = Message::new(0x0102_0304_0506_0708, NodeId([0xAB; 20]), Body::Ping);
        let b = m.to_bytes();
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(b[0], VERSION);
        assert_eq!(b[1], MsgKind::Ping as u8);
        assert_eq!(&b[2..10], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[10..30], &[0xAB; 20]);
    }

    #[test]
    fn errors_name_the_field_and_offset() {
        let m = &samples()[3];
        let b = m.to_bytes();
        let e = Message::decode(&b[..b.len() - 1]).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::Truncated {
                    field: "contact.addr",
                    ..
                }
            ),
            "{e}"
        );
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            Message::decode(&long).unwrap_err(),
            DecodeError::TrailingBytes(1)
        );
        let mut v = b.clone();
        v[0] = 9;
        assert_eq!(
            Message::decode(&v).unwrap_err(),
            DecodeError::UnsupportedVersion(9)
        );
        v = b.clone();
        v[1] = 200;
        assert_eq!(
            Message::decode(&v).unwrap_err(),
            DecodeError::UnknownType(200)
        );
        v = b;
        v[HEADER_LEN] = (MAX_CONTACTS + 1) as u8;
        let e = Message::decode(&v).unwrap_err();
        assert_eq!(
            e,
            DecodeError::OverLimit {
                field: "contacts",
                offset: HEADER_LEN,
                value: 65,
                max: 64
            }
        );
        assert!(e.to_string().contains("offset 30"));
        assert!(Message::decode(&[]).is_err());
    }

    #[test]
    fn over_limit_bodies_are_truncated_on_encode_so_output_always_decodes() {
        let id = NodeId::ZERO;
        let m = Message::new(
            1,
            id,
            Body::Store {
                key: id,
                value: vec![1; 5000],
                ttl_secs: 1,
            },
        );
        assert_eq!(m.to_bytes().len(), m.encoded_len());
        let d = Message::decode(&m.to_bytes()).unwrap();
        match d.body {
            Body::Store { value, .. } => assert_eq!(value.len(), MAX_VALUE_LEN),
            other => panic!("unexpected {other:?}"),
        }
    }
}
