//! One RFC 4787 middlebox: a NAT with a mapping table and filters, or a
//! firewall that drops all UDP.

use std::collections::BTreeMap;

use peerlab_core::nat::{Filtering, Mapping, NatBehavior, PortAssignment};
use peerlab_core::rng::NodeRng;
use peerlab_core::{Addr, Duration, Instant};
use rand::{RngExt, SeedableRng};

/// First port of the sequential allocator and of the fallback search.
const FIRST_PORT: u16 = 20_000;
/// Lowest port a random assignment draws.
const RANDOM_LOW: u16 = 1024;
/// Random draws before falling back to a sequential search.
const RANDOM_TRIES: u32 = 64;

/// What a middlebox does with UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Translate per an RFC 4787 behaviour.
    Nat(NatBehavior),
    /// Drop every UDP packet in both directions.
    BlockUdp,
}

/// The mapping-table key: the internal endpoint and, for
/// endpoint-dependent mappings, the part of the destination the mapping
/// depends on (the IP for address-dependent mapping, IP and port for
/// address-and-port-dependent mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MapKey {
    internal: Addr,
    dest: Option<Addr>,
}

/// One mapping (binding) and its filter state.
#[derive(Clone, Debug)]
struct Binding {
    external: Addr,
    /// Last refresh of the mapping itself.
    refreshed: Instant,
    /// Destinations the internal endpoint sent to through this mapping, with
    /// the last outbound (or, with inbound refresh, inbound) packet.
    sent_to: BTreeMap<Addr, Instant>,
}

/// An RFC 4787 NAT (or a UDP-blocking firewall) between a private realm and
/// the realm outside it.
///
/// All state is in ordered maps and the port generator is seeded, so two
/// middleboxes built alike and fed the same packets behave identically.
/// Expired bindings are dropped lazily, when a packet or an allocation
/// touches them, or all at once by [`Middlebox::purge`].
#[derive(Clone, Debug)]
pub struct Middlebox {
    policy: Policy,
    public_ips: Vec<[u8; 4]>,
    by_key: BTreeMap<MapKey, Binding>,
    by_external: BTreeMap<Addr, MapKey>,
    next_port: u16,
    rng: NodeRng,
}

impl Middlebox {
    /// A NAT with `behavior` and at least one public IP (an empty list gets
    /// `0.0.0.0`, which routes nowhere). `seed` drives random port
    /// assignment.
    pub fn nat(behavior: NatBehavior, public_ips: Vec<[u8; 4]>, seed: u64) -> Self {
        Self::with_policy(Policy::Nat(behavior), public_ips, seed)
    }

    /// A firewall that drops all UDP, in front of hosts addressed at
    /// `public_ip`.
    pub fn udp_blocking_firewall(public_ip: [u8; 4]) -> Self {
        Self::with_policy(Policy::BlockUdp, vec![public_ip], 0)
    }

    fn with_policy(policy: Policy, mut public_ips: Vec<[u8; 4]>, seed: u64) -> Self {
        if public_ips.is_empty() {
            public_ips.push([0, 0, 0, 0]);
        }
        Middlebox {
            policy,
            public_ips,
            by_key: BTreeMap::new(),
            by_external: BTreeMap::new(),
            next_port: FIRST_PORT,
            rng: NodeRng::seed_from_u64(seed),
        }
    }

    /// The middlebox's policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The middlebox's public IP addresses.
    pub fn public_ips(&self) -> &[[u8; 4]] {
        &self.public_ips
    }

    /// Whether `ip` is one of this middlebox's public addresses.
    pub fn owns(&self, ip: [u8; 4]) -> bool {
        self.public_ips.contains(&ip)
    }

    /// Live bindings at `now` (for tests and reports).
    pub fn live_bindings(&self, now: Instant) -> usize {
        match self.policy {
            Policy::Nat(b) => self
                .by_key
                .values()
                .filter(|x| alive(x.refreshed, b.binding_timeout, now))
                .count(),
            Policy::BlockUdp => 0,
        }
    }

    /// Drops every binding that has expired by `now`.
    pub fn purge(&mut self, now: Instant) {
        let Policy::Nat(b) = self.policy else { return };
        let dead: Vec<MapKey> = self
            .by_key
            .iter()
            .filter(|(_, x)| !alive(x.refreshed, b.binding_timeout, now))
            .map(|(k, _)| *k)
            .collect();
        for k in dead {
            self.remove(k);
        }
    }

