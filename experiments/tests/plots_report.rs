//! `peerlab plot DIR` and `report.html`: figures rebuilt from stored tables
//! only, on a real run's directory and on a synthetic sweep-layout fixture
//! whose values are known, so the plotted numbers can be checked by hand.

mod common;

use common::{expect_failure, peerlab, texts, write_spec};
use peerlab_experiments::figures::{FigureData, PlotKind, bin_width, binned, plan};
use peerlab_experiments::results::ResultDir;
use peerlab_experiments::tables::write_parquet;
use polars::prelude::{Column, DataFrame};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// t(0.975, df) from printed tables (independent of statrs).
fn t975(df: usize) -> f64 {
    match df {
        1 => 12.706_204_736_174_7,
        2 => 4.302_652_729_749_464,
        3 => 3.182_446_305_284_263,
        4 => 2.776_445_105_197_793,
        _ => panic!("no table value for df = {df}"),
    }
}

/// Mean and 95% CI half-width of `xs`, by the textbook formula.
fn mean_ci(xs: &[f64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt(), t975(xs.len() - 1) * var.sqrt() / n.sqrt())
}

const SMALL: &str = "[run]\nname = \"small\"\nseed = 5\n\
    [network]\nnodes = 120\n\
    [network.latency]\nmodel = \"coordinates\"\ndims = 2\ndiameter_ms = 200.0\naccess_min_ms = 1.0\naccess_max_ms = 10.0\n\
    [workload]\njoin_window_s = 20.0\nsettle_s = 30.0\nlookups = 400\nlookup_window_s = 100.0\nputs = 40\nget_delay_s = 10.0\n";

fn run_small(dir: &Path, extra: &str) -> PathBuf {
    let spec = write_spec(dir, "small.toml", &format!("{SMALL}{extra}"));
    let out = dir.join("out");
    let o = peerlab(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (so, se) = texts(&o);
    assert!(o.status.success(), "run failed:\n{so}\n{se}");
    out
}

/// Every file under `dir/plots` plus report.html, with its bytes.
fn figure_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("plots")).unwrap() {
        let e = e.unwrap();
        m.insert(
            format!("plots/{}", e.file_name().to_string_lossy()),
            std::fs::read(e.path()).unwrap(),
        );
    }
    m.insert(
        "report.html".into(),
        std::fs::read(dir.join("report.html")).unwrap(),
    );
    m
}

#[test]
fn plot_regenerates_the_runs_figures_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_small(tmp.path(), "");
    let from_run = figure_files(&out);
    // The run lists every figure and the report in its manifest.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let mut listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .filter(|f| f.starts_with("plots/") || *f == "report.html")
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        from_run.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for name in [
        "plots/lookup_hops.png",
        "plots/lookup_latency_cdf.svg",
        "plots/lookup_success_timeseries.png",
        "plots/lookup_outcomes.svg",
        "plots/traffic_by_kind.png",
    ] {
        assert!(
            from_run.contains_key(name),
            "{name} missing: {:?}",
            from_run.keys()
        );
    }
    assert!(out.join("spec.toml").is_file());

    std::fs::remove_dir_all(out.join("plots")).unwrap();
    std::fs::remove_file(out.join("report.html")).unwrap();
    let o = peerlab(&["plot", out.to_str().unwrap()]);
    let (so, se) = texts(&o);
    assert!(o.status.success(), "plot failed:\n{so}\n{se}");
    let from_plot = figure_files(&out);
    assert_eq!(
        from_run.keys().collect::<Vec<_>>(),
        from_plot.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &from_run {
        assert!(
            bytes == &from_plot[name],
            "{name} differs between run and plot"
        );
    }
    assert!(common::hidden_files(&out).is_empty());
}

