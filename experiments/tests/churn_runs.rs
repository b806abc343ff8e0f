//! `peerlab run` under churn and for protocol comparisons, through the real
//! binary: determinism, the measured flag, the measurement-phase traffic,
//! one result set for several protocols, and every churn model from a spec.

mod common;
use common::{hidden_files, peerlab, texts, write_spec};
use polars::prelude::{DataFrame, ParquetReader, SerReader};
use std::path::Path;

/// 100 nodes under p2psim churn for one simulated hour: 10 s of
/// initialisation, 30 min transition, 29 min 50 s measured.
const P2PSIM_SMALL: &str = r#"
[run]
seed = 11

[dht]
protocol = "kademlia"

[churn]
nodes = 100
model = { kind = "p2psim" }
join_rate_per_s = 10.0
warmup_s = 36000.0
transition_s = 1800.0
measurement_s = 1790.0

[churn_workload]
lookups = { rate_per_s = 0.01 }
"#;

fn run_ok(spec: &Path, out: &Path) -> (String, serde_json::Value) {
    let o = peerlab(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = texts(&o);
    assert!(o.status.success(), "{}: {stderr}", spec.display());
    assert!(stderr.is_empty(), "unexpected stderr:\n{stderr}");
    assert!(hidden_files(out).is_empty(), "temporaries left in {out:?}");
    let m = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    (stdout, serde_json::from_str(&m).unwrap())
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn frame(p: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(p).unwrap())
        .finish()
        .unwrap()
}

fn strs(df: &DataFrame, col: &str) -> Vec<String> {
    let c = df.column(col).unwrap().str().unwrap().clone();
    (0..df.height())
        .map(|i| c.get(i).unwrap_or_default().to_string())
        .collect()
}

fn bools(df: &DataFrame, col: &str) -> Vec<bool> {
    let c = df.column(col).unwrap().bool().unwrap().clone();
    (0..df.height())
        .map(|i| c.get(i).unwrap_or_default())
        .collect()
}

/// The `mean` of `metric` for `protocol` in summary.csv.
fn summary_mean(dir: &Path, metric: &str, protocol: &str) -> Option<f64> {
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let line = csv.lines().find(|l| {
        let f: Vec<&str> = l.split(',').collect();
        f[0] == metric && f[6] == protocol
    })?;
    line.split(',').nth(2)?.parse().ok()
}

#[test]
fn a_churn_run_is_deterministic_and_a_comparison_repeats_each_protocols_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let single = write_spec(d, "p2psim_small.toml", P2PSIM_SMALL);
    let compare = write_spec(
        d,
        "p2psim_compare.toml",
        &P2PSIM_SMALL.replace(
            "protocol = \"kademlia\"",
            "protocol = [\"kademlia\", \"chord\"]",
        ),
    );
    let (stdout, a) = run_ok(&single, &d.join("a"));
    let (_, b) = run_ok(&single, &d.join("b"));
    let (cmp_stdout, c) = run_ok(&compare, &d.join("c"));

    // Same spec, same seed: identical trace and byte-identical results.
    assert_eq!(a["trace_hash"], b["trace_hash"]);
    assert_eq!(a["trace_hash"].as_str().unwrap().len(), 16);
    for f in [
        "lookups.parquet",
        "traffic.parquet",
        "nodes.parquet",
        "summary.csv",
    ] {
        assert!(
            read(&d.join("a").join(f)) == read(&d.join("b").join(f)),
            "{f} differs between identical churn runs"
        );
    }

    // All lookups are kept, marked with the phase they fall in.
    let l = frame(&d.join("a/lookups.parquet"));
    let measured = bools(&l, "measured");
    let n_measured = measured.iter().filter(|&&m| m).count();
    assert!(
        n_measured > 100 && n_measured < measured.len(),
        "{n_measured}"
    );
    assert!(strs(&l, "protocol").iter().all(|p| p == "kademlia"));
    // summary.csv counts the measured lookups only.
    let csv = std::fs::read_to_string(d.join("a/summary.csv")).unwrap();
    let success = csv
        .lines()
        .find(|l| l.starts_with("lookup_success,"))
        .unwrap();
    assert_eq!(
        success.split(',').nth(4).unwrap(),
        n_measured.to_string(),
        "{success}"
    );
    // The measurement phase's traffic, overall and by kind.
    let bw = summary_mean(&d.join("a"), "bytes_per_node_s", "kademlia").unwrap();
    assert!(bw > 0.0, "{csv}");
    let by_kind: f64 = csv
        .lines()
        .filter(|l| l.starts_with("bytes_per_node_s."))
        .map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((by_kind - bw).abs() < 1e-6 * bw, "{by_kind} vs {bw}");
    let online = summary_mean(&d.join("a"), "online_nodes", "kademlia").unwrap();
    assert!((30.0..70.0).contains(&online), "{online} of 100 online");
    let t = frame(&d.join("a/traffic.parquet"));
    let rate: f64 = t
        .column("bytes_per_node_s")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .sum();
    assert!((rate - bw).abs() < 1e-6 * bw, "{rate} vs {bw}");
    for needle in [
        "p2psim churn",
        "measured of",
        "bytes/node/s",
        "nodes online on average",
        a["trace_hash"].as_str().unwrap(),
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }

    // The comparison: one result set with both protocols, and Kademlia's
    // part is exactly the single run (same seed, same churn, same lookups).
    let protocols = c["protocols"].as_array().unwrap();
    assert_eq!(protocols.len(), 2);
    assert_eq!(protocols[0]["protocol"], "kademlia");
    assert_eq!(protocols[1]["protocol"], "chord");
    assert_eq!(protocols[0]["trace_hash"], a["trace_hash"]);
    assert_ne!(protocols[1]["trace_hash"], a["trace_hash"]);
    assert_ne!(c["trace_hash"], a["trace_hash"]);
    let cl = frame(&d.join("c/lookups.parquet"));
    let names = strs(&cl, "protocol");
    let kad = names.iter().filter(|p| *p == "kademlia").count();
    let chord = names.iter().filter(|p| *p == "chord").count();
    assert_eq!(kad, l.height());
    assert!(chord > 0);
    assert_eq!(kad + chord, cl.height());
    assert_eq!(c["lookups"].as_u64().unwrap(), cl.height() as u64);
    // The same workload: a lookup is issued only once its origin has
    // finished joining, which depends on the protocol, so nearly (not
    // necessarily exactly) the same keys were looked up by both.
    let keys = strs(&cl, "key");
    let chord_keys: std::collections::BTreeSet<&String> = keys[kad..].iter().collect();
    let shared = keys[..kad]
        .iter()
        .filter(|k| chord_keys.contains(k))
        .count();
    assert!(
        shared as f64 >= 0.95 * kad as f64,
        "{shared} of {kad} lookups shared: the workloads differ"
    );
    for p in ["kademlia", "chord"] {
        for m in ["lookup_success", "lookup_latency_ms", "bytes_per_node_s"] {
            assert!(
                summary_mean(&d.join("c"), m, p).is_some(),
                "{m} for {p} missing"
            );
        }
    }
    assert_eq!(
        summary_mean(&d.join("c"), "bytes_per_node_s", "kademlia"),
        Some(bw)
    );
    for f in [
        "plots/lookup_hops_cdf.svg",
        "plots/lookup_hops_cdf.png",
        "plots/lookup_latency_cdf.svg",
        "plots/lookup_latency_cdf.png",
    ] {
        assert!(
            std::fs::metadata(d.join("c").join(f)).unwrap().len() > 1000,
            "{f}"
        );
        assert!(
            c["files"].as_array().unwrap().iter().any(|x| x == f),
            "{f} not in the manifest"
        );
    }
    let svg = std::fs::read_to_string(d.join("c/plots/lookup_hops_cdf.svg")).unwrap();
    assert!(
        svg.contains("kademlia (n = ")
            && svg.contains("chord (n = ")
            && svg.contains("hops per lookup"),
        "legend or axis missing"
    );
    let svg = std::fs::read_to_string(d.join("c/plots/lookup_latency_cdf.svg")).unwrap();
    assert!(svg.contains("lookup latency (ms)"), "axis unit missing");
    assert!(
        cmp_stdout.contains("kademlia:\n") && cmp_stdout.contains("chord:\n"),
        "{cmp_stdout}"
    );
}

