//! The population of a call run: who is online when, behind which NAT, in
//! which AS, and which online nodes could relay a given call.

use super::config::{CallScenarioConfig, ConnectivityRules, NatSource, churn_error};
use super::lookup;
use crate::config::{InvalidConfig, invalid};
use crate::records::CallLookup;
use crate::relay::Timeline;
use crate::topology::Topology;
use peerlab_churn::event::up_intervals;
use peerlab_churn::{ChurnScenario, NatClass, WorkItem, WorkloadDriver, WorkloadSpec};
use peerlab_core::nat::{Connectivity, RelayKind, blog_connectivity, connectivity};
use peerlab_core::rng::{NodeRng, derive_seed};
use rand::RngExt;

/// Index of a class in [`NatClass::ALL`].
pub(crate) fn class_index(c: NatClass) -> usize {
    NatClass::ALL.iter().position(|&x| x == c).unwrap_or(0)
}

/// Everything about the nodes that does not depend on the strategy.
pub(crate) struct Population {
    pub scenario: ChurnScenario,
    pub classes: Vec<NatClass>,
    pub timelines: Vec<Timeline>,
    pub topo: Topology,
    interactivity_seed: u64,
    max_interactivity: f64,
    pub interactivity_period_s: f64,
    pub rules: ConnectivityRules,
    /// The merged churn and call stream, identical for every strategy, so
    /// it is generated once.
    pub items: Vec<WorkItem>,
    /// With `lookup`: each call's DHT lookup, indexed by call position.
    pub lookups: Option<Vec<CallLookup>>,
}

