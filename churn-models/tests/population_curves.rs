//! Population curves against their analytic expectations: lifetime churn's
//! online fraction (stationary and transient), heterogeneous churn, the
//! open population, mass failure and recovery, flash crowds, partitions and
//! diurnal profiles. Each check allows five standard deviations of sampling
//! error.

use peerlab_churn::event::online_counts;
use peerlab_churn::presets::{kad_intersession, kad_session};
use peerlab_churn::process::{
    FlashCrowd, HeterogeneousChurn, LifetimeChurn, MassFailure, OpenChurn, PartitionSpec, Recovery,
};
use peerlab_churn::streams::stream;
use peerlab_churn::{ChurnEvent, ChurnModel, ChurnRecord, ChurnSpec, Dist, Diurnal};
use rand::RngExt;
use statrs::function::gamma::gamma;

const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;

fn run(spec: &ChurnSpec, seed: u64) -> Vec<ChurnRecord> {
    spec.build().unwrap().events(seed).collect()
}

/// Asserts |observed - expected| <= 5 sd.
fn within_5_sd(what: &str, observed: f64, expected: f64, sd: f64) {
    assert!(
        (observed - expected).abs() <= 5.0 * sd,
        "{what}: observed {observed:.1}, expected {expected:.1} ± 5×{sd:.1}"
    );
}

/// Binomial standard deviation.
fn binom_sd(n: f64, p: f64) -> f64 {
    (n * p * (1.0 - p)).sqrt()
}

#[test]
fn lifetime_churn_online_fraction_is_mean_up_over_mean_up_plus_down() {
    // p2psim: up 1 h, down 1 h, so half the nodes are online.
    let n: f64 = 20_000.0;
    let mut spec = ChurnSpec::new(n as u32, ChurnModel::P2psim, 10.0 * HOUR);
    spec.warmup_s = 20.0 * HOUR;
    let ev = run(&spec, 1);
    let times: Vec<f64> = (0..10).map(|h| h as f64 * HOUR + 1.0).collect();
    for (t, c) in times.iter().zip(online_counts(&ev, &times)) {
        within_5_sd(
            &format!("p2psim online at {t}"),
            c as f64,
            n * 0.5,
            binom_sd(n, 0.5),
        );
    }
}

#[test]
fn lifetime_churn_from_a_fresh_start_relaxes_as_a_two_state_markov_chain() {
    // All nodes join at 0 with fresh sessions. With up rate a and down rate
    // b, P(up at t) = b/(a+b) + a/(a+b) · exp(-(a+b) t).
    let n: f64 = 20_000.0;
    let (mean_up, mean_down) = (2.0 * HOUR, 0.5 * HOUR);
    let model = ChurnModel::Lifetime(LifetimeChurn {
        up: Dist::exponential(mean_up).unwrap(),
        down: Dist::exponential(mean_down).unwrap(),
        diurnal: None,
        graceful_fraction: 0.3,
        fresh_ids: false,
    });
    let ev = run(&ChurnSpec::new(n as u32, model, 8.0 * HOUR), 2);
    let (a, b) = (1.0 / mean_up, 1.0 / mean_down);
    let times = [
        0.1 * HOUR,
        0.5 * HOUR,
        HOUR,
        2.0 * HOUR,
        4.0 * HOUR,
        7.9 * HOUR,
    ];
    for (t, c) in times.iter().zip(online_counts(&ev, &times)) {
        let p = b / (a + b) + a / (a + b) * (-(a + b) * t).exp();
        within_5_sd(&format!("online at {t}"), c as f64, n * p, binom_sd(n, p));
    }
    // Graceful leaves are 30% of departures.
    let departures = ev.iter().filter(|r| r.event.is_departure()).count() as f64;
    let leaves = ev.iter().filter(|r| r.event == ChurnEvent::Leave).count() as f64;
    within_5_sd(
        "graceful leaves",
        leaves,
        0.3 * departures,
        binom_sd(departures, 0.3),
    );
}

#[test]
fn kad_online_fraction_matches_the_weibull_means() {
    let n: f64 = 20_000.0;
    let mut spec = ChurnSpec::new(n as u32, ChurnModel::Kad, 3.0 * DAY);
    spec.warmup_s = 60.0 * DAY;
    let ev = run(&spec, 3);
    // E[S] = λ Γ(1 + 1/k) for both Weibull fits.
    let mean = |shape: f64, scale: f64| scale * gamma(1.0 + 1.0 / shape);
    let p = mean(0.61511, 169.5) / (mean(0.61511, 169.5) + mean(0.47648, 413.7));
    // Cross-check against the presets' own means.
    let q = kad_session().mean() / (kad_session().mean() + kad_intersession().mean());
    assert!((p - q).abs() < 1e-9);
    let times = [1.0, DAY, 2.0 * DAY, 2.9 * DAY];
    for (t, c) in times.iter().zip(online_counts(&ev, &times)) {
        within_5_sd(
            &format!("kad online at {t}"),
            c as f64,
            n * p,
            binom_sd(n, p),
        );
    }
}

