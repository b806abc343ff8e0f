//! `peerlab sweep`: every run of a spec's `[sweep]` grid, in parallel,
//! resumable, optionally one shard of it.
//!
//! Runs go to a local rayon pool of `--threads` threads. Each run simulates
//! every protocol of its point's spec with its seed ([`crate::grid`]), or,
//! for a spec with `[calls]`, every variant ([`crate::calls_run::sweep_run`]),
//! writes its tables and `summary.csv` into `DIR/runs/<run_id>/`, then its
//! `run.json` ([`crate::record`]) atomically and last. A re-invoked sweep
//! keeps every run whose `run.json` exists and matches (same point spec and
//! seed), reruns the others from scratch, and says how many it skipped; a
//! `run.json` from another spec is an error, never silently mixed in. The
//! grid itself may change between invocations (raising `replications`
//! keeps every finished run), since each run is checked on its own. When
//! the runs of this invocation's shard are done, [`crate::combine`] writes
//! the combined tables, `summary.csv` and `manifest.json` (last).

use crate::combine::{PointRow, Provenance, RUNS_DIR, write_combined};
use crate::error::Error;
use crate::grid::{Grid, RunKey, show_value, spec_difference};
use crate::manifest::{MANIFEST, Manifest};
use crate::output::create_dir;
use crate::progress::{RunProgress, SweepProgress};
use crate::record::{RunMetric, RunProtocol, RunRecord};
use crate::run::{protocol_manifests, run_trace_hash, simulate_all, write_data};
use crate::shard::Shard;
use crate::spec::Spec;
use crate::summary::MetricRow;
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

/// How to run a sweep.
#[derive(Clone, Copy, Debug)]
pub struct SweepOptions {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// The shard to run, or none for every run.
    pub shard: Option<Shard>,
    /// Draw a progress bar (when stderr is a terminal).
    pub progress: bool,
}

/// What a finished sweep invocation did.
#[derive(Debug)]
pub struct SweepReport {
    /// The grid.
    pub grid: Grid,
    /// The finished runs of this shard, in run order.
    pub records: Vec<RunRecord>,
    /// Runs simulated by this invocation.
    pub ran: usize,
    /// Runs found finished and skipped (for a merge: runs copied).
    pub skipped: usize,
    /// The manifest as written.
    pub manifest: Manifest,
    /// The rows of `summary.csv`.
    pub rows: Vec<PointRow>,
}

/// Checks that `dir` holds nothing but an earlier invocation of a sweep of
/// this spec (its `[sweep]` aside).
fn check_directory(dir: &Path, spec: &Spec) -> Result<(), Error> {
    if !dir.join(MANIFEST).is_file() {
        return Ok(());
    }
    let m = Manifest::read(dir)?;
    if m.sweep.is_none() {
        return Err(Error::Other(format!(
            "{} holds the results of `peerlab run`, not of a sweep; choose another --out",
            dir.display()
        )));
    }
    // The grid may change (more replications, say): each finished run is
    // then checked against its new point on its own.
    let (mut before, mut now) = (m.spec.clone(), spec.clone());
    before.sweep = None;
    now.sweep = None;
    if let Some(diff) = spec_difference(&before, &now) {
        return Err(Error::Other(format!(
            "{} holds a sweep of another spec ({diff}); choose another --out, or delete it",
            dir.display()
        )));
    }
    Ok(())
}

/// The spec a run runs: its point's, with the run's seed.
fn run_spec(grid: &Grid, key: &RunKey) -> Spec {
    let mut spec = grid.points[key.point].spec.clone();
    spec.run.seed = key.seed;
    spec
}

/// The finished record of `key` in `runs_dir`, if any; an error if it
/// belongs to another sweep.
pub fn finished_run(
    grid: &Grid,
    key: &RunKey,
    runs_dir: &Path,
) -> Result<Option<RunRecord>, Error> {
    let dir = runs_dir.join(&key.run_id);
    let Some(rec) = RunRecord::read(&dir)? else {
        return Ok(None);
    };
    let expected = run_spec(grid, key);
    let diff = if rec.run_id != key.run_id || rec.seed != key.seed {
        Some(format!("seed {} instead of {}", rec.seed, key.seed))
    } else {
        spec_difference(&rec.spec, &expected)
    };
    match diff {
        None => Ok(Some(rec)),
        Some(diff) => Err(Error::Other(format!(
            "{} was run with another spec ({diff}); use another --out, or delete it",
            dir.display()
        ))),
    }
}

