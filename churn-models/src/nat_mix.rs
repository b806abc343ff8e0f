//! NAT mixes: which NAT class each node sits behind.
//!
//! [`NatClass`] is a small set of behaviour classes in RFC 4787 terms
//! (mapping and filtering), defined here until the NAT simulator has its own.
//! The seeds' blog uses four coarser classes, [`BlogClass`]: P (public), G
//! (good NAT: cone), B (bad NAT: symmetric) and F (UDP-blocking firewall).
//!
//! A [`NatMix`] gives each class a probability; a [`NatModel`] adds an
//! optional mix of AS groups and per-group mixes. Assignment is per node and
//! independent: node `i`'s class comes from its own stream, so adding nodes
//! or changing churn never changes another node's class. For small
//! populations that must match the proportions exactly, use
//! [`NatMix::assign_exact`].
//!
//! ```toml
//! [nat]
//! mix = { preset = "consumer" }
//! groups = { enterprise = 0.2, residential = 0.7, university = 0.1 }
//! by_group.enterprise = { weights = { open = 0.05, symmetric = 0.35, udp_blocked = 0.6 } }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::InvalidParam;
use crate::streams::{below, open01, purpose, stream};

/// NAT behaviour classes, after RFC 4787's mapping and filtering behaviours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatClass {
    /// A public address: no NAT, no filtering.
    Open,
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    RestrictedCone,
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    PortRestrictedCone,
    /// Endpoint-dependent mapping (a new external port per destination).
    Symmetric,
    /// UDP is blocked outright; only relaying over TCP helps.
    UdpBlocked,
}

/// RFC 4787 mapping behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mapping {
    /// No translation.
    None,
    /// The same external endpoint for every destination (EIM).
    EndpointIndependent,
    /// A different external endpoint per destination (address and port).
    EndpointDependent,
}

/// RFC 4787 filtering behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filtering {
    /// Nothing is filtered.
    None,
    /// Any external host may send to a mapping (EIF).
    EndpointIndependent,
    /// Only addresses the host has sent to (ADF).
    AddressDependent,
    /// Only address-and-port pairs the host has sent to (APDF).
    AddressAndPortDependent,
    /// All inbound UDP is dropped.
    BlockAll,
}

impl NatClass {
    /// Every class, in the order mixes list them.
    pub const ALL: [NatClass; 6] = [
        NatClass::Open,
        NatClass::FullCone,
        NatClass::RestrictedCone,
        NatClass::PortRestrictedCone,
        NatClass::Symmetric,
        NatClass::UdpBlocked,
    ];

    /// The class's mapping behaviour.
    pub fn mapping(self) -> Mapping {
        match self {
            NatClass::Open | NatClass::UdpBlocked => Mapping::None,
            NatClass::FullCone | NatClass::RestrictedCone | NatClass::PortRestrictedCone => {
                Mapping::EndpointIndependent
            }
            NatClass::Symmetric => Mapping::EndpointDependent,
        }
    }

    /// The class's filtering behaviour.
    pub fn filtering(self) -> Filtering {
        match self {
            NatClass::Open => Filtering::None,
            NatClass::FullCone => Filtering::EndpointIndependent,
            NatClass::RestrictedCone => Filtering::AddressDependent,
            NatClass::PortRestrictedCone | NatClass::Symmetric => {
                Filtering::AddressAndPortDependent
            }
            NatClass::UdpBlocked => Filtering::BlockAll,
        }
    }

    /// The blog class this falls in.
    pub fn blog_class(self) -> BlogClass {
        match self {
            NatClass::Open => BlogClass::P,
            NatClass::FullCone | NatClass::RestrictedCone | NatClass::PortRestrictedCone => {
                BlogClass::G
            }
            NatClass::Symmetric => BlogClass::B,
            NatClass::UdpBlocked => BlogClass::F,
        }
    }

    /// The name a spec uses.
    pub fn name(self) -> &'static str {
        match self {
            NatClass::Open => "open",
            NatClass::FullCone => "full_cone",
            NatClass::RestrictedCone => "restricted_cone",
            NatClass::PortRestrictedCone => "port_restricted_cone",
            NatClass::Symmetric => "symmetric",
            NatClass::UdpBlocked => "udp_blocked",
        }
    }

    fn index(self) -> usize {
        NatClass::ALL.iter().position(|&c| c == self).unwrap_or(0)
    }
}

