//! `[nat]`: run the overlay behind NATs.
//!
//! ```toml
//! [nat]
//! mix = { preset = "halkes-pouwelse" }   # or { weights = { open = 0.4, ... } }, { blog = { ... } }
//! # or, instead of `mix`, mixes by AS group:
//! # nat_model = { mix = { preset = "consumer" }, groups = { enterprise = 0.3, residential = 0.7 },
//! #               by_group.enterprise = { weights = { udp_blocked = 1.0 } } }
//! keepalive_s = 25.0          # client and full-cone keepalives; 0 turns them off
//! binding_timeout_s = 30.0    # every NAT's binding timeout
//! tcp_relay_ms = 30.0         # extra one-way delay of UDP-blocked nodes' TCP relay
//! roles = "by-nat-class"      # or "all-full": every node in the DHT (a negative control)
//! ```
//!
//! With `[nat]`, each NATed node sits alone behind an RFC 4787 middlebox of
//! its class (the engine's NAT layer, `peerlab_sim::nat::layer`), and the
//! DHT runs inside the core's super-node/client hierarchy
//! (`peerlab_core::hierarchy`): open and full-cone nodes are full DHT nodes
//! and super-nodes, the rest attach to one as clients. Node 0, the
//! bootstrap, is open. The oracle counts full nodes only.

use crate::error::Error;
use peerlab_churn::{NatMix, NatModel};
use peerlab_core::Duration;
use peerlab_core::hierarchy::HierarchyConfig;
use peerlab_sim::nat::NatSetup;
use peerlab_sim::{DhtNode, NatOverlay, Roles};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How roles are assigned, as a spec writes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolesName {
    /// Open and full-cone nodes are full, the rest clients.
    #[default]
    ByNatClass,
    /// Every node joins the DHT, whatever its NAT.
    AllFull,
}

/// `[nat]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatSection {
    /// The NAT-class mix nodes are drawn from (seeded by the run seed);
    /// absent, the Halkes–Pouwelse preset (unless `nat_model` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<NatMix>,
    /// NAT mixes by AS group (exclusive with `mix`): node `i`'s group and
    /// class are `NatModel::assign(seed, i)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_model: Option<NatModel>,
    /// Keepalive interval in seconds; 0 disables keepalives.
    pub keepalive_s: f64,
    /// Binding timeout of every NAT, in seconds.
    pub binding_timeout_s: f64,
    /// Extra one-way delay of the TCP relay, in milliseconds.
    pub tcp_relay_ms: f64,
    /// How roles are assigned.
    pub roles: RolesName,
}

impl Default for NatSection {
    fn default() -> Self {
        NatSection {
            mix: Some(NatMix::preset(peerlab_churn::NatPreset::HalkesPouwelse)),
            nat_model: None,
            keepalive_s: 25.0,
            binding_timeout_s: 30.0,
            tcp_relay_ms: 30.0,
            roles: RolesName::ByNatClass,
        }
    }
}

impl NatSection {
    /// Checks the values; errors name the `nat.` path.
    pub fn validate(&self, file: &Path) -> Result<(), Error> {
        let bad = |path: &str, value: f64, expected: &str| Error::SpecValue {
            file: file.to_path_buf(),
            path_in_spec: format!("nat.{path}"),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        if self.mix.is_some() && self.nat_model.is_some() {
            return Err(Error::SpecUnsupported {
                file: file.to_path_buf(),
                path_in_spec: "nat.nat_model".to_string(),
                reason:
                    "give either `mix` (a flat mix) or `nat_model` (mixes by AS group), not both"
                        .to_string(),
            });
        }
        if !(self.binding_timeout_s.is_finite() && self.binding_timeout_s > 0.0) {
            return Err(bad(
                "binding_timeout_s",
                self.binding_timeout_s,
                "a positive number of seconds",
            ));
        }
        if !(self.keepalive_s.is_finite() && self.keepalive_s >= 0.0) {
            return Err(bad(
                "keepalive_s",
                self.keepalive_s,
                "seconds >= 0 (0: off)",
            ));
        }
        if self.keepalive_s >= self.binding_timeout_s {
            return Err(bad(
                "keepalive_s",
                self.keepalive_s,
                "shorter than nat.binding_timeout_s, or 0 for none",
            ));
        }
        if !(self.tcp_relay_ms.is_finite() && self.tcp_relay_ms >= 0.0) {
            return Err(bad("tcp_relay_ms", self.tcp_relay_ms, "milliseconds >= 0"));
        }
        Ok(())
    }

    /// The simulator configuration of `D` behind these NATs, for a run
    /// with `seed`.
    pub fn overlay<D: DhtNode>(&self, inner: D::Config, seed: u64) -> NatOverlay<D::Config> {
        let model = match (&self.nat_model, &self.mix) {
            (Some(model), _) => model.clone(),
            (None, Some(mix)) => NatModel::uniform(mix.clone()),
            (None, None) => {
                NatModel::uniform(NatMix::preset(peerlab_churn::NatPreset::HalkesPouwelse))
            }
        };
        let mut nat = NatSetup::with_model(model, seed);
        nat.binding_timeout = Duration::from_secs_f64(self.binding_timeout_s);
        nat.tcp_relay_ms = self.tcp_relay_ms;
        let hierarchy = HierarchyConfig {
            keepalive: (self.keepalive_s > 0.0).then(|| Duration::from_secs_f64(self.keepalive_s)),
            ..HierarchyConfig::default()
        };
        let roles = match self.roles {
            RolesName::ByNatClass => Roles::ByNatClass,
            RolesName::AllFull => Roles::AllFull,
        };
        NatOverlay::new::<D>(inner, hierarchy, nat).with_roles(roles)
    }
}
