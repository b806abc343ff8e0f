//! The churn section of an experiment spec, and its validated form.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::engine::ChurnEvents;
use super::partition::{PartitionSchedule, PartitionSpec};
use super::{ChurnModel, Resolved};
use crate::dist::Dist;
use crate::error::{InvalidParam, non_negative, positive, probability};
use crate::phases::Phases;
use crate::trace::{Trace, TraceLoadError};

/// The churn section of an experiment spec.
///
/// ```toml
/// [churn]
/// nodes = 1000
/// model = { kind = "kad" }
/// join_rate_per_s = 10.0     # initialisation: one join every 0.1 s
/// warmup_s = 2592000.0       # start each node in its 30th day, near equilibrium
/// transition_s = 3600.0
/// measurement_s = 21600.0
///
/// [[churn.mass_failures]]
/// at_s = 10000.0
/// fraction = 0.25
/// recovery = "model"
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    /// Initial population, with ids `0..nodes`. Required (>= 1) for closed
    /// models; for an open population these nodes join during
    /// initialisation and stay one session each; must be 0 for a trace.
    #[serde(default)]
    pub nodes: u32,
    /// The churn model.
    pub model: ChurnModel,
    /// Initialisation: node `i` of the initial population becomes active at
    /// `i / join_rate_per_s`, so initialisation lasts `nodes /
    /// join_rate_per_s`. Absent: every node is active at time 0.
    #[serde(default)]
    pub join_rate_per_s: Option<f64>,
    /// Each initial node's process runs for this long before it becomes
    /// active, with its events discarded, so it starts near equilibrium (up
    /// with the stationary probability, with a residual session). For an open
    /// population, arrivals start this long before time 0 and those still
    /// online join at time 0. Zero: every node starts a fresh session.
    #[serde(default)]
    pub warmup_s: f64,
    /// Length of the transition phase.
    #[serde(default)]
    pub transition_s: f64,
    /// Length of the measurement phase (> 0).
    pub measurement_s: f64,
    /// Mass failures.
    #[serde(default)]
    pub mass_failures: Vec<MassFailure>,
    /// Flash crowds.
    #[serde(default)]
    pub flash_crowds: Vec<FlashCrowd>,
    /// Network partitions.
    #[serde(default)]
    pub partitions: Vec<PartitionSpec>,
}

/// A fraction of the online nodes fails at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MassFailure {
    /// When.
    pub at_s: f64,
    /// Fraction of the nodes online at `at_s` that fail, chosen uniformly at
    /// random; the count is rounded to the nearest integer.
    pub fraction: f64,
    /// What the failed nodes do afterwards.
    #[serde(default)]
    pub recovery: Recovery,
}

/// What nodes hit by a mass failure do afterwards.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Recovery {
    /// They never return.
    Never,
    /// They follow their model: an alternating node starts a down period
    /// drawn from its down distribution; a traced node follows its trace;
    /// nodes without a down period (static, one-session) do not return.
    #[default]
    Model,
    /// Each returns after a delay drawn from this distribution; one-session
    /// nodes then stay for a fresh session.
    After(Dist),
}

/// Many new nodes join at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashCrowd {
    /// When the crowd starts.
    pub at_s: f64,
    /// How many new nodes join; they get fresh ids.
    pub nodes: u32,
    /// Join times are spread uniformly over `[at_s, at_s + spread_s)`; 0
    /// means all at `at_s`.
    #[serde(default)]
    pub spread_s: f64,
    /// How long each stays; absent means until the end of the run.
    #[serde(default)]
    pub session: Option<Dist>,
    /// Probability that a session ends in a graceful leave.
    #[serde(default)]
    pub graceful_fraction: f64,
}

/// A churn spec that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ChurnError {
    /// A parameter is out of range.
    #[error(transparent)]
    Invalid(#[from] InvalidParam),
    /// The trace file could not be loaded.
    #[error(transparent)]
    Trace(#[from] TraceLoadError),
}

/// A validated churn scenario. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct ChurnScenario {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub spec: ChurnSpec,
    pub model: Resolved,
    pub trace: Option<Trace>,
    pub phases: Phases,
}