#[test]
fn report_is_self_contained_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_small(tmp.path(), "");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let pngs = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "png")
        .count();
    assert_eq!(html.matches("<img ").count(), pngs);
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), pngs);
    // No external resource of any kind.
    for bad in ["http://", "https://", "src=\"plots", "<script", "<link"] {
        assert!(!html.contains(bad), "report contains {bad}");
    }
    // The summary table has every row of summary.csv; the spec and the
    // manifest are there.
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    // Header row plus one row per line.
    assert_eq!(html.matches("<tr>").count(), summary.lines().count());
    assert!(html.contains("lookup_latency_ms"));
    assert!(html.contains("[workload]") && html.contains("lookups = 400"));
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    let trace = serde_json::from_str::<serde_json::Value>(&manifest).unwrap()["trace_hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(html.contains(&format!("&quot;trace_hash&quot;: &quot;{trace}&quot;")));
}

#[test]
fn spec_chooses_plot_kinds_and_bad_kinds_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_small(tmp.path(), "[plots]\nkinds = [\"latency_cdf\", \"hops\"]\n");
    let mut names: Vec<String> = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "lookup_hops.png",
            "lookup_hops.svg",
            "lookup_latency_cdf.png",
            "lookup_latency_cdf.svg"
        ]
    );
    let spec = write_spec(
        tmp.path(),
        "bad.toml",
        &format!("{SMALL}[plots]\nkinds = [\"hops\", \"histogramm\"]\n"),
    );
    let o = peerlab(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        tmp.path().join("bad").to_str().unwrap(),
    ]);
    let err = expect_failure(&o);
    assert!(
        err.contains("plots.kinds") && err.contains("histogramm"),
        "{err}"
    );
    assert!(
        err.contains("latency_cdf") && err.contains("cost_performance"),
        "{err}"
    );
    assert!(!tmp.path().join("bad").exists(), "nothing may be written");
}

#[test]
fn bad_result_directories_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let err = expect_failure(&peerlab(&[
        "plot",
        tmp.path().join("nope").to_str().unwrap(),
    ]));
    assert!(
        err.contains("nope") && err.contains("not a directory"),
        "{err}"
    );

    let out = run_small(tmp.path(), "");
    let copy = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(&out).unwrap() {
            let e = e.unwrap();
            if e.path().is_file() {
                std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
            }
        }
        d
    };
    let d = copy("no_lookups");
    std::fs::remove_file(d.join("lookups.parquet")).unwrap();
    let err = expect_failure(&peerlab(&["plot", d.to_str().unwrap()]));
    assert!(err.contains("no_lookups/lookups.parquet"), "{err}");

    let d = copy("no_summary");
    std::fs::remove_file(d.join("summary.csv")).unwrap();
    let err = expect_failure(&peerlab(&["plot", d.to_str().unwrap()]));
    assert!(err.contains("no_summary/summary.csv"), "{err}");

    let d = copy("corrupt");
    let t = std::fs::read(d.join("traffic.parquet")).unwrap();
    std::fs::write(d.join("traffic.parquet"), &t[..t.len() / 2]).unwrap();
    let err = expect_failure(&peerlab(&["plot", d.to_str().unwrap()]));
    assert!(
        err.contains("corrupt/traffic.parquet") && err.contains("not a valid Parquet table"),
        "{err}"
    );

    let d = copy("bad_column");
    std::fs::remove_file(d.join("report.html")).unwrap();
    let mut df = DataFrame::new(1, vec![Column::new("time_s".into(), vec![1.0f64])]).unwrap();
    write_parquet(&d.join("lookups.parquet"), &mut df).unwrap();
    let err = expect_failure(&peerlab(&["plot", d.to_str().unwrap()]));
    assert!(
        err.contains("lookups.parquet") && err.contains("no column `success`"),
        "{err}"
    );
    assert!(!d.join("report.html").exists());
}

/// A sweep-layout directory: grid over `dht.kademlia.k` ∈ {8, 16, 20} for
/// kademlia and chord, 3 replications each. Run (protocol p, point i,
/// replication r) has 4 lookups per 10 s bin over 0..300 s; its latencies
/// average `base(p, i, r)`, and in bin b lookup j succeeds unless
/// `j < fails(r, b)`.
struct Fixture {
    dir: tempfile::TempDir,
}

