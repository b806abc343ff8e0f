//! The event generator behind [`ChurnScenario::events`].
//!
//! Every node has at most one pending transition in a priority queue ordered
//! by (time, rank, node, sequence), so ties are broken the same way in every
//! run. A node's durations come from its own stream, so neither workload nor
//! other nodes' histories can shift them. Mass failures and flash crowds are
//! queue entries of their own; a failure bumps each victim's epoch,
//! which cancels its pending transition.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use super::scenario::{ChurnScenario, Recovery};
use super::{HeterogeneousChurn, LifetimeChurn, Resolved};
use crate::dist::Dist;
use crate::diurnal::Diurnal;
use crate::event::{ChurnEvent, ChurnRecord};
use crate::streams::{StreamRng, below, open01, purpose, stream};

/// Most down periods drawn for one rejoin under diurnal thinning before the
/// last candidate is accepted regardless (a guard against a profile that is
/// zero for long stretches combined with tiny down periods).
const MAX_THINNING: u32 = 1_000_000;

#[derive(Clone, Debug)]
enum Step {
    /// The node joins; its next departure is drawn by its model.
    Join,
    /// The node joins and stays `stay_s`; then departs (`None`: the node's
    /// model decides leave or fail at that time).
    JoinThen {
        stay_s: f64,
        then: Option<ChurnEvent>,
    },
    /// The node departs (`None`: decided by the model then).
    Depart(Option<ChurnEvent>),
    /// The next event of a traced node.
    Trace(ChurnEvent),
    /// A traced node returns after a mass failure, outside its trace.
    Rejoin,
    /// The next open-population arrival.
    Arrival,
    /// Flash crowd `i` starts.
    FlashCrowd(usize),
    /// Mass failure `i` strikes.
    MassFailure(usize),
}

impl Step {
    fn rank(&self) -> u8 {
        match self {
            Step::Arrival => 1,
            Step::FlashCrowd(_) => 2,
            Step::MassFailure(_) => 3,
            _ => 0,
        }
    }
}

#[derive(Debug)]
struct Pending {
    time: f64,
    rank: u8,
    node: u32,
    seq: u64,
    epoch: u32,
    step: Step,
}

impl Pending {
    fn key_cmp(&self, o: &Pending) -> Ordering {
        self.time
            .total_cmp(&o.time)
            .then(self.rank.cmp(&o.rank))
            .then(self.node.cmp(&o.node))
            .then(self.seq.cmp(&o.seq))
    }
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.key_cmp(o) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    /// Reversed, so the std max-heap pops the earliest entry.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key_cmp(self)
    }
}

/// Up and down distributions of an alternating node.
#[derive(Clone, Debug)]
enum AltParams {
    /// The scenario's lifetime model.
    Shared,
    /// Per-node distributions (heterogeneous churn).
    Own(Box<(Dist, Dist)>),
}

#[derive(Debug)]
struct Alt {
    rng: StreamRng,
    params: AltParams,
}

#[derive(Debug)]
enum Kind {
    Static,
    Alternating(Box<Alt>),
    /// One session, from source `src` (0: the open model; 1 + i: flash crowd i).
    OneShot {
        src: usize,
    },
    /// Replays `trace[cursor..]` of its trace list.
    Traced {
        cursor: usize,
    },
    /// Never returns.
    Gone,
}

/// What a mass-failure victim is, for its recovery.
enum Class {
    Alternating,
    Static,
    OneShot(usize),
    Other,
}

#[derive(Debug)]
struct NodeState {
    online: bool,
    epoch: u32,
    kind: Kind,
}

/// The churn events of one run, in time order. Built by
/// [`ChurnScenario::events`]; ends at the end of the measurement phase.
#[derive(Debug)]
pub struct ChurnEvents {
    scn: ChurnScenario,
    heap: BinaryHeap<Pending>,
    nodes: BTreeMap<u32, NodeState>,
    online: BTreeSet<u32>,
    out: VecDeque<ChurnRecord>,
    seq: u64,
    next_id: u32,
    end_s: f64,
    run_seed: u64,
    arrivals: Option<StreamRng>,
    traces: BTreeMap<u32, Vec<(f64, ChurnEvent)>>,
    /// Session distribution and graceful fraction of one-shot sources.
    sources: Vec<(Option<Dist>, f64)>,
}