#[test]
fn heterogeneous_churn_with_equal_means_is_online_half_the_time() {
    // Per-node means l_i, d_i are i.i.d. when mean_up = mean_down, so by
    // symmetry E[l/(l+d)] = 1/2.
    let n: f64 = 20_000.0;
    let model = ChurnModel::Heterogeneous(HeterogeneousChurn {
        mean_up_s: HOUR,
        mean_down_s: HOUR,
        shape: 3.0,
        diurnal: None,
        graceful_fraction: 0.0,
    });
    let mut spec = ChurnSpec::new(n as u32, model, 10.0 * HOUR);
    spec.warmup_s = 500.0 * HOUR;
    let ev = run(&spec, 4);
    let times = [1.0, 5.0 * HOUR, 9.0 * HOUR];
    for (t, c) in times.iter().zip(online_counts(&ev, &times)) {
        within_5_sd(
            &format!("heterogeneous online at {t}"),
            c as f64,
            n * 0.5,
            binom_sd(n, 0.5),
        );
    }
    // Heterogeneity: per-node availability over the 10 hours is spread far
    // wider than under homogeneous churn with the same means (p2psim).
    let extremes = |ev: &[ChurnRecord]| {
        let mut up = vec![0.0; n as usize];
        for iv in peerlab_churn::event::up_intervals(ev) {
            up[iv.node as usize] += iv.end_s.unwrap_or(10.0 * HOUR) - iv.start_s;
        }
        let mostly_up = up.iter().filter(|&&u| u > 9.0 * HOUR).count();
        let mostly_down = up.iter().filter(|&&u| u < 1.0 * HOUR).count();
        (mostly_up, mostly_down)
    };
    let mut homogeneous = ChurnSpec::new(n as u32, ChurnModel::P2psim, 10.0 * HOUR);
    homogeneous.warmup_s = 50.0 * HOUR;
    let (het_up, het_down) = extremes(&ev);
    let (hom_up, hom_down) = extremes(&run(&homogeneous, 4));
    assert!(
        het_up > 5 * hom_up && het_down > 5 * hom_down,
        "{het_up}/{het_down} vs {hom_up}/{hom_down}"
    );
}

#[test]
fn open_population_holds_arrival_rate_times_mean_session() {
    // M/G/∞: the number online is Poisson with mean λ E[S].
    let rate = 0.5;
    let session = Dist::weibull(0.7, 1800.0).unwrap();
    let mean_s = 1800.0 * gamma(1.0 + 1.0 / 0.7);
    let model = ChurnModel::Open(OpenChurn {
        arrival_rate_per_s: rate,
        session,
        diurnal: None,
        graceful_fraction: 0.0,
    });
    let mut spec = ChurnSpec::new(0, model, 10.0 * HOUR);
    spec.warmup_s = 20.0 * HOUR;
    let ev = run(&spec, 5);
    let m = rate * mean_s;
    let times = [0.0, 3.0 * HOUR, 6.0 * HOUR, 9.0 * HOUR];
    for (t, c) in times.iter().zip(online_counts(&ev, &times)) {
        within_5_sd(&format!("open online at {t}"), c as f64, m, m.sqrt());
    }
}

#[test]
fn mass_failure_drops_the_population_then_it_recovers_as_predicted() {
    let n: f64 = 20_000.0;
    let at = 2.0 * HOUR;
    let mut spec = ChurnSpec::new(n as u32, ChurnModel::P2psim, 6.0 * HOUR);
    spec.warmup_s = 20.0 * HOUR;
    spec.mass_failures.push(MassFailure {
        at_s: at,
        fraction: 0.25,
        recovery: Recovery::Model,
    });
    let ev = run(&spec, 6);
    let before = online_counts(&ev, &[at.next_down()])[0] as f64;
    let after = online_counts(&ev, &[at])[0] as f64;
    let killed = (0.25 * before).round();
    assert_eq!(
        after,
        before - killed,
        "exactly a quarter of the {before} online nodes fail"
    );
    let fails_at = ev
        .iter()
        .filter(|r| r.time_s == at && r.event == ChurnEvent::Fail)
        .count() as f64;
    assert_eq!(fails_at, killed);
    // Recovery: with rates a = b = 1/h, E[online at at+s | U, k] =
    // N p + (U - k - N p) e^{-(a+b)s}, p = 1/2.
    let p = 0.5;
    let rate = 2.0 / HOUR;
    let sd = (n / 4.0).sqrt();
    let times: Vec<f64> = [300.0, 900.0, 1800.0, HOUR, 2.0 * HOUR, 3.9 * HOUR]
        .iter()
        .map(|s| at + s)
        .collect();
    for (t, c) in times.iter().zip(online_counts(&ev, &times)) {
        let e = n * p + (after - n * p) * (-rate * (t - at)).exp();
        within_5_sd(
            &format!("online {}s after the failure", t - at),
            c as f64,
            e,
            sd,
        );
    }
}