impl ChurnSpec {
    /// A spec for `nodes` nodes under `model`, measured for `measurement_s`
    /// seconds, with every other field at its default.
    pub fn new(nodes: u32, model: ChurnModel, measurement_s: f64) -> ChurnSpec {
        ChurnSpec {
            nodes,
            model,
            join_rate_per_s: None,
            warmup_s: 0.0,
            transition_s: 0.0,
            measurement_s,
            mass_failures: Vec::new(),
            flash_crowds: Vec::new(),
            partitions: Vec::new(),
        }
    }

    /// Validates the spec and, for a trace model, loads the trace file.
    pub fn build(&self) -> Result<ChurnScenario, ChurnError> {
        let trace = match self.model.resolve()? {
            Resolved::Trace(src) => Some(Trace::load(&src.path, src.format)?),
            _ => None,
        };
        Ok(self.build_inner(trace)?)
    }

    /// Validates the spec, replaying `trace` instead of reading the model's
    /// trace file. The model must be a trace model.
    pub fn build_with_trace(&self, trace: Trace) -> Result<ChurnScenario, ChurnError> {
        Ok(self.build_inner(Some(trace))?)
    }

    fn build_inner(&self, trace: Option<Trace>) -> Result<ChurnScenario, InvalidParam> {
        let model = self.model.resolve()?;
        match (&model, &trace) {
            (Resolved::Trace(_), None) => {
                return Err(InvalidParam::new("model", "trace", "a loaded trace"));
            }
            (Resolved::Trace(_), Some(_)) => {
                if self.nodes != 0 {
                    return Err(InvalidParam::new(
                        "nodes",
                        self.nodes,
                        "0 for a trace (the trace sets the population)",
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(InvalidParam::new(
                    "model.kind",
                    "not trace",
                    "a trace model to replay a trace",
                ));
            }
            (Resolved::Open(_), None) => {}
            (_, None) => {
                if self.nodes == 0 {
                    return Err(InvalidParam::new(
                        "nodes",
                        0,
                        "at least 1 for a closed population",
                    ));
                }
            }
        }
        let init_s = match self.join_rate_per_s {
            Some(r) => f64::from(self.nodes) / positive("join_rate_per_s", r)?,
            None => 0.0,
        };
        non_negative("warmup_s", self.warmup_s)?;
        let phases = Phases::new(init_s, self.transition_s, self.measurement_s)?;
        for (i, m) in self.mass_failures.iter().enumerate() {
            let p = |f: &str| format!("mass_failures[{i}].{f}");
            non_negative(&p("at_s"), m.at_s)?;
            probability(&p("fraction"), m.fraction)?;
            if let Recovery::After(d) = &m.recovery {
                d.check_duration(&p("recovery.after"))?;
            }
        }
        for (i, f) in self.flash_crowds.iter().enumerate() {
            let p = |x: &str| format!("flash_crowds[{i}].{x}");
            non_negative(&p("at_s"), f.at_s)?;
            non_negative(&p("spread_s"), f.spread_s)?;
            probability(&p("graceful_fraction"), f.graceful_fraction)?;
            if let Some(d) = &f.session {
                d.check_duration(&p("session"))?;
            }
        }
        PartitionSchedule::new(&self.partitions, 0)?;
        Ok(ChurnScenario {
            inner: Arc::new(Inner {
                spec: self.clone(),
                model,
                trace,
                phases,
            }),
        })
    }
}

impl ChurnScenario {
    /// The spec this scenario was built from.
    pub fn spec(&self) -> &ChurnSpec {
        &self.inner.spec
    }

    /// Phase boundaries; the run ends at `phases().end_s`.
    pub fn phases(&self) -> Phases {
        self.inner.phases
    }

    /// The replayed trace, for a trace model.
    pub fn trace(&self) -> Option<&Trace> {
        self.inner.trace.as_ref()
    }

    /// The churn events of the run with `run_seed`, in time order, up to the
    /// end of the measurement phase. Equal-time events come in node order; a
    /// mass failure's victims fail after any other event at the same instant.
    pub fn events(&self, run_seed: u64) -> ChurnEvents {
        ChurnEvents::new(self.clone(), run_seed)
    }

    /// The reachability schedule of the run with `run_seed`.
    pub fn partitions(&self, run_seed: u64) -> PartitionSchedule {
        // Validated in `build`, so this cannot fail; fall back to no
        // partitions rather than panic.
        PartitionSchedule::new(&self.inner.spec.partitions, run_seed).unwrap_or_default()
    }
}
