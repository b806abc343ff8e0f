//! What a scenario needs from a DHT beyond the [`Protocol`] trait: how to
//! build a node, which nodes should hold a key, and whether one does.

use crate::config::{InvalidConfig, invalid};
use crate::nat::NatLayer;
use crate::network::{addr_of, index_of};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::nat::NatType;
use peerlab_core::protocol::RoutingMode;
use peerlab_core::{Addr, HashAlg, NodeId, Protocol};
use std::sync::Arc;

/// How a DHT decides which nodes are responsible for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The nodes closest by XOR distance (Kademlia). A lookup never returns
    /// the node that issued it, so the oracle leaves the origin out.
    Xor,
    /// The key's successor on the ring and the nodes after it (Chord). The
    /// origin may itself be responsible.
    Ring,
}

/// A DHT the simulator's scenarios can drive.
pub trait DhtNode: Protocol + Sized {
    /// The protocol's parameters, shared by all nodes of a run.
    type Config: std::fmt::Debug;
    /// The protocol's name in specs and result tables.
    const NAME: &'static str;
    /// How responsibility for a key is defined.
    const METRIC: Metric;
    /// The routing mode of the protocol's paper, for runs that do not choose one.
    const DEFAULT_ROUTING: RoutingMode;

    /// Checks the parameters; the error names the field by its spec path.
    fn validate(cfg: &Self::Config) -> Result<(), InvalidConfig>;
    /// A node with the given id and address, its RNG seeded with `seed`.
    fn build(cfg: &Arc<Self::Config>, id: NodeId, addr: Addr, seed: u64) -> Self;
    /// How many nodes should hold each stored value.
    fn replication(cfg: &Self::Config) -> usize;
    /// Whether this node holds `value` under `key`.
    fn holds(&self, key: &NodeId, value: &[u8]) -> bool;
    /// Where the oracle places an id or key: itself, unless the protocol
    /// works on a narrower identifier space.
    fn oracle_id(_cfg: &Self::Config, id: &NodeId) -> NodeId {
        *id
    }
    /// Node `i` of a run: by default [`DhtNode::build`] at [`addr_of`]`(i)`.
    fn build_node(cfg: &Arc<Self::Config>, i: u32, id: NodeId, seed: u64) -> Self {
        Self::build(cfg, id, addr_of(i), seed)
    }
    /// Whether node `i` takes part in the DHT, and so counts for the oracle
    /// and may serve as a bootstrap: every node, unless some attach as
    /// clients ([`crate::hierarchy`]).
    fn in_overlay(_cfg: &Self::Config, _i: u32) -> bool {
        true
    }
    /// The address other nodes reach node `i` at (to bootstrap through it).
    fn contact_addr(_cfg: &Self::Config, i: u32) -> Addr {
        addr_of(i)
    }
    /// The node, among the first `n`, that a contact address names.
    fn node_of(_cfg: &Self::Config, addr: Addr, n: u32) -> Option<u32> {
        index_of(addr, n)
    }
    /// The NAT layer the engine routes through for `n` nodes; none by default.
    fn nat_layer(_cfg: &Self::Config, _n: u32) -> Option<NatLayer> {
        None
    }
    /// The NAT class of node `i`: `Open` unless the DHT runs behind NATs.
    fn nat_class(_cfg: &Self::Config, _i: u32) -> NatType {
        NatType::Open
    }
    /// The hash that turns names (addresses of record) into keys: the
    /// protocol's configured one, SHA-1 by default.
    fn key_hash(_cfg: &Self::Config) -> HashAlg {
        HashAlg::Sha1
    }
}

impl DhtNode for Kademlia {
    type Config = KademliaConfig;
    const NAME: &'static str = "kademlia";
    const METRIC: Metric = Metric::Xor;
    const DEFAULT_ROUTING: RoutingMode = KademliaConfig::DEFAULT_ROUTING;

    fn validate(cfg: &KademliaConfig) -> Result<(), InvalidConfig> {
        cfg.validate()
            .map_err(|e| invalid(&format!("dht.kademlia.{}", e.field), e.value, e.expected))
    }
    fn build(cfg: &Arc<KademliaConfig>, id: NodeId, addr: Addr, seed: u64) -> Self {
        Kademlia::new(cfg.clone(), id, addr, seed)
    }
    fn replication(cfg: &KademliaConfig) -> usize {
        cfg.k
    }
    fn key_hash(cfg: &KademliaConfig) -> HashAlg {
        cfg.hash
    }
    fn holds(&self, key: &NodeId, value: &[u8]) -> bool {
        self.stored(key).iter().any(|v| v == value)
    }
}

impl DhtNode for Chord {
    type Config = ChordConfig;
    const NAME: &'static str = "chord";
    const METRIC: Metric = Metric::Ring;
    const DEFAULT_ROUTING: RoutingMode = ChordConfig::DEFAULT_ROUTING;

    fn validate(cfg: &ChordConfig) -> Result<(), InvalidConfig> {
        cfg.validate()
            .map_err(|e| invalid(&format!("dht.chord.{}", e.field), e.value, e.expected))
    }
    fn build(cfg: &Arc<ChordConfig>, id: NodeId, addr: Addr, seed: u64) -> Self {
        Chord::new(cfg.clone(), id, addr, seed)
    }
    fn replication(cfg: &ChordConfig) -> usize {
        cfg.replicas
    }
    fn key_hash(cfg: &ChordConfig) -> HashAlg {
        cfg.hash
    }
    fn holds(&self, key: &NodeId, value: &[u8]) -> bool {
        self.stored(key).iter().any(|v| v == value)
    }
    fn oracle_id(cfg: &ChordConfig, id: &NodeId) -> NodeId {
        cfg.ring_position(id)
    }
}
