//! The engine's NAT layer: each NATed node behind its own [`Middlebox`].
//!
//! Node `i` keeps its private address [`addr_of`]`(i)`. A NATed node also
//! owns the public IP [`public_ip`]`(i)` (in 100.64.0.0/10, apart from the
//! private 10.0.0.0/8 range), on which its middlebox translates. Open nodes
//! have no middlebox and are reached at their own address.
//!
//! For each datagram the engine asks [`NatLayer::route`], **at send time**:
//!
//! 1. a NATed sender's packet goes through its middlebox's `outbound`
//!    (which creates or refreshes the binding and records the destination in
//!    its filter); a UDP-blocked sender has no UDP and uses its TCP relay
//!    (below);
//! 2. the destination is an open node's address, or a NATed node's public
//!    address, in which case its middlebox's `inbound` filter decides; a
//!    private address of a NATed node is unroutable;
//! 3. the receiver sees the translated source address.
//!
//! Translating and filtering when the packet is sent, not when it arrives
//! one delay later, shifts binding expiry by at most one one-way delay
//! (well under a second against a 30 s timeout) and keeps the engine's
//! event queue unchanged.
//!
//! **The TCP relay.** A host behind a UDP-blocking firewall reaches the
//! overlay only over TCP through a public relay. The layer models this as a
//! transport class: every datagram such a host sends travels over a TCP
//! connection to its destination, opened by the first one, with
//! [`NatSetup::tcp_relay_ms`] of extra one-way delay (the detour through the
//! relay and TCP's framing). The peer sees the host at its public IP, port
//! 4000, and may answer over the same connection; nobody
//! else can reach the host. Connections close when the host goes down.
//! Since a UDP-blocked host is a client, its only peer is its super-node.

use crate::network::{addr_of, index_of};
use peerlab_churn::{NatMix, NatModel};
use peerlab_core::nat::{NatBehavior, NatType};
use peerlab_core::rng::derive_seed;
use peerlab_core::{Addr, Duration, Instant};
use std::collections::BTreeSet;

use super::Middlebox;

const PUBLIC_BASE: u32 = 0x6440_0000; // 100.64.0.0
const PORT: u16 = 4000;

/// The public IP of NATed node `i`.
pub fn public_ip(i: u32) -> [u8; 4] {
    (PUBLIC_BASE + i + 1).to_be_bytes()
}

/// The node whose public IP is `ip`, if any of the first `n` nodes.
pub fn public_owner(ip: [u8; 4], n: u32) -> Option<u32> {
    let v = u32::from_be_bytes(ip);
    if v <= PUBLIC_BASE {
        return None;
    }
    let i = v - PUBLIC_BASE - 1;
    (i < n).then_some(i)
}

/// A run's NAT population and transport parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct NatSetup {
    /// Each node's AS group and NAT class are drawn from this model (node
    /// 0, the bootstrap, is always open); a flat mix is a model without
    /// groups ([`NatModel::uniform`]).
    pub model: NatModel,
    /// The seed of the class draw (normally the run seed).
    pub seed: u64,
    /// Binding timeout of every NAT. Default 30 s (the presets' timeout).
    pub binding_timeout: Duration,
    /// Extra one-way delay of the TCP relay, in milliseconds. Default 30 ms.
    pub tcp_relay_ms: f64,
}

impl NatSetup {
    /// A setup with the presets' 30 s timeout and a 30 ms TCP relay.
    pub fn new(mix: NatMix, seed: u64) -> Self {
        Self::with_model(NatModel::uniform(mix), seed)
    }

    /// [`NatSetup::new`] with an AS-group-dependent model.
    pub fn with_model(model: NatModel, seed: u64) -> Self {
        NatSetup {
            model,
            seed,
            binding_timeout: NatBehavior::PRESET_TIMEOUT,
            tcp_relay_ms: 30.0,
        }
    }

    /// Node `i`'s NAT class.
    pub fn class(&self, i: u32) -> NatType {
        if i == 0 {
            NatType::Open
        } else {
            self.model.assign(self.seed, i).1.into()
        }
    }

    /// The address the rest of the overlay reaches node `i` at, if it can be
    /// reached unsolicited: its own for an open node, its public address for
    /// a full-cone node (whose cone preserves the port).
    pub fn reachable_addr(&self, i: u32) -> Option<Addr> {
        match self.class(i) {
            NatType::Open => Some(addr_of(i)),
            NatType::FullCone => Some(Addr::new(public_ip(i), PORT)),
            _ => None,
        }
    }

