//! The figure set of a result directory, built from its stored tables only.
//!
//! `peerlab run` and `peerlab plot DIR` both come here: [`render_run`]
//! after a run has written its tables, [`plot_dir`] for a directory on
//! disk. Each reads the directory back ([`ResultDir`]), decides which
//! figures apply to the data present ([`plan`]), draws them into
//! `DIR/plots/` and writes `DIR/report.html` ([`crate::report`]). The same
//! tables therefore always give the same figures, byte for byte.
//!
//! | kind | files | applies when |
//! |---|---|---|
//! | `hops` | `lookup_hops` (one group: histogram with the mean and ⌈log2 N⌉) or `lookup_hops_cdf` (one curve per group) | there are lookups |
//! | `latency_cdf` | `lookup_latency_cdf` (one group: lookups and gets; else one curve per group) | there are lookups |
//! | `metric_vs_param` | `METRIC_vs_PARAM`, mean ± 95% CI from `summary.csv` | `summary.csv` has a swept parameter with two or more values |
//! | `timeseries` | `lookup_success_timeseries`, `lookup_latency_timeseries` (a sweep: one pair per protocol, `..._PROTOCOL`) | measured lookups span two or more time bins |
//! | `lookup_outcomes` | `lookup_outcomes`, stacked bars per group | there are measured lookups and the oracle judged them |
//! | `traffic_by_kind` | `traffic_by_kind`, stacked bars per group | `traffic.parquet` has traffic |
//! | `cost_performance` | `cost_performance`, latency against bytes/node/s with each protocol's convex hull | `summary.csv` has `bytes_per_node_s` and `lookup_latency_ms` |
//! | `series` | `population_timeseries`, `dead_entry_share_timeseries`, `interval_success_timeseries`, `wrong_successor_timeseries` (Chord) from `timeseries.parquet`, 95% CI bands across replications (a sweep: one set per protocol, `..._PROTOCOL`) | the run recorded a `[series]` with two or more samples |
//! | `added_delay_cdf` | `added_delay_cdf`, CDF of the delay relaying added to measured relayed calls, one curve per group | there is a `calls.parquet` |
//! | `path_types` | `path_types`, stacked bars of how measured calls connected, per group | there is a `calls.parquet` |
//! | `relay_load` | `jain`, `spare_p5`, `probes`: Jain's index of relayed bytes, the chosen relays' 5th-percentile spare uplink and probes per selection, from `summary.csv` (a sweep: mean over replications), per group | there is a `calls.parquet` |
//! | `success_vs_duration` | `success_vs_duration`, call success per duration bin with 95% Wilson intervals, per group | measured calls differ in duration |
//! | `public_burden` | `public_tcp_relays`, `public_bandwidth`: TCP-relayed calls and bandwidth per public node as multiples of N (calls placed per node), from `relay_nodes.parquet`, per group | a public node relayed over TCP |
//!
//! A group is a (protocol, grid point) pair; for calls results, a
//! (variant, grid point) pair whose calls pool the replications. A spec chooses kinds with
//! `[plots] kinds = [...]`; without it every kind that applies is drawn.
//!
//! A sweep command writing a merged result directory calls [`plot_dir`] on
//! it (after its tables and `summary.csv`), exactly as `peerlab plot` does.

mod bars;
mod calls;
mod context;
mod distributions;
mod series;
mod sweep;
mod timeline;

use crate::calls_plots::{self, Bars, DelayCdf, PathShares};
use crate::error::Error;
use crate::manifest::Manifest;
use crate::output::write_bytes_atomic;
use crate::plot::errorbars::{ErrorBarFigure, errorbars};
use crate::plot::scatter::{CostFigure, cost_performance};
use crate::plot::stacked::{StackedBarFigure, stacked};
use crate::plot::timeseries::{TimeSeriesFigure, timeseries};
use crate::plot::{self, CdfFigure, HopsFigure};
use crate::results::{ResultDir, SPEC_FILE};
use context::Ctx;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use calls::DURATION_BINS;
pub use sweep::MAIN_METRICS;
pub use timeline::{bin_width, binned};

