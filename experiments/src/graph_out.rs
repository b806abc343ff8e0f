//! The overlay-graph outputs of a run: snapshot metrics, in-degree
//! distributions, GraphML/DOT exports and the mass-failure repair report.
//!
//! A spec asks for snapshots with a `[graph]` table:
//!
//! ```toml
//! [graph]
//! at_s = [1499.0, 1500.0]      # simulated times of the snapshots
//! export = ["graphml", "dot"]  # also write each snapshot's graph
//! ```
//!
//! (the times join `sim.snapshot_at_s`), and for a mass failure with
//! `workload.fail_fraction` and `workload.fail_at_s` (static scenario). The
//! run then writes, besides the usual tables:
//!
//! | file | one row per | columns |
//! |---|---|---|
//! | `graph_metrics.parquet` | snapshot and protocol | `time_s` f64, `kind` str (`snapshot`, or `after_failure` for the graph right after a mass failure), `nodes` u32, `live_nodes` u32, `edges` u64, `entries` u64, `dead_entries` u64, `dead_entry_share` f64, `scc_count` u32, `largest_scc_share` f64 (of live nodes), `mean_path_length` f64, `diameter` u32 (null: no reachable pair), `reachable_pair_share` f64, `bfs_sources` u32, `bfs_sampled` bool, `in_degree_mean` f64, `in_degree_std` f64, `in_degree_min` u32, `in_degree_median` u32, `in_degree_max` u32, `protocol` str |
//! | `in_degree.parquet` | snapshot, in-degree and protocol | `time_s` f64, `kind` str, `in_degree` u32, `nodes` u32 (live nodes with that in-degree; zero counts left out), `protocol` str |
//! | `repair.parquet` | protocol with a mass failure | `fail_at_s` f64, `failed_nodes` u32, `live_nodes_after` u32, `dead_entry_share_after` f64, `scc_count_after` u32, `largest_scc_share_after` f64, `threshold` f64, `dead_share_repair_s` f64 (null: not within the sampling window), `successors_repair_s` f64 (Chord; null otherwise), `samples` u32, `protocol` str |
//! | `repair_samples.parquet` | repair sample and protocol | `time_s` f64, `since_failure_s` f64, `dead_entry_share` f64, `wrong_successors` u32 (Chord; null otherwise), `protocol` str |
//! | `graphs/<protocol>_t<time>s.{graphml,dot}` | snapshot | the graph ([`OverlayGraph::write_graphml`], [`OverlayGraph::write_dot`]) |
//!
//! The graph tables are written when some protocol took a snapshot or had
//! a mass failure; the repair tables when some protocol had a mass failure.

use crate::error::Error;
use crate::output::{create_dir, write_atomic};
use crate::simapi::{
    GraphSnapshot, OverlayGraph, RepairReport, RepairSample, RunOutput, SimOptions,
};
use crate::spec::Spec;
use crate::tables::{Labelled, frame, write_parquet};
use polars::prelude::{Column, DataFrame, NamedFrom, PolarsResult, Series};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `graph_metrics.parquet`.
pub const GRAPH_METRICS: &str = "graph_metrics.parquet";
/// `in_degree.parquet`.
pub const IN_DEGREE: &str = "in_degree.parquet";
/// `repair.parquet`.
pub const REPAIR: &str = "repair.parquet";
/// `repair_samples.parquet`.
pub const REPAIR_SAMPLES: &str = "repair_samples.parquet";
/// The directory of graph exports.
pub const GRAPHS_DIR: &str = "graphs";

/// `[graph]`: overlay-graph snapshots and their export.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphSection {
    /// Simulated times, in seconds, at which to snapshot the overlay graph
    /// (after every event at that time, so a snapshot at a mass failure's
    /// time sees the failure).
    pub at_s: Vec<f64>,
    /// Formats each snapshot's graph is exported in, under `graphs/`.
    pub export: Vec<GraphFormat>,
}

/// A graph export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphFormat {
    /// GraphML (`.graphml`), for Gephi, NetworkX, igraph.
    Graphml,
    /// Graphviz DOT (`.dot`).
    Dot,
}

impl GraphFormat {
    fn ext(self) -> &'static str {
        match self {
            GraphFormat::Graphml => "graphml",
            GraphFormat::Dot => "dot",
        }
    }
}

impl GraphSection {
    /// Checks the section: the first bad field as (dotted path, value,
    /// what is allowed).
    pub fn validate(&self) -> Result<(), (String, String, String)> {
        for (i, &t) in self.at_s.iter().enumerate() {
            if !t.is_finite() || t < 0.0 {
                return Err((
                    format!("graph.at_s[{i}]"),
                    t.to_string(),
                    "a finite number of seconds >= 0".into(),
                ));
            }
        }
        if !self.export.is_empty() && self.at_s.is_empty() {
            return Err((
                "graph.export".into(),
                format!("{:?}", self.export),
                "snapshot times in graph.at_s to export".into(),
            ));
        }
        Ok(())
    }
}

