//! `peerlab sweep` and `peerlab merge` end to end on a tiny spec: the same
//! bytes whatever the execution shape (threads, shards merged, kill and
//! resume), results that agree with single `peerlab run`s and with
//! statistics recomputed here, and spec errors caught before any run.

mod common;
use common::{expect_failure, hidden_files, texts, write_spec};
use peerlab_core::rng::derive_seed;
use polars::prelude::{DataFrame, ParquetReader, SerReader};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Kademlia and Chord on 40 nodes; 2 × 2 grid points × 3 replications.
const TINY: &str = r#"
[run]
name = "tiny"
seed = 3

[network]
nodes = 40

[dht]
protocol = ["kademlia", "chord"]

[workload]
join_window_s = 10.0
settle_s = 20.0
lookups = 40
lookup_window_s = 30.0
puts = 10
get_delay_s = 10.0

[sweep]
replications = 3
"dht.kademlia.k" = [4, 8]
"workload.lookups" = [20, 40]
"#;

/// Every file a sweep combines, byte-identical across execution shapes.
const COMBINED: [&str; 6] = [
    "runs.parquet",
    "summary.csv",
    "lookups.parquet",
    "puts.parquet",
    "traffic.parquet",
    "nodes.parquet",
];
const RUN_TABLES: [&str; 5] = [
    "lookups.parquet",
    "puts.parquet",
    "traffic.parquet",
    "nodes.parquet",
    "summary.csv",
];

/// The peerlab binary with no Slurm job-array variables, plus `env`.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peerlab"));
    c.args(args).env_remove("RUST_LOG");
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_STEP",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn peerlab(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("cannot start peerlab")
}

fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let o = peerlab(args, env);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "peerlab {args:?} failed:\n{err}");
    assert!(err.is_empty(), "unexpected stderr:\n{err}");
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
    ok(&args, &[])
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn frame(p: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(p).unwrap())
        .finish()
        .unwrap()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(p)).unwrap()
}

/// The run ids under `dir/runs` that have a `run.json`, sorted.
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

