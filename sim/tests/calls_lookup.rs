//! Call setup through the DHT (`lookup`): 300 nodes under Skype-supernode
//! churn, consumer NATs, calls to a 10-buddy list (so callees may be
//! offline), relays with room for every call (so no call's fate depends on
//! another's), looked up in Kademlia and in Chord.
//!
//! Oracles, none of them the code under test:
//!
//! - **Common random numbers.** The churn crate's generator, run with calls
//!   alone and with calls plus registrations (and reads), gives the same
//!   call events.
//! - **The call stream.** The generator's own call events, replayed here,
//!   give every record's caller, callee and time, and every lookup's.
//! - **Arithmetic.** The same run without `lookup`: a call connected in both
//!   has the same path, and its setup latency with the lookup is exactly the
//!   one without plus `lookup_ms`.
//! - **The churn schedule** (the churn model's events replayed here):
//!   *user not found* is exactly "callee offline, or the lookup found no
//!   contact"; and a callee online for [`SETTLE`] s must be found by a
//!   caller online as long, while one that left gracefully [`GONE`] s ago,
//!   or crashed more than `expires_s` + [`GONE`] s ago, or was never online,
//!   must not be.
//!
//! Run: `cargo test --release -p peerlab-sim --test calls_lookup -- --nocapture`
//! prints the figures.

mod calls_common;

use calls_common::churning;
use peerlab_churn::workload::{CallWorkload, CalleeChoice, RegistrationWorkload};
use peerlab_churn::{ChurnEvent, WorkItem, WorkloadDriver, WorkloadEvent, WorkloadSpec};
use peerlab_sim::CallLookup;
use peerlab_sim::calls::lookup::{call_lookups, join};
use peerlab_sim::calls::{
    CallReport, CallRun, CallScenarioConfig, FailureReason, LookupDht, LookupSpec, RelayConfig,
};
use std::sync::OnceLock;

const NODES: u32 = 300;
/// A node online this long has joined the overlay and registered.
const SETTLE: f64 = 30.0;
/// This long after a graceful leave, or after a crashed node's record
/// expired, nothing of the node is left (leave grace 10 s + slack).
const GONE: f64 = 30.0;

/// Least share of settled callees a settled caller finds. Measured with
/// seed 11 on 1,203 such calls: Kademlia 1.0000, Chord 0.9701 (why Chord
/// misses more here than in `registration_churn` is not yet examined). The
/// binomial standard deviation at 0.97 is 0.0049, so the Chord bound is 4
/// deviations below its run; Kademlia's allows a dozen misses.
const MIN_FOUND_KADEMLIA: f64 = 0.99;
/// See [`MIN_FOUND_KADEMLIA`].
const MIN_FOUND_CHORD: f64 = 0.95;
/// Largest gap between the share of decided calls whose lookup found
/// nothing and the share the schedule says must find nothing (measured:
/// Kademlia 0.0000, Chord 0.0123 = the settled callees missed).
const MAX_SHARE_GAP: f64 = 0.02;

fn cfg(lookup: Option<LookupDht>) -> CallScenarioConfig {
    let mut c = churning(NODES, 4000, 11);
    c.calls = CallWorkload {
        callee: CalleeChoice::Buddies { count: 10 },
        ..c.calls
    };
    c.relay = RelayConfig {
        slots: 100_000,
        uplink_kbps: 100_000_000,
        ..c.relay
    };
    c.lookup = lookup.map(LookupSpec::new);
    c
}

/// The generator's call events: (time, caller, callee, callee online).
fn call_events(c: &CallScenarioConfig, w: WorkloadSpec) -> Vec<(f64, u32, u32, bool, f64)> {
    let sc = c.churn.build().unwrap();
    let mut ev = sc.events(c.seed);
    let recs: Vec<_> = ev.by_ref().collect();
    let n = ev.id_bound().max(c.churn.nodes);
    WorkloadDriver::new(recs.into_iter(), w, c.seed, sc.phases().end_s)
        .unwrap()
        .with_population(n)
        .filter_map(|i| match i {
            WorkItem::Work(w) => match w.event {
                WorkloadEvent::Call {
                    caller,
                    callee,
                    duration_s,
                    callee_online,
                } => Some((w.time_s, caller, callee, callee_online, duration_s)),
                _ => None,
            },
            WorkItem::Churn(_) => None,
        })
        .collect()
}

fn calls_only(c: &CallScenarioConfig) -> WorkloadSpec {
    WorkloadSpec {
        calls: Some(c.calls.clone()),
        ..WorkloadSpec::default()
    }
}

