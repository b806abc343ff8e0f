//! The AS and prefix model against its analytic sizes and its own promises:
//! Zipf AS sizes (largest share `1 / H(A, s)`, log–log rank/size slope
//! `−s`), every address inside one of its AS's prefixes, disjoint prefixes,
//! and intra-AS delay below inter-AS delay for every sampled pair.

use peerlab_sim::topology::{Topology, TopologyConfig, contains};

const NODES: u32 = 100_000;

fn topo(s: f64, seed: u64) -> Topology {
    let cfg = TopologyConfig {
        zipf_exponent: s,
        ..TopologyConfig::default()
    };
    Topology::build(&cfg, NODES, seed).expect("valid")
}

/// Harmonic number `H(a, s)`, computed here independently of the model.
fn harmonic(a: u32, s: f64) -> f64 {
    (1..=a).map(|k| (k as f64).powf(-s)).sum()
}

#[test]
fn largest_as_share_matches_zipf() {
    for s in [0.8, 1.0, 1.2] {
        let t = topo(s, 7);
        let mut sizes: Vec<u32> = t.ases().iter().map(|a| a.nodes).collect();
        assert_eq!(
            sizes.iter().map(|&c| c as usize).sum::<usize>(),
            NODES as usize
        );
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let p = 1.0 / harmonic(500, s);
        let got = f64::from(sizes[0]) / f64::from(NODES);
        let se = (p * (1.0 - p) / f64::from(NODES)).sqrt();
        println!("s = {s}: largest AS share {got:.4}, analytic {p:.4} (se {se:.4})");
        assert!((got - p).abs() < 4.0 * se, "s={s}: {got} vs {p}");
    }
}

#[test]
fn rank_size_slope_is_minus_s() {
    for s in [0.8, 1.0, 1.2] {
        let t = topo(s, 11);
        let mut sizes: Vec<f64> = t.ases().iter().map(|a| f64::from(a.nodes)).collect();
        sizes.sort_unstable_by(|a, b| b.total_cmp(a));
        // Least squares of ln(size) on ln(rank) over the top 50 ranks, where
        // every AS holds hundreds of nodes and sampling noise is small.
        let pts: Vec<(f64, f64)> = sizes
            .iter()
            .take(50)
            .enumerate()
            .map(|(i, &c)| (((i + 1) as f64).ln(), c.ln()))
            .collect();
        let n = pts.len() as f64;
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let slope = sxy / sxx;
        println!("s = {s}: rank/size slope {slope:.3}");
        assert!((slope + s).abs() < 0.08, "s={s}: slope {slope}");
    }
}

#[test]
fn addresses_lie_in_their_as_prefixes_and_prefixes_are_disjoint() {
    let t = topo(1.0, 3);
    let mut all: Vec<(u64, u64, usize)> = Vec::new();
    for (k, a) in t.ases().iter().enumerate() {
        assert!(!a.prefixes.is_empty());
        for p in &a.prefixes {
            let start = u64::from(p.addr);
            let end = start + (1u64 << (32 - u32::from(p.len)));
            assert_eq!(start % (end - start), 0, "prefix aligned");
            all.push((start, end, k));
        }
    }
    all.sort_unstable();
    for w in all.windows(2) {
        assert!(w[0].1 <= w[1].0, "prefixes overlap: {w:?}");
    }
    let mut addrs = Vec::with_capacity(NODES as usize);
    for i in 0..NODES {
        let pl = t.placement(i);
        let info = &t.ases()[pl.as_index as usize];
        assert_eq!(t.as_number(i), info.number);
        let inside: Vec<_> = info
            .prefixes
            .iter()
            .filter(|p| contains(p, pl.addr))
            .collect();
        assert_eq!(inside.len(), 1, "node {i}");
        let p = inside[0];
        // Neither the network nor the broadcast address.
        let host = pl.addr - p.addr;
        assert!(host >= 1 && u64::from(host) < (1u64 << (32 - u32::from(p.len))) - 1);
        addrs.push(pl.addr);
    }
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), NODES as usize, "addresses are unique");
}

#[test]
fn intra_as_latency_is_below_inter_as_for_every_sampled_pair() {
    let t = topo(1.0, 5);
    // Group nodes by AS, brute force.
    let mut by_as: Vec<Vec<u32>> = vec![Vec::new(); t.ases().len()];
    for i in 0..NODES {
        by_as[t.placement(i).as_index as usize].push(i);
    }
    let mut checked = 0u64;
    let mut worst_intra: f64 = 0.0;
    let mut best_inter = f64::INFINITY;
    for a in (0..NODES).step_by(997) {
        let own = &by_as[t.placement(a).as_index as usize];
        for &b in own.iter().step_by(7) {
            if b == a {
                continue;
            }
            worst_intra = worst_intra.max(t.one_way_ms(a, b));
        }
        for c in (0..NODES).step_by(101) {
            if t.placement(c).as_index == t.placement(a).as_index {
                continue;
            }
            best_inter = best_inter.min(t.one_way_ms(a, c));
            for &b in own.iter().step_by(31) {
                if b != a {
                    assert!(t.one_way_ms(a, b) < t.one_way_ms(a, c), "{a} {b} {c}");
                    checked += 1;
                }
            }
            assert_eq!(t.one_way_ms(a, c), t.one_way_ms(c, a));
        }
    }
    println!(
        "{checked} triples; worst intra-AS {worst_intra:.2} ms, best inter-AS {best_inter:.2} ms"
    );
    assert!(checked > 10_000);
    assert!(worst_intra < best_inter);
}

#[test]
fn deterministic_from_the_seed() {
    let cfg = TopologyConfig::default();
    let a = Topology::build(&cfg, 5_000, 1).expect("valid");
    assert_eq!(a, Topology::build(&cfg, 5_000, 1).expect("valid"));
    assert_ne!(a, Topology::build(&cfg, 5_000, 2).expect("valid"));
    let toml = "ases = 20\nzipf_exponent = 1.1\n";
    let parsed: TopologyConfig = toml::from_str(toml).expect("parses");
    assert_eq!(parsed.ases, 20);
    assert!(toml::from_str::<TopologyConfig>("asses = 3").is_err());
}
