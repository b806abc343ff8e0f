//! The call run: churn and call arrivals in time order, relay selection,
//! capacity, failover, and the records.

use super::config::{CallScenarioConfig, CandidateSource, FailoverSpec, StrategySpec};
use super::population::{OnlineSets, Population, class_index};
use super::records::{
    CallRecord, CallReport, Direction, FailureReason, NodeStats, PathType, RelayUse,
    SelectionRecord,
};
use crate::config::InvalidConfig;
use peerlab_churn::streams::stream;
use peerlab_churn::workload::WorkloadEvent;
use peerlab_churn::{ChurnEvent, WorkItem};
use peerlab_core::nat::{Connectivity, RelayKind};
use peerlab_core::relay::{
    AnnoyanceForm, AnnoyanceInputs, Candidate, CodecProfile, RelayCapacity, RelayStrategy,
    SelectionContext,
};
use peerlab_core::rng::{NodeRng, derive_seed};
use rand::{RngExt, SeedableRng};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// A prepared call scenario: the population is built once and every
/// strategy runs on the same sample path (common random numbers).
pub struct CallRun {
    cfg: CallScenarioConfig,
    pop: Population,
}

impl CallRun {
    /// Validates `cfg` and builds the population.
    pub fn new(cfg: &CallScenarioConfig) -> Result<CallRun, InvalidConfig> {
        cfg.validate()?;
        Ok(CallRun {
            cfg: cfg.clone(),
            pop: Population::build(cfg)?,
        })
    }

    /// Runs the scenario with `strategy`.
    pub fn run(&self, strategy: &dyn RelayStrategy) -> Result<CallReport, InvalidConfig> {
        Sim::new(&self.cfg, &self.pop, strategy).run()
    }

    /// Node `node`'s interactivity (an af() input) at time `t_s`.
    pub fn interactivity(&self, node: u32, t_s: f64) -> f64 {
        self.pop
            .interactivity(node, self.pop.interactivity_slot(t_s))
    }

    /// Runs every strategy in `specs` on the same sample path, in order.
    pub fn compare(&self, specs: &[StrategySpec]) -> Result<Vec<CallReport>, InvalidConfig> {
        specs
            .iter()
            .map(|s| {
                let built = s.build();
                self.run(built.as_ref())
            })
            .collect()
    }

    /// Runs the scenario with the configured strategy.
    pub fn run_configured(&self) -> Result<CallReport, InvalidConfig> {
        let s = self.cfg.strategy.build();
        self.run(s.as_ref())
    }
}

/// Validates `cfg`, builds the population and runs `strategy` once.
pub fn run_calls(
    cfg: &CallScenarioConfig,
    strategy: &dyn RelayStrategy,
) -> Result<CallReport, InvalidConfig> {
    CallRun::new(cfg)?.run(strategy)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    End(u64),
    Gone(u64, usize),
    Reselect(u64, Direction),
}

struct Timed {
    t: f64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap pops the earliest, then the first scheduled.
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

struct Leg {
    relay: u32,
    dir: Direction,
    from_s: f64,
    until_s: f64,
    profile: CodecProfile,
    live: bool,
    use_idx: usize,
}

/// A call in progress.
struct Active {
    rec: CallRecord,
    kind: RelayKind,
    legs: Vec<Leg>,
    dirs: Vec<Direction>,
    down_since: [Option<f64>; 3],
    down_total: [f64; 3],
    down_count: u32,
    union_since: f64,
    cand_rng: NodeRng,
    strat_rng: NodeRng,
}

struct Sim<'a> {
    cfg: &'a CallScenarioConfig,
    pop: &'a Population,
    strategy: &'a dyn RelayStrategy,
    profile: CodecProfile,
    form: AnnoyanceForm,
    measure_from: f64,
    caps: Vec<RelayCapacity>,
    legs_on: Vec<u32>,
    last_change: Vec<f64>,
    nodes: Vec<NodeStats>,
    contacts: Vec<Option<Vec<u32>>>,
    online: OnlineSets,
    heap: BinaryHeap<Timed>,
    seq: u64,
    next_id: u64,
    active: BTreeMap<u64, Active>,
    records: Vec<CallRecord>,
    selections: Vec<SelectionRecord>,
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Both => 0,
        Direction::Forward => 1,
        Direction::Reverse => 2,
    }
}

