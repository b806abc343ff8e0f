//! The static-overlay scenario: every node joins, the overlay settles, then a
//! workload of lookups and puts runs, each put read back from another node.
//! Results are judged against the brute-force [`Oracle`].

use super::{Progress, hook, judge, unhook};
use crate::config::{InvalidConfig, NetworkConfig, SimOptions, StaticWorkload, invalid};
use crate::dht::DhtNode;
use crate::engine::{Driver, Sim};
use crate::network::{Network, addr_of};
use crate::oracle::Oracle;
use crate::records::{LookupRecord, PutRecord, RunOutput};
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

struct StaticDriver {
    replication: usize,
    mode: RoutingMode,
    oracle: Option<Oracle>,
    lookups: Vec<PlannedLookup>,
    puts: Vec<PlannedPut>,
    waiting: BTreeMap<(u32, RequestId), Waiting>,
    lookup_rows: Vec<Option<LookupRecord>>,
    put_rows: Vec<PutRecord>,
    joined: u32,
}

impl StaticDriver {
    fn issue<D: DhtNode>(&mut self, sim: &mut Sim<D>, node: u32, cmd: Command, w: Waiting) {
        if let Ok(r) = sim.command(node, cmd) {
            self.waiting.insert((node, r), w);
        }
    }
}

impl<D: DhtNode> Driver<D> for StaticDriver {
    fn on_hook(&mut self, sim: &mut Sim<D>, tag: u64) {
        let (kind, i) = unhook(tag);
        match kind {
            HOOK_JOIN => {
                let bootstrap = if i == 0 { vec![] } else { vec![addr_of(0)] };
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
                    ttl_secs: u32::MAX,
                };
                self.issue(sim, p.origin, cmd, Waiting::Put(i));
            }
            HOOK_GET => {
                let p = &self.puts[i];
                if let Some(o) = &self.oracle {
                    let holders =
                        o.responsible(D::METRIC, &p.pos, self.replication, |n| sim.is_up(n));
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
            (Waiting::Join, Event::Joined { .. }) => self.joined += 1,
            (Waiting::Lookup(i), Event::LookupDone { closest, stats, .. }) => {
                let l = &self.lookups[i];
                let (success, fraction) = match &self.oracle {
                    Some(o) => judge::<D>(
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
                self.lookup_rows[i] = Some(LookupRecord {
                    time_s: l.at.as_secs_f64(),
                    origin: l.origin,
                    key: l.key,
                    success,
                    k_closest_fraction: fraction,
                    hops: stats.hops,
                    latency_ms: (stats.finished - stats.started).as_millis_f64(),
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

/// Runs the static-overlay scenario with Kademlia nodes and iterative lookups.
pub fn run_static_kademlia(
    net: &NetworkConfig,
    work: &StaticWorkload,
    opts: &SimOptions,
    kad: KademliaConfig,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutput, InvalidConfig> {
    run_static::<Kademlia>(net, work, opts, kad, RoutingMode::Iterative, seed, progress)
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

    let mut id_rng = NodeRng::seed_from_u64(derive_seed(seed, "node-ids", 0));
    let ids: Vec<NodeId> = (0..n).map(|_| NodeId::random(&mut id_rng)).collect();
    let nodes: Vec<D> = (0..n)
        .map(|i| {
            D::build(
                &cfg,
                ids[i as usize],
                addr_of(i),
                derive_seed(seed, "node", i as u64),
            )
        })
        .collect();
    let mut sim = Sim::new(nodes, Network::new(net, seed), opts.wire_check);

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
    let mut driver = StaticDriver {
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
    };
    let end_s = end.as_secs_f64();
    sim.run_until(end, &mut driver, &mut |t, events| {
        progress(Progress {
            sim_time_s: t.as_secs_f64(),
            end_time_s: end_s,
            events,
        })
    });
    progress(Progress {
        sim_time_s: end_s,
        end_time_s: end_s,
        events: sim.processed(),
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
    Ok(RunOutput {
        lookups,
        puts: driver.put_rows,
        traffic: sim.traffic().clone(),
        node_traffic: sim.node_traffic().to_vec(),
        trace_hash: sim.trace_hash(),
        events: sim.processed(),
        dropped: sim.dropped(),
        sim_time_s: sim.now().as_secs_f64(),
        joined: driver.joined,
        measurement: None,
    })
}
