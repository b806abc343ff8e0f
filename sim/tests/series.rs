//! Time series of churn runs (`peerlab_sim::series`), each checked against
//! an independent view: the churn model's own event list, graph snapshots
//! taken at the same instants, a ring rebuilt from the routing tables, and
//! the engine's whole-run traffic counters.

use peerlab_churn::{ChurnEvent, ChurnSpec, WorkloadSpec};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::{RouteRole, TrafficClass};
use peerlab_core::{Duration, Instant};
use peerlab_sim::network::index_of;
use peerlab_sim::series::{ALL, SeriesOutput};
use peerlab_sim::{DhtNode, NetworkConfig, RunOutput, SeriesOptions, SimOptions, run_churn};
use std::collections::BTreeSet;

const SEED: u64 = 5;

/// 120 nodes under p2psim churn for an hour, lookups throughout.
fn churn(extra: &str) -> ChurnSpec {
    toml::from_str(&format!(
        r#"
        nodes = 120
        model = {{ kind = "p2psim" }}
        join_rate_per_s = 10.0
        warmup_s = 36000.0
        transition_s = 1200.0
        measurement_s = 2388.0
        {extra}
        "#
    ))
    .expect("churn spec")
}

fn run<D: DhtNode>(c: &ChurnSpec, opts: &SimOptions, cfg: D::Config) -> RunOutput {
    let work: WorkloadSpec = toml::from_str("lookups = { rate_per_s = 0.01 }").expect("workload");
    run_churn::<D>(
        &NetworkConfig::default(),
        c,
        &work,
        opts,
        cfg,
        D::DEFAULT_ROUTING,
        SEED,
        &mut |_| {},
    )
    .expect("valid run")
}

fn series(interval_s: f64, node_traffic: bool) -> SimOptions {
    SimOptions {
        series: Some(SeriesOptions {
            interval_s,
            node_traffic,
            node_traffic_interval_s: None,
        }),
        ..SimOptions::default()
    }
}

fn out_series(o: &RunOutput) -> &SeriesOutput {
    o.series.as_ref().expect("a series was asked for")
}

fn at(s: f64) -> Instant {
    Instant::ZERO + Duration::from_secs_f64(s)
}

/// Replays the churn model's event list up to each sample time: who is up,
/// and how many arrivals, leaves and failures took effect in the interval.
fn replay(c: &ChurnSpec, times: &[f64]) -> Vec<(u32, u32, u32, u32)> {
    let records: Vec<_> = c.build().expect("valid").events(SEED).collect();
    let mut up = BTreeSet::new();
    let mut next = 0;
    let mut out = Vec::new();
    for &t in times {
        let (mut joins, mut leaves, mut fails) = (0, 0, 0);
        while next < records.len() && at(records[next].time_s) <= at(t) {
            let r = records[next];
            match r.event {
                ChurnEvent::Join => joins += up.insert(r.node) as u32,
                ChurnEvent::Leave => leaves += up.remove(&r.node) as u32,
                ChurnEvent::Fail => fails += up.remove(&r.node) as u32,
            }
            next += 1;
        }
        out.push((up.len() as u32, joins, leaves, fails));
    }
    out
}

