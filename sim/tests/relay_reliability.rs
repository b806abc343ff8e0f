//! Call reliability over churning relays, against analysis (issue 6; Baset &
//! Schulzrinne, IPTComm 2010 / thesis §6.4.5, literature T10).
//!
//! Run with `--nocapture` to see the tables recorded in `sim/RELAY.md`.

use peerlab_churn::Dist;
use peerlab_core::relay::{Constraints, Random};
use peerlab_core::rng::derive_seed;
use peerlab_sim::relay::{
    CallFailure, Failover, RelayRunError, ReliabilityConfig, active_success, binomial_se,
    exponential_residual, lomax_residual, run_reliability,
};

const MIN: f64 = 60.0;
const MEAN_LIFE: f64 = 300.0 * MIN;
const DURATIONS_MIN: [f64; 5] = [15.0, 30.0, 60.0, 120.0, 240.0];
/// Two-sided z for a 95% family-wise level over the 15 cells of a table
/// (Bonferroni: 0.05 / 15 per cell).
const Z_FAMILY: f64 = 2.935;

fn exp_cfg(duration_min: f64, k: usize, calls: usize) -> ReliabilityConfig {
    ReliabilityConfig::baset_exponential(duration_min * MIN, k, calls, 2010).expect("valid")
}

/// Lomax (shifted Pareto) up and down times, shape a = 2 and scale b = 5 h,
/// so the mean is b / (a − 1) = 300 min as in Baset's setup; the first period
/// is drawn from the equilibrium residual, Lomax (1, b).
fn pareto_cfg(duration_min: f64, k: usize, calls: usize) -> ReliabilityConfig {
    let life = Dist::shifted_pareto(2.0, MEAN_LIFE).expect("valid");
    let residual = Dist::shifted_pareto(1.0, MEAN_LIFE).expect("valid");
    ReliabilityConfig {
        up: life.clone(),
        down: life,
        residual: Some((residual.clone(), residual)),
        warmup_s: 86_400.0,
        ..exp_cfg(duration_min, k, calls)
    }
}

#[test]
fn no_failover_matches_exponential_analysis() {
    let n = 100_000;
    let r = run_reliability(&exp_cfg(60.0, 1, n), &Random).expect("runs");
    let p = exponential_residual(60.0 * MIN, MEAN_LIFE);
    let se = binomial_se(p, n);
    let (lo, hi) = r.ci95();
    println!(
        "no failover, exp(300 min), 60-min calls: {} / {} = {:.4}, 95% CI [{:.4}, {:.4}], analytic {:.4} (±{:.4})",
        r.successes(),
        n,
        r.success_rate(),
        lo,
        hi,
        p,
        1.96 * se
    );
    assert!((p - 0.8187).abs() < 1e-4);
    assert!((r.success_rate() - p).abs() < 1.96 * se);
    assert!(lo <= p && p <= hi);
    assert_eq!(r.failures(CallFailure::NoRelay), 0);
}

/// Runs the k = 1, 2, 3 × duration grid and prints it; returns
/// `[duration][k] = (simulated, analytic)`.
fn grid(
    name: &str,
    cfg: impl Fn(f64, usize) -> ReliabilityConfig,
    analytic: impl Fn(f64) -> f64,
) -> Vec<[(f64, f64); 3]> {
    println!("\n{name}: call success vs duration (sim ± 95% CI half-width | analytic)");
    println!("| T (min) | k = 1 | k = 2 | k = 3 |");
    println!("|---:|---|---|---|");
    let mut rows = Vec::new();
    for t in DURATIONS_MIN {
        let mut row = [(0.0, 0.0); 3];
        let mut line = format!("| {t:.0} |");
        for (i, k) in (1..=3).enumerate() {
            // One sample path per duration, shared by k = 1, 2, 3 (common
            // random numbers); durations get independent paths, so one
            // unlucky path cannot shift the whole table.
            let c = ReliabilityConfig {
                seed: derive_seed(2010, "relay-duration", t as u64),
                ..cfg(t, k)
            };
            let r = run_reliability(&c, &Random).expect("runs");
            let p = active_success(analytic(t * MIN), k);
            let s = r.success_rate();
            let h = 1.96 * binomial_se(s, r.calls());
            line += &format!(" {:.4} ± {:.4} \\| {:.4} |", s, h, p);
            row[i] = (s, p);
        }
        println!("{line}");
        rows.push(row);
    }
    rows
}

#[test]
fn redundancy_matches_analysis_and_rises_with_k() {
    let n = 100_000;
    let rows = grid(
        "Exponential up/down, mean 300 min, active failover",
        |t, k| exp_cfg(t, k, n),
        |t| exponential_residual(t, MEAN_LIFE),
    );
    for (row, t) in rows.iter().zip(DURATIONS_MIN) {
        for (i, &(s, p)) in row.iter().enumerate() {
            let tol = Z_FAMILY * binomial_se(p, n);
            assert!((s - p).abs() < tol, "T={t} k={}: {s} vs {p}", i + 1);
        }
        assert!(row[0].0 < row[1].0 && row[1].0 < row[2].0, "T={t}: {row:?}");
    }
}

