//! The churn scenario: nodes join, leave and fail as a `peerlab-churn` model
//! says, while the workload's lookups run. Each lookup is judged when it
//! finishes, against the nodes the oracle says are responsible at that
//! moment among the nodes that are up and have joined. Statistics are
//! marked with the phase they fall in, and the traffic of the measurement
//! phase is reported per online node and second.
//!
//! A node that comes back after a departure starts a fresh session: a new
//! state machine with the same id, joining through a random joined node.
//!
//! With `registration` in the workload, [`super::registrations`] registers
//! each node's user, refreshes, unregisters on graceful leave and judges
//! the workload's registration reads.

use super::registrations::{HOOK_LEAVE_DEADLINE, Registrations};
use super::{Progress, ScenarioRows, Snapshots, hook, judge, new_sim, output, population, unhook};
use crate::config::{InvalidConfig, NetworkConfig, SimOptions};
use crate::dht::DhtNode;
use crate::dht::Metric;
use crate::engine::{Driver, Sim};
use crate::network::Network;
use crate::oracle::Oracle;
use crate::records::{LookupRecord, MeasurementWindow, RunOutput, TrafficByKind};
use crate::series::{SampleContext, Series, Tally, churn_phase};
use peerlab_churn::{
    ChurnEvent, ChurnSpec, Phases, WorkItem, WorkloadDriver, WorkloadEvent, WorkloadSpec,
};
use peerlab_core::protocol::{ClassTraffic, RoutingMode, TrafficClass};
use peerlab_core::rng::{NodeRng, derive_seed};
use peerlab_core::{Command, Duration, Event, HashAlg, Instant, NodeId, RequestId};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a churn run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChurnRunError {
    /// A simulator or protocol parameter is invalid.
    #[error(transparent)]
    Config(#[from] InvalidConfig),
    /// The churn model is invalid.
    #[error("churn: {0}")]
    Churn(#[from] peerlab_churn::ChurnError),
    /// The workload is invalid.
    #[error("workload: {0}")]
    Workload(#[from] peerlab_churn::InvalidParam),
}

const HOOK_ITEM: u64 = 1;
const HOOK_RETRY_JOIN: u64 = 2;
const HOOK_MEASURE_START: u64 = 3;
const HOOK_MEASURE_END: u64 = 4;

/// Wait before a node whose join failed tries again through another node.
const JOIN_RETRY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
enum Waiting {
    Join,
    Lookup(usize),
}

/// The set of joined nodes, with O(1) insert, remove and uniform choice.
#[derive(Default)]
struct LiveSet {
    members: Vec<u32>,
    pos: Vec<u32>,
}

impl LiveSet {
    const ABSENT: u32 = u32::MAX;

    fn new(n: u32) -> Self {
        LiveSet {
            members: Vec::new(),
            pos: vec![Self::ABSENT; n as usize],
        }
    }
    fn contains(&self, i: u32) -> bool {
        self.pos[i as usize] != Self::ABSENT
    }
    fn insert(&mut self, i: u32) {
        if !self.contains(i) {
            self.pos[i as usize] = self.members.len() as u32;
            self.members.push(i);
        }
    }
    fn remove(&mut self, i: u32) {
        let p = self.pos[i as usize];
        if p == Self::ABSENT {
            return;
        }
        let last = self.members.pop().unwrap_or(i);
        if last != i {
            self.members[p as usize] = last;
            self.pos[last as usize] = p;
        }
        self.pos[i as usize] = Self::ABSENT;
    }
    fn len(&self) -> usize {
        self.members.len()
    }
    fn pick(&self, rng: &mut NodeRng) -> Option<u32> {
        (!self.members.is_empty()).then(|| self.members[rng.random_range(0..self.members.len())])
    }
}

struct ChurnDriver<D: DhtNode> {
    cfg: Arc<D::Config>,
    ids: Vec<NodeId>,
    seed: u64,
    mode: RoutingMode,
    items: Vec<WorkItem>,
    phases: Phases,
    oracle: Oracle,
    replication: usize,
    incarnation: Vec<u32>,
    joined: LiveSet,
    /// The joined nodes that take part in the DHT (bootstrap candidates).
    joined_full: LiveSet,
    boot_rng: NodeRng,
    waiting: BTreeMap<(u32, RequestId), Waiting>,
    lookups: Vec<LookupRecord>,
    joins: u32,
    /// The registration layer, with a registration workload.
    regs: Option<Registrations>,
    // Measurement-phase traffic and node-seconds.
    measuring: bool,
    traffic_at_start: TrafficByKind,
    class_at_start: [ClassTraffic; TrafficClass::COUNT],
    window: MeasurementWindow,
    /// Joined-node-seconds over the whole run.
    run_node_seconds: f64,
    last_change: Instant,
    /// What happened since the last time-series sample.
    tally: Tally,
}

impl<D: DhtNode> ChurnDriver<D> {
    /// Accumulates joined-node-seconds up to `now`, then applies a change.
    fn tick(&mut self, now: Instant) {
        let span = self.joined.len() as f64 * (now - self.last_change).as_secs_f64();
        self.run_node_seconds += span;
        if self.measuring {
            self.window.node_seconds += span;
        }
        self.last_change = now;
    }

    fn join(&mut self, sim: &mut Sim<D>, i: u32) {
        let bootstrap: Vec<_> = self
            .joined_full
            .pick(&mut self.boot_rng)
            .map(|b| D::contact_addr(&self.cfg, b))
            .into_iter()
            .collect();
        if let Ok(r) = sim.command(i, Command::Join { bootstrap }) {
            self.waiting.insert((i, r), Waiting::Join);
        }
    }

    fn arrive(&mut self, sim: &mut Sim<D>, i: u32) {
        if let Some(r) = &mut self.regs {
            r.finish_leave(sim, i);
        }
        if sim.is_up(i) {
            return;
        }
        let inc = self.incarnation[i as usize];
        self.incarnation[i as usize] += 1;
        let node_seed = derive_seed(self.seed, "node", ((inc as u64) << 32) | i as u64);
        sim.revive(
            i,
            D::build_node(&self.cfg, i, self.ids[i as usize], node_seed),
        );
        self.tally.joins += 1;
        self.join(sim, i);
    }

    fn depart(&mut self, sim: &mut Sim<D>, i: u32, graceful: bool) {
        if !sim.is_up(i) {
            return;
        }
        self.tick(sim.now());
        let joined = self.joined.contains(i);
        self.tally.depart(graceful);
        self.joined.remove(i);
        self.joined_full.remove(i);
        if let Some(r) = &mut self.regs {
            if graceful && joined && r.on_leave(sim, i) {
                return; // the layer leaves once the removals are acknowledged
            }
            r.on_down(i);
        }
        if graceful && joined {
            let _ = sim.command(i, Command::Leave);
        }
        sim.set_down(i);
    }

    fn lookup(&mut self, sim: &mut Sim<D>, i: u32, bits: u64) {
        if !self.joined.contains(i) {
            return; // the workload may name a node whose join has not finished
        }
        let key = HashAlg::Sha1.hash(&bits.to_be_bytes());
        let t = sim.now();
        if let Ok(r) = sim.command(
            i,
            Command::Lookup {
                target: key,
                mode: self.mode,
            },
        ) {
            self.waiting
                .insert((i, r), Waiting::Lookup(self.lookups.len()));
            self.lookups.push(LookupRecord {
                time_s: t.as_secs_f64(),
                origin: i,
                key,
                success: false,
                k_closest_fraction: 0.0,
                hops: 0,
                latency_ms: f64::NAN,
                messages: 0,
                timeouts: 0,
                measured: self.phases.in_measurement(t.as_secs_f64()),
            });
        }
    }
}

impl<D: DhtNode> Driver<D> for ChurnDriver<D> {
    fn on_hook(&mut self, sim: &mut Sim<D>, tag: u64) {
        let (kind, i) = unhook(tag);
        match kind {
            HOOK_ITEM => match self.items[i] {
                WorkItem::Churn(r) => match r.event {
                    ChurnEvent::Join => self.arrive(sim, r.node),
                    ChurnEvent::Leave => self.depart(sim, r.node, true),
                    ChurnEvent::Fail => self.depart(sim, r.node, false),
                },
                WorkItem::Work(w) => {
                    if let WorkloadEvent::Lookup { node, key } = w.event {
                        self.lookup(sim, node, key);
                    } else if let Some(r) = &mut self.regs {
                        let joined = &self.joined;
                        let measured = self.phases.in_measurement(w.time_s);
                        r.on_work(sim, w.time_s, w.event, |n| joined.contains(n), measured);
                    }
                }
            },
            HOOK_LEAVE_DEADLINE => {
                if let Some(r) = &mut self.regs {
                    r.on_hook(sim, tag);
                }
            }
            HOOK_RETRY_JOIN => {
                let node = i as u32;
                if sim.is_up(node) && !self.joined.contains(node) {
                    let inc = self.incarnation[i];
                    let seed =
                        derive_seed(self.seed, "node-retry", ((inc as u64) << 32) | i as u64);
                    sim.revive(node, D::build_node(&self.cfg, node, self.ids[i], seed));
                    self.join(sim, node);
                }
            }
            HOOK_MEASURE_START => {
                self.tick(sim.now());
                self.measuring = true;
                self.traffic_at_start = sim.traffic().clone();
                self.class_at_start = sim.class_traffic();
            }
            HOOK_MEASURE_END => {
                self.tick(sim.now());
                self.measuring = false;
                self.window.traffic = sim.traffic().since(&self.traffic_at_start);
                let end = sim.class_traffic();
                for ((w, e), s) in self
                    .window
                    .by_class
                    .iter_mut()
                    .zip(end)
                    .zip(self.class_at_start)
                {
                    *w = ClassTraffic {
                        messages: e.messages - s.messages,
                        bytes: e.bytes - s.bytes,
                    };
                }
            }
            _ => {}
        }
    }

    fn on_event(&mut self, sim: &mut Sim<D>, node: u32, event: Event) {
        if let Some(r) = &mut self.regs
            && r.on_event(sim, node, &event)
        {
            return;
        }
        let id = match &event {
            Event::Joined { id, .. } | Event::JoinFailed { id } | Event::LookupDone { id, .. } => {
                *id
            }
            _ => return,
        };
        let Some(w) = self.waiting.remove(&(node, id)) else {
            return;
        };
        match (w, event) {
            (Waiting::Join, Event::Joined { .. }) => {
                self.tick(sim.now());
                self.joined.insert(node);
                if D::in_overlay(&self.cfg, node) {
                    self.joined_full.insert(node);
                }
                self.joins += 1;
                if let Some(r) = &mut self.regs {
                    r.on_joined(sim, node);
                }
            }
            (Waiting::Join, Event::JoinFailed { .. }) => {
                sim.schedule_hook(sim.now() + JOIN_RETRY, hook(HOOK_RETRY_JOIN, node as u64));
            }
            (Waiting::Lookup(j), Event::LookupDone { closest, stats, .. }) => {
                let row = &mut self.lookups[j];
                let joined = &self.joined;
                let pos = D::oracle_id(&self.cfg, &row.key);
                let (success, fraction) = judge::<D>(
                    &self.cfg,
                    &self.oracle,
                    sim.len(),
                    row.origin,
                    &pos,
                    self.replication,
                    &closest,
                    |n| joined.contains(n),
                );
                row.success = success;
                row.k_closest_fraction = fraction;
                row.hops = stats.hops;
                row.latency_ms = (stats.finished - stats.started).as_millis_f64();
                row.messages = stats.messages;
                row.timeouts = stats.timeouts;
                self.tally.lookup(success, row.latency_ms);
            }
            _ => {}
        }
    }
}

/// Runs DHT `D` under churn. `net` gives the latency and loss models (its
/// node count is replaced by the churn model's population).
#[allow(clippy::too_many_arguments)]
pub fn run_churn<D: DhtNode>(
    net: &NetworkConfig,
    churn: &ChurnSpec,
    workload: &WorkloadSpec,
    opts: &SimOptions,
    dht: D::Config,
    mode: RoutingMode,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutput, ChurnRunError> {
    D::validate(&dht)?;
    opts.validate()?;
    let scenario = churn.build()?;
    let phases = scenario.phases();
    let mut events = scenario.events(seed);
    let churn_events: Vec<_> = events.by_ref().collect();
    let n = events.id_bound().max(1);
    let items: Vec<WorkItem> = WorkloadDriver::new(
        churn_events.into_iter(),
        workload.clone(),
        seed,
        phases.end_s,
    )?
    .with_population(n)
    .collect();
    let net = NetworkConfig {
        nodes: n,
        ..net.clone()
    };
    net.validate()?;

    let replication = D::replication(&dht);
    let cfg = Arc::new(dht);
    let (ids, nodes) = population::<D>(&cfg, n, seed);
    let network = Network::new(&net, seed).with_partitions(scenario.partitions(seed));
    let mut sim = new_sim::<D>(&cfg, nodes, network, opts.wire_check);
    for i in 0..n {
        sim.set_down(i);
    }

    let at = |s: f64| Instant::ZERO + Duration::from_secs_f64(s);
    for (j, item) in items.iter().enumerate() {
        sim.schedule_hook(at(item.time_s()), hook(HOOK_ITEM, j as u64));
    }
    sim.schedule_hook(at(phases.measurement_start_s), hook(HOOK_MEASURE_START, 0));
    sim.schedule_hook(at(phases.end_s), hook(HOOK_MEASURE_END, 0));

    let oracle = Oracle::new(ids.iter().map(|id| D::oracle_id(&cfg, id)).collect());
    let regs = match &workload.registration {
        Some(w) => Some(Registrations::new::<D>(w, &cfg, &ids)?),
        None => None,
    };
    let mut driver = ChurnDriver::<D> {
        cfg,
        oracle,
        ids,
        seed,
        mode,
        items,
        phases,
        replication,
        incarnation: vec![0; n as usize],
        joined: LiveSet::new(n),
        joined_full: LiveSet::new(n),
        boot_rng: NodeRng::seed_from_u64(derive_seed(seed, "bootstrap-choice", 0)),
        waiting: BTreeMap::new(),
        lookups: Vec::new(),
        joins: 0,
        regs,
        measuring: false,
        traffic_at_start: TrafficByKind::default(),
        class_at_start: Default::default(),
        window: MeasurementWindow {
            start_s: phases.measurement_start_s,
            end_s: phases.end_s,
            ..MeasurementWindow::default()
        },
        run_node_seconds: 0.0,
        last_change: Instant::ZERO,
        tally: Tally::default(),
    };
    let mut series = opts
        .series
        .as_ref()
        .map(|s| Series::new(s, phases.end_s, &mut sim));
    let end = at(phases.end_s);
    let mut snapshots = Snapshots::new(opts, seed);
    let end_s = snapshots
        .last_time()
        .map_or(end, |t| t.max(end))
        .as_secs_f64();
    // The run stops at each snapshot and ends after the later of the
    // measurement phase and the last snapshot.
    loop {
        let next = [
            (sim.now() < end).then_some(end),
            snapshots.next_time(),
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
        snapshots.take_due(&sim);
        if let Some(s) = series.as_mut().filter(|s| s.due(sim.now())) {
            driver.tick(sim.now());
            let mut tally = std::mem::take(&mut driver.tally);
            let d = &driver;
            let member = |i: u32| d.joined_full.contains(i);
            let cx = SampleContext {
                joined_nodes: d.joined.len() as u32,
                node_seconds: d.run_node_seconds,
                phase: &|t| churn_phase(&d.phases, t),
                ring: (D::METRIC == Metric::Ring).then_some((&d.oracle, &member as _)),
            };
            s.take_due(&mut sim, &mut tally, &cx);
            driver.tally = tally;
        }
    }
    progress(Progress {
        sim_time_s: end_s,
        end_time_s: end_s,
        events: sim.processed(),
    });

    driver.tick(sim.now());
    let (registrations, call_lookups) = driver.regs.map(|r| r.into_rows()).unwrap_or_default();
    Ok(output(
        &sim,
        ScenarioRows {
            lookups: driver.lookups,
            puts: Vec::new(),
            registrations,
            call_lookups,
            joined: driver.joins,
            measurement: Some(driver.window),
            snapshots,
            repair: None,
            node_seconds: driver.run_node_seconds,
            series: series.map(Series::finish),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_set_inserts_removes_and_picks_members_only() {
        let mut s = LiveSet::new(10);
        for i in [3, 5, 7] {
            s.insert(i);
        }
        s.insert(5);
        assert_eq!(s.len(), 3);
        s.remove(3);
        s.remove(3);
        assert!(!s.contains(3) && s.contains(5) && s.contains(7));
        let mut rng = NodeRng::seed_from_u64(1);
        for _ in 0..50 {
            assert!(matches!(s.pick(&mut rng), Some(5 | 7)));
        }
        s.remove(5);
        s.remove(7);
        assert_eq!(s.pick(&mut rng), None);
    }
}