/// The simulator options of a spec: `[sim]`, with the `[graph]` times added
/// (sorted, without duplicates) and graphs kept when they are exported.
pub fn sim_options(spec: &Spec) -> SimOptions {
    let mut opts = spec.sim.clone();
    opts.series = spec.series.clone();
    if let Some(g) = &spec.graph {
        opts.snapshot_at_s.extend(&g.at_s);
        opts.snapshot_at_s.sort_by(f64::total_cmp);
        opts.snapshot_at_s.dedup();
        opts.snapshot_graphs |= !g.export.is_empty();
    }
    opts
}

/// One snapshot of one protocol, labelled.
struct Snap<'a> {
    protocol: &'a str,
    kind: &'static str,
    s: &'a GraphSnapshot,
}

/// Every snapshot of every run, in time order per protocol (the graph right
/// after a failure before a scheduled snapshot at the same time).
fn snaps<'a>(runs: &[Labelled<'a>]) -> Vec<Snap<'a>> {
    let mut out = Vec::new();
    for r in runs {
        let mut v: Vec<Snap<'a>> = r
            .output
            .snapshots
            .iter()
            .map(|s| Snap {
                protocol: r.protocol,
                kind: "snapshot",
                s,
            })
            .collect();
        if let Some(rep) = &r.output.repair {
            v.push(Snap {
                protocol: r.protocol,
                kind: "after_failure",
                s: &rep.after_failure,
            });
        }
        v.sort_by(|a, b| {
            a.s.time_s
                .total_cmp(&b.s.time_s)
                .then((a.kind == "snapshot").cmp(&(b.kind == "snapshot")))
        });
        out.extend(v);
    }
    out
}

fn column<T, V>(name: &str, rows: &[T], f: impl Fn(&T) -> V) -> Column
where
    Series: NamedFrom<Vec<V>, [V]>,
{
    Column::new(name.into(), rows.iter().map(f).collect::<Vec<V>>())
}

/// In-degree statistics of live nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct DegreeStats {
    mean: f64,
    /// Population standard deviation.
    std: f64,
    min: u32,
    /// The lower median.
    median: u32,
    max: u32,
}

/// In-degree statistics from a histogram (`h[d]` nodes with in-degree `d`).
fn in_degree_stats(h: &[u32]) -> DegreeStats {
    let n: u64 = h.iter().map(|&c| c as u64).sum();
    if n == 0 {
        return DegreeStats::default();
    }
    let mean = h
        .iter()
        .enumerate()
        .map(|(d, &c)| d as f64 * c as f64)
        .sum::<f64>()
        / n as f64;
    let var = h
        .iter()
        .enumerate()
        .map(|(d, &c)| c as f64 * (d as f64 - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let min = h.iter().position(|&c| c > 0).unwrap_or(0) as u32;
    let max = h.iter().rposition(|&c| c > 0).unwrap_or(0) as u32;
    let half = n.div_ceil(2);
    let mut seen = 0u64;
    let mut median = 0;
    for (d, &c) in h.iter().enumerate() {
        seen += c as u64;
        if seen >= half {
            median = d as u32;
            break;
        }
    }
    DegreeStats {
        mean,
        std: var.sqrt(),
        min,
        median,
        max,
    }
}

fn largest_scc_share(s: &GraphSnapshot) -> f64 {
    match (s.scc_sizes.first(), s.live_nodes) {
        (Some(&l), n) if n > 0 => l as f64 / n as f64,
        _ => 0.0,
    }
}

/// One row per snapshot and protocol.
pub fn graph_metrics_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows = snaps(runs);
    let deg: Vec<DegreeStats> = rows
        .iter()
        .map(|r| in_degree_stats(&r.s.in_degree_histogram))
        .collect();
    frame(vec![
        column("time_s", &rows, |r| r.s.time_s),
        column("kind", &rows, |r| r.kind.to_string()),
        column("nodes", &rows, |r| r.s.nodes),
        column("live_nodes", &rows, |r| r.s.live_nodes),
        column("edges", &rows, |r| r.s.edges),
        column("entries", &rows, |r| r.s.entries),
        column("dead_entries", &rows, |r| r.s.dead_entries),
        column("dead_entry_share", &rows, |r| r.s.dead_entry_share),
        column("scc_count", &rows, |r| r.s.scc_count),
        column("largest_scc_share", &rows, |r| largest_scc_share(r.s)),
        column("mean_path_length", &rows, |r| r.s.mean_path_length),
        column("diameter", &rows, |r| r.s.diameter),
        column("reachable_pair_share", &rows, |r| r.s.reachable_pair_share),
        column("bfs_sources", &rows, |r| r.s.bfs_sources),
        column("bfs_sampled", &rows, |r| r.s.bfs_sampled),
        column("in_degree_mean", &deg, |d| d.mean),
        column("in_degree_std", &deg, |d| d.std),
        column("in_degree_min", &deg, |d| d.min),
        column("in_degree_median", &deg, |d| d.median),
        column("in_degree_max", &deg, |d| d.max),
        column("protocol", &rows, |r| r.protocol.to_string()),
    ])
}

/// One row per snapshot, in-degree (with at least one node) and protocol.
pub fn in_degree_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<(Snap<'_>, u32, u32)> = snaps(runs)
        .into_iter()
        .flat_map(|snap| {
            let h: Vec<(u32, u32)> = snap
                .s
                .in_degree_histogram
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(d, &c)| (d as u32, c))
                .collect();
            h.into_iter().map(move |(d, c)| {
                (
                    Snap {
                        protocol: snap.protocol,
                        kind: snap.kind,
                        s: snap.s,
                    },
                    d,
                    c,
                )
            })
        })
        .collect();
    frame(vec![
        column("time_s", &rows, |r| r.0.s.time_s),
        column("kind", &rows, |r| r.0.kind.to_string()),
        column("in_degree", &rows, |r| r.1),
        column("nodes", &rows, |r| r.2),
        column("protocol", &rows, |r| r.0.protocol.to_string()),
    ])
}

