//! The call scenario configured like `relay_reliability` (Baset &
//! Schulzrinne's setup: every node can relay, exponential up and down times
//! with mean 300 min, 60-minute calls, every call relayed) against the same
//! analysis, and against `run_reliability` itself.
//!
//! - No failover: success = e^(−T/L) ≈ 0.819.
//! - k relays under active failover: 1 − (1 − e^(−T/L))^k.
//! - Passive failover: relay losses along a call are Poisson with mean T/L.
//! - Calls that end when an endpoint leaves (endpoints churn like relays):
//!   the relay must outlive min(T, E₁, E₂) with all three exponential, so
//!   success = 1 − (1 − e^(−3T/L)) / 3.
//!
//! Calls starting less than T before the end of the churn horizon are left
//! out: relays still up there have no known departure.

use peerlab_churn::process::LifetimeChurn;
use peerlab_churn::workload::{CallWorkload, CalleeChoice};
use peerlab_churn::{ChurnModel, ChurnSpec, Dist, NatClass, NatMix};
use peerlab_core::relay::Random;
use peerlab_sim::calls::{
    CallReport, CallRun, CallScenarioConfig, CandidateSource, FailoverSpec, FailureReason,
    RelayConfig, StrategySpec,
};
use peerlab_sim::relay::{
    ReliabilityConfig, active_success, binomial_se, exponential_residual, run_reliability,
};
use peerlab_sim::topology::TopologyConfig;
use std::collections::BTreeMap;

const L: f64 = 300.0 * 60.0;
const T: f64 = 3600.0;
const HORIZON: f64 = 5.0 * 86_400.0;
const NODES: u32 = 20_000;
const CALLS: f64 = 60_000.0;

fn cfg(failover: FailoverSpec, end_on_endpoint: bool) -> CallScenarioConfig {
    let life = Dist::exponential(L).expect("valid");
    let nat = NatMix::new(&peerlab_churn::nat_mix::NatMixSpec::Weights(
        BTreeMap::from([(NatClass::Open, 1.0)]),
    ))
    .expect("valid");
    CallScenarioConfig {
        seed: 2010,
        churn: ChurnSpec {
            warmup_s: 2.0 * 86_400.0,
            ..ChurnSpec::new(
                NODES,
                ChurnModel::Lifetime(LifetimeChurn {
                    up: life.clone(),
                    down: life,
                    diurnal: None,
                    graceful_fraction: 0.0,
                    fresh_ids: false,
                }),
                HORIZON,
            )
        },
        nat: Some(nat),
        nat_model: None,
        nat_exact: false,
        rules: Default::default(),
        topology: TopologyConfig::default(),
        calls: CallWorkload {
            // About half the nodes are up.
            rate_per_s: CALLS / (f64::from(NODES) * 0.5 * HORIZON),
            duration: Dist::constant(T).expect("valid"),
            callee: CalleeChoice::Uniform,
        },
        relay: RelayConfig {
            // Baset tuned the load so calls fail only through relay failure.
            slots: 1_000,
            uplink_kbps: 1_000_000,
            candidates: CandidateSource::LocalRandom { count: 8 },
            failover,
            always_relay: true,
            end_on_endpoint_departure: end_on_endpoint,
            ..RelayConfig::default()
        },
        strategy: StrategySpec::Random,
        lookup: None,
    }
}

/// (successes, calls) over calls that start at least T before the horizon.
fn rate(r: &CallReport) -> (usize, usize) {
    let eligible: Vec<_> = r.measured().filter(|c| c.start_s + T <= HORIZON).collect();
    for c in &eligible {
        assert_ne!(c.failure, Some(FailureReason::RelayRefused));
        assert_ne!(c.failure, Some(FailureReason::NoConnectivity));
        assert_ne!(c.failure, Some(FailureReason::UserNotFound));
    }
    (
        eligible.iter().filter(|c| c.success()).count(),
        eligible.len(),
    )
}

fn check(name: &str, s: usize, n: usize, p: f64) {
    let got = s as f64 / n as f64;
    let h = 1.96 * binomial_se(got, n);
    println!(
        "{name}: {s} / {n} = {got:.4}, 95% CI [{:.4}, {:.4}], analytic {p:.4}",
        got - h,
        got + h
    );
    assert!((got - p).abs() < 1.96 * binomial_se(p, n), "{name}");
}

