//! Statistics for validating models: the Kolmogorov–Smirnov test and a
//! Weibull maximum-likelihood fit.

/// The result of a one-sample Kolmogorov–Smirnov test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsResult {
    /// The statistic `D = sup |F_n(x) - F(x)|`.
    pub d: f64,
    /// The asymptotic p-value.
    pub p_value: f64,
    /// Sample size.
    pub n: usize,
}

/// The one-sample KS statistic of `samples` against the CDF `cdf`.
///
/// Ties are handled exactly: at each distinct value `x` the empirical CDF
/// jumps from `e_lo` to `e_hi`, and `D` compares `e_hi` with `F(x)` and
/// `e_lo` with the left limit `F(x⁻)`, taken as `F` at the next float below
/// `x`. That is exact for distributions with atoms (a constant, a bootstrap
/// from a list) and equal to the usual formula for continuous ones.
pub fn ks_statistic(samples: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut xs: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mut d: f64 = 0.0;
    let mut i = 0;
    while i < xs.len() {
        let x = xs[i];
        let mut j = i;
        while j < xs.len() && xs[j] == x {
            j += 1;
        }
        let (e_lo, e_hi) = (i as f64 / n, j as f64 / n);
        d = d
            .max((cdf(x) - e_hi).abs())
            .max((cdf(x.next_down()) - e_lo).abs());
        i = j;
    }
    d
}

/// The asymptotic p-value `P(K > λ)` of the Kolmogorov distribution, with
/// Stephens' small-sample correction `λ = D (√n + 0.12 + 0.11/√n)`.
pub fn ks_p_value(d: f64, n: usize) -> f64 {
    if n == 0 || d.is_nan() {
        return 1.0;
    }
    let sn = (n as f64).sqrt();
    kolmogorov_survival(d * (sn + 0.12 + 0.11 / sn))
}

/// `P(K > λ)` for the Kolmogorov distribution.
pub fn kolmogorov_survival(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        // P(K <= λ) = √(2π)/λ Σ_{j>=1} exp(-(2j-1)² π² / (8 λ²)), which
        // converges fast for small λ.
        let pi2 = std::f64::consts::PI * std::f64::consts::PI;
        let mut cdf = 0.0;
        for j in 1..=50 {
            let k = (2 * j - 1) as f64;
            let term = (-k * k * pi2 / (8.0 * lambda * lambda)).exp();
            cdf += term;
            if term < 1e-17 {
                break;
            }
        }
        cdf *= (2.0 * std::f64::consts::PI).sqrt() / lambda;
        (1.0 - cdf).clamp(0.0, 1.0)
    } else {
        // P(K > λ) = 2 Σ_{j>=1} (-1)^{j-1} exp(-2 j² λ²).
        let mut s = 0.0;
        for j in 1..=100 {
            let jf = j as f64;
            let term = (-2.0 * jf * jf * lambda * lambda).exp();
            s += if j % 2 == 1 { term } else { -term };
            if term < 1e-17 {
                break;
            }
        }
        (2.0 * s).clamp(0.0, 1.0)
    }
}

/// Runs the one-sample KS test of `samples` against `cdf`.
pub fn ks_test(samples: &[f64], cdf: impl Fn(f64) -> f64) -> KsResult {
    let n = samples.iter().filter(|x| !x.is_nan()).count();
    let d = ks_statistic(samples, cdf);
    KsResult {
        d,
        p_value: ks_p_value(d, n),
        n,
    }
}

/// A Weibull fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeibullFit {
    /// Shape k.
    pub shape: f64,
    /// Scale λ, in the samples' unit.
    pub scale: f64,
}

impl WeibullFit {
    /// The fitted median, `λ (ln 2)^(1/k)`.
    pub fn median(&self) -> f64 {
        self.scale * std::f64::consts::LN_2.powf(1.0 / self.shape)
    }
}

