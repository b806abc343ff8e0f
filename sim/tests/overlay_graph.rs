//! Overlay-graph analysis (issue 4): metrics on hand-made graphs checked by
//! brute force, the snapshot of a static 4,096-node Chord ring, and a mass
//! failure of 25% of that ring with the repair that follows.

use peerlab_churn::{ChurnSpec, WorkloadSpec};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::{RouteEntry, RouteRole, RoutingMode};
use peerlab_core::{Contact, NodeId};
use peerlab_sim::network::{addr_of, index_of};
use peerlab_sim::{
    GraphOptions, GraphSnapshot, NetworkConfig, OverlayGraph, SimOptions, StaticWorkload,
    run_churn, run_static,
};
use std::collections::{BTreeMap, BTreeSet};

fn analyze(g: &OverlayGraph) -> GraphSnapshot {
    g.analyze(&GraphOptions::default())
}

/// All-pairs hop counts by Floyd–Warshall over live nodes (u32::MAX: none).
fn floyd(up: &[bool], edges: &[(u32, u32)]) -> Vec<Vec<u32>> {
    let n = up.len();
    let inf = u32::MAX;
    let mut d = vec![vec![inf; n]; n];
    for (i, row) in d.iter_mut().enumerate() {
        row[i] = 0;
    }
    for &(a, b) in edges {
        let (a, b) = (a as usize, b as usize);
        if b < n && up[a] && up[b] && a != b {
            d[a][b] = 1;
        }
    }
    for k in 0..n {
        for i in 0..n {
            for j in 0..n {
                if d[i][k] != inf && d[k][j] != inf && d[i][k] + d[k][j] < d[i][j] {
                    d[i][j] = d[i][k] + d[k][j];
                }
            }
        }
    }
    d
}

/// The brute-force metrics of a graph, to compare with `analyze`.
struct Brute {
    mean: Option<f64>,
    diameter: Option<u32>,
    scc_sizes: Vec<u32>,
    in_hist: Vec<u32>,
    entries: u64,
    dead: u64,
}

fn brute(up: &[bool], edges: &[(u32, u32)]) -> Brute {
    let n = up.len();
    let d = floyd(up, edges);
    let live: Vec<usize> = (0..n).filter(|&i| up[i]).collect();
    let (mut sum, mut pairs, mut diam) = (0u64, 0u64, 0u32);
    for &i in &live {
        for &j in &live {
            if i != j && d[i][j] != u32::MAX {
                sum += d[i][j] as u64;
                pairs += 1;
                diam = diam.max(d[i][j]);
            }
        }
    }
    // SCCs: mutual reachability classes.
    let mut seen = vec![false; n];
    let mut scc_sizes = Vec::new();
    for &i in &live {
        if seen[i] {
            continue;
        }
        let members: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&j| d[i][j] != u32::MAX && d[j][i] != u32::MAX)
            .collect();
        for &j in &members {
            seen[j] = true;
        }
        scc_sizes.push(members.len() as u32);
    }
    scc_sizes.sort_unstable_by(|a, b| b.cmp(a));
    // In-degrees over distinct edges between different live nodes.
    let distinct: BTreeSet<(u32, u32)> = edges
        .iter()
        .copied()
        .filter(|&(a, b)| a != b && (b as usize) < n && up[a as usize] && up[b as usize])
        .collect();
    let mut indeg = vec![0u32; n];
    for &(_, b) in &distinct {
        indeg[b as usize] += 1;
    }
    let max = live.iter().map(|&i| indeg[i]).max().unwrap_or(0);
    let mut in_hist = vec![0u32; max as usize + 1];
    for &i in &live {
        in_hist[indeg[i] as usize] += 1;
    }
    let from_live: Vec<_> = edges.iter().filter(|&&(a, _)| up[a as usize]).collect();
    Brute {
        mean: (pairs > 0).then(|| sum as f64 / pairs as f64),
        diameter: (pairs > 0).then_some(diam),
        scc_sizes,
        in_hist,
        entries: from_live.len() as u64,
        dead: from_live
            .iter()
            .filter(|&&&(_, b)| b as usize >= n || !up[b as usize])
            .count() as u64,
    }
}

