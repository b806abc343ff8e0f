//! Diurnal modulation of arrival rates.
//!
//! A profile is a rate multiplier with mean 1 over a day: a base rate `r`
//! becomes `r * multiplier(t)`. Arrival processes apply it by thinning
//! (Lewis and Shedler): candidates are drawn at the peak rate and each is kept
//! with probability `multiplier(t) / max_multiplier`.
//!
//! ```toml
//! diurnal = { profile = "sinusoidal", amplitude = 0.5, peak_hour = 20.0 }
//! diurnal = { profile = "hourly", factors = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2] }
//! ```

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::InvalidParam;
use crate::streams::open01;

/// Seconds in a day.
pub const DAY_S: f64 = 86_400.0;

/// The profile as written in a spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "profile", rename_all = "snake_case", deny_unknown_fields)]
pub enum DiurnalSpec {
    /// `1 + amplitude * cos(2π (hour - peak_hour) / 24)`.
    Sinusoidal {
        /// Relative amplitude in `[0, 1]`.
        amplitude: f64,
        /// Hour of day of the peak, in `[0, 24)`.
        peak_hour: f64,
        /// Hour of day at simulated time 0, in `[0, 24)`.
        #[serde(default)]
        start_hour: f64,
    },
    /// 24 relative rates, one per hour of day starting at midnight; they are
    /// divided by their mean, so only their ratios matter.
    Hourly {
        /// The 24 non-negative factors (not all zero).
        factors: Vec<f64>,
        /// Hour of day at simulated time 0, in `[0, 24)`.
        #[serde(default)]
        start_hour: f64,
    },
}

/// A validated diurnal profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DiurnalSpec", into = "DiurnalSpec")]
pub struct Diurnal {
    spec: DiurnalSpec,
    /// Hourly multipliers, normalised to mean 1 (empty for the sinusoid).
    hourly: Vec<f64>,
    max: f64,
}

impl TryFrom<DiurnalSpec> for Diurnal {
    type Error = InvalidParam;
    fn try_from(spec: DiurnalSpec) -> Result<Self, InvalidParam> {
        Diurnal::new(spec)
    }
}

impl From<Diurnal> for DiurnalSpec {
    fn from(d: Diurnal) -> DiurnalSpec {
        d.spec
    }
}

fn hour_param(param: &str, v: f64) -> Result<f64, InvalidParam> {
    if (0.0..24.0).contains(&v) {
        Ok(v)
    } else {
        Err(InvalidParam::new(param, v, "an hour of day in [0, 24)"))
    }
}

impl Diurnal {
    /// Validates `spec`.
    pub fn new(spec: DiurnalSpec) -> Result<Diurnal, InvalidParam> {
        match &spec {
            DiurnalSpec::Sinusoidal {
                amplitude,
                peak_hour,
                start_hour,
            } => {
                if !(0.0..=1.0).contains(amplitude) {
                    return Err(InvalidParam::new(
                        "diurnal.amplitude",
                        amplitude,
                        "a relative amplitude in [0, 1]",
                    ));
                }
                hour_param("diurnal.peak_hour", *peak_hour)?;
                hour_param("diurnal.start_hour", *start_hour)?;
                let max = 1.0 + amplitude;
                Ok(Diurnal {
                    spec,
                    hourly: Vec::new(),
                    max,
                })
            }
            DiurnalSpec::Hourly {
                factors,
                start_hour,
            } => {
                if factors.len() != 24 {
                    return Err(InvalidParam::new(
                        "diurnal.factors",
                        format!("{} values", factors.len()),
                        "exactly 24 values, one per hour",
                    ));
                }
                for (i, &f) in factors.iter().enumerate() {
                    if !(f.is_finite() && f >= 0.0) {
                        return Err(InvalidParam::new(
                            format!("diurnal.factors[{i}]"),
                            f,
                            "a finite number >= 0",
                        ));
                    }
                }
                hour_param("diurnal.start_hour", *start_hour)?;
                let mean = factors.iter().sum::<f64>() / 24.0;
                if mean <= 0.0 {
                    return Err(InvalidParam::new(
                        "diurnal.factors",
                        "all zero",
                        "at least one positive factor",
                    ));
                }
                let hourly: Vec<f64> = factors.iter().map(|f| f / mean).collect();
                let max = hourly.iter().copied().fold(0.0, f64::max);
                Ok(Diurnal { spec, hourly, max })
            }
        }
    }