    /// The node an address belongs to: an open node's own address or a
    /// NATed node's public IP (any port).
    pub fn owner(&self, a: Addr, n: u32) -> Option<u32> {
        match index_of(a, n) {
            Some(i) => Some(i),
            None => public_owner(a.ip, n),
        }
    }
}

/// Why the NAT layer dropped a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatDrop {
    /// The sender's middlebox refused it (UDP blocked, no port).
    Blocked,
    /// The receiver's middlebox filtered it (no binding, or the filter
    /// rejected the source).
    Filtered,
    /// The destination is no node's reachable address (a NATed node's
    /// private address, or nobody's).
    Unroutable,
}

/// Datagrams the NAT layer dropped, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatDrops {
    /// [`NatDrop::Blocked`].
    pub blocked: u64,
    /// [`NatDrop::Filtered`].
    pub filtered: u64,
    /// [`NatDrop::Unroutable`].
    pub unroutable: u64,
}

impl NatDrops {
    fn count(&mut self, d: NatDrop) {
        match d {
            NatDrop::Blocked => self.blocked += 1,
            NatDrop::Filtered => self.filtered += 1,
            NatDrop::Unroutable => self.unroutable += 1,
        }
    }
}

/// Where a datagram goes and how the receiver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The receiving node.
    pub to: u32,
    /// The source address the receiver sees.
    pub seen_src: Addr,
    /// Extra delay beyond the network model's (the TCP relay's).
    pub extra: Duration,
}

/// The middleboxes of a run (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct NatLayer {
    classes: Vec<NatType>,
    boxes: Vec<Option<Middlebox>>,
    /// Open TCP relay connections: (UDP-blocked node, peer).
    tcp: BTreeSet<(u32, u32)>,
    tcp_extra: Duration,
    drops: NatDrops,
}

impl NatLayer {
    /// The layer for nodes `0..n` of `setup`.
    pub fn new(setup: &NatSetup, n: u32) -> Self {
        let classes: Vec<NatType> = (0..n).map(|i| setup.class(i)).collect();
        let boxes = classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ip = public_ip(i as u32);
                match c {
                    NatType::Open => None,
                    NatType::UdpBlocked => Some(Middlebox::udp_blocking_firewall(ip)),
                    c => c.behavior().map(|b| {
                        Middlebox::nat(
                            b.with_timeout(setup.binding_timeout),
                            vec![ip],
                            derive_seed(setup.seed, "nat-box", i as u64),
                        )
                    }),
                }
            })
            .collect();
        NatLayer {
            classes,
            boxes,
            tcp: BTreeSet::new(),
            tcp_extra: Duration::from_micros((setup.tcp_relay_ms * 1000.0).round() as u64),
            drops: NatDrops::default(),
        }
    }

    /// Node `i`'s class.
    pub fn class(&self, i: u32) -> NatType {
        self.classes[i as usize]
    }

    /// Datagrams dropped so far, by cause.
    pub fn drops(&self) -> NatDrops {
        self.drops
    }

    /// Node `i` went down or came back: its TCP connections are gone.
    pub fn reset(&mut self, i: u32) {
        self.tcp.retain(|&(a, b)| a != i && b != i);
    }

    /// Routes a datagram node `from` sends to `dst` at `now`; a dropped
    /// datagram is counted under its cause.
    pub fn route(&mut self, now: Instant, from: u32, dst: Addr) -> Result<Route, NatDrop> {
        let r = self.resolve(now, from, dst);
        if let Err(d) = r {
            self.drops.count(d);
        }
        r
    }

    fn resolve(&mut self, now: Instant, from: u32, dst: Addr) -> Result<Route, NatDrop> {
        let n = self.classes.len() as u32;
        let private = addr_of(from);
        // The destination node, and whether dst is its public (NAT) address.
        let (to, public) = match index_of(dst, n) {
            Some(j) => (j, false),
            None => (public_owner(dst.ip, n).ok_or(NatDrop::Unroutable)?, true),
        };
        if self.classes[from as usize] == NatType::UdpBlocked {
            let seen_src = Addr::new(public_ip(from), PORT);
            let ok = match self.classes[to as usize] {
                NatType::Open => !public,
                _ => public,
            };
            if !ok {
                return Err(NatDrop::Unroutable);
            }
            self.tcp.insert((from, to));
            return Ok(Route {
                to,
                seen_src,
                extra: self.tcp_extra,
            });
        }
        let seen_src = match &mut self.boxes[from as usize] {
            None => private,
            Some(b) => b.outbound(now, private, dst).ok_or(NatDrop::Blocked)?,
        };
        match self.classes[to as usize] {
            NatType::Open if !public => Ok(Route {
                to,
                seen_src,
                extra: Duration::ZERO,
            }),
            NatType::Open => Err(NatDrop::Unroutable),
            _ if !public => Err(NatDrop::Unroutable),
            NatType::UdpBlocked => {
                if self.tcp.contains(&(to, from)) && dst.port == PORT {
                    Ok(Route {
                        to,
                        seen_src,
                        extra: self.tcp_extra,
                    })
                } else {
                    Err(NatDrop::Filtered)
                }
            }
            _ => {
                let b = self.boxes[to as usize]
                    .as_mut()
                    .ok_or(NatDrop::Unroutable)?;
                b.inbound(now, seen_src, dst).ok_or(NatDrop::Filtered)?;
                Ok(Route {
                    to,
                    seen_src,
                    extra: Duration::ZERO,
                })
            }
        }
    }
}