#[test]
fn no_failover_matches_exponential_analysis_and_the_reliability_run() {
    let run = CallRun::new(&cfg(FailoverSpec::Active { k: 1 }, false)).expect("valid");
    let r = run.run(&Random).expect("runs");
    let (s, n) = rate(&r);
    let p = exponential_residual(T, L);
    assert!(n > 40_000, "{n}");
    check("calls, no failover", s, n, p);

    // The session-level reliability run on the same question.
    let rel = run_reliability(
        &ReliabilityConfig::baset_exponential(T, 1, 100_000, 2010).expect("valid"),
        &Random,
    )
    .expect("runs");
    let (a, b) = (s as f64 / n as f64, rel.success_rate());
    let se = (binomial_se(a, n).powi(2) + binomial_se(b, rel.calls()).powi(2)).sqrt();
    println!(
        "relay_reliability: {b:.4}; difference {:.4} (se {se:.4})",
        a - b
    );
    assert!((a - b).abs() < 1.96 * se);
}

#[test]
fn redundancy_and_passive_failover_match_analysis() {
    let surv = exponential_residual(T, L);
    for k in [2u32, 3] {
        let r = CallRun::new(&cfg(FailoverSpec::Active { k }, false))
            .expect("valid")
            .run(&Random)
            .expect("runs");
        let (s, n) = rate(&r);
        check(
            &format!("active k={k}"),
            s,
            n,
            active_success(surv, k as usize),
        );
    }
    let detect = 10.0;
    let r = CallRun::new(&cfg(
        FailoverSpec::Passive {
            detect_s: detect,
            max_switches: 100,
        },
        false,
    ))
    .expect("valid")
    .run(&Random)
    .expect("runs");
    let calls: Vec<_> = r.measured().filter(|c| c.start_s + T <= HORIZON).collect();
    let n = calls.len() as f64;
    let m = calls
        .iter()
        .map(|c| f64::from(c.interruptions))
        .sum::<f64>()
        / n;
    let lambda = T / L;
    let gap = calls.iter().map(|c| c.interrupted_s).sum::<f64>() / n;
    println!(
        "passive, detect {detect} s: {m:.4} interruptions per call (analytic {lambda:.4}), {gap:.2} s interrupted per call"
    );
    assert!((m - lambda).abs() < 1.96 * (lambda / n).sqrt() + 1e-3);
    assert!(gap <= m * detect + 1e-9 && gap > 0.9 * m * detect);
    assert!(calls.iter().all(|c| c.failure.is_none()));
}

#[test]
fn endpoint_departures_end_calls_as_analysed() {
    let r = CallRun::new(&cfg(FailoverSpec::Active { k: 1 }, true))
        .expect("valid")
        .run(&Random)
        .expect("runs");
    let (s, n) = rate(&r);
    let p = 1.0 - (1.0 - (-3.0 * T / L).exp()) / 3.0;
    check("calls ending with their endpoints", s, n, p);
    let early = r
        .measured()
        .filter(|c| c.start_s + T <= HORIZON && c.ended_by_endpoint)
        .count() as f64;
    // P(min(E1, E2) < T) = 1 − e^(−2T/L).
    let want = 1.0 - (-2.0 * T / L).exp();
    println!(
        "ended by an endpoint: {:.4} (analytic {want:.4})",
        early / n as f64
    );
    assert!((early / n as f64 - want).abs() < 1.96 * binomial_se(want, n));
}

/// Skype-supernode churn (exponential sessions, median 5.5 h, diurnal
/// rejoins): sessions are memoryless whatever the rejoin modulation, so a
/// relay picked at a call's start survives T with e^(−T ln 2 / 5.5 h).
#[test]
fn skype_supernode_relays_match_their_session_law() {
    let mean = 5.5 * 3600.0 / std::f64::consts::LN_2;
    let surv = exponential_residual(T, mean);
    for k in [1u32, 2, 3] {
        let base = cfg(FailoverSpec::Active { k }, false);
        let c = CallScenarioConfig {
            churn: ChurnSpec {
                warmup_s: 5.0 * 86_400.0,
                ..ChurnSpec::new(NODES, ChurnModel::SkypeSupernode, HORIZON)
            },
            ..base
        };
        let r = CallRun::new(&c).expect("valid").run(&Random).expect("runs");
        let (s, n) = rate(&r);
        check(
            &format!("skype-supernode, active k={k}"),
            s,
            n,
            active_success(surv, k as usize),
        );
    }
}
