//! Calls runs with `calls.lookup` (call setup through the DHT) through the
//! real binary.
//!
//! Oracles: the same spec without `lookup` (its calls.parquet has no
//! `lookup_ms` column and is the run of the calls scenario without the
//! option); row by row, a call connected in both has setup latency with
//! the lookup = without + `lookup_ms`, and a call failed only with the
//! lookup is *user not found*; `summary.csv`'s user-not-found count
//! recounted from calls.parquet.

mod common;
use common::{expect_failure, peerlab, run_ok, strs, table, write_spec};
use polars::prelude::DataFrame;
use std::path::Path;

const SPEC: &str = r#"
[run]
name = "lookup_calls"
seed = 5

[calls]
churn = { nodes = 200, model = { kind = "skype-supernode" }, warmup_s = 43200.0, measurement_s = 43200.0 }
nat = { preset = "consumer" }
calls = { rate_per_s = 0.0003, callee = { kind = "buddies", count = 8 } }
strategy = { kind = "random" }
LOOKUP

[calls.relay]
slots = 100000
uplink_kbps = 100000000
"#;

fn opt_f64s(df: &DataFrame, col: &str) -> Vec<Option<f64>> {
    let c = df.column(col).unwrap().f64().unwrap().clone();
    (0..df.height()).map(|i| c.get(i)).collect()
}

fn run(dir: &Path, name: &str, lookup: &str) -> DataFrame {
    let spec = write_spec(
        dir,
        &format!("{name}.toml"),
        &SPEC.replace("LOOKUP", lookup),
    );
    let out = dir.join(name);
    run_ok(&spec, &out);
    let calls = table(&out.join("calls.parquet"));
    // summary.csv's user-not-found count, recounted (measured calls only).
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == "failed_user_not_found")
        .unwrap();
    let measured = calls.column("measured").unwrap().bool().unwrap().clone();
    let unf = strs(&calls, "failure")
        .iter()
        .enumerate()
        .filter(|(i, f)| measured.get(*i) == Some(true) && f.as_deref() == Some("user-not-found"))
        .count();
    assert_eq!(row[at], unf.to_string(), "{name}");
    calls
}

#[test]
fn lookup_latency_is_part_of_setup_and_missing_callees_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let without = run(dir.path(), "without", "");
    assert!(without.column("lookup_ms").is_err(), "no option, no column");
    for dht in ["kademlia", "chord"] {
        let with = run(dir.path(), dht, &format!("lookup = {{ dht = \"{dht}\" }}"));
        assert_eq!(with.height(), without.height());
        assert!(with.height() > 300, "{} calls", with.height());
        let (a, b) = (opt_f64s(&without, "setup_ms"), opt_f64s(&with, "setup_ms"));
        let ms = opt_f64s(&with, "lookup_ms");
        let (fa, fb) = (strs(&without, "failure"), strs(&with, "failure"));
        let mut connected = 0;
        for i in 0..with.height() {
            match (a[i], b[i]) {
                (Some(x), Some(y)) => {
                    let l = ms[i].expect("a connected call's lookup finished");
                    assert_eq!(y, x + l, "{dht} call {i}");
                    connected += 1;
                }
                (Some(_), None) => {
                    assert_eq!(fb[i].as_deref(), Some("user-not-found"), "{dht} call {i}")
                }
                (None, Some(_)) => panic!("{dht} call {i} connected only with the lookup"),
                (None, None) => {}
            }
            if fa[i].as_deref() == Some("user-not-found") {
                assert_eq!(fb[i].as_deref(), Some("user-not-found"), "{dht} call {i}");
            }
        }
        assert!(connected > 100, "{dht}: {connected}");
    }
    // The DHT run is part of the sample path: the same spec and seed give
    // the same bytes.
    let again = run(
        dir.path(),
        "kademlia_again",
        "lookup = { dht = \"kademlia\" }",
    );
    let first = table(&dir.path().join("kademlia/calls.parquet"));
    assert!(again.equals_missing(&first), "a second run differs");
    assert_eq!(
        std::fs::read(dir.path().join("kademlia/calls.parquet")).unwrap(),
        std::fs::read(dir.path().join("kademlia_again/calls.parquet")).unwrap()
    );
}

#[test]
fn a_bad_lookup_is_named_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (lookup, want) in [
        ("lookup = { dht = \"pastry\" }", "calls.lookup"),
        (
            "lookup = { dht = \"kademlia\", refresh_s = 600.0, expires_s = 300.0 }",
            "calls.lookup.refresh_s",
        ),
    ] {
        let spec = write_spec(dir.path(), "bad.toml", &SPEC.replace("LOOKUP", lookup));
        let out = dir.path().join("out");
        let o = peerlab(&[
            "run",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = expect_failure(&o);
        assert!(err.contains(want), "{lookup}: {err}");
        assert!(!out.exists(), "output written for an invalid spec");
    }
}

#[test]
fn the_call_lookup_spec_round_trips_with_its_lookup() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/call_lookup.toml");
    let spec = peerlab_experiments::spec::Spec::load(&path).unwrap();
    let lookup = spec.calls.as_ref().and_then(|c| c.lookup.clone());
    assert_eq!(
        lookup,
        Some(peerlab_sim::calls::LookupSpec::new(
            peerlab_sim::calls::LookupDht::Kademlia
        ))
    );
    let text = spec.to_toml().unwrap();
    assert!(text.contains("dht = \"kademlia\""), "{text}");
    let again = peerlab_experiments::spec::Spec::parse(&text, &path).unwrap();
    assert_eq!(again, spec);
}
