//! A packet fabric of address realms joined by middleboxes.
//!
//! The public internet is one realm; every middlebox opens a private realm
//! behind it and puts its public IPs in the realm outside it. A realm may sit
//! behind another middlebox, so a home NAT behind a carrier-grade NAT
//! translates twice. Private IPs may repeat across realms.

use std::collections::BTreeMap;

use peerlab_core::{Addr, Instant};

use super::middlebox::Middlebox;

/// At most this many realm crossings per packet (a guard, never reached by a
/// well-formed topology).
const MAX_HOPS: usize = 32;

/// A middlebox in a [`NatNet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoxId(pub usize);

/// A host in a [`NatNet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

/// An address realm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Realm {
    /// The public internet.
    Public,
    /// The private side of a middlebox.
    Behind(BoxId),
}

/// Why a node cannot be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The realm does not exist.
    #[error("no such realm: {0:?}")]
    NoRealm(Realm),
    /// The IP is already used in that realm.
    #[error("IP {ip:?} is already used in {realm:?}")]
    Taken {
        /// The realm.
        realm: Realm,
        /// The clashing IP.
        ip: [u8; 4],
    },
}

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Host(HostId),
    Box(BoxId),
}

/// A packet that reached a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The receiving host.
    pub to: HostId,
    /// The source address as the receiver sees it (after every translation).
    pub src: Addr,
    /// The receiver's own (local) address the packet arrived at.
    pub dst: Addr,
}

/// Realms, middleboxes and hosts; [`NatNet::send`] carries one UDP packet
/// through every translation on its path.
#[derive(Clone, Debug, Default)]
pub struct NatNet {
    boxes: Vec<(Middlebox, Realm)>,
    hosts: Vec<(Realm, [u8; 4])>,
    endpoints: BTreeMap<(Realm, [u8; 4]), Endpoint>,
}

impl NatNet {
    /// An empty network: just the public realm.
    pub fn new() -> Self {
        NatNet::default()
    }

    fn realm_exists(&self, r: Realm) -> bool {
        match r {
            Realm::Public => true,
            Realm::Behind(BoxId(i)) => i < self.boxes.len(),
        }
    }

    /// Adds a middlebox whose public IPs live in `outside`; returns its id
    /// (its private realm is `Realm::Behind(id)`).
    pub fn add_box(&mut self, mb: Middlebox, outside: Realm) -> Result<BoxId, NetError> {
        if !self.realm_exists(outside) {
            return Err(NetError::NoRealm(outside));
        }
        for &ip in mb.public_ips() {
            if self.endpoints.contains_key(&(outside, ip)) {
                return Err(NetError::Taken { realm: outside, ip });
            }
        }
        let id = BoxId(self.boxes.len());
        for &ip in mb.public_ips() {
            self.endpoints.insert((outside, ip), Endpoint::Box(id));
        }
        self.boxes.push((mb, outside));
        Ok(id)
    }

    /// Adds a host at `ip` in `realm`.
    pub fn add_host(&mut self, realm: Realm, ip: [u8; 4]) -> Result<HostId, NetError> {
        if !self.realm_exists(realm) {
            return Err(NetError::NoRealm(realm));
        }
        if self.endpoints.contains_key(&(realm, ip)) {
            return Err(NetError::Taken { realm, ip });
        }
        let id = HostId(self.hosts.len());
        self.endpoints.insert((realm, ip), Endpoint::Host(id));
        self.hosts.push((realm, ip));
        Ok(id)
    }

    /// A host's local address at `port`.
    pub fn local_addr(&self, h: HostId, port: u16) -> Option<Addr> {
        self.hosts.get(h.0).map(|&(_, ip)| Addr::new(ip, port))
    }

    /// A host's realm.
    pub fn realm_of(&self, h: HostId) -> Option<Realm> {
        self.hosts.get(h.0).map(|&(r, _)| r)
    }

    /// A middlebox.
    pub fn middlebox(&self, b: BoxId) -> Option<&Middlebox> {
        self.boxes.get(b.0).map(|(m, _)| m)
    }

    /// A middlebox, mutably (for purges and inspection).
    pub fn middlebox_mut(&mut self, b: BoxId) -> Option<&mut Middlebox> {
        self.boxes.get_mut(b.0).map(|(m, _)| m)
    }

