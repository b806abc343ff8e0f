//! The call scenario's configuration, as written in a spec.
//!
//! ```toml
//! seed = 6
//! rules = "rfc4787"
//! churn = { nodes = 10000, model = { kind = "skype-supernode" }, measurement_s = 86400.0 }
//! nat = { preset = "blog-2009" }
//! calls = { rate_per_s = 0.0001 }
//! strategy = { kind = "threshold", max_added_delay_ms = 200.0 }
//!
//! [relay]
//! slots = 1
//! uplink_kbps = 1000
//! codec = "voice-64"
//! candidates = { kind = "local_random", count = 16 }
//! failover = { kind = "passive", detect_s = 5.0, max_switches = 10 }
//! ```

use super::lookup::LookupSpec;
use crate::config::{InvalidConfig, invalid};
use crate::relay::Failover;
use crate::topology::TopologyConfig;
use peerlab_churn::workload::CallWorkload;
use peerlab_churn::{ChurnSpec, NatMix, NatModel};
use peerlab_core::relay::{
    Annoyance, AnnoyanceForm, AnnoyanceWeights, AsBased, CodecProfile, Constraints, LoadBalanced,
    MinRtt, NetMax, Prefix, Random, RelayStrategy, RoutingTable, Threshold,
};
use serde::{Deserialize, Serialize};

/// Which connectivity oracle decides how a pair connects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectivityRules {
    /// `peerlab_core::nat::connectivity`: RFC 4787 behaviours.
    #[default]
    Rfc4787,
    /// `peerlab_core::nat::blog_connectivity`: the seeds' blog's simpler
    /// rules on blog classes (only B–B needs a UDP relay).
    Blog,
}

/// The whole call scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallScenarioConfig {
    /// Master seed: churn, NAT classes, topology, calls and selections all
    /// derive their streams from it.
    pub seed: u64,
    /// Churn of the population; every strategy sees the same sample path.
    pub churn: ChurnSpec,
    /// NAT classes of the population: one flat mix for every node.
    /// Exactly one of `nat` and `nat_model` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatMix>,
    /// NAT classes that depend on each node's AS group
    /// (`{ mix = ..., groups = { enterprise = 0.2, ... }, by_group.enterprise = ... }`):
    /// node `i`'s group and class are `NatModel::assign(seed, i)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_model: Option<NatModel>,
    /// Assign NAT classes in exact proportions (largest remainder) instead
    /// of independently per node (a flat `nat` mix only).
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
    /// The relay-selection strategy.
    #[serde(default)]
    pub strategy: StrategySpec,
    /// Call setup looks the callee up in a DHT first
    /// ([`super::lookup`]); none: the callee's contact is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<LookupSpec>,
}

/// Where a call scenario's NAT classes come from.
#[derive(Clone, Copy, Debug)]
pub enum NatSource<'a> {
    /// One mix for every node.
    Flat(&'a NatMix),
    /// A mix per AS group.
    Grouped(&'a NatModel),
}

/// Relay capacity, media and failover.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Preallocated call slots per relay (Skype: 1).
    pub slots: u32,
    /// Uplink each relay gives to relaying, kb/s.
    pub uplink_kbps: u32,
    /// The media codec.
    pub codec: CodecSpec,
    /// Frame interval of the synthetic media, ms.
    pub frame_ms: f64,
    /// Where candidate relays come from.
    pub candidates: CandidateSource,
    /// Size of each node's routing table: the contacts a
    /// [`CandidateSource::Contacts`] caller draws on, and the set that marks
    /// candidates `in_routing_table` for the routing-table strategy.
    pub routing_table: u32,
    /// How a call copes with losing relays.
    pub failover: FailoverSpec,
    /// Choose one relay per direction (the caller picks the forward relay
    /// from its candidates, the callee the reverse one from its own); each
    /// forwards one stream.
    pub per_direction: bool,
    /// Relay every call, even pairs that could connect end to end (as in
    /// Baset & Schulzrinne's reliability setup).
    pub always_relay: bool,
    /// A call ends when its caller or callee goes offline. Off: endpoints
    /// are assumed to stay for the call (Baset's setup churns relays only).
    pub end_on_endpoint_departure: bool,
    /// Bounds every chosen relay must meet.
    pub constraints: ConstraintsSpec,
    /// How each relay judges its own annoyance (for the inputs the
    /// annoyance strategies see, and for the time-annoyed metric).
    pub annoyance: AnnoyanceModel,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            slots: 1,
            uplink_kbps: 1000,
            codec: CodecSpec::Voice64,
            frame_ms: 20.0,
            candidates: CandidateSource::LocalRandom { count: 16 },
            routing_table: 32,
            failover: FailoverSpec::Passive {
                detect_s: 5.0,
                max_switches: 10,
            },
            per_direction: false,
            always_relay: false,
            end_on_endpoint_departure: true,
            constraints: ConstraintsSpec::default(),
            annoyance: AnnoyanceModel::default(),
        }
    }
}