/// run id → (trace hash, seed) from every `run.json`.
fn run_hashes(dir: &Path) -> Vec<(String, String, u64)> {
    finished(dir)
        .into_iter()
        .map(|id| {
            let r = json(&dir.join("runs").join(&id).join("run.json"));
            (
                id,
                r["trace_hash"].as_str().unwrap().to_string(),
                r["seed"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn assert_same_results(a: &Path, b: &Path) {
    for f in COMBINED {
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
        for f in RUN_TABLES {
            let p = Path::new("runs").join(id).join(f);
            assert!(read(&a.join(&p)) == read(&b.join(&p)), "{}", p.display());
        }
    }
    assert_eq!(run_hashes(a), run_hashes(b));
}

fn strs(df: &DataFrame, c: &str) -> Vec<String> {
    let s = df.column(c).unwrap().str().unwrap().clone();
    (0..df.height())
        .map(|i| s.get(i).unwrap_or_default().to_string())
        .collect()
}

fn u64s(df: &DataFrame, c: &str) -> Vec<u64> {
    let col = df
        .column(c)
        .unwrap()
        .cast(&polars::prelude::DataType::UInt64)
        .unwrap();
    col.u64().unwrap().into_no_null_iter().collect()
}

fn f64s(df: &DataFrame, c: &str) -> Vec<Option<f64>> {
    let col = df
        .column(c)
        .unwrap()
        .cast(&polars::prelude::DataType::Float64)
        .unwrap();
    let ca = col.f64().unwrap();
    (0..ca.len()).map(|i| ca.get(i)).collect()
}

/// The issue's "Must show": `--threads 1`, `--threads 2` and three shards
/// merged give byte-identical combined files and the same per-run trace
/// hashes; the results agree with independent computations.
#[test]
fn threads_and_merged_shards_give_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, "tiny.toml", TINY);
    let out1 = sweep(&spec, &d.join("t1"), &["--threads", "1"]);
    sweep(&spec, &d.join("t2"), &["--threads", "2"]);
    assert!(
        out1.contains(
            "12 runs (4 points × 3 replications); skipping 0 already finished, running 12"
        ),
        "{out1}"
    );
    let mut shards = Vec::new();
    for i in 0..3 {
        let dir = d.join(format!("shard{i}"));
        let shard = format!("{i}/3");
        let text = sweep(&spec, &dir, &["--threads", "2", "--shard", &shard]);
        assert!(text.contains(&format!("shard {i}/3: 4 runs")), "{text}");
        // Shard i holds exactly the runs whose index mod 3 is i.
        let expected: Vec<String> = (0..12)
            .filter(|k| k % 3 == i)
            .map(|k| format!("p{:03}-r{:02}", k / 3, k % 3))
            .collect();
        assert_eq!(finished(&dir), expected);
        shards.push(dir);
    }
    let merged = d.join("merged");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let text = ok(&args, &[]);
    assert!(text.contains("merged 12 runs from 3 directories"), "{text}");

    assert_same_results(&d.join("t1"), &d.join("t2"));
    assert_same_results(&d.join("t1"), &merged);
    assert_eq!(run_hashes(&d.join("t1")).len(), 12);

    // A Slurm job array numbered from 1 selects the same shard as --shard.
    let slurm = d.join("slurm");
    ok(
        &[
            "sweep",
            spec.to_str().unwrap(),
            "--out",
            slurm.to_str().unwrap(),
        ],
        &[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ],
    );
    assert_eq!(
        read(&slurm.join("runs.parquet")),
        read(&shards[1].join("runs.parquet"))
    );

    // runs.parquet: one row per run and protocol, in run order, with the
    // documented seeds (replication r: the same seed at every point).
    let t1 = d.join("t1");
    let runs = frame(&t1.join("runs.parquet"));
    assert_eq!(runs.height(), 24);
    let ids = strs(&runs, "run_id");
    let protocols = strs(&runs, "protocol");
    let seeds = u64s(&runs, "seed");
    let ks = u64s(&runs, "dht.kademlia.k");
    let lookups = u64s(&runs, "workload.lookups");
    for row in 0..24 {
        let run = row / 2;
        let (point, rep) = (run / 3, run % 3);
        assert_eq!(ids[row], format!("p{point:03}-r{rep:02}"));
        assert_eq!(protocols[row], ["kademlia", "chord"][row % 2]);
        assert_eq!(seeds[row], derive_seed(3, "sweep-replication", rep as u64));
        assert_eq!(ks[row], [4, 8][point / 2]);
        assert_eq!(lookups[row], [20, 40][point % 2]);
    }

    // Oracle 1: a run is exactly `peerlab run` of the same parameters with
    // its seed (spec written out by hand here, not by the sweep code).
    let p003_r01 = write_spec(
        d,
        "p003.toml",
        &TINY
            .split("[sweep]")
            .next()
            .unwrap()
            .replace("[workload]", "[dht.kademlia]\nk = 8\n\n[workload]"),
    );
    let seed = derive_seed(3, "sweep-replication", 1).to_string();
    let single = d.join("single");
    ok(
        &[
            "run",
            p003_r01.to_str().unwrap(),
            "--out",
            single.to_str().unwrap(),
            "--seed",
            &seed,
        ],
        &[],
    );
    let m = json(&single.join("manifest.json"));
    let rec = json(&t1.join("runs/p003-r01/run.json"));
    assert_eq!(rec["trace_hash"], m["trace_hash"]);
    for f in RUN_TABLES {
        assert!(
            read(&single.join(f)) == read(&t1.join("runs/p003-r01").join(f)),
            "{f}"
        );
    }
    // And the combined lookups table holds that run's rows, labelled.
    let all = frame(&t1.join("lookups.parquet"));
    let one = frame(&single.join("lookups.parquet"));
    let rows: Vec<usize> = strs(&all, "run_id")
        .iter()
        .enumerate()
        .filter(|(_, id)| *id == "p003-r01")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rows.len(), one.height());
    let lat_all = f64s(&all, "latency_ms");
    let lat_one = f64s(&one, "latency_ms");
    for (j, &i) in rows.iter().enumerate() {
        assert_eq!(lat_all[i].map(f64::to_bits), lat_one[j].map(f64::to_bits));
    }
    assert!(
        u64s(&all, "point")
            .iter()
            .zip(strs(&all, "run_id"))
            .all(|(p, id)| id.starts_with(&format!("p{p:03}")))
    );

    // Oracle 2: summary.csv's mean and Student-t interval over the
    // replications, recomputed from runs.parquet with statrs.
    let hops = f64s(&runs, "lookup_hops");
    let csv = String::from_utf8(read(&t1.join("summary.csv"))).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "metric,unit,mean,std,n,ci95_half_width,protocol,point,dht.kademlia.k,workload.lookups"
    );
    let mut checked = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] != "lookup_hops" {
            continue;
        }
        let point: usize = f[7].parse().unwrap();
        let protocol = f[6];
        let xs: Vec<f64> = (0..24)
            .filter(|&row| row / 6 == point && protocols[row] == protocol)
            .map(|row| hops[row].unwrap())
            .collect();
        assert_eq!(xs.len(), 3);
        let mean = xs.iter().sum::<f64>() / 3.0;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        let t = StudentsT::new(0.0, 1.0, 2.0).unwrap().inverse_cdf(0.975);
        let num = |s: &str| s.parse::<f64>().unwrap();
        assert!((num(f[2]) - mean).abs() < 1e-9, "{line}");
        assert!((num(f[3]) - sd).abs() < 1e-9, "{line}");
        assert_eq!(f[4], "3");
        assert!((num(f[5]) - t * sd / 3f64.sqrt()).abs() < 1e-9, "{line}");
        assert_eq!(f[8], ["4", "8"][point / 2]);
        assert_eq!(f[9], ["20", "40"][point % 2]);
        checked += 1;
    }
    assert_eq!(checked, 8, "4 points × 2 protocols");

    // The manifest: every run, the shard, written last.
    let m = json(&merged.join("manifest.json"));
    assert_eq!(m["sweep"]["runs"].as_array().unwrap().len(), 12);
    assert_eq!(m["sweep"]["shard"], serde_json::Value::Null);
    let m = json(&shards[2].join("manifest.json"));
    assert_eq!(m["sweep"]["shard"], "2/3");
    for dir in [&t1, &merged] {
        assert!(hidden_files(dir).is_empty(), "{:?}", hidden_files(dir));
    }
}