/// One run of an overlay spec: simulates every protocol with `seed` and
/// writes the run's data into `dir`. Returns the files, one entry per
/// protocol, the run's trace hash and its wall time.
fn simulate_overlay(
    spec: &Spec,
    spec_file: &Path,
    seed: u64,
    dir: &Path,
) -> Result<(Vec<String>, Vec<RunProtocol>, u64, f64), Error> {
    let sims = simulate_all(spec, spec_file, seed, |_| RunProgress::hidden())?;
    let (files, metrics) = write_data(spec, &sims, dir)?;
    let protocols = protocol_manifests(&sims)
        .into_iter()
        .map(|run| RunProtocol {
            variant: None,
            metrics: metrics
                .iter()
                .filter(|m: &&MetricRow| m.protocol == run.protocol)
                .map(RunMetric::from)
                .collect(),
            run,
        })
        .collect();
    let wall_time_s = sims.iter().map(|s| s.wall_time_s).sum();
    Ok((files, protocols, run_trace_hash(&sims), wall_time_s))
}

/// Runs one run of the grid into `runs_dir/<run_id>/`, `run.json` last.
fn execute(
    grid: &Grid,
    key: &RunKey,
    spec_file: &Path,
    runs_dir: &Path,
) -> Result<RunRecord, Error> {
    let spec = run_spec(grid, key);
    let dir = runs_dir.join(&key.run_id);
    // Whatever an interrupted attempt left (tables, temporaries) goes.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
    }
    create_dir(&dir)?;
    tracing::info!(run = %key.run_id, seed = key.seed, point = %grid.describe(key.point), "run starting");
    let (files, protocols, trace_hash, wall_time_s) = if spec.calls.is_some() {
        crate::calls_run::sweep_run(&spec, spec_file, key.seed, &dir)?
    } else {
        simulate_overlay(&spec, spec_file, key.seed, &dir)?
    };
    let parameters = grid
        .axes
        .iter()
        .zip(&grid.points[key.point].values)
        .map(|(a, v)| {
            let json = serde_json::to_value(v).unwrap_or_else(|_| show_value(v).into());
            (a.path.clone(), json)
        })
        .collect();
    let record = RunRecord {
        run_id: key.run_id.clone(),
        index: key.index,
        point: key.point,
        replication: key.replication,
        seed: key.seed,
        parameters,
        trace_hash: crate::manifest::trace_hash_hex(trace_hash),
        wall_time_s,
        protocols,
        files,
        spec,
    };
    record.write(&dir)?;
    tracing::info!(run = %key.run_id, trace_hash = %record.trace_hash, "run finished");
    Ok(record)
}

