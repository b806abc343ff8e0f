//! NAT middleboxes for the simulator, after RFC 4787.
//!
//! * [`Middlebox`]: one NAT (mapping table, filters, binding timeouts, port
//!   assignment, hairpinning, several public IPs) or a UDP-blocking firewall,
//!   with an `outbound`/`inbound` API in core [`Addr`](peerlab_core::Addr)s
//!   and [`Instant`](peerlab_core::Instant)s. Behaviours are
//!   [`peerlab_core::nat::NatBehavior`]s.
//! * [`NatNet`]: realms joined by middleboxes, so several hosts can share one
//!   NAT and NATs can nest (a carrier-grade NAT in front of a home NAT).
//! * [`agents`]: the core's NAT-traversal agents
//!   ([`peerlab_core::nat::NatAgent`]) over a [`NatNet`], in a small
//!   discrete-event loop.
//! * [`classify`]: NAT type discovery, the core's RFC 5780-style test
//!   sequence run against two partnered server agents.
//! * [`punch`]: a connection attempt between two agents (classification,
//!   keepalives, rendezvous, direct probe, simultaneous probes with retries)
//!   whose outcome the tests compare with the core oracle
//!   [`peerlab_core::nat::connectivity`].
//!
//! * [`layer`]: the engine's optional NAT layer, one middlebox per NATed
//!   node, through which DHT traffic flows when a run asks for NATs.

pub mod agents;
pub mod classify;
pub mod layer;
pub mod middlebox;
pub mod net;
pub mod punch;

pub use agents::{AgentError, AgentNet};
pub use classify::{Classification, StunServers, classify, place_servers};
pub use layer::{NatDrop, NatDrops, NatLayer, NatSetup, is_full, public_ip};
pub use middlebox::{Middlebox, Policy};
pub use net::{BoxId, Delivery, HostId, NatNet, NetError, Realm};
pub use punch::{Peer, PunchConfig, PunchReport, connect, matrix_table, pair_net, simulate_pair};
