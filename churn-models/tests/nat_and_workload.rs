//! NAT mixes assign classes in the promised proportions; workload
//! generators produce the promised rates and semantics.

use std::collections::BTreeMap;

use peerlab_churn::event::up_intervals;
use peerlab_churn::nat_mix::{NatMixSpec, NatModelSpec};
use peerlab_churn::presets::{P2PSIM_LOOKUP_RATE_PER_S, skype_call_duration};
use peerlab_churn::streams::stream;
use peerlab_churn::workload::{CallWorkload, CalleeChoice, LookupWorkload, RegistrationWorkload};
use peerlab_churn::{
    AsGroup, BlogClass, ChurnEvent, ChurnModel, ChurnRecord, ChurnSpec, NatClass, NatMix, NatModel,
    NatPreset, WorkItem, WorkloadDriver, WorkloadEvent, WorkloadSpec,
};

const HOUR: f64 = 3600.0;

fn within_5_sd(what: &str, observed: f64, expected: f64, sd: f64) {
    assert!(
        (observed - expected).abs() <= 5.0 * sd,
        "{what}: observed {observed:.1}, expected {expected:.1} ± 5×{sd:.1}"
    );
}

#[test]
fn nat_presets_have_the_published_shares() {
    let blog = |m: &NatMix| {
        [BlogClass::P, BlogClass::G, BlogClass::B, BlogClass::F].map(|c| m.blog_probability(c))
    };
    assert_eq!(blog(&NatPreset::Blog2009.mix()), [0.10, 0.30, 0.30, 0.30]);
    assert_eq!(blog(&NatPreset::Consumer.mix()), [0.15, 0.50, 0.30, 0.05]);
    // Halkes & Pouwelse (T12): ~21% open, ~64% endpoint-independent mapping,
    // ~11% endpoint-dependent mapping, the rest blocked.
    let hp = NatPreset::HalkesPouwelse.mix();
    let by_mapping = |m: peerlab_churn::nat_mix::Mapping| {
        NatClass::ALL
            .iter()
            .filter(|c| c.mapping() == m && **c != NatClass::UdpBlocked)
            .map(|&c| hp.probability(c))
            .sum::<f64>()
    };
    assert!((hp.probability(NatClass::Open) - 0.21).abs() < 1e-12);
    assert!(
        (by_mapping(peerlab_churn::nat_mix::Mapping::EndpointIndependent) - 0.64).abs() < 1e-12
    );
    assert!((by_mapping(peerlab_churn::nat_mix::Mapping::EndpointDependent) - 0.11).abs() < 1e-12);
    assert!((hp.probability(NatClass::UdpBlocked) - 0.04).abs() < 1e-12);
}

#[test]
fn per_node_assignment_matches_the_mix() {
    let n = 100_000u32;
    for preset in NatPreset::ALL {
        let mix = preset.mix();
        let mut counts: BTreeMap<NatClass, f64> = BTreeMap::new();
        for node in 0..n {
            *counts.entry(mix.class_of(77, node)).or_default() += 1.0;
        }
        for c in NatClass::ALL {
            let p = mix.probability(c);
            let got = counts.get(&c).copied().unwrap_or(0.0);
            within_5_sd(
                &format!("{preset:?} {c:?}"),
                got,
                p * f64::from(n),
                (f64::from(n) * p * (1.0 - p)).sqrt(),
            );
        }
    }
}

#[test]
fn exact_assignment_hits_the_proportions_exactly() {
    let classes = NatPreset::Blog2009.mix().assign_exact(5, 100);
    let count = |c: NatClass| classes.iter().filter(|&&x| x == c).count();
    assert_eq!(
        [
            NatClass::Open,
            NatClass::PortRestrictedCone,
            NatClass::Symmetric,
            NatClass::UdpBlocked
        ]
        .map(count),
        [10, 30, 30, 30]
    );
    // Rounding by largest remainder: 7 nodes of 10/30/30/30 -> 1,2,2,2.
    let seven = NatPreset::Blog2009.mix().assign_exact(5, 7);
    assert_eq!(seven.len(), 7);
    assert_eq!(seven.iter().filter(|&&c| c == NatClass::Open).count(), 1);
    // The order is shuffled by the seed, not sorted by class.
    assert_ne!(classes, NatPreset::Blog2009.mix().assign_exact(6, 100));
    assert_ne!(classes[..10], [NatClass::Open; 10]);
}