/// One row per protocol that had a mass failure.
pub fn repair_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<(&str, &RepairReport)> = runs
        .iter()
        .filter_map(|r| r.output.repair.as_ref().map(|rep| (r.protocol, rep)))
        .collect();
    frame(vec![
        column("fail_at_s", &rows, |r| r.1.fail_at_s),
        column("failed_nodes", &rows, |r| r.1.failed.len() as u32),
        column("live_nodes_after", &rows, |r| r.1.after_failure.live_nodes),
        column("dead_entry_share_after", &rows, |r| {
            r.1.after_failure.dead_entry_share
        }),
        column("scc_count_after", &rows, |r| r.1.after_failure.scc_count),
        column("largest_scc_share_after", &rows, |r| {
            largest_scc_share(&r.1.after_failure)
        }),
        column("threshold", &rows, |r| r.1.threshold),
        column("dead_share_repair_s", &rows, |r| r.1.dead_share_repair_s),
        column("successors_repair_s", &rows, |r| r.1.successors_repair_s),
        column("samples", &rows, |r| r.1.samples.len() as u32),
        column("protocol", &rows, |r| r.0.to_string()),
    ])
}

/// One row per repair sample and protocol.
pub fn repair_samples_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<(&str, f64, &RepairSample)> = runs
        .iter()
        .filter_map(|r| r.output.repair.as_ref().map(|rep| (r.protocol, rep)))
        .flat_map(|(p, rep)| rep.samples.iter().map(move |s| (p, rep.fail_at_s, s)))
        .collect();
    frame(vec![
        column("time_s", &rows, |r| r.2.time_s),
        column("since_failure_s", &rows, |r| r.2.time_s - r.1),
        column("dead_entry_share", &rows, |r| r.2.dead_entry_share),
        column("wrong_successors", &rows, |r| r.2.wrong_successors),
        column("protocol", &rows, |r| r.0.to_string()),
    ])
}

/// The file name of a snapshot's export: `<protocol>_t<time>s.<ext>`.
pub fn export_name(protocol: &str, time_s: f64, format: GraphFormat) -> String {
    format!("{protocol}_t{time_s}s.{}", format.ext())
}

fn export(path: &Path, g: &OverlayGraph, format: GraphFormat) -> Result<(), Error> {
    write_atomic(path, |w| {
        match format {
            GraphFormat::Graphml => g.write_graphml(w),
            GraphFormat::Dot => g.write_dot(w),
        }
        .map_err(|e| Error::write(path, e))
    })
}