#[test]
fn a_static_comparison_has_both_protocols_in_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = write_spec(
        d,
        "static_compare.toml",
        r#"
[run]
seed = 5
[network]
nodes = 120
[dht]
protocol = ["chord", "kademlia"]
routing = "recursive"
[workload]
join_window_s = 20.0
settle_s = 120.0
lookups = 200
lookup_window_s = 60.0
puts = 20
get_delay_s = 20.0
"#,
    );
    let (stdout, m) = run_ok(&spec, &d.join("out"));
    let out = d.join("out");
    for (table, rows_per_protocol) in [
        ("lookups.parquet", Some(200)),
        ("puts.parquet", Some(20)),
        ("nodes.parquet", Some(120)),
        ("traffic.parquet", None),
    ] {
        let df = frame(&out.join(table));
        let p = strs(&df, "protocol");
        assert_eq!(p.first().map(String::as_str), Some("chord"), "{table}");
        assert_eq!(p.last().map(String::as_str), Some("kademlia"), "{table}");
        if let Some(n) = rows_per_protocol {
            assert_eq!(p.iter().filter(|x| *x == "chord").count(), n, "{table}");
            assert_eq!(df.height(), 2 * n, "{table}");
        }
    }
    for p in ["chord", "kademlia"] {
        assert_eq!(
            summary_mean(&out, "lookup_success", p),
            Some(1.0),
            "{p}:\n{stdout}"
        );
        assert_eq!(summary_mean(&out, "bytes_per_node_s", p), None, "static");
    }
    assert!(stdout.contains("½·log2 N"), "{stdout}");
    assert!(stdout.contains("recursive routing"), "{stdout}");
    assert_eq!(m["spec"]["dht"]["routing"], "recursive");
}