fn assert_matches_brute(up: Vec<bool>, edges: &[(u32, u32)]) -> GraphSnapshot {
    let b = brute(&up, edges);
    let s = analyze(&OverlayGraph::from_edges(1.5, up, edges));
    assert_eq!(s.time_s, 1.5);
    assert_eq!(s.diameter, b.diameter);
    match (s.mean_path_length, b.mean) {
        (Some(x), Some(y)) => assert!((x - y).abs() < 1e-12, "mean path {x} vs {y}"),
        (x, y) => assert_eq!(x, y),
    }
    assert_eq!(s.scc_sizes, b.scc_sizes);
    assert_eq!(s.scc_count as usize, b.scc_sizes.len());
    assert_eq!(s.in_degree_histogram, b.in_hist);
    assert_eq!((s.entries, s.dead_entries), (b.entries, b.dead));
    assert!(!s.bfs_sampled);
    s
}

fn ring_edges(first: u32, len: u32) -> Vec<(u32, u32)> {
    (0..len)
        .map(|k| (first + k, first + (k + 1) % len))
        .collect()
}

#[test]
fn ring_has_diameter_n_minus_1_and_one_component() {
    let n = 12;
    let s = assert_matches_brute(vec![true; n as usize], &ring_edges(0, n));
    assert_eq!(s.diameter, Some(n - 1));
    assert_eq!(s.scc_count, 1);
    assert_eq!(s.scc_sizes, vec![n]);
    // Mean of 1..=n-1.
    assert_eq!(s.mean_path_length, Some(n as f64 / 2.0));
    assert_eq!(s.in_degree_histogram, vec![0, n]);
    assert_eq!(s.reachable_pair_share, 1.0);
    assert_eq!((s.dead_entries, s.dead_entry_share), (0, 0.0));
}

#[test]
fn two_disjoint_rings_are_two_components() {
    let mut edges = ring_edges(0, 5);
    edges.extend(ring_edges(5, 7));
    let s = assert_matches_brute(vec![true; 12], &edges);
    assert_eq!(s.scc_count, 2);
    assert_eq!(s.scc_sizes, vec![7, 5]);
    assert_eq!(s.diameter, Some(6));
    let reachable = (5 * 4 + 7 * 6) as f64 / (12 * 11) as f64;
    assert!((s.reachable_pair_share - reachable).abs() < 1e-12);
}

#[test]
fn star_in_degree_histogram() {
    // Every leaf names the hub; the hub names nobody.
    let n = 9u32;
    let edges: Vec<(u32, u32)> = (1..n).map(|i| (i, 0)).collect();
    let s = assert_matches_brute(vec![true; n as usize], &edges);
    let mut hist = vec![0u32; n as usize];
    hist[0] = n - 1;
    hist[n as usize - 1] = 1;
    assert_eq!(s.in_degree_histogram, hist);
    assert_eq!(s.max_in_degree, n - 1);
    assert_eq!(s.scc_count, n, "no cycles: every node is its own component");
    assert_eq!(s.diameter, Some(1));
    // Both ways: one component, diameter 2 (leaf, hub, leaf).
    let mut both = edges.clone();
    both.extend((1..n).map(|i| (0, i)));
    let s = assert_matches_brute(vec![true; n as usize], &both);
    assert_eq!((s.scc_count, s.diameter), (1, Some(2)));
}

#[test]
fn random_graphs_with_dead_nodes_match_brute_force() {
    // A small LCG: the test needs no RNG crate and stays deterministic.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |m: u32| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % m as u64) as u32
    };
    for round in 0..20 {
        let n = 10 + next(50);
        let up: Vec<bool> = (0..n).map(|_| next(5) != 0).collect();
        let m = next(4 * n);
        // Targets up to n + 1: a few name no node at all; repeats and self
        // edges are allowed.
        let edges: Vec<(u32, u32)> = (0..m).map(|_| (next(n), next(n + 2))).collect();
        let s = assert_matches_brute(up, &edges);
        assert!(s.live_nodes <= n, "round {round}");
    }
}

#[test]
fn sampled_sources_are_reported_and_exact_on_a_ring() {
    let n = 300;
    let g = OverlayGraph::from_edges(0.0, vec![true; n as usize], &ring_edges(0, n));
    let opts = GraphOptions {
        exact_limit: 100,
        sampled_sources: 25,
        seed: 3,
    };
    let s = g.analyze(&opts);
    assert!(s.bfs_sampled);
    assert_eq!(s.bfs_sources, 25);
    // From any source of a ring the distances are 1..=n-1.
    assert_eq!(s.diameter, Some(n - 1));
    assert_eq!(s.mean_path_length, Some(n as f64 / 2.0));
    assert_eq!(s, g.analyze(&opts), "seeded: the same sample twice");
}

