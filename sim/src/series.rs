//! Time series of an overlay run (churn or static), sampled at fixed intervals of simulated
//! time: the population, churn, lookups and traffic of each interval and the
//! routing state's health at its end ([`SeriesRow`]), and optionally each
//! node's traffic by purpose in each interval ([`NodeTrafficRow`]).
//!
//! Samples are taken like graph snapshots: the run stops at each sample time
//! and the sample sees the state after every event at that time. Sampling
//! schedules nothing, so it does not change the run (or its trace hash).
//!
//! # Cost
//!
//! A [`SeriesRow`] sample reads every live node's routing state once
//! ([`RoutingHealth::measure`]): O(nodes + routing entries) time, no graph
//! built. A [`NodeTrafficRow`] sample reads every node's counters once: O(nodes)
//! time plus the rows it emits (only non-zero ones).
//!
//! # Memory of the per-node traffic
//!
//! Per-node counters live in the engine ([`NodeClassCounters`]): for each
//! node, six counter groups (the five [`TrafficClass`]es and `all`), each
//! with sent and received messages and bytes, as wrapping `u32` *bases*
//! from which the next sample's differences are taken: 6 × 4 × 4 = 96 bytes
//! per node (96 MB at 10^6 nodes), allocated only when node traffic is
//! asked for. A difference is exact while one node sends or receives less
//! than 2^32 messages and 4 GiB in one interval. Each emitted row takes
//! 28 bytes until the run ends.

use crate::config::{InvalidConfig, invalid};
use crate::engine::Sim;
use crate::graph::RoutingHealth;
use crate::oracle::Oracle;
use crate::records::NodeTraffic;
use peerlab_churn::{Phase, Phases};
use peerlab_core::protocol::{NodeStats, Protocol, TrafficClass};
use peerlab_core::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// `[series]`: which time series a run records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeriesOptions {
    /// Length of a sampling interval of `timeseries.parquet`, in simulated
    /// seconds (default 60).
    pub interval_s: f64,
    /// Also record `node_traffic.parquet`: each node's traffic by purpose in
    /// each interval (default false; large for big overlays).
    pub node_traffic: bool,
    /// Length of a `node_traffic.parquet` interval, in simulated seconds;
    /// unset, `interval_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_traffic_interval_s: Option<f64>,
}

impl Default for SeriesOptions {
    fn default() -> Self {
        SeriesOptions {
            interval_s: 60.0,
            node_traffic: false,
            node_traffic_interval_s: None,
        }
    }
}

/// Shortest sampling interval (the engine's clock counts microseconds).
const MIN_INTERVAL_S: f64 = 0.001;

impl SeriesOptions {
    /// Checks every field; the error names the first bad one by its spec path.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let ok = |x: f64| x.is_finite() && x >= MIN_INTERVAL_S;
        if !ok(self.interval_s) {
            return Err(invalid(
                "series.interval_s",
                self.interval_s,
                "a finite number of seconds >= 0.001",
            ));
        }
        if let Some(x) = self.node_traffic_interval_s
            && !ok(x)
        {
            return Err(invalid(
                "series.node_traffic_interval_s",
                x,
                "a finite number of seconds >= 0.001",
            ));
        }
        Ok(())
    }

    /// The interval of the per-node traffic table.
    pub fn node_interval_s(&self) -> f64 {
        self.node_traffic_interval_s.unwrap_or(self.interval_s)
    }
}

/// One sampling interval of a run, `(time_s - interval_s, time_s]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRow {
    /// End of the interval (the sample time), in seconds.
    pub time_s: f64,
    /// Length of the interval, in seconds (the last one may be shorter).
    pub interval_s: f64,
    /// The run phase at the interval's start (`init`, `transition`,
    /// `measurement`; `static` in static runs).
    pub phase: &'static str,
    /// Nodes up at the sample time (joined or still joining).
    pub online_nodes: u32,
    /// Of those, nodes whose join had finished.
    pub joined_nodes: u32,
    /// Arrivals in the interval: nodes that came up.
    pub joins: u32,
    /// Graceful departures in the interval.
    pub leaves: u32,
    /// Failures in the interval.
    pub fails: u32,
    /// Lookups that finished in the interval.
    pub lookups: u32,
    /// Of those, the successful ones.
    pub lookup_successes: u32,
    /// Sum of their latencies, in milliseconds.
    pub latency_sum_ms: f64,
    /// Bytes sent by all nodes in the interval.
    pub bytes: u64,
    /// Joined-node-seconds in the interval.
    pub node_seconds: f64,
    /// Routing state at the sample time.
    pub health: RoutingHealth,
    /// Whether the DHT has a ring whose successors were checked.
    pub ring: bool,
}

