//! Workload generators: lookups, registrations and calls, driven by churn.
//!
//! A [`WorkloadDriver`] wraps a churn event stream and merges into it the
//! workload of the nodes that are online: per-node Poisson lookups, SIP-style
//! registration refreshes and expiries, and Poisson call arrivals with a
//! duration distribution and a callee choice. The output is one time-ordered
//! stream of [`WorkItem`]s, churn and workload together.
//!
//! Each node's lookups, calls and buddy list draw from their own streams
//! (see [`crate::streams`]), never from the churn streams, so changing a
//! workload rate changes no churn event.
//!
//! ```toml
//! [workload]
//! lookups = { rate_per_s = 0.0016667 }
//! registration = { refresh_s = 3600.0, expires_s = 7200.0, read_interval_s = 600.0 }
//! calls = { rate_per_s = 0.0002, callee = { kind = "buddies", count = 20 } }
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::iter::Peekable;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::dist::Dist;
use crate::error::{InvalidParam, positive};
use crate::event::{ChurnEvent, ChurnRecord};
use crate::presets::skype_call_duration;
use crate::streams::{StreamRng, below, open01, purpose, stream};

/// The workload section of an experiment spec; absent parts generate nothing.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Per-node Poisson lookups.
    #[serde(default)]
    pub lookups: Option<LookupWorkload>,
    /// Registration refreshes.
    #[serde(default)]
    pub registration: Option<RegistrationWorkload>,
    /// Calls.
    #[serde(default)]
    pub calls: Option<CallWorkload>,
}

/// Each online node issues lookups as a Poisson process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupWorkload {
    /// Lookups per second per online node.
    pub rate_per_s: f64,
}

/// SIP REGISTER semantics: a node registers when it joins and refreshes
/// every `refresh_s` while online; its binding expires `expires_s` after the
/// last registration unless it registers again first.
///
/// Optionally, every online node also *reads* registrations: a Poisson
/// process with mean gap `read_interval_s`, each read naming a user drawn
/// uniformly from the whole population (offline users included, so reads
/// of expired and removed bindings happen too). Reads draw from their own
/// stream ([`crate::streams::purpose::WORKLOAD_REGISTRATION_READ`]), so the
/// read rate changes no churn event, lookup or call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationWorkload {
    /// Refresh interval (> 0, < `expires_s`).
    pub refresh_s: f64,
    /// Binding lifetime after a registration.
    pub expires_s: f64,
    /// Mean time between two reads by one online node, in seconds (> 0);
    /// none: no reads.
    #[serde(default)]
    pub read_interval_s: Option<f64>,
}

/// Each online node places calls as a Poisson process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallWorkload {
    /// Calls per second per online node.
    pub rate_per_s: f64,
    /// Call durations; default [`skype_call_duration`] (exponential, 95th
    /// percentile 60 min).
    #[serde(default = "skype_call_duration")]
    pub duration: Dist,
    /// How the callee is chosen.
    #[serde(default)]
    pub callee: CalleeChoice,
}

/// How a caller picks the callee.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CalleeChoice {
    /// Uniformly among the other nodes online at the time; no call is placed
    /// when the caller is alone.
    #[default]
    Uniform,
    /// Uniformly from the caller's own buddy list: `count` distinct other
    /// nodes drawn once, uniformly, from the population. A buddy may be
    /// offline; the call event says so.
    Buddies {
        /// Buddies per user.
        count: u32,
    },
}

impl WorkloadSpec {
    /// Checks every rate and interval; the error names the field.
    pub fn validate(&self) -> Result<(), InvalidParam> {
        if let Some(l) = &self.lookups {
            positive("lookups.rate_per_s", l.rate_per_s)?;
        }
        if let Some(r) = &self.registration {
            positive("registration.refresh_s", r.refresh_s)?;
            positive("registration.expires_s", r.expires_s)?;
            if r.refresh_s >= r.expires_s {
                return Err(InvalidParam::new(
                    "registration.refresh_s",
                    r.refresh_s,
                    format!(
                        "less than expires_s ({}), or bindings lapse while online",
                        r.expires_s
                    ),
                ));
            }
            if let Some(g) = r.read_interval_s {
                positive("registration.read_interval_s", g)?;
            }
        }
        if let Some(c) = &self.calls {
            positive("calls.rate_per_s", c.rate_per_s)?;
            c.duration.check_duration("calls.duration")?;
            if let CalleeChoice::Buddies { count: 0 } = c.callee {
                return Err(InvalidParam::new(
                    "calls.callee.count",
                    0,
                    "at least 1 buddy",
                ));
            }
        }
        Ok(())
    }
}