fn contact(i: u32) -> Contact {
    Contact {
        id: NodeId([i as u8; 20]),
        addr: addr_of(i),
    }
}

#[test]
fn routes_map_by_address_and_skip_replacements() {
    let e = |role, i| RouteEntry {
        role,
        contact: contact(i),
        failures: 0,
    };
    let routes = vec![
        vec![
            e(RouteRole::Successor(0), 1),
            e(RouteRole::Finger(3), 1),
            e(RouteRole::Predecessor, 2),
        ],
        vec![e(RouteRole::Bucket(4), 0), e(RouteRole::Replacement(4), 2)],
        vec![e(RouteRole::Bucket(1), 0)],
    ];
    let g = OverlayGraph::from_routes(7.0, vec![true, true, false], routes);
    assert_eq!(
        g.entries(),
        4,
        "node 1's replacement and down node 2 do not count"
    );
    assert_eq!(g.dead_entries(), 1, "node 0's predecessor is down");
    assert_eq!(g.graph().edge_count(), 3, "0->1 (merged), 0->2, 1->0");
    assert_eq!(g.routes(1).len(), 2);
    assert!(g.routes(2).is_empty());
    let s = analyze(&g);
    assert_eq!((s.live_nodes, s.edges, s.scc_count), (2, 2, 1));
    assert_eq!(s.dead_entry_share, 0.25);

    // GraphML and DOT: count nodes and edges in the text.
    let mut xml = Vec::new();
    g.write_graphml(&mut xml).unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert!(xml.starts_with("<?xml") && xml.trim_end().ends_with("</graphml>"));
    assert_eq!(xml.matches("<node id=").count(), 3);
    assert_eq!(xml.matches("<edge id=").count(), 3);
    assert_eq!(xml.matches(r#"<data key="dead">true</data>"#).count(), 1);
    assert!(xml.contains(r#"source="n0" target="n1"><data key="roles">succ 0, finger 3<"#));
    let mut dot = Vec::new();
    g.write_dot(&mut dot).unwrap();
    let dot = String::from_utf8(dot).unwrap();
    assert!(dot.starts_with("digraph overlay {") && dot.trim_end().ends_with('}'));
    let lines: Vec<&str> = dot.lines().map(str::trim).collect();
    let edges: Vec<&&str> = lines.iter().filter(|l| l.contains(" -> ")).collect();
    let nodes = lines
        .iter()
        .filter(|l| l.starts_with('n') && !l.contains(" -> "))
        .count();
    assert_eq!((nodes, edges.len()), (3, 3));
    assert!(
        edges
            .iter()
            .any(|l| l.starts_with("n0 -> n2") && l.contains("dashed"))
    );
}

#[test]
fn invalid_failure_and_snapshot_options_are_rejected() {
    let net = NetworkConfig {
        nodes: 10,
        ..NetworkConfig::default()
    };
    let run = |work: &StaticWorkload, opts: &SimOptions| {
        run_static::<Chord>(
            &net,
            work,
            opts,
            ChordConfig::default(),
            RoutingMode::Iterative,
            1,
            &mut |_| {},
        )
        .map(|_| ())
        .map_err(|e| e.path)
    };
    let ok = StaticWorkload::default();
    let no_time = StaticWorkload {
        fail_fraction: 0.25,
        ..ok.clone()
    };
    assert_eq!(
        run(&no_time, &SimOptions::default()),
        Err("workload.fail_at_s".into())
    );
    let all = StaticWorkload {
        fail_fraction: 1.0,
        fail_at_s: Some(1.0),
        ..ok.clone()
    };
    assert_eq!(
        run(&all, &SimOptions::default()),
        Err("workload.fail_fraction".into())
    );
    let bad = SimOptions {
        snapshot_at_s: vec![1.0, f64::NAN],
        ..SimOptions::default()
    };
    assert_eq!(run(&ok, &bad), Err("sim.snapshot_at_s[1]".into()));
}

/// A static Kademlia overlay: buckets only, and every node reachable.
#[test]
fn kademlia_snapshot_leaves_out_replacement_caches() {
    let net = NetworkConfig {
        nodes: 300,
        ..NetworkConfig::default()
    };
    let work = StaticWorkload {
        lookups: 50,
        puts: 0,
        lookup_window_s: 30.0,
        ..StaticWorkload::default()
    };
    let opts = SimOptions {
        snapshot_at_s: vec![200.0],
        snapshot_graphs: true,
        ..SimOptions::default()
    };
    let plain = run_static::<Kademlia>(
        &net,
        &work,
        &SimOptions::default(),
        KademliaConfig::default(),
        KademliaConfig::DEFAULT_ROUTING,
        2,
        &mut |_| {},
    )
    .unwrap();
    let out = run_static::<Kademlia>(
        &net,
        &work,
        &opts,
        KademliaConfig::default(),
        KademliaConfig::DEFAULT_ROUTING,
        2,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        out.trace_hash, plain.trace_hash,
        "snapshots do not change the run"
    );
    let (s, g) = (&out.snapshots[0], &out.graphs[0]);
    let buckets: usize = (0..300)
        .map(|i| {
            g.routes(i)
                .iter()
                .filter(|e| matches!(e.role, RouteRole::Bucket(_)))
                .count()
        })
        .sum();
    println!(
        "kademlia N=300 at {} s: {} entries, {} SCCs, mean path {:?}, diameter {:?}",
        s.time_s, s.entries, s.scc_count, s.mean_path_length, s.diameter
    );
    assert_eq!(s.entries, buckets as u64);
    assert_eq!(s.dead_entries, 0);
    assert_eq!(s.scc_count, 1);
}

/// A ring's ids, by node, gathered from the contacts in its routing state.
fn ids_from_routes(g: &OverlayGraph, n: u32) -> BTreeMap<u32, NodeId> {
    let mut ids = BTreeMap::new();
    for i in 0..n {
        for e in g.routes(i) {
            if let Some(j) = index_of(e.contact.addr, n) {
                ids.insert(j, e.contact.id);
            }
        }
    }
    ids
}

#[test]
fn chord_4096_is_one_component_and_repairs_after_a_quarter_fails() {
    let n = 4096u32;
    let net = NetworkConfig {
        nodes: n,
        ..NetworkConfig::default()
    };
    let join_window_s = 60.0 * n as f64 / 1024.0;
    let settled = join_window_s + 300.0;
    let fail_at = settled + 30.0;
    let after = fail_at + 900.0;
    let work = StaticWorkload {
        join_window_s,
        settle_s: 300.0,
        lookups: 0,
        puts: 0,
        fail_fraction: 0.25,
        fail_at_s: Some(fail_at),
        ..StaticWorkload::default()
    };
    let opts = SimOptions {
        snapshot_at_s: vec![settled, fail_at, after],
        snapshot_graphs: true,
        ..SimOptions::default()
    };
    let out = run_static::<Chord>(
        &net,
        &work,
        &opts,
        ChordConfig::default(),
        RoutingMode::Iterative,
        1,
        &mut |_| {},
    )
    .expect("valid config");
    assert_eq!(out.joined, n);
    assert_eq!(out.snapshots.len(), 3);

    // The settled ring: one strongly connected component, no dead entries.
    let s = &out.snapshots[0];
    println!(
        "chord N={n} at {:.0} s: {} SCC(s) (largest {}), {} entries, {} dead, {} edges, \
         mean in-degree {:.2}, mean path {:.3}, diameter {:?}",
        s.time_s,
        s.scc_count,
        s.scc_sizes[0],
        s.entries,
        s.dead_entries,
        s.edges,
        s.mean_in_degree,
        s.mean_path_length.unwrap_or(f64::NAN),
        s.diameter
    );
    assert_eq!(s.live_nodes, n);
    assert_eq!(s.scc_count, 1);
    assert_eq!(s.dead_entries, 0);
    assert!(!s.bfs_sampled && s.bfs_sources == n);
    assert_eq!(s.reachable_pair_share, 1.0);

    // Right after the failure: the share of entries naming failed nodes,
    // counted by brute force from the live nodes' routes.
    let r = out.repair.as_ref().expect("repair report");
    assert_eq!(r.failed.len(), 1024);
    let failed: BTreeSet<u32> = r.failed.iter().copied().collect();
    let g = &out.graphs[1];
    let (mut entries, mut dead) = (0u64, 0u64);
    for i in (0..n).filter(|i| !failed.contains(i)) {
        for e in g.routes(i) {
            if matches!(e.role, RouteRole::Replacement(_)) {
                continue;
            }
            entries += 1;
            let j = index_of(e.contact.addr, n).expect("a simulated node");
            dead += failed.contains(&j) as u64;
        }
    }
    let brute_share = dead as f64 / entries as f64;
    let a = &r.after_failure;
    println!(
        "after 25% failed at {:.0} s: dead-entry share {:.4} (brute force {:.4} = {dead}/{entries}); \
         {} SCC(s), largest {}",
        r.fail_at_s, a.dead_entry_share, brute_share, a.scc_count, a.scc_sizes[0]
    );
    assert_eq!(a.live_nodes, n - 1024);
    assert_eq!((a.entries, a.dead_entries), (entries, dead));
    assert_eq!(out.snapshots[1].dead_entry_share, brute_share);
    assert!(
        (brute_share - 0.25).abs() < 0.03,
        "about a quarter of the entries name failed nodes: {brute_share}"
    );

    // The repair: finite, and every successor pointer right afterwards.
    let dead_repair = r
        .dead_share_repair_s
        .expect("dead-entry share falls below 1%");
    let succ_repair = r.successors_repair_s.expect("successor pointers repaired");
    let last = r.samples.last().expect("samples");
    println!(
        "repair: dead-entry share < {:.0}% after {dead_repair:.0} s, all successors correct after \
         {succ_repair:.0} s (stabilize 20 s); {} samples every {} s",
        r.threshold * 100.0,
        r.samples.len(),
        work.repair_sample_s,
    );
    for s in r.samples.iter().step_by(6) {
        println!(
            "  t+{:>4.0} s: dead share {:.4}, wrong successors {:?}",
            s.time_s - r.fail_at_s,
            s.dead_entry_share,
            s.wrong_successors
        );
    }
    assert!(dead_repair < 900.0 && succ_repair < 900.0);
    assert_eq!(last.wrong_successors, Some(0));

    // Independently, on the snapshot at +900 s: each live node's first
    // successor is the next live id on the ring (ids gathered from routes).
    let ids = ids_from_routes(&out.graphs[0], n);
    assert_eq!(ids.len(), n as usize, "every node is named by some node");
    let end = &out.graphs[2];
    let mut ring: Vec<(NodeId, u32)> = (0..n)
        .filter(|i| end.is_up(*i))
        .map(|i| (ids[&i], i))
        .collect();
    ring.sort_unstable();
    assert_eq!(ring.len(), (n - 1024) as usize);
    for (k, &(_, i)) in ring.iter().enumerate() {
        let truth = ring[(k + 1) % ring.len()].1;
        let succ = end
            .routes(i)
            .iter()
            .find(|e| e.role == RouteRole::Successor(0))
            .and_then(|e| index_of(e.contact.addr, n));
        assert_eq!(succ, Some(truth), "node {i}'s successor");
    }
    let z = &out.snapshots[2];
    println!(
        "at +900 s: dead-entry share {:.4}, {} SCC(s), mean path {:.3}, diameter {:?}",
        z.dead_entry_share,
        z.scc_count,
        z.mean_path_length.unwrap_or(f64::NAN),
        z.diameter
    );
    assert_eq!(z.scc_count, 1);
}

/// Snapshots in a churn run, around a mass failure from the churn model.
#[test]
fn churn_snapshots_see_a_mass_failure() {
    let churn: ChurnSpec = toml::from_str(
        r#"
        nodes = 200
        model = { kind = "p2psim" }
        warmup_s = 36000.0
        transition_s = 1200.0
        measurement_s = 1200.0

        [[mass_failures]]
        at_s = 1800.0
        fraction = 0.25
        "#,
    )
    .expect("churn spec");
    let work: WorkloadSpec =
        toml::from_str("lookups = { rate_per_s = 0.0016666666666666668 }").expect("workload");
    let opts = SimOptions {
        snapshot_at_s: vec![1799.0, 1800.0],
        ..SimOptions::default()
    };
    let out = run_churn::<Kademlia>(
        &NetworkConfig::default(),
        &churn,
        &work,
        &opts,
        KademliaConfig::default(),
        KademliaConfig::DEFAULT_ROUTING,
        4,
        &mut |_| {},
    )
    .expect("valid run");
    let (b, a) = (&out.snapshots[0], &out.snapshots[1]);
    println!(
        "churn N=200 (kademlia): before the mass failure {} live, dead share {:.4}; \
         after {} live, dead share {:.4}",
        b.live_nodes, b.dead_entry_share, a.live_nodes, a.dead_entry_share
    );
    assert!(a.live_nodes < b.live_nodes);
    assert!(a.dead_entry_share > b.dead_entry_share + 0.1);
}