impl ChurnEvents {
    pub(crate) fn new(scn: ChurnScenario, run_seed: u64) -> ChurnEvents {
        let end_s = scn.inner.phases.end_s;
        let mut g = ChurnEvents {
            scn,
            heap: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            online: BTreeSet::new(),
            out: VecDeque::new(),
            seq: 0,
            next_id: 0,
            end_s,
            run_seed,
            arrivals: None,
            traces: BTreeMap::new(),
            sources: Vec::new(),
        };
        g.init();
        g
    }

    /// One more than the largest node id created so far.
    pub fn id_bound(&self) -> u32 {
        self.next_id
    }

    /// Number of nodes online after the events yielded so far.
    pub fn online_count(&self) -> usize {
        self.online.len()
    }

    /// Whether `node` is online after the events yielded so far.
    pub fn is_online(&self, node: u32) -> bool {
        self.online.contains(&node)
    }

    fn push(&mut self, time: f64, node: u32, epoch: u32, step: Step) {
        if time.is_nan() || time >= self.end_s {
            return;
        }
        self.seq += 1;
        let rank = step.rank();
        self.heap.push(Pending {
            time,
            rank,
            node,
            seq: self.seq,
            epoch,
            step,
        });
    }

    fn alloc_id(&mut self) -> Option<u32> {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1)?;
        Some(id)
    }

    fn activation(&self, i: u32) -> f64 {
        match self.scn.inner.spec.join_rate_per_s {
            Some(r) => f64::from(i) / r,
            None => 0.0,
        }
    }

    fn init(&mut self) {
        let scn = self.scn.clone();
        let spec = &scn.inner.spec;
        let n = spec.nodes;
        let warmup = spec.warmup_s;
        // One-shot sources: 0 is the open model, 1 + i flash crowd i.
        let open = match &scn.inner.model {
            Resolved::Open(m) => Some(m.clone()),
            _ => None,
        };
        self.sources.push(match &open {
            Some(m) => (Some(m.session.clone()), m.graceful_fraction),
            None => (None, 0.0),
        });
        for f in &spec.flash_crowds {
            self.sources.push((f.session.clone(), f.graceful_fraction));
        }

        match &scn.inner.model {
            Resolved::Trace(_) => {
                if let Some(trace) = &scn.inner.trace {
                    for r in trace.events() {
                        self.traces
                            .entry(r.node)
                            .or_default()
                            .push((r.time_s, r.event));
                    }
                    self.next_id = trace.max_node().map_or(0, |m| m.saturating_add(1));
                }
                let firsts: Vec<(u32, f64, ChurnEvent)> = self
                    .traces
                    .iter()
                    .filter_map(|(&node, v)| v.first().map(|&(t, e)| (node, t, e)))
                    .collect();
                for (node, t, e) in firsts {
                    self.nodes.insert(
                        node,
                        NodeState {
                            online: false,
                            epoch: 0,
                            kind: Kind::Traced { cursor: 0 },
                        },
                    );
                    self.push(t, node, 0, Step::Trace(e));
                }
            }
            Resolved::Static => {
                self.next_id = n;
                for i in 0..n {
                    self.nodes.insert(
                        i,
                        NodeState {
                            online: false,
                            epoch: 0,
                            kind: Kind::Static,
                        },
                    );
                    let a = self.activation(i);
                    self.push(a, i, 0, Step::Join);
                }
            }
            Resolved::Lifetime(_) | Resolved::Heterogeneous(_) => {
                self.next_id = n;
                for i in 0..n {
                    let mut rng = stream(self.run_seed, purpose::CHURN_NODE, u64::from(i));
                    let params = match &scn.inner.model {
                        Resolved::Heterogeneous(h) => {
                            AltParams::Own(Box::new(heterogeneous_dists(h, &mut rng)))
                        }
                        _ => AltParams::Shared,
                    };
                    let mut alt = Alt { rng, params };
                    let a = self.activation(i);
                    let (t, step) = self.first_alternating(&mut alt, a, warmup);
                    self.nodes.insert(
                        i,
                        NodeState {
                            online: false,
                            epoch: 0,
                            kind: Kind::Alternating(Box::new(alt)),
                        },
                    );
                    self.push(t, i, 0, step);
                }
            }
            Resolved::Open(m) => {
                self.next_id = n;
                for i in 0..n {
                    let mut rng = stream(self.run_seed, purpose::CHURN_NODE, u64::from(i));
                    let stay_s = m.session.sample(&mut rng);
                    let then = departure(&mut rng, m.graceful_fraction);
                    self.nodes.insert(
                        i,
                        NodeState {
                            online: false,
                            epoch: 0,
                            kind: Kind::OneShot { src: 0 },
                        },
                    );
                    let a = self.activation(i);
                    self.push(
                        a,
                        i,
                        0,
                        Step::JoinThen {
                            stay_s,
                            then: Some(then),
                        },
                    );
                }
                let mut rng = stream(self.run_seed, purpose::CHURN_ARRIVALS, 0);
                let first =
                    next_arrival(-warmup, &mut rng, m.arrival_rate_per_s, m.diurnal.as_ref());
                self.arrivals = Some(rng);
                // Arrivals before time 0 are queued too (the push bound is
                // the end of the run only).
                self.seq += 1;
                if first < self.end_s {
                    self.heap.push(Pending {
                        time: first,
                        rank: 1,
                        node: 0,
                        seq: self.seq,
                        epoch: 0,
                        step: Step::Arrival,
                    });
                }
            }
        }
        for (i, f) in spec.flash_crowds.iter().enumerate() {
            self.push(f.at_s, 0, 0, Step::FlashCrowd(i));
        }
        for (i, m) in spec.mass_failures.iter().enumerate() {
            self.push(m.at_s, 0, 0, Step::MassFailure(i));
        }
    }

    fn lifetime(&self) -> Option<&LifetimeChurn> {
        match &self.scn.inner.model {
            Resolved::Lifetime(l) => Some(l),
            _ => None,
        }
    }

    fn diurnal(&self) -> Option<&Diurnal> {
        match &self.scn.inner.model {
            Resolved::Lifetime(l) => l.diurnal.as_ref(),
            Resolved::Heterogeneous(h) => h.diurnal.as_ref(),
            _ => None,
        }
    }

    fn graceful(&self) -> f64 {
        match &self.scn.inner.model {
            Resolved::Lifetime(l) => l.graceful_fraction,
            Resolved::Heterogeneous(h) => h.graceful_fraction,
            _ => 0.0,
        }
    }

    fn up_sample(&self, alt: &mut Alt) -> f64 {
        match &alt.params {
            AltParams::Own(d) => d.0.sample(&mut alt.rng),
            AltParams::Shared => self
                .lifetime()
                .map_or(f64::INFINITY, |l| l.up.sample(&mut alt.rng)),
        }
    }

    fn rejoin_time(&self, alt: &mut Alt, t: f64) -> f64 {
        let diurnal = self.diurnal();
        let mut c = t;
        for _ in 0..MAX_THINNING {
            c += match &alt.params {
                AltParams::Own(d) => d.1.sample(&mut alt.rng),
                AltParams::Shared => self
                    .lifetime()
                    .map_or(f64::INFINITY, |l| l.down.sample(&mut alt.rng)),
            };
            match diurnal {
                None => return c,
                Some(d) => {
                    if d.accept(&mut alt.rng, c) {
                        return c;
                    }
                }
            }
        }
        c
    }

    /// The first pending step of an alternating node active from `a`: run
    /// its process from `a - warmup` with the events discarded, and take the
    /// state at `a`.
    fn first_alternating(&self, alt: &mut Alt, a: f64, warmup: f64) -> (f64, Step) {
        if warmup <= 0.0 {
            return (a, Step::Join);
        }
        let mut t = a - warmup;
        loop {
            let end = t + self.up_sample(alt);
            if end > a {
                return (
                    a,
                    Step::JoinThen {
                        stay_s: end - a,
                        then: None,
                    },
                );
            }
            let back = self.rejoin_time(alt, end);
            if back >= a {
                return (back, Step::Join);
            }
            t = back;
        }
    }

    fn emit(&mut self, time_s: f64, node: u32, event: ChurnEvent) {
        self.out.push_back(ChurnRecord {
            time_s,
            node,
            event,
        });
    }

    fn set_online(&mut self, node: u32, on: bool) {
        if let Some(s) = self.nodes.get_mut(&node) {
            s.online = on;
        }
        if on {
            self.online.insert(node);
        } else {
            self.online.remove(&node);
        }
    }

    /// Schedules an alternating node's return at `at`, under a fresh id if
    /// the model asks for one.
    fn schedule_alt_rejoin(&mut self, node: u32, at: f64) {
        let fresh = self.lifetime().is_some_and(|l| l.fresh_ids);
        let Some(state) = self.nodes.get_mut(&node) else {
            return;
        };
        if fresh {
            let kind = std::mem::replace(&mut state.kind, Kind::Gone);
            if let Some(new) = self.alloc_id() {
                self.nodes.insert(
                    new,
                    NodeState {
                        online: false,
                        epoch: 0,
                        kind,
                    },
                );
                self.push(at, new, 0, Step::Join);
            }
        } else {
            let epoch = state.epoch;
            self.push(at, node, epoch, Step::Join);
        }
    }

    fn handle_node(&mut self, time: f64, node: u32, epoch: u32, step: Step) {
        let Some(state) = self.nodes.get_mut(&node) else {
            return;
        };
        if let Step::Rejoin = step {
            // Outside the node's own chain, so the epoch is not checked.
            if !state.online && !matches!(state.kind, Kind::Gone) {
                self.set_online(node, true);
                self.emit(time, node, ChurnEvent::Join);
            }
            return;
        }
        if state.epoch != epoch {
            return;
        }
        let online = state.online;
        match step {
            Step::Trace(ev) => {
                let Kind::Traced { cursor } = &mut state.kind else {
                    return;
                };
                *cursor += 1;
                let next = self.traces.get(&node).and_then(|v| v.get(*cursor)).copied();
                if ev.is_departure() == online {
                    self.set_online(node, !online);
                    self.emit(time, node, ev);
                }
                if let Some((t, e)) = next {
                    self.push(t, node, epoch, Step::Trace(e));
                }
            }
            Step::Join | Step::JoinThen { .. } => {
                if online {
                    return;
                }
                self.set_online(node, true);
                self.emit(time, node, ChurnEvent::Join);
                let stay = match step {
                    Step::JoinThen { stay_s, then } => Some((stay_s, then)),
                    _ => None,
                };
                match stay {
                    Some((stay_s, then)) => {
                        self.push(time + stay_s, node, epoch, Step::Depart(then))
                    }
                    None => {
                        // Draw the session of an alternating node.
                        let mut kind = self.take_kind(node);
                        let up = if let Kind::Alternating(alt) = &mut kind {
                            Some(self.up_sample(alt))
                        } else {
                            None
                        };
                        self.put_kind(node, kind);
                        if let Some(up) = up {
                            self.push(time + up, node, epoch, Step::Depart(None));
                        }
                    }
                }
            }
            Step::Depart(then) => {
                if !online {
                    return;
                }
                let graceful = self.graceful();
                let mut kind = self.take_kind(node);
                let ev = match then {
                    Some(e) => e,
                    None => match &mut kind {
                        Kind::Alternating(alt) => departure(&mut alt.rng, graceful),
                        _ => ChurnEvent::Fail,
                    },
                };
                self.set_online(node, false);
                self.emit(time, node, ev);
                let back = if let Kind::Alternating(alt) = &mut kind {
                    Some(self.rejoin_time(alt, time))
                } else {
                    None
                };
                let kind = match kind {
                    Kind::OneShot { .. } => Kind::Gone,
                    k => k,
                };
                self.put_kind(node, kind);
                if let Some(at) = back {
                    self.schedule_alt_rejoin(node, at);
                }
            }
            Step::Rejoin | Step::Arrival | Step::FlashCrowd(_) | Step::MassFailure(_) => {}
        }
    }

    fn take_kind(&mut self, node: u32) -> Kind {
        self.nodes
            .get_mut(&node)
            .map_or(Kind::Gone, |s| std::mem::replace(&mut s.kind, Kind::Gone))
    }

    fn put_kind(&mut self, node: u32, kind: Kind) {
        if let Some(s) = self.nodes.get_mut(&node) {
            s.kind = kind;
        }
    }

    fn handle_arrival(&mut self, time: f64) {
        let scn = self.scn.clone();
        let Resolved::Open(m) = &scn.inner.model else {
            return;
        };
        let Some(mut rng) = self.arrivals.take() else {
            return;
        };
        let stay_s = m.session.sample(&mut rng);
        let then = departure(&mut rng, m.graceful_fraction);
        let next = next_arrival(time, &mut rng, m.arrival_rate_per_s, m.diurnal.as_ref());
        self.arrivals = Some(rng);
        // A node that arrived during warm-up joins at time 0 if still online.
        let (join_at, stay_s) = if time < 0.0 {
            (0.0, time + stay_s)
        } else {
            (time, stay_s)
        };
        if (stay_s > 0.0 || time >= 0.0)
            && let Some(id) = self.alloc_id()
        {
            let kind = Kind::OneShot { src: 0 };
            self.nodes.insert(
                id,
                NodeState {
                    online: false,
                    epoch: 0,
                    kind,
                },
            );
            let step = Step::JoinThen {
                stay_s,
                then: Some(then),
            };
            self.push(join_at, id, 0, step);
        }
        if next < self.end_s {
            self.seq += 1;
            self.heap.push(Pending {
                time: next,
                rank: 1,
                node: 0,
                seq: self.seq,
                epoch: 0,
                step: Step::Arrival,
            });
        }
    }

    fn handle_flash_crowd(&mut self, i: usize) {
        let Some(f) = self.scn.inner.spec.flash_crowds.get(i).cloned() else {
            return;
        };
        let mut rng = stream(self.run_seed, purpose::CHURN_FLASH_CROWD, i as u64);
        for _ in 0..f.nodes {
            let Some(id) = self.alloc_id() else { return };
            let at = f.at_s
                + if f.spread_s > 0.0 {
                    f.spread_s * open01(&mut rng)
                } else {
                    0.0
                };
            self.nodes.insert(
                id,
                NodeState {
                    online: false,
                    epoch: 0,
                    kind: Kind::OneShot { src: 1 + i },
                },
            );
            let step = match &f.session {
                Some(d) => {
                    let stay_s = d.sample(&mut rng);
                    Step::JoinThen {
                        stay_s,
                        then: Some(departure(&mut rng, f.graceful_fraction)),
                    }
                }
                None => Step::Join,
            };
            self.push(at, id, 0, step);
        }
    }

    fn handle_mass_failure(&mut self, time: f64, i: usize) {
        let Some(m) = self.scn.inner.spec.mass_failures.get(i).cloned() else {
            return;
        };
        let mut rng = stream(self.run_seed, purpose::CHURN_MASS_FAILURE, i as u64);
        let mut pool: Vec<u32> = self.online.iter().copied().collect();
        let k = ((m.fraction * pool.len() as f64).round() as usize).min(pool.len());
        // Partial Fisher-Yates: the first k entries become a uniform sample.
        for j in 0..k {
            let r = j + below(&mut rng, (pool.len() - j) as u64) as usize;
            pool.swap(j, r);
        }
        let mut victims = pool[..k].to_vec();
        victims.sort_unstable();
        for node in victims {
            self.set_online(node, false);
            self.emit(time, node, ChurnEvent::Fail);
            let Some(state) = self.nodes.get_mut(&node) else {
                continue;
            };
            let traced = matches!(state.kind, Kind::Traced { .. });
            match &m.recovery {
                Recovery::Never => {
                    state.epoch += 1;
                    state.kind = Kind::Gone;
                }
                Recovery::Model => {
                    if traced {
                        // Keep the trace chain; its next departure is dropped.
                        continue;
                    }
                    state.epoch += 1;
                    let mut kind = std::mem::replace(&mut state.kind, Kind::Gone);
                    let back = if let Kind::Alternating(alt) = &mut kind {
                        Some(self.rejoin_time(alt, time))
                    } else {
                        None
                    };
                    if back.is_some() {
                        self.put_kind(node, kind);
                    }
                    if let Some(at) = back {
                        self.schedule_alt_rejoin(node, at);
                    }
                }
                Recovery::After(delay) => {
                    let at = time + delay.sample(&mut rng);
                    if traced {
                        self.push(at, node, 0, Step::Rejoin);
                        continue;
                    }
                    state.epoch += 1;
                    let epoch = state.epoch;
                    let class = match &state.kind {
                        Kind::Alternating(_) => Class::Alternating,
                        Kind::Static => Class::Static,
                        Kind::OneShot { src } => Class::OneShot(*src),
                        Kind::Traced { .. } | Kind::Gone => Class::Other,
                    };
                    match class {
                        Class::Alternating => self.schedule_alt_rejoin(node, at),
                        Class::Static => self.push(at, node, epoch, Step::Join),
                        Class::OneShot(src) => {
                            let (session, graceful) =
                                self.sources.get(src).cloned().unwrap_or((None, 0.0));
                            let step = match session {
                                Some(d) => {
                                    let stay_s = d.sample(&mut rng);
                                    Step::JoinThen {
                                        stay_s,
                                        then: Some(departure(&mut rng, graceful)),
                                    }
                                }
                                None => Step::Join,
                            };
                            self.push(at, node, epoch, step);
                        }
                        Class::Other => {}
                    }
                }
            }
        }
    }
}