impl Population {
    /// Builds the population: one pass over the churn events gives each
    /// node's up periods and the population size.
    pub fn build(cfg: &CallScenarioConfig) -> Result<Population, InvalidConfig> {
        let scenario = cfg.churn.build().map_err(churn_error)?;
        let mut events = scenario.events(cfg.seed);
        let records: Vec<_> = events.by_ref().collect();
        let n = events.id_bound().max(cfg.churn.nodes);
        let mut ups: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n as usize];
        for iv in up_intervals(&records) {
            if let Some(v) = ups.get_mut(iv.node as usize) {
                v.push((iv.start_s, iv.end_s.unwrap_or(f64::INFINITY)));
            }
        }
        let timelines = ups.into_iter().map(Timeline::from_ups).collect();
        let classes = match cfg.nat_source()? {
            NatSource::Flat(mix) if cfg.nat_exact => mix.assign_exact(cfg.seed, n),
            NatSource::Flat(mix) => (0..n).map(|i| mix.class_of(cfg.seed, i)).collect(),
            NatSource::Grouped(model) => (0..n).map(|i| model.assign(cfg.seed, i).1).collect(),
        };
        let topo = Topology::build(&cfg.topology, n, cfg.seed)?;
        let spec = WorkloadSpec {
            calls: Some(cfg.calls.clone()),
            ..WorkloadSpec::default()
        };
        let items: Vec<WorkItem> = WorkloadDriver::new(
            scenario.events(cfg.seed),
            spec,
            cfg.seed,
            scenario.phases().end_s,
        )
        .map_err(|e| invalid(&e.param, e.value, &e.expected))?
        .with_population(n)
        .collect();
        let lookups = match &cfg.lookup {
            Some(spec) => Some(lookup::join(&items, lookup::call_lookups(cfg, spec)?)?),
            None => None,
        };
        Ok(Population {
            items,
            lookups,
            scenario,
            classes,
            timelines,
            topo,
            interactivity_seed: derive_seed(cfg.seed, "calls.interactivity", 0),
            max_interactivity: cfg.relay.annoyance.max_interactivity,
            interactivity_period_s: cfg.relay.annoyance.interactivity_period_s,
            rules: cfg.rules,
        })
    }

    /// The period of interactivity draws that `t` falls in (0 when
    /// interactivity never changes).
    pub fn interactivity_slot(&self, t: f64) -> u64 {
        if self.interactivity_period_s > 0.0 {
            (t / self.interactivity_period_s).floor().max(0.0) as u64
        } else {
            0
        }
    }

    /// Node `r`'s interactivity during period `slot`: a hash of the seed,
    /// the node and the period, so it costs O(1) and no state.
    pub fn interactivity(&self, r: u32, slot: u64) -> f64 {
        let mut key = [0u8; 12];
        key[..4].copy_from_slice(&r.to_le_bytes());
        key[4..].copy_from_slice(&slot.to_le_bytes());
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(&key, self.interactivity_seed);
        self.max_interactivity * ((h >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// Number of node ids.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// How `a` and `b` connect under the configured rules.
    pub fn connect(&self, a: u32, b: u32) -> Connectivity {
        let (x, y) = (self.classes[a as usize], self.classes[b as usize]);
        self.connect_classes(x, y)
    }

    pub fn connect_classes(&self, x: NatClass, y: NatClass) -> Connectivity {
        match self.rules {
            ConnectivityRules::Rfc4787 => connectivity(x.into(), y.into()),
            ConnectivityRules::Blog => {
                blog_connectivity(x.blog_class().into(), y.blog_class().into())
            }
        }
    }

    /// Which classes may relay a call of `kind` between `a` and `b`: a TCP
    /// relay must be a public node (it accepts TCP from the UDP-blocked
    /// side and reaches the other side either way); a UDP relay must reach
    /// both ends end to end under the oracle.
    pub fn relay_classes(&self, kind: RelayKind, a: u32, b: u32) -> [bool; 6] {
        let mut ok = [false; 6];
        for (i, &c) in NatClass::ALL.iter().enumerate() {
            ok[i] = match kind {
                RelayKind::Tcp => c == NatClass::Open,
                RelayKind::Udp => {
                    c != NatClass::UdpBlocked
                        && self
                            .connect_classes(self.classes[a as usize], c)
                            .is_end_to_end()
                        && self
                            .connect_classes(c, self.classes[b as usize])
                            .is_end_to_end()
                }
            };
        }
        ok
    }
}

/// The online nodes, one set per NAT class, each sampled uniformly in O(1).
pub(crate) struct OnlineSets {
    sets: [Vec<u32>; 6],
    pos: Vec<u32>,
}

const ABSENT: u32 = u32::MAX;

impl OnlineSets {
    pub fn new(n: usize) -> Self {
        OnlineSets {
            sets: Default::default(),
            pos: vec![ABSENT; n],
        }
    }

    pub fn insert(&mut self, node: u32, class: usize) {
        if self.pos[node as usize] != ABSENT {
            return;
        }
        self.pos[node as usize] = self.sets[class].len() as u32;
        self.sets[class].push(node);
    }

    pub fn remove(&mut self, node: u32, class: usize) {
        let p = self.pos[node as usize];
        if p == ABSENT {
            return;
        }
        let set = &mut self.sets[class];
        set.swap_remove(p as usize);
        if let Some(&moved) = set.get(p as usize) {
            self.pos[moved as usize] = p;
        }
        self.pos[node as usize] = ABSENT;
    }

    pub fn contains(&self, node: u32) -> bool {
        self.pos.get(node as usize).is_some_and(|&p| p != ABSENT)
    }

    /// Up to `count` distinct online nodes from the classes in `ok`,
    /// uniformly, skipping `exclude`.
    pub fn sample(
        &self,
        ok: &[bool; 6],
        count: usize,
        exclude: &[u32],
        rng: &mut NodeRng,
    ) -> Vec<u32> {
        let total: usize = (0..6).filter(|&i| ok[i]).map(|i| self.sets[i].len()).sum();
        let want = count.min(total);
        let mut out: Vec<u32> = Vec::with_capacity(want);
        if total == 0 {
            return out;
        }
        // Small eligible pools: list them, then keep a uniform `count` of
        // them (partial Fisher–Yates), so no node is favoured by its place
        // in the set.
        if total <= count + exclude.len() {
            for (set, _) in self.sets.iter().zip(ok).filter(|(_, ok)| **ok) {
                out.extend(set.iter().filter(|n| !exclude.contains(n)));
            }
            let keep = count.min(out.len());
            for i in 0..keep {
                let j = rng.random_range(i..out.len());
                out.swap(i, j);
            }
            out.truncate(keep);
            return out;
        }
        let budget = count * 16 + 64;
        for _ in 0..budget {
            if out.len() >= count {
                break;
            }
            let mut j = rng.random_range(0..total);
            let mut pick = None;
            for (set, _) in self.sets.iter().zip(ok).filter(|(_, ok)| **ok) {
                if j < set.len() {
                    pick = Some(set[j]);
                    break;
                }
                j -= set.len();
            }
            if let Some(p) = pick
                && !exclude.contains(&p)
                && !out.contains(&p)
            {
                out.push(p);
            }
        }
        out
    }
}