/// The maximum-likelihood Weibull fit of positive samples.
///
/// Solves the profile equation for the shape,
/// `Σ xᵏ ln x / Σ xᵏ − 1/k − mean(ln x) = 0`, by Newton's method with a
/// bisection fallback, working on `ln x` centred at its mean to avoid
/// overflow; the scale follows as `(mean xᵏ)^(1/k)`. `None` if fewer than
/// two positive samples, or all equal.
pub fn weibull_mle(samples: &[f64]) -> Option<WeibullFit> {
    let logs: Vec<f64> = samples
        .iter()
        .filter(|&&x| x > 0.0 && x.is_finite())
        .map(|x| x.ln())
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let n = logs.len() as f64;
    let centre = logs.iter().sum::<f64>() / n;
    let l: Vec<f64> = logs.iter().map(|v| v - centre).collect();
    if l.iter().all(|&v| v.abs() < 1e-12) {
        return None;
    }
    // g(k) = A(k) - 1/k with A(k) = Σ e^{k l} l / Σ e^{k l}; increasing in k.
    let g = |k: f64| {
        let m = l.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(k * v));
        let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
        for &v in &l {
            let e = (k * v - m).exp();
            s0 += e;
            s1 += e * v;
            s2 += e * v * v;
        }
        let a = s1 / s0;
        (a - 1.0 / k, s2 / s0 - a * a + 1.0 / (k * k))
    };
    let (mut lo, mut hi) = (1e-3, 1.0);
    while g(hi).0 < 0.0 && hi < 1e4 {
        lo = hi;
        hi *= 2.0;
    }
    let mut k = 0.5 * (lo + hi);
    for _ in 0..200 {
        let (v, dv) = g(k);
        if v.abs() < 1e-13 {
            break;
        }
        if v < 0.0 {
            lo = k;
        } else {
            hi = k;
        }
        let newton = k - v / dv;
        k = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if hi - lo < 1e-14 * k {
            break;
        }
    }
    let m = l.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(k * v));
    let mean_pow = l.iter().map(|&v| (k * v - m).exp()).sum::<f64>() / n;
    let scale = ((mean_pow.ln() + m) / k + centre).exp();
    Some(WeibullFit { shape: k, scale })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kolmogorov_distribution_matches_tabulated_critical_values() {
        // Classical asymptotic critical values: 1.224 (10%), 1.358 (5%),
        // 1.628 (1%), 1.949 (0.1%).
        for (lambda, alpha) in [(1.224, 0.10), (1.358, 0.05), (1.628, 0.01), (1.949, 0.001)] {
            let p = kolmogorov_survival(lambda);
            assert!(
                (p - alpha).abs() < 0.02 * alpha + 2e-4,
                "λ={lambda}: {p} vs {alpha}"
            );
        }
        // The two series agree where they meet.
        let pi2 = std::f64::consts::PI.powi(2);
        let small = 1.0
            - (2.0 * std::f64::consts::PI).sqrt() / 1.18
                * (1..50)
                    .map(|j| (-(((2 * j - 1) as f64).powi(2)) * pi2 / (8.0 * 1.18 * 1.18)).exp())
                    .sum::<f64>();
        assert!((small - kolmogorov_survival(1.18)).abs() < 1e-10);
        assert_eq!(kolmogorov_survival(0.0), 1.0);
        assert!(kolmogorov_survival(0.3) > 0.9999);
        assert!(kolmogorov_survival(5.0) < 1e-20);
    }

    #[test]
    fn ks_statistic_by_hand() {
        // Samples 0.1, 0.4, 0.9 against U(0,1): D = max(1/3-0.1, 0.4-1/3,
        // 2/3-0.4, 0.9-2/3, 1-0.9) = 0.2667.
        let d = ks_statistic(&[0.9, 0.1, 0.4], |x| x.clamp(0.0, 1.0));
        assert!((d - (2.0 / 3.0 - 0.4)).abs() < 1e-12, "{d}");
        // A point mass tested against itself has D = 0; against a point mass
        // elsewhere, D = 1.
        let c = [2.0; 10];
        assert_eq!(ks_statistic(&c, |x| if x < 2.0 { 0.0 } else { 1.0 }), 0.0);
        assert_eq!(ks_statistic(&c, |x| if x < 3.0 { 0.0 } else { 1.0 }), 1.0);
    }

    #[test]
    fn weibull_mle_recovers_a_known_fit_from_quantiles() {
        // Deterministic "samples": the Weibull(0.7, 50) quantiles at
        // (i - 0.5)/n. The MLE of such a sample is close to the truth.
        let n = 20_000;
        let xs: Vec<f64> = (1..=n)
            .map(|i| {
                let p = (i as f64 - 0.5) / n as f64;
                50.0 * (-(1.0 - p).ln()).powf(1.0 / 0.7)
            })
            .collect();
        let f = weibull_mle(&xs).unwrap();
        assert!((f.shape - 0.7).abs() < 0.01, "{f:?}");
        assert!((f.scale - 50.0).abs() < 0.5, "{f:?}");
        assert!(weibull_mle(&[1.0]).is_none());
        assert!(weibull_mle(&[3.0, 3.0, 3.0]).is_none());
    }
}
