//! Overlay-graph analysis: the directed graph of routing-table edges.
//!
//! Every live node's routing state ([`Protocol::routes`]: Kademlia buckets,
//! Chord successors, fingers and predecessor; Kademlia replacement caches are
//! left out, since lookups never use them) becomes a set of directed edges
//! from the node to the nodes it names. Addresses map back to nodes with
//! [`index_of`]. An entry that names a node that is down (or no simulated
//! node at all) is a *dead entry*.
//!
//! [`OverlayGraph`] holds one such graph as a [`petgraph`] graph over all
//! nodes (live and down), with parallel entries for the same pair merged into
//! one edge that lists their roles. [`OverlayGraph::analyze`] computes a
//! [`GraphSnapshot`]: the in-degree distribution, the strongly connected
//! components, mean shortest-path length and diameter (all over live nodes
//! and the edges between them), and the share of dead entries.
//! [`OverlayGraph::write_graphml`] and [`OverlayGraph::write_dot`] export the
//! graph for other tools.

use crate::engine::Sim;
use crate::network::index_of;
use crate::oracle::Oracle;
use peerlab_core::protocol::{Protocol, RouteEntry, RouteRole};
use peerlab_core::rng::{NodeRng, derive_seed};
use petgraph::graph::{DiGraph, NodeIndex};
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{self, Write};

/// A node of the overlay graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverlayNode {
    /// The simulator's node index (also the graph's node index).
    pub index: u32,
    /// Whether the node was up when the graph was taken.
    pub up: bool,
}

/// An edge of the overlay graph: one node names another in its routing state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayEdge {
    /// The roles under which the source lists the target (for example a
    /// Chord successor that is also a finger), in the order the source
    /// reported them. Empty for graphs built from bare edges.
    pub roles: Vec<RouteRole>,
}

/// How [`OverlayGraph::analyze`] computes path lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphOptions {
    /// Up to this many live nodes, breadth-first search runs from every one
    /// (O(N·E)); above it, from a sample of `sampled_sources`.
    pub exact_limit: u32,
    /// Sources sampled (without replacement) above `exact_limit`.
    pub sampled_sources: u32,
    /// Seed of the source sample.
    pub seed: u64,
}

impl Default for GraphOptions {
    fn default() -> Self {
        GraphOptions {
            exact_limit: 5_000,
            sampled_sources: 1_000,
            seed: 0,
        }
    }
}

/// The metrics of one overlay graph at one simulated time.
///
/// Degree, component and path metrics cover live nodes and the distinct
/// edges between them; entry counts cover every routing entry of live nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphSnapshot {
    /// Simulated time of the snapshot, in seconds.
    pub time_s: f64,
    /// All nodes of the run, live or not.
    pub nodes: u32,
    /// Nodes that were up.
    pub live_nodes: u32,
    /// Routing entries held by live nodes (replacement caches excluded).
    pub entries: u64,
    /// Of those, entries naming a node that is down or unknown.
    pub dead_entries: u64,
    /// `dead_entries / entries` (0 when there are no entries).
    pub dead_entry_share: f64,
    /// Distinct directed edges between two different live nodes.
    pub edges: u64,
    /// `in_degree_histogram[d]` = live nodes named by exactly `d` other live
    /// nodes.
    pub in_degree_histogram: Vec<u32>,
    /// Mean in-degree of live nodes.
    pub mean_in_degree: f64,
    /// Largest in-degree of a live node.
    pub max_in_degree: u32,
    /// Strongly connected components of the live graph.
    pub scc_count: u32,
    /// Their sizes, largest first.
    pub scc_sizes: Vec<u32>,
    /// Mean hop count over ordered pairs (s, t), s ≠ t, with t reachable
    /// from s, for the BFS sources used; `None` if no such pair exists.
    pub mean_path_length: Option<f64>,
    /// Longest shortest path among those pairs (a lower bound on the true
    /// diameter when sources were sampled); `None` if no such pair exists.
    pub diameter: Option<u32>,
    /// Share of ordered pairs (source, other live node) that are reachable.
    pub reachable_pair_share: f64,
    /// Breadth-first searches run.
    pub bfs_sources: u32,
    /// Whether the sources were a random sample rather than every live node.
    pub bfs_sampled: bool,
}

/// The directed graph of routing-table edges at one simulated time.
#[derive(Clone, Debug)]
pub struct OverlayGraph {
    time_s: f64,
    routes: Vec<Vec<RouteEntry>>,
    graph: DiGraph<OverlayNode, OverlayEdge>,
    entries: u64,
    dead_entries: u64,
}