    /// A sinusoidal profile.
    pub fn sinusoidal(
        amplitude: f64,
        peak_hour: f64,
        start_hour: f64,
    ) -> Result<Diurnal, InvalidParam> {
        Diurnal::new(DiurnalSpec::Sinusoidal {
            amplitude,
            peak_hour,
            start_hour,
        })
    }

    /// A tabulated profile of 24 hourly factors.
    pub fn hourly(factors: Vec<f64>, start_hour: f64) -> Result<Diurnal, InvalidParam> {
        Diurnal::new(DiurnalSpec::Hourly {
            factors,
            start_hour,
        })
    }

    /// The parameters this profile was built from.
    pub fn spec(&self) -> &DiurnalSpec {
        &self.spec
    }

    /// Hour of day (in `[0, 24)`) at simulated time `t_s`.
    pub fn hour_of_day(&self, t_s: f64) -> f64 {
        let start = match self.spec {
            DiurnalSpec::Sinusoidal { start_hour, .. } | DiurnalSpec::Hourly { start_hour, .. } => {
                start_hour
            }
        };
        (t_s / 3600.0 + start).rem_euclid(24.0)
    }

    /// The rate multiplier at time `t_s`; its mean over a day is 1.
    pub fn multiplier(&self, t_s: f64) -> f64 {
        let h = self.hour_of_day(t_s);
        match self.spec {
            DiurnalSpec::Sinusoidal {
                amplitude,
                peak_hour,
                ..
            } => 1.0 + amplitude * (2.0 * std::f64::consts::PI * (h - peak_hour) / 24.0).cos(),
            DiurnalSpec::Hourly { .. } => self.hourly[(h as usize).min(23)],
        }
    }

    /// The largest multiplier over a day.
    pub fn max_multiplier(&self) -> f64 {
        self.max
    }

    /// The thinning decision for a candidate at `t_s`: true with probability
    /// `multiplier(t_s) / max_multiplier()`. Consumes one uniform draw.
    pub fn accept<R: Rng + ?Sized>(&self, rng: &mut R, t_s: f64) -> bool {
        open01(rng) * self.max < self.multiplier(t_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_have_mean_one_and_the_right_shape() {
        let s = Diurnal::sinusoidal(0.5, 20.0, 0.0).unwrap();
        assert!((s.multiplier(20.0 * 3600.0) - 1.5).abs() < 1e-12);
        assert!((s.multiplier(8.0 * 3600.0) - 0.5).abs() < 1e-12);
        // One day later, the same value.
        assert!((s.multiplier(20.0 * 3600.0 + DAY_S) - 1.5).abs() < 1e-9);
        let n = 24 * 60;
        let mean: f64 = (0..n).map(|i| s.multiplier(i as f64 * 60.0)).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 1e-9);

        let mut f = vec![1.0; 24];
        f[3] = 0.0;
        f[12] = 5.0;
        let h = Diurnal::hourly(f, 2.0).unwrap();
        // start_hour 2: simulated hour 1 is 03:00, zero rate.
        assert_eq!(h.multiplier(3600.0 + 10.0), 0.0);
        assert_eq!(h.multiplier(10.0 * 3600.0 + 1.0), 5.0 / (27.0 / 24.0));
        assert_eq!(h.max_multiplier(), 5.0 / (27.0 / 24.0));
        assert!((h.multiplier(-3600.0 * 2.0 + 5.0) - 24.0 / 27.0).abs() < 1e-12);
    }

    #[test]
    fn invalid_profiles_are_named() {
        assert_eq!(
            Diurnal::sinusoidal(1.5, 0.0, 0.0).unwrap_err().param,
            "diurnal.amplitude"
        );
        assert_eq!(
            Diurnal::sinusoidal(0.5, 24.0, 0.0).unwrap_err().param,
            "diurnal.peak_hour"
        );
        assert_eq!(
            Diurnal::hourly(vec![1.0; 23], 0.0).unwrap_err().param,
            "diurnal.factors"
        );
        assert_eq!(
            Diurnal::hourly(vec![0.0; 24], 0.0).unwrap_err().param,
            "diurnal.factors"
        );
        let mut f = vec![1.0; 24];
        f[5] = -1.0;
        assert_eq!(
            Diurnal::hourly(f, 0.0).unwrap_err().param,
            "diurnal.factors[5]"
        );
    }
}
