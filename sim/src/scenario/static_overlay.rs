//! The static-overlay scenario: every node joins, the overlay settles, then a
//! workload of lookups and puts runs, each put read back from another node.
//! Results are judged against the brute-force [`Oracle`].

use super::{Progress, ScenarioRows, Snapshots, hook, judge, new_sim, output, population, unhook};
use crate::config::{InvalidConfig, NetworkConfig, SimOptions, StaticWorkload, invalid};
use crate::dht::{DhtNode, Metric};
use crate::engine::{Driver, Sim};
use crate::graph::{GraphOptions, OverlayGraph, successor_is_wrong};
use crate::network::Network;
use crate::oracle::Oracle;
use crate::records::{LookupRecord, PutRecord, RepairReport, RepairSample, RunOutput};
use crate::series::{SampleContext, Series, Tally};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::RoutingMode;
use peerlab_core::rng::{NodeRng, derive_seed};
use peerlab_core::{Command, Duration, Event, Instant, NodeId, RequestId};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Time after the last planned request for every retry of every hop to finish.
const DRAIN: Duration = Duration::from_secs(60);

const HOOK_JOIN: u64 = 1;
const HOOK_LOOKUP: u64 = 2;
const HOOK_PUT: u64 = 3;
const HOOK_GET: u64 = 4;

#[derive(Clone, Copy, Debug)]
enum Waiting {
    Join,
    Lookup(usize),
    Put(usize),
    Get(usize),
}

struct PlannedLookup {
    at: Instant,
    origin: u32,
    key: NodeId,
    /// The key where the oracle places it.
    pos: NodeId,
}

struct PlannedPut {
    at: Instant,
    origin: u32,
    key: NodeId,
    /// The key where the oracle places it.
    pos: NodeId,
    value: Vec<u8>,
    get_origin: u32,
}

struct StaticDriver<D: DhtNode> {
    cfg: Arc<D::Config>,
    /// Lifetime of put values, in seconds.
    value_ttl_s: u32,
    replication: usize,
    mode: RoutingMode,
    oracle: Option<Oracle>,
    lookups: Vec<PlannedLookup>,
    puts: Vec<PlannedPut>,
    waiting: BTreeMap<(u32, RequestId), Waiting>,
    lookup_rows: Vec<Option<LookupRecord>>,
    put_rows: Vec<PutRecord>,
    joined: u32,
    /// When each node finished joining.
    joined_at: Vec<Option<Instant>>,
    /// What happened since the last time-series sample.
    tally: Tally,
}

impl<D: DhtNode> StaticDriver<D> {
    fn issue(&mut self, sim: &mut Sim<D>, node: u32, cmd: Command, w: Waiting) {
        if !sim.is_up(node) {
            return; // failed in a mass failure
        }
        if let Ok(r) = sim.command(node, cmd) {
            self.waiting.insert((node, r), w);
        }
    }
}

impl<D: DhtNode> Driver<D> for StaticDriver<D> {
    fn on_hook(&mut self, sim: &mut Sim<D>, tag: u64) {
        let (kind, i) = unhook(tag);
        match kind {
            HOOK_JOIN => {
                let bootstrap = if i == 0 {
                    vec![]
                } else {
                    vec![D::contact_addr(&self.cfg, 0)]
                };
                self.tally.joins += 1;
                self.issue(sim, i as u32, Command::Join { bootstrap }, Waiting::Join);
            }
            HOOK_LOOKUP => {
                let l = &self.lookups[i];
                let cmd = Command::Lookup {
                    target: l.key,
                    mode: self.mode,
                };
                self.issue(sim, l.origin, cmd, Waiting::Lookup(i));
            }
            HOOK_PUT => {
                let p = &self.puts[i];
                let cmd = Command::Put {
                    key: p.key,
                    value: p.value.clone(),
                    ttl_secs: self.value_ttl_s,
                };
                self.issue(sim, p.origin, cmd, Waiting::Put(i));
            }
            HOOK_GET => {
                let p = &self.puts[i];
                if let Some(o) = &self.oracle {
                    let cfg = &self.cfg;
                    let holders = o.responsible(D::METRIC, &p.pos, self.replication, |n| {
                        D::in_overlay(cfg, n) && sim.is_up(n)
                    });
                    self.put_rows[i].replicas_on_closest = holders
                        .iter()
                        .filter(|&&n| sim.node(n).holds(&p.key, &p.value))
                        .count() as u32;
                }
                let (key, origin) = (p.key, p.get_origin);
                self.issue(sim, origin, Command::Get { key }, Waiting::Get(i));
            }
            _ => {}
        }
    }

