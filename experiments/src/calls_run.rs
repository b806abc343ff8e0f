//! A calls run: a spec with `[calls]` ([`crate::calls_spec`]) in, a result
//! directory out.
//!
//! ```text
//! DIR/calls.parquet  relay_sessions.parquet  relay_nodes.parquet   (crate::calls_tables)
//! DIR/summary.csv                          (one row per variant)
//! DIR/spec.toml                            (the resolved spec)
//! DIR/plots/added_delay_cdf.{svg,png}  path_types  jain  spare_p5  probes
//!          success_vs_duration             (crate::figures, from the tables)
//! DIR/report.html
//! DIR/manifest.json                        (written last)
//! ```
//!
//! The population (churn, NAT classes, topology, call stream) is built once
//! per failover setting and every strategy runs on it; since it depends on
//! the seed alone, every variant sees the same sample path. The manifest's
//! `trace_hash` is an FNV-1a hash of `calls.parquet`,
//! `relay_sessions.parquet` and `relay_nodes.parquet` (byte-identical for identical runs), `events` the
//! calls simulated over all variants, `nodes_joined` the population and
//! `sim_time_s` the churn horizon; `protocols` is empty.
//!
//! `peerlab run` prints, per variant, the success rate with its Wilson 95%
//! interval, the added delay, Jain's index and the public nodes' burden:
//! TCP-relayed calls per public node and the bandwidth a public node spends
//! (own calls plus TCP relaying, in units of one call's bytes at an
//! endpoint), both also as multiples of N, the calls placed per node (the
//! blog's "5×N" and "11×N", `experiments/specs/blog_burden.toml`).

use crate::calls_spec::Variant;
use crate::calls_tables::{self, VariantRun, wilson95};
use crate::error::Error;
use crate::manifest::{MANIFEST, Manifest, ProtocolManifest, trace_hash_hex};
use crate::output::{create_dir, write_bytes_atomic};
use crate::record::{RunProtocol, VariantOf};
use crate::run::{RunReport, churn_kind, events_per_s};
use crate::spec::Spec;
use peerlab_churn::NatClass;
use peerlab_sim::calls::{CallReport, CallRun, CallSummary};
use std::path::Path;
use std::time::Instant;

/// Every variant's report, in the spec's order.
pub struct Simulated {
    /// The variants.
    pub variants: Vec<Variant>,
    /// Their reports, in the same order.
    pub reports: Vec<CallReport>,
    /// Wall-clock seconds of each variant's simulation (the population's
    /// construction is counted in the first variant of its failover).
    pub variant_wall_s: Vec<f64>,
    /// Wall-clock seconds of all simulations.
    pub wall_time_s: f64,
}

/// Runs every variant of the spec's `[calls]` with `seed`.
pub fn simulate(spec: &Spec, spec_file: &Path, seed: u64) -> Result<Simulated, Error> {
    let Some(calls) = &spec.calls else {
        return Err(Error::Other("the spec has no [calls] table".into()));
    };
    let variants = calls.variants(seed);
    let value_error = |e: peerlab_sim::config::InvalidConfig| Error::SpecValue {
        file: spec_file.to_path_buf(),
        path_in_spec: format!("calls.{}", e.path),
        value: e.value,
        expected: e.expected,
    };
    let start = Instant::now();
    let mut reports = Vec::with_capacity(variants.len());
    let mut variant_wall_s = Vec::with_capacity(variants.len());
    // Variants are failover-major: build the population once per failover.
    let per = calls.strategy_list().len();
    for chunk in variants.chunks(per) {
        let t = Instant::now();
        let run = CallRun::new(&chunk[0].config).map_err(value_error)?;
        let mut built_s = t.elapsed().as_secs_f64();
        tracing::info!(wall_s = built_s, "calls population built");
        for v in chunk {
            let t = Instant::now();
            let built = v.config.strategy.build();
            reports.push(run.run(built.as_ref()).map_err(value_error)?);
            let wall_s = t.elapsed().as_secs_f64();
            tracing::info!(variant = %v.label, wall_s, "variant simulated");
            variant_wall_s.push(wall_s + std::mem::take(&mut built_s));
        }
    }
    Ok(Simulated {
        variants,
        reports,
        variant_wall_s,
        wall_time_s: start.elapsed().as_secs_f64(),
    })
}

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

fn variant_runs(sim: &Simulated) -> Vec<VariantRun<'_>> {
    sim.variants
        .iter()
        .zip(&sim.reports)
        .map(|(variant, report)| VariantRun { variant, report })
        .collect()
}

/// What [`write_data`] wrote.
pub struct Data {
    /// The files written, relative to the directory.
    pub files: Vec<String>,
    /// Each variant's summary, in variant order.
    pub summaries: Vec<CallSummary>,
    /// FNV-1a of the tables' bytes: the run's trace hash.
    pub hash: u64,
}

