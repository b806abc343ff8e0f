//! NAT middleboxes for the simulator, after RFC 4787.
//!
//! * [`Middlebox`]: one NAT (mapping table, filters, binding timeouts, port
//!   assignment, hairpinning, several public IPs) or a UDP-blocking firewall,
//!   with an `outbound`/`inbound` API in core [`Addr`](peerlab_core::Addr)s
//!   and [`Instant`](peerlab_core::Instant)s. Behaviours are
//!   [`peerlab_core::nat::NatBehavior`]s.
//! * [`NatNet`]: realms joined by middleboxes, so several hosts can share one
//!   NAT and NATs can nest (a carrier-grade NAT in front of a home NAT).
//! * [`punch`]: a scripted connection attempt (rendezvous, direct, reversal,
//!   simultaneous probes with retries) whose outcome the tests compare with
//!   the core oracle [`peerlab_core::nat::connectivity`].
//! * [`classify`]: a STUN-like classifier (RFC 5780 style) that finds a
//!   host's mapping and filtering behaviour from the outside.
//!
//! This is not yet wired into the engine: DHT traffic still flows over the
//! plain network model.

pub mod classify;
pub mod middlebox;
pub mod net;
pub mod punch;

pub use classify::{Classification, StunServers, classify};
pub use middlebox::{Middlebox, Policy};
pub use net::{BoxId, Delivery, HostId, NatNet, NetError, Realm};
pub use punch::{Peer, PunchConfig, PunchReport, connect, matrix_table, pair_net, simulate_pair};