    fn on_event(&mut self, sim: &mut Sim<D>, node: u32, event: Event) {
        let id = match &event {
            Event::Joined { id, .. }
            | Event::JoinFailed { id }
            | Event::LookupDone { id, .. }
            | Event::GetDone { id, .. }
            | Event::StoreDone { id, .. } => *id,
            _ => return,
        };
        let Some(w) = self.waiting.remove(&(node, id)) else {
            return;
        };
        match (w, event) {
            (Waiting::Join, Event::Joined { .. }) => {
                self.joined += 1;
                self.joined_at[node as usize] = Some(sim.now());
            }
            (Waiting::Lookup(i), Event::LookupDone { closest, stats, .. }) => {
                let l = &self.lookups[i];
                let (success, fraction) = match &self.oracle {
                    Some(o) => judge::<D>(
                        &self.cfg,
                        o,
                        sim.len(),
                        l.origin,
                        &l.pos,
                        self.replication,
                        &closest,
                        |n| sim.is_up(n),
                    ),
                    None => (false, 0.0),
                };
                let latency_ms = (stats.finished - stats.started).as_millis_f64();
                self.tally.lookup(success, latency_ms);
                self.lookup_rows[i] = Some(LookupRecord {
                    time_s: l.at.as_secs_f64(),
                    origin: l.origin,
                    key: l.key,
                    success,
                    k_closest_fraction: fraction,
                    hops: stats.hops,
                    latency_ms,
                    messages: stats.messages,
                    timeouts: stats.timeouts,
                    measured: true,
                });
            }
            (Waiting::Put(i), Event::StoreDone { replicas, .. }) => {
                self.put_rows[i].replicas = replicas
            }
            (Waiting::Get(i), Event::GetDone { values, stats, .. }) => {
                let row = &mut self.put_rows[i];
                row.found = values.contains(&self.puts[i].value);
                row.get_hops = stats.hops;
                row.get_latency_ms = (stats.finished - stats.started).as_millis_f64();
            }
            _ => {}
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RepairState {
    /// The failure is still to come.
    Pending,
    /// Sampling; the next sample is due then.
    Sampling(Instant),
    /// Repaired, or the sampling window has passed (or no failure planned).
    Done,
}

/// A planned mass failure and the measurement of the repair after it.
struct Repair {
    at: Instant,
    fraction: f64,
    threshold: f64,
    every: Duration,
    until: Instant,
    seed: u64,
    /// The ring oracle, for DHTs with a successor pointer.
    ring: Option<Oracle>,
    state: RepairState,
    report: Option<RepairReport>,
}

impl Repair {
    /// When the run must next stop for the failure or a sample.
    fn next_time(&self) -> Option<Instant> {
        match self.state {
            RepairState::Pending => Some(self.at),
            RepairState::Sampling(t) => Some(t),
            RepairState::Done => None,
        }
    }

    /// Fails the planned share of live nodes, chosen from a seeded stream.
    fn fail<D: DhtNode>(&mut self, sim: &mut Sim<D>, analysis: GraphOptions) {
        let mut up: Vec<u32> = (0..sim.len()).filter(|&i| sim.is_up(i)).collect();
        let k = ((self.fraction * up.len() as f64).round() as usize).min(up.len());
        let mut rng = NodeRng::seed_from_u64(derive_seed(self.seed, "mass-failure", 0));
        for j in 0..k {
            let r = rng.random_range(j..up.len());
            up.swap(j, r);
        }
        up.truncate(k);
        up.sort_unstable();
        for &i in &up {
            sim.set_down(i);
        }
        let g = OverlayGraph::from_sim(sim);
        self.report = Some(RepairReport {
            fail_at_s: sim.now().as_secs_f64(),
            failed: up,
            after_failure: g.analyze(&analysis),
            threshold: self.threshold,
            dead_share_repair_s: None,
            successors_repair_s: None,
            samples: Vec::new(),
        });
        self.sample(sim, g);
    }

    /// Records the routing state's health now and decides whether to go on.
    fn sample<D: DhtNode>(&mut self, sim: &Sim<D>, g: OverlayGraph) {
        let Some(report) = self.report.as_mut() else {
            return;
        };
        let now = sim.now();
        let since = (now - self.at).as_secs_f64();
        let wrong = self.ring.as_ref().map(|o| wrong_successors(sim, o));
        let share = g.dead_entry_share();
        report.samples.push(RepairSample {
            time_s: now.as_secs_f64(),
            dead_entry_share: share,
            wrong_successors: wrong,
        });
        if report.dead_share_repair_s.is_none() && share < self.threshold {
            report.dead_share_repair_s = Some(since);
        }
        if report.successors_repair_s.is_none() && wrong == Some(0) {
            report.successors_repair_s = Some(since);
        }
        let repaired = report.dead_share_repair_s.is_some()
            && (self.ring.is_none() || report.successors_repair_s.is_some());
        let next = now + self.every;
        self.state = if repaired || next > self.until {
            RepairState::Done
        } else {
            RepairState::Sampling(next)
        };
    }
}

/// Live nodes whose first successor is not the next live node on the ring.
fn wrong_successors<D: DhtNode>(sim: &Sim<D>, oracle: &Oracle) -> u32 {
    let n = sim.len();
    (0..n)
        .filter(|&i| sim.is_up(i))
        .filter(|&i| successor_is_wrong(i, &sim.node(i).routes(), n, oracle, |j| sim.is_up(j)))
        .count() as u32
}

/// Runs the static-overlay scenario with Kademlia nodes and the paper's
/// parallel iterative lookups.
pub fn run_static_kademlia(
    net: &NetworkConfig,
    work: &StaticWorkload,
    opts: &SimOptions,
    kad: KademliaConfig,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutput, InvalidConfig> {
    run_static::<Kademlia>(
        net,
        work,
        opts,
        kad,
        KademliaConfig::DEFAULT_ROUTING,
        seed,
        progress,
    )
}

/// Runs the static-overlay scenario with nodes of DHT `D`, routing the
/// workload's lookups in `mode`.
///
/// Node ids, join times and the workload are drawn from separate streams
/// derived from `seed`, so changing the workload never changes the overlay.
pub fn run_static<D: DhtNode>(
    net: &NetworkConfig,
    work: &StaticWorkload,
    opts: &SimOptions,
    dht: D::Config,
    mode: RoutingMode,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutput, InvalidConfig> {
    net.validate()?;
    work.validate()?;
    opts.validate()?;
    D::validate(&dht)?;
    if (work.puts > 0 || work.lookups > 0) && net.nodes < 2 {
        return Err(invalid(
            "network.nodes",
            net.nodes,
            "at least 2 when the workload has lookups or puts",
        ));
    }
    let n = net.nodes;
    let replication = D::replication(&dht);
    let cfg = Arc::new(dht);

    let (ids, nodes) = population::<D>(&cfg, n, seed);
    let mut sim = new_sim::<D>(&cfg, nodes, Network::new(net, seed), opts.wire_check);

    // Joins: node 0 founds the overlay at time zero, the rest join through it.
    let mut join_rng = NodeRng::seed_from_u64(derive_seed(seed, "joins", 0));
    for i in 0..n {
        let at = if i == 0 {
            0.0
        } else {
            join_rng.random::<f64>() * work.join_window_s
        };
        sim.schedule_hook(Instant::ZERO + secs(at), hook(HOOK_JOIN, i as u64));
    }

    let start = Instant::ZERO + secs(work.join_window_s + work.settle_s);
    let mut lk_rng = NodeRng::seed_from_u64(derive_seed(seed, "workload-lookups", 0));
    let lookups: Vec<PlannedLookup> = (0..work.lookups)
        .map(|_| {
            let at = start + secs(lk_rng.random::<f64>() * work.lookup_window_s);
            let origin = lk_rng.random_range(0..n);
            let key = NodeId::random(&mut lk_rng);
            PlannedLookup {
                at,
                origin,
                key,
                pos: D::oracle_id(&cfg, &key),
            }
        })
        .collect();
    let mut put_rng = NodeRng::seed_from_u64(derive_seed(seed, "workload-puts", 0));
    let puts: Vec<PlannedPut> = (0..work.puts)
        .map(|j| {
            let origin = put_rng.random_range(0..n);
            let get_origin = (origin + put_rng.random_range(1..n)) % n;
            let at = start + secs(put_rng.random::<f64>() * work.lookup_window_s);
            let key = NodeId::random(&mut put_rng);
            PlannedPut {
                at,
                origin,
                key,
                pos: D::oracle_id(&cfg, &key),
                value: format!("value-{j}").into_bytes(),
                get_origin,
            }
        })
        .collect();
    let mut end = start + secs(work.lookup_window_s + work.get_delay_s);
    for (j, l) in lookups.iter().enumerate() {
        sim.schedule_hook(l.at, hook(HOOK_LOOKUP, j as u64));
    }
    for (j, p) in puts.iter().enumerate() {
        sim.schedule_hook(p.at, hook(HOOK_PUT, j as u64));
        let get_at = p.at + secs(work.get_delay_s);
        sim.schedule_hook(get_at, hook(HOOK_GET, j as u64));
        end = end.max(get_at);
    }
    end += DRAIN;

    let put_rows = puts
        .iter()
        .map(|p| PutRecord {
            time_s: p.at.as_secs_f64(),
            key: p.key,
            put_origin: p.origin,
            replicas: 0,
            replicas_on_closest: 0,
            get_origin: p.get_origin,
            found: false,
            get_hops: 0,
            get_latency_ms: f64::NAN,
        })
        .collect();
    let mut driver = StaticDriver::<D> {
        cfg: cfg.clone(),
        value_ttl_s: work.value_ttl_s,
        replication,
        mode,
        oracle: (!opts.no_oracle)
            .then(|| Oracle::new(ids.iter().map(|id| D::oracle_id(&cfg, id)).collect())),
        lookup_rows: vec![None; lookups.len()],
        lookups,
        puts,
        put_rows,
        waiting: BTreeMap::new(),
        joined: 0,
        joined_at: vec![None; n as usize],
        tally: Tally::default(),
    };
    let mut snapshots = Snapshots::new(opts, seed);
    let mut repair = Repair {
        at: Instant::ZERO + secs(work.fail_at_s.unwrap_or(0.0)),
        fraction: work.fail_fraction,
        threshold: work.repair_threshold,
        every: secs(work.repair_sample_s),
        until: Instant::ZERO + secs(work.fail_at_s.unwrap_or(0.0) + work.repair_max_s),
        seed,
        ring: (D::METRIC == Metric::Ring)
            .then(|| Oracle::new(ids.iter().map(|id| D::oracle_id(&cfg, id)).collect())),
        state: if work.fail_fraction > 0.0 && work.fail_at_s.is_some() {
            RepairState::Pending
        } else {
            RepairState::Done
        },
        report: None,
    };
    // The run stops at each snapshot, the failure and each repair sample, and
    // ends when the workload, the snapshots and the repair are all done.
    let end_s = [
        Some(end),
        snapshots.last_time(),
        (repair.state == RepairState::Pending).then_some(repair.at),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(end)
    .as_secs_f64();
    // Time series run to `end_s`, not into the repair's sampling tail.
    let mut series = opts
        .series
        .as_ref()
        .map(|s| Series::new(s, end_s, &mut sim));
    loop {
        let next = [
            (sim.now() < end).then_some(end),
            snapshots.next_time(),
            repair.next_time(),
            series.as_ref().and_then(Series::next_time),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        sim.run_until(next, &mut driver, &mut |t, events| {
            progress(Progress {
                sim_time_s: t.as_secs_f64(),
                end_time_s: end_s,
                events,
            })
        });
        match repair.state {
            RepairState::Pending if repair.at <= sim.now() => {
                repair.fail(&mut sim, snapshots.options(usize::MAX));
                driver.tally.fails += repair.report.as_ref().map_or(0, |r| r.failed.len() as u32);
            }
            RepairState::Sampling(t) if t <= sim.now() => {
                repair.sample(&sim, OverlayGraph::from_sim(&sim));
            }
            _ => {}
        }
        snapshots.take_due(&sim);
        if let Some(s) = series.as_mut().filter(|s| s.due(sim.now())) {
            // The ring's members: live nodes that have joined.
            let members: Vec<bool> = (0..n)
                .map(|i| sim.is_up(i) && driver.joined_at[i as usize].is_some())
                .collect();
            let member = |i: u32| members[i as usize];
            let cx = SampleContext {
                joined_nodes: members.iter().filter(|&&m| m).count() as u32,
                // Filled in below, once every join and failure is known.
                node_seconds: 0.0,
                phase: &|_| "static",
                ring: repair.ring.as_ref().map(|o| (o, &member as _)),
            };
            let mut tally = std::mem::take(&mut driver.tally);
            s.take_due(&mut sim, &mut tally, &cx);
            driver.tally = tally;
        }
    }
    progress(Progress {
        sim_time_s: sim.now().as_secs_f64(),
        end_time_s: end_s,
        events: sim.processed(),
    });

    // Joined-node-seconds: from each join until the node failed or the run ended.
    let failed: &[u32] = repair.report.as_ref().map_or(&[], |r| &r.failed);
    let fail_at = repair.report.as_ref().map(|r| r.fail_at_s);
    let run_end_s = sim.now().as_secs_f64();
    // Node `i` counts from its join until it failed or the run ended.
    let joined_span = |i: usize, t: &Option<Instant>| {
        let until = match fail_at {
            Some(f) if failed.binary_search(&(i as u32)).is_ok() => f,
            _ => run_end_s,
        };
        t.map(|t| (t.as_secs_f64(), until))
    };
    let node_seconds = driver
        .joined_at
        .iter()
        .enumerate()
        .filter_map(|(i, t)| joined_span(i, t))
        .map(|(from, until)| (until - from).max(0.0))
        .sum();
    let series = series.map(|s| {
        let mut s = s.finish();
        for r in &mut s.rows {
            let (a, b) = (r.time_s - r.interval_s, r.time_s);
            r.node_seconds = driver
                .joined_at
                .iter()
                .enumerate()
                .filter_map(|(i, t)| joined_span(i, t))
                .map(|(from, until)| (until.min(b) - from.max(a)).max(0.0))
                .sum();
        }
        s
    });
    let lookups = driver
        .lookup_rows
        .into_iter()
        .zip(&driver.lookups)
        .map(|(row, l)| {
            row.unwrap_or(LookupRecord {
                time_s: l.at.as_secs_f64(),
                origin: l.origin,
                key: l.key,
                success: false,
                k_closest_fraction: 0.0,
                hops: 0,
                latency_ms: f64::NAN,
                messages: 0,
                timeouts: 0,
                measured: true,
            })
        })
        .collect();
    Ok(output(
        &sim,
        ScenarioRows {
            lookups,
            puts: driver.put_rows,
            registrations: Vec::new(),
            call_lookups: Vec::new(),
            joined: driver.joined,
            measurement: None,
            snapshots,
            repair: repair.report,
            node_seconds,
            series,
        },
    ))
}