impl Iterator for ChurnEvents {
    type Item = ChurnRecord;

    fn next(&mut self) -> Option<ChurnRecord> {
        loop {
            if let Some(r) = self.out.pop_front() {
                return Some(r);
            }
            let p = self.heap.pop()?;
            match p.step {
                Step::Arrival => self.handle_arrival(p.time),
                Step::FlashCrowd(i) => self.handle_flash_crowd(i),
                Step::MassFailure(i) => self.handle_mass_failure(p.time, i),
                step => self.handle_node(p.time, p.node, p.epoch, step),
            }
        }
    }
}

/// Leave with probability `graceful`, else fail. Consumes one draw.
fn departure(rng: &mut StreamRng, graceful: f64) -> ChurnEvent {
    if open01(rng) < graceful {
        ChurnEvent::Leave
    } else {
        ChurnEvent::Fail
    }
}

/// The next arrival after `t` of a Poisson process with mean rate `rate`,
/// modulated by `diurnal` through thinning.
fn next_arrival(t: f64, rng: &mut StreamRng, rate: f64, diurnal: Option<&Diurnal>) -> f64 {
    let peak = rate * diurnal.map_or(1.0, Diurnal::max_multiplier);
    let mut c = t;
    for _ in 0..MAX_THINNING {
        c += -open01(rng).ln() / peak;
        match diurnal {
            None => return c,
            Some(d) => {
                if d.accept(rng, c) {
                    return c;
                }
            }
        }
    }
    c
}

/// A heterogeneous node's own up and down distributions.
fn heterogeneous_dists(h: &HeterogeneousChurn, rng: &mut StreamRng) -> (Dist, Dist) {
    let own = |mean: f64, rng: &mut StreamRng| {
        let population = Dist::shifted_pareto_const(h.shape, mean * (h.shape - 1.0));
        let node_mean = population.sample(rng).max(1e-9);
        Dist::shifted_pareto_const(h.shape, node_mean * (h.shape - 1.0))
    };
    let up = own(h.mean_up_s, rng);
    let down = own(h.mean_down_s, rng);
    (up, down)
}