#[test]
fn as_groups_select_their_own_mixes() {
    let enterprise = NatMix::new(&NatMixSpec::Weights(BTreeMap::from([(
        NatClass::UdpBlocked,
        1.0,
    )])))
    .unwrap();
    let model = NatModel::new(NatModelSpec {
        mix: NatPreset::Consumer.mix(),
        groups: Some(BTreeMap::from([
            (AsGroup::Enterprise, 0.25),
            (AsGroup::Residential, 0.75),
        ])),
        by_group: BTreeMap::from([(AsGroup::Enterprise, enterprise)]),
    })
    .unwrap();
    let n = 40_000u32;
    let mut enterprise_nodes = 0.0;
    for node in 0..n {
        let (g, c) = model.assign(3, node);
        assert_ne!(g, AsGroup::University);
        if g == AsGroup::Enterprise {
            enterprise_nodes += 1.0;
            assert_eq!(c, NatClass::UdpBlocked);
        }
    }
    within_5_sd(
        "enterprise nodes",
        enterprise_nodes,
        0.25 * f64::from(n),
        (f64::from(n) * 0.25 * 0.75).sqrt(),
    );
    // A node's class does not depend on how many nodes there are or on
    // other streams: it is a function of (seed, node) alone.
    assert_eq!(model.assign(3, 17), model.assign(3, 17));
    assert_eq!(
        NatModel::uniform(NatPreset::Consumer.mix()).group_of(3, 17),
        AsGroup::Residential
    );
}

fn drive(churn: &[ChurnRecord], spec: WorkloadSpec, end_s: f64, population: u32) -> Vec<WorkItem> {
    WorkloadDriver::new(churn.iter().copied(), spec, 4, end_s)
        .unwrap()
        .with_population(population)
        .collect()
}

#[test]
fn lookups_are_poisson_at_the_rate_while_online() {
    // p2psim churn and lookup rate: expected lookups = rate × total online
    // time, counted from the churn itself.
    let end = 6.0 * HOUR;
    let mut spec = ChurnSpec::new(1000, ChurnModel::P2psim, end);
    spec.warmup_s = 10.0 * HOUR;
    let churn: Vec<ChurnRecord> = spec.build().unwrap().events(4).collect();
    let online_s: f64 = up_intervals(&churn)
        .iter()
        .map(|iv| iv.end_s.unwrap_or(end) - iv.start_s)
        .sum();
    let w = WorkloadSpec {
        lookups: Some(LookupWorkload {
            rate_per_s: P2PSIM_LOOKUP_RATE_PER_S,
        }),
        ..Default::default()
    };
    let items = drive(&churn, w, end, 1000);
    let mut online = std::collections::BTreeSet::new();
    let mut count = 0.0;
    for it in &items {
        match it {
            WorkItem::Churn(r) => {
                if r.event == ChurnEvent::Join {
                    online.insert(r.node);
                } else {
                    online.remove(&r.node);
                }
            }
            WorkItem::Work(w) => {
                let WorkloadEvent::Lookup { node, .. } = w.event else {
                    panic!("unexpected {w:?}")
                };
                assert!(online.contains(&node), "lookup from offline node {node}");
                count += 1.0;
            }
        }
    }
    let expected = online_s * P2PSIM_LOOKUP_RATE_PER_S;
    within_5_sd("lookups", count, expected, expected.sqrt());
}

#[test]
fn lookup_gaps_are_exponential() {
    // Without churn, a node's gaps between lookups are i.i.d. exponential
    // (under churn, departures would censor long gaps). Only the last gap of
    // each of the 50 nodes is cut by the horizon.
    let end = 200.0 * HOUR;
    let churn: Vec<ChurnRecord> = ChurnSpec::new(50, ChurnModel::Static, end)
        .build()
        .unwrap()
        .events(4)
        .collect();
    let w = WorkloadSpec {
        lookups: Some(LookupWorkload {
            rate_per_s: P2PSIM_LOOKUP_RATE_PER_S,
        }),
        ..Default::default()
    };
    let mut last: BTreeMap<u32, f64> = BTreeMap::new();
    let mut gaps = Vec::new();
    let mut keys = std::collections::BTreeSet::new();
    for it in drive(&churn, w, end, 50) {
        match it {
            WorkItem::Churn(r) => {
                last.insert(r.node, r.time_s);
            }
            WorkItem::Work(w) => {
                let WorkloadEvent::Lookup { node, key } = w.event else {
                    panic!("unexpected {w:?}")
                };
                gaps.push(w.time_s - last[&node]);
                last.insert(node, w.time_s);
                keys.insert(key);
            }
        }
    }
    assert!(gaps.len() > 50_000, "{}", gaps.len());
    let ks = peerlab_churn::stats::ks_test(&gaps, |x| 1.0 - (-x / 600.0).exp());
    assert!(ks.p_value > 0.01, "{ks:?}");
    // Keys are 64 random bits: no repeats.
    assert_eq!(keys.len(), gaps.len());
}

