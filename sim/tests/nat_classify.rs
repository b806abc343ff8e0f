//! NAT type discovery by the core's agent (RFC 5780-style tests against two
//! partnered server agents) for 20 hosts behind each preset, some sharing a
//! NAT: every host is classified as its preset, the oracle being the preset
//! the test placed it behind.

use peerlab_core::nat::NatType;
use peerlab_core::{Addr, Instant};
use peerlab_sim::nat::{Middlebox, NatNet, Peer, Realm, StunServers, classify};

/// Hosts per NAT: 20 in all, from a lone host to ten sharing one box.
const GROUPS: [usize; 5] = [1, 1, 3, 5, 10];

#[test]
fn twenty_hosts_per_preset_classify_correctly() -> Result<(), Box<dyn std::error::Error>> {
    let mut net = NatNet::new();
    let primary = net.add_host(Realm::Public, [198, 51, 100, 1])?;
    let other = net.add_host(Realm::Public, [198, 51, 100, 2])?;
    let servers = StunServers {
        primary,
        other,
        port: 3478,
        alt_port: 3479,
    };
    let mut hosts = Vec::new();
    for (ti, t) in NatType::ALL.into_iter().enumerate() {
        for (gi, &n) in GROUPS.iter().enumerate() {
            let public = [203, 0, ti as u8, gi as u8 + 1];
            let realm = match t {
                NatType::Open => Realm::Public,
                NatType::UdpBlocked => Realm::Behind(
                    net.add_box(Middlebox::udp_blocking_firewall(public), Realm::Public)?,
                ),
                _ => {
                    let Some(b) = t.behavior() else { continue };
                    let seed = (ti * 10 + gi) as u64;
                    Realm::Behind(
                        net.add_box(Middlebox::nat(b, vec![public], seed), Realm::Public)?,
                    )
                }
            };
            for h in 0..n {
                let ip = match realm {
                    Realm::Public => [203, 0, ti as u8, (gi * 16 + h + 1) as u8],
                    Realm::Behind(_) => [10, 0, 0, h as u8 + 1],
                };
                hosts.push((t, net.add_host(realm, ip)?));
            }
        }
    }
    let mut wrong = Vec::new();
    let mut per_type = [0usize; 6];
    let mut now = Instant::ZERO;
    for &(t, host) in &hosts {
        // Every host uses port 5000: hosts sharing a port-preserving NAT clash.
        let (c, done) = classify(&mut net, now, Peer { host, port: 5000 }, servers)?;
        now = done;
        if c.nat_type == t {
            if let Some(k) = NatType::ALL.iter().position(|&x| x == t) {
                per_type[k] += 1;
            }
        } else {
            wrong.push(format!("{t:?} host {host:?}: classified {c:?}"));
        }
        if t.is_natted() {
            assert_ne!(c.reflexive, net.local_addr(host, 5000));
        }
    }
    for (t, n) in NatType::ALL.iter().zip(per_type) {
        println!("{:<22} {n}/20 classified correctly", t.name());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(per_type, [20; 6]);
    Ok(())
}

#[test]
fn a_home_nat_behind_a_cgn_shows_the_outer_address() -> Result<(), Box<dyn std::error::Error>> {
    let mut net = NatNet::new();
    let primary = net.add_host(Realm::Public, [198, 51, 100, 1])?;
    let other = net.add_host(Realm::Public, [198, 51, 100, 2])?;
    let servers = StunServers {
        primary,
        other,
        port: 3478,
        alt_port: 3479,
    };
    let (Some(cone), Some(prc)) = (
        NatType::FullCone.behavior(),
        NatType::PortRestrictedCone.behavior(),
    ) else {
        return Ok(());
    };
    let cgn = net.add_box(
        Middlebox::nat(cone, vec![[203, 0, 113, 50]], 1),
        Realm::Public,
    )?;
    let home = net.add_box(
        Middlebox::nat(prc, vec![[100, 64, 0, 2]], 2),
        Realm::Behind(cgn),
    )?;
    let host = net.add_host(Realm::Behind(home), [192, 168, 0, 10])?;
    let (c, _) = classify(&mut net, Instant::ZERO, Peer { host, port: 5000 }, servers)?;
    // The stack behaves as its most restrictive layer.
    assert_eq!(c.nat_type, NatType::PortRestrictedCone);
    assert_eq!(c.reflexive.map(|a: Addr| a.ip), Some([203, 0, 113, 50]));
    Ok(())
}
