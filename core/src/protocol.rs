//! The interface every overlay state machine implements.
//!
//! It follows quinn-proto's split: `handle_*` methods feed inputs (a datagram,
//! the passage of time, an application command), and `poll_*` methods drain
//! outputs (datagrams to send, the next deadline, events for the application).
//! After every `handle_*` call a driver drains `poll_transmit` and `poll_event`
//! and re-reads `poll_timeout`. Time only moves forward.
//!
//! The simulator and the live node are both thin drivers over this trait, so
//! the logic measured in simulation is the logic that runs on the network.
//!
//! # Traffic accounting
//!
//! Every node counts messages and bytes by [`TrafficClass`]
//! ([`NodeStats::traffic`]): the purpose of the request a message belongs to.
//! Message types alone cannot say this (a Kademlia FIND_NODE serves user
//! lookups and bucket refreshes alike), so each node attributes its own
//! traffic, by this rule:
//!
//! - **requests a node sends** (retransmissions included) count at the
//!   sender, with their [`Message::encoded_len`], under the purpose of the
//!   request;
//! - **replies a node receives** to one of its own outstanding requests count
//!   at that node under the request's class. A reply is counted once, at the
//!   requester: the node that *sends* a reply does not count it, and a reply
//!   that no longer matches an outstanding request (it came after the last
//!   retransmission timed out, or duplicates an answer already taken) is not
//!   counted at all;
//! - **unsolicited messages a node sends** (Chord's notify, successor hints
//!   and leave notices, key hand-offs, recursive results sent to the origin)
//!   count at the sender under their purpose. A recursive request counts at
//!   each hop that forwards it, as a request of that hop. The wire does not
//!   carry the class, so a forwarding hop counts a request it forwards for
//!   another origin as [`TrafficClass::Lookup`]; today only user lookups are
//!   routed recursively, so this is exact.
//!
//! [`NodeStats::received`] holds the part of a node's count that it
//! received (the answers); the rest it sent.
//!
//! Summed over all nodes, every delivered message is thus counted once,
//! except replies nobody waited for any more (and requests, counted when
//! sent, that were lost). Counting costs one array addition per message.

use crate::addr::Addr;
use crate::id::NodeId;
use crate::time::Instant;
use crate::wire::{Contact, Message};

/// Identifies an application request within one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// How a request travels through the overlay.
///
/// Each protocol has a default that follows its paper
/// ([`crate::kademlia::KademliaConfig::DEFAULT_ROUTING`]: parallel iterative;
/// [`crate::chord::ChordConfig::DEFAULT_ROUTING`]: iterative). The mode applies
/// to the lookup it is given with; a protocol's own lookups (joins, refreshes,
/// gets and puts) keep that protocol's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoutingMode {
    /// The origin asks each hop in turn and learns the next hop from the
    /// reply, with one request in flight.
    #[default]
    Iterative,
    /// Iterative, with up to α requests in flight at once (α from the
    /// protocol's configuration: `KademliaConfig::alpha`, `ChordConfig::alpha`).
    ParallelIterative,
    /// Each hop forwards the request; the answer comes straight back to the origin.
    Recursive,
}

impl RoutingMode {
    /// Every mode.
    pub const ALL: [RoutingMode; 3] = [
        RoutingMode::Iterative,
        RoutingMode::ParallelIterative,
        RoutingMode::Recursive,
    ];

    /// The mode's name in specs and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            RoutingMode::Iterative => "iterative",
            RoutingMode::ParallelIterative => "parallel-iterative",
            RoutingMode::Recursive => "recursive",
        }
    }
}

impl core::fmt::Display for RoutingMode {
    /// The mode's name ([`RoutingMode::name`]).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// An application command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Join the overlay through the given known nodes (none: start a new overlay).
    Join {
        /// Addresses of nodes already in the overlay.
        bootstrap: Vec<Addr>,
    },
    /// Leave the overlay gracefully; the node goes quiet afterwards.
    Leave,
    /// Find the nodes closest to (responsible for) `target`.
    Lookup {
        /// The id to look up.
        target: NodeId,
        /// How the lookup is routed.
        mode: RoutingMode,
    },
    /// Read every value stored under `key`.
    Get {
        /// The key.
        key: NodeId,
    },
    /// Add `value` to the values under `key` (keys are multi-valued).
    Put {
        /// The key.
        key: NodeId,
        /// The value to add.
        value: Vec<u8>,
        /// Lifetime in seconds; the publisher republishes before it runs out.
        ttl_secs: u32,
    },
    /// Remove one value from the values under `key`.
    Remove {
        /// The key.
        key: NodeId,
        /// The value to remove.
        value: Vec<u8>,
    },
}

