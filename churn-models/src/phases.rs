//! Run phases: initialisation, transition, measurement.
//!
//! During initialisation the initial population joins one node after another
//! at a set rate; the transition phase lets the overlay and the churn settle;
//! statistics come from the measurement phase only.

use serde::{Deserialize, Serialize};

use crate::error::{InvalidParam, non_negative, positive};

/// The phase a time falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the last initial join.
    Init,
    /// Settling, after initialisation and before measurement.
    Transition,
    /// Statistics are collected.
    Measurement,
    /// At or after the end of the run.
    Done,
}

/// Phase boundaries, in seconds of simulated time. Each phase is half-open:
/// initialisation is `[0, init_end_s)`, transition `[init_end_s,
/// measurement_start_s)` and measurement `[measurement_start_s, end_s)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// End of initialisation.
    pub init_end_s: f64,
    /// Start of measurement (end of transition).
    pub measurement_start_s: f64,
    /// End of the run.
    pub end_s: f64,
}

impl Phases {
    /// Phases from the length of each.
    pub fn new(init_s: f64, transition_s: f64, measurement_s: f64) -> Result<Phases, InvalidParam> {
        let init_s = non_negative("init_s", init_s)?;
        let transition_s = non_negative("transition_s", transition_s)?;
        let measurement_s = positive("measurement_s", measurement_s)?;
        let init_end_s = init_s;
        let measurement_start_s = init_end_s + transition_s;
        Ok(Phases {
            init_end_s,
            measurement_start_s,
            end_s: measurement_start_s + measurement_s,
        })
    }

    /// The phase at `t_s`.
    pub fn phase_at(&self, t_s: f64) -> Phase {
        if t_s < self.init_end_s {
            Phase::Init
        } else if t_s < self.measurement_start_s {
            Phase::Transition
        } else if t_s < self.end_s {
            Phase::Measurement
        } else {
            Phase::Done
        }
    }

    /// Whether statistics should be recorded at `t_s`.
    pub fn in_measurement(&self, t_s: f64) -> bool {
        self.phase_at(t_s) == Phase::Measurement
    }

    /// Length of the measurement phase.
    pub fn measurement_s(&self) -> f64 {
        self.end_s - self.measurement_start_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_half_open() {
        let p = Phases::new(100.0, 50.0, 200.0).unwrap();
        assert_eq!(p.phase_at(0.0), Phase::Init);
        assert_eq!(p.phase_at(99.999), Phase::Init);
        assert_eq!(p.phase_at(100.0), Phase::Transition);
        assert_eq!(p.phase_at(150.0), Phase::Measurement);
        assert!(p.in_measurement(349.9));
        assert!(!p.in_measurement(350.0));
        assert_eq!(p.phase_at(350.0), Phase::Done);
        assert_eq!(p.measurement_s(), 200.0);
        assert_eq!(
            Phases::new(0.0, 0.0, 0.0).unwrap_err().param,
            "measurement_s"
        );
        assert_eq!(Phases::new(-1.0, 0.0, 1.0).unwrap_err().param, "init_s");
    }
}