/// A codec by name, or a custom rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodecSpec {
    /// 64 kb/s voice (the default).
    #[serde(rename = "voice-64")]
    Voice64,
    /// 8 kb/s voice.
    #[serde(rename = "voice-8")]
    Voice8,
    /// 256 kb/s video, as in the seeds.
    #[serde(rename = "video-256")]
    Video256,
}

impl CodecSpec {
    /// The core's profile.
    pub fn profile(self) -> CodecProfile {
        match self {
            CodecSpec::Voice64 => CodecProfile::VOICE_64,
            CodecSpec::Voice8 => CodecProfile::VOICE_8,
            CodecSpec::Video256 => CodecProfile::VIDEO_256,
        }
    }
}

/// Where a caller's candidate relays come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CandidateSource {
    /// `count` distinct online nodes able to relay the call, uniformly at
    /// random (Baset's "local-random" set).
    LocalRandom {
        /// Candidates per selection.
        count: u32,
    },
    /// The caller's own contacts (its routing table: `relay.routing_table`
    /// nodes drawn once, uniformly, from the population); the candidates
    /// are those online and able to relay the call.
    Contacts,
}

/// Failover, as written in a spec.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FailoverSpec {
    /// Media through `k` relays at once; the call lives while one is up
    /// (`k = 1`: no failover).
    Active {
        /// Relays per call (per direction with `per_direction`).
        k: u32,
    },
    /// One relay; its loss is detected after `detect_s`, then a new one is
    /// chosen.
    Passive {
        /// Seconds from the relay's departure to the reselection.
        detect_s: f64,
        /// The most switches before the call is dropped.
        max_switches: u32,
    },
}

impl FailoverSpec {
    /// The reliability module's form.
    pub fn failover(self) -> Failover {
        match self {
            FailoverSpec::Active { k } => Failover::Active { k: k as usize },
            FailoverSpec::Passive {
                detect_s,
                max_switches,
            } => Failover::Passive {
                detect_s,
                max_switches,
            },
        }
    }
}

/// Constraints on RTT, loss and uptime; absent bounds are not checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConstraintsSpec {
    /// Largest RTT to either end, ms.
    pub max_rtt_ms: Option<f64>,
    /// Largest loss rate (the topology has no loss, so only 0 bites).
    pub max_loss: Option<f64>,
    /// Smallest uptime, seconds.
    pub min_uptime_s: Option<f64>,
}

impl ConstraintsSpec {
    /// The core's form.
    pub fn constraints(self) -> Constraints {
        Constraints {
            max_rtt_ms: self.max_rtt_ms,
            max_loss: self.max_loss,
            min_uptime_s: self.min_uptime_s,
        }
    }
}

/// How a relay's af() inputs evolve: CPU grows with the calls it relays,
/// bandwidth is the share of its relaying uplink in use, and interactivity
/// (the user at the keyboard) is drawn uniformly from `[0,
/// max_interactivity]` afresh for every node and every period of
/// `interactivity_period_s` (0: once per node, for the whole run).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnoyanceModel {
    /// CPU utilisation of an idle relay.
    pub cpu_base: f64,
    /// CPU added per relayed call.
    pub cpu_per_call: f64,
    /// Upper end of the interactivity draw.
    pub max_interactivity: f64,
    /// How long one interactivity draw lasts, seconds (0: for ever).
    pub interactivity_period_s: f64,
    /// The af() used to count each node's time spent annoyed.
    pub form: AnnoyanceFormSpec,
}

impl Default for AnnoyanceModel {
    fn default() -> Self {
        AnnoyanceModel {
            cpu_base: 0.1,
            cpu_per_call: 0.1,
            max_interactivity: 1.0,
            interactivity_period_s: 600.0,
            form: AnnoyanceFormSpec::default(),
        }
    }
}

/// af(), as written in a spec.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnnoyanceFormSpec {
    /// Annoyed when any input exceeds its bound.
    Threshold {
        /// Largest CPU utilisation tolerated.
        max_cpu: f64,
        /// Largest bandwidth share tolerated.
        max_bandwidth: f64,
        /// Largest interactivity at which the relay still serves.
        max_interactivity: f64,
    },
    /// Weighted sum, annoyed at or above `refuse_at`.
    RealValued {
        /// Weight of CPU.
        cpu: f64,
        /// Weight of bandwidth.
        bandwidth: f64,
        /// Weight of interactivity.
        interactivity: f64,
        /// Refusal level.
        refuse_at: f64,
    },
}

impl Default for AnnoyanceFormSpec {
    fn default() -> Self {
        AnnoyanceFormSpec::from_form(AnnoyanceForm::default())
    }
}

