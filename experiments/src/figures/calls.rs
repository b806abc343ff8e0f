//! The figures of calls results (`[calls]` specs), from `calls.parquet`
//! and `summary.csv` only, drawn by [`crate::calls_plots`].
//!
//! A group is a variant in a run, a (variant, grid point) pair in a sweep,
//! whose calls pool every replication; bar figures of a sweep show the
//! mean over replications from its `summary.csv`.

use super::context::{Ctx, short};
use super::{Figure, FigureData, PlotKind};
use crate::calls_plots::{Bars, DelayCdf, PathShares};
use crate::plot::errorbars::{ErrorBarFigure, ErrorBarPoint, ErrorBarSeries};
use crate::results::Call;

/// Duration bins of `success_vs_duration`.
pub const DURATION_BINS: usize = 8;

/// Groups that have calls, in order.
fn call_groups(ctx: &Ctx) -> Vec<usize> {
    (0..ctx.rd.groups.len())
        .filter(|&g| ctx.rd.calls.iter().any(|c| c.group == g))
        .collect()
}

fn measured<'a>(ctx: &Ctx<'a>, g: usize) -> impl Iterator<Item = &'a Call> {
    ctx.rd
        .calls
        .iter()
        .filter(move |c| c.group == g && c.measured)
}

/// The scenario quoted in titles: the population (or that it is swept) and
/// the churn model.
fn setup(ctx: &Ctx) -> String {
    let Some(calls) = ctx.spec().and_then(|s| s.calls.as_ref()) else {
        return "calls".into();
    };
    let swept_n = ctx
        .rd
        .summary
        .params
        .iter()
        .any(|p| short(p) == "nodes" && p.starts_with("calls.churn"));
    let n = if swept_n {
        "N swept".to_string()
    } else {
        format!("N = {}", calls.churn.nodes)
    };
    format!("{n}, {} churn", crate::run::churn_kind(&calls.churn.model))
}

/// `added_delay_cdf`: the delay relaying added to measured relayed calls,
/// one curve per group.
pub(super) fn added_delay(ctx: &Ctx, out: &mut Vec<Figure>) {
    let groups = call_groups(ctx);
    if groups.is_empty() {
        return;
    }
    let series = groups
        .iter()
        .map(|&g| {
            let delays = measured(ctx, g)
                .filter(|c| c.path.is_some_and(|p| p >= 2))
                .map(|c| c.added_delay_ms)
                .filter(|x| !x.is_nan())
                .collect();
            (ctx.label(g), delays)
        })
        .collect();
    out.push(Figure {
        name: "added_delay_cdf".into(),
        kind: PlotKind::AddedDelayCdf,
        data: FigureData::DelayCdf(DelayCdf {
            title: format!("Delay added by relays ({})", setup(ctx)),
            series,
        }),
    });
}

/// `path_types`: how measured calls connected, stacked, one bar per group.
pub(super) fn path_types(ctx: &Ctx, out: &mut Vec<Figure>) {
    let groups = call_groups(ctx);
    if groups.is_empty() {
        return;
    }
    let rows = groups
        .iter()
        .map(|&g| {
            let mut counts = [0usize; 5];
            for c in measured(ctx, g) {
                counts[c.path.unwrap_or(4)] += 1;
            }
            (ctx.label(g), counts)
        })
        .collect();
    out.push(Figure {
        name: "path_types".into(),
        kind: PlotKind::PathTypes,
        data: FigureData::PathShares(PathShares {
            title: format!("How measured calls connected ({})", setup(ctx)),
            rows,
        }),
    });
}

/// `jain`, `spare_p5`, `probes`: one bar per group, from `summary.csv`.
pub(super) fn relay_load(ctx: &Ctx, out: &mut Vec<Figure>) {
    let groups = call_groups(ctx);
    if groups.is_empty() {
        return;
    }
    let sweep = ctx.rd.summary.header.iter().any(|h| h == "point");
    let of = if sweep {
        ", mean over replications"
    } else {
        ""
    };
    let setup = setup(ctx);
    let figures = [
        (
            "jain",
            "jain_relayed_bytes",
            format!("Load spreading: Jain's index of relayed bytes ({setup})"),
            format!("Jain's index over nodes offered as candidates (1 = even){of}"),
            3,
        ),
        (
            "spare_p5",
            "spare_p5_kbps",
            format!("Spare uplink of chosen relays, 5th percentile ({setup})"),
            format!("spare uplink after admission (kb/s){of}"),
            0,
        ),
        (
            "probes",
            "probes_per_selection",
            format!("Candidates probed per relay selection ({setup})"),
            format!("probes per selection{of}"),
            2,
        ),
    ];
    for (name, metric, title, x_desc, decimals) in figures {
        let bars = groups
            .iter()
            .map(|&g| {
                let group = &ctx.rd.groups[g];
                let value = ctx
                    .rd
                    .summary
                    .rows
                    .iter()
                    .find(|r| {
                        r.metric == metric && r.protocol == group.protocol && r.point == group.point
                    })
                    .map_or(f64::NAN, |r| r.mean);
                (ctx.label(g), value)
            })
            .collect();
        out.push(Figure {
            name: name.into(),
            kind: PlotKind::RelayLoad,
            data: FigureData::Bars(Bars {
                title,
                x_desc,
                bars,
                decimals,
            }),
        });
    }
}

