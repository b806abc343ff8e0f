//! Registrations in the churn scenario, over Kademlia and Chord: 400 nodes
//! under lifetime churn (exponential sessions with mean 15 min, downtimes
//! with mean 7.5 min, half the departures graceful), each node the only
//! device of its user `sip:u<i>@peerlab.sim`, refreshing every 120 s with
//! records that expire after 240 s, and every online node reading a
//! uniformly chosen user (offline ones included) every 30 s on average.
//! 10 simulated minutes are measured.
//!
//! Two oracles:
//!
//! - **The schedule.** Independently of the simulator, the test replays the
//!   churn model and the workload generator (same spec, seed and end) and
//!   says from them alone whether user `u` must be found at time `g`:
//!   online for at least [`SETTLE`] (join done, record put and acknowledged)
//!   → yes; never online, or gone gracefully for at least [`GONE`] → no;
//!   crashed → yes until 5 s before the generator's `Expire` event (the
//!   record lives `expires_s` after the last registration), no from
//!   [`GONE`] after it. Around those instants the answer is left open.
//! - **The global view** the simulator keeps (acknowledged puts and
//!   removals, `peerlab_sim::registration::DeviceLog`): each row's
//!   `expected` and `correct`. The test checks the rows are consistent
//!   with the flags, that the view agrees with the schedule, and that reads
//!   return what both say at least [`MIN_SUCCESS_KADEMLIA`] (Kademlia) or
//!   [`MIN_SUCCESS_CHORD`] (Chord) of the time.
//!
//! Run: `cargo test --release -p peerlab-sim --test registration_churn -- --nocapture`
//! prints the figures.

use peerlab_churn::{ChurnEvent, ChurnSpec, WorkItem, WorkloadDriver, WorkloadEvent, WorkloadSpec};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_sim::{DhtNode, NetworkConfig, RegistrationRead, SimOptions, run_churn};
use std::collections::BTreeMap;

const NODES: u32 = 400;
/// A device this long online has joined, registered and been acknowledged.
const SETTLE: f64 = 30.0;
/// This long after a graceful leave or an expiry, the record is gone:
/// the leave's removals take at most 10 s (`LEAVE_GRACE`) plus the read
/// slack of 10 s; an expiry falls at most a join's duration after the
/// generator's `Expire`.
const GONE: f64 = 30.0;

fn spec() -> (ChurnSpec, WorkloadSpec) {
    let churn: ChurnSpec = toml::from_str(
        r#"
        nodes = 400
        model = { kind = "lifetime", up = { dist = "exponential", mean_s = 900.0 }, down = { dist = "exponential", mean_s = 450.0 }, graceful_fraction = 0.5 }
        join_rate_per_s = 20.0
        warmup_s = 9000.0
        transition_s = 280.0
        measurement_s = 600.0
        "#,
    )
    .expect("churn spec");
    let work: WorkloadSpec = toml::from_str(
        "registration = { refresh_s = 120.0, expires_s = 240.0, read_interval_s = 30.0 }",
    )
    .expect("workload");
    (churn, work)
}

/// Per user, the times of its churn events and of the generator's expiries.
#[derive(Default)]
struct Timeline {
    churn: Vec<(f64, ChurnEvent)>,
    expires: Vec<f64>,
}

fn schedule(churn: &ChurnSpec, work: &WorkloadSpec, seed: u64) -> BTreeMap<u32, Timeline> {
    let scn = churn.build().unwrap();
    let mut events = scn.events(seed);
    let evs: Vec<_> = events.by_ref().collect();
    let n = events.id_bound().max(1);
    let mut t: BTreeMap<u32, Timeline> = BTreeMap::new();
    for item in WorkloadDriver::new(evs.into_iter(), work.clone(), seed, scn.phases().end_s)
        .unwrap()
        .with_population(n)
    {
        match item {
            WorkItem::Churn(r) => t.entry(r.node).or_default().churn.push((r.time_s, r.event)),
            WorkItem::Work(w) => {
                if let WorkloadEvent::Expire { node } = w.event {
                    t.entry(node).or_default().expires.push(w.time_s);
                }
            }
        }
    }
    t
}

/// Whether the schedule alone says user `u` must be found at `g`; none
/// near a transition.
fn must_find(t: Option<&Timeline>, g: f64) -> Option<bool> {
    let Some(t) = t else { return Some(false) };
    let k = t.churn.partition_point(|&(s, _)| s <= g);
    if k == 0 {
        return Some(false);
    }
    let (s, e) = t.churn[k - 1];
    let session = k >= 2 && t.churn[k - 2].1 == ChurnEvent::Join;
    match e {
        ChurnEvent::Join => (g - s >= SETTLE).then_some(true),
        ChurnEvent::Leave => (g - s >= GONE).then_some(false),
        ChurnEvent::Fail => {
            let settled = session && s - t.churn[k - 2].0 >= SETTLE;
            let exp = t.expires.iter().copied().find(|&x| x >= s)?;
            if g >= exp + GONE {
                Some(false)
            } else if g <= exp - 5.0 && settled {
                Some(true)
            } else {
                None
            }
        }
    }
}