/// A spec with many small equal runs, for the kill.
const MANY: &str = r#"
[run]
name = "many"
seed = 11

[network]
nodes = 60

[dht]
protocol = ["kademlia", "chord"]

[workload]
join_window_s = 10.0
settle_s = 20.0
lookups = 100
lookup_window_s = 30.0
puts = 20
get_delay_s = 10.0

[sweep]
replications = 8
"dht.kademlia.alpha" = [1, 3]
"#;

fn file_id(p: &Path) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.modified().unwrap())
}

/// The issue's "Must show": a sweep killed partway (SIGKILL) and
/// re-invoked finishes with results identical to an uninterrupted sweep and
/// does not redo the runs that had finished.
#[test]
fn a_killed_sweep_resumes_without_redoing_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, "many.toml", MANY);
    let whole = d.join("whole");
    sweep(&spec, &whole, &["--threads", "1"]);
    let killed = d.join("killed");

    let mut child = command(
        &[
            "sweep",
            spec.to_str().unwrap(),
            "--out",
            killed.to_str().unwrap(),
            "--threads",
            "1",
        ],
        &[],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Poll for the first finished run, then kill at once.
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished(&killed).is_empty() {
        assert!(Instant::now() < deadline, "no run finished");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep exited early"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        !killed.join("manifest.json").exists(),
        "the sweep finished before the kill; the test needs more runs"
    );
    let done = finished(&killed);
    assert!(!done.is_empty() && done.len() < 16, "{done:?}");
    let before: Vec<_> = done
        .iter()
        .map(|id| file_id(&killed.join("runs").join(id).join("run.json")))
        .collect();

    let text = sweep(&spec, &killed, &["--threads", "2"]);
    assert!(
        text.contains(&format!(
            "skipping {} already finished, running {}",
            done.len(),
            16 - done.len()
        )),
        "{text}"
    );
    // The finished runs were not redone: their run.json is the same file.
    let after: Vec<_> = done
        .iter()
        .map(|id| file_id(&killed.join("runs").join(id).join("run.json")))
        .collect();
    assert_eq!(before, after);
    assert_same_results(&whole, &killed);
    assert!(
        hidden_files(&killed).is_empty(),
        "{:?}",
        hidden_files(&killed)
    );

    // A finished sweep re-invoked does nothing but recombine.
    let text = sweep(&spec, &killed, &[]);
    assert!(
        text.contains("skipping 16 already finished, running 0"),
        "{text}"
    );
    assert_same_results(&whole, &killed);

    // More replications keep every finished run; another parameter value
    // where a finished run was is refused, naming the parameter.
    let more = write_spec(
        d,
        "more.toml",
        &MANY.replace("replications = 8", "replications = 9"),
    );
    let text = sweep(&more, &killed, &[]);
    assert!(
        text.contains("skipping 16 already finished, running 2"),
        "{text}"
    );
    let other = write_spec(d, "other.toml", &MANY.replace("[1, 3]", "[2, 3]"));
    let o = peerlab(
        &[
            "sweep",
            other.to_str().unwrap(),
            "--out",
            killed.to_str().unwrap(),
        ],
        &[],
    );
    let err = expect_failure(&o);
    assert!(
        err.contains("p000-r00 was run with another spec")
            && err.contains("`dht.kademlia.alpha`: 1 vs 2"),
        "{err}"
    );
}

