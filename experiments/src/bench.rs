//! `peerlab bench`: simulator throughput and memory at several overlay sizes.
//!
//! Each size runs in its own child process (the binary re-executes itself
//! with the hidden `bench-child` subcommand), so the peak resident set size
//! read from `/proc/self/status` (`VmHWM`) belongs to that size alone. The
//! scenario is static Kademlia with default parameters: N nodes join at 100
//! per simulated second (a join window proportional to N), the overlay
//! settles, then the lookups run; no puts. Above 20,000 nodes the brute-force
//! oracle is off (`no_oracle`), so success is not judged there.
//!
//! `peerlab bench --sweep` measures sweep parallelism instead
//! ([`crate::bench_sweep`]).
//!
//! This is a benchmark command, not a test: its figures depend on the machine.

use crate::error::Error;
use crate::progress::RunProgress;
use crate::run::{events_per_s, simulate};
use crate::simapi::StaticWorkload;
use crate::spec::{DhtProtocol, Spec};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, Stdio};

/// Joins per simulated second in the benchmark scenario.
pub const JOIN_RATE_PER_S: f64 = 100.0;
/// Largest size for which the benchmark keeps the oracle on.
pub const ORACLE_MAX_NODES: u32 = 20_000;

/// Arguments of `peerlab bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Overlay sizes to measure, comma-separated.
    #[arg(long, value_name = "N,...", allow_negative_numbers = true, value_delimiter = ',', default_values_t = [10_000u32, 100_000])]
    pub nodes: Vec<u32>,
    /// Lookups per size.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 10_000
    )]
    pub lookups: u32,
    /// Seed of every run.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 1
    )]
    pub seed: u64,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measure sweep parallelism instead: `--runs` equal replications of
    /// the scenario at the first `--nodes` size, once per `--threads` count.
    #[arg(long)]
    pub sweep: bool,
    /// With `--sweep`: runs in the sweep.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub runs: u32,
    /// With `--sweep`: thread counts to compare, comma-separated.
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_values_t = [1usize, 2])]
    pub threads: Vec<usize>,
}

/// Arguments of the hidden `bench-child` subcommand (one size).
#[derive(Args, Debug)]
pub struct BenchChildArgs {
    /// Overlay size.
    #[arg(long)]
    pub nodes: u32,
    /// Lookups.
    #[arg(long)]
    pub lookups: u32,
    /// Seed.
    #[arg(long)]
    pub seed: u64,
}

/// The measurements of one size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// Overlay size.
    pub nodes: u32,
    /// Lookups run.
    pub lookups: u32,
    /// Events the simulator processed.
    pub events: u64,
    /// Wall-clock seconds of the simulation.
    pub wall_s: f64,
    /// Events per wall-clock second.
    pub events_per_s: f64,
    /// Peak resident set size of the child process (`VmHWM`), in KiB.
    pub peak_rss_kb: u64,
    /// Resident set size before the simulation started, in KiB.
    pub baseline_rss_kb: u64,
    /// `(peak_rss_kb - baseline_rss_kb) / nodes`.
    pub kb_per_node: f64,
    /// Simulated seconds.
    pub sim_time_s: f64,
    /// Mean hops per lookup.
    pub mean_hops: f64,
    /// Lookup success rate, when the oracle judged it.
    pub lookup_success: Option<f64>,
    /// The run's trace hash.
    pub trace_hash: String,
}

/// The spec of the benchmark scenario at one size.
pub fn bench_spec(nodes: u32, lookups: u32, seed: u64) -> Spec {
    let mut spec = Spec::default();
    spec.run.name = format!("bench-{nodes}");
    spec.run.seed = seed;
    spec.network.nodes = nodes;
    spec.workload = Some(StaticWorkload {
        join_window_s: nodes as f64 / JOIN_RATE_PER_S,
        lookups,
        puts: 0,
        ..StaticWorkload::default()
    });
    spec.sim.no_oracle = nodes > ORACLE_MAX_NODES;
    spec
}