    /// Sends one UDP packet from host `from`'s port `src_port` to `dst` at
    /// `now`, through every middlebox on the way (outbound translations up,
    /// inbound filters down, hairpinning when `dst` is a NAT's own public
    /// address). Returns where it arrived, or `None` if it was dropped.
    pub fn send(
        &mut self,
        now: Instant,
        from: HostId,
        src_port: u16,
        dst: Addr,
    ) -> Option<Delivery> {
        let &(mut realm, ip) = self.hosts.get(from.0)?;
        let mut src = Addr::new(ip, src_port);
        let mut dst = dst;
        for _ in 0..MAX_HOPS {
            match self.endpoints.get(&(realm, dst.ip)).copied() {
                Some(Endpoint::Host(to)) => return Some(Delivery { to, src, dst }),
                Some(Endpoint::Box(b)) => {
                    let (mb, _) = self.boxes.get_mut(b.0)?;
                    dst = mb.inbound(now, src, dst)?;
                    realm = Realm::Behind(b);
                }
                None => {
                    let Realm::Behind(b) = realm else {
                        return None;
                    };
                    let (mb, outside) = self.boxes.get_mut(b.0)?;
                    src = mb.outbound(now, src, dst)?;
                    realm = *outside;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlab_core::nat::NatType;

    const SERVER: [u8; 4] = [198, 51, 100, 1];

    fn cone() -> peerlab_core::nat::NatBehavior {
        NatType::FullCone
            .behavior()
            .unwrap_or(peerlab_core::nat::NatBehavior::new(
                peerlab_core::nat::Mapping::EndpointIndependent,
                peerlab_core::nat::Filtering::EndpointIndependent,
                peerlab_core::nat::PortAssignment::Preserving,
            ))
    }

    #[test]
    fn nested_nats_translate_twice() -> Result<(), NetError> {
        let mut net = NatNet::new();
        let server = net.add_host(Realm::Public, SERVER)?;
        let cgn = net.add_box(
            Middlebox::nat(cone(), vec![[203, 0, 113, 9]], 1),
            Realm::Public,
        )?;
        let home = net.add_box(
            Middlebox::nat(cone(), vec![[100, 64, 0, 7]], 2),
            Realm::Behind(cgn),
        )?;
        let h = net.add_host(Realm::Behind(home), [192, 168, 1, 2])?;
        let t = Instant::ZERO;
        let d = net.send(t, h, 4000, Addr::new(SERVER, 3478));
        let d = d.ok_or(NetError::NoRealm(Realm::Public))?;
        assert_eq!(d.to, server);
        assert_eq!(
            d.src.ip,
            [203, 0, 113, 9],
            "the server sees the CGN's address"
        );
        // The reply finds its way back through both NATs.
        let back = net.send(t, server, 3478, d.src).map(|x| (x.to, x.dst));
        assert_eq!(back, Some((h, Addr::new([192, 168, 1, 2], 4000))));
        Ok(())
    }

    #[test]
    fn hosts_behind_one_nat_talk_locally_and_by_hairpin() -> Result<(), NetError> {
        let mut net = NatNet::new();
        let server = net.add_host(Realm::Public, SERVER)?;
        let nat = net.add_box(
            Middlebox::nat(cone(), vec![[203, 0, 113, 1]], 1),
            Realm::Public,
        )?;
        let a = net.add_host(Realm::Behind(nat), [10, 0, 0, 1])?;
        let b = net.add_host(Realm::Behind(nat), [10, 0, 0, 2])?;
        let t = Instant::ZERO;
        // Same private IPs elsewhere do not clash.
        let other = net.add_box(
            Middlebox::nat(cone(), vec![[203, 0, 113, 2]], 1),
            Realm::Public,
        )?;
        net.add_host(Realm::Behind(other), [10, 0, 0, 1])?;
        let ra = net.send(t, a, 5000, Addr::new(SERVER, 1)).map(|d| d.src);
        let ra = ra.ok_or(NetError::NoRealm(Realm::Public))?;
        let _ = server;
        // Local delivery: private address.
        let d = net.send(t, b, 5000, Addr::new([10, 0, 0, 1], 5000));
        assert_eq!(d.map(|d| d.to), Some(a));
        // Hairpin: to a's public address, seen from b's public address.
        let d = net.send(t, b, 5000, ra);
        assert_eq!(d.map(|d| (d.to, d.src.ip)), Some((a, [203, 0, 113, 1])));
        Ok(())
    }

    #[test]
    fn add_rejects_clashes_and_missing_realms() {
        let mut net = NatNet::new();
        assert!(net.add_host(Realm::Public, SERVER).is_ok());
        assert!(net.add_host(Realm::Public, SERVER).is_err());
        assert!(net.add_host(Realm::Behind(BoxId(3)), SERVER).is_err());
        assert!(
            net.send(Instant::ZERO, HostId(9), 1, Addr::new(SERVER, 1))
                .is_none()
        );
    }
}
