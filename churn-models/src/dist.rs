//! Probability distributions for durations, in natural units (seconds).
//!
//! A [`Dist`] is built from a [`DistSpec`] and checked on construction: an
//! invalid parameter is an [`InvalidParam`] naming it. Specs embed a `Dist`
//! directly; deserialising validates, so a bad parameter fails when the spec is
//! read, for example:
//!
//! ```toml
//! session = { dist = "weibull", shape = 0.61511, scale_s = 10170.0 }
//! ```
//!
//! Sampling uses the inverse of the CDF on one uniform draw (or an index draw,
//! for a list of samples), so one sample consumes a fixed, small amount of the
//! caller's stream.

use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use statrs::function::erf::{erfc, erfc_inv};
use statrs::function::gamma::gamma;

use crate::error::{InvalidParam, finite, positive};
use crate::streams::{below, open01};

/// The parameters of a distribution, as written in a spec.
///
/// The tag `dist` selects the family; every duration is in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum DistSpec {
    /// Exponential with the given mean.
    Exponential {
        /// Mean, in seconds (> 0).
        mean_s: f64,
    },
    /// Pareto (type I): `P(X > x) = (scale/x)^shape` for `x >= scale`.
    Pareto {
        /// Tail index α (> 0); the mean is finite only for α > 1.
        shape: f64,
        /// Minimum value `x_m`, in seconds (> 0).
        scale_s: f64,
    },
    /// Shifted Pareto (Lomax), as in Yao et al. and OverSim's ParetoChurn:
    /// `P(X > x) = (1 + x/scale)^-shape` for `x >= 0`; mean `scale/(shape-1)`.
    ShiftedPareto {
        /// Tail index α (> 0).
        shape: f64,
        /// Scale β, in seconds (> 0).
        scale_s: f64,
    },
    /// Weibull: `P(X > x) = exp(-(x/scale)^shape)`.
    Weibull {
        /// Shape k (> 0); k < 1 gives a decreasing hazard.
        shape: f64,
        /// Scale λ, in seconds (> 0).
        scale_s: f64,
    },
    /// Log-normal: `ln X` is normal with mean `ln median_s` and standard
    /// deviation `sigma`.
    #[serde(alias = "lognormal")]
    LogNormal {
        /// Median, in seconds (> 0).
        median_s: f64,
        /// Standard deviation of `ln X` (> 0).
        sigma: f64,
    },
    /// A normal distribution restricted to `[min_s, max_s]`. An absent bound
    /// is unbounded; durations want `min_s = 0`.
    TruncatedNormal {
        /// Mean of the untruncated normal, in seconds.
        mean_s: f64,
        /// Standard deviation of the untruncated normal, in seconds (> 0).
        sd_s: f64,
        /// Lower bound, in seconds.
        #[serde(default)]
        min_s: Option<f64>,
        /// Upper bound, in seconds.
        #[serde(default)]
        max_s: Option<f64>,
    },
    /// Uniform on `[min_s, max_s]`.
    Uniform {
        /// Lower bound, in seconds.
        min_s: f64,
        /// Upper bound, in seconds (> `min_s`).
        max_s: f64,
    },
    /// Always the same value.
    Constant {
        /// The value, in seconds.
        value_s: f64,
    },
    /// Each draw is one of the given values, each equally likely (a
    /// bootstrap from measured durations).
    Empirical {
        /// The values, in seconds (at least one, all finite).
        samples_s: Vec<f64>,
    },
    /// A tabulated CDF, linear between points: each point is
    /// `[value_s, cumulative probability]`. Values and probabilities must not
    /// decrease and the last probability must be 1; a first probability above
    /// 0 is an atom at the first value.
    EmpiricalCdf {
        /// The points `[value_s, P(X <= value_s)]`.
        points: Vec<[f64; 2]>,
    },
}

