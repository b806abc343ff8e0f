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
//! | `timeseries` | `lookup_success_timeseries`, `lookup_latency_timeseries` | measured lookups span two or more time bins |
//! | `lookup_outcomes` | `lookup_outcomes`, stacked bars per group | there are measured lookups and the oracle judged them |
//! | `traffic_by_kind` | `traffic_by_kind`, stacked bars per group | `traffic.parquet` has traffic |
//! | `cost_performance` | `cost_performance`, latency against bytes/node/s with each protocol's convex hull | `summary.csv` has `bytes_per_node_s` and `lookup_latency_ms` |
//!
//! A group is a (protocol, grid point) pair. A spec chooses kinds with
//! `[plots] kinds = [...]`; without it every kind that applies is drawn.

use crate::error::Error;
use crate::manifest::Manifest;
use crate::output::write_bytes_atomic;
use crate::plot::errorbars::{ErrorBarFigure, ErrorBarPoint, ErrorBarSeries, errorbars};
use crate::plot::scatter::{CostFigure, ScatterSeries, cost_performance};
use crate::plot::stacked::{Bar, StackedBarFigure, stacked};
use crate::plot::timeseries::{BandPoint, BandSeries, TimeSeriesFigure, timeseries};
use crate::plot::{self, CdfFigure, CdfSeries, HopsFigure};
use crate::results::{Lookup, ResultDir, SPEC_FILE};
use crate::spec::{DhtProtocol, Routing, Spec};
use crate::summary::Stats;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
}

impl PlotKind {
    /// Every kind, in drawing order.
    pub const ALL: [PlotKind; 7] = [
        PlotKind::Hops,
        PlotKind::LatencyCdf,
        PlotKind::MetricVsParam,
        PlotKind::Timeseries,
        PlotKind::LookupOutcomes,
        PlotKind::TrafficByKind,
        PlotKind::CostPerformance,
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
        }
    }
}

/// The metrics drawn against swept parameters: `(metric, axis label)`.
const MAIN_METRICS: [(&str, &str); 5] = [
    ("lookup_success", "lookup success rate"),
    ("lookup_hops", "lookup hops"),
    ("lookup_latency_ms", "lookup latency"),
    ("bytes_per_node_s", "traffic"),
    ("get_success", "get success rate"),
];

/// Time bins a time series aims for.
const TIME_BINS: f64 = 30.0;
/// Lines in one time-series figure.
const MAX_LINES: usize = 5;
/// Message kinds shown by name in the traffic figure; the rest are "other".
const TOP_KINDS: usize = 7;

fn protocol_title(name: &str) -> String {
    match name {
        "kademlia" => DhtProtocol::Kademlia.title().to_string(),
        "chord" => DhtProtocol::Chord.title().to_string(),
        other => other.to_string(),
    }
}

/// The last component of a parameter path (`dht.kademlia.k` → `k`).
fn short(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// What the figures of one result directory are built from.
struct Ctx<'a> {
    rd: &'a ResultDir,
    multi_protocol: bool,
    multi_point: bool,
}

