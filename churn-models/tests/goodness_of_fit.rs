//! Goodness of fit: 100,000 draws from each distribution pass a
//! Kolmogorov–Smirnov test against the statrs CDF of the same parameters
//! (p > 0.01, fixed seed), and fail it against a deliberately wrong
//! parameter.

use peerlab_churn::Dist;
use peerlab_churn::stats::ks_test;
use peerlab_churn::streams::stream;
use statrs::distribution::{
    ContinuousCDF, Dirac, Empirical, Exp, LogNormal, Normal, Pareto, Uniform, Weibull,
};

const N: usize = 100_000;
const SEED: u64 = 20_240_601;

fn draws(d: &Dist, case: u64) -> Vec<f64> {
    let mut rng = stream(SEED, "test.goodness_of_fit", case);
    (0..N).map(|_| d.sample(&mut rng)).collect()
}

/// Asserts that draws of `d` fit `right` and do not fit `wrong`.
fn check(name: &str, case: u64, d: Dist, right: impl Fn(f64) -> f64, wrong: impl Fn(f64) -> f64) {
    let xs = draws(&d, case);
    let good = ks_test(&xs, right);
    assert!(
        good.p_value > 0.01,
        "{name}: KS against the true CDF rejected: {good:?}"
    );
    let bad = ks_test(&xs, wrong);
    assert!(
        bad.p_value < 0.01,
        "{name}: KS against a wrong parameter accepted: {bad:?}"
    );
}

#[test]
fn exponential() {
    let mean = 3600.0;
    let right = Exp::new(1.0 / mean).unwrap();
    let wrong = Exp::new(1.0 / (mean * 1.05)).unwrap();
    check(
        "exponential",
        1,
        Dist::exponential(mean).unwrap(),
        |x| right.cdf(x),
        |x| wrong.cdf(x),
    );
}

#[test]
fn pareto() {
    let right = Pareto::new(300.0, 1.5).unwrap();
    let wrong = Pareto::new(300.0, 1.6).unwrap();
    check(
        "pareto",
        2,
        Dist::pareto(1.5, 300.0).unwrap(),
        |x| right.cdf(x),
        |x| wrong.cdf(x),
    );
}

#[test]
fn shifted_pareto() {
    // Shifted Pareto with scale β is a Pareto(β, α) moved left by β.
    let (shape, beta) = (3.0, 7200.0);
    let right = Pareto::new(beta, shape).unwrap();
    let wrong = Pareto::new(beta * 1.1, shape).unwrap();
    check(
        "shifted_pareto",
        3,
        Dist::shifted_pareto(shape, beta).unwrap(),
        |x| right.cdf(x + beta),
        |x| wrong.cdf(x + beta * 1.1),
    );
}

#[test]
fn weibull_kad_session() {
    let (shape, scale) = (0.61511, 169.5 * 60.0);
    let right = Weibull::new(shape, scale).unwrap();
    let wrong = Weibull::new(shape * 1.05, scale).unwrap();
    check(
        "weibull",
        4,
        Dist::weibull(shape, scale).unwrap(),
        |x| right.cdf(x),
        |x| wrong.cdf(x),
    );
}

#[test]
fn log_normal() {
    let (median, sigma) = (600.0f64, 1.3);
    let right = LogNormal::new(median.ln(), sigma).unwrap();
    let wrong = LogNormal::new(median.ln(), sigma * 1.05).unwrap();
    check(
        "log_normal",
        5,
        Dist::log_normal(median, sigma).unwrap(),
        |x| right.cdf(x),
        |x| wrong.cdf(x),
    );
}

fn truncated(n: Normal, lo: f64, hi: f64) -> impl Fn(f64) -> f64 {
    move |x: f64| {
        if x <= lo {
            0.0
        } else if x >= hi {
            1.0
        } else {
            (n.cdf(x) - n.cdf(lo)) / (n.cdf(hi) - n.cdf(lo))
        }
    }
}

#[test]
fn truncated_normal_at_zero() {
    let d = Dist::truncated_normal(60.0, 60.0, Some(0.0), None).unwrap();
    let right = truncated(Normal::new(60.0, 60.0).unwrap(), 0.0, f64::INFINITY);
    let wrong = truncated(Normal::new(63.0, 60.0).unwrap(), 0.0, f64::INFINITY);
    check("truncated_normal [0, inf)", 6, d, right, wrong);
}

#[test]
fn truncated_normal_in_the_upper_tail() {
    // Entirely above the mean: sampled in mirror image.
    let d = Dist::truncated_normal(100.0, 10.0, Some(120.0), Some(140.0)).unwrap();
    let right = truncated(Normal::new(100.0, 10.0).unwrap(), 120.0, 140.0);
    let wrong = truncated(Normal::new(100.0, 11.0).unwrap(), 120.0, 140.0);
    check("truncated_normal [2sd, 4sd]", 7, d, right, wrong);
}

#[test]
fn uniform() {
    let right = Uniform::new(30.0, 90.0).unwrap();
    let wrong = Uniform::new(30.0, 92.0).unwrap();
    check(
        "uniform",
        8,
        Dist::uniform(30.0, 90.0).unwrap(),
        |x| right.cdf(x),
        |x| wrong.cdf(x),
    );
}

#[test]
fn constant() {
    let right = Dirac::new(42.0).unwrap();
    let wrong = Dirac::new(42.5).unwrap();
    check(
        "constant",
        9,
        Dist::constant(42.0).unwrap(),
        |x| right.cdf(x),
        |x| wrong.cdf(x),
    );
}

#[test]
fn empirical_samples() {
    // 200 measured durations, some repeated.
    let mut rng = stream(SEED, "test.empirical_list", 0);
    let source = Dist::log_normal(300.0, 1.0).unwrap();
    let mut list: Vec<f64> = (0..200)
        .map(|_| (source.sample(&mut rng)).round())
        .collect();
    list.extend_from_slice(&[100.0, 100.0, 100.0]);
    let mut right = Empirical::new().unwrap();
    for &v in &list {
        right.add(v);
    }
    // A list with a tenth of its values doubled.
    let mut wrong = Empirical::new().unwrap();
    for (i, &v) in list.iter().enumerate() {
        wrong.add(if i % 10 == 0 { 2.0 * v } else { v });
    }
    check(
        "empirical",
        10,
        Dist::empirical(list).unwrap(),
        |x| right.cdf(x),
        |x| wrong.cdf(x),
    );
}

#[test]
fn empirical_cdf_table() {
    // An atom of 0.1 at 10 s, then linear pieces: the oracle is the same
    // mixture built from statrs: a Dirac and uniforms on each segment.
    let points = vec![[10.0, 0.1], [60.0, 0.5], [600.0, 0.9], [3600.0, 1.0]];
    let mixture = |pts: Vec<[f64; 2]>| {
        let atom = Dirac::new(pts[0][0]).unwrap();
        let p0 = pts[0][1];
        let pieces: Vec<(f64, Uniform)> = pts
            .windows(2)
            .map(|w| (w[1][1] - w[0][1], Uniform::new(w[0][0], w[1][0]).unwrap()))
            .collect();
        move |x: f64| p0 * atom.cdf(x) + pieces.iter().map(|(w, u)| w * u.cdf(x)).sum::<f64>()
    };
    let right = mixture(points.clone());
    let wrong = mixture(vec![[10.0, 0.1], [60.0, 0.45], [600.0, 0.9], [3600.0, 1.0]]);
    check(
        "empirical_cdf",
        11,
        Dist::empirical_cdf(points).unwrap(),
        right,
        wrong,
    );
}
