//! The DHT keeps working behind NATs (issue 5).
//!
//! 1,024 nodes, 60% of them NATed: 40% open, 10% full cone, 10% restricted
//! cone, 20% port-restricted cone, 15% symmetric, 5% UDP-blocked. Every
//! NATed node sits behind its own RFC 4787 middlebox in the engine's NAT
//! layer. Open and full-cone nodes run the DHT; the rest attach as clients
//! to super-nodes (`peerlab_core::hierarchy`), the UDP-blocked ones over a
//! TCP relay. Lookups are issued from clients and full nodes alike and judged
//! against the brute-force oracle over the live full nodes.
//!
//! The negative control puts every node into the DHT behind the same
//! middleboxes: lookups then miss nodes that no one can reach, so the 100%
//! is not vacuous.

use peerlab_churn::nat_mix::NatMixSpec;
use peerlab_churn::{ChurnSpec, NatClass, NatMix, WorkloadSpec};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::hierarchy::{Hierarchy, HierarchyConfig, Tiered};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::nat::NatType;
use peerlab_core::protocol::RoutingMode;
use peerlab_core::wire::{Body, Contact, Message};
use peerlab_core::{Addr, NodeId};
use peerlab_sim::nat::{NatSetup, is_full};
use peerlab_sim::{
    DhtNode, LookupRecord, NatOverlay, NetworkConfig, Roles, RunOutput, SimOptions, StaticWorkload,
    run_churn, run_static,
};
use std::collections::BTreeMap;

const N: u32 = 1024;
const SEED: u64 = 1;

fn mix() -> NatMix {
    NatMix::new(&NatMixSpec::Weights(BTreeMap::from([
        (NatClass::Open, 0.40),
        (NatClass::FullCone, 0.10),
        (NatClass::RestrictedCone, 0.10),
        (NatClass::PortRestrictedCone, 0.20),
        (NatClass::Symmetric, 0.15),
        (NatClass::UdpBlocked, 0.05),
    ])))
    .expect("valid mix")
}

fn overlay<D: DhtNode + Tiered>(inner: D::Config, roles: Roles) -> NatOverlay<D::Config> {
    NatOverlay::new::<D>(
        inner,
        HierarchyConfig::default(),
        NatSetup::new(mix(), SEED),
    )
    .with_roles(roles)
}

/// Nodes `0..n` by role: (clients, NATed full nodes), from the setup alone.
fn census(setup: &NatSetup, n: u32) -> (u32, u32) {
    let classes: Vec<NatType> = (0..n).map(|i| setup.class(i)).collect();
    let clients = classes.iter().filter(|c| !is_full(**c)).count() as u32;
    let full_natted = classes.iter().filter(|c| **c == NatType::FullCone).count() as u32;
    (clients, full_natted)
}

/// Bytes of one keepalive and its answer naming `backups` full nodes, from
/// the wire codec's sizes.
fn keepalive_pair_bytes(backups: usize) -> f64 {
    let c = Contact {
        id: NodeId::ZERO,
        addr: Addr::new([0; 4], 0),
    };
    let ask = Message::new(0, NodeId::ZERO, Body::Keepalive).encoded_len();
    let ack = Message::new(
        0,
        NodeId::ZERO,
        Body::KeepaliveAck {
            mapped: c.addr,
            accepted: true,
            backups: vec![c; backups],
        },
    )
    .encoded_len();
    (ask + ack) as f64
}

fn static_run<D: DhtNode<Config = NatOverlay<C>>, C>(cfg: NatOverlay<C>) -> RunOutput {
    let net = NetworkConfig {
        nodes: N,
        ..NetworkConfig::default()
    };
    let work = StaticWorkload {
        lookups: 5_000,
        puts: 500,
        ..StaticWorkload::default()
    };
    run_static::<D>(
        &net,
        &work,
        &SimOptions::default(),
        cfg,
        RoutingMode::Iterative,
        SEED,
        &mut |_| {},
    )
    .expect("valid run")
}

