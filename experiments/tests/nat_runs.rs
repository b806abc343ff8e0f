//! `[nat]` specs: the overlay behind NATs from the command line. Static
//! Kademlia and Chord behind a 60%-NATed mix find every responsible full
//! node (the simulator's full-node oracle); putting every node in the DHT
//! instead (`roles = "all-full"`, the negative control) fails lookups and
//! shows the NATs filtering; spec errors name the `nat.` path.

mod common;

use common::{expect_failure, peerlab, run_ok, write_spec};
use std::collections::BTreeMap;
use std::path::Path;

const SPEC: &str = r#"
[run]
name = "nat_small"
seed = 3

[network]
nodes = 300

[dht]
protocol = ["kademlia", "chord"]

[workload]
join_window_s = 60.0
settle_s = 120.0
lookups = 600
lookup_window_s = 120.0
puts = 0

[nat]
mix = { weights = { open = 0.4, full_cone = 0.1, restricted_cone = 0.1, port_restricted_cone = 0.2, symmetric = 0.15, udp_blocked = 0.05 } }
"#;

/// `summary.csv` as (protocol, metric) → mean.
fn means(dir: &Path) -> BTreeMap<(String, String), f64> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (m, mean, p) = (at("metric"), at("mean"), at("protocol"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[p].to_string(), f[m].to_string()),
                f[mean].parse().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn run(dir: &Path, name: &str, text: &str) -> BTreeMap<(String, String), f64> {
    let spec = write_spec(dir, name, text);
    let out = dir.join(format!("{name}-out"));
    run_ok(&spec, &out);
    means(&out)
}

#[test]
fn static_overlays_behind_nats_find_every_responsible_full_node() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(dir.path(), "nat.toml", SPEC);
    for p in ["kademlia", "chord"] {
        let get = |k: &str| m[&(p.to_string(), k.to_string())];
        assert_eq!(get("lookup_success"), 1.0, "{p}");
        assert_eq!(get("lookup_k_closest_fraction"), 1.0, "{p}");
        // Clients only ever talk through bindings they opened.
        assert_eq!(
            m.get(&(p.to_string(), "nat_dropped_filtered".to_string())),
            None,
            "{p}: no NAT drops at all"
        );
    }

    let control = SPEC.replace("[nat]\n", "[nat]\nroles = \"all-full\"\n");
    let m = run(dir.path(), "control.toml", &control);
    for p in ["kademlia", "chord"] {
        let get = |k: &str| m[&(p.to_string(), k.to_string())];
        assert!(
            get("lookup_success") < 0.95,
            "{p}: {}",
            get("lookup_success")
        );
        assert!(get("nat_dropped_filtered") > 100.0, "{p}");
    }
}

#[test]
fn nat_spec_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, needle) in [
        ("keepalive_s = 40.0", "nat.keepalive_s"),
        ("binding_timeout_s = 0.0", "nat.binding_timeout_s"),
        ("tcp_relay_ms = -1.0", "nat.tcp_relay_ms"),
        ("roles = \"some\"", "roles"),
        ("keepalive = 25.0", "keepalive"),
    ] {
        let text = SPEC.replace("[nat]\n", &format!("[nat]\n{bad}\n"));
        let spec = write_spec(dir.path(), "bad.toml", &text);
        let out = dir.path().join("bad-out");
        let err = expect_failure(&peerlab(&[
            "run",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]));
        assert!(err.contains(needle), "{bad}: {err}");
        assert!(!out.exists(), "{bad}: nothing may run");
    }
}