impl<'a> Sim<'a> {
    fn new(
        cfg: &'a CallScenarioConfig,
        pop: &'a Population,
        strategy: &'a dyn RelayStrategy,
    ) -> Self {
        let n = pop.len();
        let cap = RelayCapacity::new(cfg.relay.slots, cfg.relay.uplink_kbps);
        Sim {
            cfg,
            pop,
            strategy,
            profile: cfg.relay.codec.profile(),
            form: cfg.relay.annoyance.form.form(),
            measure_from: pop.scenario.phases().measurement_start_s,
            caps: vec![cap; n],
            legs_on: vec![0; n],
            last_change: vec![0.0; n],
            nodes: pop
                .classes
                .iter()
                .map(|&c| NodeStats {
                    class: Some(c),
                    ..NodeStats::default()
                })
                .collect(),
            contacts: vec![None; n],
            online: OnlineSets::new(n),
            heap: BinaryHeap::new(),
            seq: 0,
            next_id: 0,
            active: BTreeMap::new(),
            records: Vec::new(),
            selections: Vec::new(),
        }
    }

    fn schedule(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Timed {
            t,
            seq: self.seq,
            ev,
        });
    }

    fn run(mut self) -> Result<CallReport, InvalidConfig> {
        let phases = self.pop.scenario.phases();
        let mut items = self.pop.items.iter().copied().peekable();
        loop {
            let heap_t = self.heap.peek().map(|e| e.t);
            let item_t = items.peek().map(WorkItem::time_s);
            let take_heap = match (heap_t, item_t) {
                (Some(h), Some(i)) => h <= i,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_heap {
                let Some(e) = self.heap.pop() else { break };
                match e.ev {
                    Ev::End(id) => {
                        if let Some(a) = self.active.remove(&id) {
                            self.finish(a, e.t, None);
                        }
                    }
                    Ev::Gone(id, leg) => self.on_gone(id, leg, e.t),
                    Ev::Reselect(id, d) => self.on_reselect(id, d, e.t),
                }
                continue;
            }
            let Some(item) = items.next() else { break };
            match item {
                WorkItem::Churn(r) => {
                    let Some(&class) = self.pop.classes.get(r.node as usize) else {
                        continue;
                    };
                    match r.event {
                        ChurnEvent::Join => self.online.insert(r.node, class_index(class)),
                        ChurnEvent::Leave | ChurnEvent::Fail => {
                            self.online.remove(r.node, class_index(class))
                        }
                    }
                }
                WorkItem::Work(w) => {
                    if let WorkloadEvent::Call {
                        caller,
                        callee,
                        duration_s,
                        callee_online,
                    } = w.event
                    {
                        self.on_call(w.time_s, caller, callee, duration_s, callee_online);
                    }
                }
            }
        }
        // Calls still open (none should be: every call has an End event).
        let open: Vec<u64> = self.active.keys().copied().collect();
        for id in open {
            if let Some(a) = self.active.remove(&id) {
                let t = a.rec.start_s + a.rec.nominal_s;
                self.finish(a, t, None);
            }
        }
        let end = phases.end_s;
        for r in 0..self.nodes.len() {
            self.account_annoyance(r as u32, end);
        }
        self.records.sort_by_key(|r| r.id);
        Ok(CallReport {
            strategy: self.strategy.name().to_string(),
            calls: self.records,
            nodes: self.nodes,
            selections: self.selections,
            kbps: self.profile.kbps,
        })
    }

    /// Bytes per second of one media stream.
    fn stream_bps(&self) -> f64 {
        f64::from(self.profile.kbps) * 125.0
    }

    fn session_end(&self, node: u32, t: f64) -> f64 {
        self.pop.timelines[node as usize]
            .session_at(t)
            .map_or(t, |(_, e)| e)
    }

    fn on_call(&mut self, t: f64, caller: u32, callee: u32, duration_s: f64, callee_online: bool) {
        let id = self.next_id;
        self.next_id += 1;
        let measured = t >= self.measure_from;
        let topo = &self.pop.topo;
        let mut rec = CallRecord {
            id,
            caller,
            callee,
            start_s: t,
            nominal_s: duration_s,
            end_s: t,
            measured,
            failure: None,
            ended_by_endpoint: false,
            path: None,
            setup_ms: None,
            lookup_ms: None,
            one_way_ms: None,
            direct_one_way_ms: topo.one_way_ms(caller, callee),
            relays: Vec::new(),
            switches: 0,
            probes: 0,
            interruptions: 0,
            interrupted_s: 0.0,
            frames: 0,
        };
        if measured && let Some(n) = self.nodes.get_mut(caller as usize) {
            n.calls_made += 1;
        }
        let lookup = self
            .pop
            .lookups
            .as_ref()
            .map(|ls| ls.get(id as usize).filter(|l| l.found));
        if let Some(l) = self.pop.lookups.as_ref().and_then(|ls| ls.get(id as usize)) {
            rec.lookup_ms = Some(l.latency_ms).filter(|ms| ms.is_finite());
        }
        if !callee_online || (callee as usize) >= self.pop.len() || lookup == Some(None) {
            rec.failure = Some(FailureReason::UserNotFound);
            self.records.push(rec);
            return;
        }
        let mut end = t + duration_s.max(0.0);
        if self.cfg.relay.end_on_endpoint_departure {
            let e = self.session_end(caller, t).min(self.session_end(callee, t));
            if e < end {
                end = e;
                rec.ended_by_endpoint = true;
            }
        }
        let conn = self.pop.connect(caller, callee);
        let rtt = topo.rtt_ms(caller, callee);
        if conn.is_end_to_end() && !self.cfg.relay.always_relay {
            let punched = conn == Connectivity::Punched;
            rec.path = Some(if punched {
                PathType::Punched
            } else {
                PathType::Direct
            });
            rec.setup_ms = Some(rtt + if punched { rtt } else { 0.0 } + rec.direct_one_way_ms);
            rec.setup_ms = rec.setup_ms.map(|s| s + rec.lookup_ms.unwrap_or(0.0));
            rec.one_way_ms = Some(rec.direct_one_way_ms);
            let a = self.new_active(rec, RelayKind::Udp, vec![Direction::Both]);
            self.finish(a, end, None);
            return;
        }
        let kind = match conn {
            Connectivity::Relay(k, _) => k,
            _ => RelayKind::Udp,
        };
        let dirs = if self.cfg.relay.per_direction {
            vec![Direction::Forward, Direction::Reverse]
        } else {
            vec![Direction::Both]
        };
        let k = match self.cfg.relay.failover {
            FailoverSpec::Active { k } => k as usize,
            FailoverSpec::Passive { .. } => 1,
        };
        let mut a = self.new_active(rec, kind, dirs.clone());
        a.rec.path = Some(match kind {
            RelayKind::Udp => PathType::RelayUdp,
            RelayKind::Tcp => PathType::RelayTcp,
        });
        let mut select_ms: f64 = 0.0;
        for &d in &dirs {
            match self.select(&mut a, t, d, k) {
                Ok(ms) => select_ms = select_ms.max(ms),
                Err(why) => {
                    a.rec.path = None;
                    self.finish(a, t, Some(why));
                    return;
                }
            }
        }
        // One-way delay through the best relay of each direction.
        let mut ow = 0.0;
        for &d in &dirs {
            let best = a
                .legs
                .iter()
                .filter(|l| l.dir == d)
                .map(|l| topo.one_way_ms(caller, l.relay) + topo.one_way_ms(l.relay, callee))
                .fold(f64::INFINITY, f64::min);
            ow += best;
        }
        let ow = ow / dirs.len() as f64;
        a.rec.one_way_ms = Some(ow);
        a.rec.setup_ms = Some(rtt + select_ms + ow + a.rec.lookup_ms.unwrap_or(0.0));
        self.schedule(end, Ev::End(id));
        for i in 0..a.legs.len() {
            if a.legs[i].until_s < end {
                self.schedule(a.legs[i].until_s, Ev::Gone(id, i));
            }
        }
        self.active.insert(id, a);
    }

    fn new_active(&self, rec: CallRecord, kind: RelayKind, dirs: Vec<Direction>) -> Active {
        let id = rec.id;
        Active {
            rec,
            kind,
            legs: Vec::new(),
            dirs,
            down_since: [None; 3],
            down_total: [0.0; 3],
            down_count: 0,
            union_since: 0.0,
            cand_rng: NodeRng::seed_from_u64(derive_seed(self.cfg.seed, "calls.candidates", id)),
            strat_rng: NodeRng::seed_from_u64(derive_seed(self.cfg.seed, "calls.strategy", id)),
        }
    }

    fn contacts_of(&mut self, node: u32) -> &[u32] {
        let n = self.pop.len() as u32;
        let size = self.cfg.relay.routing_table;
        let seed = self.cfg.seed;
        self.contacts[node as usize].get_or_insert_with(|| {
            let mut r = stream(seed, "calls.contacts", u64::from(node));
            let others = n.saturating_sub(1);
            if size >= others {
                return (0..n).filter(|&x| x != node).collect();
            }
            let mut set = BTreeSet::new();
            while (set.len() as u32) < size {
                let x = r.random_range(0..n);
                if x != node {
                    set.insert(x);
                }
            }
            set.into_iter().collect()
        })
    }

    fn inputs(&self, r: u32, slot: u64) -> AnnoyanceInputs {
        let a = &self.cfg.relay.annoyance;
        let cap = &self.caps[r as usize];
        let used = cap.uplink_kbps.saturating_sub(cap.spare_kbps());
        AnnoyanceInputs {
            cpu: a.cpu_base + a.cpu_per_call * f64::from(self.legs_on[r as usize]),
            bandwidth: if cap.uplink_kbps == 0 {
                1.0
            } else {
                f64::from(used) / f64::from(cap.uplink_kbps)
            },
            interactivity: self.pop.interactivity(r, slot),
        }
    }

    /// Adds the time `r` spent relaying while af() said annoyed, from its
    /// last load change to `t` (measurement phase only). Its load was
    /// constant over that span; interactivity changes per period, so the
    /// span is walked period by period.
    fn account_annoyance(&mut self, r: u32, t: f64) {
        let i = r as usize;
        let from = self.last_change[i].max(self.measure_from);
        self.last_change[i] = self.last_change[i].max(t);
        if self.legs_on[i] == 0 || t <= from {
            return;
        }
        let p = self.pop.interactivity_period_s;
        let mut total = 0.0;
        if p > 0.0 {
            let mut k = self.pop.interactivity_slot(from);
            loop {
                let lo = (k as f64 * p).max(from);
                let hi = ((k + 1) as f64 * p).min(t);
                if hi > lo && self.form.annoyed(&self.inputs(r, k)) {
                    total += hi - lo;
                }
                if (k + 1) as f64 * p >= t {
                    break;
                }
                k += 1;
            }
        } else if self.form.annoyed(&self.inputs(r, 0)) {
            total = t - from;
        }
        self.nodes[i].annoyed_s += total;
    }

    /// Chooses up to `k` relays for direction `d` of call `a` at `t` and
    /// admits them. Returns the time the selection took, ms.
    fn select(
        &mut self,
        a: &mut Active,
        t: f64,
        d: Direction,
        k: usize,
    ) -> Result<f64, FailureReason> {
        let (caller, callee) = (a.rec.caller, a.rec.callee);
        let (from, to) = if d == Direction::Reverse {
            (callee, caller)
        } else {
            (caller, callee)
        };
        let ok = self.pop.relay_classes(a.kind, from, to);
        let mut exclude = vec![caller, callee];
        exclude.extend(a.legs.iter().filter(|l| l.live).map(|l| l.relay));
        let picked: Vec<u32> = match self.cfg.relay.candidates {
            CandidateSource::LocalRandom { count } => {
                self.online
                    .sample(&ok, count as usize, &exclude, &mut a.cand_rng)
            }
            CandidateSource::Contacts => {
                let list = self.contacts_of(from).to_vec();
                list.into_iter()
                    .filter(|&x| {
                        self.online.contains(x)
                            && ok[class_index(self.pop.classes[x as usize])]
                            && !exclude.contains(&x)
                    })
                    .collect()
            }
        };
        let topo = &self.pop.topo;
        let mut nodes = Vec::with_capacity(picked.len());
        let mut cands = Vec::with_capacity(picked.len());
        for &r in &picked {
            let Some((s, e)) = self.pop.timelines[r as usize].session_at(t) else {
                continue;
            };
            let in_table = self.contacts_of(from).binary_search(&r).is_ok();
            let cap = self.caps[r as usize];
            cands.push(Candidate {
                id: u64::from(r),
                rtt_caller_ms: topo.rtt_ms(from, r),
                rtt_callee_ms: topo.rtt_ms(r, to),
                loss: 0.0,
                free_slots: cap.free_slots(),
                spare_uplink_kbps: cap.spare_kbps(),
                uptime_s: t - s,
                as_number: topo.as_number(r),
                prefix: topo.address(r),
                load: cap.load(),
                in_routing_table: in_table,
                annoyance: self.inputs(r, self.pop.interactivity_slot(t)),
            });
            nodes.push((r, e));
        }
        if cands.is_empty() {
            return Err(FailureReason::NoConnectivity);
        }
        let measured = a.rec.measured;
        if measured {
            for &(r, _) in &nodes {
                self.nodes[r as usize].offered += 1;
            }
        }
        let profile = if d == Direction::Both {
            self.profile
        } else {
            CodecProfile {
                name: self.profile.name,
                kbps: self.profile.kbps.div_ceil(2),
            }
        };
        let ctx = SelectionContext {
            k,
            profile,
            constraints: self.cfg.relay.constraints.constraints(),
            caller_as: topo.as_number(from),
            callee_as: topo.as_number(to),
            caller_prefix: topo.address(from),
            callee_prefix: topo.address(to),
            direct_rtt_ms: Some(topo.rtt_ms(from, to)),
        };
        let sel = self.strategy.choose(&cands, &ctx, &mut a.strat_rng);
        a.rec.probes = a.rec.probes.saturating_add(sel.probes);
        // Probing: measure-all strategies probe in parallel (the slowest
        // answer counts); ordered trial probes one by one (the mean RTT of
        // the set per probe).
        let rtts: Vec<f64> = cands.iter().map(|c| c.rtt_caller_ms).collect();
        let probe_ms = if sel.probes as usize >= cands.len() {
            rtts.iter().copied().fold(0.0, f64::max)
        } else {
            f64::from(sel.probes) * rtts.iter().sum::<f64>() / rtts.len() as f64
        };
        let mut alloc_ms: f64 = 0.0;
        let mut first_spare = None;
        for &i in &sel.chosen {
            let Some(&(r, until)) = nodes.get(i) else {
                continue;
            };
            if self.caps[r as usize].admit(profile).is_err() {
                continue;
            }
            self.account_annoyance(r, t);
            self.legs_on[r as usize] += 1;
            if first_spare.is_none() {
                first_spare = Some(self.caps[r as usize].spare_kbps());
            }
            alloc_ms = alloc_ms.max(cands[i].rtt_caller_ms);
            if measured {
                let n = &mut self.nodes[r as usize];
                n.relayed_calls += 1;
                if a.kind == RelayKind::Tcp {
                    n.relayed_tcp += 1;
                }
            }
            a.rec.relays.push(RelayUse {
                node: r,
                direction: d,
                from_s: t,
                to_s: t,
                departed: false,
            });
            a.legs.push(Leg {
                relay: r,
                dir: d,
                from_s: t,
                until_s: until,
                profile,
                live: true,
                use_idx: a.rec.relays.len() - 1,
            });
        }
        if measured {
            self.selections.push(SelectionRecord {
                call: a.rec.id,
                offered: cands.len() as u32,
                probes: sel.probes,
                spare_kbps: first_spare,
            });
        }
        if first_spare.is_none() {
            return Err(FailureReason::RelayRefused);
        }
        Ok(probe_ms + alloc_ms)
    }

    fn release(&mut self, a: &mut Active, i: usize, t: f64, departed: bool) {
        let bps = self.stream_bps();
        let leg = &mut a.legs[i];
        if !leg.live {
            return;
        }
        leg.live = false;
        let r = leg.relay;
        self.caps[r as usize].release(leg.profile);
        self.account_annoyance(r, t);
        self.legs_on[r as usize] = self.legs_on[r as usize].saturating_sub(1);
        let u = &mut a.rec.relays[leg.use_idx];
        u.to_s = t;
        u.departed = departed;
        if a.rec.measured {
            // Received and sent: twice the streams it forwards.
            let bytes = 2.0 * f64::from(leg.dir.streams()) * bps * (t - leg.from_s).max(0.0);
            let n = &mut self.nodes[r as usize];
            n.relayed_bytes += bytes.round() as u64;
            if a.kind == RelayKind::Tcp {
                n.relayed_tcp_bytes += bytes.round() as u64;
            }
        }
    }

    fn go_down(a: &mut Active, d: Direction, t: f64) {
        let i = dir_index(d);
        if a.down_since[i].is_none() {
            a.down_since[i] = Some(t);
            if a.down_count == 0 {
                a.union_since = t;
            }
            a.down_count += 1;
            a.rec.interruptions += 1;
        }
    }

    fn come_up(a: &mut Active, d: Direction, t: f64) {
        let i = dir_index(d);
        if let Some(s) = a.down_since[i].take() {
            a.down_total[i] += t - s;
            a.down_count -= 1;
            if a.down_count == 0 {
                a.rec.interrupted_s += t - a.union_since;
            }
        }
    }

    fn on_gone(&mut self, id: u64, leg: usize, t: f64) {
        let Some(mut a) = self.active.remove(&id) else {
            return;
        };
        if !a.legs.get(leg).is_some_and(|l| l.live) {
            self.active.insert(id, a);
            return;
        }
        self.release(&mut a, leg, t, true);
        let d = a.legs[leg].dir;
        if a.legs.iter().any(|l| l.live && l.dir == d) {
            self.active.insert(id, a);
            return;
        }
        match self.cfg.relay.failover {
            FailoverSpec::Active { .. } => self.finish(a, t, Some(FailureReason::RelayLost)),
            FailoverSpec::Passive { detect_s, .. } => {
                Self::go_down(&mut a, d, t);
                let end = a.rec.start_s + a.rec.nominal_s;
                let resume = t + detect_s;
                if resume < self.call_end(&a, end) {
                    self.schedule(resume, Ev::Reselect(id, d));
                }
                self.active.insert(id, a);
            }
        }
    }

    /// The end the call was scheduled with (nominal, or an endpoint's
    /// departure).
    fn call_end(&self, a: &Active, nominal_end: f64) -> f64 {
        if self.cfg.relay.end_on_endpoint_departure {
            nominal_end
                .min(self.session_end(a.rec.caller, a.rec.start_s))
                .min(self.session_end(a.rec.callee, a.rec.start_s))
        } else {
            nominal_end
        }
    }

    fn on_reselect(&mut self, id: u64, d: Direction, t: f64) {
        let Some(mut a) = self.active.remove(&id) else {
            return;
        };
        a.rec.switches += 1;
        let max = match self.cfg.relay.failover {
            FailoverSpec::Passive { max_switches, .. } => max_switches,
            FailoverSpec::Active { .. } => 0,
        };
        if a.rec.switches > max {
            self.finish(a, t, Some(FailureReason::RelayLost));
            return;
        }
        let before = a.legs.len();
        match self.select(&mut a, t, d, 1) {
            Ok(_) => {
                Self::come_up(&mut a, d, t);
                let end = self.call_end(&a, a.rec.start_s + a.rec.nominal_s);
                for i in before..a.legs.len() {
                    if a.legs[i].until_s < end {
                        self.schedule(a.legs[i].until_s, Ev::Gone(id, i));
                    }
                }
                self.active.insert(id, a);
            }
            Err(_) => self.finish(a, t, Some(FailureReason::RelayLost)),
        }
    }

    fn finish(&mut self, mut a: Active, t: f64, failure: Option<FailureReason>) {
        for i in 0..a.legs.len() {
            self.release(&mut a, i, t, false);
        }
        for d in a.dirs.clone() {
            Self::come_up(&mut a, d, t);
        }
        a.rec.end_s = t;
        a.rec.failure = failure;
        if failure.is_some() && failure != Some(FailureReason::RelayLost) {
            // Never set up: no media.
            self.records.push(a.rec);
            return;
        }
        let bps = self.stream_bps();
        let frame_s = self.cfg.relay.frame_ms / 1000.0;
        let length = (t - a.rec.start_s).max(0.0);
        let mut media_bytes = 0.0;
        for &d in &a.dirs {
            let media = (length - a.down_total[dir_index(d)]).max(0.0);
            let streams = f64::from(d.streams());
            a.rec.frames += (streams * (media / frame_s + 1e-9).floor()) as u64;
            media_bytes += streams * bps * media;
        }
        if a.rec.measured {
            let b = media_bytes.round() as u64;
            self.nodes[a.rec.caller as usize].own_bytes += b;
            self.nodes[a.rec.callee as usize].callee_bytes += b;
        }
        self.records.push(a.rec);
    }
}