/// Counts of what happened since the last sample, kept by the scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// Nodes that came up.
    pub joins: u32,
    /// Graceful departures.
    pub leaves: u32,
    /// Failures.
    pub fails: u32,
    /// Lookups finished.
    pub lookups: u32,
    /// Of those, successful.
    pub lookup_successes: u32,
    /// Their latencies, summed, in milliseconds.
    pub latency_sum_ms: f64,
}

impl Tally {
    /// A node departed, gracefully or not.
    pub fn depart(&mut self, graceful: bool) {
        if graceful {
            self.leaves += 1;
        } else {
            self.fails += 1;
        }
    }

    /// A lookup finished.
    pub fn lookup(&mut self, success: bool, latency_ms: f64) {
        self.lookups += 1;
        self.lookup_successes += success as u32;
        self.latency_sum_ms += latency_ms;
    }
}

/// The traffic groups of [`NodeTrafficRow::class`]: the five
/// [`TrafficClass`]es by index, then [`ALL`].
pub const GROUPS: usize = TrafficClass::COUNT + 1;

/// Group of every datagram a node sent or received, whatever its purpose,
/// counted by the engine as `nodes.parquet` counts it (answers to other
/// nodes' requests included, which no class counts).
pub const ALL: u8 = TrafficClass::COUNT as u8;

/// The name of traffic group `g` ([`TrafficClass::name`], or `all`).
pub fn group_name(g: u8) -> &'static str {
    TrafficClass::ALL
        .get(g as usize)
        .map_or("all", |c| c.name())
}

/// One node's traffic of one group in one interval; only non-zero rows are
/// kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeTrafficRow {
    /// Index of the interval: it ends at `(interval + 1) ×` the node-traffic
    /// interval, or at the run's end for the last one.
    pub interval: u32,
    /// The node.
    pub node: u32,
    /// [`TrafficClass::index`], or [`ALL`].
    pub class: u8,
    /// Messages the node sent and counted under the class.
    pub sent_messages: u32,
    /// Their bytes.
    pub sent_bytes: u32,
    /// Messages the node received and counted under the class (answers to
    /// its own requests; for `all`, every datagram delivered to it).
    pub recv_messages: u32,
    /// Their bytes.
    pub recv_bytes: u32,
}

/// Counters of one node: per group, sent messages, sent bytes, received
/// messages, received bytes.
type Counters = [[u32; 4]; GROUPS];

/// A node's cumulative counters of one session (classes) and of the run
/// (`all`), truncated to `u32` for wrapping differences.
fn counters(stats: &NodeStats, all: &NodeTraffic) -> Counters {
    let mut c = [[0u32; 4]; GROUPS];
    for (k, (t, r)) in stats.traffic.iter().zip(&stats.received).enumerate() {
        c[k] = [
            (t.messages - r.messages) as u32,
            (t.bytes - r.bytes) as u32,
            r.messages as u32,
            r.bytes as u32,
        ];
    }
    c[ALL as usize] = [
        all.sent_messages as u32,
        all.sent_bytes as u32,
        all.recv_messages as u32,
        all.recv_bytes as u32,
    ];
    c
}

/// Per-node bases of the traffic counters (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct NodeClassCounters {
    base: Vec<Counters>,
}

impl NodeClassCounters {
    /// Bases of `n` nodes, all zero.
    pub fn new(n: u32) -> Self {
        NodeClassCounters {
            base: vec![[[0; 4]; GROUPS]; n as usize],
        }
    }

    /// Node `i`'s session with counters `old` ends: the next difference
    /// still includes what it counted since the last sample.
    pub fn retire(&mut self, i: u32, old: &NodeStats) {
        let c = counters(old, &NodeTraffic::default());
        for (b, o) in self.base[i as usize][..TrafficClass::COUNT]
            .iter_mut()
            .zip(&c)
        {
            for (b, o) in b.iter_mut().zip(o) {
                *b = b.wrapping_sub(*o);
            }
        }
    }