/// Writes the graph and repair outputs of `runs` into `dir`; returns the
/// files written, relative to `dir`.
pub fn write(dir: &Path, spec: &Spec, runs: &[Labelled<'_>]) -> Result<Vec<String>, Error> {
    let table_err = |name: &'static str| {
        move |source| Error::Table {
            name: name.to_string(),
            source,
        }
    };
    let mut files = Vec::new();
    let any_snapshot = runs
        .iter()
        .any(|r| !r.output.snapshots.is_empty() || r.output.repair.is_some());
    if any_snapshot {
        let mut df = graph_metrics_frame(runs).map_err(table_err(GRAPH_METRICS))?;
        write_parquet(&dir.join(GRAPH_METRICS), &mut df)?;
        let mut df = in_degree_frame(runs).map_err(table_err(IN_DEGREE))?;
        write_parquet(&dir.join(IN_DEGREE), &mut df)?;
        files.extend([GRAPH_METRICS.to_string(), IN_DEGREE.to_string()]);
    }
    if runs.iter().any(|r| r.output.repair.is_some()) {
        let mut df = repair_frame(runs).map_err(table_err(REPAIR))?;
        write_parquet(&dir.join(REPAIR), &mut df)?;
        let mut df = repair_samples_frame(runs).map_err(table_err(REPAIR_SAMPLES))?;
        write_parquet(&dir.join(REPAIR_SAMPLES), &mut df)?;
        files.extend([REPAIR.to_string(), REPAIR_SAMPLES.to_string()]);
    }
    let formats = spec.graph.as_ref().map_or(&[][..], |g| &g.export[..]);
    if !formats.is_empty() && runs.iter().any(|r| !r.output.graphs.is_empty()) {
        let graphs = dir.join(GRAPHS_DIR);
        create_dir(&graphs)?;
        for r in runs {
            for g in &r.output.graphs {
                for &f in formats {
                    let name = export_name(r.protocol, g.time_s(), f);
                    export(&graphs.join(&name), g, f)?;
                    files.push(format!("{GRAPHS_DIR}/{name}"));
                }
            }
        }
    }
    Ok(files)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// The lines `peerlab run` prints about one protocol's snapshots and mass
/// failure (empty when it had neither).
pub fn summary(out: &RunOutput) -> String {
    let mut s = String::new();
    for g in &out.snapshots {
        let path = match (g.mean_path_length, g.diameter) {
            (Some(m), Some(d)) => format!(", mean path {m:.2}, diameter {d}"),
            _ => String::new(),
        };
        s += &format!(
            "  graph        t = {} s: {} live nodes, {} SCC{} (largest {}){path}, dead entries {}\n",
            g.time_s,
            g.live_nodes,
            g.scc_count,
            if g.scc_count == 1 { "" } else { "s" },
            pct(largest_scc_share(g)),
            pct(g.dead_entry_share)
        );
    }
    if let Some(r) = &out.repair {
        let after = |x: Option<f64>| {
            x.map_or("not within the window".to_string(), |t| {
                format!("after {t} s")
            })
        };
        s += &format!(
            "  repair       {} nodes failed at {} s: {} dead entries right after; dead entries < {} {}",
            r.failed.len(),
            r.fail_at_s,
            pct(r.after_failure.dead_entry_share),
            pct(r.threshold),
            after(r.dead_share_repair_s)
        );
        if r.samples.iter().any(|x| x.wrong_successors.is_some()) {
            s += &format!(", every successor right {}", after(r.successors_repair_s));
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_degree_stats_match_a_hand_count() {
        // Degrees 1, 1, 2, 4 (and none with 0 or 3).
        let d = in_degree_stats(&[0, 2, 1, 0, 1]);
        assert_eq!(d.mean, 2.0);
        assert!((d.std - (1.5f64).sqrt()).abs() < 1e-12);
        assert_eq!((d.min, d.median, d.max), (1, 1, 4));
        assert_eq!(in_degree_stats(&[]), DegreeStats::default());
    }

    #[test]
    fn graph_section_validates_and_merges_into_sim_options() {
        let bad = GraphSection {
            at_s: vec![1.0, f64::NAN],
            export: vec![],
        };
        assert_eq!(bad.validate().unwrap_err().0, "graph.at_s[1]");
        let bad = GraphSection {
            at_s: vec![],
            export: vec![GraphFormat::Dot],
        };
        assert_eq!(bad.validate().unwrap_err().0, "graph.export");
        let spec = Spec::parse(
            "[sim]\nsnapshot_at_s = [5.0]\n[graph]\nat_s = [7.0, 5.0]\nexport = [\"graphml\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let o = sim_options(&spec);
        assert_eq!(o.snapshot_at_s, vec![5.0, 7.0]);
        assert!(o.snapshot_graphs);
        assert_eq!(
            export_name("chord", 1500.0, GraphFormat::Graphml),
            "chord_t1500s.graphml"
        );
        let m = Spec::parse(
            "[graph]\nexport = [\"svg\"]\nat_s = [1.0]\n",
            Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(m.contains("graph.export"), "{m}");
    }
}
