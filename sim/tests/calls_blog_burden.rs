//! The blog's burden (seeds, "Problems due to NATs and firewalls", 2009):
//! under P 10%, G 30%, B 30%, F 30%, calls with a UDP-blocked side need a
//! TCP relay, and only public nodes can be TCP relays. If every node makes N
//! calls, each public node relays about 5×N calls, and since relaying costs
//! twice the bandwidth of being in a call, needs bandwidth for about 11×N
//! calls in all.
//!
//! The expected values are derived here from the mix alone: with exact
//! class counts n_P, n_F out of n and uniform callees, a call needs a TCP
//! relay with probability p = n_F/n + (1 − n_F/n)·n_F/(n − 1) (≈ 1 − (1 −
//! F)² = 0.51); the n·N·p such calls spread over n_P public nodes; a public
//! node's bandwidth, in calls, is N + 2·n·N·p/n_P.
//!
//! `cargo test --release -p peerlab-sim --test calls_blog_burden -- --nocapture`

use peerlab_churn::workload::{CallWorkload, CalleeChoice};
use peerlab_churn::{ChurnModel, ChurnSpec, Dist, NatClass, NatMix, NatPreset};
use peerlab_sim::calls::{
    CallRun, CallScenarioConfig, CandidateSource, ConnectivityRules, PathType, RelayConfig,
    StrategySpec,
};
use peerlab_sim::topology::TopologyConfig;

const NODES: u32 = 10_000;
const N_CALLS: f64 = 10.0;
const HORIZON_S: f64 = 86_400.0;
const CALL_S: f64 = 60.0;

fn blog_cfg(rules: ConnectivityRules) -> CallScenarioConfig {
    CallScenarioConfig {
        seed: 2009,
        churn: ChurnSpec::new(NODES, ChurnModel::Static, HORIZON_S),
        nat: Some(NatMix::preset(NatPreset::Blog2009)),
        nat_model: None,
        nat_exact: true,
        rules,
        topology: TopologyConfig::default(),
        calls: CallWorkload {
            rate_per_s: N_CALLS / HORIZON_S,
            duration: Dist::constant(CALL_S).expect("valid"),
            callee: CalleeChoice::Uniform,
        },
        relay: RelayConfig {
            // Capacity never binds: the blog counts demand, not refusals.
            slots: 100_000,
            uplink_kbps: 100_000_000,
            candidates: CandidateSource::LocalRandom { count: 16 },
            ..RelayConfig::default()
        },
        strategy: StrategySpec::Random,
        lookup: None,
    }
}

#[test]
fn public_nodes_relay_five_n_calls_and_pay_for_eleven_n() {
    for rules in [ConnectivityRules::Blog, ConnectivityRules::Rfc4787] {
        let r = CallRun::new(&blog_cfg(rules))
            .expect("valid")
            .run_configured()
            .expect("runs");
        let n = f64::from(NODES);
        let n_p = (0.10 * n).round();
        let n_f = (0.30 * n).round();
        let p_tcp = n_f / n + (1.0 - n_f / n) * n_f / (n - 1.0);
        let want_relayed = n * N_CALLS * p_tcp / n_p;
        let want_bw = N_CALLS + 2.0 * want_relayed;
        // Poisson counts: TCP calls ~ Poisson(n N p), own calls per node ~
        // Poisson(N).
        let se_relayed = (n * N_CALLS * p_tcp).sqrt() / n_p;
        let se_bw = (4.0 * se_relayed * se_relayed + N_CALLS / n_p).sqrt();

        let public: Vec<_> = r
            .nodes
            .iter()
            .filter(|x| x.class == Some(NatClass::Open))
            .collect();
        assert_eq!(public.len() as f64, n_p, "exact assignment");
        let got_relayed = public.iter().map(|x| f64::from(x.relayed_tcp)).sum::<f64>() / n_p;
        // One call's bandwidth at an endpoint: one stream each way.
        let unit = 2.0 * f64::from(r.kbps) * 125.0 * CALL_S;
        let got_bw = public
            .iter()
            .map(|x| (x.own_bytes + x.relayed_tcp_bytes) as f64 / unit)
            .sum::<f64>()
            / n_p;
        // Only public nodes relay over TCP.
        assert!(
            r.nodes
                .iter()
                .filter(|x| x.class != Some(NatClass::Open))
                .all(|x| x.relayed_tcp == 0)
        );
        let s = r.summary();
        let tcp_share = s.paths[PathType::RelayTcp as usize] as f64 / s.calls as f64;
        let calls_per_node = s.calls as f64 / n;
        println!(
            "{rules:?} rules: {} calls ({calls_per_node:.3} per node, N = {N_CALLS}); TCP-relayed {:.2}% (analytic {:.2}%); \
             per public node {got_relayed:.3} TCP-relayed calls = {:.3} × N (analytic {want_relayed:.3} ± {se_relayed:.3}); \
             bandwidth {got_bw:.3} calls = {:.3} × N (analytic {want_bw:.3} ± {se_bw:.3}); \
             public share of all relaying {:.3} vs population {:.3}",
            s.calls,
            100.0 * tcp_share,
            100.0 * p_tcp,
            got_relayed / N_CALLS,
            got_bw / N_CALLS,
            s.public_relay_share,
            s.public_population_share
        );
        assert_eq!(s.successes, s.calls, "capacity never binds, no churn");
        // Path shares against the mix: UDP relays for B–B (blog rules), or
        // for B–B and B–G either way (RFC 4787, G a port-restricted cone).
        let (n_b, n_g) = ((0.30 * n).round(), (0.30 * n).round());
        let p_bb = n_b / n * (n_b - 1.0) / (n - 1.0);
        let p_udp = match rules {
            ConnectivityRules::Blog => p_bb,
            ConnectivityRules::Rfc4787 => p_bb + 2.0 * (n_b / n) * n_g / (n - 1.0),
        };
        let udp_share = s.paths[PathType::RelayUdp as usize] as f64 / s.calls as f64;
        let e2e_share = (s.paths[PathType::Direct as usize] + s.paths[PathType::Punched as usize])
            as f64
            / s.calls as f64;
        let se = |p: f64| (p * (1.0 - p) / s.calls as f64).sqrt();
        println!(
            "  paths: end to end {:.2}% (analytic {:.2}%), UDP relay {:.2}% ({:.2}%), TCP relay {:.2}% ({:.2}%)",
            100.0 * e2e_share,
            100.0 * (1.0 - p_udp - p_tcp),
            100.0 * udp_share,
            100.0 * p_udp,
            100.0 * tcp_share,
            100.0 * p_tcp
        );
        assert!((udp_share - p_udp).abs() < 4.0 * se(p_udp));
        assert!((tcp_share - p_tcp).abs() < 4.0 * se(p_tcp));
        assert!((got_relayed - want_relayed).abs() < 4.0 * se_relayed);
        assert!((got_bw - want_bw).abs() < 4.0 * se_bw);
        // The blog's rounded figures.
        assert!((got_relayed / N_CALLS - 5.0).abs() < 0.25);
        assert!((got_bw / N_CALLS - 11.0).abs() < 0.5);
    }
}