fn sweep_error(dir: &Path, text: &str) -> String {
    let spec = write_spec(dir, "bad.toml", text);
    let out = dir.join("out");
    let o = peerlab(
        &[
            "sweep",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let err = expect_failure(&o);
    assert!(!out.exists(), "something ran before the error:\n{err}");
    err
}

/// The issue's "Must show": a typo in a path, a value out of range and a
/// sweep over an unknown parameter fail before any simulation, naming the
/// path (and the value and what is allowed).
#[test]
fn spec_errors_fail_before_any_run_and_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let base = TINY.split("[sweep]").next().unwrap();
    for (sweep, needles) in [
        (
            "\"dht.kademlia.kk\" = [4, 8]",
            vec![
                "dht.kademlia.kk = [4, 8]",
                "not a parameter",
                "`dht.kademlia` has: adaptive_timeout, alpha",
            ],
        ),
        (
            "\"dht.pastry.leaf_set\" = [16]",
            vec![
                "dht.pastry.leaf_set = [16]",
                "`dht` has: chord, kademlia, protocol",
            ],
        ),
        (
            "\"dht.kademlia.k\" = [4, 0]",
            vec!["dht.kademlia.k = 0 is invalid", "1 to 64"],
        ),
        (
            "\"workload.lookups\" = [10, \"many\"]",
            vec!["workload.lookups = \"many\" is invalid", "u32"],
        ),
        (
            "\"network.loss\" = [0.0, 1.5]",
            vec!["network.loss = 1.5 is invalid", "[0, 1)"],
        ),
        ("replications = 0", vec!["sweep.replications = 0"]),
    ] {
        let reps = if sweep.starts_with("replications") {
            ""
        } else {
            "replications = 2\n"
        };
        let err = sweep_error(d, &format!("{base}[sweep]\n{reps}{sweep}\n"));
        for n in needles {
            assert!(err.contains(n), "{sweep}: missing {n:?} in\n{err}");
        }
        assert!(err.contains("bad.toml"), "{err}");
    }
    // A typo in an ordinary path of a sweep spec.
    let err = sweep_error(
        d,
        &format!(
            "{}[sweep]\n\"dht.kademlia.k\" = [4]\n",
            base.replace("puts = 10", "putz = 10")
        ),
    );
    assert!(err.contains("`workload.putz`"), "{err}");

    // `peerlab run` refuses a sweep spec and says what to run instead.
    let spec = write_spec(d, "tiny.toml", TINY);
    let o = peerlab(
        &[
            "run",
            spec.to_str().unwrap(),
            "--out",
            d.join("run").to_str().unwrap(),
        ],
        &[],
    );
    let err = expect_failure(&o);
    assert!(
        err.contains("`sweep`") && err.contains("peerlab sweep"),
        "{err}"
    );
    assert!(!d.join("run").exists());

    // Malformed Slurm variables are named; nothing runs.
    for (env, needle) in [
        (
            vec![
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
            "SLURM_ARRAY_TASK_ID=\"x\"",
        ),
        (
            vec![("SLURM_ARRAY_TASK_ID", "1")],
            "SLURM_ARRAY_TASK_COUNT is not set",
        ),
    ] {
        let out = d.join("slurm");
        let o = peerlab(
            &[
                "sweep",
                spec.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &env,
        );
        let err = expect_failure(&o);
        assert!(err.contains(needle), "{err}");
        assert!(!out.exists());
    }
}

/// `peerlab merge` refuses shards of different specs, naming the
/// parameter, and names the runs missing from an incomplete set.
#[test]
fn merge_refuses_mismatching_or_incomplete_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let small = TINY.replace("replications = 3", "replications = 1");
    let a = write_spec(d, "a.toml", &small);
    let b = write_spec(
        d,
        "b.toml",
        &small.replace("[workload]", "[dht.kademlia]\nalpha = 2\n\n[workload]"),
    );
    sweep(&a, &d.join("a0"), &["--shard", "0/2"]);
    sweep(&b, &d.join("b1"), &["--shard", "1/2"]);
    let merged = d.join("m");
    let merge = |dirs: &[PathBuf]| {
        let mut args = vec!["merge".to_string()];
        args.extend(dirs.iter().map(|p| p.display().to_string()));
        args.extend(["--out".into(), merged.display().to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        peerlab(&args, &[])
    };
    let err = expect_failure(&merge(&[d.join("a0"), d.join("b1")]));
    assert!(
        err.contains("different specs") && err.contains("`dht.kademlia.alpha`: 3 vs 2"),
        "{err}"
    );
    let err = expect_failure(&merge(&[d.join("a0")]));
    assert!(
        err.contains("2 of 4 runs") && err.contains("(p001-r00, p003-r00)"),
        "{err}"
    );
    // An unfinished shard (no manifest) is named.
    let err = expect_failure(&merge(&[d.join("a0"), d.join("nowhere")]));
    assert!(
        err.contains("nowhere") && err.contains("manifest.json"),
        "{err}"
    );
    // What the failed merge copied, plus the missing shard, completes it.
    sweep(&a, &d.join("a1"), &["--shard", "1/2"]);
    let o = merge(&[d.join("a0"), d.join("a1")]);
    assert!(o.status.success(), "{}", texts(&o).1);
    sweep(&a, &d.join("whole"), &[]);
    assert_same_results(&d.join("whole"), &merged);
}

/// A churn sweep with time series: 2 points × 2 replications, both
/// protocols, per-node traffic on.
const SERIES: &str = r#"
[run]
name = "series"
seed = 9

[dht]
protocol = ["kademlia", "chord"]

[churn]
nodes = 30
model = { kind = "p2psim" }
join_rate_per_s = 10.0
warmup_s = 36000.0
transition_s = 300.0
measurement_s = 297.0

[churn_workload]
lookups = { rate_per_s = 0.01 }

[series]
interval_s = 60.0
node_traffic = true
node_traffic_interval_s = 120.0

[sweep]
replications = 2
"dht.kademlia.k" = [4, 8]
"#;

/// The series tables of a sweep are combined like the event tables: the
/// same bytes for one thread, two threads and merged shards, every run's
/// rows in run order labelled with its run, and the figures drawn with
/// bands across replications.
#[test]
fn series_tables_combine_identically_whatever_the_execution_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, "series.toml", SERIES);
    sweep(&spec, &d.join("t1"), &["--threads", "1"]);
    sweep(&spec, &d.join("t2"), &["--threads", "2"]);
    let mut shards = Vec::new();
    for i in 0..2 {
        let dir = d.join(format!("s{i}"));
        sweep(&spec, &dir, &["--shard", &format!("{i}/2")]);
        shards.push(dir);
    }
    let merged = d.join("merged");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    ok(&args, &[]);
    let t1 = d.join("t1");
    for f in ["timeseries.parquet", "node_traffic.parquet"] {
        for other in [d.join("t2"), merged.clone()] {
            assert!(
                read(&t1.join(f)) == read(&other.join(f)),
                "{f} differs between {} and {}",
                t1.display(),
                other.display()
            );
        }
        // Oracle: the combined table is the runs' own tables stacked in run
        // order, each labelled with its run.
        let combined = frame(&t1.join(f));
        let ids = finished(&t1);
        assert_eq!(ids.len(), 4);
        let mut at = 0;
        for id in &ids {
            let own = frame(&t1.join("runs").join(id).join(f));
            let h = own.height();
            assert!(h > 0, "{id}/{f} has rows");
            let part = combined.slice(at as i64, h);
            assert_eq!(strs(&part, "run_id"), vec![id.clone(); h]);
            for c in own.get_column_names() {
                assert!(
                    part.column(c.as_str()).unwrap() == own.column(c.as_str()).unwrap(),
                    "{f}: column {c} of {id}"
                );
            }
            at += h;
        }
        assert_eq!(at, combined.height());
    }
    // 600 s in 60 s samples, two protocols, four runs.
    assert_eq!(frame(&t1.join("timeseries.parquet")).height(), 10 * 2 * 4);
    let m = json(&t1.join("manifest.json"));
    let files: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for f in [
        "timeseries.parquet",
        "node_traffic.parquet",
        "plots/population_timeseries_kademlia.png",
        "plots/dead_entry_share_timeseries_chord.png",
        "plots/interval_success_timeseries_chord.png",
        "plots/wrong_successor_timeseries_chord.png",
    ] {
        assert!(files.contains(&f), "{f} not in the manifest: {files:?}");
        assert!(t1.join(f).is_file(), "{f}");
    }
    let svg = std::fs::read_to_string(t1.join("plots/population_timeseries_kademlia.svg")).unwrap();
    assert!(svg.contains("95% CI across replications"), "band legend");
}
