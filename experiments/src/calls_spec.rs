//! `[calls]`: the call scenario of `peerlab_sim::calls` in an experiment
//! spec (issues 3, 6 and 7).
//!
//! ```toml
//! [run]
//! seed = 6                     # the scenario's seed
//!
//! [calls]
//! churn = { nodes = 10000, model = { kind = "skype-supernode" }, warmup_s = 432000.0, measurement_s = 86400.0 }
//! nat = { preset = "consumer" }   # or nat_model = { mix = ..., groups = {...}, by_group.<group> = ... }
//! calls = { rate_per_s = 6.944e-5 }
//! strategies = [{ kind = "random" }, { kind = "as-based" }, { kind = "min-rtt" }]
//! failovers = [{ kind = "active", k = 1 }, { kind = "active", k = 2 }]
//!
//! [calls.relay]
//! slots = 8
//! ```
//!
//! The section has the fields of [`CallScenarioConfig`] (the simulator's own
//! serde types, so every churn model, NAT preset, codec, candidate source and
//! strategy it knows is usable here), except `seed`, which is `[run] seed`.
//! Two fields are added:
//!
//! - `strategies`: several strategies to compare on ONE sample path (common
//!   random numbers: churn, NAT classes, topology and calls are the same for
//!   every strategy). `strategy = {...}` names a single one; giving both is
//!   an error; giving neither runs `random`.
//! - `failovers`: several failover settings, each replacing
//!   `relay.failover`; the run covers every strategy under every failover,
//!   still on the same sample path (it depends on the seed alone).
//!
//! Each (strategy, failover) pair is a *variant*, labelled by the
//! strategy's name (`as-based`, `annoyance-real`), followed by the
//! failover (`random active k=2`) when the spec lists more than one. A
//! strategy whose name repeats an earlier one's gets its position appended
//! (`threshold#3`).
//!
//! - `lookup = { dht = "kademlia" | "chord", refresh_s = 1800.0,
//!   expires_s = 3600.0 }` (optional): call setup starts with the caller's
//!   DHT read of the callee's registration, taken from a packet-level churn
//!   run of that DHT over the same churn, seed and calls
//!   (`peerlab_sim::calls::lookup`); `calls.parquet` then has `lookup_ms`.
//!
//! Apart from that lookup, a calls run uses no overlay: `[workload]`, `[churn]`, `[churn_workload]`,
//! `[graph]` and `[nat]` are errors in a spec with `[calls]`, and so are
//! `[network]`, `[dht]` and `[sim]` unless they only repeat their defaults
//! (as `peerlab spec show` prints them). Errors name the field under
//! `calls.`.
//!
//! A calls spec may have a `[sweep]` over any `calls.*` path (and
//! `run.seed`), run by `peerlab sweep` like an overlay sweep
//! ([`crate::grid`], [`crate::combine`]); its `[plots]` chooses the sweep's
//! figures (`kinds = ["metric_vs_param"]`, `metrics = ["success_rate"]`).
//! A single `peerlab run` draws its fixed set of calls figures.

use crate::error::Error;
use crate::spec::Spec;
use peerlab_churn::workload::CallWorkload;
use peerlab_churn::{ChurnModel, ChurnSpec, NatMix, NatModel};
use peerlab_sim::calls::{
    CallScenarioConfig, ConnectivityRules, FailoverSpec, LookupSpec, RelayConfig, StrategySpec,
};
use peerlab_sim::config::InvalidConfig;
use peerlab_sim::topology::TopologyConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The `[calls]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsSection {
    /// Churn of the population.
    pub churn: ChurnSpec,
    /// NAT classes of the population, one flat mix (exclusive with
    /// `nat_model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatMix>,
    /// NAT classes by AS group (exclusive with `nat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_model: Option<NatModel>,
    /// Assign NAT classes in exact proportions.
    #[serde(default)]
    pub nat_exact: bool,
    /// Which connectivity oracle applies.
    #[serde(default)]
    pub rules: ConnectivityRules,
    /// The AS and prefix model.
    #[serde(default)]
    pub topology: TopologyConfig,
    /// Call arrivals, durations and callee choice.
    pub calls: CallWorkload,
    /// Relays: capacity, codec, candidates, failover.
    #[serde(default)]
    pub relay: RelayConfig,
    /// One strategy (exclusive with `strategies`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategySpec>,
    /// Strategies compared on one sample path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strategies: Vec<StrategySpec>,
    /// Failover settings, each replacing `relay.failover`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failovers: Vec<FailoverSpec>,
    /// Call setup looks the callee up in a DHT first (`lookup = { dht =
    /// "kademlia" }`); absent: the callee's contact is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<LookupSpec>,
}