/// Runs the sweep of `spec` (loaded from `spec_file`) into `out`: every run
/// of the shard that has not finished yet, then the combined results.
pub fn run_sweep(
    spec: &Spec,
    spec_file: &Path,
    out: &Path,
    opts: SweepOptions,
    mut say: impl FnMut(&str),
) -> Result<SweepReport, Error> {
    let start = Instant::now();
    let grid = Grid::new(spec, spec_file)?;
    let keys: Vec<RunKey> = grid
        .runs()
        .into_iter()
        .filter(|k| opts.shard.is_none_or(|s| s.includes(k.index)))
        .collect();
    create_dir(out)?;
    check_directory(out, spec)?;
    let runs_dir = out.join(RUNS_DIR);
    create_dir(&runs_dir)?;

    let mut records = Vec::with_capacity(keys.len());
    let mut todo = Vec::new();
    for key in &keys {
        match finished_run(&grid, key, &runs_dir)? {
            Some(rec) => records.push(rec),
            None => todo.push(key.clone()),
        }
    }
    let skipped = records.len();
    let total = grid.points.len() * grid.replications as usize;
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut head = format!(
        "{}: {} ({} × {})",
        spec.run.name,
        plural(total, "run"),
        plural(grid.points.len(), "point"),
        plural(grid.replications as usize, "replication")
    );
    if let Some(s) = opts.shard {
        head += &format!(", shard {s}: {}", plural(keys.len(), "run"));
    }
    say(&format!(
        "{head}; skipping {skipped} already finished, running {} on {} thread{}",
        todo.len(),
        opts.threads,
        if opts.threads == 1 { "" } else { "s" }
    ));

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("peerlab-sweep-{i}"))
        .build()
        .map_err(|e| Error::Other(format!("cannot start {} threads: {e}", opts.threads)))?;
    let bar = if opts.progress {
        SweepProgress::new(&spec.run.name, todo.len() as u64)
    } else {
        SweepProgress::new("", 0)
    };
    let new: Vec<RunRecord> = pool.install(|| {
        todo.par_iter()
            .with_max_len(1)
            .map(|key| {
                let rec = execute(&grid, key, spec_file, &runs_dir);
                bar.finished(&key.run_id);
                rec
            })
            .collect::<Result<Vec<_>, Error>>()
    })?;
    bar.finish();
    let ran = new.len();
    records.extend(new);
    records.sort_by_key(|r| r.index);

    let provenance = Provenance {
        spec_file: spec_file.display().to_string(),
        shard: opts.shard.map(|s| s.to_string()),
        threads: Some(opts.threads),
        runs_skipped: skipped,
        elapsed_s: start.elapsed().as_secs_f64(),
    };
    let (manifest, rows) = write_combined(out, spec, &grid, &records, &provenance)?;
    Ok(SweepReport {
        grid,
        records,
        ran,
        skipped,
        manifest,
        rows,
    })
}

/// The metrics the end-of-sweep table shows, when present.
const SHOWN: [&str; 7] = [
    "lookup_success",
    "lookup_hops",
    "lookup_latency_ms",
    "bytes_per_node_s",
    "success_rate",
    "added_delay_p95_ms",
    "jain_relayed_bytes",
];

/// Per grid point and protocol (variant, for calls), the main metrics'
/// mean ± 95% CI over
/// replications, one line each.
pub fn point_table(report: &SweepReport) -> String {
    let grid = &report.grid;
    let mut s = String::new();
    let mut last: Option<(usize, &str)> = None;
    for r in &report.rows {
        if !SHOWN.contains(&r.metric.as_str()) {
            continue;
        }
        let here = (r.point, r.protocol.as_str());
        if last != Some(here) {
            if last.is_some() {
                s.push('\n');
            }
            let params = grid.describe(r.point);
            s += &format!("  p{:03} {}", r.point, r.protocol);
            if !params.is_empty() {
                s += &format!(" ({params})");
            }
            s += ":";
            last = Some(here);
        }
        let st = r.stats;
        if st.n == 0 {
            s += &format!(" {} n/a", r.metric);
        } else if st.ci95.is_finite() {
            s += &format!(" {} {:.4} ± {:.4}", r.metric, st.mean, st.ci95);
        } else {
            s += &format!(" {} {:.4}", r.metric, st.mean);
        }
    }
    if last.is_some() {
        s.push('\n');
    }
    s
}

/// What `peerlab sweep` prints when it finishes.
pub fn human_summary(report: &SweepReport, out: &Path) -> String {
    let mut s = point_table(report);
    s += &format!(
        "  ran {} runs, skipped {} finished; trace_hash (combined) {}\n",
        report.ran, report.skipped, report.manifest.trace_hash
    );
    s += &format!("  results      {}\n", out.display());
    s
}

/// Prints to stdout; a closed stdout (`| head`) is not an error once the
/// results are on disk.
pub fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// `peerlab sweep SPEC --out DIR`: loads the spec, applies `--seed`, picks
/// the shard (from `--shard` or Slurm), runs and prints a summary.
pub fn sweep_command(
    spec_path: &Path,
    out: &Path,
    seed: Option<u64>,
    threads: Option<usize>,
    shard: Option<Shard>,
) -> Result<SweepReport, Error> {
    let mut spec = Spec::load(spec_path)?;
    if let Some(seed) = seed {
        spec.run.seed = seed;
    }
    let shard = Shard::select(shard)?;
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = SweepOptions {
        threads,
        shard,
        progress: true,
    };
    let report = run_sweep(&spec, spec_path, out, opts, |line| {
        stdout(&format!("{line}\n"))
    })?;
    stdout(&human_summary(&report, out));
    Ok(report)
}