/// Whether a node of class `c` runs the DHT (public or full cone) rather
/// than attaching as a client.
pub fn is_full(c: NatType) -> bool {
    matches!(c, NatType::Open | NatType::FullCone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlab_churn::NatClass;
    use peerlab_churn::nat_mix::NatMixSpec;
    use std::collections::BTreeMap;

    fn setup(c: NatClass) -> NatSetup {
        let mix = NatMix::new(&NatMixSpec::Weights(BTreeMap::from([(c, 1.0)]))).unwrap();
        NatSetup::new(mix, 5)
    }

    fn t(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn public_addresses_map_back_to_nodes() {
        for i in [0, 1, 255, 70_000] {
            assert_eq!(public_owner(public_ip(i), 100_000), Some(i));
        }
        assert_eq!(public_owner(public_ip(10), 10), None);
        assert_eq!(public_owner([10, 0, 0, 1], 10), None);
    }

    #[test]
    fn a_port_restricted_node_is_reached_only_by_peers_it_sent_to() {
        let mut l = NatLayer::new(&setup(NatClass::PortRestrictedCone), 3);
        assert_eq!(l.class(0), NatType::Open, "the bootstrap is open");
        // Node 1 (NATed) sends to node 0 (open): translated source.
        let r = l.route(t(0), 1, addr_of(0)).unwrap();
        assert_eq!(r.to, 0);
        assert_eq!(r.seen_src.ip, public_ip(1));
        // Node 0 answers to that address: admitted.
        assert_eq!(l.route(t(1), 0, r.seen_src).unwrap().to, 1);
        // Node 2 (NATed, never contacted) cannot reach node 1's mapping, and
        // nobody reaches a private address.
        assert_eq!(l.route(t(1), 2, r.seen_src), Err(NatDrop::Filtered));
        assert_eq!(l.route(t(1), 0, addr_of(1)), Err(NatDrop::Unroutable));
        // The binding lapses 30 s after node 1's last packet.
        assert_eq!(l.route(t(31), 0, r.seen_src), Err(NatDrop::Filtered));
        let d = l.drops();
        assert_eq!((d.filtered, d.unroutable, d.blocked), (2, 1, 0));
    }

    #[test]
    fn udp_blocked_nodes_talk_over_their_tcp_connections_only() {
        let s = setup(NatClass::UdpBlocked);
        let mut l = NatLayer::new(&s, 3);
        let me = Addr::new(public_ip(1), 4000);
        assert_eq!(l.route(t(0), 0, me), Err(NatDrop::Filtered));
        let r = l.route(t(0), 1, addr_of(0)).unwrap();
        assert_eq!((r.to, r.seen_src), (0, me));
        assert_eq!(r.extra, Duration::from_millis(30));
        assert_eq!(
            l.route(t(500), 0, me).unwrap().to,
            1,
            "TCP does not time out"
        );
        l.reset(1);
        assert_eq!(l.route(t(501), 0, me), Err(NatDrop::Filtered));
    }
}
