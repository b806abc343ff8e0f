//! Compares every relay-selection strategy on one churn sample path and
//! prints the table recorded in `sim/RELAY.md`, with the wall-clock time of
//! each run.
//!
//! `cargo run --release -p peerlab-sim --example calls_compare -- [nodes] [calls]`

use peerlab_churn::presets::skype_call_duration;
use peerlab_churn::workload::{CallWorkload, CalleeChoice};
use peerlab_churn::{ChurnModel, ChurnSpec, NatMix, NatPreset};
use peerlab_sim::calls::{
    AnnoyanceModel, CallRun, CallScenarioConfig, CandidateSource, RelayConfig, StrategySpec,
};
use peerlab_sim::topology::TopologyConfig;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parse = |i: usize, d: u32| -> u32 {
        match args.get(i) {
            None => d,
            Some(s) => s.parse().unwrap_or_else(|_| {
                eprintln!("argument {i} `{s}` is not a positive integer");
                std::process::exit(2)
            }),
        }
    };
    let nodes = parse(1, 10_000);
    let calls = parse(2, 100_000);
    let day = 86_400.0;
    // Skype-supernode churn: about half the nodes are up at a time.
    let rate = f64::from(calls) / (f64::from(nodes) * 0.5 * day);
    let cfg = CallScenarioConfig {
        seed: 6,
        churn: ChurnSpec {
            warmup_s: 5.0 * day,
            ..ChurnSpec::new(nodes, ChurnModel::SkypeSupernode, day)
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
            rate_per_s: rate,
            duration: skype_call_duration(),
            callee: CalleeChoice::Uniform,
        },
        relay: RelayConfig {
            slots: 8,
            uplink_kbps: 1000,
            candidates: CandidateSource::LocalRandom { count: 16 },
            annoyance: AnnoyanceModel::default(),
            ..RelayConfig::default()
        },
        strategy: StrategySpec::Random,
        lookup: None,
    };
    let t0 = Instant::now();
    let run = match CallRun::new(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    };
    println!(
        "{nodes} nodes, target {calls} calls; population built in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "\n| strategy | calls | relayed | success | added mean (ms) | p50 | p95 | spare p5 (kb/s) | Jain | public share | probes/sel | setup mean (ms) | annoyed s/relay | run (s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for spec in StrategySpec::all() {
        let s = spec.build();
        let t = Instant::now();
        let r = match run.run(s.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
        };
        let secs = t.elapsed().as_secs_f64();
        let m = r.summary();
        println!(
            "| {} | {} | {} | {:.4} | {:.1} | {:.1} | {:.1} | {:.0} | {:.3} | {:.3} | {:.2} | {:.0} | {:.0} | {:.2} |",
            r.strategy,
            m.calls,
            m.paths[2] + m.paths[3],
            m.successes as f64 / m.calls.max(1) as f64,
            m.added_mean_ms,
            m.added_p50_ms,
            m.added_p95_ms,
            m.spare_p5_kbps,
            m.jain,
            m.public_relay_share,
            m.probes_per_selection,
            m.setup_mean_ms,
            m.annoyed_s_per_relay,
            secs
        );
    }
}
