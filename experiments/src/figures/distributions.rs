//! Hop and latency distributions: the hop histogram (one group) or CDFs
//! (one curve per group), and the latency CDF.

use super::context::{Ctx, protocol_title};
use super::{Figure, FigureData, PlotKind};
use crate::plot::{CdfFigure, CdfSeries, HopsFigure};

pub(super) fn hops(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
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

pub(super) fn latency(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
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
