//! One experiment run: spec and seed in, a complete result directory out.
//!
//! ```text
//! DIR/lookups.parquet  puts.parquet  traffic.parquet  nodes.parquet
//! DIR/traffic_by_class.parquet  (graph and repair tables: crate::graph_out)
//! DIR/summary.csv
//! DIR/spec.toml        (the resolved spec)
//! DIR/plots/*.{svg,png}  DIR/report.html   (see crate::figures)
//! DIR/manifest.json    (written last: its presence marks a complete run)
//! ```
//!
//! The scenario is static unless the spec has a `[churn]` table. A spec that
//! lists several protocols (`dht.protocol = ["kademlia", "chord"]`) runs each
//! with the same seed, so the same ids, churn sample path and workload, and
//! writes one result set: every table has a `protocol` column, `summary.csv`
//! a block of rows per protocol, and the plots are
//! `plots/lookup_hops_cdf.{svg,png}` and `plots/lookup_latency_cdf.{svg,png}`
//! with one curve per protocol.

use crate::error::Error;
use crate::manifest::{MANIFEST, Manifest, ProtocolManifest, combine_trace_hashes, trace_hash_hex};
use crate::output::{create_dir, write_bytes_atomic};
use crate::plot;
use crate::progress::RunProgress;
use crate::simapi::{
    Chord, ChurnError, ChurnModel, ChurnRunError, DhtNode, InvalidConfig, Kademlia, Progress,
    RunOutput, run_churn, run_static,
};
use crate::spec::{DhtProtocol, Spec};
use crate::summary::{self, MetricRow};
use crate::tables::{self, Labelled};
use peerlab_core::hierarchy::Hierarchy;
use peerlab_core::wire::MsgKind;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One protocol's finished simulation, before anything is written.
#[derive(Debug)]
pub struct Simulated {
    /// The protocol simulated.
    pub protocol: DhtProtocol,
    /// What the simulator reported.
    pub output: RunOutput,
    /// Wall-clock seconds the simulation took.
    pub wall_time_s: f64,
}