const KS: [u32; 3] = [8, 16, 20];
const PROTOCOLS: [&str; 2] = ["kademlia", "chord"];
const OFFSETS: [f64; 3] = [-5.0, 0.0, 7.0];

fn base(p: usize, i: usize, r: usize) -> f64 {
    100.0 + 50.0 * p as f64 + 10.0 * i as f64 + OFFSETS[r]
}

fn fails(r: usize, b: usize) -> usize {
    (r + b) % 3
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (mut time, mut success, mut hops, mut lat, mut proto, mut run_id, mut point, mut rep) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        let mut id = 0u32;
        for (p, name) in PROTOCOLS.iter().enumerate() {
            for i in 0..KS.len() {
                for r in 0..3 {
                    for b in 0..30 {
                        for j in 0..4 {
                            time.push(b as f64 * 10.0 + 1.0 + j as f64 * 2.0);
                            success.push(j >= fails(r, b));
                            hops.push((1 + (j + b) % 4) as u32);
                            // ±1 around the run's base: the run's mean is base.
                            lat.push(base(p, i, r) + if j % 2 == 0 { -1.0 } else { 1.0 });
                            proto.push(name.to_string());
                            run_id.push(id);
                            point.push((p * KS.len() + i) as u32);
                            rep.push(r as u32);
                        }
                    }
                    id += 1;
                }
            }
        }
        let n = time.len();
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("time_s".into(), time),
                Column::new("success".into(), success),
                Column::new("hops".into(), hops),
                Column::new("latency_ms".into(), lat),
                Column::new("measured".into(), vec![true; n]),
                Column::new("protocol".into(), proto),
                Column::new("run_id".into(), run_id),
                Column::new("point".into(), point),
                Column::new("replication".into(), rep),
            ],
        )
        .unwrap();
        write_parquet(&dir.path().join("lookups.parquet"), &mut df).unwrap();

        // summary.csv as a sweep writes it: per point, the mean and CI of
        // the replications' run-level values.
        let mut csv =
            String::from("metric,unit,mean,std,n,ci95_half_width,protocol,point,dht.kademlia.k\n");
        for (p, name) in PROTOCOLS.iter().enumerate() {
            for (i, k) in KS.iter().enumerate() {
                let pt = p * KS.len() + i;
                let lat: Vec<f64> = (0..3).map(|r| base(p, i, r)).collect();
                let (m, s, ci) = mean_ci(&lat);
                csv += &format!("lookup_latency_ms,ms,{m},{s},3,{ci},{name},{pt},{k}\n");
                // Traffic grows with k; latency falls with it.
                let bytes: Vec<f64> = (0..3).map(|r| 10.0 * *k as f64 + r as f64).collect();
                let (m, s, ci) = mean_ci(&bytes);
                csv += &format!("bytes_per_node_s,bytes/node/s,{m},{s},3,{ci},{name},{pt},{k}\n");
            }
        }
        std::fs::write(dir.path().join("summary.csv"), csv).unwrap();
        Fixture { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[test]
fn error_bars_are_the_replication_mean_and_t_interval() {
    let fx = Fixture::new();
    let rd = ResultDir::load(fx.path()).unwrap();
    assert_eq!(rd.summary.params, ["dht.kademlia.k"]);
    let figures = plan(&rd);
    let fig = figures
        .iter()
        .find(|f| f.name == "lookup_latency_ms_vs_dht_kademlia_k")
        .unwrap_or_else(|| panic!("{:?}", figures.iter().map(|f| &f.name).collect::<Vec<_>>()));
    assert_eq!(fig.kind, PlotKind::MetricVsParam);
    let FigureData::ErrorBars(eb) = &fig.data else {
        panic!("not an error-bar figure")
    };
    assert_eq!(eb.x_desc, "dht.kademlia.k");
    assert_eq!(eb.series.len(), 2);
    for (p, s) in eb.series.iter().enumerate() {
        assert_eq!(s.label, PROTOCOLS[p]);
        let xs: Vec<f64> = s.points.iter().map(|q| q.x).collect();
        assert_eq!(xs, [8.0, 16.0, 20.0]);
        for (i, q) in s.points.iter().enumerate() {
            // Replication values base ± offsets: mean 100 + 50p + 10i + 2/3,
            // sample sd of {−5, 0, 7}, t(0.975, 2).
            let mean = 100.0 + 50.0 * p as f64 + 10.0 * i as f64 + 2.0 / 3.0;
            // Deviations of {−5, 0, 7} from 2/3: −17/3, −2/3, 19/3; squares
            // sum to 654/9; over n − 1 = 2: 327/9.
            let sd = (327.0f64 / 9.0).sqrt();
            let ci = 4.302_652_729_749_464 * sd / 3f64.sqrt();
            assert!((q.mean - mean).abs() < 1e-9, "{p} {i}: {q:?} vs {mean}");
            assert!((q.ci95 - ci).abs() < 1e-9, "{p} {i}: {q:?} vs {ci}");
        }
    }
    // The cost-performance scatter has one point per protocol and k.
    let cost = figures
        .iter()
        .find(|f| f.name == "cost_performance")
        .unwrap();
    let FigureData::Cost(c) = &cost.data else {
        panic!()
    };
    assert_eq!(c.series.len(), 2);
    assert_eq!(c.series[0].points.len(), 3);
    assert!(
        (c.series[0].points[0].0 - 81.0).abs() < 1e-9,
        "{:?}",
        c.series[0]
    );
}

#[test]
fn time_series_bands_are_across_replications() {
    let fx = Fixture::new();
    let rd = ResultDir::load(fx.path()).unwrap();
    // 4..299 s: 10 s bins, 30 of them, from 0.
    assert_eq!(bin_width(299.0 - 1.0), 10.0);
    for g in 0..rd.groups.len() {
        let pts = binned(&rd, g, 0.0, 10.0, 30, |l| {
            Some(if l.success { 1.0 } else { 0.0 })
        });
        assert_eq!(pts.len(), 30);
        for (b, p) in pts.iter().enumerate() {
            // Run r's success in bin b: (4 − fails(r, b)) / 4.
            let per_run: Vec<f64> = (0..3).map(|r| (4 - fails(r, b)) as f64 / 4.0).collect();
            let (m, _, ci) = mean_ci(&per_run);
            assert_eq!(p.t, b as f64 * 10.0 + 5.0);
            assert!((p.mean - m).abs() < 1e-12, "bin {b}: {p:?}");
            assert!((p.hi - p.mean - ci).abs() < 1e-9, "bin {b}: {p:?} ci {ci}");
            assert!((p.mean - p.lo - ci).abs() < 1e-9);
        }
    }
    let names: Vec<String> = plan(&rd).into_iter().map(|f| f.name).collect();
    // A sweep: one time-series figure per protocol.
    for n in [
        "lookup_success_timeseries_kademlia",
        "lookup_latency_timeseries_chord",
        "lookup_hops_cdf",
    ] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
}

#[test]
fn plot_draws_a_sweep_directory() {
    let fx = Fixture::new();
    let o = peerlab(&["plot", fx.path().to_str().unwrap()]);
    let (so, se) = texts(&o);
    assert!(o.status.success(), "{so}\n{se}");
    let rd = ResultDir::load(fx.path()).unwrap();
    let planned = plan(&rd);
    for f in &planned {
        for ext in ["svg", "png"] {
            let p = fx.path().join("plots").join(format!("{}.{ext}", f.name));
            assert!(
                std::fs::metadata(&p).unwrap().len() > 1000,
                "{}",
                p.display()
            );
        }
    }
    let html = std::fs::read_to_string(fx.path().join("report.html")).unwrap();
    assert_eq!(html.matches("<img ").count(), planned.len());
    assert!(html.contains("No <code>manifest.json</code>"));
}