/// Writes the tables and `summary.csv` of a calls run into `out_dir`
/// (which must exist): the data a sweep keeps for each run.
pub fn write_data(sim: &Simulated, out_dir: &Path) -> Result<Data, Error> {
    let runs = variant_runs(sim);
    let mut files = calls_tables::write_tables(out_dir, &runs)?;
    let mut hash = 0xCBF2_9CE4_8422_2325;
    for f in &files {
        let p = out_dir.join(f);
        let bytes = std::fs::read(&p)
            .map_err(|e| Error::Other(format!("cannot read back {}: {e}", p.display())))?;
        hash = fnv1a(hash, &bytes);
    }
    let summaries: Vec<CallSummary> = sim.reports.iter().map(CallReport::summary).collect();
    let rows: Vec<(&Variant, &CallSummary)> = sim.variants.iter().zip(&summaries).collect();
    write_bytes_atomic(
        &out_dir.join("summary.csv"),
        calls_tables::summary_csv(&rows).as_bytes(),
    )?;
    files.push("summary.csv".into());
    Ok(Data {
        files,
        summaries,
        hash,
    })
}

/// One run of a calls sweep: simulates every variant of `spec` with `seed`
/// and writes its data into `out_dir` ([`write_data`]). Returns the files,
/// one [`RunProtocol`] per variant (its label in `protocol`, its strategy
/// and failover in `variant`, the run-level metrics of
/// [`calls_tables::run_metrics`]; its trace hash is FNV-1a of the
/// variant's report as JSON), the run's trace hash (as `peerlab run`'s
/// manifest has it) and the wall time.
pub fn sweep_run(
    spec: &Spec,
    spec_file: &Path,
    seed: u64,
    out_dir: &Path,
) -> Result<(Vec<String>, Vec<RunProtocol>, u64, f64), Error> {
    let sim = simulate(spec, spec_file, seed)?;
    let data = write_data(&sim, out_dir)?;
    let sim_time_s = horizon(spec);
    let mut protocols = Vec::with_capacity(sim.variants.len());
    for (i, (v, r)) in sim.variants.iter().zip(&sim.reports).enumerate() {
        let json = serde_json::to_vec(r)
            .map_err(|e| Error::Other(format!("cannot serialize a call report: {e}")))?;
        let events = r.calls.len() as u64;
        let wall_time_s = sim.variant_wall_s[i];
        protocols.push(RunProtocol {
            run: ProtocolManifest {
                protocol: v.label.clone(),
                trace_hash: trace_hash_hex(fnv1a(0xCBF2_9CE4_8422_2325, &json)),
                events,
                wall_time_s,
                events_per_s: events_per_s(events, wall_time_s),
                sim_time_s,
                nodes_joined: r.nodes.len() as u32,
                messages_dropped: 0,
                lookups: 0,
                puts: 0,
            },
            variant: Some(VariantOf {
                strategy: v.strategy.clone(),
                failover: v.failover.clone(),
            }),
            metrics: calls_tables::run_metrics(&data.summaries[i]),
        });
    }
    Ok((data.files, protocols, data.hash, sim.wall_time_s))
}

/// The churn horizon of a calls spec (NaN when it cannot be built).
fn horizon(spec: &Spec) -> f64 {
    spec.calls
        .as_ref()
        .and_then(|c| c.churn.build().ok())
        .map_or(f64::NAN, |sc| sc.phases().end_s)
}

/// Writes every result file of a calls run into `out_dir`, the manifest
/// last.
pub fn write_results(
    spec: &Spec,
    spec_file: &Path,
    seed: u64,
    sim: &Simulated,
    out_dir: &Path,
) -> Result<(RunReport, Vec<CallSummary>), Error> {
    create_dir(out_dir)?;
    match std::fs::remove_file(out_dir.join(MANIFEST)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::write(out_dir.join(MANIFEST), e));
        }
        _ => {}
    }
    let Data {
        files,
        summaries,
        hash,
    } = write_data(sim, out_dir)?;

    let events: u64 = sim.reports.iter().map(|r| r.calls.len() as u64).sum();
    let sim_time_s = horizon(spec);
    let mut manifest = Manifest {
        peerlab_version: env!("CARGO_PKG_VERSION").to_string(),
        spec_file: spec_file.display().to_string(),
        spec: spec.clone(),
        seed,
        trace_hash: trace_hash_hex(hash),
        events,
        wall_time_s: sim.wall_time_s,
        events_per_s: events_per_s(events, sim.wall_time_s),
        sim_time_s,
        nodes_joined: sim.reports.first().map_or(0, |r| r.nodes.len() as u32),
        messages_dropped: 0,
        lookups: 0,
        puts: 0,
        files,
        protocols: Vec::new(),
        sweep: None,
    };
    // The figures and report from the tables just written: the same path
    // `peerlab plot DIR` takes.
    crate::figures::render_run(out_dir, &mut manifest)?;
    manifest.write(out_dir)?;
    Ok((
        RunReport {
            manifest,
            metrics: Vec::new(),
            out_dir: out_dir.to_path_buf(),
        },
        summaries,
    ))
}