/// One (strategy, failover) pair of a calls run.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Unique label (`random`, `random active k=2`).
    pub label: String,
    /// The strategy's own name.
    pub strategy: String,
    /// The failover, as text (`passive detect 5 s, 10 switches`).
    pub failover: String,
    /// The simulator's configuration of this variant.
    pub config: CallScenarioConfig,
}

/// A failover setting in words.
pub fn failover_label(f: &FailoverSpec) -> String {
    match *f {
        FailoverSpec::Active { k } => format!("active k={k}"),
        FailoverSpec::Passive {
            detect_s,
            max_switches,
        } => format!("passive detect={detect_s}s max_switches={max_switches}"),
    }
}

impl CallsSection {
    /// The strategies the run compares, in order.
    pub fn strategy_list(&self) -> Vec<StrategySpec> {
        match (&self.strategy, self.strategies.is_empty()) {
            (Some(s), _) => vec![*s],
            (None, false) => self.strategies.clone(),
            (None, true) => vec![StrategySpec::default()],
        }
    }

    /// The failover settings the run covers, in order.
    pub fn failover_list(&self) -> Vec<FailoverSpec> {
        if self.failovers.is_empty() {
            vec![self.relay.failover]
        } else {
            self.failovers.clone()
        }
    }

    /// The simulator's configuration for `strategy` and `failover`.
    pub fn config(
        &self,
        seed: u64,
        strategy: StrategySpec,
        failover: FailoverSpec,
    ) -> CallScenarioConfig {
        CallScenarioConfig {
            seed,
            churn: self.churn.clone(),
            nat: self.nat.clone(),
            nat_model: self.nat_model.clone(),
            nat_exact: self.nat_exact,
            rules: self.rules,
            topology: self.topology.clone(),
            calls: self.calls.clone(),
            relay: RelayConfig {
                failover,
                ..self.relay.clone()
            },
            strategy,
            lookup: self.lookup.clone(),
        }
    }

