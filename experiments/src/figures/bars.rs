//! Stacked bars per group: lookup outcomes, and traffic by message kind.

use super::context::Ctx;
use super::{Figure, FigureData, PlotKind};
use crate::plot::stacked::{Bar, StackedBarFigure};
use crate::results::Lookup;

/// Message kinds shown by name in the traffic figure; the rest are "other".
const TOP_KINDS: usize = 7;

pub(super) fn outcomes(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
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

pub(super) fn traffic_by_kind(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
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