impl OverlayGraph {
    /// The overlay graph of a running simulation at its current time.
    pub fn from_sim<P: Protocol>(sim: &Sim<P>) -> Self {
        let n = sim.len();
        let up: Vec<bool> = (0..n).map(|i| sim.is_up(i)).collect();
        let routes = (0..n)
            .map(|i| {
                if up[i as usize] {
                    sim.node(i).routes()
                } else {
                    Vec::new()
                }
            })
            .collect();
        Self::from_routes(sim.now().as_secs_f64(), up, routes)
    }

    /// The overlay graph of nodes `0..up.len()`: `routes[i]` is node `i`'s
    /// routing state (ignored when the node is down), `up[i]` its liveness.
    /// Contacts map to nodes with [`index_of`]; replacement-cache entries and
    /// entries naming the node itself add no edge (the latter still count as
    /// live entries).
    pub fn from_routes(time_s: f64, up: Vec<bool>, mut routes: Vec<Vec<RouteEntry>>) -> Self {
        let n = up.len() as u32;
        routes.resize(up.len(), Vec::new());
        for (i, r) in routes.iter_mut().enumerate() {
            if !up[i] {
                r.clear();
            }
        }
        let mut b = Builder::new(time_s, &up);
        for (i, r) in routes.iter().enumerate() {
            b.node(
                i as u32,
                routing_targets(r, n).map(|(t, e)| (t, Some(e.role))),
            );
        }
        b.finish(routes)
    }

