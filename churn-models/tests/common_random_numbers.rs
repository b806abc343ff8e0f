//! Common random numbers: runs that differ only in workload see the same
//! churn sample path, so paired comparisons are valid.

use peerlab_churn::process::{FlashCrowd, MassFailure, Recovery};
use peerlab_churn::workload::{CallWorkload, CalleeChoice, LookupWorkload, RegistrationWorkload};
use peerlab_churn::{
    ChurnModel, ChurnRecord, ChurnScenario, ChurnSpec, Dist, WorkItem, WorkloadDriver,
    WorkloadEvent, WorkloadSpec,
};

const HOUR: f64 = 3600.0;

fn scenario(nodes: u32) -> ChurnScenario {
    let mut spec = ChurnSpec::new(nodes, ChurnModel::Kad, 12.0 * HOUR);
    spec.join_rate_per_s = Some(10.0);
    spec.warmup_s = 30.0 * 86_400.0;
    spec.transition_s = HOUR;
    spec.mass_failures.push(MassFailure {
        at_s: 6.0 * HOUR,
        fraction: 0.25,
        recovery: Recovery::Model,
    });
    spec.flash_crowds.push(FlashCrowd {
        at_s: 3.0 * HOUR,
        nodes: 50,
        spread_s: 600.0,
        session: Some(Dist::exponential(HOUR).unwrap()),
        graceful_fraction: 0.5,
    });
    spec.build().unwrap()
}

fn workload(lookup_rate: f64, call_rate: f64) -> WorkloadSpec {
    with_reads(lookup_rate, call_rate, None)
}

fn with_reads(lookup_rate: f64, call_rate: f64, read_interval_s: Option<f64>) -> WorkloadSpec {
    WorkloadSpec {
        lookups: Some(LookupWorkload {
            rate_per_s: lookup_rate,
        }),
        registration: Some(RegistrationWorkload {
            refresh_s: 600.0,
            expires_s: 1800.0,
            read_interval_s,
        }),
        calls: Some(CallWorkload {
            rate_per_s: call_rate,
            duration: peerlab_churn::presets::skype_call_duration(),
            callee: CalleeChoice::Buddies { count: 5 },
        }),
    }
}

/// Runs the workload driver and splits its output.
fn run(scn: &ChurnScenario, seed: u64, w: WorkloadSpec) -> (Vec<ChurnRecord>, Vec<WorkloadEvent>) {
    let driver = WorkloadDriver::new(scn.events(seed), w, seed, scn.phases().end_s)
        .unwrap()
        .with_population(500);
    let mut churn = Vec::new();
    let mut work = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for item in driver {
        assert!(item.time_s() >= last, "merged stream out of order");
        last = item.time_s();
        match item {
            WorkItem::Churn(r) => churn.push(r),
            WorkItem::Work(w) => work.push(w.event),
        }
    }
    (churn, work)
}

fn lookups(work: &[WorkloadEvent]) -> usize {
    work.iter()
        .filter(|e| matches!(e, WorkloadEvent::Lookup { .. }))
        .count()
}

#[test]
fn workload_rate_does_not_change_the_churn_sample_path() {
    let scn = scenario(500);
    let (churn_a, work_a) = run(&scn, 42, workload(1.0 / 600.0, 1.0 / 3600.0));
    let (churn_b, work_b) = run(&scn, 42, workload(1.0 / 60.0, 1.0 / 360.0));
    assert!(churn_a.len() > 800, "{} churn events", churn_a.len());
    // The same join and leave sequence, event for event.
    assert_eq!(churn_a, churn_b);
    // And the same as the churn stream on its own.
    let alone: Vec<ChurnRecord> = scn.events(42).collect();
    assert_eq!(churn_a, alone);
    // The workloads really differ: ten times the lookup rate.
    let ratio = lookups(&work_b) as f64 / lookups(&work_a) as f64;
    assert!((8.5..11.5).contains(&ratio), "lookup ratio {ratio}");
    assert_ne!(work_a, work_b);
}

#[test]
fn the_run_seed_does_change_the_churn_sample_path() {
    let scn = scenario(300);
    let a: Vec<ChurnRecord> = scn.events(42).collect();
    let b: Vec<ChurnRecord> = scn.events(43).collect();
    assert_ne!(a, b);
    // And the same seed reproduces it.
    assert_eq!(a, scn.events(42).collect::<Vec<_>>());
}

#[test]
fn adding_nodes_does_not_change_existing_nodes_churn() {
    // Without population-wide events, node i's path depends only on its own
    // stream: growing the population leaves the first nodes untouched.
    let build = |n: u32| {
        let mut spec = ChurnSpec::new(n, ChurnModel::P2psim, 24.0 * HOUR);
        spec.warmup_s = 10.0 * HOUR;
        spec.build().unwrap()
    };
    let small: Vec<ChurnRecord> = build(200).events(9).collect();
    let large: Vec<ChurnRecord> = build(400).events(9).filter(|r| r.node < 200).collect();
    assert_eq!(small, large);
}

#[test]
fn lookup_keys_and_calls_are_reproducible() {
    let scn = scenario(300);
    let (_, a) = run(&scn, 8, workload(1.0 / 600.0, 1.0 / 3600.0));
    let (_, b) = run(&scn, 8, workload(1.0 / 600.0, 1.0 / 3600.0));
    assert_eq!(a, b);
}

fn reads(work: &[WorkloadEvent]) -> usize {
    work.iter()
        .filter(|e| matches!(e, WorkloadEvent::Read { .. }))
        .count()
}

#[test]
fn registration_read_rate_changes_neither_churn_nor_the_rest_of_the_workload() {
    let scn = scenario(500);
    let (churn_none, work_none) = run(&scn, 42, with_reads(1.0 / 600.0, 1.0 / 3600.0, None));
    let (churn_a, work_a) = run(&scn, 42, with_reads(1.0 / 600.0, 1.0 / 3600.0, Some(600.0)));
    let (churn_b, work_b) = run(&scn, 42, with_reads(1.0 / 600.0, 1.0 / 3600.0, Some(60.0)));
    // The same churn, event for event, with no reads, slow reads or fast reads.
    assert_eq!(churn_a, churn_none);
    assert_eq!(churn_a, churn_b);
    // Lookups, calls, registrations and expiries are untouched too.
    let others = |w: &[WorkloadEvent]| -> Vec<WorkloadEvent> {
        w.iter()
            .filter(|e| !matches!(e, WorkloadEvent::Read { .. }))
            .copied()
            .collect()
    };
    assert_eq!(others(&work_a), work_none);
    assert_eq!(others(&work_b), work_none);
    // The reads themselves: none without the process, ten times as many at
    // a tenth of the interval, every user in the population.
    assert_eq!(reads(&work_none), 0);
    assert!(reads(&work_a) > 1000, "{} reads", reads(&work_a));
    let ratio = reads(&work_b) as f64 / reads(&work_a) as f64;
    assert!((8.5..11.5).contains(&ratio), "read ratio {ratio}");
    for e in &work_b {
        if let WorkloadEvent::Read { user, .. } = e {
            assert!(*user < 500, "user {user} outside the population");
        }
    }
}