impl AnnoyanceFormSpec {
    /// The core's form.
    pub fn form(self) -> AnnoyanceForm {
        match self {
            AnnoyanceFormSpec::Threshold {
                max_cpu,
                max_bandwidth,
                max_interactivity,
            } => AnnoyanceForm::Threshold {
                max_cpu,
                max_bandwidth,
                max_interactivity,
            },
            AnnoyanceFormSpec::RealValued {
                cpu,
                bandwidth,
                interactivity,
                refuse_at,
            } => AnnoyanceForm::RealValued {
                weights: AnnoyanceWeights {
                    cpu,
                    bandwidth,
                    interactivity,
                },
                refuse_at,
            },
        }
    }

    /// The spec of a core form.
    pub fn from_form(f: AnnoyanceForm) -> Self {
        match f {
            AnnoyanceForm::Threshold {
                max_cpu,
                max_bandwidth,
                max_interactivity,
            } => AnnoyanceFormSpec::Threshold {
                max_cpu,
                max_bandwidth,
                max_interactivity,
            },
            AnnoyanceForm::RealValued { weights, refuse_at } => AnnoyanceFormSpec::RealValued {
                cpu: weights.cpu,
                bandwidth: weights.bandwidth,
                interactivity: weights.interactivity,
                refuse_at,
            },
        }
    }

    fn validate(&self, path: &str) -> Result<(), InvalidConfig> {
        let fields: Vec<(&str, f64)> = match *self {
            AnnoyanceFormSpec::Threshold {
                max_cpu,
                max_bandwidth,
                max_interactivity,
            } => vec![
                ("max_cpu", max_cpu),
                ("max_bandwidth", max_bandwidth),
                ("max_interactivity", max_interactivity),
            ],
            AnnoyanceFormSpec::RealValued {
                cpu,
                bandwidth,
                interactivity,
                refuse_at,
            } => vec![
                ("cpu", cpu),
                ("bandwidth", bandwidth),
                ("interactivity", interactivity),
                ("refuse_at", refuse_at),
            ],
        };
        for (f, v) in fields {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(&format!("{path}.{f}"), v, "a finite number >= 0"));
            }
        }
        Ok(())
    }
}

/// A relay-selection strategy, as written in a spec; each is documented
/// with its source in `peerlab_core::relay::strategies`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StrategySpec {
    /// Random order, first that serves.
    #[default]
    Random,
    /// Routing-table contacts first.
    RoutingTable,
    /// Same AS as caller or callee first.
    AsBased,
    /// Longest common address prefix first.
    Prefix,
    /// Least added delay (Baset's MinDelay).
    MinRtt,
    /// Most spare uplink.
    Netmax,
    /// Most spare uplink among those adding at most the bound, else random.
    Threshold {
        /// Added one-way delay bound, ms.
        #[serde(default = "default_threshold_ms")]
        max_added_delay_ms: f64,
    },
    /// Least utilised.
    LoadBalanced,
    /// Relays refuse when af() says annoyed; threshold or real-valued form.
    Annoyance {
        /// The form the relays run.
        #[serde(default)]
        af: AnnoyanceFormSpec,
    },
}

fn default_threshold_ms() -> f64 {
    200.0
}

impl StrategySpec {
    /// Every strategy with its default parameters, both annoyance forms
    /// included.
    pub fn all() -> Vec<StrategySpec> {
        vec![
            StrategySpec::Random,
            StrategySpec::RoutingTable,
            StrategySpec::AsBased,
            StrategySpec::Prefix,
            StrategySpec::MinRtt,
            StrategySpec::Netmax,
            StrategySpec::Threshold {
                max_added_delay_ms: 200.0,
            },
            StrategySpec::LoadBalanced,
            StrategySpec::Annoyance {
                af: AnnoyanceFormSpec::default(),
            },
            StrategySpec::Annoyance {
                af: AnnoyanceFormSpec::from_form(AnnoyanceForm::real_valued()),
            },
        ]
    }

    /// The strategy.
    pub fn build(self) -> Box<dyn RelayStrategy + Send + Sync> {
        match self {
            StrategySpec::Random => Box::new(Random),
            StrategySpec::RoutingTable => Box::new(RoutingTable),
            StrategySpec::AsBased => Box::new(AsBased),
            StrategySpec::Prefix => Box::new(Prefix),
            StrategySpec::MinRtt => Box::new(MinRtt),
            StrategySpec::Netmax => Box::new(NetMax),
            StrategySpec::Threshold { max_added_delay_ms } => {
                Box::new(Threshold { max_added_delay_ms })
            }
            StrategySpec::LoadBalanced => Box::new(LoadBalanced),
            StrategySpec::Annoyance { af } => Box::new(Annoyance { form: af.form() }),
        }
    }