#[test]
fn population_and_churn_per_interval_match_a_replay_of_the_event_list() {
    let c = churn("");
    let out = run::<Kademlia>(&c, &series(60.0, false), KademliaConfig::default());
    let rows = &out_series(&out).rows;
    let times: Vec<f64> = rows.iter().map(|r| r.time_s).collect();
    assert_eq!(times.len(), 60, "3600 s in 60 s intervals");
    assert_eq!(*times.last().unwrap(), 3600.0);
    let truth = replay(&c, &times);
    for (r, &(online, joins, leaves, fails)) in rows.iter().zip(&truth) {
        assert_eq!(
            (r.online_nodes, r.joins, r.leaves, r.fails),
            (online, joins, leaves, fails),
            "interval ending at {} s",
            r.time_s
        );
        assert!(r.joined_nodes <= r.online_nodes);
    }
    assert!(
        truth.iter().map(|t| t.3 + t.2).sum::<u32>() > 50,
        "the run has churn to count"
    );
    // Lookups per interval add up to the lookups that finished.
    let finished = out
        .lookups
        .iter()
        .filter(|l| l.latency_ms.is_finite())
        .count();
    let ok = out.lookups.iter().filter(|l| l.success).count();
    assert_eq!(
        rows.iter().map(|r| r.lookups as usize).sum::<usize>(),
        finished
    );
    assert_eq!(
        rows.iter()
            .map(|r| r.lookup_successes as usize)
            .sum::<usize>(),
        ok
    );
    // Bytes per interval add up to the run's bytes.
    assert_eq!(
        rows.iter().map(|r| r.bytes).sum::<u64>(),
        out.traffic.total_bytes()
    );
    // Node-seconds per interval add up to the run's.
    let ns: f64 = rows.iter().map(|r| r.node_seconds).sum();
    assert!((ns - out.node_seconds).abs() < 1e-6 * out.node_seconds);
}

#[test]
fn a_mass_failure_drops_the_population_by_its_fraction_at_the_instant() {
    let c = churn("[[mass_failures]]\nat_s = 1800.0\nfraction = 0.5\n");
    let out = run::<Kademlia>(&c, &series(10.0, false), KademliaConfig::default());
    let rows = &out_series(&out).rows;
    let row = |t: f64| rows.iter().find(|r| r.time_s == t).expect("a sample at t");
    // The churn model's own view just before the failure instant.
    let records: Vec<_> = c.build().unwrap().events(SEED).collect();
    let mut up = BTreeSet::new();
    for r in records.iter().filter(|r| at(r.time_s) < at(1800.0)) {
        match r.event {
            ChurnEvent::Join => up.insert(r.node),
            _ => up.remove(&r.node),
        };
    }
    let before = up.len() as u32;
    let killed = (0.5 * before as f64).round() as u32;
    let (b, a) = (row(1790.0), row(1800.0));
    println!(
        "online {} at 1790 s, {before} just before 1800 s, {} at 1800 s ({} failures in the interval)",
        b.online_nodes, a.online_nodes, a.fails
    );
    assert!(before > 30, "a population to halve: {before}");
    assert_eq!(
        a.online_nodes,
        before - killed,
        "half the online nodes fail"
    );
    assert!(a.fails >= killed);
    // The routing state sees it: the dead-entry share jumps at the instant.
    assert!(
        a.health.dead_entry_share() > b.health.dead_entry_share() + 0.3,
        "dead-entry share {} -> {}",
        b.health.dead_entry_share(),
        a.health.dead_entry_share()
    );
}

#[test]
fn routing_health_equals_the_graph_snapshot_at_the_same_instant() {
    let c = churn("[[mass_failures]]\nat_s = 1800.0\nfraction = 0.3\n");
    let mut opts = series(300.0, false);
    opts.snapshot_at_s = vec![900.0, 1800.0, 2400.0];
    for out in [
        run::<Kademlia>(&c, &opts, KademliaConfig::default()),
        run::<Chord>(&c, &opts, ChordConfig::default()),
    ] {
        let rows = &out_series(&out).rows;
        assert_eq!(out.snapshots.len(), 3);
        for s in &out.snapshots {
            let r = rows.iter().find(|r| r.time_s == s.time_s).unwrap();
            assert_eq!(r.health.live_nodes, s.live_nodes, "at {} s", s.time_s);
            assert_eq!(r.health.entries, s.entries, "at {} s", s.time_s);
            assert_eq!(r.health.dead_entries, s.dead_entries, "at {} s", s.time_s);
            assert_eq!(r.health.dead_entry_share(), s.dead_entry_share);
        }
        assert!(
            out.snapshots[1].dead_entries > 0,
            "the failure leaves dead entries"
        );
    }
}

