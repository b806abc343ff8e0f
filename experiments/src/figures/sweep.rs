//! Figures from `summary.csv`: each main metric against each swept
//! parameter (mean ± 95% CI), and the cost-performance scatter.

use super::context::{Ctx, short};
use super::{Figure, FigureData, PlotKind};
use crate::plot::errorbars::{ErrorBarFigure, ErrorBarPoint, ErrorBarSeries};
use crate::plot::scatter::{CostFigure, ScatterSeries};

/// The metrics drawn against swept parameters unless `[plots] metrics`
/// says otherwise, those of calls sweeps included: `(metric, axis label)`.
pub const MAIN_METRICS: [(&str, &str); 8] = [
    ("lookup_success", "lookup success rate"),
    ("lookup_hops", "lookup hops"),
    ("lookup_latency_ms", "lookup latency"),
    ("bytes_per_node_s", "traffic"),
    ("get_success", "get success rate"),
    ("success_rate", "call success rate"),
    ("added_delay_p95_ms", "95th percentile of added delay"),
    ("jain_relayed_bytes", "Jain's index of relayed bytes"),
];

/// Axis labels of metrics a spec may name in `[plots] metrics` beyond
/// [`MAIN_METRICS`]; any other metric is labelled by its name.
const LABELS: [(&str, &str); 6] = [
    ("added_delay_mean_ms", "mean added delay"),
    ("added_delay_p50_ms", "median added delay"),
    ("setup_mean_ms", "mean call setup latency"),
    ("public_relay_share", "public nodes' share of relayed bytes"),
    ("spare_p5_kbps", "5th percentile of spare relay uplink"),
    ("probes_per_selection", "probes per relay selection"),
];

/// The metrics to draw: the spec's `[plots] metrics`, else the main ones.
fn chosen_metrics(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let asked = ctx.rd.spec.as_ref().and_then(|s| s.plots.metrics.clone());
    match asked {
        None => MAIN_METRICS
            .iter()
            .map(|(m, l)| (m.to_string(), l.to_string()))
            .collect(),
        Some(names) => names
            .into_iter()
            .map(|m| {
                let label = MAIN_METRICS
                    .iter()
                    .chain(&LABELS)
                    .find(|(x, _)| *x == m)
                    .map_or_else(|| m.replace('_', " "), |(_, l)| l.to_string());
                (m, label)
            })
            .collect(),
    }
}

/// `metric` against swept parameter `param`, one series per protocol and
/// combination of the other parameters, straight from `summary.csv`.
pub(super) fn metric_vs_param(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
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
            None => Some(values.iter().map(|v| category_label(v)).collect::<Vec<_>>()),
        };
        let x_of = |v: &str| -> f64 {
            match &numeric {
                Some(_) => v.trim().parse::<f64>().unwrap_or(f64::NAN),
                None => values.iter().position(|x| *x == v).unwrap_or(0) as f64,
            }
        };
        for (metric, label) in chosen_metrics(ctx) {
            let rows: Vec<_> = s
                .rows
                .iter()
                .filter(|r| r.metric == metric && r.mean.is_finite())
                .collect();
            if rows.is_empty() {
                if ctx
                    .rd
                    .spec
                    .as_ref()
                    .is_some_and(|s| s.plots.metrics.is_some())
                {
                    tracing::warn!(metric, "requested metric is not in summary.csv");
                }
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
                    title: format!("{} against {}", capitalise(&label), short(param)),
                    x_desc: param.clone(),
                    y_desc: format!("{label} ({unit}), mean ± 95% CI"),
                    categories: categories.clone(),
                    series,
                }),
            });
        }
    }
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub(super) fn cost(ctx: &Ctx<'_>, out: &mut Vec<Figure>) {
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

/// A categorical sweep value as a tick label: an inline table that names
/// its kind (`{ kind = "kad" }`, `{ model = "constant", ms = 20.0 }`) shows
/// that name, a quoted string its text, anything else its TOML text.
fn category_label(v: &str) -> String {
    match v
        .parse::<toml::Table>()
        .or_else(|_| format!("x = {v}").parse::<toml::Table>())
    {
        Ok(t) => {
            let value = t.get("x").cloned().unwrap_or(toml::Value::Table(t));
            match &value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Table(inner) => ["kind", "model", "dist", "preset"]
                    .iter()
                    .find_map(|k| inner.get(*k).and_then(|x| x.as_str()).map(str::to_string))
                    .unwrap_or_else(|| v.to_string()),
                _ => v.to_string(),
            }
        }
        Err(_) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::category_label;

    #[test]
    fn categories_show_the_kind_they_name() {
        assert_eq!(
            category_label("{ kind = \"skype-supernode\" }"),
            "skype-supernode"
        );
        assert_eq!(
            category_label("{ model = \"constant\", ms = 20.0 }"),
            "constant"
        );
        assert_eq!(category_label("\"recursive\""), "recursive");
        assert_eq!(category_label("{ a = 1 }"), "{ a = 1 }");
        assert_eq!(category_label("[1, 2]"), "[1, 2]");
    }
}
