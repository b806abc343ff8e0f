//! NAT behaviour as plain data, after RFC 4787 ("NAT Behavioral Requirements
//! for Unicast UDP").
//!
//! A NAT is described by three independent behaviours:
//!
//! * [`Mapping`] (RFC 4787 §4.1): when an internal endpoint sends to a new
//!   destination, does the NAT reuse the external endpoint it already
//!   allocated, or allocate a new one?
//! * [`Filtering`] (§5): which external endpoints may send inbound through a
//!   mapping?
//! * binding lifetime (§4.3): a mapping expires after
//!   [`NatBehavior::binding_timeout`] without outbound traffic (and, if
//!   [`NatBehavior::refresh_on_inbound`], without inbound traffic).
//!
//! plus how external ports are chosen ([`PortAssignment`], §4.2.1) and
//! whether the NAT loops packets between two of its own internal hosts
//! ([`NatBehavior::hairpin`], §6).
//!
//! The classic names ([`NatType`]: full cone, restricted cone, port-restricted
//! cone, symmetric) are presets over these behaviours; RFC 4787 deprecates the
//! names because real NATs mix behaviours, so everything below the presets
//! works on [`NatBehavior`]. The seeds' blog uses four coarser classes,
//! [`BlogClass`] P/G/B/F, which map onto presets by [`BlogClass::nat_type`].
//!
//! [`connectivity`] is the oracle: which kind of connection two NAT types
//! allow, under the standard rules. Tests, experiments and (later) the live
//! NAT lab all judge their outcomes against it.

pub mod agent;
pub mod discovery;
mod oracle;

pub use agent::{
    ConnectOutcome, ConnectRequest, NatAgent, NatCommand, NatConfig, NatEvent, NatTraffic,
    RelayCause, ServerRole,
};
pub use discovery::{Classification, Discovery, DiscoveryServers};
pub use oracle::{Connectivity, RelayKind, RelayReason, blog_connectivity, connectivity, rule_for};

use crate::time::Duration;

/// RFC 4787 §4.1 mapping behaviour: when is an existing external endpoint
/// reused for an internal endpoint's packets?
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mapping {
    /// Endpoint-independent mapping (EIM): one external endpoint for every
    /// destination. RFC 4787 REQ-1 requires this.
    EndpointIndependent,
    /// Address-dependent mapping (ADM): one external endpoint per destination
    /// IP address, whatever the destination port.
    AddressDependent,
    /// Address-and-port-dependent mapping (APDM): one external endpoint per
    /// destination IP address and port (the "symmetric" NAT).
    AddressAndPortDependent,
}

/// RFC 4787 §5 filtering behaviour: which external endpoints may send to an
/// internal endpoint through its mapping?
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filtering {
    /// Endpoint-independent filtering (EIF): anyone, once the mapping exists.
    EndpointIndependent,
    /// Address-dependent filtering (ADF): only IP addresses the internal
    /// endpoint has sent to, from any port.
    AddressDependent,
    /// Address-and-port-dependent filtering (APDF): only the exact IP
    /// addresses and ports the internal endpoint has sent to.
    AddressAndPortDependent,
}

/// RFC 4787 §4.2.1 port assignment: which external port a new mapping gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortAssignment {
    /// Keep the internal port if it is free on the external address; fall
    /// back to the next free port otherwise (RFC 4787 REQ-4 allows this, and
    /// forbids overwriting another host's mapping to preserve a port).
    Preserving,
    /// The next free port from a counter.
    Sequential,
    /// A uniformly random free port (from a seeded generator in the
    /// simulator).
    Random,
}

/// The complete RFC 4787 behaviour of one NAT, as the simulator's middlebox
/// model implements it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NatBehavior {
    /// When a mapping is reused.
    pub mapping: Mapping,
    /// Who may send inbound through a mapping.
    pub filtering: Filtering,
    /// A mapping (and each filter entry) expires after this long without
    /// refreshing traffic.
    pub binding_timeout: Duration,
    /// Whether inbound traffic also refreshes a mapping (RFC 4787 §4.3 makes
    /// this a MAY; outbound refresh is a MUST).
    pub refresh_on_inbound: bool,
    /// How external ports are chosen.
    pub port_assignment: PortAssignment,
    /// Whether a packet from one internal host to the NAT's own external
    /// address is looped back to the internal host that owns the mapping
    /// (RFC 4787 §6, REQ-9).
    pub hairpin: bool,
}

impl NatBehavior {
    /// Binding timeout of the presets: 30 s. RFC 4787 REQ-5 asks for at least
    /// 2 minutes, but Hätönen et al. (IMC 2010) measured home gateways with
    /// UDP timeouts as short as 30 s, so the presets take the measured worst
    /// case. A keepalive every 25 s (the core's default) stays inside it.
    pub const PRESET_TIMEOUT: Duration = Duration::from_secs(30);

    /// A behaviour with the presets' defaults (30 s timeout, outbound-only
    /// refresh, hairpinning on) and the given mapping, filtering and port
    /// assignment.
    pub const fn new(mapping: Mapping, filtering: Filtering, ports: PortAssignment) -> Self {
        NatBehavior {
            mapping,
            filtering,
            binding_timeout: Self::PRESET_TIMEOUT,
            refresh_on_inbound: false,
            port_assignment: ports,
            hairpin: true,
        }
    }

