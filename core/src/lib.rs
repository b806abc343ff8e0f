//! peerlab-core: the sans-IO heart of peerlab.
//!
//! Protocol logic lives here as pure state machines: datagrams and time go in;
//! datagrams, deadlines and events come out (see [`protocol::Protocol`]). The
//! core never reads a clock, opens a socket or file, or draws unseeded
//! randomness: time is injected as [`time::Instant`], and each node owns a
//! seeded [`rng::NodeRng`]. Nothing iterates a hash map, so a run depends only
//! on its inputs. `core/tests/sans_io_rule.rs` and `core/clippy.toml` enforce this.

pub mod addr;
pub mod id;
pub mod kademlia;
pub mod protocol;
pub mod rng;
pub mod time;
pub mod timers;
pub mod wire;

pub use addr::Addr;
pub use id::{HashAlg, NodeId};
pub use protocol::{Command, Event, Protocol, RequestId, Transmit};
pub use time::{Duration, Instant};
pub use wire::{Body, Contact, Message};