/// Every churn preset and model, written in a spec and run for a few
/// simulated minutes through the binary, for both protocols at once.
#[test]
fn every_churn_model_runs_from_a_spec() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A trace next to the spec, named relative to it.
    std::fs::create_dir(d.join("traces")).unwrap();
    let mut csv = String::from("time,node,event\n");
    for i in 0..40 {
        csv += &format!("{},{i},join\n", i as f64 * 0.5);
    }
    for i in 0..10 {
        csv += &format!(
            "{},{i},{}\n",
            300 + 20 * i,
            if i % 2 == 0 { "leave" } else { "fail" }
        );
    }
    std::fs::write(d.join("traces/small.csv"), csv).unwrap();

    let closed = "nodes = 50\njoin_rate_per_s = 10.0\nwarmup_s = 7200.0\n";
    let models: Vec<(&str, String)> = vec![
        ("kad", format!("{closed}model = {{ kind = \"kad\" }}")),
        ("p2psim", format!("{closed}model = {{ kind = \"p2psim\" }}")),
        (
            "bamboo-extreme",
            format!("{closed}model = {{ kind = \"bamboo-extreme\" }}"),
        ),
        (
            "skype-supernode",
            format!("{closed}model = {{ kind = \"skype-supernode\" }}"),
        ),
        ("static", format!("{closed}model = {{ kind = \"static\" }}")),
        (
            "lifetime",
            format!(
                "{closed}model = {{ kind = \"lifetime\", up = {{ dist = \"weibull\", shape = 0.6, scale_s = 900.0 }}, down = {{ dist = \"log_normal\", median_s = 600.0, sigma = 1.0 }}, graceful_fraction = 0.5 }}"
            ),
        ),
        (
            "heterogeneous",
            format!(
                "{closed}model = {{ kind = \"heterogeneous\", mean_up_s = 1800.0, mean_down_s = 900.0 }}"
            ),
        ),
        (
            "open",
            "nodes = 20\njoin_rate_per_s = 10.0\nmodel = { kind = \"open\", arrival_rate_per_s = 0.05, session = { dist = \"exponential\", mean_s = 600.0 } }".to_string(),
        ),
        (
            "trace",
            "model = { kind = \"trace\", path = \"traces/small.csv\", format = \"csv\" }"
                .to_string(),
        ),
        (
            "partition",
            format!(
                "{closed}model = {{ kind = \"p2psim\" }}\n\
                 [[churn.partitions]]\nstart_s = 300.0\nend_s = 500.0\nside_a_fraction = 0.5"
            ),
        ),
        (
            "mass failure and flash crowd",
            format!(
                "{closed}model = {{ kind = \"p2psim\" }}\n\
                 [[churn.mass_failures]]\nat_s = 400.0\nfraction = 0.25\n\
                 [[churn.flash_crowds]]\nat_s = 450.0\nnodes = 20\nspread_s = 30.0"
            ),
        ),
    ];
    for (i, (label, model)) in models.iter().enumerate() {
        let text = format!(
            "[run]\nseed = 2\n[dht]\nprotocol = [\"kademlia\", \"chord\"]\n\
             [churn_workload]\nlookups = {{ rate_per_s = 0.02 }}\n\
             [churn]\ntransition_s = 200.0\nmeasurement_s = 600.0\n{model}\n"
        );
        let spec = write_spec(d, &format!("model{i}.toml"), &text);
        let out = d.join(format!("out{i}"));
        let (stdout, m) = run_ok(&spec, &out);
        for p in m["protocols"].as_array().unwrap() {
            assert!(
                p["nodes_joined"].as_u64().unwrap() > 0,
                "{label}: nobody joined\n{stdout}"
            );
            assert!(
                p["lookups"].as_u64().unwrap() > 0,
                "{label}: no lookups\n{stdout}"
            );
        }
        for p in ["kademlia", "chord"] {
            let s = summary_mean(&out, "lookup_success", p)
                .unwrap_or_else(|| panic!("{label}/{p}: no measured lookups\n{stdout}"));
            assert!(s > 0.5, "{label}/{p}: success {s}\n{stdout}");
            assert!(
                summary_mean(&out, "bytes_per_node_s", p).is_some_and(|b| b > 0.0),
                "{label}/{p}"
            );
        }
        if *label == "trace" {
            let trace = m["spec"]["churn"]["model"]["path"].as_str().unwrap();
            assert!(
                Path::new(trace).is_absolute() && trace.ends_with("traces/small.csv"),
                "{trace}"
            );
        }
    }
}