/// The plot kinds a spec can ask for in `[plots] kinds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlotKind {
    /// Lookup hop distribution (histogram or CDF).
    Hops,
    /// Lookup (and get) latency CDF.
    LatencyCdf,
    /// Each main metric against each swept parameter, with 95% CI error bars.
    MetricVsParam,
    /// Lookup success rate and latency per time bin, with 95% CI bands.
    Timeseries,
    /// Lookup outcomes as stacked bars.
    LookupOutcomes,
    /// Traffic by message kind as stacked bars.
    TrafficByKind,
    /// Latency against bytes/node/s with each protocol's convex hull.
    CostPerformance,
    /// Population, dead-entry share, lookup success and wrong successors
    /// per sampling interval, from `timeseries.parquet`.
    Series,
    /// CDF of the delay relaying added to calls.
    AddedDelayCdf,
    /// How calls connected, as stacked bars.
    PathTypes,
    /// Relay load: Jain's index, spare uplink, probes per selection.
    RelayLoad,
    /// Call success against call duration, with Wilson intervals.
    SuccessVsDuration,
    /// The public nodes' burden (TCP relaying, bandwidth) as multiples of N.
    PublicBurden,
}

impl PlotKind {
    /// Every kind, in drawing order.
    pub const ALL: [PlotKind; 13] = [
        PlotKind::Hops,
        PlotKind::LatencyCdf,
        PlotKind::MetricVsParam,
        PlotKind::Timeseries,
        PlotKind::LookupOutcomes,
        PlotKind::TrafficByKind,
        PlotKind::CostPerformance,
        PlotKind::Series,
        PlotKind::AddedDelayCdf,
        PlotKind::PathTypes,
        PlotKind::RelayLoad,
        PlotKind::SuccessVsDuration,
        PlotKind::PublicBurden,
    ];

    /// The name a spec uses.
    pub fn name(self) -> &'static str {
        match self {
            PlotKind::Hops => "hops",
            PlotKind::LatencyCdf => "latency_cdf",
            PlotKind::MetricVsParam => "metric_vs_param",
            PlotKind::Timeseries => "timeseries",
            PlotKind::LookupOutcomes => "lookup_outcomes",
            PlotKind::TrafficByKind => "traffic_by_kind",
            PlotKind::CostPerformance => "cost_performance",
            PlotKind::Series => "series",
            PlotKind::AddedDelayCdf => "added_delay_cdf",
            PlotKind::PathTypes => "path_types",
            PlotKind::RelayLoad => "relay_load",
            PlotKind::SuccessVsDuration => "success_vs_duration",
            PlotKind::PublicBurden => "public_burden",
        }
    }
}

/// What one figure draws.
#[derive(Clone, Debug)]
pub enum FigureData {
    /// A hop histogram.
    Hops(HopsFigure),
    /// A CDF.
    Cdf(CdfFigure),
    /// A metric against a parameter with error bars.
    ErrorBars(ErrorBarFigure),
    /// A time series with CI bands.
    TimeSeries(TimeSeriesFigure),
    /// Stacked bars.
    Stacked(StackedBarFigure),
    /// A cost-performance scatter.
    Cost(CostFigure),
    /// The added-delay CDF of calls.
    DelayCdf(DelayCdf),
    /// Horizontal bars, one per group.
    Bars(Bars),
    /// Path types of calls as stacked shares.
    PathShares(PathShares),
}

/// One planned figure.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem under `plots/` (`NAME.svg`, `NAME.png`).
    pub name: String,
    /// Its kind.
    pub kind: PlotKind,
    /// The data drawn.
    pub data: FigureData,
}

impl Figure {
    /// The caption above the plot.
    pub fn title(&self) -> &str {
        match &self.data {
            FigureData::Hops(f) => &f.title,
            FigureData::Cdf(f) => &f.title,
            FigureData::ErrorBars(f) => &f.title,
            FigureData::TimeSeries(f) => &f.title,
            FigureData::Stacked(f) => &f.title,
            FigureData::Cost(f) => &f.title,
            FigureData::DelayCdf(f) => &f.title,
            FigureData::Bars(f) => &f.title,
            FigureData::PathShares(f) => &f.title,
        }
    }

    /// Draws the figure into `plots/NAME.{svg,png}`.
    pub fn draw(&self, plots: &Path) -> Result<(), Error> {
        match &self.data {
            FigureData::Hops(f) => plot::lookup_hops(plots, f),
            FigureData::Cdf(f) => plot::cdf(plots, &self.name, f),
            FigureData::ErrorBars(f) => errorbars(plots, &self.name, f),
            FigureData::TimeSeries(f) => timeseries(plots, &self.name, f),
            FigureData::Stacked(f) => stacked(plots, &self.name, f),
            FigureData::Cost(f) => cost_performance(plots, &self.name, f),
            FigureData::DelayCdf(f) => calls_plots::delay_cdf(plots, &self.name, f),
            FigureData::Bars(f) => calls_plots::bars(plots, &self.name, f),
            FigureData::PathShares(f) => calls_plots::path_types(plots, &self.name, f),
        }
    }
}