    /// Calls `f` with each node's counts since the last call (node order),
    /// and makes the current counts the new bases.
    pub fn take(
        &mut self,
        stats: impl Fn(u32) -> (NodeStats, NodeTraffic),
        mut f: impl FnMut(u32, &Counters),
    ) {
        for (i, base) in self.base.iter_mut().enumerate() {
            let (s, all) = stats(i as u32);
            let now = counters(&s, &all);
            let mut d = [[0u32; 4]; GROUPS];
            for g in 0..GROUPS {
                for k in 0..4 {
                    d[g][k] = now[g][k].wrapping_sub(base[g][k]);
                }
            }
            *base = now;
            f(i as u32, &d);
        }
    }
}

/// The name of the churn phase at `t_s` (`init`, `transition`,
/// `measurement`, `done`).
pub fn churn_phase(phases: &Phases, t_s: f64) -> &'static str {
    match phases.phase_at(t_s) {
        Phase::Init => "init",
        Phase::Transition => "transition",
        Phase::Measurement => "measurement",
        Phase::Done => "done",
    }
}

/// What the scenario knows at a sample time.
pub struct SampleContext<'a> {
    /// Nodes whose join had finished and that had not left.
    pub joined_nodes: u32,
    /// Joined-node-seconds since the run's start, up to now.
    pub node_seconds: f64,
    /// The phase an interval starting at a time falls in.
    pub phase: &'a dyn Fn(f64) -> &'static str,
    /// Ring DHTs: the ring oracle and who is a ring member.
    pub ring: Option<(&'a Oracle, &'a dyn Fn(u32) -> bool)>,
}

/// A run's series while it runs.
#[derive(Debug)]
pub struct Series {
    interval: f64,
    node_interval: Option<f64>,
    end_s: f64,
    /// Samples taken.
    k: u64,
    node_k: u64,
    last_s: f64,
    last_bytes: u64,
    last_node_seconds: f64,
    /// The rows so far.
    pub rows: Vec<SeriesRow>,
    /// The per-node rows so far.
    pub node_rows: Vec<NodeTrafficRow>,
}

/// The `k`-th multiple of `step`, capped at `end`; none past it.
fn grid_time(k: u64, step: f64, end: f64) -> Option<f64> {
    let t = k as f64 * step;
    let prev = (k - 1) as f64 * step;
    if prev >= end { None } else { Some(t.min(end)) }
}

fn instant(s: f64) -> Instant {
    Instant::ZERO + Duration::from_secs_f64(s)
}

impl Series {
    /// The series `opts` asks for over a run ending at `end_s`; sets up the
    /// engine's per-node counters if node traffic is asked for.
    pub fn new<P: Protocol>(opts: &SeriesOptions, end_s: f64, sim: &mut Sim<P>) -> Self {
        if opts.node_traffic {
            sim.track_node_classes();
        }
        Series {
            interval: opts.interval_s,
            node_interval: opts.node_traffic.then(|| opts.node_interval_s()),
            end_s,
            k: 0,
            node_k: 0,
            last_s: 0.0,
            last_bytes: 0,
            last_node_seconds: 0.0,
            rows: Vec::new(),
            node_rows: Vec::new(),
        }
    }

    fn next_row_s(&self) -> Option<f64> {
        grid_time(self.k + 1, self.interval, self.end_s)
    }

    fn next_node_s(&self) -> Option<f64> {
        self.node_interval
            .and_then(|d| grid_time(self.node_k + 1, d, self.end_s))
    }

    /// When the run must next stop for a sample.
    pub fn next_time(&self) -> Option<Instant> {
        [self.next_row_s(), self.next_node_s()]
            .into_iter()
            .flatten()
            .min_by(f64::total_cmp)
            .map(instant)
    }

