//! The static Kademlia scenario judged by the brute-force oracle, and the
//! simulator's determinism guarantees.

use peerlab_core::kademlia::KademliaConfig;
use peerlab_sim::{
    LatencyModel, NetworkConfig, RunOutput, SimOptions, StaticWorkload, run_static_kademlia,
};

fn run(net: &NetworkConfig, work: &StaticWorkload, opts: &SimOptions, seed: u64) -> RunOutput {
    run_with(net, work, opts, KademliaConfig::default(), seed)
}

fn run_with(
    net: &NetworkConfig,
    work: &StaticWorkload,
    opts: &SimOptions,
    kad: KademliaConfig,
    seed: u64,
) -> RunOutput {
    run_static_kademlia(net, work, opts, kad, seed, &mut |_| {}).expect("valid config")
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

/// The quickstart experiment: 1,000 nodes, 10,000 lookups, 1,000 puts.
#[test]
fn quickstart_lookups_find_the_true_closest_nodes_and_values_are_read_back() {
    let net = NetworkConfig::default();
    assert_eq!(net.nodes, 1000);
    let work = StaticWorkload::default();
    let out = run(&net, &work, &SimOptions::default(), 1);

    assert_eq!(out.joined, 1000, "every node completes its join");
    assert_eq!(out.lookups.len(), 10_000);
    let failed: Vec<_> = out.lookups.iter().filter(|l| !l.success).collect();
    assert!(
        failed.is_empty(),
        "{} lookups missed the responsible node, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let incomplete = out
        .lookups
        .iter()
        .filter(|l| l.k_closest_fraction < 1.0)
        .count();
    assert_eq!(
        incomplete, 0,
        "every lookup returns exactly the oracle's 20 closest"
    );

    let hops = mean(out.lookups.iter().map(|l| l.hops as f64));
    let bound = (1000f64).log2().ceil();
    println!("mean hops {hops:.3} (bound ceil(log2 1000) = {bound})");
    assert!(hops >= 1.0 && hops <= bound, "mean hops {hops}");

    assert_eq!(out.puts.len(), 1000);
    for p in &out.puts {
        assert_ne!(
            p.get_origin, p.put_origin,
            "read back from a different node"
        );
        assert!(p.found, "value under {} not read back", p.key);
        assert_eq!(p.replicas, 20, "stored on k = 20 nodes");
        assert_eq!(
            p.replicas_on_closest, 20,
            "the replicas are the oracle's 20 closest"
        );
    }
    assert_eq!(out.dropped, 0);
}

fn small() -> (NetworkConfig, StaticWorkload) {
    let net = NetworkConfig {
        nodes: 300,
        ..NetworkConfig::default()
    };
    let work = StaticWorkload {
        lookups: 1000,
        puts: 100,
        lookup_window_s: 120.0,
        ..StaticWorkload::default()
    };
    (net, work)
}

#[test]
fn same_seed_same_trace_and_rows_other_seed_differs() {
    let (net, work) = small();
    let opts = SimOptions::default();
    let a = run(&net, &work, &opts, 7);
    let b = run(&net, &work, &opts, 7);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    assert_eq!(a.lookups, b.lookups);
    assert_eq!(format!("{:?}", a.puts), format!("{:?}", b.puts));
    let c = run(&net, &work, &opts, 8);
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn wire_check_round_trips_every_message_without_changing_the_run() {
    let (net, work) = small();
    let plain = run(&net, &work, &SimOptions::default(), 3);
    let checked = run(
        &net,
        &work,
        &SimOptions {
            wire_check: true,
            ..SimOptions::default()
        },
        3,
    );
    assert_eq!(plain.trace_hash, checked.trace_hash);
    assert_eq!(plain.lookups, checked.lookups);
    assert_eq!(plain.traffic, checked.traffic);
}

/// With 5% i.i.d. loss a request/reply exchange fails with p = 1 - 0.95^2 = 0.0975.
/// Two retransmissions bring the chance that the responsible node is skipped
/// to 0.0975^3 < 0.1%, so lookups still find it; a single attempt would not.
#[test]
fn lookups_survive_message_loss_through_retries() {
    let (mut net, work) = small();
    net.loss = 0.05;
    let kad = KademliaConfig {
        rpc_retries: 2,
        ..KademliaConfig::default()
    };
    let out = run_with(&net, &work, &SimOptions::default(), kad, 5);
    assert!(out.dropped > 0);
    let ok = out.lookups.iter().filter(|l| l.success).count() as f64 / out.lookups.len() as f64;
    let timeouts: u32 = out.lookups.iter().map(|l| l.timeouts).sum();
    println!(
        "5% loss, 2 retries: success {ok:.4}, dropped {}, lookup timeouts {timeouts}",
        out.dropped
    );
    assert!(ok >= 0.99, "success {ok}");
    let no_retry = KademliaConfig {
        rpc_retries: 0,
        ..KademliaConfig::default()
    };
    let worse = run_with(&net, &work, &SimOptions::default(), no_retry, 5);
    let ok0 =
        worse.lookups.iter().filter(|l| l.success).count() as f64 / worse.lookups.len() as f64;
    println!("5% loss, no retries: success {ok0:.4}");
    assert!(ok0 < ok, "retries must help: {ok0} vs {ok}");
    let found = out.puts.iter().filter(|p| p.found).count();
    assert!(found >= 99, "{found}/100 values read back");
}

/// The simulated twin of the live-network test in `node/tests`: ten nodes
/// joined through node 0, a value put on one node is read from another.
#[test]
fn ten_node_overlay_reads_back_a_value_like_the_live_test() {
    let net = NetworkConfig {
        nodes: 10,
        latency: LatencyModel::Constant { ms: 0.1 },
        ..NetworkConfig::default()
    };
    let work = StaticWorkload {
        lookups: 50,
        puts: 10,
        ..StaticWorkload::default()
    };
    let out = run(&net, &work, &SimOptions::default(), 11);
    assert_eq!(out.joined, 10);
    assert!(out.lookups.iter().all(|l| l.success));
    assert!(
        out.puts
            .iter()
            .all(|p| p.found && p.get_origin != p.put_origin)
    );
}

#[test]
fn invalid_configs_name_the_field() {
    let opts = SimOptions::default();
    let bad = NetworkConfig {
        nodes: 0,
        ..NetworkConfig::default()
    };
    let e = run_static_kademlia(
        &bad,
        &StaticWorkload::default(),
        &opts,
        KademliaConfig::default(),
        1,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(e.path, "network.nodes");
    let bad = NetworkConfig {
        loss: 1.5,
        ..NetworkConfig::default()
    };
    let e = run_static_kademlia(
        &bad,
        &StaticWorkload::default(),
        &opts,
        KademliaConfig::default(),
        1,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(e.path, "network.loss");
    let kad = KademliaConfig {
        alpha: 0,
        ..KademliaConfig::default()
    };
    let e = run_static_kademlia(
        &NetworkConfig::default(),
        &StaticWorkload::default(),
        &opts,
        kad,
        1,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(e.path, "dht.kademlia.alpha");
    assert!(e.to_string().contains("dht.kademlia.alpha = 0"), "{e}");
}

/// Iterative routing with one request in flight (α = 1) passes the same
/// oracle as the paper's α = 3: the true closest node, and exactly the
/// oracle's k closest.
#[test]
fn iterative_lookups_with_one_request_in_flight_find_the_true_closest_nodes() {
    use peerlab_core::kademlia::Kademlia;
    use peerlab_core::protocol::RoutingMode;
    let net = NetworkConfig {
        nodes: 500,
        ..NetworkConfig::default()
    };
    let work = StaticWorkload {
        lookups: 2000,
        puts: 0,
        ..StaticWorkload::default()
    };
    let run = |mode| {
        peerlab_sim::run_static::<Kademlia>(
            &net,
            &work,
            &SimOptions::default(),
            KademliaConfig::default(),
            mode,
            3,
            &mut |_| {},
        )
        .expect("valid config")
    };
    let one = run(RoutingMode::Iterative);
    let par = run(RoutingMode::ParallelIterative);
    for out in [&one, &par] {
        assert_eq!(out.lookups.len(), 2000);
        assert!(out.lookups.iter().all(|l| l.success), "true closest node");
        assert!(out.lookups.iter().all(|l| l.k_closest_fraction == 1.0));
    }
    let latency = |o: &RunOutput| mean(o.lookups.iter().map(|l| l.latency_ms));
    let messages = |o: &RunOutput| mean(o.lookups.iter().map(|l| l.messages as f64));
    println!(
        "kademlia N = 500: mean latency α = 1 {:.1} ms, α = 3 {:.1} ms; requests {:.1} vs {:.1}",
        latency(&one),
        latency(&par),
        messages(&one),
        messages(&par)
    );
    assert!(latency(&par) < latency(&one), "α = 3 waits less");
}
