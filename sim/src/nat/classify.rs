//! A STUN-like NAT classifier over the simulated network (RFC 5780 style).
//!
//! The proper classification state machine belongs in the core, driven by
//! peers; this sim-side version checks that the middlebox model is
//! classifiable from outside by the standard tests.

use peerlab_core::nat::{Filtering, Mapping, NatBehavior, NatType, PortAssignment};
use peerlab_core::{Addr, Instant};

use super::net::{HostId, NatNet};
use super::punch::Peer;

/// The servers a classification uses: two public hosts at different IPs,
/// each answering on `port` and `alt_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StunServers {
    /// The primary server host.
    pub primary: HostId,
    /// A server host at another IP.
    pub other: HostId,
    /// The main port of both.
    pub port: u16,
    /// The alternate port of both.
    pub alt_port: u16,
}

/// What a classification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The preset the host falls in.
    pub nat_type: NatType,
    /// The reflexive address seen by the primary server (none if no UDP).
    pub reflexive: Option<Addr>,
    /// The mapping behaviour (none for open and UDP-blocked hosts).
    pub mapping: Option<Mapping>,
    /// The filtering behaviour (none for open and UDP-blocked hosts).
    pub filtering: Option<Filtering>,
}

/// A binding request from `peer` to `server`'s `port`, answered from
/// `answer_from`'s `answer_port`: the reflexive address the server saw, and
/// whether the answer got back.
fn request(
    net: &mut NatNet,
    now: Instant,
    peer: Peer,
    server: (HostId, u16),
    answer_from: (HostId, u16),
) -> (Option<Addr>, bool) {
    let Some(dst) = net.local_addr(server.0, server.1) else {
        return (None, false);
    };
    let Some(d) = net.send(now, peer.host, peer.port, dst) else {
        return (None, false);
    };
    if d.to != server.0 {
        return (None, false);
    }
    let back = net
        .send(now, answer_from.0, answer_from.1, d.src)
        .is_some_and(|r| r.to == peer.host && r.dst.port == peer.port);
    (Some(d.src), back)
}

/// Classifies `peer` at `now`. Uses `peer.port` for the mapping tests and
/// `peer.port + 1` (a fresh mapping) for the filtering tests:
///
/// 1. request to the primary: no answer → UDP-blocked; the reflexive address
///    equals the local one → open;
/// 2. requests to the other IP and to the primary's other port: the same
///    reflexive address from the other IP → endpoint-independent mapping;
///    else the same from the other port → address-dependent; else
///    address-and-port-dependent;
/// 3. from the fresh port, a request to the primary answered from the other
///    IP → endpoint-independent filtering; else one answered from the
///    primary's other port → address-dependent; else
///    address-and-port-dependent.
pub fn classify(net: &mut NatNet, now: Instant, peer: Peer, s: StunServers) -> Classification {
    let main = (s.primary, s.port);
    let (r1, ok) = request(net, now, peer, main, main);
    let blocked = Classification {
        nat_type: NatType::UdpBlocked,
        reflexive: None,
        mapping: None,
        filtering: None,
    };
    let Some(r1) = r1.filter(|_| ok) else {
        return blocked;
    };
    if net.local_addr(peer.host, peer.port) == Some(r1) {
        return Classification {
            nat_type: NatType::Open,
            reflexive: Some(r1),
            mapping: None,
            filtering: None,
        };
    }
    let (r2, _) = request(net, now, peer, (s.other, s.port), (s.other, s.port));
    let (r3, _) = request(
        net,
        now,
        peer,
        (s.primary, s.alt_port),
        (s.primary, s.alt_port),
    );
    let mapping = if r2 == Some(r1) {
        Mapping::EndpointIndependent
    } else if r3 == Some(r1) {
        Mapping::AddressDependent
    } else {
        Mapping::AddressAndPortDependent
    };
    let fresh = Peer {
        host: peer.host,
        port: peer.port.wrapping_add(1),
    };
    let (_, other_ip) = request(net, now, fresh, main, (s.other, s.alt_port));
    let (_, other_port) = request(net, now, fresh, main, (s.primary, s.alt_port));
    let filtering = if other_ip {
        Filtering::EndpointIndependent
    } else if other_port {
        Filtering::AddressDependent
    } else {
        Filtering::AddressAndPortDependent
    };
    Classification {
        nat_type: NatBehavior::new(mapping, filtering, PortAssignment::Preserving).nat_type(),
        reflexive: Some(r1),
        mapping: Some(mapping),
        filtering: Some(filtering),
    }
}
