//! The rows a simulation run produces. The experiment front end turns them
//! into Parquet tables; the column meanings are documented in the README.

use crate::graph::{GraphSnapshot, OverlayGraph};
use crate::nat::NatDrops;
use crate::series::SeriesOutput;
use peerlab_core::NodeId;
use peerlab_core::protocol::{ClassTraffic, TrafficClass};
use peerlab_core::wire::MsgKind;
use serde::{Deserialize, Serialize};

/// One lookup issued by the workload.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupRecord {
    /// Simulated time the lookup was issued, in seconds.
    pub time_s: f64,
    /// Index of the issuing node.
    pub origin: u32,
    /// The id looked up.
    pub key: NodeId,
    /// The lookup returned the node the oracle says is responsible (the live
    /// node closest to the key).
    pub success: bool,
    /// Fraction of the oracle's k closest live nodes that the lookup returned.
    pub k_closest_fraction: f64,
    /// Overlay hops to the node that supplied the result.
    pub hops: u32,
    /// Time from issue to result, in milliseconds.
    pub latency_ms: f64,
    /// Request messages the lookup sent (retries included).
    pub messages: u32,
    /// Requests that timed out.
    pub timeouts: u32,
    /// Issued during the measurement phase (always true in static runs).
    pub measured: bool,
}

/// One read of a user's registration (churn runs with
/// `registration.read_interval_s`), judged against the simulator's global
/// view of acknowledged puts and removals ([`crate::registration::DeviceLog`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationRead {
    /// Simulated time the read was issued, in seconds.
    pub time_s: f64,
    /// Index of the reading node.
    pub reader: u32,
    /// The user read: the index of the node that is its only device.
    pub user: u32,
    /// Contacts the global view says the read must return (0 or 1).
    pub expected: u32,
    /// Contacts the read returned (live records, newest per device).
    pub returned: u32,
    /// The answer is what the global view allows.
    pub correct: bool,
    /// A record came back that the view does not allow (older than the
    /// current one, removed, or another user's).
    pub stale: bool,
    /// No record came back although the view requires one.
    pub missing: bool,
    /// Time from issue to result, in milliseconds.
    pub latency_ms: f64,
    /// Issued during the measurement phase.
    pub measured: bool,
}

/// The caller's read of the callee's registration at a workload call (churn
/// runs with registrations and a call workload): call setup's DHT lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct CallLookup {
    /// Position of the call in the workload's call stream (0, 1, ...): the
    /// same numbering as the calls scenario's
    /// [`CallRecord::id`](crate::calls::CallRecord::id).
    pub call: u64,
    /// The call's time in the workload stream, in seconds.
    pub time_s: f64,
    /// The caller (the reading node).
    pub caller: u32,
    /// The callee (the user read).
    pub callee: u32,
    /// Whether the read was issued: false when the caller had not finished
    /// joining the overlay (it cannot look anything up).
    pub issued: bool,
    /// A live contact record of the callee came back.
    pub found: bool,
    /// Time from issue to result, in milliseconds; NaN if the read was not
    /// issued or its caller left before the answer came.
    pub latency_ms: f64,
    /// Overlay hops to the node that supplied the result (0 if none).
    pub hops: u32,
}

/// One value put by the workload and read back from another node.
#[derive(Clone, Debug, PartialEq)]
pub struct PutRecord {
    /// Simulated time of the put, in seconds.
    pub time_s: f64,
    /// The key.
    pub key: NodeId,
    /// The node that put the value.
    pub put_origin: u32,
    /// Nodes that acknowledged the store.
    pub replicas: u32,
    /// Of the oracle's k closest live nodes, how many hold the value.
    pub replicas_on_closest: u32,
    /// The node that read it back (never the putter).
    pub get_origin: u32,
    /// The read returned the value that was put.
    pub found: bool,
    /// Hops of the read.
    pub get_hops: u32,
    /// Latency of the read, in milliseconds.
    pub get_latency_ms: f64,
}

