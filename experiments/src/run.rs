//! One experiment run: spec and seed in, a complete result directory out.
//!
//! ```text
//! DIR/lookups.parquet  puts.parquet  traffic.parquet  nodes.parquet
//! DIR/summary.csv
//! DIR/plots/lookup_hops.{svg,png}  plots/lookup_latency_cdf.{svg,png}
//! DIR/manifest.json    (written last: its presence marks a complete run)
//! ```

use crate::error::Error;
use crate::manifest::{MANIFEST, Manifest, trace_hash_hex};
use crate::output::{create_dir, write_bytes_atomic};
use crate::plot::{self, CdfFigure, CdfSeries, HopsFigure};
use crate::progress::RunProgress;
use crate::simapi::{Progress, RunOutput, run_static_kademlia};
use crate::spec::{DhtProtocol, Spec};
use crate::summary::{self, MetricRow};
use crate::tables;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A finished simulation, before anything is written.
#[derive(Debug)]
pub struct Simulated {
    /// What the simulator reported.
    pub output: RunOutput,
    /// Wall-clock seconds the simulation took.
    pub wall_time_s: f64,
}

/// Runs the simulation a spec describes with `seed`, feeding `progress`.
/// `spec_file` names the spec in errors.
pub fn simulate(
    spec: &Spec,
    spec_file: &Path,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<Simulated, Error> {
    tracing::info!(name = %spec.run.name, nodes = spec.network.nodes, seed, "simulation starting");
    let start = Instant::now();
    let output = match spec.dht.protocol {
        DhtProtocol::Kademlia => run_static_kademlia(
            &spec.network,
            &spec.workload,
            &spec.sim,
            spec.kademlia(),
            seed,
            progress,
        ),
    }
    .map_err(|e| Error::SpecValue {
        file: spec_file.to_path_buf(),
        path_in_spec: e.path,
        value: e.value,
        expected: e.expected,
    })?;
    let wall_time_s = start.elapsed().as_secs_f64();
    tracing::info!(events = output.events, wall_time_s, "simulation finished");
    Ok(Simulated {
        output,
        wall_time_s,
    })
}

/// Everything a finished run reports.
#[derive(Debug)]
pub struct RunReport {
    /// The manifest as written.
    pub manifest: Manifest,
    /// The rows of `summary.csv`.
    pub metrics: Vec<MetricRow>,
    /// The result directory.
    pub out_dir: PathBuf,
}

/// Writes every result file of a simulated run into `out_dir` (created if
/// needed), the manifest last.
pub fn write_results(
    spec: &Spec,
    spec_file: &Path,
    seed: u64,
    sim: &Simulated,
    out_dir: &Path,
) -> Result<RunReport, Error> {
    create_dir(out_dir)?;
    // A manifest left from an earlier run would vouch for files that are
    // about to be replaced.
    match std::fs::remove_file(out_dir.join(MANIFEST)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::write(out_dir.join(MANIFEST), e));
        }
        _ => {}
    }
    let out = &sim.output;
    let mut files: Vec<String> = tables::TABLES.iter().map(|s| s.to_string()).collect();
    tables::write_tables(out_dir, out)?;

    let metrics = summary::metrics(out);
    write_bytes_atomic(
        &out_dir.join("summary.csv"),
        summary::to_csv(&metrics).as_bytes(),
    )?;
    files.push("summary.csv".into());

    let plots = out_dir.join("plots");
    let k = &spec.dht.kademlia;
    let setup = format!("N = {}, k = {}, α = {}", spec.network.nodes, k.k, k.alpha);
    plot::lookup_hops(
        &plots,
        &HopsFigure {
            title: format!("Kademlia lookup hops ({setup})"),
            hops: out.lookups.iter().map(|r| r.hops).collect(),
            nodes: spec.network.nodes as u64,
        },
    )?;
    let mut series = vec![CdfSeries {
        label: "lookups".into(),
        values: out.lookups.iter().map(|r| r.latency_ms).collect(),
    }];
    if !out.puts.is_empty() {
        series.push(CdfSeries {
            label: "gets".into(),
            values: out
                .puts
                .iter()
                .filter(|p| p.found)
                .map(|p| p.get_latency_ms)
                .collect(),
        });
    }
    plot::cdf(
        &plots,
        "lookup_latency_cdf",
        &CdfFigure {
            title: format!("Kademlia lookup and get latency ({setup})"),
            x_desc: "latency (ms)".into(),
            unit: "ms".into(),
            series,
        },
    )?;
    for name in ["lookup_hops", "lookup_latency_cdf"] {
        for ext in ["svg", "png"] {
            files.push(format!("plots/{name}.{ext}"));
        }
    }

    let manifest = Manifest {
        peerlab_version: env!("CARGO_PKG_VERSION").to_string(),
        spec_file: spec_file.display().to_string(),
        spec: spec.clone(),
        seed,
        trace_hash: trace_hash_hex(out.trace_hash),
        events: out.events,
        wall_time_s: sim.wall_time_s,
        events_per_s: events_per_s(out.events, sim.wall_time_s),
        sim_time_s: out.sim_time_s,
        nodes_joined: out.joined,
        messages_dropped: out.dropped,
        lookups: out.lookups.len() as u64,
        puts: out.puts.len() as u64,
        files,
    };
    manifest.write(out_dir)?;
    Ok(RunReport {
        manifest,
        metrics,
        out_dir: out_dir.to_path_buf(),
    })
}

