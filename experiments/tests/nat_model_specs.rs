//! NAT mixes by AS group (`nat_model`) in `[calls]` and `[nat]` specs.
//!
//! Oracles: in a calls run where residential nodes (weight 0.7) are all
//! open and enterprise nodes (0.3) all UDP-blocked, a call is direct
//! exactly when both ends are residential, so the direct share is 0.7² =
//! 0.49 and every other call needs a TCP relay (1 − 0.49), within sampling
//! error of the group draw and the calls; in a `[nat]` overlay whose
//! enterprise group sits behind symmetric NATs, lookups still find every
//! responsible full node, and the all-full control shows the NATs
//! filtering (a model without the NATed group drops nothing). Giving both
//! a flat mix and a model is an error naming the path.

mod common;

use common::{expect_failure, peerlab, run_ok, table, write_spec};
use std::collections::BTreeMap;
use std::path::Path;

const NODES: f64 = 3000.0;
const RESIDENTIAL: f64 = 0.7;

const CALLS: &str = r#"
[run]
name = "grouped_calls"
seed = 11

[calls]
churn = { nodes = 3000, model = { kind = "static" }, measurement_s = 3600.0 }
nat_model = { mix = { weights = { open = 1.0 } }, groups = { enterprise = 0.3, residential = 0.7 }, by_group.enterprise = { weights = { udp_blocked = 1.0 } } }
calls = { rate_per_s = 0.001 }
strategy = { kind = "random" }

[calls.relay]
slots = 100
uplink_kbps = 100000
"#;

#[test]
fn calls_path_shares_follow_the_group_weights() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "grouped.toml", CALLS);
    let out = dir.path().join("out");
    run_ok(&spec, &out);
    let calls = table(&out.join("calls.parquet"));
    let path = calls.column("path").unwrap().str().unwrap().clone();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for i in 0..calls.height() {
        *counts
            .entry(path.get(i).unwrap_or("none").to_string())
            .or_default() += 1.0;
    }
    let n = calls.height() as f64;
    assert!(n > 2000.0, "{n} calls");
    let direct = counts.get("direct").copied().unwrap_or(0.0) / n;
    let tcp = counts.get("relay-tcp").copied().unwrap_or(0.0) / n;
    let want = RESIDENTIAL * RESIDENTIAL;
    // The share of residential nodes f is drawn per node (sd sqrt(f(1-f)/N)),
    // the direct share is f² (sd ≈ 2f·that), and the calls sample it.
    let sd_groups = 2.0 * RESIDENTIAL * (RESIDENTIAL * (1.0 - RESIDENTIAL) / NODES).sqrt();
    let sd_calls = (want * (1.0 - want) / n).sqrt();
    let tol = 4.0 * (sd_groups.powi(2) + sd_calls.powi(2)).sqrt();
    assert!(
        (direct - want).abs() < tol,
        "direct {direct} vs {want} ± {tol}: {counts:?}"
    );
    // Nothing else: no UDP relays, no failures for want of a path.
    assert!(
        (direct + tcp - 1.0).abs() < 1e-12,
        "direct {direct} + tcp {tcp}: {counts:?}"
    );
}

const OVERLAY: &str = r#"
[run]
name = "grouped_nat"
seed = 5

[network]
nodes = 300

[dht]
protocol = "kademlia"

[workload]
join_window_s = 60.0
settle_s = 120.0
lookups = 400
lookup_window_s = 120.0
puts = 0

[nat]
nat_model = { mix = { weights = { open = 1.0 } }, groups = { enterprise = 0.5, residential = 0.5 }, by_group.enterprise = { weights = { symmetric = 1.0 } } }
"#;

/// `summary.csv` as metric → mean.
fn means(dir: &Path) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (m, mean) = (at("metric"), at("mean"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[m].to_string(), f[mean].parse().unwrap_or(f64::NAN))
        })
        .collect()
}

fn run(dir: &Path, name: &str, text: &str) -> BTreeMap<String, f64> {
    let spec = write_spec(dir, name, text);
    let out = dir.join(format!("{name}-out"));
    run_ok(&spec, &out);
    means(&out)
}

#[test]
fn overlay_behind_grouped_nats_runs_and_the_group_is_natted() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(dir.path(), "grouped.toml", OVERLAY);
    assert_eq!(m["lookup_success"], 1.0, "{m:?}");
    assert_eq!(m.get("nat_dropped_filtered"), None, "{m:?}");

    let all_full = |text: &str| text.replace("[nat]\n", "[nat]\nroles = \"all-full\"\n");
    let m = run(dir.path(), "control.toml", &all_full(OVERLAY));
    assert!(m["nat_dropped_filtered"] > 100.0, "{m:?}");
    // The same model with the enterprise group open: nothing to filter.
    let open = OVERLAY.replace("symmetric = 1.0", "open = 1.0");
    let m = run(dir.path(), "open.toml", &all_full(&open));
    assert_eq!(m.get("nat_dropped_filtered"), None, "{m:?}");
}

fn bad(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "bad.toml", text);
    let out = dir.path().join("out");
    let err = expect_failure(&peerlab(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(!out.exists(), "output written for an invalid spec");
    err
}

#[test]
fn a_flat_mix_and_a_model_together_fail_naming_the_path() {
    let e = bad(&CALLS.replace("[calls]\n", "[calls]\nnat = { preset = \"consumer\" }\n"));
    assert!(
        e.contains("calls.nat_model") && e.contains("not both"),
        "{e}"
    );
    let e = bad(&CALLS.replace("nat_model = ", "nat_exact = true\nnat_model = "));
    assert!(e.contains("calls.nat_exact"), "{e}");
    let e = bad(&OVERLAY.replace("[nat]\n", "[nat]\nmix = { preset = \"halkes-pouwelse\" }\n"));
    assert!(e.contains("nat.nat_model") && e.contains("not both"), "{e}");
    let e = bad(&OVERLAY.replace("enterprise = 0.5,", "enterprise = 0.7,"));
    assert!(e.contains("nat.nat_model") && e.contains("groups"), "{e}");
}