/// Runs the simulation a spec describes for `protocol` with `seed`, feeding
/// `progress`. `spec_file` names the spec in errors.
pub fn simulate(
    spec: &Spec,
    spec_file: &Path,
    protocol: DhtProtocol,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<Simulated, Error> {
    tracing::info!(name = %spec.run.name, %protocol, nodes = spec.network.nodes, seed, "simulation starting");
    let start = Instant::now();
    let output = match (protocol, &spec.nat) {
        (DhtProtocol::Kademlia, None) => {
            run_one::<Kademlia>(spec, spec_file, spec.kademlia(), seed, progress)
        }
        (DhtProtocol::Chord, None) => {
            run_one::<Chord>(spec, spec_file, spec.chord(), seed, progress)
        }
        (DhtProtocol::Kademlia, Some(nat)) => run_one::<Hierarchy<Kademlia>>(
            spec,
            spec_file,
            nat.overlay::<Kademlia>(spec.kademlia(), seed),
            seed,
            progress,
        ),
        (DhtProtocol::Chord, Some(nat)) => run_one::<Hierarchy<Chord>>(
            spec,
            spec_file,
            nat.overlay::<Chord>(spec.chord(), seed),
            seed,
            progress,
        ),
    }?;
    let wall_time_s = start.elapsed().as_secs_f64();
    tracing::info!(events = output.events, wall_time_s, "simulation finished");
    Ok(Simulated {
        protocol,
        output,
        wall_time_s,
    })
}

/// Runs every protocol of the spec in turn, with the same seed.
pub fn simulate_all(
    spec: &Spec,
    spec_file: &Path,
    seed: u64,
    mut progress: impl FnMut(DhtProtocol) -> RunProgress,
) -> Result<Vec<Simulated>, Error> {
    let mut sims = Vec::new();
    for &p in spec.protocols() {
        let mut bar = progress(p);
        let sim = simulate(spec, spec_file, p, seed, &mut |x| bar.update(x));
        bar.finish();
        sims.push(sim?);
    }
    Ok(sims)
}

fn run_one<D: DhtNode>(
    spec: &Spec,
    spec_file: &Path,
    cfg: D::Config,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutput, Error> {
    let value_error = |path_in_spec: String, value: String, expected: String| Error::SpecValue {
        file: spec_file.to_path_buf(),
        path_in_spec,
        value,
        expected,
    };
    let config_error = |e: InvalidConfig| value_error(e.path, e.value, e.expected);
    let mode = spec.dht.routing.map_or(D::DEFAULT_ROUTING, |r| r.mode());
    let sim_opts = crate::graph_out::sim_options(spec);
    match &spec.churn {
        None => run_static::<D>(
            &spec.network,
            &spec.static_workload(),
            &sim_opts,
            cfg,
            mode,
            seed,
            progress,
        )
        .map_err(config_error),
        Some(churn) => run_churn::<D>(
            &spec.network,
            churn,
            &spec.churn_workload.clone().unwrap_or_default(),
            &sim_opts,
            cfg,
            mode,
            seed,
            progress,
        )
        .map_err(|e| match e {
            ChurnRunError::Config(c) => config_error(c),
            ChurnRunError::Churn(ChurnError::Invalid(p)) => {
                value_error(format!("churn.{}", p.param), p.value, p.expected)
            }
            ChurnRunError::Churn(ChurnError::Trace(t)) => value_error(
                "churn.model.path".into(),
                match &churn.model {
                    ChurnModel::Trace(src) => src.path.display().to_string(),
                    _ => String::new(),
                },
                t.to_string(),
            ),
            ChurnRunError::Workload(p) => {
                value_error(format!("churn_workload.{}", p.param), p.value, p.expected)
            }
        }),
    }
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

/// The name of a churn model's kind, as a spec writes it.
pub fn churn_kind(model: &ChurnModel) -> &'static str {
    match model {
        ChurnModel::Static => "static",
        ChurnModel::Lifetime(_) => "lifetime",
        ChurnModel::Heterogeneous(_) => "heterogeneous",
        ChurnModel::Open(_) => "open",
        ChurnModel::Trace(_) => "trace",
        ChurnModel::Kad => "kad",
        ChurnModel::P2psim => "p2psim",
        ChurnModel::BambooExtreme => "bamboo-extreme",
        ChurnModel::SkypeSupernode => "skype-supernode",
    }
}

/// The overlay size a run's figures and summary quote: the static overlay's
/// size, or the churn model's population.
fn population(spec: &Spec, out: &RunOutput) -> u64 {
    match &spec.churn {
        None => spec.network.nodes as u64,
        Some(c) if c.nodes > 0 => c.nodes as u64,
        Some(_) => out.node_traffic.len() as u64,
    }
}

/// Writes the tables and `summary.csv` of a simulated run into `out_dir`
/// (which must exist): the data a sweep keeps for each run. Returns the
/// files written, relative to `out_dir`, and the rows of `summary.csv`.
pub fn write_data(
    spec: &Spec,
    sims: &[Simulated],
    out_dir: &Path,
) -> Result<(Vec<String>, Vec<MetricRow>), Error> {
    let labelled: Vec<Labelled<'_>> = sims
        .iter()
        .map(|s| Labelled {
            protocol: s.protocol.name(),
            output: &s.output,
        })
        .collect();
    let mut files: Vec<String> = tables::TABLES.iter().map(|s| s.to_string()).collect();
    tables::write_tables(out_dir, &labelled)?;
    files.push(tables::write_traffic_by_class(out_dir, &labelled)?);
    if spec.has_registrations() {
        files.push(tables::write_registrations(out_dir, &labelled)?);
    }
    files.extend(crate::series_tables::write(out_dir, &labelled)?);
    files.extend(crate::graph_out::write(out_dir, spec, &labelled)?);

    let metrics: Vec<MetricRow> = sims
        .iter()
        .flat_map(|s| summary::metrics(s.protocol.name(), &s.output))
        .collect();
    write_bytes_atomic(&out_dir.join(SUMMARY), summary::to_csv(&metrics).as_bytes())?;
    files.push(SUMMARY.into());
    Ok((files, metrics))
}

/// File name of the summary table in a result directory.
pub const SUMMARY: &str = "summary.csv";

/// Writes every result file of a simulated run into `out_dir` (created if
/// needed), the manifest last. `sims` has one entry per protocol, in the
/// spec's order.
pub fn write_results(
    spec: &Spec,
    spec_file: &Path,
    seed: u64,
    sims: &[Simulated],
    out_dir: &Path,
) -> Result<RunReport, Error> {
    if sims.is_empty() {
        return Err(Error::Other("no simulation to write".into()));
    }
    create_dir(out_dir)?;
    // A manifest left from an earlier run would vouch for files that are
    // about to be replaced.
    match std::fs::remove_file(out_dir.join(MANIFEST)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::write(out_dir.join(MANIFEST), e));
        }
        _ => {}
    }
    let (files, metrics) = write_data(spec, sims, out_dir)?;
    let protocols = protocol_manifests(sims);
    let trace_hash = run_trace_hash(sims);
    let wall_time_s: f64 = protocols.iter().map(|p| p.wall_time_s).sum();
    let mut manifest = Manifest::for_protocols(
        spec_file.display().to_string(),
        spec,
        seed,
        trace_hash,
        wall_time_s,
        files,
        protocols,
    );
    crate::figures::render_run(out_dir, &mut manifest)?;
    manifest.write(out_dir)?;
    Ok(RunReport {
        manifest,
        metrics,
        out_dir: out_dir.to_path_buf(),
    })
}

