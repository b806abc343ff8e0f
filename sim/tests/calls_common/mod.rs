//! Shared set-up and brute-force oracles for the call-scenario tests.

#![allow(dead_code)]

use peerlab_churn::event::up_intervals;
use peerlab_churn::presets::skype_call_duration;
use peerlab_churn::workload::{CallWorkload, CalleeChoice};
use peerlab_churn::{ChurnModel, ChurnSpec, NatMix, NatPreset};
use peerlab_sim::calls::{
    CallReport, CallScenarioConfig, CandidateSource, RelayConfig, StrategySpec,
};
use peerlab_sim::topology::TopologyConfig;

pub const DAY: f64 = 86_400.0;

/// Skype-supernode churn (about half the nodes up), the consumer NAT mix,
/// ~`calls` calls over one measured day.
pub fn churning(nodes: u32, calls: u32, seed: u64) -> CallScenarioConfig {
    CallScenarioConfig {
        seed,
        churn: ChurnSpec {
            warmup_s: 5.0 * DAY,
            ..ChurnSpec::new(nodes, ChurnModel::SkypeSupernode, DAY)
        },
        nat: Some(NatMix::preset(NatPreset::Consumer)),
        nat_model: None,
        nat_exact: false,
        rules: Default::default(),
        topology: TopologyConfig {
            diameter_ms: 300.0,
            ..TopologyConfig::default()
        },
        calls: CallWorkload {
            rate_per_s: f64::from(calls) / (f64::from(nodes) * 0.5 * DAY),
            duration: skype_call_duration(),
            callee: CalleeChoice::Uniform,
        },
        relay: RelayConfig {
            slots: 8,
            candidates: CandidateSource::LocalRandom { count: 16 },
            ..RelayConfig::default()
        },
        strategy: StrategySpec::Random,
        lookup: None,
    }
}

/// Each node's up intervals, straight from the churn model (not from the
/// scenario under test).
pub fn up_periods(cfg: &CallScenarioConfig) -> Vec<Vec<(f64, f64)>> {
    let sc = cfg.churn.build().expect("valid churn");
    let ev: Vec<_> = sc.events(cfg.seed).collect();
    let mut out = vec![Vec::new(); cfg.churn.nodes as usize];
    for iv in up_intervals(&ev) {
        out[iv.node as usize].push((iv.start_s, iv.end_s.unwrap_or(f64::INFINITY)));
    }
    out
}

/// Relayed bytes per node recomputed from the call records' relay
/// intervals (measured calls only).
pub fn bytes_from_records(r: &CallReport, nodes: usize) -> Vec<f64> {
    let bps = f64::from(r.kbps) * 125.0;
    let mut b = vec![0.0; nodes];
    for c in r.measured() {
        for u in &c.relays {
            b[u.node as usize] +=
                2.0 * f64::from(u.direction.streams()) * bps * (u.to_s - u.from_s);
        }
    }
    b
}