    /// A graph from bare edges `(from, to)` among nodes `0..up.len()`, for
    /// tests and hand-made topologies. Each edge counts as one entry; edges
    /// out of down nodes are ignored, and `to` beyond the node count is a
    /// dead entry.
    pub fn from_edges(time_s: f64, up: Vec<bool>, edges: &[(u32, u32)]) -> Self {
        let n = up.len() as u32;
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); up.len()];
        for &(a, t) in edges {
            if let Some(v) = out.get_mut(a as usize) {
                v.push(t);
            }
        }
        let mut b = Builder::new(time_s, &up);
        for (i, v) in out.iter().enumerate() {
            b.node(i as u32, v.iter().map(|&t| ((t < n).then_some(t), None)));
        }
        b.finish(vec![Vec::new(); up.len()])
    }

    /// Simulated time of the graph, in seconds.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// The graph: node `i` is simulator node `i`; edges include those to
    /// down nodes (the dead entries).
    pub fn graph(&self) -> &DiGraph<OverlayNode, OverlayEdge> {
        &self.graph
    }

    /// Node `i`'s routing state as it reported it (empty if it was down, or
    /// if the graph was built from bare edges).
    pub fn routes(&self, i: u32) -> &[RouteEntry] {
        self.routes.get(i as usize).map_or(&[], |r| r.as_slice())
    }

    /// Whether node `i` was up.
    pub fn is_up(&self, i: u32) -> bool {
        self.graph
            .node_weight(NodeIndex::new(i as usize))
            .is_some_and(|n| n.up)
    }

    /// Routing entries of live nodes (replacement caches excluded).
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Entries naming a node that is down or unknown.
    pub fn dead_entries(&self) -> u64 {
        self.dead_entries
    }

    /// `dead_entries / entries`, 0 when there are no entries.
    pub fn dead_entry_share(&self) -> f64 {
        share(self.dead_entries, self.entries)
    }

    /// Computes the snapshot's metrics.
    pub fn analyze(&self, opts: &GraphOptions) -> GraphSnapshot {
        let n = self.graph.node_count();
        // Live nodes, compacted: live[k] is a node, pos[node] its k.
        let live: Vec<u32> = (0..n as u32).filter(|&i| self.is_up(i)).collect();
        let mut pos = vec![u32::MAX; n];
        for (k, &i) in live.iter().enumerate() {
            pos[i as usize] = k as u32;
        }
        // The live subgraph, in compressed adjacency form, neighbours in
        // edge-insertion order.
        let mut start = Vec::with_capacity(live.len() + 1);
        let mut adj: Vec<u32> = Vec::new();
        let mut in_deg = vec![0u32; live.len()];
        for &i in &live {
            start.push(adj.len());
            let mut targets: Vec<u32> = self
                .graph
                .neighbors(NodeIndex::new(i as usize))
                .map(|t| pos[t.index()])
                .filter(|&k| k != u32::MAX)
                .collect();
            // petgraph lists neighbours newest first; restore insertion order.
            targets.reverse();
            for &k in &targets {
                in_deg[k as usize] += 1;
            }
            adj.extend(targets);
        }
        start.push(adj.len());

        let max_in_degree = in_deg.iter().copied().max().unwrap_or(0);
        let mut in_degree_histogram = vec![0u32; max_in_degree as usize + 1];
        for &d in &in_deg {
            in_degree_histogram[d as usize] += 1;
        }
        if live.is_empty() {
            in_degree_histogram.clear();
        }

        // Strongly connected components, with petgraph.
        let mut live_graph: DiGraph<(), ()> = DiGraph::with_capacity(live.len(), adj.len());
        for _ in &live {
            live_graph.add_node(());
        }
        for k in 0..live.len() {
            for &t in &adj[start[k]..start[k + 1]] {
                live_graph.add_edge(NodeIndex::new(k), NodeIndex::new(t as usize), ());
            }
        }
        let mut scc_sizes: Vec<u32> = petgraph::algo::tarjan_scc(&live_graph)
            .iter()
            .map(|c| c.len() as u32)
            .collect();
        scc_sizes.sort_unstable_by(|a, b| b.cmp(a));

        // Breadth-first search from every live node, or from a sample.
        let sampled = live.len() > opts.exact_limit as usize;
        let sources: Vec<u32> = if sampled {
            sample_sources(live.len() as u32, opts.sampled_sources, opts.seed)
        } else {
            (0..live.len() as u32).collect()
        };
        let mut dist = vec![u32::MAX; live.len()];
        let mut queue = VecDeque::with_capacity(live.len());
        let (mut sum, mut pairs, mut diameter) = (0u64, 0u64, 0u32);
        for &s in &sources {
            dist.fill(u32::MAX);
            dist[s as usize] = 0;
            queue.push_back(s);
            while let Some(u) = queue.pop_front() {
                let d = dist[u as usize] + 1;
                for &v in &adj[start[u as usize]..start[u as usize + 1]] {
                    if dist[v as usize] == u32::MAX {
                        dist[v as usize] = d;
                        sum += d as u64;
                        pairs += 1;
                        diameter = diameter.max(d);
                        queue.push_back(v);
                    }
                }
            }
        }
        let possible = sources.len() as u64 * (live.len() as u64).saturating_sub(1);

        GraphSnapshot {
            time_s: self.time_s,
            nodes: n as u32,
            live_nodes: live.len() as u32,
            entries: self.entries,
            dead_entries: self.dead_entries,
            dead_entry_share: self.dead_entry_share(),
            edges: adj.len() as u64,
            mean_in_degree: if live.is_empty() {
                0.0
            } else {
                adj.len() as f64 / live.len() as f64
            },
            in_degree_histogram,
            max_in_degree,
            scc_count: scc_sizes.len() as u32,
            scc_sizes,
            mean_path_length: (pairs > 0).then(|| sum as f64 / pairs as f64),
            diameter: (pairs > 0).then_some(diameter),
            reachable_pair_share: if possible == 0 {
                1.0
            } else {
                pairs as f64 / possible as f64
            },
            bfs_sources: sources.len() as u32,
            bfs_sampled: sampled,
        }
    }

    /// Writes the graph as GraphML: one node per simulator node (`n<i>`,
    /// with its liveness), one edge per distinct (source, target) pair, with
    /// its roles and whether the target is down.
    pub fn write_graphml(&self, w: &mut impl Write) -> io::Result<()> {
        writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            w,
            r#"<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">"#
        )?;
        writeln!(
            w,
            r#"  <key id="time_s" for="graph" attr.name="time_s" attr.type="double"/>"#
        )?;
        writeln!(
            w,
            r#"  <key id="up" for="node" attr.name="up" attr.type="boolean"/>"#
        )?;
        writeln!(
            w,
            r#"  <key id="roles" for="edge" attr.name="roles" attr.type="string"/>"#
        )?;
        writeln!(
            w,
            r#"  <key id="dead" for="edge" attr.name="dead" attr.type="boolean"/>"#
        )?;
        writeln!(w, r#"  <graph id="overlay" edgedefault="directed">"#)?;
        writeln!(w, r#"    <data key="time_s">{}</data>"#, self.time_s)?;
        for n in self.graph.node_weights() {
            writeln!(
                w,
                r#"    <node id="n{}"><data key="up">{}</data></node>"#,
                n.index, n.up
            )?;
        }
        for (k, e) in self.graph.raw_edges().iter().enumerate() {
            let (s, t) = (e.source().index(), e.target().index());
            writeln!(
                w,
                r#"    <edge id="e{k}" source="n{s}" target="n{t}"><data key="roles">{}</data><data key="dead">{}</data></edge>"#,
                roles_label(&e.weight.roles),
                !self.graph[e.target()].up
            )?;
        }
        writeln!(w, "  </graph>")?;
        writeln!(w, "</graphml>")
    }

    /// Writes the graph in Graphviz DOT: down nodes dashed and grey, edges
    /// to them (dead entries) dashed, each edge labelled with its roles.
    pub fn write_dot(&self, w: &mut impl Write) -> io::Result<()> {
        writeln!(w, "digraph overlay {{")?;
        writeln!(w, "  // simulated time {} s", self.time_s)?;
        for n in self.graph.node_weights() {
            if n.up {
                writeln!(w, "  n{};", n.index)?;
            } else {
                writeln!(w, "  n{} [style=dashed, color=grey];", n.index)?;
            }
        }
        for e in self.graph.raw_edges() {
            let (s, t) = (e.source().index(), e.target().index());
            let dead = if self.graph[e.target()].up {
                ""
            } else {
                ", style=dashed"
            };
            writeln!(
                w,
                "  n{s} -> n{t} [label=\"{}\"{dead}];",
                roles_label(&e.weight.roles)
            )?;
        }
        writeln!(w, "}}")
    }
}

