//! The connectivity oracle: what kind of connection a caller and a callee
//! behind given NAT types can have.

use super::{BlogClass, NatType};

/// How a relayed connection is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelayKind {
    /// A TURN-like UDP relay both sides can reach over UDP.
    Udp,
    /// A relay reached over TCP, for hosts without UDP.
    Tcp,
}

/// Why a connection needs a relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelayReason {
    /// One side has no UDP at all (a UDP-blocking firewall).
    UdpBlocked,
    /// Hole punching failed: an endpoint-dependent (symmetric) mapping on one
    /// side meets address-and-port-dependent filtering on the other, so the
    /// filtering side only admits the port it sent to, and the symmetric side
    /// sends from a fresh port nobody could predict.
    PunchFailed,
}

/// The kind of connection a pair of hosts can set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Connectivity {
    /// One side is reachable without punching: the caller sends straight to
    /// the callee's (reflexive) address, or, if only the caller is public,
    /// the callee calls back (connection reversal).
    Direct,
    /// Both sides send probes to each other's reflexive address through a
    /// rendezvous, opening each other's filters.
    Punched,
    /// Media must go through a relay.
    Relay(RelayKind, RelayReason),
}

impl Connectivity {
    /// A short label for tables: `direct`, `punched`, `relay-udp`,
    /// `relay-tcp`.
    pub const fn label(self) -> &'static str {
        match self {
            Connectivity::Direct => "direct",
            Connectivity::Punched => "punched",
            Connectivity::Relay(RelayKind::Udp, _) => "relay-udp",
            Connectivity::Relay(RelayKind::Tcp, _) => "relay-tcp",
        }
    }

    /// Whether media flows end to end (direct or punched).
    pub const fn is_end_to_end(self) -> bool {
        matches!(self, Connectivity::Direct | Connectivity::Punched)
    }
}

/// What happens when a host behind `a` calls a host behind `b`, under the
/// standard RFC 4787 rules (the same matrix Firezone's and iroh's simulators
/// test against). The rules, first match wins:
///
/// 1. **Either side UDP-blocked → TCP relay.** A host without UDP can reach
///    nothing over UDP, so only a relay it reaches over TCP helps.
/// 2. **Either side open → direct.** An open callee accepts the caller's
///    packets outright, and its replies match the caller's own outbound
///    filter entry. An open caller asks the callee (through the rendezvous)
///    to call back: the callee's packet creates its own mapping and filter
///    entry, so the caller's reply gets in (connection reversal).
/// 3. **Full-cone callee → direct.** Its mapping exists once it has
///    registered with a rendezvous, and endpoint-independent filtering admits
///    anyone through it: the caller sends straight to the reflexive address
///    (and the callee's reply matches whatever mapping the caller used).
/// 4. **Symmetric with symmetric or port-restricted cone (either order) →
///    UDP relay.** The symmetric side sends its probe from a fresh external
///    port (its mapping depends on the destination), while the other side's
///    address-and-port-dependent filter admits only the port it sent its own
///    probe to: the reflexive port learnt at the rendezvous. Neither probe
///    gets through.
/// 5. **Otherwise → punched.** Both sides send probes to each other's
///    reflexive addresses at once. With endpoint-independent mapping on both
///    sides each probe opens the sender's filter for exactly the address the
///    other side sends from. Against a symmetric peer, a full-cone or
///    restricted-cone side admits the symmetric side's fresh port (its
///    filter ignores ports), and its reply reaches that port.
pub const fn connectivity(a: NatType, b: NatType) -> Connectivity {
    use NatType::*;
    match (a, b) {
        (UdpBlocked, _) | (_, UdpBlocked) => {
            Connectivity::Relay(RelayKind::Tcp, RelayReason::UdpBlocked)
        }
        (Open, _) | (_, Open) => Connectivity::Direct,
        (_, FullCone) => Connectivity::Direct,
        (Symmetric, Symmetric)
        | (Symmetric, PortRestrictedCone)
        | (PortRestrictedCone, Symmetric) => {
            Connectivity::Relay(RelayKind::Udp, RelayReason::PunchFailed)
        }
        _ => Connectivity::Punched,
    }
}

/// The rule of [`connectivity`] that decides a pair, as one line of prose
/// (for tables and reports).
pub const fn rule_for(a: NatType, b: NatType) -> &'static str {
    use NatType::*;
    match (a, b) {
        (UdpBlocked, _) | (_, UdpBlocked) => "no UDP on one side: relay over TCP",
        (_, Open) => "open callee accepts the caller's packets",
        (Open, _) => "open caller: the callee calls back (connection reversal)",
        (_, FullCone) => "full-cone callee admits anyone through its mapping",
        (Symmetric, Symmetric)
        | (Symmetric, PortRestrictedCone)
        | (PortRestrictedCone, Symmetric) => {
            "symmetric mapping against port filtering: probes never match"
        }
        _ => "simultaneous probes open both filters",
    }
}

/// What happens when a host of blog class `a` calls one of class `b`, under
/// the blog's simpler assumptions: end to end, unless either side is F (TCP
/// relay) or both are B (UDP relay). Unlike [`connectivity`], the blog lets
/// a cone NAT (G) punch through to a symmetric one (B).
pub const fn blog_connectivity(a: BlogClass, b: BlogClass) -> Connectivity {
    match (a, b) {
        (BlogClass::F, _) | (_, BlogClass::F) => {
            Connectivity::Relay(RelayKind::Tcp, RelayReason::UdpBlocked)
        }
        (BlogClass::B, BlogClass::B) => {
            Connectivity::Relay(RelayKind::Udp, RelayReason::PunchFailed)
        }
        (BlogClass::P, _) | (_, BlogClass::P) => Connectivity::Direct,
        _ => Connectivity::Punched,
    }
}
