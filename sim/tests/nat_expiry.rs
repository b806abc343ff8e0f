//! Bindings expire: a cone-NAT host that sends nothing is unreachable after
//! the binding timeout; keepalives well inside the timeout keep it reachable.

use peerlab_core::nat::{NatBehavior, NatType};
use peerlab_core::{Addr, Duration, Instant};
use peerlab_sim::nat::{HostId, Middlebox, NatNet, NetError, Realm};

const RENDEZVOUS: Addr = Addr::new([198, 51, 100, 1], 3478);

struct Lab {
    net: NatNet,
    caller: HostId,
    natted: HostId,
    reflexive: Addr,
}

fn lab() -> Result<Lab, NetError> {
    let mut net = NatNet::new();
    net.add_host(Realm::Public, RENDEZVOUS.ip)?;
    let caller = net.add_host(Realm::Public, [192, 0, 2, 7])?;
    let beh = NatType::FullCone.behavior();
    let Some(beh) = beh else {
        return Err(NetError::NoRealm(Realm::Public));
    };
    let nat = net.add_box(
        Middlebox::nat(beh, vec![[203, 0, 113, 1]], 1),
        Realm::Public,
    )?;
    let natted = net.add_host(Realm::Behind(nat), [10, 0, 0, 1])?;
    // Register with the rendezvous at t = 0.
    let d = net.send(Instant::ZERO, natted, 5000, RENDEZVOUS);
    let reflexive = d.map(|d| d.src).ok_or(NetError::NoRealm(Realm::Public))?;
    Ok(Lab {
        net,
        caller,
        natted,
        reflexive,
    })
}

/// Whether the public caller reaches the NATed host at `t`, with keepalives
/// to the rendezvous every `keepalive` (if any) until then.
fn reachable_at(t: Instant, keepalive: Option<Duration>) -> Result<bool, NetError> {
    let mut l = lab()?;
    if let Some(k) = keepalive {
        let mut next = Instant::ZERO + k;
        while next < t {
            l.net.send(next, l.natted, 5000, RENDEZVOUS);
            next += k;
        }
    }
    Ok(l.net.send(t, l.caller, 4000, l.reflexive).map(|d| d.to) == Some(l.natted))
}

#[test]
fn cone_binding_expires_without_keepalives() -> Result<(), NetError> {
    let timeout = NatBehavior::PRESET_TIMEOUT;
    assert_eq!(timeout, Duration::from_secs(30));
    let keepalive = Duration::from_secs(25);
    let rows = [
        (Instant::from_secs(10), None, true),
        (Instant::from_secs(29), None, true),
        (Instant::from_secs(31), None, false),
        (Instant::from_secs(120), None, false),
        (Instant::from_secs(31), Some(keepalive), true),
        (Instant::from_secs(120), Some(keepalive), true),
        (Instant::from_secs(600), Some(keepalive), true),
        // Keepalives slower than the timeout leave gaps: the binding dies at
        // 30 s and the next keepalive (35 s) only recreates it (on the same,
        // preserved port).
        (Instant::from_secs(34), Some(Duration::from_secs(35)), false),
        (Instant::from_secs(36), Some(Duration::from_secs(35)), true),
    ];
    for (t, k, want) in rows {
        let got = reachable_at(t, k)?;
        println!("t = {t}, keepalive {k:?}: reachable {got}");
        assert_eq!(got, want, "t = {t}, keepalive {k:?}");
    }
    Ok(())
}