fn static_check<D: DhtNode + Tiered>(inner: D::Config) {
    let cfg = overlay::<D>(inner, Roles::ByNatClass);
    let setup = cfg.nat.clone();
    let (clients, full_natted) = census(&setup, N);
    let natted = (0..N).filter(|&i| setup.class(i) != NatType::Open).count();
    // The mix is drawn per node: about 60% NATed, about half of them clients.
    assert!(
        (natted as f64 / N as f64 - 0.6).abs() < 0.05,
        "{natted} NATed"
    );
    let out = static_run::<Hierarchy<D>, _>(cfg);
    assert_eq!(out.joined, N, "every node joins or attaches");
    let from_clients = out
        .lookups
        .iter()
        .filter(|l| !is_full(setup.class(l.origin)))
        .count();
    let failed: Vec<&LookupRecord> = out.lookups.iter().filter(|l| !l.success).collect();
    let found = out.puts.iter().filter(|p| p.found).count();
    let t = out.sim_time_s;
    let per_node_s = |b: u64| b as f64 / (N as f64 * t);
    let keepalive = per_node_s(out.traffic.keepalive_bytes());
    let relay = per_node_s(out.traffic.relay_routing_bytes());
    let dht = per_node_s(
        out.traffic.total_bytes()
            - out.traffic.keepalive_bytes()
            - out.traffic.relay_routing_bytes(),
    );
    // Analytic keepalive rate: every client and NATed full node sends one
    // keepalive (answered with 3 backups) per 25 s from its join (uniform
    // over the first 60 s, so on average 30 s in) to the end: a client
    // 1 + floor((t - join) / 25) of them (the first attaches it), a NATed
    // full node floor((t - join) / 25); the floor loses half a period on
    // average.
    let periods = (t - 30.0) / 25.0;
    // All clients bootstrap through node 0, which takes 32 and refuses the
    // rest once each (the refusal names 3 backups, like an answer).
    let refused = clients.saturating_sub(32) as f64;
    let pairs = clients as f64 * (periods + 0.5) + full_natted as f64 * (periods - 0.5) + refused;
    let analytic = pairs * keepalive_pair_bytes(3) / (N as f64 * t);
    println!(
        "static {} behind NATs: {natted} NATed nodes, {clients} clients, {full_natted} NATed full nodes; \
         lookups {}/{} correct ({} from clients); gets {}/{}; \
         keepalive {keepalive:.2} B/node/s (analytic {analytic:.2}), relay routing {relay:.2} B/node/s, \
         DHT {dht:.1} B/node/s; NAT drops {:?}",
        D::NAME,
        out.lookups.len() - failed.len(),
        out.lookups.len(),
        from_clients,
        found,
        out.puts.len(),
        out.nat_drops,
    );
    assert!(from_clients > 2_000, "{from_clients} lookups from clients");
    assert!(
        failed.is_empty(),
        "{} lookups missed the responsible full node, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(found, out.puts.len(), "every value is read back");
    // Every result holds all the responsible full nodes the oracle names
    // (k for Kademlia, the successor list for Chord).
    let partial = out
        .lookups
        .iter()
        .filter(|l| l.k_closest_fraction < 1.0)
        .count();
    assert_eq!(partial, 0, "{partial} results differ from the oracle's set");
    assert!(
        (keepalive / analytic - 1.0).abs() < 0.02,
        "keepalive {keepalive} B/node/s against {analytic}"
    );
    // Every datagram the hierarchy sends gets through its NATs.
    assert_eq!(out.nat_drops.filtered, 0, "{:?}", out.nat_drops);
    assert_eq!(out.nat_drops.blocked, 0, "{:?}", out.nat_drops);
}

#[test]
fn static_kademlia_finds_every_key_with_60_percent_natted() {
    static_check::<Kademlia>(KademliaConfig::default());
}

#[test]
fn static_chord_finds_every_key_with_60_percent_natted() {
    static_check::<Chord>(ChordConfig::default());
}

/// Without the hierarchy, NATed nodes in the DHT are unreachable for most
/// of their peers: lookups miss them, and the middleboxes filter traffic.
#[test]
fn without_the_hierarchy_natted_dht_nodes_break_lookups() {
    let cfg = overlay::<Kademlia>(KademliaConfig::default(), Roles::AllFull);
    let out = static_run::<Hierarchy<Kademlia>, _>(cfg);
    let ok = out.lookups.iter().filter(|l| l.success).count() as f64 / out.lookups.len() as f64;
    let timeouts: u32 = out.lookups.iter().map(|l| l.timeouts).sum();
    println!(
        "negative control, kademlia with every node in the DHT: success {ok:.3}, \
         {:.2} timeouts per lookup, NAT drops {:?}",
        timeouts as f64 / out.lookups.len() as f64,
        out.nat_drops
    );
    assert!(ok < 0.9, "lookup success {ok} without the hierarchy");
    assert!(out.nat_drops.filtered > 10_000, "{:?}", out.nat_drops);
}

/// The p2psim churn of `churn_kademlia.rs`, unchanged: 1,024 nodes,
/// exponential sessions and downtimes with mean 1 h, one lookup per live
/// node every 10 min, statistics from the last 3 h of 6 after a warm-up.
fn p2psim() -> (ChurnSpec, WorkloadSpec) {
    let churn: ChurnSpec = toml::from_str(
        r#"
        nodes = 1024
        model = { kind = "p2psim" }
        warmup_s = 36000.0
        transition_s = 10800.0
        measurement_s = 10800.0
        "#,
    )
    .expect("churn spec");
    let work: WorkloadSpec =
        toml::from_str("lookups = { rate_per_s = 0.0016666666666666668 }").expect("workload");
    (churn, work)
}

fn churn_check<D: DhtNode + Tiered>(inner: D::Config) {
    let (churn, work) = p2psim();
    let cfg = overlay::<D>(inner, Roles::ByNatClass);
    let setup = cfg.nat.clone();
    let (clients, full_natted) = census(&setup, N);
    let out = run_churn::<Hierarchy<D>>(
        &NetworkConfig::default(),
        &churn,
        &work,
        &SimOptions::default(),
        cfg,
        RoutingMode::Iterative,
        SEED,
        &mut |_| {},
    )
    .expect("valid run");
    let measured: Vec<&LookupRecord> = out.lookups.iter().filter(|l| l.measured).collect();
    let from_clients: Vec<&&LookupRecord> = measured
        .iter()
        .filter(|l| !is_full(setup.class(l.origin)))
        .collect();
    let rate = |v: &[&LookupRecord]| v.iter().filter(|l| l.success).count() as f64 / v.len() as f64;
    let ok = rate(&measured);
    let ok_clients =
        from_clients.iter().filter(|l| l.success).count() as f64 / from_clients.len() as f64;
    let w = out.measurement.as_ref().expect("measurement window");
    let keepalive = w.keepalive_bytes_per_node_s();
    let relay = w.relay_routing_bytes_per_node_s();
    // Analytic: the keepalive senders' share of the population (sessions do
    // not depend on the NAT class) times one keepalive pair per 25 s.
    let analytic = (clients + full_natted) as f64 / N as f64 * keepalive_pair_bytes(3) / 25.0;
    let mut lat: Vec<f64> = measured.iter().map(|l| l.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    println!(
        "p2psim churn, {} behind NATs: success {ok:.4} of {} lookups ({ok_clients:.4} of {} from clients); \
         latency median {:.0} ms, p95 {:.0} ms; keepalive {keepalive:.2} B/node/s (analytic {analytic:.2}), \
         relay routing {relay:.2} B/node/s, all traffic {:.1} B/node/s; NAT drops {:?}",
        D::NAME,
        measured.len(),
        from_clients.len(),
        lat[lat.len() / 2],
        lat[lat.len() * 95 / 100],
        w.bytes_per_node_s(),
        out.nat_drops,
    );
    assert!(
        measured.len() > 7_000,
        "{} measured lookups",
        measured.len()
    );
    assert!(
        from_clients.len() > 3_000,
        "{} from clients",
        from_clients.len()
    );
    assert!(ok >= 0.99, "lookup success {ok}");
    assert!(
        ok_clients >= 0.99,
        "lookup success from clients {ok_clients}"
    );
    assert!(
        (keepalive / analytic - 1.0).abs() < 0.1,
        "keepalive {keepalive} B/node/s against {analytic}"
    );
}

#[test]
fn kademlia_behind_nats_keeps_lookups_correct_under_p2psim_churn() {
    churn_check::<Kademlia>(KademliaConfig::default());
}

#[test]
fn chord_behind_nats_keeps_lookups_correct_under_p2psim_churn() {
    churn_check::<Chord>(ChordConfig::default());
}