    /// An outbound packet from `private_src` to `dst` at `now`: the public
    /// source address it leaves with, creating or refreshing the binding and
    /// recording `dst` in the filter; `None` if the packet is dropped (UDP
    /// blocked, hairpinning off for a packet to our own public address, or
    /// no free port).
    pub fn outbound(&mut self, now: Instant, private_src: Addr, dst: Addr) -> Option<Addr> {
        let Policy::Nat(b) = self.policy else {
            return None;
        };
        if !b.hairpin && self.owns(dst.ip) {
            return None;
        }
        let key = MapKey {
            internal: private_src,
            dest: match b.mapping {
                Mapping::EndpointIndependent => None,
                Mapping::AddressDependent => Some(Addr::new(dst.ip, 0)),
                Mapping::AddressAndPortDependent => Some(dst),
            },
        };
        if let Some(x) = self.by_key.get(&key)
            && !alive(x.refreshed, b.binding_timeout, now)
        {
            self.remove(key);
        }
        if !self.by_key.contains_key(&key) {
            let ip = self.ip_for(private_src);
            let external = self.allocate(now, b, ip, private_src.port)?;
            self.by_key.insert(
                key,
                Binding {
                    external,
                    refreshed: now,
                    sent_to: BTreeMap::new(),
                },
            );
            self.by_external.insert(external, key);
        }
        let x = self.by_key.get_mut(&key)?;
        x.refreshed = now;
        x.sent_to.insert(dst, now);
        Some(x.external)
    }

    /// An inbound packet from `src` to our public address `public_dst` at
    /// `now`: the private address it is forwarded to, or `None` if no live
    /// binding owns `public_dst` or the filter rejects `src`.
    pub fn inbound(&mut self, now: Instant, src: Addr, public_dst: Addr) -> Option<Addr> {
        let Policy::Nat(b) = self.policy else {
            return None;
        };
        let key = *self.by_external.get(&public_dst)?;
        let x = self.by_key.get(&key)?;
        if !alive(x.refreshed, b.binding_timeout, now) {
            self.remove(key);
            return None;
        }
        let fresh = |t: &Instant| alive(*t, b.binding_timeout, now);
        let admitted = match b.filtering {
            Filtering::EndpointIndependent => true,
            Filtering::AddressDependent => {
                x.sent_to.iter().any(|(d, t)| d.ip == src.ip && fresh(t))
            }
            Filtering::AddressAndPortDependent => x.sent_to.get(&src).is_some_and(fresh),
        };
        if !admitted {
            return None;
        }
        let x = self.by_key.get_mut(&key)?;
        if b.refresh_on_inbound {
            x.refreshed = now;
            if let Some(t) = x.sent_to.get_mut(&src) {
                *t = now;
            }
        }
        Some(key.internal)
    }

    /// The public IP for an internal host: "paired" pooling (RFC 4787
    /// REQ-2), so one internal IP always uses the same public IP.
    fn ip_for(&self, private_src: Addr) -> [u8; 4] {
        let n = self.public_ips.len().max(1);
        let i = (private_src.ip_u32() as usize) % n;
        self.public_ips.get(i).copied().unwrap_or([0, 0, 0, 0])
    }

    /// Whether `port` on `ip` is free at `now` (an expired holder is evicted).
    fn free(&mut self, now: Instant, timeout: Duration, ip: [u8; 4], port: u16) -> bool {
        if port == 0 {
            return false;
        }
        let ext = Addr::new(ip, port);
        let Some(&key) = self.by_external.get(&ext) else {
            return true;
        };
        let live = self
            .by_key
            .get(&key)
            .is_some_and(|x| alive(x.refreshed, timeout, now));
        if !live {
            self.remove(key);
        }
        !live
    }

    fn allocate(&mut self, now: Instant, b: NatBehavior, ip: [u8; 4], port: u16) -> Option<Addr> {
        let t = b.binding_timeout;
        match b.port_assignment {
            PortAssignment::Preserving if self.free(now, t, ip, port) => {
                return Some(Addr::new(ip, port));
            }
            PortAssignment::Random => {
                for _ in 0..RANDOM_TRIES {
                    let p = self.rng.random_range(RANDOM_LOW..=u16::MAX);
                    if self.free(now, t, ip, p) {
                        return Some(Addr::new(ip, p));
                    }
                }
            }
            _ => {}
        }
        // Sequential, and the fallback for the others: the next free port,
        // wrapping once around the whole range.
        for _ in 0..=u32::from(u16::MAX) {
            let p = self.next_port;
            self.next_port = if p == u16::MAX { RANDOM_LOW } else { p + 1 };
            if self.free(now, t, ip, p) {
                return Some(Addr::new(ip, p));
            }
        }
        None
    }