/// Events per wall-clock second (0 for an instantaneous run).
pub fn events_per_s(events: u64, wall_s: f64) -> f64 {
    if wall_s > 0.0 {
        events as f64 / wall_s
    } else {
        0.0
    }
}

/// `peerlab run`: loads the spec, applies `--seed`, simulates with a progress
/// bar, writes the results and prints a short summary to stdout.
pub fn run_command(
    spec_path: &Path,
    out_dir: &Path,
    seed: Option<u64>,
) -> Result<RunReport, Error> {
    let mut spec = Spec::load(spec_path)?;
    if let Some(seed) = seed {
        spec.run.seed = seed;
    }
    let seed = spec.run.seed;
    let mut bar = RunProgress::new(&spec.run.name);
    let sim = simulate(&spec, spec_path, seed, &mut |p| bar.update(p))?;
    bar.finish();
    let report = write_results(&spec, spec_path, seed, &sim, out_dir)?;
    print!("{}", human_summary(&spec, &sim.output, &report));
    Ok(report)
}

fn stat(rows: &[MetricRow], name: &str) -> Option<summary::Stats> {
    rows.iter().find(|r| r.metric == name).map(|r| r.stats)
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", 100.0 * x)
    } else {
        "n/a".into()
    }
}

/// The few lines `peerlab run` prints when it finishes.
pub fn human_summary(spec: &Spec, out: &RunOutput, report: &RunReport) -> String {
    let m = &report.manifest;
    let rows = &report.metrics;
    let nodes = spec.network.nodes;
    let bound = plot::log2_ceil(nodes as u64);
    let mut s = format!(
        "{} (seed {}): {} nodes, {} joined\n",
        spec.run.name, m.seed, nodes, out.joined
    );
    let lookups = out.lookups.len();
    if spec.sim.no_oracle {
        s += &format!("  lookups      {lookups} (success not judged: no_oracle)\n");
    } else {
        let ok = out.lookups.iter().filter(|r| r.success).count();
        let success = stat(rows, "lookup_success").map_or(f64::NAN, |x| x.mean);
        let kc = stat(rows, "lookup_k_closest_fraction").map_or(f64::NAN, |x| x.mean);
        s += &format!(
            "  lookups      {lookups}, success {} ({ok}/{lookups}), k-closest found {}\n",
            pct(success),
            pct(kc)
        );
    }
    if let Some(h) = stat(rows, "lookup_hops").filter(|h| h.n > 0) {
        let verdict = if h.mean <= bound as f64 {
            "within"
        } else {
            "ABOVE"
        };
        s += &format!(
            "  hops         mean {:.2} ± {:.2} (95% CI), {verdict} ⌈log2 N⌉ = {bound}\n",
            h.mean, h.ci95
        );
    }
    if let Some(l) = stat(rows, "lookup_latency_ms").filter(|l| l.n > 0) {
        s += &format!("  latency      mean {:.1} ms\n", l.mean);
    }
    if !out.puts.is_empty() {
        let found = out.puts.iter().filter(|p| p.found).count();
        let other = out
            .puts
            .iter()
            .filter(|p| p.get_origin != p.put_origin)
            .count();
        s += &format!(
            "  gets         {found}/{} found ({}), {other} read from a node other than the putter\n",
            out.puts.len(),
            pct(found as f64 / out.puts.len() as f64)
        );
    }
    s += &format!(
        "  simulation   {} events, {:.0} s simulated, {:.2} s wall, {:.0} events/s\n",
        m.events, m.sim_time_s, m.wall_time_s, m.events_per_s
    );
    s += &format!("  trace_hash   {}\n", m.trace_hash);
    s += &format!("  results      {}\n", report.out_dir.display());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_complete_result_directory() {
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().join("nested/out");
        let spec = Spec::parse(
            "[run]\nname = \"t\"\nseed = 9\n[network]\nnodes = 100\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let sim = Simulated {
            output: crate::tables::tests::sample_output(30),
            wall_time_s: 0.25,
        };
        // A stale manifest must not survive.
        std::fs::create_dir_all(&out_dir).unwrap();
        std::fs::write(out_dir.join(MANIFEST), "stale").unwrap();
        let report = write_results(&spec, Path::new("t.toml"), 9, &sim, &out_dir).unwrap();
        for f in &report.manifest.files {
            assert!(out_dir.join(f).is_file(), "{f} missing");
        }
        let m = Manifest::read(&out_dir).unwrap();
        assert_eq!(m, report.manifest);
        assert_eq!(m.trace_hash, "deadbeef01234567");
        assert_eq!(m.events_per_s, 123_456.0 / 0.25);
        assert_eq!(m.spec.run.seed, 9);
        let text = human_summary(&spec, &sim.output, &report);
        assert!(text.contains("trace_hash   deadbeef01234567"), "{text}");
        assert!(text.contains("⌈log2 N⌉ = 7"), "{text}");
        assert!(text.contains("success 90.00% (27/30)"), "{text}");
        // No temporary files left anywhere.
        for d in [out_dir.clone(), out_dir.join("plots")] {
            for e in std::fs::read_dir(d).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                assert!(!name.starts_with('.'), "temporary {name} left behind");
            }
        }
    }
}