/// A validated distribution, ready to sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DistSpec", into = "DistSpec")]
pub struct Dist {
    spec: DistSpec,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Exponential { mean: f64 },
    Pareto { shape: f64, scale: f64 },
    ShiftedPareto { shape: f64, scale: f64 },
    Weibull { shape: f64, scale: f64 },
    LogNormal { mu: f64, sigma: f64 },
    TruncatedNormal(TruncNormal),
    Uniform { lo: f64, hi: f64 },
    Constant { v: f64 },
    Empirical { sorted: Arc<[f64]> },
    EmpiricalCdf { xs: Arc<[f64]>, ps: Arc<[f64]> },
}

/// A truncated normal, precomputed. Intervals above the mean are sampled in
/// mirror image (`flip`), so the inverse CDF always works in the lower tail
/// where `erfc` keeps its relative precision.
#[derive(Clone, Debug, PartialEq)]
struct TruncNormal {
    mean: f64,
    sd: f64,
    lo: f64,
    hi: f64,
    flip: bool,
    /// Standard-normal CDF at the (possibly mirrored) lower bound.
    p_lo: f64,
    /// Standard-normal CDF at the (possibly mirrored) upper bound.
    p_hi: f64,
}

/// Standard normal CDF.
fn phi(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal density.
fn phi_density(z: f64) -> f64 {
    if z.is_infinite() {
        0.0
    } else {
        (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
    }
}

/// Standard normal quantile, for `p` in `(0, 1)`.
fn phi_inv(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

impl TryFrom<DistSpec> for Dist {
    type Error = InvalidParam;
    fn try_from(spec: DistSpec) -> Result<Self, InvalidParam> {
        Dist::new(spec)
    }
}

impl From<Dist> for DistSpec {
    fn from(d: Dist) -> DistSpec {
        d.spec
    }
}

impl Dist {
    /// Validates `spec`; the error names the first bad parameter.
    pub fn new(spec: DistSpec) -> Result<Dist, InvalidParam> {
        let kind = match &spec {
            DistSpec::Exponential { mean_s } => Kind::Exponential {
                mean: positive("exponential.mean_s", *mean_s)?,
            },
            DistSpec::Pareto { shape, scale_s } => Kind::Pareto {
                shape: positive("pareto.shape", *shape)?,
                scale: positive("pareto.scale_s", *scale_s)?,
            },
            DistSpec::ShiftedPareto { shape, scale_s } => Kind::ShiftedPareto {
                shape: positive("shifted_pareto.shape", *shape)?,
                scale: positive("shifted_pareto.scale_s", *scale_s)?,
            },
            DistSpec::Weibull { shape, scale_s } => Kind::Weibull {
                shape: positive("weibull.shape", *shape)?,
                scale: positive("weibull.scale_s", *scale_s)?,
            },
            DistSpec::LogNormal { median_s, sigma } => Kind::LogNormal {
                mu: positive("log_normal.median_s", *median_s)?.ln(),
                sigma: positive("log_normal.sigma", *sigma)?,
            },
            DistSpec::TruncatedNormal {
                mean_s,
                sd_s,
                min_s,
                max_s,
            } => Kind::TruncatedNormal(TruncNormal::new(*mean_s, *sd_s, *min_s, *max_s)?),
            DistSpec::Uniform { min_s, max_s } => {
                let lo = finite("uniform.min_s", *min_s)?;
                let hi = finite("uniform.max_s", *max_s)?;
                if hi <= lo {
                    return Err(InvalidParam::new(
                        "uniform.max_s",
                        hi,
                        format!("greater than min_s ({lo})"),
                    ));
                }
                Kind::Uniform { lo, hi }
            }
            DistSpec::Constant { value_s } => Kind::Constant {
                v: finite("constant.value_s", *value_s)?,
            },
            DistSpec::Empirical { samples_s } => {
                if samples_s.is_empty() {
                    return Err(InvalidParam::new(
                        "empirical.samples_s",
                        "[]",
                        "at least one value",
                    ));
                }
                for (i, &v) in samples_s.iter().enumerate() {
                    finite(&format!("empirical.samples_s[{i}]"), v)?;
                }
                let mut sorted = samples_s.clone();
                sorted.sort_by(f64::total_cmp);
                Kind::Empirical {
                    sorted: sorted.into(),
                }
            }
            DistSpec::EmpiricalCdf { points } => {
                let (xs, ps) = validate_cdf_points(points)?;
                Kind::EmpiricalCdf {
                    xs: xs.into(),
                    ps: ps.into(),
                }
            }
        };
        Ok(Dist { spec, kind })
    }

    /// Exponential with mean `mean_s`.
    pub fn exponential(mean_s: f64) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::Exponential { mean_s })
    }

    /// Pareto with tail index `shape` and minimum `scale_s`.
    pub fn pareto(shape: f64, scale_s: f64) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::Pareto { shape, scale_s })
    }

    /// Shifted Pareto (Lomax) with tail index `shape` and scale `scale_s`.
    pub fn shifted_pareto(shape: f64, scale_s: f64) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::ShiftedPareto { shape, scale_s })
    }

    /// Shifted Pareto with tail index `shape` (> 1) and the given mean, as
    /// OverSim's ParetoChurn parameterises it: `scale = mean * (shape - 1)`.
    pub fn shifted_pareto_with_mean(shape: f64, mean_s: f64) -> Result<Dist, InvalidParam> {
        if !(shape.is_finite() && shape > 1.0) {
            return Err(InvalidParam::new(
                "shifted_pareto.shape",
                shape,
                "a finite number > 1 for a finite mean",
            ));
        }
        let mean_s = positive("shifted_pareto.mean_s", mean_s)?;
        Dist::shifted_pareto(shape, mean_s * (shape - 1.0))
    }

    /// Weibull with `shape` and `scale_s`.
    pub fn weibull(shape: f64, scale_s: f64) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::Weibull { shape, scale_s })
    }

    /// Log-normal with the given median and log-scale standard deviation.
    pub fn log_normal(median_s: f64, sigma: f64) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::LogNormal { median_s, sigma })
    }

    /// Normal with `mean_s` and `sd_s`, truncated to `[min_s, max_s]`.
    pub fn truncated_normal(
        mean_s: f64,
        sd_s: f64,
        min_s: Option<f64>,
        max_s: Option<f64>,
    ) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::TruncatedNormal {
            mean_s,
            sd_s,
            min_s,
            max_s,
        })
    }

    /// Uniform on `[min_s, max_s]`.
    pub fn uniform(min_s: f64, max_s: f64) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::Uniform { min_s, max_s })
    }

    /// Always `value_s`.
    pub fn constant(value_s: f64) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::Constant { value_s })
    }

    /// Resamples the given values uniformly.
    pub fn empirical(samples_s: Vec<f64>) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::Empirical { samples_s })
    }

    /// A piecewise-linear CDF through `points` (`[value_s, probability]`).
    pub fn empirical_cdf(points: Vec<[f64; 2]>) -> Result<Dist, InvalidParam> {
        Dist::new(DistSpec::EmpiricalCdf { points })
    }

    /// The parameters this distribution was built from.
    pub fn spec(&self) -> &DistSpec {
        &self.spec
    }

    /// Draws one value.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match &self.kind {
            Kind::Exponential { mean } => -mean * open01(rng).ln(),
            Kind::Pareto { shape, scale } => scale * open01(rng).powf(-1.0 / shape),
            Kind::ShiftedPareto { shape, scale } => scale * (open01(rng).powf(-1.0 / shape) - 1.0),
            Kind::Weibull { shape, scale } => scale * (-open01(rng).ln()).powf(1.0 / shape),
            Kind::LogNormal { mu, sigma } => (mu + sigma * phi_inv(open01(rng))).exp(),
            Kind::TruncatedNormal(t) => t.quantile_open(open01(rng)),
            Kind::Uniform { lo, hi } => lo + (hi - lo) * open01(rng),
            Kind::Constant { v } => *v,
            Kind::Empirical { sorted } => sorted[below(rng, sorted.len() as u64) as usize],
            Kind::EmpiricalCdf { xs, ps } => cdf_table_quantile(xs, ps, open01(rng)),
        }
    }

    /// `P(X <= x)`.
    pub fn cdf(&self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        match &self.kind {
            Kind::Exponential { mean } => {
                if x <= 0.0 {
                    0.0
                } else {
                    -(-x / mean).exp_m1()
                }
            }
            Kind::Pareto { shape, scale } => {
                if x <= *scale {
                    0.0
                } else {
                    1.0 - (scale / x).powf(*shape)
                }
            }
            Kind::ShiftedPareto { shape, scale } => {
                if x <= 0.0 {
                    0.0
                } else {
                    1.0 - (1.0 + x / scale).powf(-shape)
                }
            }
            Kind::Weibull { shape, scale } => {
                if x <= 0.0 {
                    0.0
                } else {
                    -(-(x / scale).powf(*shape)).exp_m1()
                }
            }
            Kind::LogNormal { mu, sigma } => {
                if x <= 0.0 {
                    0.0
                } else {
                    phi((x.ln() - mu) / sigma)
                }
            }
            Kind::TruncatedNormal(t) => t.cdf(x),
            Kind::Uniform { lo, hi } => ((x - lo) / (hi - lo)).clamp(0.0, 1.0),
            Kind::Constant { v } => {
                if x < *v {
                    0.0
                } else {
                    1.0
                }
            }
            Kind::Empirical { sorted } => {
                sorted.partition_point(|&s| s <= x) as f64 / sorted.len() as f64
            }
            Kind::EmpiricalCdf { xs, ps } => cdf_table(xs, ps, x),
        }
    }

    /// The `p`-quantile, the smallest `x` with `cdf(x) >= p`; `p` is clamped
    /// to `[0, 1]`.
    pub fn quantile(&self, p: f64) -> f64 {
        let p = if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) };
        match &self.kind {
            Kind::Exponential { mean } => -mean * (-p).ln_1p(),
            Kind::Pareto { shape, scale } => scale * (1.0 - p).powf(-1.0 / shape),
            Kind::ShiftedPareto { shape, scale } => scale * ((1.0 - p).powf(-1.0 / shape) - 1.0),
            Kind::Weibull { shape, scale } => scale * (-(-p).ln_1p()).powf(1.0 / shape),
            Kind::LogNormal { mu, sigma } => (mu + sigma * phi_inv(p)).exp(),
            Kind::TruncatedNormal(t) => {
                if p <= 0.0 {
                    t.lo
                } else if p >= 1.0 {
                    t.hi
                } else {
                    t.quantile_open(p)
                }
            }
            Kind::Uniform { lo, hi } => lo + (hi - lo) * p,
            Kind::Constant { v } => *v,
            Kind::Empirical { sorted } => {
                let n = sorted.len();
                let k = ((p * n as f64).ceil() as usize).clamp(1, n);
                sorted[k - 1]
            }
            Kind::EmpiricalCdf { xs, ps } => cdf_table_quantile(xs, ps, p),
        }
    }

    /// The median.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The mean; infinite for a Pareto tail index at or below 1.
    pub fn mean(&self) -> f64 {
        match &self.kind {
            Kind::Exponential { mean } => *mean,
            Kind::Pareto { shape, scale } => {
                if *shape > 1.0 {
                    shape * scale / (shape - 1.0)
                } else {
                    f64::INFINITY
                }
            }
            Kind::ShiftedPareto { shape, scale } => {
                if *shape > 1.0 {
                    scale / (shape - 1.0)
                } else {
                    f64::INFINITY
                }
            }
            Kind::Weibull { shape, scale } => scale * gamma(1.0 + 1.0 / shape),
            Kind::LogNormal { mu, sigma } => (mu + 0.5 * sigma * sigma).exp(),
            Kind::TruncatedNormal(t) => t.mean(),
            Kind::Uniform { lo, hi } => 0.5 * (lo + hi),
            Kind::Constant { v } => *v,
            Kind::Empirical { sorted } => sorted.iter().sum::<f64>() / sorted.len() as f64,
            Kind::EmpiricalCdf { xs, ps } => {
                let mut m = ps[0] * xs[0];
                for i in 1..xs.len() {
                    m += (ps[i] - ps[i - 1]) * 0.5 * (xs[i] + xs[i - 1]);
                }
                m
            }
        }
    }

    /// The smallest value a draw can take (`-inf` if unbounded below).
    pub fn min_value(&self) -> f64 {
        match &self.kind {
            Kind::Exponential { .. }
            | Kind::ShiftedPareto { .. }
            | Kind::Weibull { .. }
            | Kind::LogNormal { .. } => 0.0,
            Kind::Pareto { scale, .. } => *scale,
            Kind::TruncatedNormal(t) => t.lo,
            Kind::Uniform { lo, .. } => *lo,
            Kind::Constant { v } => *v,
            Kind::Empirical { sorted } => sorted[0],
            Kind::EmpiricalCdf { xs, .. } => xs[0],
        }
    }

    /// Checks that every draw is a valid duration (never negative); `param`
    /// names the field holding this distribution.
    pub fn check_duration(&self, param: &str) -> Result<(), InvalidParam> {
        let m = self.min_value();
        if m >= 0.0 {
            Ok(())
        } else {
            Err(InvalidParam::new(
                param,
                format!("{:?}", self.spec),
                "a duration distribution that never draws below 0",
            ))
        }
    }

    pub(crate) fn exponential_const(mean_s: f64) -> Dist {
        Dist {
            spec: DistSpec::Exponential { mean_s },
            kind: Kind::Exponential { mean: mean_s },
        }
    }

    pub(crate) fn weibull_const(shape: f64, scale_s: f64) -> Dist {
        Dist {
            spec: DistSpec::Weibull { shape, scale_s },
            kind: Kind::Weibull {
                shape,
                scale: scale_s,
            },
        }
    }

    pub(crate) fn shifted_pareto_const(shape: f64, scale_s: f64) -> Dist {
        Dist {
            spec: DistSpec::ShiftedPareto { shape, scale_s },
            kind: Kind::ShiftedPareto {
                shape,
                scale: scale_s,
            },
        }
    }

    pub(crate) fn constant_const(value_s: f64) -> Dist {
        Dist {
            spec: DistSpec::Constant { value_s },
            kind: Kind::Constant { v: value_s },
        }
    }
}

