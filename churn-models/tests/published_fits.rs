//! Recovery of the published KAD fit (Steiner et al., literature T2) and
//! the inspection paradox (Stutzbach & Rejaie, literature T1).

use peerlab_churn::event::up_intervals;
use peerlab_churn::presets::kad_session;
use peerlab_churn::stats::weibull_mle;
use peerlab_churn::streams::stream;
use peerlab_churn::{ChurnModel, ChurnRecord, ChurnSpec};
use statrs::function::gamma::gamma;

const MIN: f64 = 60.0;
const DAY: f64 = 86_400.0;
const KAD_SHAPE: f64 = 0.61511;
const KAD_SCALE_MIN: f64 = 169.5;
/// The published median session, from literature T2.
const KAD_MEDIAN_MIN: f64 = 93.4;

fn within(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= rel * expected.abs()
}

#[test]
fn mle_refit_of_kad_sessions_recovers_shape_and_median() {
    let d = kad_session();
    let mut rng = stream(7, "test.kad_mle", 0);
    let xs: Vec<f64> = (0..100_000).map(|_| d.sample(&mut rng)).collect();
    let fit = weibull_mle(&xs).unwrap();
    assert!(
        within(fit.shape, KAD_SHAPE, 0.05),
        "shape {} vs {KAD_SHAPE}",
        fit.shape
    );
    assert!(
        within(fit.median() / MIN, KAD_MEDIAN_MIN, 0.05),
        "median {} min vs {KAD_MEDIAN_MIN}",
        fit.median() / MIN
    );
}

#[test]
fn mle_refit_of_generated_kad_sessions_recovers_shape_and_median() {
    // End to end: the sessions the churn generator produces, not just the
    // distribution. Sessions starting in the first 10 days are complete long
    // before the 40-day horizon, so censoring is negligible.
    let spec = ChurnSpec::new(8_000, ChurnModel::Kad, 40.0 * DAY);
    let events: Vec<ChurnRecord> = spec.build().unwrap().events(11).collect();
    let sessions: Vec<f64> = up_intervals(&events)
        .iter()
        .filter(|iv| iv.start_s < 10.0 * DAY)
        .filter_map(|iv| iv.length_s())
        .collect();
    assert!(sessions.len() > 90_000, "{} sessions", sessions.len());
    let fit = weibull_mle(&sessions).unwrap();
    assert!(
        within(fit.shape, KAD_SHAPE, 0.05),
        "shape {} vs {KAD_SHAPE}",
        fit.shape
    );
    assert!(
        within(fit.median() / MIN, KAD_MEDIAN_MIN, 0.05),
        "median {} min",
        fit.median() / MIN
    );
}

#[test]
fn inspection_paradox_under_kad() {
    // Stationary KAD churn: each node's process runs 60 days before time 0.
    let n = 10_000;
    let probe = 5.0 * DAY;
    let mut spec = ChurnSpec::new(n, ChurnModel::Kad, 25.0 * DAY);
    spec.warmup_s = 60.0 * DAY;
    let events: Vec<ChurnRecord> = spec.build().unwrap().events(3).collect();
    let spanning: Vec<_> = up_intervals(&events)
        .into_iter()
        .filter(|iv| iv.start_s <= probe && iv.end_s.is_none_or(|e| e > probe))
        .collect();
    let open = spanning.iter().filter(|iv| iv.end_s.is_none()).count();
    assert!(
        open * 1000 < spanning.len(),
        "{open} of {} sessions outlive the horizon",
        spanning.len()
    );
    let closed: Vec<f64> = spanning.iter().filter_map(|iv| iv.length_s()).collect();
    let mean_length = closed.iter().sum::<f64>() / closed.len() as f64 / MIN;
    let mean_age =
        spanning.iter().map(|iv| probe - iv.start_s).sum::<f64>() / spanning.len() as f64 / MIN;

    // The observation: peers online now have been up far longer than the
    // median session.
    assert!(
        mean_age > 3.0 * KAD_MEDIAN_MIN,
        "mean uptime so far {mean_age:.0} min"
    );
    assert!(
        mean_length > 5.0 * KAD_MEDIAN_MIN,
        "mean session of online peers {mean_length:.0} min"
    );

    // The renewal-theory values: the session covering a random instant is
    // length-biased, with mean E[S²]/E[S]; its age has mean E[S²]/(2E[S]).
    let (k, l) = (KAD_SHAPE, KAD_SCALE_MIN);
    let biased = l * gamma(1.0 + 2.0 / k) / gamma(1.0 + 1.0 / k);
    assert!(
        within(mean_length, biased, 0.10),
        "{mean_length:.0} vs {biased:.0} min"
    );
    assert!(
        within(mean_age, biased / 2.0, 0.15),
        "{mean_age:.0} vs {:.0} min",
        biased / 2.0
    );

    // While the median of all sessions stays at the published 93.4 min.
    let mut all: Vec<f64> = up_intervals(&events)
        .iter()
        .filter(|iv| iv.start_s > 0.0 && iv.start_s < 20.0 * DAY)
        .filter_map(|iv| iv.length_s())
        .collect();
    all.sort_by(f64::total_cmp);
    let median = all[all.len() / 2] / MIN;
    assert!(
        within(median, KAD_MEDIAN_MIN, 0.05),
        "median session {median:.1} min"
    );
}