/// Collects edges node by node, merging parallel entries.
struct Builder<'a> {
    time_s: f64,
    up: &'a [bool],
    graph: DiGraph<OverlayNode, OverlayEdge>,
    entries: u64,
    dead_entries: u64,
    /// Per target, the edge from the current source, if any (reset per source).
    slot: Vec<u32>,
    touched: Vec<u32>,
}

impl<'a> Builder<'a> {
    fn new(time_s: f64, up: &'a [bool]) -> Self {
        let mut graph = DiGraph::with_capacity(up.len(), 0);
        for (i, &u) in up.iter().enumerate() {
            graph.add_node(OverlayNode {
                index: i as u32,
                up: u,
            });
        }
        Builder {
            time_s,
            up,
            graph,
            entries: 0,
            dead_entries: 0,
            slot: vec![u32::MAX; up.len()],
            touched: Vec::new(),
        }
    }

    /// Adds node `i`'s entries: each names a node (or none) under a role.
    fn node(&mut self, i: u32, entries: impl Iterator<Item = (Option<u32>, Option<RouteRole>)>) {
        if !self.up[i as usize] {
            return;
        }
        for (target, role) in entries {
            self.entries += 1;
            let Some(t) = target else {
                self.dead_entries += 1;
                continue;
            };
            if !self.up[t as usize] {
                self.dead_entries += 1;
            }
            if t == i {
                continue;
            }
            let e = match self.slot[t as usize] {
                u32::MAX => {
                    let e = self.graph.add_edge(
                        NodeIndex::new(i as usize),
                        NodeIndex::new(t as usize),
                        OverlayEdge { roles: Vec::new() },
                    );
                    self.slot[t as usize] = e.index() as u32;
                    self.touched.push(t);
                    e
                }
                e => petgraph::graph::EdgeIndex::new(e as usize),
            };
            if let Some(r) = role {
                self.graph[e].roles.push(r);
            }
        }
        for t in self.touched.drain(..) {
            self.slot[t as usize] = u32::MAX;
        }
    }

    fn finish(self, routes: Vec<Vec<RouteEntry>>) -> OverlayGraph {
        OverlayGraph {
            time_s: self.time_s,
            routes,
            graph: self.graph,
            entries: self.entries,
            dead_entries: self.dead_entries,
        }
    }
}

/// The entries of one node's routing state that count as routing entries
/// (replacement caches left out), each with the node it names, if any
/// ([`index_of`] among `n` nodes).
fn routing_targets(
    routes: &[RouteEntry],
    n: u32,
) -> impl Iterator<Item = (Option<u32>, &RouteEntry)> {
    routes
        .iter()
        .filter(|e| !matches!(e.role, RouteRole::Replacement(_)))
        .map(move |e| (index_of(e.contact.addr, n), e))
}