/// `success_vs_duration`: call success against the call's nominal
/// duration, per group. The measured calls split into [`DURATION_BINS`]
/// equal-width bins over the range of all groups' durations; each bin's
/// share of completed calls (neither failed nor interrupted) with its 95%
/// Wilson interval, drawn as a symmetric bar of the wider side. Applies
/// when calls differ in duration.
pub(super) fn success_vs_duration(ctx: &Ctx, out: &mut Vec<Figure>) {
    let groups = call_groups(ctx);
    let durations = || {
        groups
            .iter()
            .flat_map(|&g| measured(ctx, g).map(|c| c.nominal_s / 60.0))
    };
    let lo = durations().fold(f64::INFINITY, f64::min);
    let hi = durations().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return;
    }
    let width = (hi - lo) / DURATION_BINS as f64;
    let series = groups
        .iter()
        .map(|&g| {
            let mut ok = [0usize; DURATION_BINS];
            let mut n = [0usize; DURATION_BINS];
            for c in measured(ctx, g) {
                let b = (((c.nominal_s / 60.0 - lo) / width) as usize).min(DURATION_BINS - 1);
                n[b] += 1;
                ok[b] += usize::from(c.completed);
            }
            let points = (0..DURATION_BINS)
                .filter(|&b| n[b] > 0)
                .map(|b| {
                    let rate = ok[b] as f64 / n[b] as f64;
                    let (l, h) = crate::calls_tables::wilson95(ok[b], n[b]);
                    ErrorBarPoint {
                        x: lo + (b as f64 + 0.5) * width,
                        mean: rate,
                        ci95: (rate - l).max(h - rate),
                    }
                })
                .collect();
            ErrorBarSeries {
                label: ctx.label(g),
                points,
            }
        })
        .collect();
    out.push(Figure {
        name: "success_vs_duration".into(),
        kind: PlotKind::SuccessVsDuration,
        data: FigureData::ErrorBars(ErrorBarFigure {
            title: format!("Call success against call duration ({})", setup(ctx)),
            x_desc: "call duration (min), bin centre".into(),
            y_desc: "call success rate, ± 95% Wilson interval".into(),
            categories: None,
            series,
        }),
    });
}

/// One run's public-node burden as multiples of N, the calls placed per
/// node (the blog's "5×N" and "11×N"): `(TCP-relayed calls per public
/// node, bandwidth per public node in calls)`, each over N. A call's
/// bandwidth unit is the mean bytes a caller moves in one call it placed.
/// NaN without calls or public nodes.
fn burden_over_n(t: &crate::results::NodeTotals) -> (f64, f64) {
    if t.calls_made == 0 || t.public_nodes == 0 {
        return (f64::NAN, f64::NAN);
    }
    let per_node = t.calls_made as f64 / t.nodes as f64;
    let unit = t.own_bytes as f64 / t.calls_made as f64;
    let np = t.public_nodes as f64;
    let tcp = t.public_relayed_tcp as f64 / np;
    let bandwidth = t.public_bytes as f64 / unit / np;
    (tcp / per_node, bandwidth / per_node)
}

/// `public_tcp_relays`, `public_bandwidth`: the public nodes' burden per
/// group, from `relay_nodes.parquet` (the whole run, warm-up included):
/// TCP-relayed calls and bandwidth (own calls plus TCP relaying, in calls)
/// per public node, as multiples of N; a sweep shows the mean over
/// replications. Applies when some public node relayed over TCP.
pub(super) fn public_burden(ctx: &Ctx, out: &mut Vec<Figure>) {
    let totals = &ctx.rd.node_totals;
    if !totals.iter().any(|t| t.public_relayed_tcp > 0) {
        return;
    }
    let mut groups: Vec<usize> = totals.iter().map(|t| t.group).collect();
    groups.sort_unstable();
    groups.dedup();
    let sweep = ctx.rd.summary.header.iter().any(|h| h == "point");
    let of = if sweep {
        ", mean over replications"
    } else {
        ""
    };
    let setup = setup(ctx);
    let per_group = |pick: fn((f64, f64)) -> f64| -> Vec<(String, f64)> {
        groups
            .iter()
            .map(|&g| {
                let v: Vec<f64> = totals
                    .iter()
                    .filter(|t| t.group == g)
                    .map(|t| pick(burden_over_n(t)))
                    .collect();
                (ctx.label(g), v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect()
    };
    out.push(Figure {
        name: "public_tcp_relays".into(),
        kind: PlotKind::PublicBurden,
        data: FigureData::Bars(Bars {
            title: format!("TCP-relayed calls per public node ({setup})"),
            x_desc: format!(
                "TCP-relayed calls per public node, × N (N = calls placed per node){of}"
            ),
            bars: per_group(|b| b.0),
            decimals: 2,
        }),
    });
    out.push(Figure {
        name: "public_bandwidth".into(),
        kind: PlotKind::PublicBurden,
        data: FigureData::Bars(Bars {
            title: format!("Bandwidth per public node, own calls and TCP relaying ({setup})"),
            x_desc: format!(
                "bandwidth per public node in calls, × N (N = calls placed per node){of}"
            ),
            bars: per_group(|b| b.1),
            decimals: 2,
        }),
    });
}
