//! Call setup through the DHT (`lookup = { dht = "kademlia" }`): before a
//! call connects, the caller reads the callee's address of record.
//!
//! The reads come from a packet-level churn run of the chosen DHT
//! ([`crate::run_churn`]) over the *same* churn spec, seed and call
//! workload, with registrations (`refresh_s`, `expires_s`, no background
//! reads): every node registers its user `sip:u<i>@peerlab.sim` when it
//! comes online, and at each workload call the caller gets the callee's AoR
//! (see [`crate::scenario::registrations`]). Because the churn crate's
//! workload draws every process from its own stream, adding registrations
//! leaves the call stream unchanged, so the DHT run's calls are the calls
//! scenario's calls, one for one. [`join`] checks that: same count, and per
//! position the same caller, callee and time, else an error.
//!
//! The DHT run's delays are the call scenario's AS topology
//! ([`LatencyModel::Topology`] with its `topology`, placed from the same
//! seed, so node `i` sits in the same AS with the same access delay in
//! both); it has no loss and uses the protocol's default parameters.

use super::config::CallScenarioConfig;
use crate::config::{InvalidConfig, LatencyModel, NetworkConfig, SimOptions, invalid};
use crate::dht::DhtNode;
use crate::records::CallLookup;
use crate::scenario::churn::{ChurnRunError, run_churn};
use peerlab_churn::workload::{RegistrationWorkload, WorkloadEvent};
use peerlab_churn::{WorkItem, WorkloadSpec};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use serde::{Deserialize, Serialize};

/// The DHT that resolves callees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupDht {
    /// Kademlia with [`KademliaConfig::default`].
    Kademlia,
    /// Chord with [`ChordConfig::default`].
    Chord,
}

/// Default registration refresh interval, s: half of SIP's default
/// expiry of 3600 s (RFC 3261 §10.2.1).
pub const DEFAULT_REFRESH_S: f64 = 1800.0;
/// Default registration lifetime, s: SIP's default `Expires` (RFC 3261).
pub const DEFAULT_EXPIRES_S: f64 = 3600.0;

fn default_refresh() -> f64 {
    DEFAULT_REFRESH_S
}
fn default_expires() -> f64 {
    DEFAULT_EXPIRES_S
}

/// The `lookup` section of a call scenario: which DHT the caller reads the
/// callee's registration from, and how registrations are refreshed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupSpec {
    /// The DHT.
    pub dht: LookupDht,
    /// Registration refresh interval, s (default [`DEFAULT_REFRESH_S`]).
    #[serde(default = "default_refresh")]
    pub refresh_s: f64,
    /// Registration lifetime, s (default [`DEFAULT_EXPIRES_S`]); a crashed
    /// node's record lives this long.
    #[serde(default = "default_expires")]
    pub expires_s: f64,
}

impl LookupSpec {
    /// A lookup through `dht` with the default refresh and expiry.
    pub fn new(dht: LookupDht) -> Self {
        LookupSpec {
            dht,
            refresh_s: DEFAULT_REFRESH_S,
            expires_s: DEFAULT_EXPIRES_S,
        }
    }

    /// The churn workload of the DHT run: the scenario's calls plus
    /// registrations without background reads.
    pub fn workload(&self, cfg: &CallScenarioConfig) -> WorkloadSpec {
        WorkloadSpec {
            lookups: None,
            registration: Some(RegistrationWorkload {
                refresh_s: self.refresh_s,
                expires_s: self.expires_s,
                read_interval_s: None,
            }),
            calls: Some(cfg.calls.clone()),
        }
    }

    /// Checks the refresh and expiry; errors name `lookup.*`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        for (f, v) in [("refresh_s", self.refresh_s), ("expires_s", self.expires_s)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(&format!("lookup.{f}"), v, "a finite number > 0"));
            }
        }
        if self.refresh_s >= self.expires_s {
            return Err(invalid(
                "lookup.refresh_s",
                self.refresh_s,
                "less than lookup.expires_s, or bindings lapse while online",
            ));
        }
        Ok(())
    }
}

fn run_error(e: ChurnRunError) -> InvalidConfig {
    match e {
        ChurnRunError::Config(c) => invalid("lookup", c, "a DHT run that starts"),
        other => invalid("lookup", other, "a DHT run that starts"),
    }
}

/// Runs the DHT churn scenario for `cfg` with `spec` and returns one
/// [`CallLookup`] per workload call, in call-stream order.
pub fn call_lookups(
    cfg: &CallScenarioConfig,
    spec: &LookupSpec,
) -> Result<Vec<CallLookup>, InvalidConfig> {
    fn go<D: DhtNode>(
        cfg: &CallScenarioConfig,
        spec: &LookupSpec,
        dht: D::Config,
    ) -> Result<Vec<CallLookup>, InvalidConfig> {
        // The call scenario's own AS topology, placed from the same seed,
        // so the lookup and the call see the same delays between nodes.
        let net = NetworkConfig {
            latency: LatencyModel::Topology(cfg.topology.clone()),
            ..NetworkConfig::default()
        };
        let out = run_churn::<D>(
            &net,
            &cfg.churn,
            &spec.workload(cfg),
            &SimOptions::default(),
            dht,
            D::DEFAULT_ROUTING,
            cfg.seed,
            &mut |_| {},
        )
        .map_err(run_error)?;
        Ok(out.call_lookups)
    }
    spec.validate()?;
    match spec.dht {
        LookupDht::Kademlia => go::<Kademlia>(cfg, spec, KademliaConfig::default()),
        LookupDht::Chord => go::<Chord>(cfg, spec, ChordConfig::default()),
    }
}

/// Joins `lookups` to the calls of `items` by position: one lookup per call,
/// with the same caller, callee and time; the error names the first call
/// that disagrees.
pub fn join(
    items: &[WorkItem],
    lookups: Vec<CallLookup>,
) -> Result<Vec<CallLookup>, InvalidConfig> {
    let calls: Vec<(f64, u32, u32)> = items
        .iter()
        .filter_map(|i| match i {
            WorkItem::Work(w) => match w.event {
                WorkloadEvent::Call { caller, callee, .. } => Some((w.time_s, caller, callee)),
                _ => None,
            },
            WorkItem::Churn(_) => None,
        })
        .collect();
    if calls.len() != lookups.len() {
        return Err(invalid(
            "lookup",
            format!("{} lookups for {} calls", lookups.len(), calls.len()),
            "one DHT lookup per call (the DHT run's call stream differs)",
        ));
    }
    for (pos, ((t, caller, callee), l)) in calls.iter().zip(&lookups).enumerate() {
        if l.call != pos as u64 || l.caller != *caller || l.callee != *callee || l.time_s != *t {
            return Err(invalid(
                "lookup",
                format!(
                    "call {pos}: lookup by {} of {} at {} s",
                    l.caller, l.callee, l.time_s
                ),
                &format!("the call's caller {caller}, callee {callee} and time {t} s"),
            ));
        }
    }
    Ok(lookups)
}