#[test]
fn chord_wrong_successors_match_a_ring_rebuilt_from_the_routing_tables() {
    // No churn but a mass failure: every live node has joined, so the ring's
    // members are the live nodes.
    let c: ChurnSpec = toml::from_str(
        r#"
        nodes = 100
        model = { kind = "static" }
        join_rate_per_s = 10.0
        transition_s = 600.0
        measurement_s = 1000.0
        [[mass_failures]]
        at_s = 1200.0
        fraction = 0.4
        "#,
    )
    .unwrap();
    let mut opts = series(100.0, false);
    opts.snapshot_at_s = vec![1100.0, 1200.0, 1300.0];
    opts.snapshot_graphs = true;
    let cfg = ChordConfig::default();
    let out = run::<Chord>(&c, &opts, cfg.clone());
    let rows = &out_series(&out).rows;
    let mut wrong_seen = Vec::new();
    for g in &out.graphs {
        let n = g.graph().node_count() as u32;
        let live: Vec<u32> = (0..n).filter(|&i| g.is_up(i)).collect();
        // Ring positions of the live nodes, from the ids their peers hold.
        let mut pos = vec![None; n as usize];
        for &i in &live {
            for e in g.routes(i) {
                if let Some(j) = index_of(e.contact.addr, n) {
                    pos[j as usize] = Some(cfg.ring_position(&e.contact.id));
                }
            }
        }
        let mut ring: Vec<_> = live
            .iter()
            .map(|&i| (pos[i as usize].expect("every live node is named"), i))
            .collect();
        ring.sort_unstable();
        let wrong = (0..ring.len())
            .filter(|&k| {
                let (i, truth) = (ring[k].1, ring[(k + 1) % ring.len()].1);
                let succ = g
                    .routes(i)
                    .iter()
                    .find(|e| e.role == RouteRole::Successor(0))
                    .and_then(|e| index_of(e.contact.addr, n));
                succ != Some(truth)
            })
            .count() as u32;
        let r = rows.iter().find(|r| r.time_s == g.time_s()).unwrap();
        assert!(r.ring);
        assert_eq!(r.health.ring_members, live.len() as u32);
        assert_eq!(r.health.wrong_successors, wrong, "at {} s", g.time_s());
        wrong_seen.push(wrong);
    }
    println!("wrong successors at 1100, 1200, 1300 s: {wrong_seen:?}");
    assert_eq!(wrong_seen[0], 0, "a settled ring");
    assert!(wrong_seen[1] > 5, "the failure breaks successors");
}

#[test]
fn node_traffic_adds_up_to_the_node_and_class_totals() {
    let c = churn("");
    let mut opts = series(300.0, true);
    if let Some(s) = opts.series.as_mut() {
        s.node_traffic_interval_s = Some(450.0);
    }
    for out in [
        run::<Kademlia>(&c, &opts, KademliaConfig::default()),
        run::<Chord>(&c, &opts, ChordConfig::default()),
    ] {
        let s = out_series(&out);
        assert_eq!(s.node_interval_ends_s.len(), 8, "3600 s in 450 s intervals");
        let n = out.node_traffic.len();
        let mut all = vec![[0u64; 4]; n];
        let mut class = [0u64; TrafficClass::COUNT * 2];
        for r in &s.node_rows {
            let v = [
                r.sent_messages as u64,
                r.sent_bytes as u64,
                r.recv_messages as u64,
                r.recv_bytes as u64,
            ];
            assert!(v.iter().any(|&x| x > 0), "only non-zero rows");
            if r.class == ALL {
                for (a, x) in all[r.node as usize].iter_mut().zip(v) {
                    *a += x;
                }
            } else {
                class[2 * r.class as usize] += v[0] + v[2];
                class[2 * r.class as usize + 1] += v[1] + v[3];
            }
        }
        // Within every interval, what a node counted under its classes is
        // part of what the engine saw it send and receive.
        let mut k = 0;
        while k < s.node_rows.len() {
            let (iv, node) = (s.node_rows[k].interval, s.node_rows[k].node);
            let mut classes = [0u64; 4];
            let mut everything = [0u64; 4];
            while k < s.node_rows.len()
                && (s.node_rows[k].interval, s.node_rows[k].node) == (iv, node)
            {
                let r = s.node_rows[k];
                let v = [r.sent_messages, r.sent_bytes, r.recv_messages, r.recv_bytes];
                let acc = if r.class == ALL {
                    &mut everything
                } else {
                    &mut classes
                };
                for (a, x) in acc.iter_mut().zip(v) {
                    *a += x as u64;
                }
                k += 1;
            }
            for j in 0..4 {
                assert!(
                    classes[j] <= everything[j],
                    "node {node}, interval {iv}: {classes:?} > {everything:?}"
                );
            }
        }
        for (i, t) in out.node_traffic.iter().enumerate() {
            assert_eq!(
                all[i],
                [t.sent_messages, t.sent_bytes, t.recv_messages, t.recv_bytes],
                "node {i}"
            );
        }
        for c in TrafficClass::ALL {
            let t = out.class_traffic[c.index()];
            assert_eq!(
                [class[2 * c.index()], class[2 * c.index() + 1]],
                [t.messages, t.bytes],
                "{c}"
            );
        }
        assert!(out.class_traffic[TrafficClass::Lookup.index()].messages > 0);
    }
}