    fn validate(&self, path: &str) -> Result<(), InvalidConfig> {
        match self {
            StrategySpec::Threshold { max_added_delay_ms } => {
                if !(max_added_delay_ms.is_finite() && *max_added_delay_ms >= 0.0) {
                    return Err(invalid(
                        &format!("{path}.max_added_delay_ms"),
                        max_added_delay_ms,
                        "a finite number of ms >= 0",
                    ));
                }
                Ok(())
            }
            StrategySpec::Annoyance { af } => af.validate(&format!("{path}.af")),
            _ => Ok(()),
        }
    }
}

/// A churn error as an [`InvalidConfig`] naming the field under `churn.`.
pub(crate) fn churn_error(e: peerlab_churn::ChurnError) -> InvalidConfig {
    match e {
        peerlab_churn::ChurnError::Invalid(p) => InvalidConfig {
            path: format!("churn.{}", p.param),
            value: p.value,
            expected: p.expected,
        },
        other => invalid("churn", other, "a churn section that builds"),
    }
}

fn non_negative(path: &str, v: f64) -> Result<(), InvalidConfig> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(path, v, "a finite number >= 0"))
    }
}

impl CallScenarioConfig {
    /// The NAT source the spec gives: `nat` (flat) or `nat_model` (AS
    /// groups), exactly one, with `nat_exact` only for a flat mix.
    pub fn nat_source(&self) -> Result<NatSource<'_>, InvalidConfig> {
        match (&self.nat, &self.nat_model) {
            (Some(mix), None) => Ok(NatSource::Flat(mix)),
            (None, Some(_)) if self.nat_exact => Err(invalid(
                "nat_exact",
                true,
                "false with `nat_model` (exact proportions need a flat `nat` mix)",
            )),
            (None, Some(model)) => Ok(NatSource::Grouped(model)),
            (Some(_), Some(_)) => Err(invalid(
                "nat_model",
                "given with `nat`",
                "either `nat` (a flat mix) or `nat_model` (mixes by AS group), not both",
            )),
            (None, None) => Err(invalid(
                "nat",
                "missing",
                "`nat` (a flat mix) or `nat_model` (mixes by AS group)",
            )),
        }
    }

    /// Checks every field; the error names the first bad one by its spec
    /// path.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.churn.build().map_err(churn_error)?;
        self.nat_source()?;
        peerlab_churn::WorkloadSpec {
            calls: Some(self.calls.clone()),
            ..Default::default()
        }
        .validate()
        .map_err(|e| invalid(&e.param, e.value, &e.expected))?;
        self.topology.validate("topology")?;
        let r = &self.relay;
        if r.slots == 0 {
            return Err(invalid("relay.slots", r.slots, "at least 1"));
        }
        if r.uplink_kbps < r.codec.profile().kbps {
            return Err(invalid(
                "relay.uplink_kbps",
                r.uplink_kbps,
                "at least the codec's rate",
            ));
        }
        if !(r.frame_ms.is_finite() && r.frame_ms > 0.0) {
            return Err(invalid("relay.frame_ms", r.frame_ms, "a finite number > 0"));
        }
        if r.routing_table == 0 {
            return Err(invalid(
                "relay.routing_table",
                r.routing_table,
                "at least 1",
            ));
        }
        let count = match r.candidates {
            CandidateSource::LocalRandom { count } => count,
            CandidateSource::Contacts => r.routing_table,
        };
        if count == 0 {
            return Err(invalid("relay.candidates.count", count, "at least 1"));
        }
        match r.failover {
            FailoverSpec::Active { k } => {
                if k == 0 {
                    return Err(invalid("relay.failover.k", k, "at least 1"));
                }
                if k > count {
                    return Err(invalid(
                        "relay.failover.k",
                        k,
                        "at most the candidates per selection",
                    ));
                }
            }
            FailoverSpec::Passive { detect_s, .. } => {
                non_negative("relay.failover.detect_s", detect_s)?
            }
        }
        let c = &r.constraints;
        for (f, v) in [
            ("relay.constraints.max_rtt_ms", c.max_rtt_ms),
            ("relay.constraints.max_loss", c.max_loss),
            ("relay.constraints.min_uptime_s", c.min_uptime_s),
        ] {
            if let Some(v) = v {
                non_negative(f, v)?;
            }
        }
        let a = &r.annoyance;
        non_negative("relay.annoyance.cpu_base", a.cpu_base)?;
        non_negative("relay.annoyance.cpu_per_call", a.cpu_per_call)?;
        non_negative("relay.annoyance.max_interactivity", a.max_interactivity)?;
        non_negative(
            "relay.annoyance.interactivity_period_s",
            a.interactivity_period_s,
        )?;
        a.form.validate("relay.annoyance.form")?;
        if let Some(l) = &self.lookup {
            l.validate()?;
        }
        self.strategy.validate("strategy")
    }
}
