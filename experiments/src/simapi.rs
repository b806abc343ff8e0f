//! The one place this crate names the simulator's API (and the core and
//! churn-model types a spec embeds), so a change there is a change here only.

pub use peerlab_churn::{ChurnError, ChurnModel, ChurnSpec, InvalidParam, WorkloadSpec};
pub use peerlab_core::chord::{Chord, ChordConfig};
pub use peerlab_core::kademlia::Kademlia;
pub use peerlab_core::protocol::RoutingMode;
pub use peerlab_sim::registration::registrar_config;
pub use peerlab_sim::series::{NodeTrafficRow, SeriesOutput, SeriesRow, group_name};
pub use peerlab_sim::{
    ChurnRunError, DhtNode, GraphSnapshot, InvalidConfig, LookupRecord, MeasurementWindow,
    NetworkConfig, NodeTraffic, OverlayGraph, Progress, PutRecord, RegistrationRead, RepairReport,
    RepairSample, RunOutput, SeriesOptions, SimOptions, StaticWorkload, run_churn, run_static,
};

#[cfg(test)]
pub use peerlab_sim::TrafficByKind;
