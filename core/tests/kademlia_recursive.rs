//! Recursive Kademlia lookups against the same oracle as iterative ones: the
//! live node closest to the target by XOR distance, the origin left out.

mod common;

use common::{Net, addr};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::{RequestStats, RoutingMode};
use peerlab_core::rng::NodeRng;
use peerlab_core::wire::MsgKind;
use peerlab_core::{Command, Duration, Event, HashAlg, NodeId, Protocol, RequestId};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

fn build(n: usize, cfg: KademliaConfig) -> Net<Kademlia> {
    let cfg = Arc::new(cfg);
    let nodes = (0..n)
        .map(|i| {
            let id = NodeId::from_name(HashAlg::Sha1, &format!("kad-node-{i}"));
            Kademlia::new(cfg.clone(), id, addr(i), 2000 + i as u64)
        })
        .collect();
    Net::new(nodes)
}

fn cfg() -> KademliaConfig {
    KademliaConfig {
        k: 8,
        ..KademliaConfig::default()
    }
}

/// The live node closest to `key` other than `origin`.
fn oracle(net: &Net<Kademlia>, key: &NodeId, origin: usize) -> usize {
    (0..net.nodes.len())
        .filter(|&i| i != origin && !net.crashed[i])
        .min_by_key(|&i| net.nodes[i].node_id().distance(key))
        .expect("another live node")
}

/// Runs the lookups all at once; returns each one's closest node and cost.
fn lookups(
    net: &mut Net<Kademlia>,
    keys: &[(usize, NodeId)],
    mode: RoutingMode,
) -> Vec<(Option<NodeId>, RequestStats)> {
    let mut issued: BTreeMap<(usize, RequestId), usize> = BTreeMap::new();
    for (k, (origin, key)) in keys.iter().enumerate() {
        let r = net
            .cmd(*origin, Command::Lookup { target: *key, mode })
            .unwrap();
        issued.insert((*origin, r), k);
    }
    net.after(Duration::from_secs(60));
    let mut out = vec![None; keys.len()];
    for (n, e) in net.take_events() {
        if let Event::LookupDone {
            id, closest, stats, ..
        } = e
            && let Some(k) = issued.get(&(n, id))
        {
            out[*k] = Some((closest.first().map(|c| c.id), stats));
        }
    }
    out.into_iter()
        .map(|r| r.expect("every lookup finished"))
        .collect()
}

fn random_keys(n: usize, count: usize, seed: u64) -> Vec<(usize, NodeId)> {
    let mut rng = NodeRng::seed_from_u64(seed);
    (0..count)
        .map(|_| (rng.random_range(0..n), NodeId::random(&mut rng)))
        .collect()
}

#[test]
fn recursive_lookups_find_the_closest_node_like_iterative_ones() {
    let n = 256;
    let mut net = build(n, cfg());
    net.join_all(Duration::from_millis(200));
    net.after(Duration::from_secs(60));
    net.take_events();
    let keys = random_keys(n, 1000, 7);
    let it = lookups(&mut net, &keys, RoutingMode::Iterative);
    let par = lookups(&mut net, &keys, RoutingMode::ParallelIterative);
    let rec = lookups(&mut net, &keys, RoutingMode::Recursive);
    for (k, (origin, key)) in keys.iter().enumerate() {
        let want = Some(net.nodes[oracle(&net, key, *origin)].node_id());
        assert_eq!(
            it[k].0, want,
            "iterative (α = 1) lookup of {key:?} from {origin}"
        );
        assert_eq!(par[k].0, want, "parallel lookup of {key:?} from {origin}");
        assert_eq!(rec[k].0, want, "recursive lookup of {key:?} from {origin}");
        assert!(
            !rec[k].1.fell_back && !rec[k].1.loop_detected,
            "{:?}",
            rec[k].1
        );
    }
    let mean = |v: &[(Option<NodeId>, RequestStats)], f: fn(&RequestStats) -> u32| {
        v.iter().map(|x| f(&x.1) as f64).sum::<f64>() / v.len() as f64
    };
    println!(
        "kademlia N = {n}, k = 8: mean hops iterative {:.3}, parallel {:.3}, recursive {:.3} \
         (log2 N = {:.1}); requests per lookup iterative {:.2}, parallel {:.2}, recursive {:.2}",
        mean(&it, |s| s.hops),
        mean(&par, |s| s.hops),
        mean(&rec, |s| s.hops),
        (n as f64).log2(),
        mean(&it, |s| s.messages),
        mean(&par, |s| s.messages),
        mean(&rec, |s| s.messages),
    );
    // Recursive routing sends one request per hop.
    assert!(mean(&rec, |s| s.messages) < mean(&it, |s| s.messages));
    assert!(rec.iter().all(|r| r.1.messages == r.1.hops));
}