/// 150 nodes under fast lifetime churn (sessions 10 min, downtimes 5 min,
/// half graceful), registrations refreshed every 60 s, expiring after
/// 120 s, and a read by every online node every 20 s; 5 min measured.
const REGISTRATIONS_SMALL: &str = r#"
[run]
seed = 5

[dht]
protocol = ["kademlia", "chord"]

[churn]
nodes = 150
model = { kind = "lifetime", up = { dist = "exponential", mean_s = 600.0 }, down = { dist = "exponential", mean_s = 300.0 }, graceful_fraction = 0.5 }
join_rate_per_s = 15.0
warmup_s = 6000.0
transition_s = 110.0
measurement_s = 300.0

[churn_workload]
registration = { refresh_s = 60.0, expires_s = 120.0, read_interval_s = 20.0 }
"#;

fn u32s(df: &DataFrame, col: &str) -> Vec<u32> {
    let c = df.column(col).unwrap().u32().unwrap().clone();
    (0..df.height()).map(|i| c.get(i).unwrap()).collect()
}

#[test]
fn registrations_write_their_table_and_read_success_and_sweeps_combine_them() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "reg.toml", REGISTRATIONS_SMALL);
    let out = tmp.path().join("out");
    let (stdout, manifest) = run_ok(&spec, &out);
    assert!(stdout.contains("registrations "), "{stdout}");
    let files: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert!(
        files.contains(&"registrations.parquet".to_string()),
        "{files:?}"
    );

    let df = frame(&out.join("registrations.parquet"));
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "time_s",
            "reader",
            "user",
            "expected",
            "returned",
            "correct",
            "stale",
            "missing",
            "latency_ms",
            "measured",
            "protocol"
        ]
    );
    let protocol = strs(&df, "protocol");
    let measured = bools(&df, "measured");
    let correct = bools(&df, "correct");
    let (users, readers) = (u32s(&df, "user"), u32s(&df, "reader"));
    assert!(users.iter().chain(&readers).all(|&u| u < 150));
    for p in ["kademlia", "chord"] {
        // The metric is the share of measured rows marked correct,
        // recomputed here from the table.
        let rows: Vec<usize> = (0..df.height())
            .filter(|&i| protocol[i] == p && measured[i])
            .collect();
        // About 100 nodes online, one read each per 20 s, for 300 s.
        assert!(rows.len() > 1000, "{p}: {} measured reads", rows.len());
        let share = rows.iter().filter(|&&i| correct[i]).count() as f64 / rows.len() as f64;
        let metric = summary_mean(&out, "registration_read_success", p).expect("metric");
        assert!((metric - share).abs() < 1e-12, "{p}: {metric} vs {share}");
        assert!(share > 0.9, "{p}: read success {share}");
    }
    // Runs without registrations write no such table and no such metric.
    let plain = write_spec(tmp.path(), "plain.toml", P2PSIM_SMALL);
    let plain_out = tmp.path().join("plain");
    run_ok(&plain, &plain_out);
    assert!(!plain_out.join("registrations.parquet").exists());
    assert!(summary_mean(&plain_out, "registration_read_success", "kademlia").is_none());

    // A sweep of two replications combines the table and reports the
    // metric per run.
    let sweep_spec = write_spec(
        tmp.path(),
        "reg_sweep.toml",
        &format!("{REGISTRATIONS_SMALL}\n[sweep]\nreplications = 2\n"),
    );
    let dir = tmp.path().join("sweep");
    let o = peerlab(&[
        "sweep",
        sweep_spec.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let (_, stderr) = texts(&o);
    assert!(o.status.success(), "{stderr}");
    let combined = frame(&dir.join("registrations.parquet"));
    let per_run: usize = ["p000-r00", "p000-r01"]
        .iter()
        .map(|r| frame(&dir.join("runs").join(r).join("registrations.parquet")).height())
        .sum();
    assert_eq!(combined.height(), per_run);
    assert_eq!(
        strs(&combined, "run_id")
            .iter()
            .filter(|r| *r == "p000-r01")
            .count(),
        frame(&dir.join("runs/p000-r01/registrations.parquet")).height()
    );
    let runs = frame(&dir.join("runs.parquet"));
    let success = runs
        .column("registration_read_success")
        .unwrap()
        .f64()
        .unwrap()
        .clone();
    assert_eq!(runs.height(), 4, "2 runs x 2 protocols");
    assert!((0..4).all(|i| success.get(i).is_some_and(|x| x > 0.9)));
}
