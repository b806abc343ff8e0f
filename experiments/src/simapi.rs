//! The one place this crate names the simulator's API, so a change there is
//! a change here only.

pub use peerlab_sim::{
    InvalidConfig, LookupRecord, NetworkConfig, NodeTraffic, Progress, PutRecord, RunOutput,
    SimOptions, StaticWorkload, TrafficByKind, run_static_kademlia,
};
