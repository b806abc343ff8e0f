//! The NAT connectivity oracle's rules, pinned pair by pair.

use peerlab_core::nat::{
    BlogClass, Connectivity, Filtering, Mapping, NatType, RelayKind, RelayReason,
    blog_connectivity, connectivity, rule_for,
};

const TCP: Connectivity = Connectivity::Relay(RelayKind::Tcp, RelayReason::UdpBlocked);
const UDP: Connectivity = Connectivity::Relay(RelayKind::Udp, RelayReason::PunchFailed);

#[test]
fn udp_blocked_always_needs_a_tcp_relay() {
    for t in NatType::ALL {
        assert_eq!(connectivity(NatType::UdpBlocked, t), TCP);
        assert_eq!(connectivity(t, NatType::UdpBlocked), TCP);
    }
}

#[test]
fn an_open_side_is_direct() {
    for t in NatType::ALL {
        if t != NatType::UdpBlocked {
            assert_eq!(connectivity(NatType::Open, t), Connectivity::Direct);
            assert_eq!(connectivity(t, NatType::Open), Connectivity::Direct);
        }
    }
}

#[test]
fn full_cone_callee_is_direct_but_full_cone_caller_punches() {
    use NatType::*;
    for t in [FullCone, RestrictedCone, PortRestrictedCone, Symmetric] {
        assert_eq!(connectivity(t, FullCone), Connectivity::Direct);
    }
    for t in [RestrictedCone, PortRestrictedCone, Symmetric] {
        assert_eq!(connectivity(FullCone, t), Connectivity::Punched);
    }
}

#[test]
fn symmetric_against_port_filtering_needs_a_udp_relay() {
    use NatType::*;
    assert_eq!(connectivity(Symmetric, Symmetric), UDP);
    assert_eq!(connectivity(Symmetric, PortRestrictedCone), UDP);
    assert_eq!(connectivity(PortRestrictedCone, Symmetric), UDP);
    // Address-only filtering admits the symmetric side's fresh port.
    assert_eq!(
        connectivity(Symmetric, RestrictedCone),
        Connectivity::Punched
    );
    assert_eq!(
        connectivity(RestrictedCone, Symmetric),
        Connectivity::Punched
    );
    assert_eq!(
        connectivity(PortRestrictedCone, PortRestrictedCone),
        Connectivity::Punched
    );
}

#[test]
fn every_pair_has_a_rule_and_the_oracle_is_symmetric_in_kind() {
    for a in NatType::ALL {
        for b in NatType::ALL {
            assert!(!rule_for(a, b).is_empty());
            // Only the full-cone rule depends on who calls; the end-to-end
            // property itself never does.
            assert_eq!(
                connectivity(a, b).is_end_to_end(),
                connectivity(b, a).is_end_to_end()
            );
        }
    }
}

#[test]
fn presets_round_trip_through_their_behaviour() {
    for t in NatType::ALL {
        match t.behavior() {
            Some(b) => assert_eq!(b.nat_type(), t),
            None => assert!(matches!(t, NatType::Open | NatType::UdpBlocked)),
        }
    }
    let sym = NatType::Symmetric.behavior();
    assert_eq!(
        sym.map(|b| (b.mapping, b.filtering)),
        Some((
            Mapping::AddressAndPortDependent,
            Filtering::AddressAndPortDependent
        ))
    );
}

#[test]
fn blog_table_rules() {
    use BlogClass::*;
    for c in BlogClass::ALL {
        assert_eq!(blog_connectivity(F, c), TCP);
        assert_eq!(blog_connectivity(c, F), TCP);
    }
    assert_eq!(blog_connectivity(B, B), UDP);
    for (a, b) in [(P, G), (G, B), (B, G), (G, G), (P, B), (B, P), (P, P)] {
        assert!(blog_connectivity(a, b).is_end_to_end(), "{a:?} {b:?}");
    }
    // The blog classes map onto presets, and back.
    for c in BlogClass::ALL {
        assert_eq!(c.nat_type().blog_class(), c);
    }
}

#[test]
fn blog_mix_exact_shares() {
    // The blog-2009 mix: P 10%, G 30%, B 30%, F 30%. Exact expectation.
    let w = [
        (BlogClass::P, 0.1),
        (BlogClass::G, 0.3),
        (BlogClass::B, 0.3),
        (BlogClass::F, 0.3),
    ];
    let (mut e2e, mut udp, mut tcp) = (0.0, 0.0, 0.0);
    for (a, pa) in w {
        for (b, pb) in w {
            match blog_connectivity(a, b) {
                Connectivity::Relay(RelayKind::Udp, _) => udp += pa * pb,
                Connectivity::Relay(RelayKind::Tcp, _) => tcp += pa * pb,
                _ => e2e += pa * pb,
            }
        }
    }
    assert!((e2e - 0.40_f64).abs() < 1e-9);
    assert!((udp - 0.09_f64).abs() < 1e-9);
    assert!((tcp - 0.51_f64).abs() < 1e-9);
}