/// A workload event.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkloadEvent {
    /// `node` looks up a key; `key` is 64 uniform random bits for the
    /// simulator to turn into a key.
    Lookup {
        /// The node.
        node: u32,
        /// Random bits for the key.
        key: u64,
    },
    /// `node` registers (or refreshes its registration).
    Register {
        /// The node.
        node: u32,
    },
    /// `node`'s binding expires: it went offline and did not refresh.
    Expire {
        /// The node.
        node: u32,
    },
    /// `node` reads the registration of `user` (a node index: each node is
    /// one user's only device), who may be offline.
    Read {
        /// The reading node.
        node: u32,
        /// The user read, uniform over the population.
        user: u32,
    },
    /// `caller` calls `callee` for `duration_s`.
    Call {
        /// The caller.
        caller: u32,
        /// The callee.
        callee: u32,
        /// Call duration, in seconds.
        duration_s: f64,
        /// Whether the callee is online when the call is placed.
        callee_online: bool,
    },
}

/// A workload event at a time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRecord {
    /// Simulated time, in seconds.
    pub time_s: f64,
    /// The event.
    pub event: WorkloadEvent,
}

/// One item of the merged stream.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorkItem {
    /// A churn event, passed through unchanged.
    Churn(ChurnRecord),
    /// A workload event.
    Work(WorkloadRecord),
}