    /// Whether a sample is due at or before `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.next_time().is_some_and(|t| t <= now)
    }

    /// Takes every sample due at or before the simulation's time; `tally`
    /// is read and reset at each [`SeriesRow`].
    pub fn take_due<P: Protocol>(
        &mut self,
        sim: &mut Sim<P>,
        tally: &mut Tally,
        cx: &SampleContext<'_>,
    ) {
        let now = sim.now();
        while let Some(t) = self.next_node_s().filter(|&t| instant(t) <= now) {
            let interval = self.node_k as u32;
            let rows = &mut self.node_rows;
            sim.take_node_class_deltas(|node, d| {
                for (g, c) in d.iter().enumerate() {
                    if c.iter().any(|&x| x != 0) {
                        rows.push(NodeTrafficRow {
                            interval,
                            node,
                            class: g as u8,
                            sent_messages: c[0],
                            sent_bytes: c[1],
                            recv_messages: c[2],
                            recv_bytes: c[3],
                        });
                    }
                }
            });
            self.node_k += 1;
            debug_assert!(t <= self.end_s);
        }
        while let Some(t) = self.next_row_s().filter(|&t| instant(t) <= now) {
            let health = RoutingHealth::measure(sim, cx.ring);
            let online = (0..sim.len()).filter(|&i| sim.is_up(i)).count() as u32;
            let bytes = sim.traffic().total_bytes();
            let tl = std::mem::take(tally);
            self.rows.push(SeriesRow {
                time_s: t,
                interval_s: t - self.last_s,
                phase: (cx.phase)(self.last_s),
                online_nodes: online,
                joined_nodes: cx.joined_nodes,
                joins: tl.joins,
                leaves: tl.leaves,
                fails: tl.fails,
                lookups: tl.lookups,
                lookup_successes: tl.lookup_successes,
                latency_sum_ms: tl.latency_sum_ms,
                bytes: bytes - self.last_bytes,
                node_seconds: cx.node_seconds - self.last_node_seconds,
                health,
                ring: cx.ring.is_some(),
            });
            self.last_s = t;
            self.last_bytes = bytes;
            self.last_node_seconds = cx.node_seconds;
            self.k += 1;
        }
    }

    /// The rows, once the run has ended.
    pub fn finish(self) -> SeriesOutput {
        let d = self.node_interval.unwrap_or(self.interval);
        SeriesOutput {
            node_interval_ends_s: (1..=self.node_k)
                .filter_map(|k| grid_time(k, d, self.end_s))
                .collect(),
            rows: self.rows,
            node_rows: self.node_rows,
            node_traffic: self.node_interval.is_some(),
        }
    }
}

/// A run's time series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesOutput {
    /// One row per sampling interval, in time order.
    pub rows: Vec<SeriesRow>,
    /// Whether per-node traffic was recorded.
    pub node_traffic: bool,
    /// Per-node traffic: by interval, then node, then group.
    pub node_rows: Vec<NodeTrafficRow>,
    /// `node_interval_ends_s[k]`: the end of node-traffic interval `k`, in
    /// seconds.
    pub node_interval_ends_s: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_ends_with_a_short_interval_at_the_end() {
        let ts: Vec<f64> = (1..).map_while(|k| grid_time(k, 60.0, 150.0)).collect();
        assert_eq!(ts, vec![60.0, 120.0, 150.0]);
        let ts: Vec<f64> = (1..).map_while(|k| grid_time(k, 50.0, 150.0)).collect();
        assert_eq!(ts, vec![50.0, 100.0, 150.0]);
    }

    #[test]
    fn bad_intervals_name_their_path() {
        let e = SeriesOptions {
            interval_s: 0.0,
            ..SeriesOptions::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.path, "series.interval_s");
        let e = SeriesOptions {
            node_traffic_interval_s: Some(f64::NAN),
            ..SeriesOptions::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.path, "series.node_traffic_interval_s");
    }

    #[test]
    fn a_retired_session_still_counts_until_the_next_sample() {
        use peerlab_core::protocol::ClassTraffic;
        let mut c = NodeClassCounters::new(1);
        let mut s = NodeStats::default();
        s.traffic[1] = ClassTraffic {
            messages: 3,
            bytes: 300,
        };
        s.received[1] = ClassTraffic {
            messages: 1,
            bytes: 100,
        };
        let mut seen = Vec::new();
        c.take(|_| (s, NodeTraffic::default()), |_, d| seen.push(d[1]));
        // The session sends 2 more messages (50 bytes), then ends; the
        // next session sends 1 (10 bytes) before the next sample.
        s.traffic[1].messages += 2;
        s.traffic[1].bytes += 50;
        c.retire(0, &s);
        let mut fresh = NodeStats::default();
        fresh.traffic[1] = ClassTraffic {
            messages: 1,
            bytes: 10,
        };
        c.take(|_| (fresh, NodeTraffic::default()), |_, d| seen.push(d[1]));
        assert_eq!(seen, vec![[2, 200, 1, 100], [3, 60, 0, 0]]);
    }
}