    /// The same behaviour with another binding timeout.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.binding_timeout = timeout;
        self
    }

    /// The same behaviour with inbound refresh switched on or off.
    pub const fn with_inbound_refresh(mut self, on: bool) -> Self {
        self.refresh_on_inbound = on;
        self
    }

    /// The same behaviour with hairpinning switched on or off.
    pub const fn with_hairpin(mut self, on: bool) -> Self {
        self.hairpin = on;
        self
    }

    /// The same behaviour with another port assignment.
    pub const fn with_ports(mut self, ports: PortAssignment) -> Self {
        self.port_assignment = ports;
        self
    }

    /// The classic preset this behaviour falls in: any endpoint-dependent
    /// mapping is [`NatType::Symmetric`]; an endpoint-independent mapping is
    /// a cone named after its filtering.
    pub const fn nat_type(&self) -> NatType {
        match (self.mapping, self.filtering) {
            (Mapping::EndpointIndependent, Filtering::EndpointIndependent) => NatType::FullCone,
            (Mapping::EndpointIndependent, Filtering::AddressDependent) => NatType::RestrictedCone,
            (Mapping::EndpointIndependent, Filtering::AddressAndPortDependent) => {
                NatType::PortRestrictedCone
            }
            _ => NatType::Symmetric,
        }
    }
}

/// The classic NAT presets (RFC 3489 names), plus "no NAT" and "no UDP".
/// The variants and their order match `peerlab_churn::NatClass`, which
/// converts into this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NatType {
    /// A public address: no NAT, no filtering.
    Open,
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    RestrictedCone,
    /// Endpoint-independent mapping, address-and-port-dependent filtering
    /// (RFC 4787's recommended behaviour, and the usual home router).
    PortRestrictedCone,
    /// Address-and-port-dependent mapping and filtering, random ports.
    Symmetric,
    /// A firewall that drops all UDP: only a TCP relay helps.
    UdpBlocked,
}

impl NatType {
    /// Every preset, in matrix order.
    pub const ALL: [NatType; 6] = [
        NatType::Open,
        NatType::FullCone,
        NatType::RestrictedCone,
        NatType::PortRestrictedCone,
        NatType::Symmetric,
        NatType::UdpBlocked,
    ];

    /// The RFC 4787 behaviour of a NATed preset; `None` for [`NatType::Open`]
    /// (no middlebox) and [`NatType::UdpBlocked`] (no UDP at all).
    ///
    /// Cones preserve ports; the symmetric preset assigns random ports, as
    /// `masquerade random` does in the Linux NAT recipes, so its next port
    /// cannot be predicted.
    pub const fn behavior(self) -> Option<NatBehavior> {
        use Filtering as F;
        use Mapping as M;
        match self {
            NatType::Open | NatType::UdpBlocked => None,
            NatType::FullCone => Some(NatBehavior::new(
                M::EndpointIndependent,
                F::EndpointIndependent,
                PortAssignment::Preserving,
            )),
            NatType::RestrictedCone => Some(NatBehavior::new(
                M::EndpointIndependent,
                F::AddressDependent,
                PortAssignment::Preserving,
            )),
            NatType::PortRestrictedCone => Some(NatBehavior::new(
                M::EndpointIndependent,
                F::AddressAndPortDependent,
                PortAssignment::Preserving,
            )),
            NatType::Symmetric => Some(NatBehavior::new(
                M::AddressAndPortDependent,
                F::AddressAndPortDependent,
                PortAssignment::Random,
            )),
        }
    }

    /// The name a spec or table uses (the same names as
    /// `peerlab_churn::NatClass`).
    pub const fn name(self) -> &'static str {
        match self {
            NatType::Open => "open",
            NatType::FullCone => "full_cone",
            NatType::RestrictedCone => "restricted_cone",
            NatType::PortRestrictedCone => "port_restricted_cone",
            NatType::Symmetric => "symmetric",
            NatType::UdpBlocked => "udp_blocked",
        }
    }

    /// Whether a host of this type sits behind a translating NAT.
    pub const fn is_natted(self) -> bool {
        self.behavior().is_some()
    }

    /// The blog class this preset falls in.
    pub const fn blog_class(self) -> BlogClass {
        match self {
            NatType::Open => BlogClass::P,
            NatType::FullCone | NatType::RestrictedCone | NatType::PortRestrictedCone => {
                BlogClass::G
            }
            NatType::Symmetric => BlogClass::B,
            NatType::UdpBlocked => BlogClass::F,
        }
    }
}

/// The seeds' blog classes (mirrors `peerlab_churn::BlogClass`, which
/// converts into this type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlogClass {
    /// Public address.
    P,
    /// Good NAT: a cone NAT, hole punching works.
    G,
    /// Bad NAT: symmetric.
    B,
    /// A firewall that blocks UDP.
    F,
}

impl BlogClass {
    /// Every class.
    pub const ALL: [BlogClass; 4] = [BlogClass::P, BlogClass::G, BlogClass::B, BlogClass::F];

    /// The preset a blog class is modelled as: P → [`NatType::Open`],
    /// G → [`NatType::PortRestrictedCone`], B → [`NatType::Symmetric`],
    /// F → [`NatType::UdpBlocked`].
    ///
    /// G becomes the port-restricted cone because it is the most restrictive
    /// cone and the usual home router (RFC 4787's recommended EIM + APDF), so
    /// the RFC 4787 figures never flatter traversal; this matches
    /// `peerlab_churn::BlogClass::nat_class`. Under the RFC rules this
    /// choice matters: G–B pairs cannot punch (APDF against a symmetric
    /// mapping), whereas the blog counts them as end-to-end.
    pub const fn nat_type(self) -> NatType {
        match self {
            BlogClass::P => NatType::Open,
            BlogClass::G => NatType::PortRestrictedCone,
            BlogClass::B => NatType::Symmetric,
            BlogClass::F => NatType::UdpBlocked,
        }
    }

    /// The name a spec or table uses.
    pub const fn name(self) -> &'static str {
        match self {
            BlogClass::P => "P",
            BlogClass::G => "G",
            BlogClass::B => "B",
            BlogClass::F => "F",
        }
    }
}
