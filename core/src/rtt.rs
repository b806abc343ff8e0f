//! Round-trip-time estimation for request timeouts.
//!
//! RFC 6298's estimator: a smoothed RTT and its mean deviation, and a
//! retransmission timeout of SRTT + 4·RTTVAR, clamped to a configured range.
//! Rhea et al. (Bamboo, USENIX ATC 2004) show that such timeouts keep DHT
//! lookups fast under churn where a fixed timeout lets every dead contact
//! cost seconds. One estimator per node (not per peer) keeps state small;
//! retransmitted requests are not sampled (Karn's rule), since their replies
//! cannot be matched to one transmission.

use crate::time::Duration;

/// A smoothed RTT estimate and the timeout it implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    srtt_us: u64,
    rttvar_us: u64,
    samples: u64,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    /// An estimator whose timeout stays within `[min, max]`; before the first
    /// sample the timeout is `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        RttEstimator {
            srtt_us: 0,
            rttvar_us: 0,
            samples: 0,
            min,
            max: max.max(min),
        }
    }

    /// Folds in one measured round trip.
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_micros();
        if self.samples == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
        } else {
            let err = self.srtt_us.abs_diff(r);
            self.rttvar_us = (3 * self.rttvar_us + err) / 4;
            self.srtt_us = (7 * self.srtt_us + r) / 8;
        }
        self.samples += 1;
    }

    /// The smoothed RTT, if any sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        (self.samples > 0).then_some(Duration::from_micros(self.srtt_us))
    }

    /// How long to wait for a reply.
    pub fn timeout(&self) -> Duration {
        if self.samples == 0 {
            return self.max;
        }
        let rto = Duration::from_micros(self.srtt_us + 4 * self.rttvar_us);
        rto.max(self.min).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc_6298_and_clamps() {
        let ms = Duration::from_millis;
        let mut e = RttEstimator::new(ms(100), ms(2000));
        assert_eq!(e.timeout(), ms(2000), "no sample yet: the maximum");
        e.sample(ms(100));
        // SRTT = 100, RTTVAR = 50: RTO = 100 + 200.
        assert_eq!(e.timeout(), ms(300));
        e.sample(ms(200));
        // RTTVAR = (3*50 + 100)/4 = 62.5, SRTT = (7*100 + 200)/8 = 112.5.
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.timeout(), Duration::from_micros(112_500 + 250_000));
        for _ in 0..100 {
            e.sample(ms(10));
        }
        assert_eq!(e.timeout(), ms(100), "clamped to the minimum");
        for _ in 0..100 {
            e.sample(ms(5000));
        }
        assert_eq!(e.timeout(), ms(2000), "clamped to the maximum");
    }
}
