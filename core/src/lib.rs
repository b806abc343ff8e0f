//! peerlab-core: the sans-IO heart of peerlab.
//!
//! Protocol logic lives here as pure state machines: datagrams and time go in;
//! datagrams, deadlines and events come out (see [`protocol::Protocol`]). The
//! core never reads a clock, opens a socket or file, or draws unseeded
//! randomness: time is injected as [`time::Instant`], and each node owns a
//! seeded [`rng::NodeRng`]. Nothing iterates a hash map, so a run depends only
//! on its inputs. `core/tests/sans_io_rule.rs` and `core/clippy.toml` enforce this.
//!
//! Users register under their address of record through [`registration`]:
//! SIP REGISTER semantics (refresh, expiry, several devices, removal on
//! leave) over the DHTs' multi-valued keys.
//!
//! Calls place synthetic media directly or through a relay with
//! [`media::MediaEngine`] (caller, callee and relay roles in one state machine).
//!
//! Two DHTs implement the same interface: [`kademlia::Kademlia`] and
//! [`chord::Chord`]. Both store values the same way (multi-valued keys with a
//! TTL), read a key from several holders and merge their values
//! (`holder_read.rs`, `read_holders` in each config), and route each lookup iteratively (one request in flight), parallel
//! iteratively (α in flight) or recursively, as the request asks
//! ([`protocol::RoutingMode`]; shared recursive pieces in [`recursive`]).

pub mod addr;
pub mod chord;
pub mod config;
pub mod hierarchy;
mod holder_read;
pub mod id;
pub mod kademlia;
pub mod media;
pub mod nat;
pub mod outbox;
pub mod protocol;
pub(crate) mod publisher;
pub mod recursive;
pub mod registration;
pub mod relay;
pub mod rng;
mod rpc;
pub mod rtt;
mod store;
mod store_batch;
pub mod time;
pub mod timers;
pub mod wire;

pub use addr::Addr;
pub use id::{HashAlg, NodeId};
pub use protocol::{Command, Event, Protocol, RequestId, Transmit};
pub use time::{Duration, Instant};
pub use wire::{Body, Contact, Message};