/// Per node, its churn events in time order (the schedule).
fn schedule(c: &CallScenarioConfig) -> Vec<Vec<(f64, ChurnEvent)>> {
    let sc = c.churn.build().unwrap();
    let mut out = vec![Vec::new(); c.churn.nodes as usize];
    for r in sc.events(c.seed) {
        out[r.node as usize].push((r.time_s, r.event));
    }
    out
}

/// What the schedule says about node `u` at `t`: `Some(true)` online for
/// at least `SETTLE` s, `Some(false)` gone for good (see the module
/// documentation), `None` undetermined.
fn settled(sched: &[(f64, ChurnEvent)], t: f64, expires_s: f64) -> Option<bool> {
    match sched.iter().rev().find(|(s, _)| *s <= t) {
        None => Some(false),
        Some((s, ChurnEvent::Join)) => (t - s >= SETTLE).then_some(true),
        Some((s, ChurnEvent::Leave)) => (t - s >= GONE).then_some(false),
        Some((s, ChurnEvent::Fail)) => (t - s >= expires_s + GONE).then_some(false),
    }
}

fn online(sched: &[(f64, ChurnEvent)], t: f64) -> bool {
    matches!(
        sched.iter().rev().find(|(s, _)| *s <= t),
        Some((_, ChurnEvent::Join))
    )
}

struct Runs {
    without: CallReport,
    with: Vec<(LookupDht, CallReport, Vec<CallLookup>)>,
}

fn runs() -> &'static Runs {
    static R: OnceLock<Runs> = OnceLock::new();
    R.get_or_init(|| {
        let without = CallRun::new(&cfg(None)).unwrap().run_configured().unwrap();
        let with = [LookupDht::Kademlia, LookupDht::Chord]
            .into_iter()
            .map(|d| {
                let c = cfg(Some(d));
                let report = CallRun::new(&c).unwrap().run_configured().unwrap();
                let lookups = call_lookups(&c, c.lookup.as_ref().unwrap()).unwrap();
                (d, report, lookups)
            })
            .collect();
        Runs { without, with }
    })
}

#[test]
fn registrations_leave_the_call_stream_unchanged() {
    let c = cfg(None);
    let alone = call_events(&c, calls_only(&c));
    assert!(alone.len() > 1000, "{} calls", alone.len());
    for read_interval_s in [None, Some(60.0)] {
        let both = call_events(
            &c,
            WorkloadSpec {
                registration: Some(RegistrationWorkload {
                    refresh_s: 1800.0,
                    expires_s: 3600.0,
                    read_interval_s,
                }),
                ..calls_only(&c)
            },
        );
        assert_eq!(alone, both, "reads every {read_interval_s:?} s");
    }
}

#[test]
fn every_call_joins_its_lookup_by_caller_callee_and_time() {
    let r = runs();
    let stream = call_events(&cfg(None), calls_only(&cfg(None)));
    assert_eq!(r.without.calls.len(), stream.len());
    for (d, report, lookups) in &r.with {
        assert_eq!(report.calls.len(), stream.len(), "{d:?}");
        assert_eq!(lookups.len(), stream.len(), "{d:?}");
        for ((rec, l), &(t, caller, callee, _, _)) in report.calls.iter().zip(lookups).zip(&stream)
        {
            assert_eq!((rec.caller, rec.callee, rec.start_s), (caller, callee, t));
            assert_eq!((l.caller, l.callee, l.time_s), (caller, callee, t));
            assert_eq!(l.call, rec.id);
            // A lookup the caller could not issue or finish has no latency.
            assert_eq!(rec.lookup_ms.is_some(), l.latency_ms.is_finite(), "{d:?}");
            assert!(!l.found || l.issued);
        }
    }
}

#[test]
fn setup_with_lookup_is_setup_without_plus_lookup_ms() {
    let r = runs();
    for (d, report, lookups) in &r.with {
        let mut compared = 0;
        for ((a, b), l) in r.without.calls.iter().zip(&report.calls).zip(lookups) {
            assert!(a.lookup_ms.is_none());
            if l.found {
                // A found callee changes nothing but the setup latency.
                assert_eq!(a.failure, b.failure, "{d:?} call {}", a.id);
                assert_eq!(a.path, b.path, "{d:?} call {}", a.id);
            } else {
                assert_eq!(b.failure, Some(FailureReason::UserNotFound));
            }
            if let (Some(x), Some(y)) = (a.setup_ms, b.setup_ms) {
                let ms = b.lookup_ms.expect("a connected call's lookup finished");
                assert_eq!(y, x + ms, "{d:?} call {}", a.id);
                assert!(ms > 0.0);
                compared += 1;
            }
        }
        assert!(compared > 500, "{d:?}: {compared} connected calls");
    }
}