#[test]
fn mass_failure_without_recovery_and_with_a_fixed_delay() {
    let at = 100.0;
    let mut never = ChurnSpec::new(1000, ChurnModel::Static, 1000.0);
    never.mass_failures.push(MassFailure {
        at_s: at,
        fraction: 0.25,
        recovery: Recovery::Never,
    });
    let ev = run(&never, 7);
    assert_eq!(
        online_counts(&ev, &[99.0, 100.0, 999.0]),
        vec![1000, 750, 750]
    );

    let mut after = never.clone();
    after.mass_failures[0].recovery = Recovery::After(Dist::constant(300.0).unwrap());
    let ev = run(&after, 7);
    assert_eq!(
        online_counts(&ev, &[99.0, 100.0, 399.0, 400.0]),
        vec![1000, 750, 750, 1000]
    );
    // Victims are a uniform sample: their ids spread over the population.
    let victims: Vec<u32> = ev
        .iter()
        .filter(|r| r.event == ChurnEvent::Fail)
        .map(|r| r.node)
        .collect();
    let low = victims.iter().filter(|&&v| v < 500).count() as f64;
    within_5_sd(
        "victims among the first half",
        low,
        125.0,
        binom_sd(250.0, 0.5),
    );
}

#[test]
fn flash_crowd_adds_its_nodes_over_its_spread() {
    let mut spec = ChurnSpec::new(1000, ChurnModel::Static, 2.0 * HOUR);
    spec.flash_crowds.push(FlashCrowd {
        at_s: HOUR,
        nodes: 5000,
        spread_s: 600.0,
        session: None,
        graceful_fraction: 0.0,
    });
    let ev = run(&spec, 8);
    let c = online_counts(
        &ev,
        &[
            HOUR.next_down(),
            HOUR + 300.0,
            HOUR + 600.0,
            2.0 * HOUR - 1.0,
        ],
    );
    assert_eq!(c[0], 1000);
    within_5_sd(
        "half-way through the crowd",
        c[1] as f64 - 1000.0,
        2500.0,
        binom_sd(5000.0, 0.5),
    );
    assert_eq!((c[2], c[3]), (6000, 6000));
    // New ids follow the initial population.
    assert!(
        ev.iter()
            .filter(|r| r.time_s >= HOUR)
            .all(|r| (1000..6000).contains(&r.node))
    );
}

