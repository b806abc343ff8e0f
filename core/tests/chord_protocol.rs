//! Chord on a small static ring, built through the protocol itself (joins,
//! stabilization, fix-fingers), checked against a brute-force oracle over the
//! sorted ids: ring pointers, every finger, every lookup in both routing
//! modes, and where each stored value sits.

mod common;

use common::{Net, addr};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::protocol::{RequestStats, RoutingMode};
use peerlab_core::rng::NodeRng;
use peerlab_core::{Command, Contact, Duration, Event, HashAlg, NodeId, Protocol, RequestId};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The ring in id order, as `(id, node index)`.
fn sorted_ring(net: &Net<Chord>) -> Vec<(NodeId, usize)> {
    let mut ring: Vec<(NodeId, usize)> = net
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node_id(), i))
        .collect();
    ring.sort();
    ring
}

/// Brute force: the key's successor (first id at or after it, clockwise) and
/// the nodes after it, `n` in all.
fn oracle(ring: &[(NodeId, usize)], key: &NodeId, n: usize) -> Vec<usize> {
    let start = ring.partition_point(|(id, _)| id < key);
    (0..n.min(ring.len()))
        .map(|o| ring[(start + o) % ring.len()].1)
        .collect()
}

/// `id + 2^bit` modulo 2^160, bit 0 the least significant (written here
/// independently of the core's ring arithmetic).
fn plus_pow2(id: &NodeId, bit: usize) -> NodeId {
    let mut words = [0u32; 5];
    for (w, chunk) in words.iter_mut().zip(id.0.chunks(4)) {
        *w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let mut carry = 1u64 << (bit % 32);
    for w in words.iter_mut().rev().skip(bit / 32) {
        let s = *w as u64 + carry;
        *w = s as u32;
        carry = s >> 32;
    }
    let mut out = [0u8; 20];
    for (chunk, w) in out.chunks_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    NodeId(out)
}

fn build(n: usize, cfg: ChordConfig) -> Net<Chord> {
    let cfg = Arc::new(cfg);
    let nodes = (0..n)
        .map(|i| {
            let id = NodeId::from_name(HashAlg::Sha1, &format!("chord-node-{i}"));
            Chord::new(cfg.clone(), id, addr(i), 1000 + i as u64)
        })
        .collect();
    Net::new(nodes)
}

fn index(net: &Net<Chord>, c: &Contact) -> usize {
    net.nodes
        .iter()
        .position(|n| n.node_id() == c.id)
        .expect("a known node")
}

/// Runs `count` lookups of random keys from random origins, all at once, and
/// returns each one's result (node indices) and cost, in issue order.
fn lookups(
    net: &mut Net<Chord>,
    keys: &[(usize, NodeId)],
    mode: RoutingMode,
) -> Vec<(Vec<usize>, RequestStats)> {
    let mut issued: BTreeMap<(usize, RequestId), usize> = BTreeMap::new();
    for (k, (origin, key)) in keys.iter().enumerate() {
        let r = net
            .cmd(*origin, Command::Lookup { target: *key, mode })
            .unwrap();
        issued.insert((*origin, r), k);
    }
    net.after(Duration::from_secs(30));
    let mut out = vec![None; keys.len()];
    for (n, e) in net.take_events() {
        if let Event::LookupDone {
            id, closest, stats, ..
        } = e
            && let Some(k) = issued.get(&(n, id))
        {
            out[*k] = Some((closest.iter().map(|c| index(net, c)).collect(), stats));
        }
    }
    out.into_iter()
        .map(|r| r.expect("every lookup finished"))
        .collect()
}

/// Builds an `n`-node ring whose nodes join one after another within
/// `join_window_s` (a burst, like the simulator's static scenario), lets it
/// settle for a little more than one fix-fingers interval, and checks it.
fn static_ring(n: usize, join_window_s: u64) {
    let cfg = ChordConfig::default();
    let r = cfg.successors;
    let mut net = build(n, cfg.clone());
    net.join_all(Duration::from_micros(join_window_s * 1_000_000 / n as u64));
    net.after(Duration::from_secs(150));
    net.take_events();
    let ring = sorted_ring(&net);

    // Ring pointers: each successor list is the next r nodes, each
    // predecessor the previous node.
    for (k, (id, i)) in ring.iter().enumerate() {
        let node = &net.nodes[*i];
        let succ: Vec<usize> = node
            .successor_list()
            .iter()
            .map(|c| index(&net, c))
            .collect();
        let want: Vec<usize> = (1..=r).map(|d| ring[(k + d) % n].1).collect();
        assert_eq!(succ, want, "successor list of {id:?}");
        let pred = node.predecessor().map(|c| index(&net, &c));
        assert_eq!(pred, Some(ring[(k + n - 1) % n].1), "predecessor of {id:?}");
    }

    // Fingers: finger i is the successor of n + 2^i, for every i.
    for (id, i) in &ring {
        let node = &net.nodes[*i];
        let runs = node.fingers();
        let succ = index(&net, &node.successor_list()[0]);
        for f in 0..160u8 {
            let got = runs
                .iter()
                .rev()
                .find(|(j, _)| *j <= f)
                .map_or(succ, |(_, c)| index(&net, c));
            let want = oracle(&ring, &plus_pow2(id, f as usize), 1)[0];
            assert_eq!(got, want, "finger {f} of {id:?}");
        }
    }

    // Lookups in both modes against the oracle.
    let mut rng = NodeRng::seed_from_u64(n as u64);
    let keys: Vec<(usize, NodeId)> = (0..2000)
        .map(|_| (rng.random_range(0..n), NodeId::random(&mut rng)))
        .collect();
    let it = lookups(&mut net, &keys, RoutingMode::Iterative);
    let rec = lookups(&mut net, &keys, RoutingMode::Recursive);
    for (k, (origin, key)) in keys.iter().enumerate() {
        let want = oracle(&ring, key, r);
        assert_eq!(it[k].0, want, "iterative lookup of {key:?} from {origin}");
        assert_eq!(rec[k].0, want, "recursive lookup of {key:?} from {origin}");
        // Same routing state, same path.
        assert_eq!(it[k].1.hops, rec[k].1.hops, "{key:?} from {origin}");
        assert!(!rec[k].1.loop_detected && !rec[k].1.fell_back);
        assert_eq!(it[k].1.timeouts + rec[k].1.timeouts, 0);
    }
    let mean = |v: &[(Vec<usize>, RequestStats)]| {
        v.iter().map(|x| x.1.hops as f64).sum::<f64>() / v.len() as f64
    };
    let msgs = |v: &[(Vec<usize>, RequestStats)]| {
        v.iter().map(|x| x.1.messages as f64).sum::<f64>() / v.len() as f64
    };
    let half_log = 0.5 * (n as f64).log2();
    println!(
        "chord static ring N = {n} (joined within {join_window_s} s): mean hops iterative {:.3}, recursive {:.3}, ½·log2 N = {half_log:.3}; \
         requests per lookup iterative {:.2}, recursive {:.2}",
        mean(&it),
        mean(&rec),
        msgs(&it),
        msgs(&rec)
    );
    assert!(
        (mean(&it) - half_log).abs() <= 0.1 * half_log,
        "mean hops {} not within 10% of {half_log}",
        mean(&it)
    );

    // Values: on the key's successor and the next replicas − 1 nodes only.
    let values: Vec<(usize, NodeId)> = (0..100)
        .map(|_| (rng.random_range(0..n), NodeId::random(&mut rng)))
        .collect();
    for (origin, key) in &values {
        net.cmd(
            *origin,
            Command::Put {
                key: *key,
                value: key.0[..4].to_vec(),
                ttl_secs: 3600,
            },
        )
        .unwrap();
    }
    net.after(Duration::from_secs(30));
    let acks: Vec<u32> = net
        .take_events()
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::StoreDone { replicas, .. } => Some(replicas),
            _ => None,
        })
        .collect();
    assert_eq!(acks, vec![cfg.replicas as u32; values.len()]);
    for (_, key) in &values {
        let mut holders: Vec<usize> = (0..n)
            .filter(|&i| net.nodes[i].stored(key) == vec![key.0[..4].to_vec()])
            .collect();
        holders.sort_unstable();
        let mut want = oracle(&ring, key, cfg.replicas);
        want.sort_unstable();
        assert_eq!(holders, want, "holders of {key:?}");
    }
    for (k, (_, key)) in values.iter().enumerate() {
        let reader = (k * 7919) % n;
        match net.request(reader, Command::Get { key: *key }, Duration::from_secs(10)) {
            Event::GetDone { values, .. } => assert_eq!(values, vec![key.0[..4].to_vec()]),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_static_ring_of_256_routes_every_lookup_to_the_true_successor() {
    static_ring(256, 50);
}

#[test]
fn a_static_ring_of_1024_joined_in_a_burst_routes_every_lookup_to_the_true_successor() {
    static_ring(1024, 60);
}

#[test]
fn a_static_ring_of_4096_joined_in_a_burst_routes_every_lookup_to_the_true_successor() {
    static_ring(4096, 60);
}

#[test]
fn a_lone_node_and_a_pair_form_a_ring() {
    let mut net = build(2, ChordConfig::default());
    net.cmd(0, Command::Join { bootstrap: vec![] }).unwrap();
    let key = NodeId::from_name(HashAlg::Sha1, "k");
    // Alone, the node is responsible for everything.
    match net.request(
        0,
        Command::Lookup {
            target: key,
            mode: RoutingMode::Recursive,
        },
        Duration::from_secs(1),
    ) {
        Event::LookupDone { closest, stats, .. } => {
            assert_eq!(closest.len(), 1);
            assert_eq!(closest[0].id, net.nodes[0].node_id());
            assert_eq!(stats.hops, 0);
        }
        other => panic!("{other:?}"),
    }
    net.cmd(
        1,
        Command::Join {
            bootstrap: vec![addr(0)],
        },
    )
    .unwrap();
    net.after(Duration::from_secs(60));
    for i in 0..2 {
        let other = net.nodes[1 - i].node_id();
        assert_eq!(net.nodes[i].successor_list()[0].id, other, "node {i}");
        assert_eq!(net.nodes[i].predecessor().map(|c| c.id), Some(other));
    }
}

#[test]
fn a_join_through_a_dead_bootstrap_fails() {
    let mut net = build(2, ChordConfig::default());
    net.crash(0);
    match net.request(
        1,
        Command::Join {
            bootstrap: vec![addr(0)],
        },
        Duration::from_secs(10),
    ) {
        Event::JoinFailed { .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(!net.nodes[1].is_joined());
}