    fn remove(&mut self, key: MapKey) {
        if let Some(x) = self.by_key.remove(&key) {
            self.by_external.remove(&x.external);
        }
    }
}

/// Whether something refreshed at `at` is still alive at `now`.
fn alive(at: Instant, timeout: Duration, now: Instant) -> bool {
    now.saturating_since(at) < timeout
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlab_core::nat::NatType;

    const PUB: [u8; 4] = [203, 0, 113, 1];
    const H1: Addr = Addr::new([10, 0, 0, 1], 5000);
    const H2: Addr = Addr::new([10, 0, 0, 2], 5000);
    const S1: Addr = Addr::new([198, 51, 100, 1], 3478);
    const S1B: Addr = Addr::new([198, 51, 100, 1], 3479);
    const S2: Addr = Addr::new([198, 51, 100, 2], 3478);
    const T0: Instant = Instant::ZERO;

    fn nat(m: Mapping, f: Filtering) -> Middlebox {
        Middlebox::nat(
            NatBehavior::new(m, f, PortAssignment::Preserving),
            vec![PUB],
            7,
        )
    }

    #[test]
    fn eim_reuses_the_mapping_for_a_new_destination() {
        let mut n = nat(Mapping::EndpointIndependent, Filtering::EndpointIndependent);
        let a = n.outbound(T0, H1, S1);
        assert_eq!(a, Some(Addr::new(PUB, 5000)), "port preserved");
        assert_eq!(n.outbound(T0, H1, S2), a);
        assert_eq!(n.outbound(T0, H1, S1B), a);
    }

    #[test]
    fn adm_reuses_per_address_apdm_per_address_and_port() {
        let mut n = nat(Mapping::AddressDependent, Filtering::AddressDependent);
        let a = n.outbound(T0, H1, S1);
        assert_eq!(n.outbound(T0, H1, S1B), a);
        assert_ne!(n.outbound(T0, H1, S2), a);

        let mut n = nat(
            Mapping::AddressAndPortDependent,
            Filtering::AddressAndPortDependent,
        );
        let a = n.outbound(T0, H1, S1);
        let b = n.outbound(T0, H1, S1B);
        let c = n.outbound(T0, H1, S2);
        assert!(a != b && b != c && a != c);
        assert_eq!(n.outbound(T0, H1, S1), a, "same destination, same mapping");
    }

    #[test]
    fn eif_admits_anyone_once_mapped() {
        let mut n = nat(Mapping::EndpointIndependent, Filtering::EndpointIndependent);
        assert_eq!(
            n.inbound(T0, S2, Addr::new(PUB, 5000)),
            None,
            "no mapping yet"
        );
        let a = n.outbound(T0, H1, S1).unwrap_or_default();
        assert_eq!(n.inbound(T0, S2, a), Some(H1));
    }

    #[test]
    fn adf_admits_a_new_port_of_a_contacted_ip_apdf_does_not() {
        let mut n = nat(Mapping::EndpointIndependent, Filtering::AddressDependent);
        let a = n.outbound(T0, H1, S1).unwrap_or_default();
        assert_eq!(n.inbound(T0, S1B, a), Some(H1));
        assert_eq!(n.inbound(T0, S2, a), None);

        let mut n = nat(
            Mapping::EndpointIndependent,
            Filtering::AddressAndPortDependent,
        );
        let a = n.outbound(T0, H1, S1).unwrap_or_default();
        assert_eq!(n.inbound(T0, S1, a), Some(H1));
        assert_eq!(n.inbound(T0, S1B, a), None);
        assert_eq!(n.inbound(T0, S2, a), None);
    }

    #[test]
    fn bindings_expire_and_outbound_refreshes_them() {
        let mut n = nat(Mapping::EndpointIndependent, Filtering::EndpointIndependent);
        let a = n.outbound(T0, H1, S1).unwrap_or_default();
        let t = |s| Instant::from_secs(s);
        assert_eq!(n.inbound(t(29), S2, a), Some(H1));
        assert_eq!(n.inbound(t(31), S2, a), None, "expired after 30 s");
        let a = n.outbound(t(40), H1, S1).unwrap_or_default();
        n.outbound(t(65), H1, S1);
        assert_eq!(n.inbound(t(90), S2, a), Some(H1), "refreshed at 65 s");
        assert_eq!(n.live_bindings(t(90)), 1);
        assert_eq!(n.live_bindings(t(96)), 0);
        n.purge(t(96));
        assert_eq!(n.inbound(t(96), S2, a), None);
    }

    #[test]
    fn inbound_refresh_is_optional() {
        for on in [false, true] {
            let b = NatType::FullCone
                .behavior()
                .map(|b| b.with_inbound_refresh(on));
            let Some(b) = b else { return };
            let mut n = Middlebox::nat(b, vec![PUB], 1);
            let a = n.outbound(T0, H1, S1).unwrap_or_default();
            assert!(n.inbound(Instant::from_secs(20), S2, a).is_some());
            let later = n.inbound(Instant::from_secs(45), S2, a).is_some();
            assert_eq!(later, on, "inbound refresh {on}");
        }
    }

    #[test]
    fn port_assignment_kinds() {
        // Preserving, with a clash: the second host falls back.
        let mut n = nat(Mapping::EndpointIndependent, Filtering::EndpointIndependent);
        let a = n.outbound(T0, H1, S1).unwrap_or_default();
        let b = n.outbound(T0, H2, S1).unwrap_or_default();
        assert_eq!(a.port, 5000);
        assert_ne!(b.port, 5000);
        assert_eq!(n.inbound(T0, S1, b), Some(H2));
        // Sequential.
        let seq = NatBehavior::new(
            Mapping::AddressAndPortDependent,
            Filtering::AddressAndPortDependent,
            PortAssignment::Sequential,
        );
        let mut n = Middlebox::nat(seq, vec![PUB], 1);
        let p1 = n.outbound(T0, H1, S1).map(|a| a.port);
        let p2 = n.outbound(T0, H1, S2).map(|a| a.port);
        assert_eq!((p1, p2), (Some(FIRST_PORT), Some(FIRST_PORT + 1)));
        // Random: seeded, so reproducible, and not sequential.
        let rnd = seq.with_ports(PortAssignment::Random);
        let ports = |seed| {
            let mut n = Middlebox::nat(rnd, vec![PUB], seed);
            [S1, S2, S1B].map(|d| n.outbound(T0, H1, d).map(|a| a.port))
        };
        assert_eq!(ports(3), ports(3));
        assert_ne!(ports(3), ports(4));
    }

    #[test]
    fn hairpinning_on_and_off() {
        let on = NatType::PortRestrictedCone.behavior();
        let Some(on) = on else { return };
        let mut n = Middlebox::nat(on, vec![PUB], 1);
        let a1 = n.outbound(T0, H1, S1).unwrap_or_default();
        // H2 sends to H1's public address: translated, then looped back in.
        let a2 = n.outbound(T0, H2, a1).unwrap_or_default();
        assert_eq!(a2.ip, PUB);
        // H1 has not sent to a2, so port-restricted filtering drops it...
        assert_eq!(n.inbound(T0, a2, a1), None);
        // ...until H1 sends to H2's public address.
        n.outbound(T0, H1, a2);
        assert_eq!(n.inbound(T0, a2, a1), Some(H1));
        assert_eq!(n.inbound(T0, a1, a2), Some(H2));

        let mut n = Middlebox::nat(on.with_hairpin(false), vec![PUB], 1);
        let a1 = n.outbound(T0, H1, S1).unwrap_or_default();
        assert_eq!(n.outbound(T0, H2, a1), None);
    }

    #[test]
    fn paired_pooling_over_several_public_ips() {
        let ips = vec![PUB, [203, 0, 113, 2]];
        let Some(b) = NatType::Symmetric.behavior() else {
            return;
        };
        let mut n = Middlebox::nat(b, ips, 1);
        let a = n.outbound(T0, H1, S1).unwrap_or_default();
        let b = n.outbound(T0, H1, S2).unwrap_or_default();
        assert_eq!(a.ip, b.ip, "one internal host keeps one public IP");
        let c = n.outbound(T0, H2, S1).unwrap_or_default();
        assert_ne!(a.ip, c.ip);
    }

    #[test]
    fn firewall_blocks_all_udp() {
        let mut f = Middlebox::udp_blocking_firewall(PUB);
        assert_eq!(f.outbound(T0, H1, S1), None);
        assert_eq!(f.inbound(T0, S1, Addr::new(PUB, 5000)), None);
    }
}
