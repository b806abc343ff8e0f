//! Both DHTs under churn, with the workload of the MIT p2psim studies (Li et
//! al., IPTPS 2004; literature.md T6): 1,024 nodes, exponential sessions with
//! mean 1 h, exponential downtimes with mean 1 h, one lookup per live node
//! every 10 minutes, 6 simulated hours, statistics from the second half.
//! With default parameters, lookups must find the node the oracle says is
//! responsible at the moment they finish at least 99% of the time.

use peerlab_churn::{ChurnSpec, WorkloadSpec};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::{RoutingMode, TrafficClass};
use peerlab_sim::{DhtNode, LookupRecord, NetworkConfig, SimOptions, run_churn};

fn p2psim() -> (ChurnSpec, WorkloadSpec) {
    let churn: ChurnSpec = toml::from_str(
        r#"
        nodes = 1024
        model = { kind = "p2psim" }
        warmup_s = 36000.0
        transition_s = 10800.0
        measurement_s = 10800.0
        "#,
    )
    .expect("churn spec");
    let work: WorkloadSpec =
        toml::from_str("lookups = { rate_per_s = 0.0016666666666666668 }").expect("workload");
    (churn, work)
}

fn check<D: DhtNode>(cfg: D::Config, mode: RoutingMode) {
    let (churn, work) = p2psim();
    let out = run_churn::<D>(
        &NetworkConfig::default(),
        &churn,
        &work,
        &SimOptions::default(),
        cfg,
        mode,
        1,
        &mut |_| {},
    )
    .expect("valid run");
    let measured: Vec<&LookupRecord> = out.lookups.iter().filter(|l| l.measured).collect();
    // About half of 1,024 nodes are up; 3 h at one lookup per 10 min each.
    assert!(
        measured.len() > 7_000,
        "{} measured lookups",
        measured.len()
    );
    let ok = measured.iter().filter(|l| l.success).count() as f64 / measured.len() as f64;
    let mut lat: Vec<f64> = measured.iter().map(|l| l.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let w = out.measurement.as_ref().expect("measurement window");
    let online = w.node_seconds / (w.end_s - w.start_s);
    let per =
        |f: fn(&&LookupRecord) -> f64| measured.iter().map(f).sum::<f64>() / measured.len() as f64;
    let classes: Vec<String> = TrafficClass::ALL
        .iter()
        .map(|c| format!("{} {:.1}", c.name(), w.class_bytes_per_node_s(*c)))
        .collect();
    println!(
        "p2psim churn, {} {mode:?}: success {:.4} of {} lookups; latency median {:.0} ms, p95 {:.0} ms; \
         {:.2} hops, {:.1} messages and {:.2} timeouts per lookup; {:.0} nodes online on average; \
         {:.1} bytes/node/s ({})",
        D::NAME,
        ok,
        measured.len(),
        lat[lat.len() / 2],
        lat[lat.len() * 95 / 100],
        per(|l| l.hops as f64),
        per(|l| l.messages as f64),
        per(|l| l.timeouts as f64),
        online,
        w.bytes_per_node_s(),
        classes.join(", ")
    );
    // Half the population is up in equilibrium: mean_up / (mean_up + mean_down).
    assert!(
        (online / 1024.0 - 0.5).abs() < 0.05,
        "online fraction {}",
        online / 1024.0
    );
    // The nodes' own attribution accounts for every byte the network carried,
    // except replies that arrived after their request was given up.
    let by_class: u64 = w.by_class.iter().map(|c| c.bytes).sum();
    let carried = w.traffic.total_bytes();
    assert!(
        by_class <= carried && by_class as f64 >= 0.97 * carried as f64,
        "{by_class} of {carried}"
    );
    assert!(ok >= 0.99, "lookup success {ok}");
}

#[test]
fn kademlia_keeps_lookups_correct_under_p2psim_churn() {
    check::<Kademlia>(KademliaConfig::default(), KademliaConfig::DEFAULT_ROUTING);
}

#[test]
fn chord_keeps_lookups_correct_under_p2psim_churn() {
    check::<Chord>(ChordConfig::default(), RoutingMode::Iterative);
}

#[test]
fn chord_recursive_keeps_lookups_correct_under_p2psim_churn() {
    check::<Chord>(ChordConfig::default(), RoutingMode::Recursive);
}