impl WorkItem {
    /// The item's time.
    pub fn time_s(&self) -> f64 {
        match self {
            WorkItem::Churn(r) => r.time_s,
            WorkItem::Work(w) => w.time_s,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    Lookup,
    Refresh,
    Expire,
    Call,
    Read,
}

#[derive(Debug)]
struct Pending {
    time: f64,
    node: u32,
    seq: u64,
    epoch: u32,
    task: Task,
}

impl Pending {
    fn key_cmp(&self, o: &Pending) -> Ordering {
        self.time
            .total_cmp(&o.time)
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
    fn cmp(&self, o: &Self) -> Ordering {
        o.key_cmp(self)
    }
}

#[derive(Debug, Default)]
struct NodeWork {
    online: bool,
    /// Bumped on every departure; cancels lookups, refreshes and calls.
    epoch: u32,
    /// Bumped on every join; cancels a pending expiry.
    expire_epoch: u32,
    last_register: f64,
    lookup_rng: Option<StreamRng>,
    call_rng: Option<StreamRng>,
    read_rng: Option<StreamRng>,
    buddies: Option<Vec<u32>>,
}

/// Merges workload into a churn stream; see the module documentation.
#[derive(Debug)]
pub struct WorkloadDriver<I: Iterator<Item = ChurnRecord>> {
    churn: Peekable<I>,
    spec: WorkloadSpec,
    run_seed: u64,
    end_s: f64,
    population: u32,
    heap: BinaryHeap<Pending>,
    nodes: BTreeMap<u32, NodeWork>,
    /// Online nodes, sorted, for uniform callee choice.
    online: Vec<u32>,
    max_seen: Option<u32>,
    seq: u64,
    pending_out: Option<WorkItem>,
}

/// Exponential gap with the given rate.
fn exp_gap<R: Rng + ?Sized>(rng: &mut R, rate: f64) -> f64 {
    -open01(rng).ln() / rate
}

/// `count` distinct nodes from `0..population`, excluding `me`, in
/// increasing order.
fn draw_buddies(rng: &mut StreamRng, me: u32, population: u32, count: u32) -> Vec<u32> {
    let others = population.saturating_sub(u32::from(me < population));
    if count >= others {
        return (0..population).filter(|&n| n != me).collect();
    }
    let mut set = BTreeSet::new();
    while (set.len() as u32) < count {
        let n = below(rng, u64::from(population)) as u32;
        if n != me {
            set.insert(n);
        }
    }
    set.into_iter().collect()
}

impl<I: Iterator<Item = ChurnRecord>> WorkloadDriver<I> {
    /// A driver over `churn` (time-ordered) that stops at `end_s`. The spec
    /// must have passed [`WorkloadSpec::validate`].
    pub fn new(
        churn: I,
        spec: WorkloadSpec,
        run_seed: u64,
        end_s: f64,
    ) -> Result<Self, InvalidParam> {
        spec.validate()?;
        Ok(WorkloadDriver {
            churn: churn.peekable(),
            spec,
            run_seed,
            end_s,
            population: 0,
            heap: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            online: Vec::new(),
            max_seen: None,
            seq: 0,
            pending_out: None,
        })
    }

    /// Buddy lists are drawn from nodes `0..population`. Without this, a
    /// list is drawn from the ids seen so far when the node first calls.
    pub fn with_population(mut self, population: u32) -> Self {
        self.population = population;
        self
    }

    fn push(&mut self, time: f64, node: u32, epoch: u32, task: Task) {
        if time < self.end_s {
            self.seq += 1;
            self.heap.push(Pending {
                time,
                node,
                seq: self.seq,
                epoch,
                task,
            });
        }
    }

    fn on_churn(&mut self, r: ChurnRecord) {
        self.max_seen = Some(self.max_seen.map_or(r.node, |m| m.max(r.node)));
        let run_seed = self.run_seed;
        let w = self.nodes.entry(r.node).or_default();
        match r.event {
            ChurnEvent::Join => {
                if w.online {
                    return;
                }
                w.online = true;
                w.expire_epoch += 1;
                let epoch = w.epoch;
                if let Err(i) = self.online.binary_search(&r.node) {
                    self.online.insert(i, r.node);
                }
                let mut next = Vec::new();
                if let Some(l) = &self.spec.lookups {
                    let rng = w.lookup_rng.get_or_insert_with(|| {
                        stream(run_seed, purpose::WORKLOAD_LOOKUP, u64::from(r.node))
                    });
                    next.push((r.time_s + exp_gap(rng, l.rate_per_s), Task::Lookup));
                }
                if let Some(c) = &self.spec.calls {
                    let rng = w.call_rng.get_or_insert_with(|| {
                        stream(run_seed, purpose::WORKLOAD_CALL, u64::from(r.node))
                    });
                    next.push((r.time_s + exp_gap(rng, c.rate_per_s), Task::Call));
                }
                if let Some(g) = self
                    .spec
                    .registration
                    .as_ref()
                    .and_then(|reg| reg.read_interval_s)
                {
                    let rng = w.read_rng.get_or_insert_with(|| {
                        stream(
                            run_seed,
                            purpose::WORKLOAD_REGISTRATION_READ,
                            u64::from(r.node),
                        )
                    });
                    next.push((r.time_s + exp_gap(rng, 1.0 / g), Task::Read));
                }
                if let Some(reg) = &self.spec.registration {
                    w.last_register = r.time_s;
                    next.push((r.time_s + reg.refresh_s, Task::Refresh));
                    self.pending_out = Some(WorkItem::Work(WorkloadRecord {
                        time_s: r.time_s,
                        event: WorkloadEvent::Register { node: r.node },
                    }));
                }
                for (t, task) in next {
                    self.push(t, r.node, epoch, task);
                }
            }
            ChurnEvent::Leave | ChurnEvent::Fail => {
                if !w.online {
                    return;
                }
                w.online = false;
                w.epoch += 1;
                let eepoch = w.expire_epoch;
                let last = w.last_register;
                if let Ok(i) = self.online.binary_search(&r.node) {
                    self.online.remove(i);
                }
                if let Some(reg) = &self.spec.registration {
                    let at = (last + reg.expires_s).max(r.time_s);
                    self.push(at, r.node, eepoch, Task::Expire);
                }
            }
        }
    }

    fn on_task(&mut self, p: Pending) -> Option<WorkloadRecord> {
        let population = if self.population > 0 {
            self.population
        } else {
            self.max_seen.map_or(0, |m| m + 1)
        };
        let run_seed = self.run_seed;
        let w = self.nodes.get_mut(&p.node)?;
        if p.task == Task::Expire {
            return (p.epoch == w.expire_epoch && !w.online).then_some(WorkloadRecord {
                time_s: p.time,
                event: WorkloadEvent::Expire { node: p.node },
            });
        }
        if p.epoch != w.epoch || !w.online {
            return None;
        }
        let epoch = w.epoch;
        match p.task {
            Task::Lookup => {
                let rate = self.spec.lookups.as_ref()?.rate_per_s;
                let rng = w.lookup_rng.as_mut()?;
                let key = rng.next_u64();
                let next = p.time + exp_gap(rng, rate);
                self.push(next, p.node, epoch, Task::Lookup);
                Some(WorkloadRecord {
                    time_s: p.time,
                    event: WorkloadEvent::Lookup { node: p.node, key },
                })
            }
            Task::Refresh => {
                let refresh = self.spec.registration.as_ref()?.refresh_s;
                w.last_register = p.time;
                self.push(p.time + refresh, p.node, epoch, Task::Refresh);
                Some(WorkloadRecord {
                    time_s: p.time,
                    event: WorkloadEvent::Register { node: p.node },
                })
            }
            Task::Call => {
                let c = self.spec.calls.as_ref()?;
                let rng = w.call_rng.as_mut()?;
                let duration_s = c.duration.sample(rng);
                let callee = match c.callee {
                    CalleeChoice::Uniform => {
                        let others = self.online.len().saturating_sub(1);
                        if others == 0 {
                            None
                        } else {
                            let j = below(rng, others as u64) as usize;
                            // The j-th online node other than the caller.
                            let me = self.online.binary_search(&p.node).unwrap_or(usize::MAX);
                            Some(self.online[if j >= me { j + 1 } else { j }])
                        }
                    }
                    CalleeChoice::Buddies { count } => {
                        if w.buddies.is_none() {
                            let mut brng =
                                stream(run_seed, purpose::WORKLOAD_BUDDIES, u64::from(p.node));
                            w.buddies = Some(draw_buddies(&mut brng, p.node, population, count));
                        }
                        let b = w.buddies.as_deref().unwrap_or(&[]);
                        if b.is_empty() {
                            None
                        } else {
                            Some(b[below(rng, b.len() as u64) as usize])
                        }
                    }
                };
                let next = p.time + exp_gap(rng, c.rate_per_s);
                self.push(next, p.node, epoch, Task::Call);
                let callee = callee?;
                let callee_online = self.online.binary_search(&callee).is_ok();
                Some(WorkloadRecord {
                    time_s: p.time,
                    event: WorkloadEvent::Call {
                        caller: p.node,
                        callee,
                        duration_s,
                        callee_online,
                    },
                })
            }
            Task::Read => {
                let g = self.spec.registration.as_ref()?.read_interval_s?;
                let rng = w.read_rng.as_mut()?;
                let user = (population > 0).then(|| below(rng, u64::from(population)) as u32);
                let next = p.time + exp_gap(rng, 1.0 / g);
                self.push(next, p.node, epoch, Task::Read);
                Some(WorkloadRecord {
                    time_s: p.time,
                    event: WorkloadEvent::Read {
                        node: p.node,
                        user: user?,
                    },
                })
            }
            Task::Expire => None,
        }
    }
}

impl<I: Iterator<Item = ChurnRecord>> Iterator for WorkloadDriver<I> {
    type Item = WorkItem;

    fn next(&mut self) -> Option<WorkItem> {
        loop {
            if let Some(item) = self.pending_out.take() {
                return Some(item);
            }
            let churn_t = self
                .churn
                .peek()
                .map(|r| r.time_s)
                .filter(|&t| t < self.end_s);
            let task_t = self.heap.peek().map(|p| p.time);
            // Churn goes first at equal times, so a departure cancels work
            // scheduled for the same instant.
            let take_churn = match (churn_t, task_t) {
                (Some(c), Some(t)) => c <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            if take_churn {
                let r = self.churn.next()?;
                self.on_churn(r);
                return Some(WorkItem::Churn(r));
            }
            let p = self.heap.pop()?;
            if let Some(w) = self.on_task(p) {
                return Some(WorkItem::Work(w));
            }
        }
    }
}