/// What each protocol's simulation reported, for a manifest.
pub fn protocol_manifests(sims: &[Simulated]) -> Vec<ProtocolManifest> {
    sims.iter()
        .map(|s| {
            let out = &s.output;
            ProtocolManifest {
                protocol: s.protocol.name().into(),
                trace_hash: trace_hash_hex(out.trace_hash),
                events: out.events,
                wall_time_s: s.wall_time_s,
                events_per_s: events_per_s(out.events, s.wall_time_s),
                sim_time_s: out.sim_time_s,
                nodes_joined: out.joined,
                messages_dropped: out.dropped,
                lookups: out.lookups.len() as u64,
                puts: out.puts.len() as u64,
            }
        })
        .collect()
}

/// The trace hash of a run: its protocol's, or the protocols' combined in
/// order.
pub fn run_trace_hash(sims: &[Simulated]) -> u64 {
    match sims {
        [one] => one.output.trace_hash,
        many => combine_trace_hashes(&many.iter().map(|s| s.output.trace_hash).collect::<Vec<_>>()),
    }
}

/// Events per wall-clock second (0 for an instantaneous run).
pub fn events_per_s(events: u64, wall_s: f64) -> f64 {
    if wall_s > 0.0 {
        events as f64 / wall_s
    } else {
        0.0
    }
}

/// `peerlab run`: loads the spec, applies `--seed`, simulates every
/// protocol with a progress bar, writes the results and prints a short
/// summary to stdout.
pub fn run_command(
    spec_path: &Path,
    out_dir: &Path,
    seed: Option<u64>,
) -> Result<RunReport, Error> {
    let mut spec = Spec::load(spec_path)?;
    if spec.sweep.is_some() {
        return Err(Error::SpecUnsupported {
            file: spec_path.to_path_buf(),
            path_in_spec: "sweep".into(),
            reason: format!(
                "`peerlab run` runs one spec; run the grid with `peerlab sweep {} --out DIR`",
                spec_path.display()
            ),
        });
    }
    if let Some(seed) = seed {
        spec.run.seed = seed;
    }
    if spec.calls.is_some() {
        return crate::calls_run::run_command(&spec, spec_path, out_dir);
    }
    let seed = spec.run.seed;
    let comparing = spec.is_comparison();
    let sims = simulate_all(&spec, spec_path, seed, |p| {
        if comparing {
            RunProgress::new(&format!("{} {p}", spec.run.name))
        } else {
            RunProgress::new(&spec.run.name)
        }
    })?;
    let report = write_results(&spec, spec_path, seed, &sims, out_dir)?;
    print!("{}", human_summary(&spec, &sims, &report));
    Ok(report)
}

fn stat(rows: &[MetricRow], protocol: DhtProtocol, name: &str) -> Option<summary::Stats> {
    rows.iter()
        .find(|r| r.protocol == protocol.name() && r.metric == name)
        .map(|r| r.stats)
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", 100.0 * x)
    } else {
        "n/a".into()
    }
}