#[test]
fn pareto_lifetimes_against_residual_analysis() {
    let n = 100_000;
    let rows = grid(
        "Lomax up/down (a = 2, b = 5 h, mean 300 min), active failover",
        |t, k| pareto_cfg(t, k, n),
        |t| lomax_residual(t, 2.0, MEAN_LIFE),
    );
    for (row, t) in rows.iter().zip(DURATIONS_MIN) {
        for (i, &(s, p)) in row.iter().enumerate() {
            let tol = Z_FAMILY * binomial_se(p, n);
            assert!((s - p).abs() < tol, "T={t} k={}: {s} vs {p}", i + 1);
        }
        assert!(row[0].0 < row[1].0 && row[1].0 < row[2].0, "T={t}: {row:?}");
    }
    // Baset: "at least 3 relays for 99.9% at 60 min". How many does each
    // model need, analytically?
    for (name, surv) in [
        ("exponential", exponential_residual(60.0 * MIN, MEAN_LIFE)),
        ("lomax a=2", lomax_residual(60.0 * MIN, 2.0, MEAN_LIFE)),
    ] {
        let k = (1..=10).find(|&k| active_success(surv, k) >= 0.999);
        println!(
            "{name}: 60-min success k=1..4: {:.5} {:.5} {:.5} {:.5}; relays for 99.9%: {k:?}",
            active_success(surv, 1),
            active_success(surv, 2),
            active_success(surv, 3),
            active_success(surv, 4),
        );
    }
    // Heavy tails reward age: an uptime constraint (≥ 1 h) lifts k = 1.
    let base = run_reliability(&pareto_cfg(60.0, 1, n), &Random).expect("runs");
    let aged = ReliabilityConfig {
        constraints: Constraints {
            min_uptime_s: Some(60.0 * MIN),
            ..Constraints::default()
        },
        ..pareto_cfg(60.0, 1, n)
    };
    let aged = run_reliability(&aged, &Random).expect("runs");
    println!(
        "lomax, k=1, 60 min: random {:.4}, random with uptime >= 1 h {:.4}",
        base.success_rate(),
        aged.success_rate()
    );
    assert!(aged.success_rate() > base.success_rate() + 0.02);
}

#[test]
fn passive_failover_counts_interruptions() {
    let n = 100_000;
    let detect_s = 10.0;
    let cfg = ReliabilityConfig {
        failover: Failover::Passive {
            detect_s,
            max_switches: 100,
        },
        ..exp_cfg(60.0, 1, n)
    };
    let passive = run_reliability(&cfg, &Random).expect("runs");
    let active = run_reliability(&exp_cfg(60.0, 1, n), &Random).expect("runs");
    // Common random numbers: the first relay is the same, so "never
    // interrupted" under passive failover is "survived" with one relay.
    assert_eq!(passive.successes(), active.successes());
    // Memoryless relays fail as a Poisson process of rate 1/L along the
    // call: E[interruptions] ≈ T/L = 0.2, variance the same.
    let lambda = 60.0 * MIN / MEAN_LIFE;
    let m = passive.mean_interruptions();
    println!(
        "passive failover, detect {detect_s} s, 60-min calls: {:.4} interruptions/call (analytic {:.4}), {:.2} s interrupted/call, {} dropped, {:.2} probes/call",
        m,
        lambda,
        passive.mean_interrupted_s(),
        passive.failures(CallFailure::TooManySwitches) + passive.failures(CallFailure::NoRelay),
        passive.mean_probes()
    );
    assert!((m - lambda).abs() < 1.96 * (lambda / n as f64).sqrt() + 1e-3);
    assert!(passive.mean_interrupted_s() <= m * detect_s + 1e-9);
    assert!(passive.mean_interrupted_s() > 0.9 * m * detect_s);
    assert!(passive.outcomes.iter().all(|o| o.failure.is_none()));
}

#[test]
fn runs_are_deterministic_and_configs_validated() {
    let c = exp_cfg(30.0, 2, 2_000);
    let a = run_reliability(&c, &Random).expect("runs");
    assert_eq!(a, run_reliability(&c, &Random).expect("runs"));
    let other = ReliabilityConfig {
        seed: 7,
        ..c.clone()
    };
    assert_ne!(a, run_reliability(&other, &Random).expect("runs"));
    for bad in [
        ReliabilityConfig {
            nodes: 0,
            ..c.clone()
        },
        ReliabilityConfig {
            candidates: 0,
            ..c.clone()
        },
        ReliabilityConfig {
            horizon_s: f64::NAN,
            ..c.clone()
        },
        ReliabilityConfig {
            failover: Failover::Active { k: 0 },
            ..c.clone()
        },
        ReliabilityConfig {
            failover: Failover::Passive {
                detect_s: -1.0,
                max_switches: 1,
            },
            ..c.clone()
        },
    ] {
        assert!(matches!(
            run_reliability(&bad, &Random),
            Err(RelayRunError::Invalid(_))
        ));
    }
    // A population that is almost never up: calls fail for want of a relay.
    let dead = ReliabilityConfig {
        nodes: 3,
        down: Dist::exponential(1e9).expect("valid"),
        residual: None,
        ..c
    };
    let r = run_reliability(&dead, &Random).expect("runs");
    assert!(r.failures(CallFailure::NoRelay) > 0);
}
