//! A DHT behind NATs: any [`DhtNode`] wrapped in the core's super-node/client
//! [`Hierarchy`], with the engine's NAT layer ([`crate::nat::layer`]).
//!
//! Each node's role follows its NAT class ([`NatSetup::class`]): open and
//! full-cone nodes are full (the full-cone ones keep their mapping alive
//! with keepalives) and advertise the address the overlay can reach them
//! at, their own or their cone's public address; every other class attaches
//! as a client. Node 0, the bootstrap, is open. A deployed node would take
//! its role from its own NAT classification ([`peerlab_core::nat::NatAgent`]);
//! the simulator reads the class instead of running discovery on every node.
//!
//! The oracle counts full nodes only: clients are in nobody's routing table,
//! so a lookup's correct answer is the responsible full nodes.
//!
//! [`Roles::AllFull`] is the negative control: every node joins the DHT as
//! a full node, whatever its NAT, behind the same middleboxes.

use crate::config::{InvalidConfig, invalid};
use crate::dht::{DhtNode, Metric};
use crate::nat::{NatLayer, NatSetup, is_full};
use crate::network::addr_of;
use peerlab_core::hierarchy::{Hierarchy, HierarchyConfig, Tiered};
use peerlab_core::nat::NatType;
use peerlab_core::protocol::RoutingMode;
use peerlab_core::rng::derive_seed;
use peerlab_core::{Addr, NodeId};
use std::sync::Arc;

/// How roles are assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roles {
    /// By NAT class: open and full-cone nodes are full, the rest clients.
    ByNatClass,
    /// Every node is full (the negative control: NATed nodes in the DHT).
    AllFull,
}

/// The configuration of a [`Hierarchy`] run: the inner DHT's parameters,
/// the hierarchy's, and the NAT population.
#[derive(Debug)]
pub struct NatOverlay<C> {
    /// The inner DHT's parameters.
    pub inner: Arc<C>,
    /// The hierarchy's parameters.
    pub hierarchy: Arc<HierarchyConfig>,
    /// The NAT classes and transport.
    pub nat: NatSetup,
    /// How roles are assigned.
    pub roles: Roles,
}

impl<C> NatOverlay<C> {
    /// A run of `inner` over `nat` with roles by NAT class; the hierarchy's
    /// result size is set to the DHT's replication.
    pub fn new<D: DhtNode<Config = C>>(
        inner: C,
        mut hierarchy: HierarchyConfig,
        nat: NatSetup,
    ) -> Self {
        hierarchy.result_size = D::replication(&inner);
        NatOverlay {
            inner: Arc::new(inner),
            hierarchy: Arc::new(hierarchy),
            nat,
            roles: Roles::ByNatClass,
        }
    }

    /// The same run with other roles.
    pub fn with_roles(mut self, roles: Roles) -> Self {
        self.roles = roles;
        self
    }

    /// Whether node `i` is full.
    pub fn is_full(&self, i: u32) -> bool {
        self.roles == Roles::AllFull || is_full(self.nat.class(i))
    }
}

impl<D: DhtNode + Tiered> DhtNode for Hierarchy<D> {
    type Config = NatOverlay<D::Config>;
    const NAME: &'static str = D::NAME;
    const METRIC: Metric = D::METRIC;
    const DEFAULT_ROUTING: RoutingMode = D::DEFAULT_ROUTING;

    fn validate(cfg: &Self::Config) -> Result<(), InvalidConfig> {
        D::validate(&cfg.inner)?;
        let h = &cfg.hierarchy;
        if h.keepalive.is_some_and(|k| k >= cfg.nat.binding_timeout) {
            return Err(invalid(
                "hierarchy.keepalive",
                format!("{:?}", h.keepalive),
                "shorter than the NAT binding timeout",
            ));
        }
        if !(cfg.nat.tcp_relay_ms.is_finite() && cfg.nat.tcp_relay_ms >= 0.0) {
            return Err(invalid(
                "nat.tcp_relay_ms",
                cfg.nat.tcp_relay_ms,
                "a delay >= 0",
            ));
        }
        Ok(())
    }

    /// The node at `addr` (a node's own or public address names its index;
    /// anything else builds node 0). Scenarios use [`DhtNode::build_node`].
    fn build(cfg: &Arc<Self::Config>, id: NodeId, addr: Addr, seed: u64) -> Self {
        let i = cfg.nat.owner(addr, u32::MAX).unwrap_or(0);
        Self::build_node(cfg, i, id, seed)
    }

    fn build_node(cfg: &Arc<Self::Config>, i: u32, id: NodeId, seed: u64) -> Self {
        let h = cfg.hierarchy.clone();
        let hseed = derive_seed(seed, "hierarchy", 0);
        if !cfg.is_full(i) {
            return Hierarchy::client(h, id, addr_of(i), hseed);
        }
        let addr = Self::contact_addr(cfg, i);
        let natted = cfg.nat.class(i) != NatType::Open;
        Hierarchy::full(h, D::build(&cfg.inner, id, addr, seed), natted, hseed)
    }

    fn replication(cfg: &Self::Config) -> usize {
        D::replication(&cfg.inner)
    }

    fn holds(&self, key: &NodeId, value: &[u8]) -> bool {
        self.inner().is_some_and(|d| d.holds(key, value))
    }

    fn oracle_id(cfg: &Self::Config, id: &NodeId) -> NodeId {
        D::oracle_id(&cfg.inner, id)
    }

    fn nat_class(cfg: &Self::Config, i: u32) -> NatType {
        cfg.nat.class(i)
    }

    fn key_hash(cfg: &Self::Config) -> peerlab_core::HashAlg {
        D::key_hash(&cfg.inner)
    }

    fn in_overlay(cfg: &Self::Config, i: u32) -> bool {
        cfg.is_full(i)
    }

    /// A full-cone node advertises its cone's public address; every other
    /// node its own (a NATed node in the negative control cannot know a
    /// stable public address, and is learnt from the source of its packets).
    fn contact_addr(cfg: &Self::Config, i: u32) -> Addr {
        cfg.nat.reachable_addr(i).unwrap_or(addr_of(i))
    }

    fn node_of(cfg: &Self::Config, addr: Addr, n: u32) -> Option<u32> {
        cfg.nat.owner(addr, n)
    }

    fn nat_layer(cfg: &Self::Config, n: u32) -> Option<NatLayer> {
        Some(NatLayer::new(&cfg.nat, n))
    }
}
