//! Time series: lookup success and latency per time bin, with 95% CI
//! bands across replications (or over the bin's lookups for one run).

use super::context::{Ctx, protocol_title};
use super::{Figure, FigureData, PlotKind};
use crate::plot::{
    self,
    timeseries::{BandPoint, BandSeries, TimeSeriesFigure},
};
use crate::results::{Lookup, ResultDir};
use crate::summary::Stats;

/// Time bins a time series aims for.
const TIME_BINS: f64 = 30.0;
/// Lines in one time-series figure.
const MAX_LINES: usize = 5;

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

pub(super) fn time_series(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
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
    // A sweep gets one figure per protocol; a single run one figure, one
    // line per protocol.
    let panels: Vec<(String, String, Vec<usize>)> = if ctx.multi_point {
        protocol_panels(rd, &all)
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

/// A sweep's figures of `groups`, one per protocol: its file-name suffix
/// (`_PROTOCOL`), its title (noting when only some grid points are shown)
/// and its groups, one line per grid point, at most [`MAX_LINES`] evenly
/// spread.
pub(super) fn protocol_panels(
    rd: &ResultDir,
    groups: &[usize],
) -> Vec<(String, String, Vec<usize>)> {
    let mut protocols: Vec<&str> = Vec::new();
    for &g in groups {
        let p = rd.groups[g].protocol.as_str();
        if !protocols.contains(&p) {
            protocols.push(p);
        }
    }
    protocols
        .into_iter()
        .map(|p| {
            let gs: Vec<usize> = groups
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
    fn spread_keeps_the_ends() {
        assert_eq!(spread(&[1, 2, 3], 5), [1, 2, 3]);
        assert_eq!(spread(&[0, 1, 2, 3, 4, 5, 6, 7, 8], 5), [0, 2, 4, 6, 8]);
    }
}