/// A `kB` field of `/proc/self/status` (Linux only).
pub fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The child side: runs one size and prints its [`BenchResult`] as one JSON
/// line on stdout.
pub fn child(args: BenchChildArgs) -> Result<(), Error> {
    let spec = bench_spec(args.nodes, args.lookups, args.seed);
    let origin = Path::new("<bench>");
    spec.validate(origin)?;
    let baseline = proc_status_kb("VmRSS").unwrap_or(0);
    let mut bar = RunProgress::new(&format!("{} nodes", args.nodes));
    let sim = simulate(&spec, origin, DhtProtocol::Kademlia, args.seed, &mut |p| {
        bar.update(p)
    })?;
    bar.finish();
    let peak = proc_status_kb("VmHWM")
        .ok_or_else(|| Error::Bench("cannot read VmHWM from /proc/self/status".into()))?;
    let out = &sim.output;
    let n = out.lookups.len().max(1) as f64;
    let result = BenchResult {
        nodes: args.nodes,
        lookups: args.lookups,
        events: out.events,
        wall_s: sim.wall_time_s,
        events_per_s: events_per_s(out.events, sim.wall_time_s),
        peak_rss_kb: peak,
        baseline_rss_kb: baseline,
        kb_per_node: peak.saturating_sub(baseline) as f64 / args.nodes.max(1) as f64,
        sim_time_s: out.sim_time_s,
        mean_hops: out.lookups.iter().map(|r| r.hops as f64).sum::<f64>() / n,
        lookup_success: (!spec.sim.no_oracle)
            .then(|| out.lookups.iter().filter(|r| r.success).count() as f64 / n),
        trace_hash: crate::manifest::trace_hash_hex(out.trace_hash),
    };
    let line = serde_json::to_string(&result).map_err(|e| Error::Bench(e.to_string()))?;
    println!("{line}");
    Ok(())
}

/// Runs one size in a child process.
fn measure(nodes: u32, lookups: u32, seed: u64) -> Result<BenchResult, Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Bench(format!("cannot find the peerlab executable: {e}")))?;
    let output = Command::new(&exe)
        .args([
            "bench-child",
            "--nodes",
            &nodes.to_string(),
            "--lookups",
            &lookups.to_string(),
        ])
        .args(["--seed", &seed.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::Bench(format!("cannot start {}: {e}", exe.display())))?;
    if !output.status.success() {
        return Err(Error::Bench(format!(
            "the {nodes}-node run failed ({})",
            output.status
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| {
        Error::Bench(format!(
            "the {nodes}-node run printed no result ({e}): {text:?}"
        ))
    })
}

const HEADER: &str = "    nodes       events   wall s     events/s  peak RSS MB  KB/node (peak-base)  sim s  mean hops  success";

fn table_row(r: &BenchResult) -> String {
    format!(
        "{:>9} {:>12} {:>8.2} {:>12.0} {:>12.1} {:>20.2} {:>6.0} {:>10.2} {:>8}",
        r.nodes,
        r.events,
        r.wall_s,
        r.events_per_s,
        r.peak_rss_kb as f64 / 1024.0,
        r.kb_per_node,
        r.sim_time_s,
        r.mean_hops,
        r.lookup_success
            .map_or("n/a".to_string(), |s| format!("{:.2}%", 100.0 * s)),
    )
}

/// `peerlab bench`: measures every size, printing a table (or JSON).
pub fn run(args: BenchArgs) -> Result<(), Error> {
    if args.sweep {
        return crate::bench_sweep::run(&args);
    }
    if let Some(n) = args.nodes.iter().find(|&&n| n < 2) {
        return Err(Error::Bench(format!(
            "--nodes: {n} is too small; every size must be at least 2"
        )));
    }
    if !args.json {
        println!(
            "static Kademlia (k = 20, α = 3), joins at {JOIN_RATE_PER_S} per simulated second, {} lookups, seed {}; \
             oracle off above {ORACLE_MAX_NODES} nodes; one child process per size",
            args.lookups, args.seed
        );
        println!("{HEADER}");
    }
    let mut results = Vec::new();
    for &n in &args.nodes {
        let r = measure(n, args.lookups, args.seed)?;
        if !args.json {
            println!("{}", table_row(&r));
        }
        results.push(r);
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&results).map_err(|e| Error::Bench(e.to_string()))?;
        println!("{text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_scales_the_join_window() {
        let s = bench_spec(100_000, 10_000, 1);
        assert_eq!(s.static_workload().join_window_s, 1000.0);
        assert!(s.sim.no_oracle);
        assert_eq!(s.static_workload().puts, 0);
        assert!(!bench_spec(10_000, 10, 1).sim.no_oracle);
        bench_spec(10_000, 10, 1)
            .validate(Path::new("<bench>"))
            .unwrap();
    }

    #[test]
    fn reads_proc_status() {
        if cfg!(target_os = "linux") {
            let rss = proc_status_kb("VmRSS").unwrap();
            let hwm = proc_status_kb("VmHWM").unwrap();
            assert!(hwm >= rss && rss > 0);
        }
        assert_eq!(proc_status_kb("NoSuchField"), None);
    }

    #[test]
    fn table_row_lines_up_with_the_header() {
        let r = BenchResult {
            nodes: 100_000,
            lookups: 10_000,
            events: 123_456_789,
            wall_s: 12.5,
            events_per_s: 9_876_543.0,
            peak_rss_kb: 2_000_000,
            baseline_rss_kb: 10_000,
            kb_per_node: 19.9,
            sim_time_s: 1720.0,
            mean_hops: 3.9,
            lookup_success: None,
            trace_hash: "00".into(),
        };
        assert_eq!(table_row(&r).len(), HEADER.len());
    }
}
