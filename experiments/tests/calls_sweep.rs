//! `peerlab sweep` of calls specs, and graph tables combined across runs,
//! through the real binary on tiny populations.
//!
//! Oracles: byte equality across execution shapes (threads, shards merged)
//! and against `peerlab run` of the hand-written spec of one run (its seed
//! derived here from the documented formula); `summary.csv` statistics
//! recomputed from `runs.parquet` with statrs; each run's success rate
//! recounted from its own `calls.parquet`; combined tables checked against
//! the concatenation of the runs' tables.

mod common;
use common::{assert_replot_identical, expect_failure, report_figures, texts, write_spec};
use peerlab_core::rng::derive_seed;
use polars::prelude::{DataFrame, DataType, ParquetReader, SerReader};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The calls scenario without its `[sweep]`: 300 nodes, two strategies,
/// active failover with one relay.
const BASE: &str = r#"
[run]
name = "tiny_calls"
seed = 3

[calls]
churn = { nodes = 300, model = { kind = "skype-supernode" }, warmup_s = 43200.0, measurement_s = 21600.0 }
nat = { preset = "consumer" }
calls = { rate_per_s = 0.0005 }
strategies = [{ kind = "random" }, { kind = "min-rtt" }]

[calls.relay]
slots = 2
uplink_kbps = 200
candidates = { kind = "local_random", count = 6 }
"#;

/// 2 points (k = 1, 2) × 3 replications, 2 variants each.
fn tiny() -> String {
    format!(
        "{BASE}failover = {{ kind = \"active\", k = 1 }}\n\n[plots]\nkinds = [\"metric_vs_param\"]\n\
         metrics = [\"success_rate\"]\n\n[sweep]\nreplications = 3\n\"calls.relay.failover.k\" = [1, 2]\n"
    )
}

const COMBINED: [&str; 4] = [
    "runs.parquet",
    "summary.csv",
    "calls.parquet",
    "relay_nodes.parquet",
];
const RUN_FILES: [&str; 4] = [
    "calls.parquet",
    "relay_nodes.parquet",
    "summary.csv",
    "run.json",
];
const FIGURE: &str = "plots/success_rate_vs_calls_relay_failover_k.svg";

fn peerlab(args: &[&str]) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_peerlab"));
    c.args(args).env_remove("RUST_LOG");
    for v in ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"] {
        c.env_remove(v);
    }
    c.output().expect("cannot start peerlab")
}

fn ok(args: &[&str]) -> String {
    let o = peerlab(args);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "peerlab {args:?} failed:\n{err}");
    out
}

fn sweep(spec: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "sweep",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    ok(&args)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn frame(p: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(p).unwrap())
        .finish()
        .unwrap()
}

fn strs(df: &DataFrame, c: &str) -> Vec<String> {
    let col = df.column(c).unwrap().cast(&DataType::String).unwrap();
    let s = col.str().unwrap();
    (0..df.height())
        .map(|i| s.get(i).unwrap_or_default().to_string())
        .collect()
}

fn f64s(df: &DataFrame, c: &str) -> Vec<Option<f64>> {
    let col = df.column(c).unwrap().cast(&DataType::Float64).unwrap();
    let ca = col.f64().unwrap();
    (0..ca.len()).map(|i| ca.get(i)).collect()
}

fn bools(df: &DataFrame, c: &str) -> Vec<bool> {
    let ca = df.column(c).unwrap().bool().unwrap().clone();
    (0..ca.len()).map(|i| ca.get(i).unwrap()).collect()
}