#[test]
fn sampling_does_not_change_the_run() {
    let c = churn("");
    let plain = run::<Kademlia>(&c, &SimOptions::default(), KademliaConfig::default());
    let sampled = run::<Kademlia>(&c, &series(7.0, true), KademliaConfig::default());
    assert_eq!(plain.trace_hash, sampled.trace_hash);
    assert_eq!(plain.events, sampled.events);
    // (Debug text: unfinished lookups have a NaN latency.)
    assert_eq!(
        format!("{:?}", plain.lookups),
        format!("{:?}", sampled.lookups)
    );
    assert!(plain.series.is_none());
}

#[test]
fn a_static_mass_failure_drops_the_population_by_its_fraction_and_matches_the_repair_samples() {
    use peerlab_sim::{StaticWorkload, run_static};
    let work = StaticWorkload {
        join_window_s: 20.0,
        settle_s: 100.0,
        lookups: 300,
        lookup_window_s: 300.0,
        puts: 0,
        fail_fraction: 0.25,
        fail_at_s: Some(200.0),
        repair_sample_s: 10.0,
        repair_max_s: 200.0,
        ..StaticWorkload::default()
    };
    let net = NetworkConfig {
        nodes: 200,
        ..NetworkConfig::default()
    };
    let out = run_static::<Chord>(
        &net,
        &work,
        &series(10.0, false),
        ChordConfig::default(),
        ChordConfig::DEFAULT_ROUTING,
        SEED,
        &mut |_| {},
    )
    .expect("valid run");
    let rows = &out_series(&out).rows;
    let row = |t: f64| rows.iter().find(|r| r.time_s == t).expect("a sample at t");
    // Analytic: every node is up until the failure, then a quarter of 200 fail.
    let (b, a) = (row(190.0), row(200.0));
    assert_eq!((b.online_nodes, b.joined_nodes), (200, 200));
    assert_eq!((a.online_nodes, a.joined_nodes, a.fails), (150, 150, 50));
    assert!(rows.iter().all(|r| r.phase == "static"));
    assert_eq!(rows.iter().map(|r| r.joins).sum::<u32>(), 200);
    // The repair samples, taken by the static scenario's own sampler at the
    // same instants, agree on the dead-entry share and wrong successors.
    let repair = out.repair.as_ref().expect("a failure");
    assert!(repair.samples.len() >= 2);
    for s in &repair.samples {
        let r = row(s.time_s);
        assert_eq!(
            r.health.dead_entry_share(),
            s.dead_entry_share,
            "at {} s",
            s.time_s
        );
        assert_eq!(
            Some(r.health.wrong_successors),
            s.wrong_successors,
            "at {} s",
            s.time_s
        );
    }
    assert!(a.health.wrong_successors > 0);
    // Joined-node-seconds per interval add up to the run's (which runs past
    // the last sample only if the repair sampling does).
    let ns: f64 = rows.iter().map(|r| r.node_seconds).sum();
    let last = rows.last().unwrap().time_s;
    assert!(ns <= out.node_seconds + 1e-6);
    assert!(
        (out.node_seconds - ns - 150.0 * (out.sim_time_s - last)).abs() < 1e-6 * out.node_seconds
    );
}
