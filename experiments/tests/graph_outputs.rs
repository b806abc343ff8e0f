//! The overlay-graph, repair and traffic-by-class outputs of `peerlab run`,
//! on a small version of the bundled `chord_failure.toml` (256 nodes),
//! checked against what can be recomputed independently: strong
//! connectivity by breadth-first search over the exported GraphML, the
//! dead-entry share by counting the exported entries that name failed nodes,
//! the failed count from the failure fraction, in-degrees against edge
//! counts, and node-seconds against the join and failure schedule.

mod common;
use common::{run_ok, write_spec};
use polars::prelude::{DataFrame, ParquetReader, SerReader};
use std::collections::VecDeque;
use std::path::Path;

const N: usize = 256;
const FAIL_AT: f64 = 300.0;
const JOIN_WINDOW: f64 = 30.0;

fn small_spec() -> String {
    let bundled = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/specs/chord_failure.toml"
    ))
    .unwrap();
    let mut s = bundled;
    for (from, to) in [
        ("nodes = 4096", "nodes = 256"),
        ("join_window_s = 300.0", "join_window_s = 30.0"),
        ("settle_s = 600.0", "settle_s = 120.0"),
        ("lookups = 2000", "lookups = 200"),
        ("lookup_window_s = 300.0", "lookup_window_s = 60.0"),
        ("fail_at_s = 1500.0", "fail_at_s = 300.0"),
        ("repair_max_s = 1800.0", "repair_max_s = 900.0"),
        ("at_s = [1499.0, 1500.0]", "at_s = [299.0, 300.0]"),
    ] {
        assert!(s.contains(from), "the bundled spec has {from}");
        s = s.replace(from, to);
    }
    s
}

fn table(dir: &Path, name: &str) -> DataFrame {
    let f = std::fs::File::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    ParquetReader::new(f).finish().unwrap()
}

fn f64s(df: &DataFrame, col: &str) -> Vec<Option<f64>> {
    let c = df.column(col).unwrap().f64().unwrap().clone();
    (0..c.len()).map(|i| c.get(i)).collect()
}

fn u32s(df: &DataFrame, col: &str) -> Vec<u32> {
    df.column(col)
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

fn strs(df: &DataFrame, col: &str) -> Vec<String> {
    let c = df.column(col).unwrap().str().unwrap().clone();
    (0..c.len())
        .map(|i| c.get(i).unwrap_or_default().to_string())
        .collect()
}

/// A graph read back from GraphML: node liveness and edges with their role
/// counts (parallel routing entries are one edge listing several roles).
struct Exported {
    up: Vec<bool>,
    edges: Vec<(usize, usize, usize)>,
}

fn attr<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = start + line[start..].find('"').unwrap();
    &line[start..end]
}

fn data<'a>(line: &'a str, key: &str) -> &'a str {
    let tag = format!("<data key=\"{key}\">");
    let start = line.find(&tag).unwrap() + tag.len();
    let end = start + line[start..].find("</data>").unwrap();
    &line[start..end]
}

fn read_graphml(path: &Path) -> Exported {
    let text = std::fs::read_to_string(path).unwrap();
    let mut up = Vec::new();
    let mut edges = Vec::new();
    let index = |s: &str| s.trim_start_matches('n').parse::<usize>().unwrap();
    for line in text.lines().map(str::trim) {
        if line.starts_with("<node ") {
            assert_eq!(index(attr(line, "id")), up.len(), "nodes in order");
            up.push(data(line, "up") == "true");
        } else if line.starts_with("<edge ") {
            let roles = data(line, "roles").split(", ").count();
            edges.push((
                index(attr(line, "source")),
                index(attr(line, "target")),
                roles,
            ));
        }
    }
    Exported { up, edges }
}

/// Nodes reachable from `start` over edges between live nodes.
fn reach(g: &Exported, start: usize, reverse: bool) -> usize {
    let mut seen = vec![false; g.up.len()];
    seen[start] = true;
    let mut q = VecDeque::from([start]);
    let mut count = 1;
    while let Some(u) = q.pop_front() {
        for &(a, b, _) in &g.edges {
            let (from, to) = if reverse { (b, a) } else { (a, b) };
            if from == u && g.up[to] && g.up[from] && !seen[to] {
                seen[to] = true;
                count += 1;
                q.push_back(to);
            }
        }
    }
    count
}