/// Message and byte counts, by message type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficByKind {
    /// Messages sent, indexed by [`MsgKind::index`].
    pub messages: [u64; MsgKind::COUNT],
    /// Bytes sent (encoded size), indexed by [`MsgKind::index`].
    pub bytes: [u64; MsgKind::COUNT],
}

// Arrays longer than 32 have no derived `Default`.
impl Default for TrafficByKind {
    fn default() -> Self {
        TrafficByKind {
            messages: [0; MsgKind::COUNT],
            bytes: [0; MsgKind::COUNT],
        }
    }
}

impl TrafficByKind {
    /// Total messages.
    pub fn total_messages(&self) -> u64 {
        self.messages.iter().sum()
    }
    /// Total bytes.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
    /// Bytes of the given kinds.
    pub fn bytes_of(&self, kinds: &[MsgKind]) -> u64 {
        kinds.iter().map(|k| self.bytes[k.index()]).sum()
    }
    /// Keepalive bytes of the super-node/client hierarchy: keepalives and
    /// their answers ([`MsgKind::Keepalive`], [`MsgKind::KeepaliveAck`]).
    pub fn keepalive_bytes(&self) -> u64 {
        self.bytes_of(&[MsgKind::Keepalive, MsgKind::KeepaliveAck])
    }
    /// Relay-routing bytes: requests clients send through their super-node
    /// and its answers ([`MsgKind::ClientRequest`], [`MsgKind::ClientAnswer`]).
    pub fn relay_routing_bytes(&self) -> u64 {
        self.bytes_of(&[MsgKind::ClientRequest, MsgKind::ClientAnswer])
    }
}

/// Per-node traffic totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeTraffic {
    /// Messages sent.
    pub sent_messages: u64,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Messages received.
    pub recv_messages: u64,
    /// Bytes received.
    pub recv_bytes: u64,
}

/// Everything one run reports.
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    /// One row per workload lookup.
    pub lookups: Vec<LookupRecord>,
    /// One row per workload put.
    pub puts: Vec<PutRecord>,
    /// One row per registration read that finished (churn runs).
    pub registrations: Vec<RegistrationRead>,
    /// One row per workload call, in call-stream order (churn runs with
    /// registrations and calls); empty otherwise.
    pub call_lookups: Vec<CallLookup>,
    /// Traffic by message type over the whole run.
    pub traffic: TrafficByKind,
    /// Traffic per node over the whole run, indexed by node.
    pub node_traffic: Vec<NodeTraffic>,
    /// Hash over the sequence of processed events (see [`crate::engine`]).
    pub trace_hash: u64,
    /// Events processed.
    pub events: u64,
    /// Messages dropped by the loss model, at a node that was down, or by
    /// the NAT layer.
    pub dropped: u64,
    /// Of `dropped`, those the NAT layer dropped, by cause (zero without NATs).
    pub nat_drops: NatDrops,
    /// Simulated time at the end, in seconds.
    pub sim_time_s: f64,
    /// Nodes that completed their join (joins, for churn runs).
    pub joined: u32,
    /// Traffic during the measurement phase of a churn run.
    pub measurement: Option<MeasurementWindow>,
    /// Overlay-graph snapshots at the times [`SimOptions::snapshot_at_s`]
    /// asked for, in time order.
    ///
    /// [`SimOptions::snapshot_at_s`]: crate::SimOptions::snapshot_at_s
    pub snapshots: Vec<GraphSnapshot>,
    /// The graphs behind `snapshots`, same order, when
    /// [`SimOptions::snapshot_graphs`](crate::SimOptions::snapshot_graphs) is set.
    pub graphs: Vec<OverlayGraph>,
    /// The mass failure of a static run and the repair that followed.
    pub repair: Option<RepairReport>,
    /// Messages and bytes over the whole run by purpose, as the nodes
    /// attribute them ([`TrafficClass`]), summed over every node session;
    /// indexed by [`TrafficClass::index`].
    pub class_traffic: [ClassTraffic; TrafficClass::COUNT],
    /// Node-seconds over the whole run: the time integral of the number of
    /// nodes that had finished joining and had not left or failed.
    pub node_seconds: f64,
    /// The time series [`SimOptions::series`](crate::SimOptions::series)
    /// asked for, if any.
    pub series: Option<SeriesOutput>,
}