/// The figures that apply to `rd`, restricted to the spec's `[plots] kinds`.
pub fn plan(rd: &ResultDir) -> Vec<Figure> {
    let ctx = Ctx::new(rd);
    let kinds: Vec<PlotKind> = rd
        .spec
        .as_ref()
        .and_then(|s| s.plots.kinds.clone())
        .unwrap_or_else(|| PlotKind::ALL.to_vec());
    let mut out = Vec::new();
    for kind in PlotKind::ALL {
        if !kinds.contains(&kind) {
            continue;
        }
        let before = out.len();
        match kind {
            PlotKind::Hops => distributions::hops(&ctx, &mut out),
            PlotKind::LatencyCdf => distributions::latency(&ctx, &mut out),
            PlotKind::MetricVsParam => sweep::metric_vs_param(&ctx, &mut out),
            PlotKind::Timeseries => timeline::time_series(&ctx, &mut out),
            PlotKind::LookupOutcomes => bars::outcomes(&ctx, &mut out),
            PlotKind::TrafficByKind => bars::traffic_by_kind(&ctx, &mut out),
            PlotKind::CostPerformance => sweep::cost(&ctx, &mut out),
            PlotKind::Series => series::series(&ctx, &mut out),
            PlotKind::AddedDelayCdf => calls::added_delay(&ctx, &mut out),
            PlotKind::PathTypes => calls::path_types(&ctx, &mut out),
            PlotKind::RelayLoad => calls::relay_load(&ctx, &mut out),
            PlotKind::SuccessVsDuration => calls::success_vs_duration(&ctx, &mut out),
            PlotKind::PublicBurden => calls::public_burden(&ctx, &mut out),
        }
        if out.len() == before && rd.spec.as_ref().is_some_and(|s| s.plots.kinds.is_some()) {
            tracing::warn!(
                kind = kind.name(),
                "requested plot kind does not apply to the data in {}",
                rd.dir.display()
            );
        }
    }
    out
}

/// Draws every planned figure into `DIR/plots/` and returns the files
/// written, relative to `DIR`.
fn draw_all(dir: &Path, figures: &[Figure]) -> Result<Vec<String>, Error> {
    let plots = dir.join("plots");
    let mut files = Vec::new();
    for f in figures {
        f.draw(&plots)?;
        for ext in ["svg", "png"] {
            files.push(format!("plots/{}.{ext}", f.name));
        }
    }
    Ok(files)
}

/// `peerlab plot DIR`: redraws every figure of a result directory and its
/// `report.html` from the stored tables, without simulating. Returns the
/// files written, relative to `DIR`.
pub fn plot_dir(dir: &Path) -> Result<Vec<String>, Error> {
    let rd = ResultDir::load(dir)?;
    let figures = plan(&rd);
    let mut files = draw_all(dir, &figures)?;
    crate::report::write(&rd, &figures)?;
    files.push(crate::report::REPORT.to_string());
    Ok(files)
}

/// The figures and report of a run, from the tables and `summary.csv` it
/// has just written: writes the resolved spec as `spec.toml`, draws the
/// figures, lists every file in `manifest.files` and writes `report.html`
/// (which shows the manifest as it will be written). The caller writes the
/// manifest afterwards.
pub fn render_run(dir: &Path, manifest: &mut Manifest) -> Result<(), Error> {
    write_bytes_atomic(&dir.join(SPEC_FILE), manifest.spec.to_toml()?.as_bytes())?;
    manifest.files.push(SPEC_FILE.to_string());
    let mut rd = ResultDir::load_with(dir, None)?;
    let figures = plan(&rd);
    let files = draw_all(dir, &figures)?;
    manifest.files.extend(files);
    manifest.files.push(crate::report::REPORT.to_string());
    rd.manifest_text = Some(manifest.to_json()?);
    crate::report::write(&rd, &figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in PlotKind::ALL {
            let v: PlotKind = toml::Value::String(k.name().into()).try_into().unwrap();
            assert_eq!(v, k);
        }
    }
}