/// The seeds' blog classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlogClass {
    /// Public address.
    P,
    /// Good NAT: a cone NAT, hole punching works.
    G,
    /// Bad NAT: symmetric.
    B,
    /// A firewall that blocks UDP.
    F,
}

impl BlogClass {
    /// The name a spec uses.
    pub fn name(self) -> &'static str {
        match self {
            BlogClass::P => "p",
            BlogClass::G => "g",
            BlogClass::B => "b",
            BlogClass::F => "f",
        }
    }

    /// The [`NatClass`] a blog class is modelled as. G becomes a
    /// port-restricted cone: the most restrictive cone, and the usual home
    /// router behaviour (endpoint-independent mapping with
    /// address-and-port-dependent filtering, as RFC 4787 recommends).
    pub fn nat_class(self) -> NatClass {
        match self {
            BlogClass::P => NatClass::Open,
            BlogClass::G => NatClass::PortRestrictedCone,
            BlogClass::B => NatClass::Symmetric,
            BlogClass::F => NatClass::UdpBlocked,
        }
    }
}

/// The kind of network (AS) a node's address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsGroup {
    /// A company network.
    Enterprise,
    /// A consumer ISP.
    Residential,
    /// A university network.
    University,
}

impl AsGroup {
    /// Every group.
    pub const ALL: [AsGroup; 3] = [
        AsGroup::Enterprise,
        AsGroup::Residential,
        AsGroup::University,
    ];

    /// The name a spec uses.
    pub fn name(self) -> &'static str {
        match self {
            AsGroup::Enterprise => "enterprise",
            AsGroup::Residential => "residential",
            AsGroup::University => "university",
        }
    }
}

/// The NAT-mix presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatPreset {
    /// The seeds' blog, 2009: P 10%, G 30%, B 30%, F 30%.
    #[serde(rename = "blog-2009")]
    Blog2009,
    /// The seeds' consumer mix: P 15%, G 50%, B 30%, F 5%.
    Consumer,
    /// RFC 4787 classes calibrated on Halkes & Pouwelse ("UDP NAT and
    /// firewall puncturing in the wild", IFIP Networking 2011; literature
    /// T12): 21% open (79% not directly connectable), 64%
    /// endpoint-independent mapping (punchable; label A), 11%
    /// endpoint-dependent mapping (symmetric; label A2), the remaining 4%
    /// UDP-blocked. T12 does not split the EIM NATs by filtering, so all are
    /// port-restricted cones, the most restrictive EIM class: punching is
    /// never easier than measured.
    HalkesPouwelse,
}

impl NatPreset {
    /// Every preset.
    pub const ALL: [NatPreset; 3] = [
        NatPreset::Blog2009,
        NatPreset::Consumer,
        NatPreset::HalkesPouwelse,
    ];

    /// The preset's mix.
    pub fn mix(self) -> NatMix {
        let blog = |p: f64, g: f64, b: f64, f: f64| {
            let mut w = [0.0; 6];
            w[NatClass::Open.index()] = p;
            w[NatClass::PortRestrictedCone.index()] = g;
            w[NatClass::Symmetric.index()] = b;
            w[NatClass::UdpBlocked.index()] = f;
            NatMix { weights: w }
        };
        match self {
            NatPreset::Blog2009 => blog(0.10, 0.30, 0.30, 0.30),
            NatPreset::Consumer => blog(0.15, 0.50, 0.30, 0.05),
            NatPreset::HalkesPouwelse => blog(0.21, 0.64, 0.11, 0.04),
        }
    }
}

/// A mix as written in a spec: a preset, weights per NAT class, or weights
/// per blog class. Weights must sum to 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NatMixSpec {
    /// A named preset.
    Preset(NatPreset),
    /// Probability per [`NatClass`]; absent classes get 0.
    Weights(BTreeMap<NatClass, f64>),
    /// Probability per [`BlogClass`], mapped by [`BlogClass::nat_class`].
    Blog(BTreeMap<BlogClass, f64>),
}

/// A validated distribution over NAT classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NatMixSpec", into = "NatMixSpec")]
pub struct NatMix {
    /// Probabilities in [`NatClass::ALL`] order.
    weights: [f64; 6],
}