/// The public nodes' burden in one run (the blog's figures).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burden {
    /// Calls placed per node (N).
    pub calls_per_node: f64,
    /// Public nodes.
    pub public_nodes: usize,
    /// TCP-relayed calls per public node.
    pub tcp_relayed_per_public: f64,
    /// Bandwidth per public node (own calls and TCP relaying), in calls:
    /// bytes over the mean bytes a caller moves in one call it placed.
    pub bandwidth_calls_per_public: f64,
}

/// The public nodes' burden, from the node statistics of the whole run.
pub fn burden(r: &CallReport) -> Burden {
    let n = r.nodes.len().max(1) as f64;
    let made: f64 = r.nodes.iter().map(|x| f64::from(x.calls_made)).sum();
    let own: f64 = r.nodes.iter().map(|x| x.own_bytes as f64).sum();
    let unit = if made > 0.0 { own / made } else { f64::NAN };
    let public: Vec<_> = r
        .nodes
        .iter()
        .filter(|x| x.class == Some(NatClass::Open))
        .collect();
    let np = public.len().max(1) as f64;
    Burden {
        calls_per_node: made / n,
        public_nodes: public.len(),
        tcp_relayed_per_public: public.iter().map(|x| f64::from(x.relayed_tcp)).sum::<f64>() / np,
        bandwidth_calls_per_public: public
            .iter()
            .map(|x| (x.own_bytes + x.relayed_tcp_bytes) as f64)
            .sum::<f64>()
            / unit
            / np,
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", 100.0 * x)
    } else {
        "n/a".into()
    }
}

/// The lines `peerlab run` prints for a calls run.
pub fn human_summary(
    spec: &Spec,
    sim: &Simulated,
    summaries: &[CallSummary],
    report: &RunReport,
) -> String {
    let mut s = format!("{} (seed {}): calls", spec.run.name, report.manifest.seed);
    if let Some(c) = &spec.calls {
        s += &format!(
            ", {} nodes, {} churn, {} variant(s) on one sample path",
            c.churn.nodes,
            churn_kind(&c.churn.model),
            sim.variants.len()
        );
    }
    s += "\n";
    for ((v, r), m) in sim.variants.iter().zip(&sim.reports).zip(summaries) {
        let (lo, hi) = wilson95(m.successes, m.calls);
        let rate = m.successes as f64 / m.calls.max(1) as f64;
        let relayed = m.paths[2] + m.paths[3];
        s += &format!("{}:\n", v.label);
        s += &format!(
            "  success      {} ({}/{} measured calls), 95% CI [{}, {}] (Wilson)\n",
            pct(rate),
            m.successes,
            m.calls,
            pct(lo),
            pct(hi)
        );
        s += &format!(
            "  paths        direct {}, punched {}, relay-udp {}, relay-tcp {}; failed: user not found {}, no connectivity {}, relay refused {}, relay lost {}; interrupted {}\n",
            m.paths[0],
            m.paths[1],
            m.paths[2],
            m.paths[3],
            m.failures[0],
            m.failures[1],
            m.failures[2],
            m.failures[3],
            m.calls - m.successes - m.failures.iter().sum::<usize>()
        );
        if relayed > 0 {
            s += &format!(
                "  added delay  mean {:.1} ms, median {:.1} ms, p95 {:.1} ms over {relayed} relayed calls; setup mean {:.0} ms\n",
                m.added_mean_ms, m.added_p50_ms, m.added_p95_ms, m.setup_mean_ms
            );
            s += &format!(
                "  relays       Jain {:.3}, spare uplink p5 {:.0} kb/s, {:.2} probes/selection, {:.4} interruptions/relayed call\n",
                m.jain, m.spare_p5_kbps, m.probes_per_selection, m.interruptions_per_relayed_call
            );
        }
        let b = burden(r);
        s += &format!(
            "  public nodes {} = {} of nodes, carry {} of relayed bytes\n",
            b.public_nodes,
            pct(m.public_population_share),
            pct(m.public_relay_share)
        );
        if b.tcp_relayed_per_public > 0.0 {
            s += &format!(
                "  burden       per public node {:.3} TCP-relayed calls = {:.3} × N, bandwidth of {:.3} calls = {:.3} × N (N = {:.3} calls placed per node)\n",
                b.tcp_relayed_per_public,
                b.tcp_relayed_per_public / b.calls_per_node,
                b.bandwidth_calls_per_public,
                b.bandwidth_calls_per_public / b.calls_per_node,
                b.calls_per_node
            );
        }
    }
    s += &format!(
        "  simulation   {} calls over all variants, {:.2} s wall\n",
        report.manifest.events, sim.wall_time_s
    );
    s += &format!("  trace_hash   {}\n", report.manifest.trace_hash);
    s += &format!("  results      {}\n", report.out_dir.display());
    s
}

/// `peerlab run` for a spec with `[calls]` (its seed already applied).
pub fn run_command(spec: &Spec, spec_path: &Path, out_dir: &Path) -> Result<RunReport, Error> {
    let seed = spec.run.seed;
    let sim = simulate(spec, spec_path, seed)?;
    let (report, summaries) = write_results(spec, spec_path, seed, &sim, out_dir)?;
    print!("{}", human_summary(spec, &sim, &summaries, &report));
    Ok(report)
}
