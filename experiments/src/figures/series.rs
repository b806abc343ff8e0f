//! Figures from `timeseries.parquet`: the online population, the dead-entry
//! share of routing tables, lookup success per sampling interval and (Chord)
//! the share of wrong successors, each over simulated time. Every sample time
//! is a point; with replications the line is their mean and the band its 95%
//! confidence interval across replications (Student t).

use super::context::Ctx;
use super::timeline::protocol_panels;
use super::{Figure, FigureData, PlotKind};
use crate::plot::timeseries::{BandPoint, BandSeries, TimeSeriesFigure};
use crate::results::{ResultDir, SeriesPoint};
use crate::summary::Stats;

/// Group `g`'s values per sample time: the mean over its runs and, with two
/// or more, the 95% CI across them; a run without a value at a time (NaN)
/// is left out there.
fn band(rd: &ResultDir, g: usize, take: &dyn Fn(&SeriesPoint) -> f64) -> Vec<BandPoint> {
    let mut times: Vec<f64> = rd
        .series
        .iter()
        .filter(|p| p.group == g)
        .map(|p| p.time_s)
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    times
        .into_iter()
        .filter_map(|t| {
            let s = Stats::of(
                rd.series
                    .iter()
                    .filter(|p| p.group == g && p.time_s == t)
                    .map(take)
                    .filter(|v| v.is_finite()),
            );
            (s.n > 0).then(|| {
                let ci = if s.n >= 2 && s.ci95.is_finite() {
                    s.ci95
                } else {
                    0.0
                };
                BandPoint {
                    t,
                    mean: s.mean,
                    lo: s.mean - ci,
                    hi: s.mean + ci,
                }
            })
        })
        .collect()
}

/// Runs of group `g` in `timeseries.parquet`.
fn runs(rd: &ResultDir, g: usize) -> usize {
    let mut r: Vec<&str> = rd
        .series
        .iter()
        .filter(|p| p.group == g)
        .map(|p| p.run.as_str())
        .collect();
    r.sort_unstable();
    r.dedup();
    r.len()
}

/// One figure of the series.
struct Quantity {
    name: &'static str,
    title: &'static str,
    y_desc: &'static str,
    fraction: bool,
    take: fn(&SeriesPoint) -> f64,
}

const QUANTITIES: [Quantity; 4] = [
    Quantity {
        name: "population_timeseries",
        title: "Online nodes",
        y_desc: "nodes online at the sample time",
        fraction: false,
        take: |p| p.online_nodes,
    },
    Quantity {
        name: "dead_entry_share_timeseries",
        title: "Routing entries naming a dead node",
        y_desc: "dead-entry share (fraction)",
        fraction: true,
        take: |p| p.dead_entry_share,
    },
    Quantity {
        name: "interval_success_timeseries",
        title: "Lookup success per sampling interval",
        y_desc: "lookup success rate (fraction)",
        fraction: true,
        take: |p| p.success_rate,
    },
    Quantity {
        name: "wrong_successor_timeseries",
        title: "Ring members with a wrong successor",
        y_desc: "wrong-successor share (fraction)",
        fraction: true,
        take: |p| p.wrong_successor_share,
    },
];

pub(super) fn series(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
    let rd = ctx.rd;
    let mut all: Vec<usize> = rd.series.iter().map(|p| p.group).collect();
    all.sort_unstable();
    all.dedup();
    if all.is_empty() {
        return;
    }
    // A sweep: one figure per protocol (`protocol_panels`); a single run:
    // one figure, one line per protocol.
    let panels: Vec<(String, String, Vec<usize>)> = if ctx.multi_point {
        protocol_panels(rd, &all)
    } else {
        // Every interval is shown, not only the measured lookups.
        let scenario = ctx.scenario(all[0]).replace(", measured lookups", "");
        vec![(String::new(), scenario, all.clone())]
    };
    for (suffix, scenario, groups) in panels {
        let replicated = groups.iter().all(|&g| runs(rd, g) >= 2);
        let band_desc = if replicated {
            "95% CI across replications"
        } else {
            "none (one run per line)"
        };
        for q in &QUANTITIES {
            let series: Vec<BandSeries> = groups
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
                    points: band(rd, g, &q.take),
                })
                .filter(|s| !s.points.is_empty())
                .map(|mut s| {
                    if q.fraction {
                        for p in &mut s.points {
                            p.lo = p.lo.max(0.0);
                            p.hi = p.hi.min(1.0);
                        }
                    }
                    s
                })
                .collect();
            if series.iter().all(|s| s.points.len() < 2) {
                continue;
            }
            // Success fills up to 1 from a round value below its lowest
            // point (as the lookup-success figure); the shares are small,
            // so they fit the data.
            let y_range = (q.name == "interval_success_timeseries").then(|| {
                let lo = series
                    .iter()
                    .flat_map(|x| x.points.iter().map(|p| p.lo.min(p.mean)))
                    .fold(1.0, f64::min);
                ((((lo - 0.02) * 20.0).floor() / 20.0).max(0.0), 1.0)
            });
            out.push(Figure {
                name: format!("{}{suffix}", q.name),
                kind: PlotKind::Series,
                data: FigureData::TimeSeries(TimeSeriesFigure {
                    title: format!("{} ({scenario})", q.title),
                    y_desc: q.y_desc.into(),
                    band_desc: band_desc.into(),
                    y_range,
                    series,
                }),
            });
        }
    }
}
