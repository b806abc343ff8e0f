//! Churn processes: who is online when.
//!
//! A [`ChurnSpec`] (deserialised from an experiment spec, or built in code)
//! describes a population, a [`ChurnModel`], the run phases and any mass
//! failures, flash crowds and partitions. [`ChurnSpec::build`] validates it
//! into a [`ChurnScenario`], whose [`events`](ChurnScenario::events) method
//! yields the deterministic, time-ordered stream of [`ChurnRecord`]s for a run
//! seed, and whose [`partitions`](ChurnScenario::partitions) method gives the
//! reachability schedule.
//!
//! [`ChurnRecord`]: crate::event::ChurnRecord

mod engine;
mod partition;
mod scenario;

pub use engine::ChurnEvents;
pub use partition::{PartitionSchedule, PartitionSpec, PartitionWindow};
pub use scenario::{ChurnError, ChurnScenario, ChurnSpec, FlashCrowd, MassFailure, Recovery};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dist::Dist;
use crate::diurnal::Diurnal;
use crate::error::{InvalidParam, positive, probability};
use crate::presets::ChurnPreset;
use crate::trace::TraceFormat;

/// Which churn model drives the population; the tag `kind` selects it.
///
/// The preset kinds (`kad`, `p2psim`, `bamboo-extreme`, `skype-supernode`)
/// take no parameters; see [`crate::presets`] for their sources.
///
/// ```toml
/// model = { kind = "kad" }
/// model = { kind = "lifetime", up = { dist = "exponential", mean_s = 3600.0 }, down = { dist = "exponential", mean_s = 3600.0 } }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ModelRepr", into = "ModelRepr")]
pub enum ChurnModel {
    /// Nodes join during initialisation and never leave.
    Static,
    /// Each node alternates up and down periods (OverSim's LifetimeChurn).
    Lifetime(LifetimeChurn),
    /// Each node draws its own mean up and down times (Yao et al.; OverSim's
    /// ParetoChurn).
    Heterogeneous(HeterogeneousChurn),
    /// Poisson arrivals of new nodes, each staying for one session (p2psim).
    Open(OpenChurn),
    /// Replay of a trace file.
    Trace(TraceSource),
    /// Preset: KAD sessions after Steiner et al.
    Kad,
    /// Preset: p2psim's exponential 1 h up / 1 h down, after Li et al.
    P2psim,
    /// Preset: 1.4-minute median sessions, after Rhea et al. (Bamboo).
    BambooExtreme,
    /// Preset: Skype supernodes, 5.5 h median uptime with diurnal rejoins.
    SkypeSupernode,
}

/// The spec form of [`ChurnModel`]. Parameterless kinds are empty struct
/// variants so that stray fields (`{ kind = "kad", shape = 1.0 }`) are
/// rejected rather than ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum ModelRepr {
    Static {},
    Lifetime(LifetimeChurn),
    Heterogeneous(HeterogeneousChurn),
    Open(OpenChurn),
    Trace(TraceSource),
    Kad {},
    P2psim {},
    BambooExtreme {},
    SkypeSupernode {},
}

impl From<ModelRepr> for ChurnModel {
    fn from(r: ModelRepr) -> ChurnModel {
        match r {
            ModelRepr::Static {} => ChurnModel::Static,
            ModelRepr::Lifetime(m) => ChurnModel::Lifetime(m),
            ModelRepr::Heterogeneous(m) => ChurnModel::Heterogeneous(m),
            ModelRepr::Open(m) => ChurnModel::Open(m),
            ModelRepr::Trace(t) => ChurnModel::Trace(t),
            ModelRepr::Kad {} => ChurnModel::Kad,
            ModelRepr::P2psim {} => ChurnModel::P2psim,
            ModelRepr::BambooExtreme {} => ChurnModel::BambooExtreme,
            ModelRepr::SkypeSupernode {} => ChurnModel::SkypeSupernode,
        }
    }
}

impl From<ChurnModel> for ModelRepr {
    fn from(m: ChurnModel) -> ModelRepr {
        match m {
            ChurnModel::Static => ModelRepr::Static {},
            ChurnModel::Lifetime(m) => ModelRepr::Lifetime(m),
            ChurnModel::Heterogeneous(m) => ModelRepr::Heterogeneous(m),
            ChurnModel::Open(m) => ModelRepr::Open(m),
            ChurnModel::Trace(t) => ModelRepr::Trace(t),
            ChurnModel::Kad => ModelRepr::Kad {},
            ChurnModel::P2psim => ModelRepr::P2psim {},
            ChurnModel::BambooExtreme => ModelRepr::BambooExtreme {},
            ChurnModel::SkypeSupernode => ModelRepr::SkypeSupernode {},
        }
    }
}