#[test]
fn recursive_lookups_route_around_crashed_nodes() {
    let n = 128;
    let mut net = build(n, cfg());
    net.join_all(Duration::from_millis(200));
    net.after(Duration::from_secs(60));
    // A tenth of the nodes crash; nobody has noticed yet.
    for i in (5..n).step_by(10) {
        net.crash(i);
    }
    let keys: Vec<(usize, NodeId)> = random_keys(n, 300, 11)
        .into_iter()
        .filter(|(o, _)| !net.crashed[*o])
        .collect();
    let rec = lookups(&mut net, &keys, RoutingMode::Recursive);
    for (k, (origin, key)) in keys.iter().enumerate() {
        let want = Some(net.nodes[oracle(&net, key, *origin)].node_id());
        assert_eq!(rec[k].0, want, "recursive lookup of {key:?} from {origin}");
    }
    let fell_back = rec.iter().filter(|r| r.1.fell_back).count();
    println!(
        "crashed 10%: {fell_back} of {} recursive lookups fell back",
        rec.len()
    );
}

#[test]
fn the_hop_limit_stops_recursive_lookups_and_the_origin_falls_back() {
    let n = 128;
    let mut net = build(
        n,
        KademliaConfig {
            max_hops: 1,
            ..cfg()
        },
    );
    net.join_all(Duration::from_millis(200));
    net.after(Duration::from_secs(60));
    net.take_events();
    let keys = random_keys(n, 200, 3);
    let rec = lookups(&mut net, &keys, RoutingMode::Recursive);
    let mut stopped = 0;
    for (k, (origin, key)) in keys.iter().enumerate() {
        let want = Some(net.nodes[oracle(&net, key, *origin)].node_id());
        assert_eq!(rec[k].0, want, "{key:?} from {origin}");
        // A lookup is stopped exactly when its path needed a second hop.
        assert_eq!(rec[k].1.loop_detected, rec[k].1.fell_back);
        stopped += usize::from(rec[k].1.loop_detected);
    }
    let reported: u64 = net.nodes.iter().map(|n| n.stats().loops_detected).sum();
    assert_eq!(
        reported, stopped as u64,
        "each stop is counted where it happened"
    );
    assert!(stopped > 0 && stopped < keys.len(), "{stopped}");
}

/// The most requests the lookup from `origin` had outstanding at once, from
/// the datagrams the network carried (requests leave `delay` before they
/// arrive; an answer frees its slot when it arrives).
fn max_in_flight(net: &mut Net<Kademlia>, origin: usize, target: NodeId, mode: RoutingMode) -> i64 {
    net.tap = Some(Vec::new());
    net.cmd(origin, Command::Lookup { target, mode }).unwrap();
    net.after(Duration::from_secs(30));
    let tapped = net.tap.take().unwrap();
    let me = addr(origin);
    // (time + delay, +1 for a request sent, -1 for an answer received);
    // answers arriving at an instant are taken before the requests they
    // trigger.
    let mut steps: Vec<(peerlab_core::Instant, i64)> = Vec::new();
    for t in &tapped {
        if t.from == me && t.msg.body.kind() == MsgKind::FindNode {
            steps.push((t.at, 1));
        } else if t.to == origin && t.msg.body.kind() == MsgKind::Nodes {
            steps.push((t.at + net.delay, -1));
        }
    }
    steps.sort_by_key(|&(at, d)| (at, d));
    let (mut now, mut max) = (0i64, 0i64);
    for (_, d) in steps {
        now += d;
        max = max.max(now);
    }
    max
}

#[test]
fn parallel_iterative_keeps_alpha_requests_in_flight_and_iterative_one() {
    let n = 128;
    let alpha = 3;
    let mut net = build(n, KademliaConfig { alpha, ..cfg() });
    net.join_all(Duration::from_millis(200));
    net.after(Duration::from_secs(60));
    for (origin, key) in random_keys(n, 20, 5) {
        assert_eq!(
            max_in_flight(&mut net, origin, key, RoutingMode::Iterative),
            1,
            "iterative lookup of {key:?} from {origin}"
        );
        assert_eq!(
            max_in_flight(&mut net, origin, key, RoutingMode::ParallelIterative),
            alpha as i64,
            "parallel lookup of {key:?} from {origin}"
        );
    }
}