    /// Every variant, failover-major (all strategies under the first
    /// failover, then under the next).
    pub fn variants(&self, seed: u64) -> Vec<Variant> {
        let strategies = self.strategy_list();
        let failovers = self.failover_list();
        let names: Vec<String> = strategies
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let name = s.build().name();
                if strategies[..i].iter().any(|o| o.build().name() == name) {
                    format!("{name}#{}", i + 1)
                } else {
                    name.to_string()
                }
            })
            .collect();
        let mut out = Vec::new();
        for f in &failovers {
            for (s, name) in strategies.iter().zip(&names) {
                let label = if failovers.len() > 1 {
                    format!("{name} {}", failover_label(f))
                } else {
                    name.clone()
                };
                out.push(Variant {
                    label,
                    strategy: s.build().name().to_string(),
                    failover: failover_label(f),
                    config: self.config(seed, *s, *f),
                });
            }
        }
        out
    }

    /// Checks the section; errors name the field under `calls.`.
    pub fn validate(&self, seed: u64, file: &Path) -> Result<(), Error> {
        let unsupported = |path: &str, reason: &str| Error::SpecUnsupported {
            file: file.to_path_buf(),
            path_in_spec: path.to_string(),
            reason: reason.to_string(),
        };
        if self.strategy.is_some() && !self.strategies.is_empty() {
            return Err(unsupported(
                "calls.strategy",
                "give either `strategy` (one) or `strategies` (several), not both",
            ));
        }
        let value_error = |prefix: &str, e: InvalidConfig| Error::SpecValue {
            file: file.to_path_buf(),
            path_in_spec: format!("{prefix}{}", e.path),
            value: e.value,
            expected: e.expected,
        };
        // Each strategy and failover is checked, and named, in its own list
        // position.
        let strategies = self.strategy_list();
        let failovers = self.failover_list();
        let rename = |e: InvalidConfig, i: usize, j: usize| -> InvalidConfig {
            let path = if !self.strategies.is_empty() && e.path.starts_with("strategy") {
                format!("strategies[{i}]{}", &e.path["strategy".len()..])
            } else if !self.failovers.is_empty() && e.path.starts_with("relay.failover") {
                format!("failovers[{j}]{}", &e.path["relay.failover".len()..])
            } else {
                e.path.clone()
            };
            InvalidConfig { path, ..e }
        };
        let pairs = (0..failovers.len())
            .map(|j| (0, j))
            .chain((1..strategies.len()).map(|i| (i, 0)));
        for (i, j) in pairs {
            self.config(seed, strategies[i], failovers[j])
                .validate()
                .map_err(|e| value_error("calls.", rename(e, i, j)))?;
        }
        Ok(())
    }

    /// Checks the paths a sweep sets (`swept`) against the section: a
    /// swept `calls.relay.failover` would be silently replaced by a
    /// `failovers` list, so that combination is an error naming the path.
    pub fn check_swept(&self, swept: &[&str], file: &Path) -> Result<(), Error> {
        let replaced =
            |p: &&&str| **p == "calls.relay.failover" || p.starts_with("calls.relay.failover.");
        match swept.iter().find(replaced) {
            Some(p) if !self.failovers.is_empty() => Err(Error::SpecUnsupported {
                file: file.to_path_buf(),
                path_in_spec: (*p).to_string(),
                reason: "`calls.failovers` replaces `calls.relay.failover` in every variant; \
                         sweep `calls.failovers`, or drop the list"
                    .to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// What the section runs, in a few words (for `peerlab spec list`).
    pub fn describe(&self) -> String {
        let kind = crate::run::churn_kind(&self.churn.model);
        let strategies = self.strategy_list().len();
        let failovers = self.failover_list().len();
        let mut s = format!(
            "{} nodes, {kind} churn, calls: {strategies} relay strateg{}",
            self.churn.nodes,
            if strategies == 1 { "y" } else { "ies" }
        );
        if failovers > 1 {
            s += &format!(" × {failovers} failover settings");
        }
        s
    }
}

/// Finishes parsing a spec that has `[calls]`: rejects the overlay tables a
/// calls run would ignore, resolves a relative trace path against the spec's
/// directory, validates, and checks a `[sweep]` grid (every path, value
/// and point) before anything runs.
pub fn finish(spec: Spec, text: &str, path: &Path) -> Result<Spec, Error> {
    let raw: toml::Table = toml::from_str(text).unwrap_or_default();
    for table in ["workload", "churn", "churn_workload", "graph", "nat"] {
        if raw.contains_key(table) {
            return Err(Error::SpecUnsupported {
                file: path.to_path_buf(),
                path_in_spec: table.to_string(),
                reason: "a spec with `[calls]` runs the call scenario only; its churn is \
                         `[calls.churn]` and its workload `[calls.calls]`"
                    .to_string(),
            });
        }
    }
    let spec = resolve_and_check(spec, path, path.parent().unwrap_or(Path::new("")))?;
    if spec.sweep.is_some() {
        crate::grid::Grid::new(&spec, path)?;
    }
    Ok(spec)
}

/// The checks of a parsed calls spec that need no spec text (shared with
/// every grid point of a sweep, [`crate::grid`]): the overlay sections must
/// be absent or at their defaults, a relative trace path resolves against
/// `spec_dir`, and the spec validates. `file` names the spec in errors.
pub fn resolve_and_check(mut spec: Spec, file: &Path, spec_dir: &Path) -> Result<Spec, Error> {
    let unsupported = |table: &str, reason: &str| Error::SpecUnsupported {
        file: file.to_path_buf(),
        path_in_spec: table.to_string(),
        reason: reason.to_string(),
    };
    let only_calls = "a spec with `[calls]` runs the call scenario only; its churn is \
                      `[calls.churn]` and its workload `[calls.calls]`";
    for (table, present) in [
        ("workload", spec.workload.is_some()),
        ("churn", spec.churn.is_some()),
        ("churn_workload", spec.churn_workload.is_some()),
        ("graph", spec.graph.is_some()),
        ("nat", spec.nat.is_some()),
    ] {
        if present {
            return Err(unsupported(table, only_calls));
        }
    }
    let defaults = Spec::default();
    if spec.network != defaults.network {
        return Err(unsupported(
            "network",
            "a calls run takes its population from `calls.churn` and its delays from `calls.topology`",
        ));
    }
    if spec.dht != defaults.dht {
        return Err(unsupported("dht", "a calls run simulates no overlay"));
    }
    if spec.sim != defaults.sim {
        return Err(unsupported(
            "sim",
            "a calls run has no overlay simulator options",
        ));
    }
    if let Some(c) = &mut spec.calls
        && let ChurnModel::Trace(src) = &mut c.churn.model
        && src.path.is_relative()
    {
        let joined = spec_dir.join(&src.path);
        src.path = std::path::absolute(&joined).unwrap_or(joined);
    }
    spec.validate(file)?;
    Ok(spec)
}