/// Why a command was refused before any message was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The node has not joined, or has left.
    #[error("the node is not part of an overlay (join first)")]
    NotJoined,
    /// The node has already joined.
    #[error("the node has already joined")]
    AlreadyJoined,
    /// The protocol does not offer this routing mode.
    #[error("{protocol} does not support {mode:?} routing")]
    UnsupportedMode {
        /// The protocol's name.
        protocol: &'static str,
        /// The mode asked for.
        mode: RoutingMode,
    },
    /// A value exceeds the wire limit.
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLong {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// What a finished request cost, for the result tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// When the command was issued.
    pub started: Instant,
    /// When the result was known.
    pub finished: Instant,
    /// Overlay hops to the node that supplied the result.
    pub hops: u32,
    /// Request messages sent on behalf of the request (retries included).
    pub messages: u32,
    /// Requests that timed out.
    pub timeouts: u32,
    /// A recursive request was stopped because it came back to a node it had
    /// visited or reached the hop limit (see [`crate::recursive`]).
    pub loop_detected: bool,
    /// A recursive request failed (origin timeout, loop, dead end) and the
    /// result was then found iteratively.
    pub fell_back: bool,
}

/// Something the application should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The join finished; `neighbours` is the routing-table size.
    Joined {
        /// The join request.
        id: RequestId,
        /// Contacts in the routing table afterwards.
        neighbours: usize,
    },
    /// No bootstrap node answered.
    JoinFailed {
        /// The join request.
        id: RequestId,
    },
    /// A lookup finished.
    LookupDone {
        /// The request.
        id: RequestId,
        /// The id looked up.
        target: NodeId,
        /// The closest live nodes found, closest first.
        closest: Vec<Contact>,
        /// What it cost.
        stats: RequestStats,
    },
    /// A get finished; `values` is empty if the key was not found.
    GetDone {
        /// The request.
        id: RequestId,
        /// The key.
        key: NodeId,
        /// The values found: the union of the sets of the holders read, each
        /// value once, in the order first seen (see the DHT's `read_holders`).
        values: Vec<Vec<u8>>,
        /// How many holders answered with values and were merged (0 if the
        /// key was not found; at most the DHT's `read_holders`).
        holders: u32,
        /// What it cost.
        stats: RequestStats,
    },
    /// A put or remove finished.
    StoreDone {
        /// The request.
        id: RequestId,
        /// The key.
        key: NodeId,
        /// How many nodes acknowledged the store.
        replicas: u32,
        /// What it cost.
        stats: RequestStats,
    },
    /// A contact entered the routing table.
    PeerAdded(Contact),
    /// A contact left the routing table.
    PeerRemoved(Contact),
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The local address to send from.
    pub src: Addr,
    /// Where to send it.
    pub dst: Addr,
    /// What to send.
    pub msg: Message,
}

/// Why the state machine wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerReason {
    /// An outstanding request may time out.
    RpcTimeout,
    /// Routing-table maintenance (bucket refresh, stabilisation).
    Maintenance,
    /// Stored values are due for republishing.
    Republish,
    /// Stored values expire.
    Expiry,
}

/// The next deadline and its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    /// When to call `handle_timeout`.
    pub at: Instant,
    /// Why.
    pub reason: TimerReason,
}

/// The role of a routing entry, for diagnostics (`ctl routes`, simulator snapshots).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteRole {
    /// A Kademlia k-bucket entry, by common-prefix length with the local id.
    Bucket(u8),
    /// A Kademlia replacement-cache entry, by bucket.
    Replacement(u8),
    /// A Chord successor-list entry, by position (0 is the immediate successor).
    Successor(u8),
    /// A Chord finger, by index `i`: the successor of `n + 2^i`. Only the
    /// lowest index of a run of equal fingers is listed.
    Finger(u8),
    /// The Chord predecessor.
    Predecessor,
}

impl core::fmt::Display for RouteRole {
    /// Short labels for routing-table listings: `bucket 3`, `repl 3`,
    /// `succ 0`, `finger 12`, `pred`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RouteRole::Bucket(b) => write!(f, "bucket {b}"),
            RouteRole::Replacement(b) => write!(f, "repl {b}"),
            RouteRole::Successor(i) => write!(f, "succ {i}"),
            RouteRole::Finger(i) => write!(f, "finger {i}"),
            RouteRole::Predecessor => f.write_str("pred"),
        }
    }
}

/// One routing entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// What the entry is for.
    pub role: RouteRole,
    /// The peer.
    pub contact: Contact,
    /// Consecutive failed requests to it.
    pub failures: u8,
}