/// A mass failure and how the overlay's routing state recovered from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepairReport {
    /// Simulated time of the failure, in seconds.
    pub fail_at_s: f64,
    /// The nodes that failed, ascending.
    pub failed: Vec<u32>,
    /// The overlay graph right after the failure, before any node reacted.
    pub after_failure: GraphSnapshot,
    /// The dead-entry share below which the routing state counts as repaired.
    pub threshold: f64,
    /// Seconds from the failure to the first sample whose dead-entry share
    /// is below `threshold`; `None` if none was within the sampling window.
    pub dead_share_repair_s: Option<f64>,
    /// Ring DHTs (Chord): seconds from the failure to the first sample at
    /// which every live node's successor is its true successor per the
    /// oracle; `None` otherwise, or if none was within the sampling window.
    pub successors_repair_s: Option<f64>,
    /// The periodic samples after the failure.
    pub samples: Vec<RepairSample>,
}

/// The routing state's health at one time after a mass failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepairSample {
    /// Simulated time, in seconds.
    pub time_s: f64,
    /// Share of live nodes' routing entries that name a dead node.
    pub dead_entry_share: f64,
    /// Ring DHTs: live nodes whose first successor is not their true
    /// successor (or who have none).
    pub wrong_successors: Option<u32>,
}

/// Traffic over a churn run's measurement phase, for per-node rates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeasurementWindow {
    /// Start of the phase, in seconds.
    pub start_s: f64,
    /// End of the phase, in seconds.
    pub end_s: f64,
    /// Integral of the number of joined nodes over the phase (node-seconds).
    pub node_seconds: f64,
    /// Messages and bytes sent during the phase, by message type.
    pub traffic: TrafficByKind,
    /// Messages and bytes during the phase by purpose (lookup, store, join,
    /// routing maintenance, data maintenance), indexed by [`TrafficClass::index`].
    pub by_class: [ClassTraffic; TrafficClass::COUNT],
}

impl MeasurementWindow {
    /// Bytes per online node per second, for one purpose.
    pub fn class_bytes_per_node_s(&self, class: TrafficClass) -> f64 {
        self.by_class[class.index()].bytes as f64 / self.node_seconds.max(f64::MIN_POSITIVE)
    }

    /// Bytes sent per online node per second.
    pub fn bytes_per_node_s(&self) -> f64 {
        self.traffic.total_bytes() as f64 / self.node_seconds.max(f64::MIN_POSITIVE)
    }

    /// Hierarchy keepalive bytes per online node per second
    /// ([`TrafficByKind::keepalive_bytes`]).
    pub fn keepalive_bytes_per_node_s(&self) -> f64 {
        self.traffic.keepalive_bytes() as f64 / self.node_seconds.max(f64::MIN_POSITIVE)
    }

    /// Relay-routing bytes per online node per second
    /// ([`TrafficByKind::relay_routing_bytes`]).
    pub fn relay_routing_bytes_per_node_s(&self) -> f64 {
        self.traffic.relay_routing_bytes() as f64 / self.node_seconds.max(f64::MIN_POSITIVE)
    }
}

impl TrafficByKind {
    /// The difference `self - earlier`, for counters sampled at two times.
    pub fn since(&self, earlier: &TrafficByKind) -> TrafficByKind {
        let mut d = TrafficByKind::default();
        for i in 0..d.messages.len() {
            d.messages[i] = self.messages[i] - earlier.messages[i];
            d.bytes[i] = self.bytes[i] - earlier.bytes[i];
        }
        d
    }
}
