//! Relay capacity and churn, checked by brute force over the call records:
//! with one slot per relay no relay ever carries two calls at once, every
//! relay was online (per the churn model itself) while it served, and an
//! uplink cap admits no more concurrent calls than it can carry.

mod calls_common;

use calls_common::{churning, up_periods};
use peerlab_sim::calls::{
    CallReport, CallRun, CallScenarioConfig, CandidateSource, FailoverSpec, FailureReason,
    RelayConfig, StrategySpec,
};

/// Per relay, its service intervals over every call (measured or not).
fn intervals(r: &CallReport, nodes: usize) -> Vec<Vec<(f64, f64, u64)>> {
    let mut per = vec![Vec::new(); nodes];
    for c in &r.calls {
        for u in &c.relays {
            per[u.node as usize].push((u.from_s, u.to_s, c.id));
        }
    }
    for v in per.iter_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
    per
}

/// The most intervals open at once (an interval ending at t and one
/// starting at t do not overlap).
fn max_concurrent(v: &[(f64, f64, u64)]) -> usize {
    let mut ev: Vec<(f64, i32)> = Vec::new();
    for &(a, b, _) in v {
        if b > a {
            ev.push((a, 1));
            ev.push((b, -1));
        }
    }
    ev.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let (mut cur, mut best) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        best = best.max(cur);
    }
    best as usize
}

fn one_slot(strategy: StrategySpec, failover: FailoverSpec) -> CallScenarioConfig {
    let base = churning(4_000, 40_000, 21);
    CallScenarioConfig {
        relay: RelayConfig {
            slots: 1,
            failover,
            candidates: CandidateSource::LocalRandom { count: 8 },
            ..base.relay.clone()
        },
        strategy,
        ..base
    }
}

#[test]
fn one_slot_means_one_call_at_a_time() {
    for (strategy, failover) in [
        (
            StrategySpec::Random,
            FailoverSpec::Passive {
                detect_s: 5.0,
                max_switches: 10,
            },
        ),
        (StrategySpec::Netmax, FailoverSpec::Active { k: 2 }),
        (
            StrategySpec::AsBased,
            FailoverSpec::Passive {
                detect_s: 30.0,
                max_switches: 2,
            },
        ),
    ] {
        let cfg = one_slot(strategy, failover);
        let r = CallRun::new(&cfg)
            .expect("valid")
            .run_configured()
            .expect("runs");
        let ups = up_periods(&cfg);
        let per = intervals(&r, 4_000);
        let mut served = 0usize;
        for (node, v) in per.iter().enumerate() {
            for w in v.windows(2) {
                assert!(
                    w[0].1 <= w[1].0,
                    "{}: relay {node} carries calls {} and {} at once: {:?} {:?}",
                    r.strategy,
                    w[0].2,
                    w[1].2,
                    w[0],
                    w[1]
                );
            }
            for &(a, b, id) in v {
                served += 1;
                assert!(
                    ups[node].iter().any(|&(s, e)| s <= a && b <= e),
                    "relay {node} served call {id} over [{a}, {b}] while offline"
                );
            }
        }
        let s = r.summary();
        let refused = s.failures[FailureReason::RelayRefused as usize];
        println!(
            "{} {failover:?}: {} relay services, {} calls, failures {:?} (refused {refused}), interruptions/relayed call {:.4}",
            r.strategy, served, s.calls, s.failures, s.interruptions_per_relayed_call
        );
        assert!(served > 10_000);
        // A call lost to relay churn really lost a relay that departed.
        for c in r.measured() {
            if c.failure == Some(FailureReason::RelayLost) {
                assert!(c.relays.iter().any(|u| u.departed), "call {}", c.id);
            }
            if let FailoverSpec::Active { k } = failover
                && c.path.is_some_and(|p| p.relayed())
            {
                assert!(c.relays.len() <= k as usize);
                assert_eq!(c.switches, 0);
            }
        }
    }
}

#[test]
fn uplink_caps_concurrent_calls() {
    // 300 kb/s of uplink and many slots: at most 4 calls of 64 kb/s.
    let base = churning(2_000, 40_000, 5);
    let cfg = CallScenarioConfig {
        relay: RelayConfig {
            slots: 100,
            uplink_kbps: 300,
            ..base.relay.clone()
        },
        strategy: StrategySpec::Random,
        ..base
    };
    let r = CallRun::new(&cfg)
        .expect("valid")
        .run_configured()
        .expect("runs");
    let per = intervals(&r, 2_000);
    let worst = per.iter().map(|v| max_concurrent(v)).max().unwrap_or(0);
    println!("uplink 300 kb/s: most concurrent relayed calls on one relay {worst}");
    assert!(worst <= 4);
    assert!(worst >= 2, "the cap was never approached: {worst}");
}