/// Whether live node `i`, with routing state `routes`, has a first
/// successor other than its true successor: the next node after it on the
/// ring for which `live` holds, per the brute-force `oracle` (itself when it
/// is alone).
pub(crate) fn successor_is_wrong(
    i: u32,
    routes: &[RouteEntry],
    n: u32,
    oracle: &Oracle,
    mut live: impl FnMut(u32) -> bool,
) -> bool {
    let truth = oracle
        .successors(&oracle.id(i), 2, &mut live)
        .into_iter()
        .find(|&j| j != i)
        .unwrap_or(i);
    let succ = routes
        .iter()
        .find(|e| e.role == RouteRole::Successor(0))
        .and_then(|e| index_of(e.contact.addr, n));
    succ != Some(truth)
}

/// The health of a running simulation's routing state, counted the way
/// [`OverlayGraph`] counts it, in one pass over every live node's routing
/// state and without building the graph: O(nodes + routing entries) time,
/// O(largest routing table) extra memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoutingHealth {
    /// Nodes that were up.
    pub live_nodes: u32,
    /// Routing entries of live nodes (replacement caches excluded).
    pub entries: u64,
    /// Of those, entries naming a node that is down or unknown.
    pub dead_entries: u64,
    /// Ring DHTs: the ring's members (see [`RoutingHealth::measure`]).
    pub ring_members: u32,
    /// Ring DHTs: members whose first successor is not their true
    /// successor among the members.
    pub wrong_successors: u32,
}

impl RoutingHealth {
    /// Counts the routing state of `sim`'s live nodes now. With `ring`
    /// (the ring oracle and who is a ring member), also checks every
    /// member's first successor against the oracle
    /// ([`successor_is_wrong`]).
    pub fn measure<P: Protocol>(
        sim: &Sim<P>,
        ring: Option<(&Oracle, &dyn Fn(u32) -> bool)>,
    ) -> Self {
        let n = sim.len();
        let mut h = RoutingHealth::default();
        for i in (0..n).filter(|&i| sim.is_up(i)) {
            h.live_nodes += 1;
            let routes = sim.node(i).routes();
            for (t, _) in routing_targets(&routes, n) {
                h.entries += 1;
                if !t.is_some_and(|t| sim.is_up(t)) {
                    h.dead_entries += 1;
                }
            }
            if let Some((oracle, member)) = ring
                && member(i)
            {
                h.ring_members += 1;
                if successor_is_wrong(i, &routes, n, oracle, member) {
                    h.wrong_successors += 1;
                }
            }
        }
        h
    }

    /// `dead_entries / entries`, 0 when there are no entries.
    pub fn dead_entry_share(&self) -> f64 {
        share(self.dead_entries, self.entries)
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn roles_label(roles: &[RouteRole]) -> String {
    let v: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    v.join(", ")
}

/// `k` distinct values of `0..n` (all of them if `k >= n`), drawn with a
/// partial Fisher-Yates shuffle from a stream derived from `seed`, ascending.
fn sample_sources(n: u32, k: u32, seed: u64) -> Vec<u32> {
    let mut rng = NodeRng::seed_from_u64(derive_seed(seed, "graph-bfs-sources", 0));
    let mut all: Vec<u32> = (0..n).collect();
    let k = k.min(n) as usize;
    for j in 0..k {
        let r = rng.random_range(j..n as usize);
        all.swap(j, r);
    }
    all.truncate(k);
    all.sort_unstable();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_seeded_and_bounded() {
        let a = sample_sources(100, 10, 7);
        assert_eq!(a, sample_sources(100, 10, 7));
        assert_ne!(a, sample_sources(100, 10, 8));
        let mut d = a.clone();
        d.dedup();
        assert_eq!(d.len(), 10);
        assert!(a.iter().all(|&x| x < 100));
        assert_eq!(sample_sources(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn parallel_entries_merge_and_self_entries_add_no_edge() {
        let g = OverlayGraph::from_edges(
            0.0,
            vec![true, true, false],
            &[(0, 1), (0, 1), (0, 0), (0, 2), (2, 0)],
        );
        assert_eq!(g.entries(), 4, "node 2 is down: its entry does not count");
        assert_eq!(g.dead_entries(), 1);
        assert_eq!(g.graph().edge_count(), 2);
        let s = g.analyze(&GraphOptions::default());
        assert_eq!(s.edges, 1);
        assert_eq!(s.live_nodes, 2);
        assert_eq!(s.scc_count, 2);
    }
}