#[test]
fn a_small_chord_failure_run_writes_graph_repair_and_class_tables() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "chord_failure_small.toml", &small_spec());
    let out = dir.path().join("out");
    let stdout = run_ok(&spec, &out);
    assert!(
        stdout.contains("  graph        t = 299 s: 256 live nodes, 1 SCC"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  repair       64 nodes failed at 300 s"),
        "{stdout}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    for f in manifest["files"].as_array().unwrap() {
        assert!(out.join(f.as_str().unwrap()).is_file(), "{f} missing");
    }
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in [
        "graph_metrics.parquet",
        "in_degree.parquet",
        "repair.parquet",
        "repair_samples.parquet",
        "traffic_by_class.parquet",
        "graphs/chord_t299s.graphml",
        "graphs/chord_t299s.dot",
        "graphs/chord_t300s.graphml",
        "graphs/chord_t300s.dot",
    ] {
        assert!(files.contains(&f), "{f} not in {files:?}");
    }

    // Before the failure: one strongly connected component, checked by BFS
    // both ways over the exported graph.
    let before = read_graphml(&out.join("graphs/chord_t299s.graphml"));
    assert_eq!(before.up.len(), N);
    assert!(before.up.iter().all(|&u| u));
    assert_eq!(
        reach(&before, 0, false),
        N,
        "every node reachable from node 0"
    );
    assert_eq!(
        reach(&before, 0, true),
        N,
        "node 0 reachable from every node"
    );
    let g = table(&out, "graph_metrics.parquet");
    let kinds = strs(&g, "kind");
    let times = f64s(&g, "time_s");
    assert_eq!(
        kinds,
        ["snapshot", "after_failure", "snapshot"],
        "{times:?}"
    );
    assert_eq!(times, [Some(299.0), Some(300.0), Some(300.0)]);
    assert_eq!(u32s(&g, "scc_count")[0], 1);
    assert_eq!(f64s(&g, "largest_scc_share")[0], Some(1.0));
    assert_eq!(f64s(&g, "dead_entry_share")[0], Some(0.0));
    assert_eq!(u32s(&g, "live_nodes")[0] as usize, N);

    // The in-degree distribution: one count per live node, and in-degrees
    // sum to the edges between live nodes.
    let edges: Vec<u64> = g
        .column("edges")
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let live_edges = before.edges.iter().filter(|(a, b, _)| a != b).count() as u64;
    assert_eq!(edges[0], live_edges, "edges of the exported graph");
    let d = table(&out, "in_degree.parquet");
    let (d_time, d_deg, d_nodes) = (f64s(&d, "time_s"), u32s(&d, "in_degree"), u32s(&d, "nodes"));
    let at = |t: f64| (0..d.height()).filter(move |&i| d_time[i] == Some(t));
    let first: Vec<usize> = at(299.0).collect();
    let nodes: u32 = first.iter().map(|&i| d_nodes[i]).sum();
    let sum: u64 = first
        .iter()
        .map(|&i| d_deg[i] as u64 * d_nodes[i] as u64)
        .sum();
    assert_eq!(nodes as usize, N);
    assert_eq!(sum, edges[0]);
    let mean = f64s(&g, "in_degree_mean")[0].unwrap();
    assert!((mean - edges[0] as f64 / N as f64).abs() < 1e-9);

    // Right after the failure: a quarter of the nodes are down, and the
    // dead-entry share is what counting the exported entries gives.
    let after = read_graphml(&out.join("graphs/chord_t300s.graphml"));
    let failed = after.up.iter().filter(|&&u| !u).count();
    assert_eq!(failed, (0.25 * N as f64).round() as usize);
    let (mut entries, mut dead) = (0usize, 0usize);
    for &(a, b, roles) in &after.edges {
        if after.up[a] {
            entries += roles;
            if !after.up[b] {
                dead += roles;
            }
        }
    }
    let share = dead as f64 / entries as f64;
    let r = table(&out, "repair.parquet");
    assert_eq!(r.height(), 1);
    assert_eq!(u32s(&r, "failed_nodes"), [failed as u32]);
    assert_eq!(u32s(&r, "live_nodes_after"), [(N - failed) as u32]);
    let reported = f64s(&r, "dead_entry_share_after")[0].unwrap();
    assert!((reported - share).abs() < 1e-12, "{reported} vs {share}");
    assert_eq!(f64s(&g, "dead_entry_share")[1], Some(reported));
    assert!(
        (share - 0.25).abs() < 0.05,
        "entries name failed nodes about as often as nodes fail: {share}"
    );
    println!(
        "N = {N}: {failed} failed, {dead} of {entries} entries dead ({:.2}%)",
        100.0 * share
    );

    // Repair: both times are reported, and the samples end below the threshold.
    let dead_repair = f64s(&r, "dead_share_repair_s")[0].expect("dead entries repaired");
    let succ_repair = f64s(&r, "successors_repair_s")[0].expect("successors repaired");
    println!("repair: successors after {succ_repair} s, dead entries < 1% after {dead_repair} s");
    assert!(dead_repair > 0.0 && dead_repair <= 900.0);
    assert!(succ_repair > 0.0 && succ_repair <= 900.0);
    let s = table(&out, "repair_samples.parquet");
    let shares: Vec<f64> = f64s(&s, "dead_entry_share").into_iter().flatten().collect();
    assert_eq!(shares.first(), Some(&reported));
    assert!(*shares.last().unwrap() < 0.01);
    let since = f64s(&s, "since_failure_s");
    assert_eq!(since.last().unwrap().unwrap(), dead_repair.max(succ_repair));

    // Traffic by class: the whole run, per joined node-second.
    let t = table(&out, "traffic_by_class.parquet");
    assert_eq!(t.height(), 5, "five classes, one scope in a static run");
    assert!(strs(&t, "scope").iter().all(|s| s == "run"));
    assert_eq!(
        strs(&t, "class"),
        [
            "lookup",
            "store",
            "join",
            "routing_maintenance",
            "data_maintenance"
        ]
    );
    let bytes: Vec<u64> = t
        .column("bytes")
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert!(bytes[0] > 0 && bytes[2] > 0 && bytes[3] > 0, "{bytes:?}");
    assert_eq!(bytes[1], 0, "no puts, no store traffic");
    // Node-seconds: every node joins within the join window and is up until
    // the end, except the failed ones, which stop at the failure.
    let end = manifest["sim_time_s"].as_f64().unwrap();
    let node_s = f64s(&t, "node_seconds")[0].unwrap();
    let most = N as f64 * end - failed as f64 * (end - FAIL_AT);
    let least = most - N as f64 * JOIN_WINDOW;
    assert!(
        node_s > least && node_s < most,
        "{node_s} outside ({least}, {most})"
    );
    let rate = f64s(&t, "bytes_per_node_s")[3].unwrap();
    assert!((rate - bytes[3] as f64 / node_s).abs() < 1e-9);
}