#[test]
fn partition_splits_the_population_and_heals() {
    let n = 20_000u32;
    let (t1, t2) = (HOUR, 2.0 * HOUR);
    let mut spec = ChurnSpec::new(n, ChurnModel::P2psim, 3.0 * HOUR);
    spec.warmup_s = 20.0 * HOUR;
    spec.partitions.push(PartitionSpec {
        start_s: t1,
        end_s: t2,
        side_a_fraction: Some(0.3),
        side_a_nodes: None,
    });
    let scn = spec.build().unwrap();
    let sched = scn.partitions(10);
    let w = &sched.windows()[0];
    let side_a = (0..n).filter(|&i| w.in_side_a(i)).count() as f64;
    within_5_sd(
        "side A size",
        side_a,
        0.3 * f64::from(n),
        binom_sd(f64::from(n), 0.3),
    );

    // Random pairs: all reachable outside the window; during it, only pairs
    // on the same side, a fraction 0.3² + 0.7² = 0.58.
    let mut rng = stream(10, "test.pairs", 0);
    let pairs: Vec<(u32, u32)> = (0..20_000)
        .map(|_| (rng.random_range(0..n), rng.random_range(0..n)))
        .collect();
    for t in [0.0, t1.next_down(), t2, 2.5 * HOUR] {
        assert!(
            pairs.iter().all(|&(a, b)| sched.reachable(a, b, t)),
            "unreachable pair at {t}"
        );
    }
    let reachable = pairs
        .iter()
        .filter(|&&(a, b)| sched.reachable(a, b, 1.5 * HOUR))
        .count() as f64;
    within_5_sd(
        "reachable pairs",
        reachable,
        0.58 * 20_000.0,
        binom_sd(20_000.0, 0.58),
    );
    assert!(
        pairs
            .iter()
            .all(|&(a, b)| sched.reachable(a, b, 1.5 * HOUR) == (w.in_side_a(a) == w.in_side_a(b)))
    );

    // The population a side-A node can reach: online nodes on side A,
    // expected 0.3 · N · 1/2.
    let ev: Vec<ChurnRecord> = scn.events(10).collect();
    let mut online = std::collections::BTreeSet::new();
    for r in ev.iter().take_while(|r| r.time_s <= 1.5 * HOUR) {
        if r.event == ChurnEvent::Join {
            online.insert(r.node);
        } else {
            online.remove(&r.node);
        }
    }
    let reachable_from_a = online.iter().filter(|&&v| w.in_side_a(v)).count() as f64;
    within_5_sd(
        "online on side A",
        reachable_from_a,
        0.15 * f64::from(n),
        binom_sd(f64::from(n), 0.15),
    );
    // Explicit membership, same seed or not, gives exactly the listed side.
    let mut listed = spec.clone();
    listed.partitions[0] = PartitionSpec {
        start_s: t1,
        end_s: t2,
        side_a_fraction: None,
        side_a_nodes: Some(vec![1, 2]),
    };
    let s = listed.build().unwrap().partitions(0);
    assert!(
        s.reachable(1, 2, 1.5 * HOUR)
            && !s.reachable(1, 3, 1.5 * HOUR)
            && s.reachable(3, 4, 1.5 * HOUR)
    );
}