#[test]
fn registrations_refresh_and_expire_with_sip_semantics() {
    let (refresh, expires) = (600.0, 1500.0);
    // Node 1 is up [0, 1000), down until 1200, up [1200, 2000), then gone.
    // Node 2 is up [100, 200) and then gone.
    let churn = vec![
        ChurnRecord {
            time_s: 0.0,
            node: 1,
            event: ChurnEvent::Join,
        },
        ChurnRecord {
            time_s: 100.0,
            node: 2,
            event: ChurnEvent::Join,
        },
        ChurnRecord {
            time_s: 200.0,
            node: 2,
            event: ChurnEvent::Fail,
        },
        ChurnRecord {
            time_s: 1000.0,
            node: 1,
            event: ChurnEvent::Leave,
        },
        ChurnRecord {
            time_s: 1200.0,
            node: 1,
            event: ChurnEvent::Join,
        },
        ChurnRecord {
            time_s: 2000.0,
            node: 1,
            event: ChurnEvent::Leave,
        },
    ];
    let w = WorkloadSpec {
        registration: Some(RegistrationWorkload {
            refresh_s: refresh,
            expires_s: expires,
            read_interval_s: None,
        }),
        ..Default::default()
    };
    let work: Vec<(f64, WorkloadEvent)> = drive(&churn, w, 10_000.0, 2)
        .into_iter()
        .filter_map(|i| {
            if let WorkItem::Work(w) = i {
                Some((w.time_s, w.event))
            } else {
                None
            }
        })
        .collect();
    use WorkloadEvent::{Expire, Register};
    assert_eq!(
        work,
        vec![
            (0.0, Register { node: 1 }),
            (100.0, Register { node: 2 }),
            (600.0, Register { node: 1 }),
            // Node 2 registered at 100, so its binding lapses at 1600. Node
            // 1's binding from 600 would lapse at 2100, but it re-registers
            // at 1200 first.
            (1200.0, Register { node: 1 }),
            (1600.0, Expire { node: 2 }),
            (1800.0, Register { node: 1 }),
            (3300.0, Expire { node: 1 }),
        ]
    );
}

#[test]
fn calls_have_skype_durations_and_valid_callees() {
    // Duration preset: the 95th percentile of 100,000 draws is 60 min.
    let d = skype_call_duration();
    let mut rng = stream(1, "test.calls", 0);
    let mut xs: Vec<f64> = (0..100_000).map(|_| d.sample(&mut rng)).collect();
    xs.sort_by(f64::total_cmp);
    let p95 = xs[95_000] / 60.0;
    assert!((p95 - 60.0).abs() < 1.5, "95th percentile {p95} min");

    let end = 12.0 * HOUR;
    let mut spec = ChurnSpec::new(500, ChurnModel::P2psim, end);
    spec.warmup_s = 10.0 * HOUR;
    let churn: Vec<ChurnRecord> = spec.build().unwrap().events(8).collect();
    for (callee, rate) in [
        (CalleeChoice::Uniform, 1.0 / HOUR),
        (CalleeChoice::Buddies { count: 4 }, 1.0 / HOUR),
    ] {
        let w = WorkloadSpec {
            calls: Some(CallWorkload {
                rate_per_s: rate,
                duration: d.clone(),
                callee: callee.clone(),
            }),
            ..Default::default()
        };
        let mut online = std::collections::BTreeSet::new();
        let mut callees: BTreeMap<u32, std::collections::BTreeSet<u32>> = BTreeMap::new();
        let mut calls = 0.0;
        for it in drive(&churn, w, end, 500) {
            match it {
                WorkItem::Churn(r) if r.event == ChurnEvent::Join => {
                    online.insert(r.node);
                }
                WorkItem::Churn(r) => {
                    online.remove(&r.node);
                }
                WorkItem::Work(w) => {
                    let WorkloadEvent::Call {
                        caller,
                        callee: to,
                        callee_online,
                        duration_s,
                    } = w.event
                    else {
                        panic!()
                    };
                    assert!(online.contains(&caller) && caller != to && duration_s >= 0.0);
                    assert_eq!(callee_online, online.contains(&to));
                    if callee == CalleeChoice::Uniform {
                        assert!(callee_online, "uniform callee {to} is offline");
                    }
                    callees.entry(caller).or_default().insert(to);
                    calls += 1.0;
                }
            }
        }
        let online_s: f64 = up_intervals(&churn)
            .iter()
            .map(|iv| iv.end_s.unwrap_or(end) - iv.start_s)
            .sum();
        match callee {
            CalleeChoice::Uniform => {
                // Every callee was online, and calls come at the rate.
                within_5_sd("calls", calls, online_s * rate, (online_s * rate).sqrt());
            }
            CalleeChoice::Buddies { count } => {
                // Calls go to at most `count` distinct buddies per caller.
                assert!(callees.values().all(|s| s.len() <= count as usize));
                assert!(
                    callees
                        .values()
                        .filter(|s| s.len() == count as usize)
                        .count()
                        > 50
                );
            }
        }
    }
}