impl<'a> Ctx<'a> {
    fn new(rd: &'a ResultDir) -> Ctx<'a> {
        let mut protocols: Vec<&str> = rd.groups.iter().map(|g| g.protocol.as_str()).collect();
        protocols.dedup();
        let mut points: Vec<Option<&str>> = rd.groups.iter().map(|g| g.point.as_deref()).collect();
        points.sort();
        points.dedup();
        Ctx {
            rd,
            multi_protocol: protocols.len() > 1,
            multi_point: points.len() > 1,
        }
    }

    fn point_label(&self, point: &str) -> String {
        let params = self.rd.point_params(point);
        if params.is_empty() {
            format!("point {point}")
        } else {
            params
                .iter()
                .map(|(p, v)| format!("{} = {v}", short(p)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Legend text of group `g`.
    fn label(&self, g: usize) -> String {
        let group = &self.rd.groups[g];
        let mut parts = Vec::new();
        if self.multi_protocol || !self.multi_point {
            parts.push(group.protocol.clone());
        }
        if self.multi_point
            && let Some(p) = &group.point
        {
            parts.push(self.point_label(p));
        }
        parts.join(", ")
    }

    /// Groups that have lookups, in order.
    fn lookup_groups(&self) -> Vec<usize> {
        (0..self.rd.groups.len())
            .filter(|&g| self.rd.lookups.iter().any(|l| l.group == g))
            .collect()
    }

    /// Measured lookups that finished, of group `g` (what the hop and
    /// latency figures show).
    fn shown(&self, g: usize) -> impl Iterator<Item = &'a Lookup> {
        self.rd
            .lookups
            .iter()
            .filter(move |l| l.group == g && l.measured && l.latency_ms.is_finite())
    }

    fn spec(&self) -> Option<&'a Spec> {
        self.rd.spec.as_ref()
    }

    /// The overlay size of group `g`: a swept `network.nodes`/`churn.nodes`,
    /// else the spec's, else the rows of `nodes.parquet` per run.
    fn population(&self, g: usize) -> u64 {
        if let Some(point) = &self.rd.groups[g].point {
            for (p, v) in self.rd.point_params(point) {
                if (p == "network.nodes" || p == "churn.nodes")
                    && let Ok(n) = v.parse::<u64>()
                {
                    return n;
                }
            }
        }
        if let Some(spec) = self.spec() {
            match &spec.churn {
                None => return spec.network.nodes as u64,
                Some(c) if c.nodes > 0 => return c.nodes as u64,
                Some(_) => {}
            }
        }
        let counts: Vec<usize> = self
            .rd
            .node_counts
            .iter()
            .filter(|(x, _, _)| *x == g)
            .map(|c| c.2)
            .collect();
        if counts.is_empty() {
            0
        } else {
            (counts.iter().sum::<usize>() / counts.len()) as u64
        }
    }

    /// The parameters quoted in a single group's titles.
    fn setup(&self, g: usize) -> String {
        let nodes = self.population(g);
        let mut s = format!("N = {nodes}");
        let Some(spec) = self.spec() else {
            return s;
        };
        match self.rd.groups[g].protocol.as_str() {
            "kademlia" => {
                let k = &spec.dht.kademlia;
                s += &format!(", k = {}, α = {}", k.k, k.alpha);
            }
            "chord" => s += &format!(", r = {}", spec.dht.chord.successors),
            _ => {}
        }
        if spec.dht.routing != Routing::Iterative {
            s += &format!(", {}", spec.dht.routing.name());
        }
        if let Some(c) = &spec.churn {
            s += &format!(", {} churn", crate::run::churn_kind(&c.model));
        }
        s
    }

    /// The scenario quoted in titles comparing groups.
    fn scenario(&self, g: usize) -> String {
        let mut s = if self.multi_point {
            "sweep".to_string()
        } else {
            format!("N = {}", self.population(g))
        };
        if let Some(spec) = self.spec() {
            if spec.dht.routing != Routing::Iterative {
                s += &format!(", {}", spec.dht.routing.name());
            }
            match &spec.churn {
                Some(c) => {
                    s += &format!(
                        ", {} churn, measured lookups",
                        crate::run::churn_kind(&c.model)
                    )
                }
                None => s += ", static",
            }
        }
        s
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
            PlotKind::Hops => hops(&ctx, &mut out),
            PlotKind::LatencyCdf => latency(&ctx, &mut out),
            PlotKind::MetricVsParam => metric_vs_param(&ctx, &mut out),
            PlotKind::Timeseries => time_series(&ctx, &mut out),
            PlotKind::LookupOutcomes => outcomes(&ctx, &mut out),
            PlotKind::TrafficByKind => traffic_by_kind(&ctx, &mut out),
            PlotKind::CostPerformance => cost(&ctx, &mut out),
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

fn hops(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let groups = ctx.lookup_groups();
    match groups.as_slice() {
        [] => {}
        [g] => {
            let title = protocol_title(&ctx.rd.groups[*g].protocol);
            out.push(Figure {
                name: "lookup_hops".into(),
                kind: PlotKind::Hops,
                data: FigureData::Hops(HopsFigure {
                    title: format!("{title} lookup hops ({})", ctx.setup(*g)),
                    hops: ctx.shown(*g).map(|l| l.hops as u32).collect(),
                    nodes: ctx.population(*g),
                }),
            });
        }
        gs => out.push(Figure {
            name: "lookup_hops_cdf".into(),
            kind: PlotKind::Hops,
            data: FigureData::Cdf(CdfFigure {
                title: format!("Lookup hops ({})", ctx.scenario(gs[0])),
                x_desc: "hops per lookup".into(),
                unit: "hops".into(),
                series: gs
                    .iter()
                    .map(|&g| CdfSeries {
                        label: ctx.label(g),
                        values: ctx.shown(g).map(|l| l.hops).collect(),
                    })
                    .collect(),
                discrete: true,
                x_max_quantile: None,
            }),
        }),
    }
}

fn latency(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let groups = ctx.lookup_groups();
    let data = match groups.as_slice() {
        [] => return,
        [g] => {
            let mut series = vec![CdfSeries {
                label: "lookups".into(),
                values: ctx.shown(*g).map(|l| l.latency_ms).collect(),
            }];
            let gets: Vec<f64> = ctx
                .rd
                .puts
                .iter()
                .filter(|p| p.group == *g && p.found)
                .map(|p| p.get_latency_ms)
                .collect();
            if ctx.rd.puts.iter().any(|p| p.group == *g) {
                series.push(CdfSeries {
                    label: "gets".into(),
                    values: gets,
                });
            }
            CdfFigure {
                title: format!(
                    "{} lookup and get latency ({})",
                    protocol_title(&ctx.rd.groups[*g].protocol),
                    ctx.setup(*g)
                ),
                x_desc: "latency (ms)".into(),
                unit: "ms".into(),
                series,
                discrete: false,
                x_max_quantile: None,
            }
        }
        gs => CdfFigure {
            title: format!("Lookup latency ({})", ctx.scenario(gs[0])),
            x_desc: "lookup latency (ms)".into(),
            unit: "ms".into(),
            series: gs
                .iter()
                .map(|&g| CdfSeries {
                    label: ctx.label(g),
                    values: ctx.shown(g).map(|l| l.latency_ms).collect(),
                })
                .collect(),
            discrete: false,
            x_max_quantile: Some(0.99),
        },
    };
    out.push(Figure {
        name: "lookup_latency_cdf".into(),
        kind: PlotKind::LatencyCdf,
        data: FigureData::Cdf(data),
    });
}

/// `metric` against swept parameter `param`, one series per protocol and
/// combination of the other parameters, straight from `summary.csv`.
fn metric_vs_param(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let s = &ctx.rd.summary;
    for (pi, param) in s.params.iter().enumerate() {
        let mut values: Vec<&str> = Vec::new();
        for r in &s.rows {
            if !values.contains(&r.params[pi].as_str()) {
                values.push(&r.params[pi]);
            }
        }
        if values.len() < 2 {
            continue;
        }
        let numeric: Option<Vec<f64>> = values
            .iter()
            .map(|v| v.trim().parse::<f64>().ok())
            .collect();
        let categories = match &numeric {
            Some(_) => None,
            None => Some(values.iter().map(|v| v.to_string()).collect::<Vec<_>>()),
        };
        let x_of = |v: &str| -> f64 {
            match &numeric {
                Some(_) => v.trim().parse::<f64>().unwrap_or(f64::NAN),
                None => values.iter().position(|x| *x == v).unwrap_or(0) as f64,
            }
        };
        for (metric, label) in MAIN_METRICS {
            let rows: Vec<_> = s
                .rows
                .iter()
                .filter(|r| r.metric == metric && r.mean.is_finite())
                .collect();
            if rows.is_empty() {
                continue;
            }
            let unit = rows[0].unit.clone();
            let mut series: Vec<ErrorBarSeries> = Vec::new();
            for r in rows {
                let others: Vec<String> = s
                    .params
                    .iter()
                    .zip(&r.params)
                    .enumerate()
                    .filter(|(j, _)| *j != pi)
                    .map(|(_, (p, v))| format!("{} = {v}", short(p)))
                    .collect();
                let mut key = r.protocol.clone();
                for o in others {
                    key += &format!(", {o}");
                }
                let point = ErrorBarPoint {
                    x: x_of(&r.params[pi]),
                    mean: r.mean,
                    ci95: r.ci95,
                };
                match series.iter_mut().find(|x| x.label == key) {
                    Some(x) => {
                        if !x.points.iter().any(|p| p.x == point.x) {
                            x.points.push(point);
                        }
                    }
                    None => series.push(ErrorBarSeries {
                        label: key,
                        points: vec![point],
                    }),
                }
            }
            for x in &mut series {
                x.points.sort_by(|a, b| a.x.total_cmp(&b.x));
            }
            out.push(Figure {
                name: format!("{metric}_vs_{}", param.replace(['.', '/', ' '], "_")),
                kind: PlotKind::MetricVsParam,
                data: FigureData::ErrorBars(ErrorBarFigure {
                    title: format!("{} against {}", capitalise(label), short(param)),
                    x_desc: param.clone(),
                    y_desc: format!("{label} ({unit}), mean ± 95% CI"),
                    categories: categories.clone(),
                    series,
                }),
            });
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A round bin width near `span / TIME_BINS`: 1, 2 or 5 times a power of ten.
pub fn bin_width(span: f64) -> f64 {
    let raw = (span / TIME_BINS).max(1e-9);
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * p
}

/// Per time bin of group `g` (`bins` bins of `width` s from `origin`, the
/// last one open-ended): the bin centre, the mean of the values `take`
/// gives, and their 95% CI: across runs when the group has several (each
/// run's bin mean is one sample), else across the bin's lookups.
pub fn binned(
    rd: &ResultDir,
    g: usize,
    origin: f64,
    width: f64,
    bins: usize,
    take: impl Fn(&Lookup) -> Option<f64>,
) -> Vec<BandPoint> {
    let runs = rd.runs_of(g);
    // Per run and bin: the values.
    let mut cells: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); bins]; runs.len()];
    for l in rd.lookups.iter().filter(|l| l.group == g && l.measured) {
        let Some(v) = take(l) else { continue };
        let b = ((l.time_s - origin) / width).floor();
        if !b.is_finite() || b < 0.0 {
            continue;
        }
        // Lookups past the last bin are the short tail it absorbed.
        let b = (b as usize).min(bins - 1);
        let r = runs.iter().position(|x| *x == l.run).unwrap_or(0);
        cells[r][b].push(v);
    }
    (0..bins)
        .filter_map(|b| {
            let stats = if runs.len() >= 2 {
                Stats::of(
                    cells
                        .iter()
                        .filter(|c| !c[b].is_empty())
                        .map(|c| c[b].iter().sum::<f64>() / c[b].len() as f64),
                )
            } else {
                Stats::of(cells.iter().flat_map(|c| c[b].iter().copied()))
            };
            (stats.n > 0).then(|| {
                let ci = if stats.ci95.is_finite() {
                    stats.ci95
                } else {
                    0.0
                };
                BandPoint {
                    t: origin + (b as f64 + 0.5) * width,
                    mean: stats.mean,
                    lo: stats.mean - ci,
                    hi: stats.mean + ci,
                }
            })
        })
        .collect()
}

fn time_series(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let rd = ctx.rd;
    let measured = || {
        rd.lookups
            .iter()
            .filter(|l| l.measured && l.time_s.is_finite())
    };
    let t0 = measured().map(|l| l.time_s).fold(f64::INFINITY, f64::min);
    let t1 = measured()
        .map(|l| l.time_s)
        .fold(f64::NEG_INFINITY, f64::max);
    if t1.partial_cmp(&t0) != Some(std::cmp::Ordering::Greater) {
        return;
    }
    let width = bin_width(t1 - t0);
    let origin = (t0 / width).floor() * width;
    // A tail shorter than half a bin joins the last bin: a sliver of a bin
    // has few lookups, and at the end of a run only the fast ones finished.
    let span = (t1 - origin) / width;
    let bins = (if span.fract() < 0.5 {
        span.floor()
    } else {
        span.ceil()
    } as usize)
        .max(1);
    if bins < 2 {
        return;
    }
    let all = ctx.lookup_groups();
    // A sweep gets one figure per protocol, one line per grid point (at most
    // MAX_LINES, evenly spread); a single run one figure, one line per
    // protocol.
    let panels: Vec<(String, String, Vec<usize>)> = if ctx.multi_point {
        let mut protocols: Vec<&str> = Vec::new();
        for &g in &all {
            let p = rd.groups[g].protocol.as_str();
            if !protocols.contains(&p) {
                protocols.push(p);
            }
        }
        protocols
            .into_iter()
            .map(|p| {
                let gs: Vec<usize> = all
                    .iter()
                    .copied()
                    .filter(|&g| rd.groups[g].protocol == p)
                    .collect();
                let picked = spread(&gs, MAX_LINES);
                let of = if picked.len() < gs.len() {
                    format!(", {} of {} points", picked.len(), gs.len())
                } else {
                    String::new()
                };
                (
                    format!("_{p}"),
                    format!("{}{of}", protocol_title(p)),
                    picked,
                )
            })
            .collect()
    } else {
        vec![(String::new(), ctx.scenario(all[0]), all.clone())]
    };
    for (suffix, scenario, groups) in panels {
        let replicated: Vec<bool> = groups.iter().map(|&g| rd.runs_of(g).len() >= 2).collect();
        let band_desc = if replicated.iter().all(|&r| r) {
            "95% CI across replications"
        } else if replicated.iter().all(|&r| !r) {
            "95% CI over the bin's lookups"
        } else {
            "95% CI across replications (one run: over the bin's lookups)"
        };
        let series = |take: &dyn Fn(&Lookup) -> Option<f64>| -> Vec<BandSeries> {
            groups
                .iter()
                .map(|&g| BandSeries {
                    label: if ctx.multi_point {
                        rd.groups[g]
                            .point
                            .as_deref()
                            .map(|p| ctx.point_label(p))
                            .unwrap_or_default()
                    } else {
                        ctx.label(g)
                    },
                    points: binned(rd, g, origin, width, bins, take),
                })
                .collect()
        };
        if !rd.spec.as_ref().is_some_and(|s| s.sim.no_oracle) {
            let mut s = series(&|l| Some(if l.success { 1.0 } else { 0.0 }));
            // A rate's interval ends at 0 and 1.
            for p in s.iter_mut().flat_map(|x| x.points.iter_mut()) {
                p.lo = p.lo.max(0.0);
                p.hi = p.hi.min(1.0);
            }
            let lo = s
                .iter()
                .flat_map(|x| x.points.iter().map(|p| p.lo.min(p.mean)))
                .fold(1.0, f64::min);
            let lo = (((lo - 0.02) * 20.0).floor() / 20.0).max(0.0);
            out.push(Figure {
                name: format!("lookup_success_timeseries{suffix}"),
                kind: PlotKind::Timeseries,
                data: FigureData::TimeSeries(TimeSeriesFigure {
                    title: format!("Lookup success per {} s ({scenario})", plot::tick(width)),
                    y_desc: "lookup success rate (fraction)".into(),
                    band_desc: band_desc.into(),
                    y_range: Some((lo, 1.0)),
                    series: s,
                }),
            });
        }
        out.push(Figure {
            name: format!("lookup_latency_timeseries{suffix}"),
            kind: PlotKind::Timeseries,
            data: FigureData::TimeSeries(TimeSeriesFigure {
                title: format!("Lookup latency per {} s ({scenario})", plot::tick(width)),
                y_desc: "mean lookup latency (ms)".into(),
                band_desc: band_desc.into(),
                y_range: None,
                series: series(&|l| l.latency_ms.is_finite().then_some(l.latency_ms)),
            }),
        });
    }
}

/// At most `n` of `items`, evenly spread, the first and last included.
fn spread(items: &[usize], n: usize) -> Vec<usize> {
    if items.len() <= n {
        return items.to_vec();
    }
    if n < 2 {
        return items[..n].to_vec();
    }
    let mut out: Vec<usize> = (0..n)
        .map(|i| items[(i * (items.len() - 1) + (n - 1) / 2) / (n - 1)])
        .collect();
    out.dedup();
    out
}

fn outcomes(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let rd = ctx.rd;
    if rd.spec.as_ref().is_some_and(|s| s.sim.no_oracle) {
        return;
    }
    let mut bars = Vec::new();
    for g in ctx.lookup_groups() {
        let m: Vec<&Lookup> = rd
            .lookups
            .iter()
            .filter(|l| l.group == g && l.measured)
            .collect();
        if m.is_empty() {
            continue;
        }
        let n = m.len() as f64;
        let share =
            |f: &dyn Fn(&Lookup) -> bool| 100.0 * m.iter().filter(|l| f(l)).count() as f64 / n;
        bars.push(Bar {
            label: ctx.label(g),
            values: vec![
                share(&|l| l.success),
                share(&|l| !l.success && l.latency_ms.is_finite()),
                share(&|l| !l.latency_ms.is_finite()),
            ],
            note: Some(format!(
                "{:.2}% failed (n = {})",
                share(&|l| !l.success),
                m.len()
            )),
        });
    }
    if bars.is_empty() {
        return;
    }
    out.push(Figure {
        name: "lookup_outcomes".into(),
        kind: PlotKind::LookupOutcomes,
        data: FigureData::Stacked(StackedBarFigure {
            title: format!("Lookup outcomes ({})", ctx.scenario(0)),
            y_desc: "share of measured lookups (%)".into(),
            categories: vec![
                "found the right node".into(),
                "finished, wrong node".into(),
                "did not finish".into(),
            ],
            bars,
        }),
    });
}

fn traffic_by_kind(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let rd = ctx.rd;
    let groups: Vec<usize> = (0..rd.groups.len())
        .filter(|&g| rd.traffic.iter().any(|t| t.group == g))
        .collect();
    if groups.is_empty() {
        return;
    }
    let rate = groups.iter().all(|&g| {
        rd.traffic
            .iter()
            .any(|t| t.group == g && t.bytes_per_node_s.is_finite())
    });
    // Per group and kind: mean over runs of bytes/node/s, or the share of
    // the group's bytes.
    let mut kinds: Vec<String> = Vec::new();
    for t in &rd.traffic {
        if !kinds.contains(&t.kind) {
            kinds.push(t.kind.clone());
        }
    }
    let value = |g: usize, kind: &str| -> f64 {
        let rows = || rd.traffic.iter().filter(move |t| t.group == g);
        if rate {
            let mut runs: Vec<&str> = rows().map(|t| t.run.as_str()).collect();
            runs.sort();
            runs.dedup();
            rows()
                .filter(|t| t.kind == kind && t.bytes_per_node_s.is_finite())
                .map(|t| t.bytes_per_node_s)
                .sum::<f64>()
                / runs.len().max(1) as f64
        } else {
            let total: f64 = rows().map(|t| t.bytes).sum();
            let mine: f64 = rows().filter(|t| t.kind == kind).map(|t| t.bytes).sum();
            if total > 0.0 {
                100.0 * mine / total
            } else {
                0.0
            }
        }
    };
    let mut totals: Vec<(String, f64)> = kinds
        .iter()
        .map(|k| (k.clone(), groups.iter().map(|&g| value(g, k)).sum::<f64>()))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    if totals.is_empty() {
        return;
    }
    totals.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let shown: Vec<String> = if totals.len() > TOP_KINDS + 1 {
        totals[..TOP_KINDS].iter().map(|t| t.0.clone()).collect()
    } else {
        totals.iter().map(|t| t.0.clone()).collect()
    };
    let rest: Vec<String> = totals
        .iter()
        .map(|t| t.0.clone())
        .filter(|k| !shown.contains(k))
        .collect();
    let mut categories = shown.clone();
    if !rest.is_empty() {
        categories.push("other".into());
    }
    let bars = groups
        .iter()
        .map(|&g| {
            let mut values: Vec<f64> = shown.iter().map(|k| value(g, k)).collect();
            if !rest.is_empty() {
                values.push(rest.iter().map(|k| value(g, k)).sum());
            }
            Bar {
                label: ctx.label(g),
                values,
                note: None,
            }
        })
        .collect();
    out.push(Figure {
        name: "traffic_by_kind".into(),
        kind: PlotKind::TrafficByKind,
        data: FigureData::Stacked(StackedBarFigure {
            title: if rate {
                "Traffic by message kind, measurement phase".into()
            } else {
                "Bytes sent by message kind, whole run".into()
            },
            y_desc: if rate {
                "bytes per online node per second".into()
            } else {
                "share of bytes sent (%)".into()
            },
            categories,
            bars,
        }),
    });
}

fn cost(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let s = &ctx.rd.summary;
    let mut series: Vec<ScatterSeries> = Vec::new();
    for g in &ctx.rd.groups {
        let get = |metric: &str| {
            s.rows
                .iter()
                .find(|r| r.metric == metric && r.protocol == g.protocol && r.point == g.point)
                .map_or(f64::NAN, |r| r.mean)
        };
        let (x, y) = (get("bytes_per_node_s"), get("lookup_latency_ms"));
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        match series.iter_mut().find(|x| x.label == g.protocol) {
            Some(se) => se.points.push((x, y)),
            None => series.push(ScatterSeries {
                label: g.protocol.clone(),
                points: vec![(x, y)],
            }),
        }
    }
    if series.is_empty() {
        return;
    }
    out.push(Figure {
        name: "cost_performance".into(),
        kind: PlotKind::CostPerformance,
        data: FigureData::Cost(CostFigure {
            title: "Cost against performance (PVC style)".into(),
            x_desc: "traffic (bytes per online node per second)".into(),
            y_desc: "mean lookup latency (ms)".into(),
            series,
        }),
    });
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
    fn bin_widths_are_round() {
        assert_eq!(bin_width(600.0), 20.0);
        assert_eq!(bin_width(3.0 * 3600.0), 500.0);
        assert_eq!(bin_width(30.0), 1.0);
        assert_eq!(bin_width(45.0), 2.0);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in PlotKind::ALL {
            let v: PlotKind = toml::Value::String(k.name().into()).try_into().unwrap();
            assert_eq!(v, k);
        }
    }
}