/// What a message was sent for, for traffic accounting by purpose (the
/// rule is in the [module docs](self#traffic-accounting)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrafficClass {
    /// User lookups and gets: the routing steps, recursive forwards and
    /// results, and (Chord) reading the replicas.
    Lookup,
    /// User puts and removes: the lookup of the key's nodes and the STOREs.
    Store,
    /// Joining: bootstrap pings and the self-lookup, plus the maintenance a
    /// join triggers at once (Kademlia's refresh of the buckets beyond the
    /// closest neighbour; Chord's first stabilization and fix-fingers round).
    Join,
    /// Routing-state upkeep: bucket refreshes and liveness checks (Kademlia);
    /// stabilize, notify, successor hints, fix-fingers, check-predecessor and
    /// leave notices (Chord).
    RoutingMaintenance,
    /// Data upkeep: republishing (by holders and publishers), replica pushes
    /// and key hand-offs to a new predecessor or, on leaving, the successor.
    DataMaintenance,
}

impl TrafficClass {
    /// Every class, in [`TrafficClass::index`] order.
    pub const ALL: [TrafficClass; 5] = [
        TrafficClass::Lookup,
        TrafficClass::Store,
        TrafficClass::Join,
        TrafficClass::RoutingMaintenance,
        TrafficClass::DataMaintenance,
    ];

    /// The number of classes.
    pub const COUNT: usize = Self::ALL.len();

    /// The class's position in [`TrafficClass::ALL`] and in
    /// [`NodeStats::traffic`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name used in result tables.
    pub const fn name(self) -> &'static str {
        match self {
            TrafficClass::Lookup => "lookup",
            TrafficClass::Store => "store",
            TrafficClass::Join => "join",
            TrafficClass::RoutingMaintenance => "routing_maintenance",
            TrafficClass::DataMaintenance => "data_maintenance",
        }
    }
}

impl core::fmt::Display for TrafficClass {
    /// The snake_case name ([`TrafficClass::name`]).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Messages and bytes counted under one [`TrafficClass`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassTraffic {
    /// Messages counted.
    pub messages: u64,
    /// Their encoded size in bytes ([`Message::encoded_len`]).
    pub bytes: u64,
}

impl ClassTraffic {
    /// Counts one message of `bytes` bytes.
    pub fn add(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }
}

impl core::ops::AddAssign for ClassTraffic {
    fn add_assign(&mut self, other: ClassTraffic) {
        self.messages += other.messages;
        self.bytes += other.bytes;
    }
}

/// Counters a node keeps about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
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
    /// Recursive requests this node stopped because they looped or reached
    /// the hop limit.
    pub loops_detected: u64,
    /// Traffic this node accounted for, by [`TrafficClass::index`] (see
    /// [`TrafficClass`] for what counts where).
    pub traffic: [ClassTraffic; TrafficClass::COUNT],
    /// Of `traffic`, the messages this node received (answers to its own
    /// requests); the rest it sent. By [`TrafficClass::index`].
    pub received: [ClassTraffic; TrafficClass::COUNT],
}

impl NodeStats {
    /// The traffic counted under `class`.
    pub fn traffic_of(&self, class: TrafficClass) -> ClassTraffic {
        self.traffic[class.index()]
    }
}

/// A sans-IO overlay node: messages and time in; messages, deadlines and events out.
pub trait Protocol {
    /// This node's overlay id.
    fn node_id(&self) -> NodeId;
    /// The address this node sends from.
    fn local_addr(&self) -> Addr;
    /// Feeds one received datagram.
    fn handle_message(&mut self, now: Instant, from: Addr, msg: Message);
    /// Lets the node act on deadlines up to `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Issues an application command.
    fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<RequestId, CommandError>;
    /// The next datagram to send, if any.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The earliest deadline, if any.
    fn poll_timeout(&self) -> Option<Deadline>;
    /// The next event, if any.
    fn poll_event(&mut self) -> Option<Event>;
    /// The routing state, for diagnostics.
    fn routes(&self) -> Vec<RouteEntry>;
    /// Counters.
    fn stats(&self) -> NodeStats;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_classes_index_their_own_slot_and_have_distinct_names() {
        for (i, c) in TrafficClass::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(c.to_string(), c.name());
        }
        let mut names: Vec<&str> = TrafficClass::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TrafficClass::COUNT);
        let mut s = NodeStats::default();
        s.traffic[TrafficClass::Store.index()].add(30);
        s.traffic[TrafficClass::Store.index()].add(12);
        assert_eq!(
            s.traffic_of(TrafficClass::Store),
            ClassTraffic {
                messages: 2,
                bytes: 42
            }
        );
        assert_eq!(s.traffic_of(TrafficClass::Lookup), ClassTraffic::default());
    }
}
