//! Chord under churn, with the workload shape of the p2psim studies (Li et
//! al.; literature T6) scaled down: exponential sessions, one lookup per live
//! node every 10 minutes on average, statistics from the second half. A
//! lookup succeeds when its first node is the live key successor at the
//! moment it finishes (the brute-force oracle).

mod common;

use common::{Net, addr};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::protocol::RoutingMode;
use peerlab_core::rng::NodeRng;
use peerlab_core::{Command, Duration, Event, HashAlg, Instant, NodeId, Protocol, RequestId};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

fn exp(rng: &mut NodeRng, mean_s: f64) -> Duration {
    Duration::from_secs_f64(-mean_s * (1.0 - rng.random::<f64>()).ln())
}

/// The live, joined node responsible for `key`.
fn oracle(net: &Net<Chord>, key: &NodeId) -> Option<NodeId> {
    let mut live: Vec<NodeId> = (0..net.nodes.len())
        .filter(|&i| !net.crashed[i] && net.nodes[i].is_joined())
        .map(|i| net.nodes[i].node_id())
        .collect();
    live.sort();
    let p = live.partition_point(|id| id < key);
    live.get(p % live.len().max(1)).copied()
}

#[test]
fn lookups_under_churn_find_the_live_successor() {
    let n = 200;
    let session_s = 3600.0;
    let cfg = Arc::new(ChordConfig::default());
    let mut generation = vec![0u32; n];
    let make = |i: usize, g: u32| {
        let id = NodeId::from_name(HashAlg::Sha1, &format!("churn-{i}-{g}"));
        Chord::new(cfg.clone(), id, addr(i), (i as u64) << 20 | g as u64)
    };
    let mut net = Net::new((0..n).map(|i| make(i, 0)).collect());
    net.join_all(Duration::from_millis(300));
    net.after(Duration::from_secs(120));
    net.take_events();

    let mut rng = NodeRng::seed_from_u64(42);
    let end = net.now + Duration::from_secs(2 * 3600);
    let half = net.now + Duration::from_secs(3600);
    // Whole-population churn: one live node fails and one dead node comes
    // back, at the rate N / session.
    let mut next_churn = net.now + exp(&mut rng, session_s / n as f64);
    let mut next_lookup = net.now + exp(&mut rng, 600.0 / n as f64);
    let mut pending: BTreeMap<(usize, RequestId), (RoutingMode, NodeId, Instant)> = BTreeMap::new();
    let mut results: BTreeMap<RoutingMode, (u32, u32)> = BTreeMap::new();
    let mut dead: Vec<usize> = Vec::new();
    while net.now < end {
        let t = next_churn.min(next_lookup);
        net.run_until(t);
        for (node, e) in net.take_events() {
            if let Event::LookupDone { id, closest, .. } = e
                && let Some((mode, key, started)) = pending.remove(&(node, id))
                && started >= half
            {
                let ok = closest.first().map(|c| c.id) == oracle(&net, &key);
                let r = results.entry(mode).or_default();
                r.0 += u32::from(ok);
                r.1 += 1;
            }
        }
        let live: Vec<usize> = (0..n)
            .filter(|&i| !net.crashed[i] && net.nodes[i].is_joined())
            .collect();
        if t == next_churn {
            let victim = live[rng.random_range(0..live.len())];
            if rng.random::<f64>() < 0.5 {
                net.cmd(victim, Command::Leave).unwrap();
            }
            net.crash(victim);
            if !dead.is_empty() {
                let back = dead.swap_remove(rng.random_range(0..dead.len()));
                generation[back] += 1;
                net.restart(back, make(back, generation[back]));
                let via = live[rng.random_range(0..live.len())];
                net.cmd(
                    back,
                    Command::Join {
                        bootstrap: vec![addr(via)],
                    },
                )
                .unwrap();
            }
            dead.push(victim);
            next_churn = net.now + exp(&mut rng, session_s / n as f64);
        } else {
            let origin = live[rng.random_range(0..live.len())];
            let key = NodeId::random(&mut rng);
            let mode = if rng.random::<bool>() {
                RoutingMode::Iterative
            } else {
                RoutingMode::Recursive
            };
            let r = net
                .cmd(origin, Command::Lookup { target: key, mode })
                .unwrap();
            pending.insert((origin, r), (mode, key, net.now));
            next_lookup = net.now + exp(&mut rng, 600.0 / n as f64);
        }
    }
    for (mode, (ok, all)) in &results {
        let rate = *ok as f64 / *all as f64;
        println!("chord churn {mode:?}: {ok}/{all} = {rate:.4}");
        assert!(rate >= 0.99, "{mode:?} success {rate}");
    }
}
