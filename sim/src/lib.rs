//! peerlab-sim: a deterministic discrete-event simulator for peerlab's core.
//!
//! The simulator runs many core state machines over a network model
//! ([`network`]): per-pair latency and i.i.d. loss. The [`engine`] orders
//! events by (time, insertion sequence) and folds every processed event into a
//! trace hash, so the same configuration and seed give the same run, bit for
//! bit. Scenarios ([`scenario`]) plan a workload from seeded streams and judge
//! the results against a brute-force [`oracle`]. At chosen simulated times a
//! run can snapshot the overlay's routing-table graph ([`graph`]), and a
//! static run can fail a share of its nodes at once and measure how long the
//! routing state takes to recover ([`RepairReport`]). Users register under
//! their address of record through [`registration`].

pub mod calls;
pub mod config;
pub mod dht;
pub mod engine;
pub mod graph;
pub mod hierarchy;
pub mod nat;
pub mod network;
pub mod oracle;
pub mod records;
pub mod registration;
pub mod relay;
pub mod scenario;
pub mod series;
pub mod timers;
pub mod topology;

pub use config::{InvalidConfig, LatencyModel, NetworkConfig, SimOptions, StaticWorkload};
pub use dht::{DhtNode, Metric};
pub use graph::RoutingHealth;
pub use graph::{GraphOptions, GraphSnapshot, OverlayEdge, OverlayGraph, OverlayNode};
pub use hierarchy::{NatOverlay, Roles};
pub use records::{
    CallLookup, LookupRecord, MeasurementWindow, NodeTraffic, PutRecord, RegistrationRead,
    RepairReport, RepairSample, RunOutput, TrafficByKind,
};
pub use scenario::Progress;
pub use scenario::churn::{ChurnRunError, run_churn};
pub use scenario::static_overlay::{run_static, run_static_kademlia};
pub use series::{NodeTrafficRow, SeriesOptions, SeriesRow};
