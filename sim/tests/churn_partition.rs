//! A network partition from a churn spec cuts the simulated network: while
//! it lasts, no message crosses between its sides, so lookups for keys whose
//! responsible node sits on the other side fail; before it, they succeed.

use peerlab_churn::{ChurnSpec, WorkloadSpec};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_sim::{LookupRecord, NetworkConfig, SimOptions, run_churn};

#[test]
fn a_partition_blocks_cross_traffic_until_it_heals() {
    let churn: ChurnSpec = toml::from_str(
        r#"
        nodes = 200
        model = { kind = "static" }
        join_rate_per_s = 20.0
        transition_s = 600.0
        measurement_s = 3000.0

        [[partitions]]
        start_s = 1200.0
        end_s = 2400.0
        side_a_fraction = 0.5
        "#,
    )
    .expect("churn spec");
    let work: WorkloadSpec = toml::from_str("lookups = { rate_per_s = 0.02 }").expect("workload");
    let out = run_churn::<Kademlia>(
        &NetworkConfig::default(),
        &churn,
        &work,
        &SimOptions::default(),
        KademliaConfig::default(),
        KademliaConfig::DEFAULT_ROUTING,
        3,
        &mut |_| {},
    )
    .expect("valid run");
    let rate = |from: f64, to: f64| {
        let w: Vec<&LookupRecord> = out
            .lookups
            .iter()
            .filter(|l| l.time_s >= from && l.time_s < to)
            .collect();
        (
            w.iter().filter(|l| l.success).count() as f64 / w.len().max(1) as f64,
            w.len(),
        )
    };
    let (before, nb) = rate(600.0, 1200.0);
    let (during, nd) = rate(1260.0, 2400.0);
    let (after, na) = rate(2700.0, 3600.0);
    println!(
        "partition: success {before:.3} before ({nb}), {during:.3} during ({nd}), {after:.3} after healing ({na}); \
         {} messages dropped",
        out.dropped
    );
    assert!(nb > 500 && nd > 1000, "enough lookups in each window");
    assert!(before >= 0.99, "before the partition: {before}");
    // Each node is on side A with probability 1/2, so a key's responsible
    // node is on the origin's side half the time: success should be 1/2
    // (binomial standard error over ~4,500 lookups is 0.0075; allow 5 of them).
    assert!(
        (during - 0.5).abs() < 0.04,
        "during the partition: {during}"
    );
    assert!(out.dropped > 1000, "messages across the cut are dropped");
    assert!(after >= 0.99, "after healing: {after}");
}