/// Reads that return what the view and the schedule say, at least. Measured
/// with seeds 1, 2 and 3 (about 5,100 measured reads each): correct against
/// the view 0.9989-0.9990 on Kademlia (5-6 stale reads; with gets from the
/// first holder only and no tombstones it was 0.9803-0.9875, 64-100
/// removed records served by a holder the removal missed), 0.9920-0.9935
/// on Chord (34-41 records lost with their replicas under churn: missing);
/// against the schedule 0.9898-1.0000. With n = 5,000 the binomial
/// standard deviation is about 0.0005 at 0.999 and 0.0013 at 0.99, so each
/// bound is several deviations below its DHT's worst run, yet above what
/// the first-holder reads without tombstones gave (0.98).
const MIN_SUCCESS_KADEMLIA: f64 = 0.995;
/// See [`MIN_SUCCESS_KADEMLIA`].
const MIN_SUCCESS_CHORD: f64 = 0.985;
/// The view and the schedule agree on at least this share of the reads the
/// schedule decides (they differ where a join took longer than `SETTLE`).
/// Measured 0.9960-0.9994 with the same seeds.
const MIN_AGREEMENT: f64 = 0.99;

fn check<D: DhtNode>(cfg: D::Config, seed: u64, min_success: f64) {
    let (churn, work) = spec();
    let out = run_churn::<D>(
        &NetworkConfig::default(),
        &churn,
        &work,
        &SimOptions::default(),
        cfg,
        D::DEFAULT_ROUTING,
        seed,
        &mut |_| {},
    )
    .expect("valid run");
    let sched = schedule(&churn, &work, seed);
    let rows: Vec<&RegistrationRead> = out.registrations.iter().filter(|r| r.measured).collect();
    let name = D::NAME;
    assert!(rows.len() > 3000, "{name}: {} measured reads", rows.len());
    for r in &rows {
        assert!(r.user < NODES && r.reader < NODES && r.reader != u32::MAX);
        assert!(r.latency_ms.is_finite() && r.latency_ms >= 0.0, "{r:?}");
        assert!(r.expected <= 1 && r.returned <= 1, "{name}: {r:?}");
        // The flags say what the counts say.
        assert_eq!(r.missing, r.expected == 1 && r.returned == 0, "{r:?}");
        assert!(!(r.correct && (r.stale || r.missing)), "{r:?}");
        if r.correct && r.expected == 1 {
            assert_eq!(r.returned, 1, "{r:?}");
        }
    }
    let correct = rows.iter().filter(|r| r.correct).count();
    let (mut decided, mut agree, mut found_ok) = (0, 0, 0);
    let (mut yes, mut no) = (0, 0);
    for r in &rows {
        let Some(must) = must_find(sched.get(&r.user), r.time_s) else {
            continue;
        };
        decided += 1;
        if must {
            yes += 1
        } else {
            no += 1
        }
        agree += usize::from((r.expected == 1) == must);
        found_ok += usize::from((r.returned == 1) == must);
    }
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let stale = rows.iter().filter(|r| r.stale).count();
    let missing = rows.iter().filter(|r| r.missing).count();
    println!(
        "{name} seed {seed}: {} measured reads, {} correct ({:.4}); {stale} stale, {missing} missing; \
         schedule decides {decided} ({yes} must find, {no} must not): view agrees {:.4}, reads right {:.4}; \
         mean latency {:.0} ms",
        rows.len(),
        correct,
        share(correct, rows.len()),
        share(agree, decided),
        share(found_ok, decided),
        rows.iter().map(|r| r.latency_ms).sum::<f64>() / rows.len() as f64,
    );
    // Both kinds of answer are exercised: found, and rightly not found.
    assert!(
        yes > 1000 && no > 500,
        "{name}: {yes} must find, {no} must not"
    );
    assert!(
        decided * 10 > rows.len() * 8,
        "{name}: schedule decides {decided}"
    );
    assert!(
        share(agree, decided) >= MIN_AGREEMENT,
        "{name}: the view and the schedule agree on {:.4}",
        share(agree, decided)
    );
    assert!(
        share(correct, rows.len()) >= min_success,
        "{name}: read success against the view {:.4}",
        share(correct, rows.len())
    );
    assert!(
        share(found_ok, decided) >= min_success,
        "{name}: read success against the schedule {:.4}",
        share(found_ok, decided)
    );
}

#[test]
fn kademlia_reads_registrations_under_churn() {
    check::<Kademlia>(KademliaConfig::default(), 1, MIN_SUCCESS_KADEMLIA);
}

#[test]
fn chord_reads_registrations_under_churn() {
    check::<Chord>(ChordConfig::default(), 1, MIN_SUCCESS_CHORD);
}

#[test]
fn the_same_seed_gives_the_same_reads() {
    let (churn, work) = spec();
    let run = || {
        run_churn::<Kademlia>(
            &NetworkConfig::default(),
            &churn,
            &work,
            &SimOptions::default(),
            KademliaConfig::default(),
            Kademlia::DEFAULT_ROUTING,
            4,
            &mut |_| {},
        )
        .expect("valid run")
    };
    let (a, b) = (run(), run());
    assert!(!a.registrations.is_empty());
    assert_eq!(a.registrations, b.registrations);
    assert_eq!(a.trace_hash, b.trace_hash);
}