/// Alternating up and down periods per node, as OverSim's LifetimeChurn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimeChurn {
    /// Up (session) durations.
    pub up: Dist,
    /// Down (inter-session) durations.
    pub down: Dist,
    /// Diurnal modulation of rejoins: the end of each down period is a
    /// candidate rejoin, kept with probability `multiplier / max`; a rejected
    /// candidate starts another down period.
    #[serde(default)]
    pub diurnal: Option<Diurnal>,
    /// Probability that a session ends in a graceful leave rather than a
    /// failure.
    #[serde(default)]
    pub graceful_fraction: f64,
    /// Whether each new session comes back under a new node id, so a
    /// returning node is a stranger to the overlay.
    #[serde(default)]
    pub fresh_ids: bool,
}

/// Heterogeneous churn after Yao et al. (ICNP 2006), as in OverSim's
/// ParetoChurn: node `i` draws its mean up time `l_i` and mean down time
/// `d_i` from shifted Pareto distributions with tail index `shape` and means
/// `mean_up_s` and `mean_down_s`; its sessions are then shifted Pareto with
/// the same tail index and means `l_i` and `d_i`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeterogeneousChurn {
    /// Population mean of the per-node mean up time, in seconds.
    pub mean_up_s: f64,
    /// Population mean of the per-node mean down time, in seconds.
    pub mean_down_s: f64,
    /// Tail index α (> 1); OverSim uses 3.
    #[serde(default = "default_pareto_shape")]
    pub shape: f64,
    /// Diurnal modulation of rejoins, as for [`LifetimeChurn::diurnal`].
    #[serde(default)]
    pub diurnal: Option<Diurnal>,
    /// Probability that a session ends in a graceful leave.
    #[serde(default)]
    pub graceful_fraction: f64,
}

fn default_pareto_shape() -> f64 {
    3.0
}

/// An open population, as p2psim's churn generator: new nodes arrive as a
/// Poisson process, stay for one session, and never return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenChurn {
    /// Mean arrival rate, in nodes per second (the daily mean under diurnal
    /// modulation).
    pub arrival_rate_per_s: f64,
    /// Session durations.
    pub session: Dist,
    /// Diurnal modulation of the arrival rate (by thinning).
    #[serde(default)]
    pub diurnal: Option<Diurnal>,
    /// Probability that a session ends in a graceful leave.
    #[serde(default)]
    pub graceful_fraction: f64,
}

/// A trace file to replay; see [`crate::trace`] for the formats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSource {
    /// Path of the file (relative paths are resolved by the caller).
    pub path: PathBuf,
    /// Its format.
    pub format: TraceFormat,
}

/// A model with presets expanded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolved {
    Static,
    Lifetime(LifetimeChurn),
    Heterogeneous(HeterogeneousChurn),
    Open(OpenChurn),
    Trace(TraceSource),
}

impl ChurnModel {
    /// The preset this model names, if it is one.
    pub fn preset(&self) -> Option<ChurnPreset> {
        match self {
            ChurnModel::Kad => Some(ChurnPreset::Kad),
            ChurnModel::P2psim => Some(ChurnPreset::P2psim),
            ChurnModel::BambooExtreme => Some(ChurnPreset::BambooExtreme),
            ChurnModel::SkypeSupernode => Some(ChurnPreset::SkypeSupernode),
            _ => None,
        }
    }

    /// The model with presets expanded into their parameters.
    pub fn expanded(&self) -> ChurnModel {
        match self.preset() {
            Some(p) => p.model(),
            None => self.clone(),
        }
    }

    pub(crate) fn resolve(&self) -> Result<Resolved, InvalidParam> {
        let r = match self.expanded() {
            ChurnModel::Static => Resolved::Static,
            ChurnModel::Lifetime(m) => {
                m.up.check_duration("model.up")?;
                m.down.check_duration("model.down")?;
                if m.up.mean().is_nan() || m.up.mean() <= 0.0 {
                    return Err(InvalidParam::new(
                        "model.up",
                        format!("{:?}", m.up.spec()),
                        "a distribution with a positive mean",
                    ));
                }
                probability("model.graceful_fraction", m.graceful_fraction)?;
                Resolved::Lifetime(m)
            }
            ChurnModel::Heterogeneous(m) => {
                positive("model.mean_up_s", m.mean_up_s)?;
                positive("model.mean_down_s", m.mean_down_s)?;
                if !(m.shape.is_finite() && m.shape > 1.0) {
                    return Err(InvalidParam::new(
                        "model.shape",
                        m.shape,
                        "a finite tail index > 1",
                    ));
                }
                probability("model.graceful_fraction", m.graceful_fraction)?;
                Resolved::Heterogeneous(m)
            }
            ChurnModel::Open(m) => {
                positive("model.arrival_rate_per_s", m.arrival_rate_per_s)?;
                m.session.check_duration("model.session")?;
                probability("model.graceful_fraction", m.graceful_fraction)?;
                Resolved::Open(m)
            }
            ChurnModel::Trace(t) => Resolved::Trace(t),
            // Presets always expand to one of the above.
            ChurnModel::Kad
            | ChurnModel::P2psim
            | ChurnModel::BambooExtreme
            | ChurnModel::SkypeSupernode => {
                return Err(InvalidParam::new(
                    "model.kind",
                    "preset",
                    "a preset that expands",
                ));
            }
        };
        Ok(r)
    }
}