/// The run ids with a `run.json`, sorted.
fn finished(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("runs"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("run.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn assert_same(a: &Path, b: &Path, combined: &[&str], run_files: &[&str]) {
    for f in combined {
        assert!(
            read(&a.join(f)) == read(&b.join(f)),
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
    let ids = finished(a);
    assert_eq!(ids, finished(b));
    for id in &ids {
        for f in run_files {
            let p = Path::new("runs").join(id).join(f);
            let (x, y) = (read(&a.join(&p)), read(&b.join(&p)));
            if *f == "run.json" {
                // Wall times aside, the records are equal.
                let strip = |bytes: &[u8]| {
                    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                    v["wall_time_s"] = 0.into();
                    for p in v["protocols"].as_array_mut().unwrap() {
                        p["wall_time_s"] = 0.into();
                        p["events_per_s"] = 0.into();
                    }
                    v
                };
                assert_eq!(strip(&x), strip(&y), "{}", p.display());
            } else {
                assert!(x == y, "{}", p.display());
            }
        }
    }
}

/// `summary.csv` rows keyed by (metric, variant, point).
fn summary(dir: &Path) -> BTreeMap<(String, String, String), BTreeMap<String, String>> {
    let text = String::from_utf8(read(&dir.join("summary.csv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let row: BTreeMap<String, String> = header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (
                (
                    row["metric"].clone(),
                    row["variant"].clone(),
                    row["point"].clone(),
                ),
                row,
            )
        })
        .collect()
}

/// `--threads 1`, `--threads 2`, two shards merged and a resumed sweep give
/// byte-identical combined tables, `summary.csv` and per-run files;
/// `peerlab plot` redraws
/// the declared figure byte for byte; the tables hold what the runs wrote.
#[test]
fn a_calls_sweep_is_identical_across_threads_and_merged_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, "tiny.toml", &tiny());
    let text = sweep(&spec, &d.join("t1"), &["--threads", "1"]);
    assert!(
        text.contains("6 runs (2 points × 3 replications)") && text.contains("success_rate"),
        "{text}"
    );
    sweep(&spec, &d.join("t2"), &["--threads", "2"]);
    let shards: Vec<PathBuf> = (0..2).map(|i| d.join(format!("s{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        let text = sweep(&spec, s, &["--shard", &format!("{i}/2")]);
        assert!(text.contains(&format!("shard {i}/2: 3 runs")), "{text}");
    }
    let merged = d.join("merged");
    ok(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    for other in ["t2", "merged"] {
        assert_same(&d.join("t1"), &d.join(other), &COMBINED, &RUN_FILES);
    }
    // Resume: a run whose record is gone is rerun, the others are kept, and
    // the results are the same bytes.
    std::fs::remove_file(d.join("t2/runs/p001-r01/run.json")).unwrap();
    let text = sweep(&spec, &d.join("t2"), &["--threads", "2"]);
    assert!(
        text.contains("skipping 5 already finished, running 1"),
        "{text}"
    );
    assert_same(&d.join("t1"), &d.join("t2"), &COMBINED, &RUN_FILES);
    let t1 = d.join("t1");
    assert!(t1.join(FIGURE).is_file() && t1.join("report.html").is_file());
    assert!(read(&t1.join(FIGURE)) == read(&merged.join(FIGURE)));
    // `peerlab plot` redraws from the stored tables alone.
    let figure = read(&t1.join(FIGURE));
    std::fs::remove_dir_all(t1.join("plots")).unwrap();
    ok(&["plot", t1.to_str().unwrap()]);
    assert!(
        read(&t1.join(FIGURE)) == figure,
        "plot redraws the same SVG"
    );

    // runs.parquet: one row per run and variant, in run order.
    let runs = frame(&t1.join("runs.parquet"));
    assert_eq!(runs.height(), 6 * 2);
    let ids = strs(&runs, "run_id");
    let variants = strs(&runs, "variant");
    assert_eq!(&ids[..4], ["p000-r00", "p000-r00", "p000-r01", "p000-r01"]);
    assert_eq!(&variants[..2], ["random", "min-rtt"]);
    assert_eq!(strs(&runs, "strategy")[..2], ["random", "min-rtt"]);
    assert_eq!(strs(&runs, "failover")[0], "active k=1");
    assert_eq!(strs(&runs, "calls.relay.failover.k")[6], "2");

    // The combined calls table is the runs' tables, in run order, with
    // run_id, point and replication; each run's success rate recounts from
    // its own calls.parquet.
    let calls = frame(&t1.join("calls.parquet"));
    let all_ids = strs(&calls, "run_id");
    let rates = f64s(&runs, "success_rate");
    let mut at = 0;
    for (i, id) in finished(&t1).iter().enumerate() {
        let own = frame(&t1.join("runs").join(id).join("calls.parquet"));
        let h = own.height();
        assert!(all_ids[at..at + h].iter().all(|x| x == id), "{id}");
        assert_eq!(
            strs(&calls, "point")[at],
            (i / 3).to_string(),
            "point of {id}"
        );
        assert_eq!(strs(&calls, "replication")[at], (i % 3).to_string());
        let slice = calls.slice(at as i64, h);
        assert_eq!(f64s(&slice, "added_delay_ms"), f64s(&own, "added_delay_ms"));
        at += h;
        let (v, measured, outcome) = (
            strs(&own, "variant"),
            bools(&own, "measured"),
            strs(&own, "outcome"),
        );
        for (j, name) in ["random", "min-rtt"].iter().enumerate() {
            let mine: Vec<usize> = (0..h).filter(|&r| v[r] == *name && measured[r]).collect();
            let ok = mine.iter().filter(|&&r| outcome[r] == "completed").count();
            let rate = ok as f64 / mine.len() as f64;
            let recorded = rates[2 * i + j].unwrap();
            assert!(
                (rate - recorded).abs() < 1e-12,
                "{id} {name}: {rate} vs {recorded}"
            );
        }
    }
    assert_eq!(at, calls.height());
    let nodes = frame(&t1.join("relay_nodes.parquet"));
    assert_eq!(
        nodes.height(),
        6 * 2 * 300,
        "every node of every variant and run"
    );
}

/// A calls sweep without `[plots]` draws the calls figures over its
/// combined tables, one bar or curve per (variant, grid point) pooling the
/// replications, next to the metric-vs-parameter error bars; `peerlab
/// plot` redraws them all and `report.html` byte for byte, and the report
/// shows each. Oracle: each run's own `summary.csv` (written from the
/// simulator's in-memory report): path counts summed over replications,
/// relayed calls in the CDF, bar values the mean over replications.
#[test]
fn a_calls_sweep_draws_the_calls_figures_over_its_runs() {
    use peerlab_experiments::figures::{FigureData, plan};
    use peerlab_experiments::results::ResultDir;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let text = format!(
        "{BASE}failover = {{ kind = \"active\", k = 1 }}\n\n[sweep]\nreplications = 2\n\"calls.relay.failover.k\" = [1, 2]\n"
    );
    let spec = write_spec(d, "sweep.toml", &text);
    let out = d.join("out");
    sweep(&spec, &out, &["--threads", "2"]);
    let files = assert_replot_identical(&out);
    let shown = report_figures(&out);
    for f in [
        "added_delay_cdf",
        "path_types",
        "jain",
        "spare_p5",
        "probes",
        "success_vs_duration",
        "public_tcp_relays",
        "public_bandwidth",
        "success_rate_vs_calls_relay_failover_k",
    ] {
        assert!(
            shown.iter().any(|s| s == f),
            "{f} not in the report: {shown:?}"
        );
        assert!(files.contains_key(&format!("plots/{f}.svg")), "{f}.svg");
    }
    assert_eq!(2 * shown.len() + 1, files.len(), "{:?}", files.keys());

    // Each run's summary.csv, by (variant, point).
    let mut per: BTreeMap<(String, usize), Vec<BTreeMap<String, f64>>> = BTreeMap::new();
    for id in finished(&out) {
        let point: usize = id[1..4].parse().unwrap();
        let text = std::fs::read_to_string(out.join("runs").join(&id).join("summary.csv")).unwrap();
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        for l in lines {
            let f: Vec<&str> = l.split(',').collect();
            let row = head
                .iter()
                .zip(&f)
                .filter_map(|(h, v)| v.parse().ok().map(|x| (h.to_string(), x)))
                .collect();
            per.entry((f[0].to_string(), point)).or_default().push(row);
        }
    }
    assert_eq!(per.len(), 4);
    let label = |(v, p): &(String, usize)| format!("{v}, k = {}", p + 1);
    let sum = |key: &(String, usize), c: &str| per[key].iter().map(|r| r[c]).sum::<f64>();
    let planned = plan(&ResultDir::load(&out).unwrap());
    let mut checked = 0;
    for f in &planned {
        match (&f.data, f.name.as_str()) {
            (FigureData::PathShares(p), _) => {
                assert_eq!(p.rows.len(), 4);
                for key in per.keys() {
                    let (_, counts) = p.rows.iter().find(|r| r.0 == label(key)).unwrap();
                    let want: Vec<f64> = [
                        "path_direct",
                        "path_punched",
                        "path_relay_udp",
                        "path_relay_tcp",
                    ]
                    .iter()
                    .map(|c| sum(key, c))
                    .collect();
                    let got: Vec<f64> = counts[..4].iter().map(|&x| x as f64).collect();
                    assert_eq!(got, want, "{}", label(key));
                    assert_eq!(counts.iter().sum::<usize>() as f64, sum(key, "calls"));
                }
                checked += 1;
            }
            (FigureData::DelayCdf(c), _) => {
                assert_eq!(c.series.len(), 4);
                for key in per.keys() {
                    let (_, delays) = c.series.iter().find(|r| r.0 == label(key)).unwrap();
                    let relayed = sum(key, "path_relay_udp") + sum(key, "path_relay_tcp");
                    assert_eq!(delays.len() as f64, relayed, "{}", label(key));
                }
                checked += 1;
            }
            (FigureData::Bars(b), "jain") => {
                for key in per.keys() {
                    let (_, v) = b.bars.iter().find(|r| r.0 == label(key)).unwrap();
                    let want = sum(key, "jain_relayed_bytes") / per[key].len() as f64;
                    assert!((v - want).abs() < 1e-12, "{}: {v} vs {want}", label(key));
                }
                checked += 1;
            }
            _ => {}
        }
    }
    assert_eq!(checked, 3);
}

/// `summary.csv` per grid point and variant: mean, standard deviation, n
/// and the Student-t 95% half-width of the replications' values in
/// `runs.parquet`, recomputed here with statrs.
#[test]
fn calls_summary_intervals_recompute_from_runs_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, "tiny.toml", &tiny());
    let out = d.join("out");
    sweep(&spec, &out, &["--threads", "2"]);
    let runs = frame(&out.join("runs.parquet"));
    let rows = summary(&out);
    let (points, variants) = (strs(&runs, "point"), strs(&runs, "variant"));
    let t = StudentsT::new(0.0, 1.0, 2.0).unwrap().inverse_cdf(0.975);
    let mut checked = 0;
    for metric in [
        "success_rate",
        "added_delay_p95_ms",
        "jain_relayed_bytes",
        "calls",
    ] {
        let values = f64s(&runs, metric);
        for point in ["0", "1"] {
            for variant in ["random", "min-rtt"] {
                let xs: Vec<f64> = (0..runs.height())
                    .filter(|&i| points[i] == point && variants[i] == variant)
                    .map(|i| values[i].unwrap())
                    .collect();
                assert_eq!(xs.len(), 3);
                let mean = xs.iter().sum::<f64>() / 3.0;
                let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
                let half = t * sd / 3f64.sqrt();
                let row = &rows[&(metric.to_string(), variant.to_string(), point.to_string())];
                let num = |c: &str| row[c].parse::<f64>().unwrap();
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
                assert!(close(num("mean"), mean), "{metric} {variant} {point}");
                assert!(close(num("std"), sd), "{metric} {variant} {point}");
                assert!(close(num("ci95_half_width"), half), "{metric} {point}");
                assert_eq!(row["n"], "3");
                let k = if point == "0" { "1" } else { "2" };
                assert_eq!(row["calls.relay.failover.k"], k);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16);
}

/// A run of the sweep is `peerlab run` of the spec written out by hand:
/// the swept value in place and the replication's seed
/// `derive_seed(3, "sweep-replication", 1)`.
#[test]
fn a_calls_sweep_run_equals_peerlab_run_of_its_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, "tiny.toml", &tiny());
    let out = d.join("out");
    sweep(&spec, &out, &["--shard", "3/6"]);
    assert_eq!(finished(&out), ["p001-r00"]);
    let seed = derive_seed(3, "sweep-replication", 0);
    let by_hand = BASE.replace("seed = 3", &format!("seed = {seed}"))
        + "failover = { kind = \"active\", k = 2 }\n";
    let single = write_spec(d, "single.toml", &by_hand);
    let one = d.join("one");
    ok(&[
        "run",
        single.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
    ]);
    let run = out.join("runs/p001-r00");
    for f in ["calls.parquet", "relay_nodes.parquet", "summary.csv"] {
        assert!(read(&run.join(f)) == read(&one.join(f)), "{f} differs");
    }
    let record: serde_json::Value = serde_json::from_slice(&read(&run.join("run.json"))).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&one.join("manifest.json"))).unwrap();
    assert_eq!(record["trace_hash"], manifest["trace_hash"]);
    assert_eq!(record["seed"].as_u64(), Some(seed));
}

/// A sweep over a path the calls scenario does not have, or over an
/// overlay section, fails before any run and names the path.
#[test]
fn a_sweep_over_an_unknown_calls_path_fails_before_any_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (sweep_line, named) in [
        ("\"calls.relay.slotz\" = [1, 2]", "calls.relay.slotz"),
        (
            "\"calls.relay.failover.k\" = [1, 0]",
            "calls.relay.failover.k",
        ),
        ("\"network.nodes\" = [10, 20]", "network"),
    ] {
        let text = format!("{BASE}\n[sweep]\n{sweep_line}\n");
        let spec = write_spec(d, "bad.toml", &text);
        let out = d.join("out");
        let o = peerlab(&[
            "sweep",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = expect_failure(&o);
        assert!(err.contains(named), "{sweep_line}: {err}");
        assert!(!out.join("runs").exists(), "{sweep_line}: a run started");
        // `spec show` catches it too.
        let err = expect_failure(&peerlab(&["spec", "show", spec.to_str().unwrap()]));
        assert!(err.contains(named), "{err}");
    }
    let err = expect_failure(&peerlab(&[
        "sweep",
        write_spec(
            d,
            "typo.toml",
            &format!("{BASE}\n[sweep]\n\"calls.relay.slotz\" = [1]\n"),
        )
        .to_str()
        .unwrap(),
        "--out",
        d.join("o2").to_str().unwrap(),
    ]));
    assert!(
        err.contains("`calls.relay` has: ") && err.contains("slots"),
        "{err}"
    );
}

/// Graph tables (snapshots and a mass failure) of an overlay sweep are
/// combined with run_id, point and replication, identically when merged
/// from shards.
#[test]
fn graph_tables_are_combined_across_runs_and_merged() {
    const GRAPH: &str = r#"
[run]
name = "tiny_graph"
seed = 5

[network]
nodes = 40

[dht]
protocol = "chord"

[workload]
join_window_s = 10.0
settle_s = 20.0
lookups = 10
lookup_window_s = 10.0
puts = 0
fail_fraction = 0.25
fail_at_s = 45.0
repair_sample_s = 5.0
repair_max_s = 30.0

[graph]
at_s = [44.0]

[sweep]
replications = 2
"dht.chord.successors" = [8, 12]
"#;
    const TABLES: [&str; 4] = [
        "graph_metrics.parquet",
        "in_degree.parquet",
        "repair.parquet",
        "repair_samples.parquet",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, "graph.toml", GRAPH);
    let whole = d.join("whole");
    sweep(&spec, &whole, &["--threads", "2"]);
    for i in 0..2 {
        sweep(
            &spec,
            &d.join(format!("s{i}")),
            &["--shard", &format!("{i}/2")],
        );
    }
    let merged = d.join("merged");
    ok(&[
        "merge",
        d.join("s0").to_str().unwrap(),
        d.join("s1").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_same(&whole, &merged, &TABLES, &TABLES);
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&whole.join("manifest.json"))).unwrap();
    let ids = finished(&whole);
    assert_eq!(ids.len(), 4);
    for table in TABLES {
        assert!(
            manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == table),
            "{table} not in the manifest"
        );
        let all = frame(&whole.join(table));
        let run_ids = strs(&all, "run_id");
        let mut at = 0;
        for (i, id) in ids.iter().enumerate() {
            let own = frame(&whole.join("runs").join(id).join(table));
            let h = own.height();
            assert!(h > 0, "{table} of {id} is empty");
            assert!(run_ids[at..at + h].iter().all(|x| x == id), "{table} {id}");
            let slice = all.slice(at as i64, h);
            assert_eq!(strs(&slice, "point")[0], (i / 2).to_string());
            assert_eq!(strs(&slice, "replication")[0], (i % 2).to_string());
            // The run's own columns, unchanged.
            for c in own.get_column_names() {
                assert_eq!(
                    strs(&slice, c.as_str()),
                    strs(&own, c.as_str()),
                    "{table} {id} column {c}"
                );
            }
            at += h;
        }
        assert_eq!(at, all.height(), "{table}");
    }
}