#[test]
fn sinusoidal_diurnal_arrivals_give_the_predicted_population_curve() {
    // Open population, arrivals λ(t) = λ0 (1 + 0.5 cos(2π (hour - 20)/24)),
    // exponential sessions of mean 1 h. Expected online count
    // m(t) = ∫ λ(u) exp(-(t-u)/1h) du, by Simpson's rule over 24 h back.
    let lambda0 = 3000.0 / HOUR;
    let mean_s = HOUR;
    let lambda = |u: f64| {
        lambda0 * (1.0 + 0.5 * (2.0 * std::f64::consts::PI * (u / HOUR - 20.0) / 24.0).cos())
    };
    let expected = |t: f64| {
        let steps = 2400;
        let h = 24.0 * HOUR / steps as f64;
        let f = |u: f64| lambda(u) * (-(t - u) / mean_s).exp();
        let mut s = f(t - 24.0 * HOUR) + f(t);
        for i in 1..steps {
            let u = t - 24.0 * HOUR + i as f64 * h;
            s += f(u) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    };
    let model = ChurnModel::Open(OpenChurn {
        arrival_rate_per_s: lambda0,
        session: Dist::exponential(mean_s).unwrap(),
        diurnal: Some(Diurnal::sinusoidal(0.5, 20.0, 0.0).unwrap()),
        graceful_fraction: 1.0,
    });
    let mut spec = ChurnSpec::new(0, model, 3.0 * DAY);
    spec.warmup_s = DAY;
    let ev = run(&spec, 11);
    let times: Vec<f64> = (0..72).map(|h| h as f64 * HOUR + 1800.0).collect();
    let counts = online_counts(&ev, &times);
    for (t, c) in times.iter().zip(&counts) {
        let m = expected(*t);
        within_5_sd(
            &format!("online at hour {:.1}", t / HOUR),
            *c as f64,
            m,
            m.sqrt(),
        );
    }
    // The curve really swings: the evening peak is about three times the
    // morning trough.
    let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(*hi as f64 > 2.0 * *lo as f64, "{lo}..{hi}");
}

#[test]
fn tabulated_diurnal_arrivals_follow_the_table_hour_by_hour() {
    let mut factors = vec![1.0; 24];
    factors[3] = 0.0;
    factors[9] = 3.0;
    factors[21] = 2.0;
    let mean = factors.iter().sum::<f64>() / 24.0;
    let lambda0 = 0.2;
    let days = 10.0;
    let model = ChurnModel::Open(OpenChurn {
        arrival_rate_per_s: lambda0,
        session: Dist::constant(60.0).unwrap(),
        diurnal: Some(Diurnal::hourly(factors.clone(), 0.0).unwrap()),
        graceful_fraction: 0.0,
    });
    let ev = run(&ChurnSpec::new(0, model, days * DAY), 12);
    let mut per_hour = [0.0f64; 24];
    for r in ev.iter().filter(|r| r.event == ChurnEvent::Join) {
        per_hour[((r.time_s / HOUR) as usize) % 24] += 1.0;
    }
    for (h, &c) in per_hour.iter().enumerate() {
        let e = lambda0 * HOUR * days * factors[h] / mean;
        if e == 0.0 {
            assert_eq!(c, 0.0, "arrivals in the zero-rate hour {h}");
        } else {
            within_5_sd(&format!("arrivals in hour {h}"), c, e, e.sqrt());
        }
    }
}

#[test]
fn skype_supernode_rejoins_follow_the_evening_peak() {
    // The preset modulates rejoins with a sinusoid peaking at 20:00 and
    // bottoming at 08:00 (ratio 3 in the rejoin hazard).
    let mut spec = ChurnSpec::new(5000, ChurnModel::SkypeSupernode, 20.0 * DAY);
    spec.warmup_s = 10.0 * DAY;
    let ev = run(&spec, 13);
    let joins_in_hour = |h: usize| {
        ev.iter()
            .filter(|r| {
                r.event == ChurnEvent::Join
                    && r.time_s > 0.0
                    && ((r.time_s / HOUR) as usize) % 24 == h
            })
            .count()
    };
    let (evening, morning) = (joins_in_hour(20), joins_in_hour(8));
    assert!(
        evening as f64 > 1.5 * morning as f64,
        "joins at 20:00 {evening}, at 08:00 {morning}"
    );
}

#[test]
fn initialisation_joins_nodes_at_the_set_rate() {
    let mut spec = ChurnSpec::new(100, ChurnModel::Static, 60.0);
    spec.join_rate_per_s = Some(10.0);
    spec.transition_s = 30.0;
    let scn = spec.build().unwrap();
    let ev: Vec<ChurnRecord> = scn.events(0).collect();
    assert_eq!(ev.len(), 100);
    for (i, r) in ev.iter().enumerate() {
        assert_eq!(
            (r.node, r.time_s, r.event),
            (i as u32, i as f64 / 10.0, ChurnEvent::Join)
        );
    }
    let p = scn.phases();
    assert_eq!(
        (p.init_end_s, p.measurement_start_s, p.end_s),
        (10.0, 40.0, 100.0)
    );
    assert!(!p.in_measurement(39.9) && p.in_measurement(40.0));

    // Under churn with warm-up, no node appears before its activation time.
    let mut spec = ChurnSpec::new(500, ChurnModel::Kad, DAY);
    spec.join_rate_per_s = Some(1.0);
    spec.warmup_s = 10.0 * DAY;
    let ev: Vec<ChurnRecord> = spec.build().unwrap().events(1).collect();
    assert!(ev.iter().all(|r| r.time_s >= f64::from(r.node)));
    // and nodes up at activation join exactly then.
    let at_activation = ev
        .iter()
        .filter(|r| r.event == ChurnEvent::Join && r.time_s == f64::from(r.node))
        .count();
    assert!(at_activation > 50, "{at_activation}");
}

#[test]
fn bamboo_extreme_replaces_each_failed_node_with_a_fresh_one() {
    let n = 1000u32;
    let ev = run(&ChurnSpec::new(n, ChurnModel::BambooExtreme, HOUR), 14);
    // Constant population between events.
    let times: Vec<f64> = (1..60).map(|m| m as f64 * 60.0 + 0.5).collect();
    assert!(online_counts(&ev, &times).iter().all(|&c| c == n as usize));
    // Every departure is a failure, and each id joins once: returning nodes
    // are strangers.
    assert!(
        ev.iter()
            .filter(|r| r.event.is_departure())
            .all(|r| r.event == ChurnEvent::Fail)
    );
    let mut joined = std::collections::BTreeSet::new();
    assert!(
        ev.iter()
            .filter(|r| r.event == ChurnEvent::Join)
            .all(|r| joined.insert(r.node))
    );
    // Median session 1.4 min (Rhea et al.).
    let mut sessions: Vec<f64> = peerlab_churn::event::up_intervals(&ev)
        .iter()
        .filter(|iv| iv.start_s < 0.5 * HOUR)
        .filter_map(|iv| iv.length_s())
        .collect();
    sessions.sort_by(f64::total_cmp);
    let median = sessions[sessions.len() / 2] / 60.0;
    assert!(
        sessions.len() > 10_000 && (median - 1.4).abs() < 0.04,
        "{} sessions, median {median} min",
        sessions.len()
    );
}