#[test]
fn user_not_found_is_callee_offline_or_lookup_found_nothing() {
    let r = runs();
    let sched = schedule(&cfg(None));
    for (d, report, lookups) in &r.with {
        for (rec, l) in report.calls.iter().zip(lookups) {
            let offline = !online(&sched[rec.callee as usize], rec.start_s);
            assert_eq!(
                rec.failure == Some(FailureReason::UserNotFound),
                offline || !l.found,
                "{d:?} call {}: offline {offline}, found {}",
                rec.id,
                l.found
            );
        }
    }
}

#[test]
fn lookups_find_the_callees_the_schedule_says_are_registered() {
    let r = runs();
    let c = cfg(Some(LookupDht::Kademlia));
    let expires = c.lookup.as_ref().unwrap().expires_s;
    let sched = schedule(&c);
    for (d, report, lookups) in &r.with {
        let (mut must, mut found, mut gone, mut stale) = (0u32, 0u32, 0u32, 0u32);
        let (mut not_found, mut predicted_missing, mut decided) = (0u32, 0u32, 0u32);
        for (rec, l) in report.calls.iter().zip(lookups) {
            let caller = settled(&sched[rec.caller as usize], rec.start_s, expires);
            let callee = settled(&sched[rec.callee as usize], rec.start_s, expires);
            if caller != Some(true) {
                continue;
            }
            match callee {
                Some(true) => {
                    must += 1;
                    found += u32::from(l.found);
                }
                Some(false) => {
                    gone += 1;
                    stale += u32::from(l.found);
                }
                None => continue,
            }
            decided += 1;
            not_found += u32::from(!l.found);
            predicted_missing += u32::from(callee == Some(false));
        }
        let hit = f64::from(found) / f64::from(must);
        let nf = f64::from(not_found) / f64::from(decided);
        let pm = f64::from(predicted_missing) / f64::from(decided);
        println!(
            "{d:?}: {must} calls to settled callees, found {hit:.4}; {gone} to gone callees, \
             {stale} found; not found {nf:.4} vs schedule {pm:.4}"
        );
        assert!(must > 500 && gone > 100, "{d:?}: {must} / {gone}");
        let min = match d {
            LookupDht::Kademlia => MIN_FOUND_KADEMLIA,
            LookupDht::Chord => MIN_FOUND_CHORD,
        };
        assert!(hit >= min, "{d:?}: found {hit}");
        assert_eq!(stale, 0, "{d:?}: a gone callee was found");
        // Every gone callee is missed (above), so the two shares differ by
        // the settled callees missed: at most (1 - min) of the 40% or so
        // of decided calls that go to settled callees.
        assert!((nf - pm).abs() <= MAX_SHARE_GAP, "{d:?}: {nf} vs {pm}");
    }
}

#[test]
fn a_lookup_that_disagrees_with_its_call_is_an_error_naming_the_call() {
    let r = runs();
    let c = cfg(None);
    let sc = c.churn.build().unwrap();
    let mut ev = sc.events(c.seed);
    let recs: Vec<_> = ev.by_ref().collect();
    let n = ev.id_bound().max(c.churn.nodes);
    let items: Vec<WorkItem> =
        WorkloadDriver::new(recs.into_iter(), calls_only(&c), c.seed, sc.phases().end_s)
            .unwrap()
            .with_population(n)
            .collect();
    let good = r.with[0].2.clone();
    assert_eq!(join(&items, good.clone()).unwrap(), good);
    let mut bad = good.clone();
    bad[7].callee = (bad[7].callee + 1) % NODES;
    let e = join(&items, bad).unwrap_err().to_string();
    assert!(e.contains("call 7"), "{e}");
    let short = good[..good.len() - 1].to_vec();
    let e = join(&items, short).unwrap_err().to_string();
    assert!(e.contains("lookup"), "{e}");
}

#[test]
fn a_refresh_not_shorter_than_the_expiry_is_rejected_by_name() {
    let mut c = cfg(Some(LookupDht::Kademlia));
    c.lookup = Some(LookupSpec {
        refresh_s: 3600.0,
        ..LookupSpec::new(LookupDht::Kademlia)
    });
    let e = CallRun::new(&c).err().expect("rejected").to_string();
    assert!(e.contains("lookup.refresh_s"), "{e}");
}
