//! Scenarios: a workload planned from seeded streams, driven through the
//! engine, and judged against the brute-force [`Oracle`].
//!
//! - [`static_overlay`]: every node joins, the overlay settles, then lookups
//!   and puts run; each put is read back from another node.
//! - [`churn`]: nodes join, leave and fail as a `peerlab-churn` model says,
//!   while a workload runs; statistics come from the measurement phase.
//! - [`registrations`]: the churn scenario's registration layer: each node
//!   registers its user, refreshes, unregisters on leave, and reads others.

pub mod churn;
pub mod registrations;
pub mod static_overlay;

use crate::config::SimOptions;
use crate::dht::{DhtNode, Metric};
use crate::engine::Sim;
use crate::graph::{GraphOptions, GraphSnapshot, OverlayGraph};
use crate::oracle::Oracle;
use crate::records::{
    CallLookup, LookupRecord, MeasurementWindow, PutRecord, RegistrationRead, RepairReport,
    RunOutput,
};
use crate::series::SeriesOutput;
use peerlab_core::rng::{NodeRng, derive_seed};
use peerlab_core::{Contact, Duration, Instant, NodeId, Protocol};
use rand::SeedableRng;
use std::sync::Arc;

/// Progress of a running simulation.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Simulated time reached, in seconds.
    pub sim_time_s: f64,
    /// Simulated time at which the run ends, in seconds.
    pub end_time_s: f64,
    /// Events processed so far.
    pub events: u64,
}

/// Packs a hook kind and an index into one engine hook tag.
pub(crate) fn hook(kind: u64, index: u64) -> u64 {
    (kind << 56) | index
}

/// Splits a hook tag into its kind and index.
pub(crate) fn unhook(tag: u64) -> (u64, usize) {
    (tag >> 56, (tag & ((1 << 56) - 1)) as usize)
}

/// Judges a lookup result against the oracle: whether its first node is the
/// one responsible for the key among live nodes that take part in the DHT
/// ([`DhtNode::in_overlay`]), and what share of the
/// oracle's `n` responsible nodes it returned. `key` is the key's oracle
/// position ([`DhtNode::oracle_id`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn judge<D: DhtNode>(
    cfg: &D::Config,
    oracle: &Oracle,
    nodes: u32,
    origin: u32,
    key: &NodeId,
    n: usize,
    found: &[Contact],
    mut live: impl FnMut(u32) -> bool,
) -> (bool, f64) {
    let exclude_origin = D::METRIC == Metric::Xor;
    let truth = oracle.responsible(D::METRIC, key, n, |i| {
        !(exclude_origin && i == origin) && D::in_overlay(cfg, i) && live(i)
    });
    let found: Vec<u32> = found
        .iter()
        .filter_map(|c| D::node_of(cfg, c.addr, nodes))
        .collect();
    if truth.is_empty() {
        return (found.is_empty(), 1.0);
    }
    let hits = truth.iter().filter(|t| found.contains(t)).count();
    (
        found.first() == truth.first(),
        hits as f64 / truth.len() as f64,
    )
}

/// The overlay-graph snapshots a run was asked for, and those taken so far.
pub(crate) struct Snapshots {
    /// Requested times, ascending.
    times: Vec<Instant>,
    next: usize,
    keep_graphs: bool,
    bfs_sources: u32,
    seed: u64,
    pub(crate) taken: Vec<GraphSnapshot>,
    pub(crate) graphs: Vec<OverlayGraph>,
}

impl Snapshots {
    /// The snapshots `opts` asks for, in a run with seed `seed`.
    pub(crate) fn new(opts: &SimOptions, seed: u64) -> Self {
        let mut times: Vec<Instant> = opts
            .snapshot_at_s
            .iter()
            .map(|&s| Instant::ZERO + Duration::from_secs_f64(s))
            .collect();
        times.sort_unstable();
        Snapshots {
            times,
            next: 0,
            keep_graphs: opts.snapshot_graphs,
            bfs_sources: opts.snapshot_bfs_sources,
            seed,
            taken: Vec::new(),
            graphs: Vec::new(),
        }
    }

