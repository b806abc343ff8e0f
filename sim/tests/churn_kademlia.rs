//! Kademlia under churn, with the workload of the MIT p2psim studies (Li et
//! al., IPTPS 2004; literature.md T6): 1,024 nodes, exponential sessions
//! with mean 1 h, exponential downtimes with mean 1 h, one lookup per live
//! node every 10 minutes, 6 simulated hours, statistics from the second half.

use peerlab_churn::{ChurnSpec, WorkloadSpec};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::RoutingMode;
use peerlab_sim::{NetworkConfig, RunOutput, SimOptions, run_churn};

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

fn run(seed: u64) -> RunOutput {
    let (churn, work) = p2psim();
    let net = NetworkConfig::default();
    run_churn::<Kademlia>(
        &net,
        &churn,
        &work,
        &SimOptions::default(),
        KademliaConfig::default(),
        RoutingMode::Iterative,
        seed,
        &mut |_| {},
    )
    .expect("valid run")
}

#[test]
fn kademlia_keeps_lookups_correct_under_p2psim_churn() {
    let out = run(1);
    let measured: Vec<_> = out.lookups.iter().filter(|l| l.measured).collect();
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
    let per = |f: fn(&&peerlab_sim::LookupRecord) -> f64| {
        measured.iter().map(f).sum::<f64>() / measured.len() as f64
    };
    println!(
        "p2psim churn, kademlia: success {:.4} of {} lookups; latency median {:.0} ms, p95 {:.0} ms; \
         {:.1} messages and {:.2} timeouts per lookup; {:.0} nodes online on average; {:.1} bytes/node/s",
        ok,
        measured.len(),
        lat[lat.len() / 2],
        lat[lat.len() * 95 / 100],
        per(|l| l.messages as f64),
        per(|l| l.timeouts as f64),
        online,
        w.bytes_per_node_s()
    );
    // Half the population is up in equilibrium: mean_up / (mean_up + mean_down).
    assert!(
        (online / 1024.0 - 0.5).abs() < 0.05,
        "online fraction {}",
        online / 1024.0
    );
    assert!(ok >= 0.99, "lookup success {ok}");
}