impl TruncNormal {
    fn new(
        mean: f64,
        sd: f64,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<TruncNormal, InvalidParam> {
        let mean = finite("truncated_normal.mean_s", mean)?;
        let sd = positive("truncated_normal.sd_s", sd)?;
        let lo = match min {
            Some(v) => finite("truncated_normal.min_s", v)?,
            None => f64::NEG_INFINITY,
        };
        let hi = match max {
            Some(v) => finite("truncated_normal.max_s", v)?,
            None => f64::INFINITY,
        };
        if hi <= lo {
            return Err(InvalidParam::new(
                "truncated_normal.max_s",
                hi,
                format!("greater than min_s ({lo})"),
            ));
        }
        let (za, zb) = ((lo - mean) / sd, (hi - mean) / sd);
        let flip = za > 0.0;
        let (p_lo, p_hi) = if flip {
            (phi(-zb), phi(-za))
        } else {
            (phi(za), phi(zb))
        };
        if (p_hi - p_lo).is_nan() || p_hi - p_lo <= 1e-300 {
            return Err(InvalidParam::new(
                "truncated_normal.min_s",
                lo,
                format!(
                    "an interval [min_s, max_s] with non-negligible mass under N({mean}, {sd}^2)"
                ),
            ));
        }
        Ok(TruncNormal {
            mean,
            sd,
            lo,
            hi,
            flip,
            p_lo,
            p_hi,
        })
    }

    /// Quantile for `u` in `(0, 1)`.
    fn quantile_open(&self, u: f64) -> f64 {
        // Mirrored, X = -Y and P(X <= x) = u means P(Y <= -x) = 1 - u.
        let x = if self.flip {
            self.mean - self.sd * phi_inv(self.p_hi - u * (self.p_hi - self.p_lo))
        } else {
            self.mean + self.sd * phi_inv(self.p_lo + u * (self.p_hi - self.p_lo))
        };
        x.clamp(self.lo, self.hi)
    }

    fn cdf(&self, x: f64) -> f64 {
        if x <= self.lo {
            return 0.0;
        }
        if x >= self.hi {
            return 1.0;
        }
        let z = (x - self.mean) / self.sd;
        let mass = self.p_hi - self.p_lo;
        if self.flip {
            ((self.p_hi - phi(-z)) / mass).clamp(0.0, 1.0)
        } else {
            ((phi(z) - self.p_lo) / mass).clamp(0.0, 1.0)
        }
    }

    fn mean(&self) -> f64 {
        let (za, zb) = (
            (self.lo - self.mean) / self.sd,
            (self.hi - self.mean) / self.sd,
        );
        self.mean + self.sd * (phi_density(za) - phi_density(zb)) / (self.p_hi - self.p_lo)
    }
}

fn validate_cdf_points(points: &[[f64; 2]]) -> Result<(Vec<f64>, Vec<f64>), InvalidParam> {
    if points.is_empty() {
        return Err(InvalidParam::new(
            "empirical_cdf.points",
            "[]",
            "at least one [value_s, probability] point",
        ));
    }
    let mut xs = Vec::with_capacity(points.len());
    let mut ps = Vec::with_capacity(points.len());
    for (i, &[x, p]) in points.iter().enumerate() {
        finite(&format!("empirical_cdf.points[{i}][0]"), x)?;
        if !(0.0..=1.0).contains(&p) {
            return Err(InvalidParam::new(
                format!("empirical_cdf.points[{i}][1]"),
                p,
                "a probability in [0, 1]",
            ));
        }
        if let (Some(&px), Some(&pp)) = (xs.last(), ps.last()) {
            if x < px {
                return Err(InvalidParam::new(
                    format!("empirical_cdf.points[{i}][0]"),
                    x,
                    format!("at least the previous value ({px})"),
                ));
            }
            if p < pp {
                return Err(InvalidParam::new(
                    format!("empirical_cdf.points[{i}][1]"),
                    p,
                    format!("at least the previous probability ({pp})"),
                ));
            }
        }
        xs.push(x);
        ps.push(p);
    }
    let last = ps[ps.len() - 1];
    if last != 1.0 {
        return Err(InvalidParam::new(
            format!("empirical_cdf.points[{}][1]", ps.len() - 1),
            last,
            "1 (the last point must close the CDF)",
        ));
    }
    Ok((xs, ps))
}

/// The piecewise-linear CDF through `(xs, ps)`.
fn cdf_table(xs: &[f64], ps: &[f64], x: f64) -> f64 {
    if x < xs[0] {
        return 0.0;
    }
    // The last point with xs[i] <= x; the CDF is right-continuous, so at a
    // repeated value the highest probability wins.
    let i = xs.partition_point(|&v| v <= x) - 1;
    if i + 1 >= xs.len() {
        return 1.0;
    }
    // Here xs[i] <= x < xs[i + 1].
    let (x0, x1, p0, p1) = (xs[i], xs[i + 1], ps[i], ps[i + 1]);
    p0 + (x - x0) / (x1 - x0) * (p1 - p0)
}

/// The inverse of [`cdf_table`]: the smallest `x` with `F(x) >= u`.
fn cdf_table_quantile(xs: &[f64], ps: &[f64], u: f64) -> f64 {
    let i = ps.partition_point(|&p| p < u);
    if i == 0 {
        return xs[0];
    }
    if i >= xs.len() {
        return xs[xs.len() - 1];
    }
    // ps[i - 1] < u <= ps[i], so the segment has positive rise.
    let (x0, x1, p0, p1) = (xs[i - 1], xs[i], ps[i - 1], ps[i]);
    x0 + (u - p0) / (p1 - p0) * (x1 - x0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::stream;

    #[test]
    fn invalid_parameters_are_named() {
        let e = Dist::weibull(-1.0, 10.0).unwrap_err();
        assert_eq!(e.param, "weibull.shape");
        assert_eq!(e.value, "-1");
        assert!(
            e.to_string().contains("weibull.shape = -1 is invalid"),
            "{e}"
        );
        assert_eq!(
            Dist::weibull(1.0, f64::NAN).unwrap_err().param,
            "weibull.scale_s"
        );
        assert_eq!(
            Dist::exponential(0.0).unwrap_err().param,
            "exponential.mean_s"
        );
        assert_eq!(Dist::pareto(1.5, 0.0).unwrap_err().param, "pareto.scale_s");
        assert_eq!(
            Dist::log_normal(10.0, -0.1).unwrap_err().param,
            "log_normal.sigma"
        );
        assert_eq!(Dist::uniform(5.0, 5.0).unwrap_err().param, "uniform.max_s");
        assert_eq!(
            Dist::constant(f64::INFINITY).unwrap_err().param,
            "constant.value_s"
        );
        assert_eq!(
            Dist::empirical(vec![]).unwrap_err().param,
            "empirical.samples_s"
        );
        assert_eq!(
            Dist::empirical(vec![1.0, f64::NAN]).unwrap_err().param,
            "empirical.samples_s[1]"
        );
        assert_eq!(
            Dist::truncated_normal(0.0, 1.0, Some(2.0), Some(1.0))
                .unwrap_err()
                .param,
            "truncated_normal.max_s"
        );
        assert_eq!(
            Dist::truncated_normal(0.0, 1.0, Some(60.0), None)
                .unwrap_err()
                .param,
            "truncated_normal.min_s"
        );
        assert_eq!(
            Dist::shifted_pareto_with_mean(1.0, 5.0).unwrap_err().param,
            "shifted_pareto.shape"
        );
        let e = Dist::empirical_cdf(vec![[0.0, 0.0], [1.0, 0.9]]).unwrap_err();
        assert_eq!(e.param, "empirical_cdf.points[1][1]");
        let e = Dist::empirical_cdf(vec![[0.0, 0.0], [2.0, 0.5], [1.0, 1.0]]).unwrap_err();
        assert_eq!(e.param, "empirical_cdf.points[2][0]");
        let e = Dist::empirical_cdf(vec![[0.0, 0.6], [2.0, 0.5], [3.0, 1.0]]).unwrap_err();
        assert_eq!(e.param, "empirical_cdf.points[1][1]");
    }

    #[test]
    fn deserialising_validates_and_rejects_unknown_fields() {
        #[derive(Serialize, Deserialize, Debug)]
        struct S {
            d: Dist,
        }
        let ok: S =
            toml::from_str("d = { dist = \"weibull\", shape = 0.61511, scale_s = 10170.0 }")
                .unwrap();
        assert_eq!(
            ok.d.spec(),
            &DistSpec::Weibull {
                shape: 0.61511,
                scale_s: 10170.0
            }
        );
        let bad = toml::from_str::<S>("d = { dist = \"weibull\", shape = 0.0, scale_s = 10170.0 }")
            .unwrap_err();
        assert!(
            bad.to_string().contains("weibull.shape = 0 is invalid"),
            "{bad}"
        );
        let unknown = toml::from_str::<S>(
            "d = { dist = \"weibull\", shape = 1.0, scale_s = 1.0, mean_s = 3.0 }",
        );
        assert!(unknown.unwrap_err().to_string().contains("mean_s"));
        let ln: S =
            toml::from_str("d = { dist = \"lognormal\", median_s = 60.0, sigma = 1.0 }").unwrap();
        assert!((ln.d.median() - 60.0).abs() < 1e-9);
        // Round trip through the spec form.
        let text = toml::to_string(&ok).unwrap();
        let back: S = toml::from_str(&text).unwrap();
        assert_eq!(back.d, ok.d);
    }

    #[test]
    fn quantile_inverts_cdf() {
        let dists = [
            Dist::exponential(60.0).unwrap(),
            Dist::pareto(2.0, 30.0).unwrap(),
            Dist::shifted_pareto(3.0, 120.0).unwrap(),
            Dist::weibull(0.6, 600.0).unwrap(),
            Dist::log_normal(300.0, 1.2).unwrap(),
            Dist::truncated_normal(100.0, 50.0, Some(0.0), None).unwrap(),
            Dist::truncated_normal(0.0, 1.0, Some(2.0), Some(4.0)).unwrap(),
            Dist::uniform(10.0, 20.0).unwrap(),
            Dist::empirical_cdf(vec![[0.0, 0.0], [10.0, 0.5], [30.0, 1.0]]).unwrap(),
        ];
        for d in &dists {
            for p in [0.01, 0.1, 0.5, 0.9, 0.99] {
                let x = d.quantile(p);
                assert!(
                    (d.cdf(x) - p).abs() < 1e-9,
                    "{:?} p={p} x={x} cdf={}",
                    d.spec(),
                    d.cdf(x)
                );
            }
        }
    }

    #[test]
    fn closed_form_moments() {
        // Weibull median = scale * ln(2)^(1/shape); kad: 169.5 min -> 93.4 min.
        let kad = Dist::weibull(0.61511, 169.5 * 60.0).unwrap();
        assert!(
            (kad.median() / 60.0 - 93.4).abs() < 0.05,
            "{}",
            kad.median() / 60.0
        );
        // Exponential median = ln 2 * mean.
        assert!((Dist::exponential(100.0).unwrap().median() - 100.0 * 2f64.ln()).abs() < 1e-9);
        assert_eq!(
            Dist::shifted_pareto_with_mean(3.0, 50.0).unwrap().mean(),
            50.0
        );
        assert_eq!(Dist::pareto(1.0, 1.0).unwrap().mean(), f64::INFINITY);
        let e = Dist::empirical(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!(
            (e.mean(), e.median(), e.cdf(1.5), e.cdf(3.0)),
            (2.0, 2.0, 1.0 / 3.0, 1.0)
        );
        let c = Dist::empirical_cdf(vec![[0.0, 0.0], [10.0, 1.0]]).unwrap();
        assert_eq!(c.mean(), 5.0);
        // A truncated normal symmetric around its mean keeps the mean.
        let t = Dist::truncated_normal(5.0, 2.0, Some(3.0), Some(7.0)).unwrap();
        assert!((t.mean() - 5.0).abs() < 1e-12);
    }

    #[test]
    fn samples_respect_support() {
        let mut r = stream(3, "test", 0);
        let t = Dist::truncated_normal(0.0, 1.0, Some(3.0), Some(3.5)).unwrap();
        let p = Dist::pareto(1.2, 7.0).unwrap();
        let c = Dist::empirical_cdf(vec![[5.0, 0.25], [6.0, 1.0]]).unwrap();
        let mut atoms = 0;
        for _ in 0..10_000 {
            let x = t.sample(&mut r);
            assert!((3.0..=3.5).contains(&x));
            assert!(p.sample(&mut r) >= 7.0);
            let y = c.sample(&mut r);
            assert!((5.0..=6.0).contains(&y));
            atoms += (y == 5.0) as u32;
        }
        // The first point's probability is an atom: about a quarter of draws.
        assert!((2_200..2_800).contains(&atoms), "{atoms}");
    }

    #[test]
    fn durations_must_be_non_negative() {
        assert!(Dist::exponential(1.0).unwrap().check_duration("up").is_ok());
        let e = Dist::uniform(-1.0, 1.0)
            .unwrap()
            .check_duration("churn.model.up")
            .unwrap_err();
        assert_eq!(e.param, "churn.model.up");
        assert!(
            Dist::truncated_normal(1.0, 1.0, None, None)
                .unwrap()
                .check_duration("x")
                .is_err()
        );
    }
}