impl TryFrom<NatMixSpec> for NatMix {
    type Error = InvalidParam;
    fn try_from(spec: NatMixSpec) -> Result<Self, InvalidParam> {
        NatMix::new(&spec)
    }
}

impl From<NatMix> for NatMixSpec {
    fn from(m: NatMix) -> NatMixSpec {
        NatMixSpec::Weights(
            NatClass::ALL
                .iter()
                .map(|&c| (c, m.weights[c.index()]))
                .filter(|&(_, w)| w > 0.0)
                .collect(),
        )
    }
}

fn check_weights(
    param: &str,
    entries: impl Iterator<Item = (String, f64)>,
) -> Result<(), InvalidParam> {
    let mut sum = 0.0;
    for (name, w) in entries {
        if !(w.is_finite() && w >= 0.0) {
            return Err(InvalidParam::new(
                format!("{param}.{name}"),
                w,
                "a probability >= 0",
            ));
        }
        sum += w;
    }
    if (sum - 1.0).abs() > 1e-6 {
        return Err(InvalidParam::new(
            param,
            format!("weights summing to {sum}"),
            "weights summing to 1",
        ));
    }
    Ok(())
}

impl NatMix {
    /// Validates `spec`.
    pub fn new(spec: &NatMixSpec) -> Result<NatMix, InvalidParam> {
        let mut weights = [0.0; 6];
        match spec {
            NatMixSpec::Preset(p) => return Ok(p.mix()),
            NatMixSpec::Weights(m) => {
                check_weights("weights", m.iter().map(|(c, w)| (c.name().to_string(), *w)))?;
                for (c, w) in m {
                    weights[c.index()] += w;
                }
            }
            NatMixSpec::Blog(m) => {
                check_weights("blog", m.iter().map(|(c, w)| (c.name().to_string(), *w)))?;
                for (c, w) in m {
                    weights[c.nat_class().index()] += w;
                }
            }
        }
        Ok(NatMix { weights })
    }

    /// The mix of a preset.
    pub fn preset(p: NatPreset) -> NatMix {
        p.mix()
    }

    /// The probability of `class`.
    pub fn probability(&self, class: NatClass) -> f64 {
        self.weights[class.index()]
    }

    /// The probability of a blog class.
    pub fn blog_probability(&self, class: BlogClass) -> f64 {
        NatClass::ALL
            .iter()
            .filter(|c| c.blog_class() == class)
            .map(|&c| self.probability(c))
            .sum()
    }

    /// The class for a uniform draw `u` in `[0, 1)`.
    fn pick(&self, u: f64) -> NatClass {
        let mut acc = 0.0;
        let mut last = NatClass::Open;
        for c in NatClass::ALL {
            let w = self.weights[c.index()];
            if w <= 0.0 {
                continue;
            }
            acc += w;
            last = c;
            if u < acc {
                return c;
            }
        }
        last
    }

    /// Node `node`'s class under `run_seed`, drawn independently per node.
    pub fn class_of(&self, run_seed: u64, node: u32) -> NatClass {
        self.pick(open01(&mut stream(
            run_seed,
            purpose::NAT_CLASS,
            u64::from(node),
        )))
    }

    /// Classes for nodes `0..n` matching the mix as closely as integers
    /// allow (largest-remainder rounding), in a random order fixed by
    /// `run_seed`.
    pub fn assign_exact(&self, run_seed: u64, n: u32) -> Vec<NatClass> {
        let n_f = f64::from(n);
        let mut counts: Vec<(NatClass, u32, f64)> = NatClass::ALL
            .iter()
            .map(|&c| {
                let q = self.weights[c.index()] * n_f;
                (c, q.floor() as u32, q - q.floor())
            })
            .collect();
        let assigned: u32 = counts.iter().map(|c| c.1).sum();
        let mut order: Vec<usize> = (0..counts.len()).collect();
        // Largest remainder first; ties by class order.
        order.sort_by(|&a, &b| counts[b].2.total_cmp(&counts[a].2).then(a.cmp(&b)));
        for &i in order.iter().take(n.saturating_sub(assigned) as usize) {
            counts[i].1 += 1;
        }
        let mut out: Vec<NatClass> = counts
            .iter()
            .flat_map(|&(c, k, _)| std::iter::repeat_n(c, k as usize))
            .collect();
        let mut rng = stream(run_seed, purpose::NAT_EXACT, 0);
        for i in (1..out.len()).rev() {
            let j = below(&mut rng, (i + 1) as u64) as usize;
            out.swap(i, j);
        }
        out
    }
}

