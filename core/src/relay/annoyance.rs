//! The annoyance function af(): a relay's own judgement of whether relaying
//! another call would bother its user.
//!
//! Source: Singh & Schulzrinne's P2P-SIP slides ("Relay selection: annoyance
//! function af()"): the inputs are CPU utilisation, user interactivity and
//! bytes sent and received; af() comes in a threshold form ("af() < threshold:
//! use as a relay") and a real-valued form. Baset's thesis also lists user
//! annoyance as a relay-selection metric. The weights and bounds below are
//! peerlab's defaults, not published values.

/// A relay's local state: the inputs of af().
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnnoyanceInputs {
    /// CPU utilisation, in `[0, 1]`.
    pub cpu: f64,
    /// Share of the uplink in use (the user's own traffic plus relaying),
    /// in `[0, 1]`.
    pub bandwidth: f64,
    /// User interactivity, in `[0, 1]`: 0 idle, 1 actively using the machine
    /// (keyboard, mouse, foreground traffic).
    pub interactivity: f64,
}

impl Default for AnnoyanceInputs {
    fn default() -> Self {
        AnnoyanceInputs {
            cpu: 0.1,
            bandwidth: 0.1,
            interactivity: 0.0,
        }
    }
}

/// Weights of the real-valued form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnnoyanceWeights {
    /// Weight of CPU utilisation.
    pub cpu: f64,
    /// Weight of bandwidth use.
    pub bandwidth: f64,
    /// Weight of interactivity.
    pub interactivity: f64,
}

impl Default for AnnoyanceWeights {
    fn default() -> Self {
        AnnoyanceWeights {
            cpu: 0.3,
            bandwidth: 0.4,
            interactivity: 0.3,
        }
    }
}

/// The two forms of af().
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnnoyanceForm {
    /// Annoyed when any input exceeds its bound; af() is 0 or 1.
    Threshold {
        /// Largest CPU utilisation the user tolerates.
        max_cpu: f64,
        /// Largest bandwidth use the user tolerates.
        max_bandwidth: f64,
        /// Largest interactivity at which the relay still serves.
        max_interactivity: f64,
    },
    /// af() = the weighted sum of the clamped inputs, normalised by the
    /// weights' total into `[0, 1]`; annoyed at or above `refuse_at`.
    RealValued {
        /// The weights.
        weights: AnnoyanceWeights,
        /// The value at which the relay refuses.
        refuse_at: f64,
    },
}

impl Default for AnnoyanceForm {
    fn default() -> Self {
        AnnoyanceForm::Threshold {
            max_cpu: 0.7,
            max_bandwidth: 0.6,
            max_interactivity: 0.5,
        }
    }
}

impl AnnoyanceForm {
    /// The default real-valued form: default weights, refuse at 0.6.
    pub fn real_valued() -> Self {
        AnnoyanceForm::RealValued {
            weights: AnnoyanceWeights::default(),
            refuse_at: 0.6,
        }
    }

    /// af() for `x`, in `[0, 1]`; non-finite inputs count as fully annoying.
    pub fn value(&self, x: &AnnoyanceInputs) -> f64 {
        let clamp = |v: f64| if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) };
        let (cpu, bw, ia) = (clamp(x.cpu), clamp(x.bandwidth), clamp(x.interactivity));
        match *self {
            AnnoyanceForm::Threshold {
                max_cpu,
                max_bandwidth,
                max_interactivity,
            } => {
                let over = exceeds(cpu, max_cpu)
                    || exceeds(bw, max_bandwidth)
                    || exceeds(ia, max_interactivity);
                if over { 1.0 } else { 0.0 }
            }
            AnnoyanceForm::RealValued { weights, .. } => {
                let w = [weights.cpu, weights.bandwidth, weights.interactivity]
                    .map(|w| if w.is_finite() { w.max(0.0) } else { 0.0 });
                let total = w[0] + w[1] + w[2];
                if total <= 0.0 {
                    return 0.0;
                }
                (w[0] * cpu + w[1] * bw + w[2] * ia) / total
            }
        }
    }

    /// Whether a relay in state `x` refuses to relay.
    pub fn annoyed(&self, x: &AnnoyanceInputs) -> bool {
        match *self {
            AnnoyanceForm::Threshold { .. } => self.value(x) >= 1.0,
            AnnoyanceForm::RealValued { refuse_at, .. } => {
                refuse_at.is_nan() || self.value(x) >= refuse_at
            }
        }
    }
}

/// Whether `v` is over the bound `max`; a NaN bound counts as exceeded.
fn exceeds(v: f64, max: f64) -> bool {
    max.is_nan() || v > max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_form_trips_on_any_input() {
        let f = AnnoyanceForm::default();
        let calm = AnnoyanceInputs::default();
        assert!(!f.annoyed(&calm));
        for x in [
            AnnoyanceInputs { cpu: 0.9, ..calm },
            AnnoyanceInputs {
                bandwidth: 0.8,
                ..calm
            },
            AnnoyanceInputs {
                interactivity: 1.0,
                ..calm
            },
            AnnoyanceInputs {
                cpu: f64::NAN,
                ..calm
            },
        ] {
            assert!(f.annoyed(&x), "{x:?}");
        }
    }

    #[test]
    fn real_valued_form_weighs_inputs() {
        let f = AnnoyanceForm::real_valued();
        let x = AnnoyanceInputs {
            cpu: 1.0,
            bandwidth: 0.5,
            interactivity: 0.0,
        };
        assert!((f.value(&x) - 0.5).abs() < 1e-12);
        assert!(!f.annoyed(&x));
        let y = AnnoyanceInputs {
            interactivity: 1.0,
            ..x
        };
        assert!((f.value(&y) - 0.8).abs() < 1e-12);
        assert!(f.annoyed(&y));
        let zero = AnnoyanceForm::RealValued {
            weights: AnnoyanceWeights {
                cpu: 0.0,
                bandwidth: f64::NAN,
                interactivity: -1.0,
            },
            refuse_at: 0.5,
        };
        assert_eq!(zero.value(&y), 0.0);
    }
}