    /// The time of the next snapshot still to take.
    pub(crate) fn next_time(&self) -> Option<Instant> {
        self.times.get(self.next).copied()
    }

    /// The time of the latest snapshot.
    pub(crate) fn last_time(&self) -> Option<Instant> {
        self.times.last().copied()
    }

    /// Analysis options for snapshot number `k`.
    pub(crate) fn options(&self, k: usize) -> GraphOptions {
        GraphOptions {
            sampled_sources: self.bfs_sources,
            seed: derive_seed(self.seed, "graph-snapshot", k as u64),
            ..GraphOptions::default()
        }
    }

    /// Takes every snapshot due at or before the simulation's current time.
    pub(crate) fn take_due<P: Protocol>(&mut self, sim: &Sim<P>) {
        while self.next_time().is_some_and(|t| t <= sim.now()) {
            let g = OverlayGraph::from_sim(sim);
            self.taken.push(g.analyze(&self.options(self.next)));
            if self.keep_graphs {
                self.graphs.push(g);
            }
            self.next += 1;
        }
    }
}

/// The nodes of a run: ids drawn from the run's `node-ids` stream, and node
/// `i` built by [`DhtNode::build_node`] (at [`addr_of`](crate::network::addr_of)`(i)` unless the DHT
/// says otherwise) with a seed derived from (`node`, `i`).
pub(crate) fn population<D: DhtNode>(
    cfg: &Arc<D::Config>,
    n: u32,
    seed: u64,
) -> (Vec<NodeId>, Vec<D>) {
    let mut id_rng = NodeRng::seed_from_u64(derive_seed(seed, "node-ids", 0));
    let ids: Vec<NodeId> = (0..n).map(|_| NodeId::random(&mut id_rng)).collect();
    let nodes = (0..n)
        .map(|i| D::build_node(cfg, i, ids[i as usize], derive_seed(seed, "node", i as u64)))
        .collect();
    (ids, nodes)
}

/// What a scenario measured, beside the engine's own counters.
pub(crate) struct ScenarioRows {
    pub lookups: Vec<LookupRecord>,
    pub puts: Vec<PutRecord>,
    pub registrations: Vec<RegistrationRead>,
    pub call_lookups: Vec<CallLookup>,
    pub joined: u32,
    pub measurement: Option<MeasurementWindow>,
    pub snapshots: Snapshots,
    pub repair: Option<RepairReport>,
    /// Whole-run joined-node-seconds.
    pub node_seconds: f64,
    /// The time series, if asked for.
    pub series: Option<SeriesOutput>,
}

/// A simulation of `nodes`, routed through the DHT's NAT layer if it has one.
pub(crate) fn new_sim<D: DhtNode>(
    cfg: &D::Config,
    nodes: Vec<D>,
    net: crate::network::Network,
    wire_check: bool,
) -> Sim<D> {
    let n = nodes.len() as u32;
    let mut sim = Sim::new(nodes, net, wire_check);
    if let Some(layer) = D::nat_layer(cfg, n) {
        sim.set_nat(layer);
    }
    sim
}

/// Assembles a run's output from the engine's counters and the scenario's rows.
pub(crate) fn output<D: DhtNode>(sim: &Sim<D>, rows: ScenarioRows) -> RunOutput {
    RunOutput {
        lookups: rows.lookups,
        puts: rows.puts,
        registrations: rows.registrations,
        call_lookups: rows.call_lookups,
        traffic: sim.traffic().clone(),
        node_traffic: sim.node_traffic().to_vec(),
        trace_hash: sim.trace_hash(),
        events: sim.processed(),
        dropped: sim.dropped(),
        nat_drops: sim.nat_drops(),
        sim_time_s: sim.now().as_secs_f64(),
        joined: rows.joined,
        measurement: rows.measurement,
        snapshots: rows.snapshots.taken,
        graphs: rows.snapshots.graphs,
        repair: rows.repair,
        class_traffic: sim.class_traffic(),
        node_seconds: rows.node_seconds,
        series: rows.series,
    }
}