/// A NAT model as written in a spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatModelSpec {
    /// The mix for nodes whose group has no mix of its own.
    pub mix: NatMix,
    /// Probability of each AS group; absent: every node is residential.
    #[serde(default)]
    pub groups: Option<BTreeMap<AsGroup, f64>>,
    /// Mixes for particular groups.
    #[serde(default)]
    pub by_group: BTreeMap<AsGroup, NatMix>,
}

/// A validated NAT model: AS groups and a NAT mix per group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NatModelSpec", into = "NatModelSpec")]
pub struct NatModel {
    spec: NatModelSpec,
}

impl TryFrom<NatModelSpec> for NatModel {
    type Error = InvalidParam;
    fn try_from(spec: NatModelSpec) -> Result<Self, InvalidParam> {
        NatModel::new(spec)
    }
}

impl From<NatModel> for NatModelSpec {
    fn from(m: NatModel) -> NatModelSpec {
        m.spec
    }
}

impl NatModel {
    /// Validates `spec`.
    pub fn new(spec: NatModelSpec) -> Result<NatModel, InvalidParam> {
        if let Some(g) = &spec.groups {
            check_weights("groups", g.iter().map(|(k, w)| (k.name().to_string(), *w)))?;
        }
        Ok(NatModel { spec })
    }

    /// One mix for everyone.
    pub fn uniform(mix: NatMix) -> NatModel {
        NatModel {
            spec: NatModelSpec {
                mix,
                groups: None,
                by_group: BTreeMap::new(),
            },
        }
    }

    /// Node `node`'s AS group under `run_seed`.
    pub fn group_of(&self, run_seed: u64, node: u32) -> AsGroup {
        let Some(groups) = &self.spec.groups else {
            return AsGroup::Residential;
        };
        let u = open01(&mut stream(
            run_seed,
            purpose::NAT_AS_GROUP,
            u64::from(node),
        ));
        let mut acc = 0.0;
        let mut last = AsGroup::Residential;
        for (&g, &w) in groups {
            if w <= 0.0 {
                continue;
            }
            acc += w;
            last = g;
            if u < acc {
                return g;
            }
        }
        last
    }

    /// The mix that applies to `group`.
    pub fn mix_for(&self, group: AsGroup) -> &NatMix {
        self.spec.by_group.get(&group).unwrap_or(&self.spec.mix)
    }

    /// Node `node`'s NAT class if it belongs to `group` (for a caller that
    /// assigns groups from its own topology).
    pub fn class_in_group(&self, run_seed: u64, node: u32, group: AsGroup) -> NatClass {
        self.mix_for(group).class_of(run_seed, node)
    }

    /// Node `node`'s AS group and NAT class under `run_seed`.
    pub fn assign(&self, run_seed: u64, node: u32) -> (AsGroup, NatClass) {
        let g = self.group_of(run_seed, node);
        (g, self.class_in_group(run_seed, node, g))
    }
}

/// Each class is the core's preset of the same name
/// ([`peerlab_core::nat::NatType`]), which carries its full RFC 4787
/// behaviour and the connectivity oracle.
impl From<NatClass> for peerlab_core::nat::NatType {
    fn from(c: NatClass) -> Self {
        use peerlab_core::nat::NatType;
        match c {
            NatClass::Open => NatType::Open,
            NatClass::FullCone => NatType::FullCone,
            NatClass::RestrictedCone => NatType::RestrictedCone,
            NatClass::PortRestrictedCone => NatType::PortRestrictedCone,
            NatClass::Symmetric => NatType::Symmetric,
            NatClass::UdpBlocked => NatType::UdpBlocked,
        }
    }
}

/// Each blog class is the core's blog class of the same name.
impl From<BlogClass> for peerlab_core::nat::BlogClass {
    fn from(c: BlogClass) -> Self {
        use peerlab_core::nat::BlogClass as Core;
        match c {
            BlogClass::P => Core::P,
            BlogClass::G => Core::G,
            BlogClass::B => Core::B,
            BlogClass::F => Core::F,
        }
    }
}
