//! `peerlab bench --sweep`: how much faster a sweep runs with more threads.
//!
//! The sweep is `--runs` replications of the benchmark scenario of
//! [`crate::bench`] at the first `--nodes` size (equal work per run: the
//! same spec, different seeds), run in-process once per `--threads` count
//! into a fresh temporary directory, combining included. It reports each
//! count's wall time and its speedup over the first count, checks that every
//! count produced byte-identical `runs.parquet` and `summary.csv`, and
//! prints the load average before and after (the machine may be shared).
//!
//! This is a benchmark command, not a test: its figures depend on the machine.

use crate::bench::{BenchArgs, bench_spec};
use crate::combine::RUNS_TABLE;
use crate::error::Error;
use crate::grid::SweepSection;
use crate::run::SUMMARY;
use crate::sweep::{SweepOptions, run_sweep};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// One thread count's measurement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepBenchResult {
    /// Worker threads.
    pub threads: usize,
    /// Runs in the sweep.
    pub runs: u32,
    /// Wall-clock seconds of the whole sweep, combining included.
    pub wall_s: f64,
    /// Wall time of the first thread count divided by this one's.
    pub speedup: f64,
    /// Whether `runs.parquet` and `summary.csv` equal the first count's.
    pub identical: bool,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// Runs the sweep benchmark.
pub fn run(args: &BenchArgs) -> Result<(), Error> {
    let nodes = *args.nodes.first().unwrap_or(&2_000);
    if args.runs == 0 || args.threads.is_empty() || args.threads.contains(&0) {
        return Err(Error::Bench(
            "--runs and every --threads count must be at least 1".into(),
        ));
    }
    let mut spec = bench_spec(nodes, args.lookups, args.seed);
    spec.run.name = format!("bench-sweep-{nodes}");
    spec.sweep = Some(SweepSection {
        replications: args.runs,
        ..SweepSection::default()
    });
    let origin = Path::new("<bench --sweep>");
    if !args.json {
        println!(
            "sweep of {} equal runs: static Kademlia, {nodes} nodes, {} lookups, base seed {}; \
             load average before: {}",
            args.runs,
            args.lookups,
            args.seed,
            loadavg()
        );
        println!("  threads   wall s  speedup  identical results");
    }
    let mut results: Vec<SweepBenchResult> = Vec::new();
    let mut first: Option<(f64, Vec<u8>, Vec<u8>)> = None;
    for &threads in &args.threads {
        let dir = std::env::temp_dir().join(format!(
            "peerlab-bench-sweep-{}-{threads}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let start = Instant::now();
        let opts = SweepOptions {
            threads,
            shard: None,
            progress: true,
        };
        let outcome = run_sweep(&spec, origin, &dir, opts, |_| {});
        let wall_s = start.elapsed().as_secs_f64();
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_default();
        let (runs, summary) = (read(RUNS_TABLE), read(SUMMARY));
        let _ = std::fs::remove_dir_all(&dir);
        outcome?;
        let (base, identical) = match &first {
            None => {
                first = Some((wall_s, runs, summary));
                (wall_s, true)
            }
            Some((w, r, s)) => (*w, *r == runs && *s == summary),
        };
        let r = SweepBenchResult {
            threads,
            runs: args.runs,
            wall_s,
            speedup: base / wall_s.max(f64::MIN_POSITIVE),
            identical,
        };
        if !args.json {
            println!(
                "{:>9} {:>8.2} {:>7.2}x  {}",
                r.threads,
                r.wall_s,
                r.speedup,
                if r.identical { "yes" } else { "NO" }
            );
        }
        results.push(r);
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&results).map_err(|e| Error::Bench(e.to_string()))?;
        println!("{text}");
    } else {
        println!("load average after: {}", loadavg());
    }
    if results.iter().any(|r| !r.identical) {
        return Err(Error::Bench(
            "thread counts gave different results (runs.parquet or summary.csv)".into(),
        ));
    }
    Ok(())
}