/// The few lines `peerlab run` prints when it finishes: one block per
/// protocol (headed by its name when the run compares protocols).
pub fn human_summary(spec: &Spec, sims: &[Simulated], report: &RunReport) -> String {
    let m = &report.manifest;
    let rows = &report.metrics;
    let comparing = sims.len() > 1;
    let first = sims.first().map(|s| &s.output);
    let nodes = first.map_or(spec.network.nodes as u64, |o| population(spec, o));
    let mut s = format!("{} (seed {}): {nodes} nodes", spec.run.name, m.seed);
    match &spec.churn {
        None if !comparing => {
            s += &format!(", {} joined", first.map_or(0, |o| o.joined));
        }
        None => {}
        Some(c) => s += &format!(", {} churn", churn_kind(&c.model)),
    }
    if comparing || spec.protocols() != [DhtProtocol::Kademlia] {
        let names: Vec<&str> = sims.iter().map(|x| x.protocol.name()).collect();
        s += &format!(
            ", {} {}",
            if comparing { "comparing" } else { "protocol" },
            names.join(" vs ")
        );
    }
    if let Some(r) = spec.dht.routing {
        s += &format!(", {} routing", r.name());
    }
    s += "\n";
    for sim in sims {
        let out = &sim.output;
        let p = sim.protocol;
        if comparing {
            s += &format!("{p}:\n");
        }
        let measured = out.lookups.iter().filter(|r| r.measured).count();
        let all = out.lookups.len();
        let counted = if measured == all {
            format!("{all}")
        } else {
            format!("{measured} measured of {all}")
        };
        if spec.sim.no_oracle {
            s += &format!("  lookups      {counted} (success not judged: no_oracle)\n");
        } else {
            let ok = out
                .lookups
                .iter()
                .filter(|r| r.measured && r.success)
                .count();
            let success = stat(rows, p, "lookup_success").map_or(f64::NAN, |x| x.mean);
            let kc = stat(rows, p, "lookup_k_closest_fraction").map_or(f64::NAN, |x| x.mean);
            s += &format!(
                "  lookups      {counted}, success {} ({ok}/{measured}), k-closest found {}\n",
                pct(success),
                pct(kc)
            );
        }
        if let Some(h) = stat(rows, p, "lookup_hops").filter(|h| h.n > 0) {
            s += &format!("  hops         mean {:.2} ± {:.2} (95% CI)", h.mean, h.ci95);
            if spec.churn.is_none() {
                match p {
                    DhtProtocol::Kademlia => {
                        let bound = plot::log2_ceil(nodes);
                        let verdict = if h.mean <= bound as f64 {
                            "within"
                        } else {
                            "ABOVE"
                        };
                        s += &format!(", {verdict} ⌈log2 N⌉ = {bound}");
                    }
                    DhtProtocol::Chord => {
                        let half = 0.5 * (nodes.max(1) as f64).log2();
                        s += &format!(
                            ", ½·log2 N = {half:.2} ({:+.1}%)",
                            100.0 * (h.mean / half - 1.0)
                        );
                    }
                }
            }
            s += "\n";
        }
        if let Some(l) = stat(rows, p, "lookup_latency_ms").filter(|l| l.n > 0) {
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
        if !out.registrations.is_empty() {
            s += &registration_line(out);
        }
        if let Some(w) = &out.measurement {
            let node_s = w.node_seconds.max(f64::MIN_POSITIVE);
            s += &format!(
                "  traffic      {:.1} bytes/node/s, {:.2} messages/node/s in the measurement phase ({:.0} nodes online on average)\n",
                w.bytes_per_node_s(),
                w.traffic.total_messages() as f64 / node_s,
                w.node_seconds / (w.end_s - w.start_s).max(f64::MIN_POSITIVE)
            );
            let mut kinds: Vec<(MsgKind, u64)> = MsgKind::ALL
                .iter()
                .map(|&k| (k, w.traffic.bytes[k.index()]))
                .filter(|&(_, b)| b > 0)
                .collect();
            kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
            if !kinds.is_empty() {
                let parts: Vec<String> = kinds
                    .iter()
                    .map(|(k, b)| format!("{} {:.1}", k.name(), *b as f64 / node_s))
                    .collect();
                s += &format!("  by kind      {} (bytes/node/s)\n", parts.join(", "));
            }
        }
        s += &crate::graph_out::summary(out);
        s += &format!(
            "  simulation   {} events, {:.0} s simulated, {:.2} s wall, {:.0} events/s\n",
            out.events,
            out.sim_time_s,
            sim.wall_time_s,
            events_per_s(out.events, sim.wall_time_s)
        );
        s += &format!("  trace_hash   {}\n", trace_hash_hex(out.trace_hash));
    }
    if comparing {
        s += &format!("trace_hash (combined) {}\n", m.trace_hash);
    }
    s += &format!("  results      {}\n", report.out_dir.display());
    s
}

/// The registration reads of a churn run, for the printed summary.
fn registration_line(out: &RunOutput) -> String {
    let m: Vec<_> = out.registrations.iter().filter(|r| r.measured).collect();
    let count = |f: fn(&crate::simapi::RegistrationRead) -> bool| m.iter().filter(|r| f(r)).count();
    let ok = count(|r| r.correct);
    let share = ok as f64 / m.len().max(1) as f64;
    format!(
        "  registrations {ok}/{} measured reads as the global view says ({}): {} stale, {} missing; {} expected a contact\n",
        m.len(),
        pct(share),
        count(|r| r.stale),
        count(|r| r.missing),
        count(|r| r.expected == 1),
    )
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
            protocol: DhtProtocol::Kademlia,
            output: crate::tables::tests::sample_output(30),
            wall_time_s: 0.25,
        };
        // A stale manifest must not survive.
        std::fs::create_dir_all(&out_dir).unwrap();
        std::fs::write(out_dir.join(MANIFEST), "stale").unwrap();
        let sims = [sim];
        let report = write_results(&spec, Path::new("t.toml"), 9, &sims, &out_dir).unwrap();
        for f in &report.manifest.files {
            assert!(out_dir.join(f).is_file(), "{f} missing");
        }
        let m = Manifest::read(&out_dir).unwrap();
        assert_eq!(m, report.manifest);
        assert_eq!(m.trace_hash, "deadbeef01234567");
        assert_eq!(m.events_per_s, 123_456.0 / 0.25);
        assert_eq!(m.spec.run.seed, 9);
        let text = human_summary(&spec, &sims, &report);
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
