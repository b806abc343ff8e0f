//! The cost-performance scatter in the style of Li et al.'s PVC (INFOCOM
//! 2005): each point one grid point of a protocol, at its maintenance cost
//! (bytes per node per second) and its lookup latency; each protocol's
//! convex hull frontier (the best latency it reaches at each cost, see
//! [`super::hull::frontier`]) drawn through its points.

use super::hull::frontier;
use super::{
    CAPTION_PT, DrawResult, FONT, GRID, LABEL_PT, Marker, TICK_PT, draw_legend, draw_markers,
    palette, save_both, tick,
};
use crate::error::Error;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One protocol's points: `(cost, latency)`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterSeries {
    /// Legend text.
    pub label: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// What a cost-performance figure shows.
#[derive(Clone, Debug, PartialEq)]
pub struct CostFigure {
    /// Caption above the plot.
    pub title: String,
    /// X axis description, with its unit.
    pub x_desc: String,
    /// Y axis description, with its unit.
    pub y_desc: String,
    /// One series per protocol.
    pub series: Vec<ScatterSeries>,
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &CostFigure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let all = || {
        fig.series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    // Both axes start at 0, as in PVC: cost and latency are ratios.
    let x1 = all().map(|p| p.0).fold(0.0, f64::max).max(1e-9) * 1.1;
    let y_data = all().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.1;
    let y1 = y_data * (1.08 + 0.1 * fig.series.len() as f64);
    let mut chart = ChartBuilder::on(&root)
        .caption(&fig.title, (FONT, CAPTION_PT))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..x1, 0.0..y1)?;
    chart
        .configure_mesh()
        .x_desc(fig.x_desc.as_str())
        .y_desc(fig.y_desc.as_str())
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| {
            if *y <= y_data {
                tick(*y)
            } else {
                String::new()
            }
        })
        .max_light_lines(1)
        .light_line_style(GRID)
        .draw()?;
    for (i, s) in fig.series.iter().enumerate() {
        let color = palette::SERIES[i % palette::SERIES.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let hull = frontier(&pts);
        if hull.len() >= 2 {
            chart.draw_series(LineSeries::new(hull, color.stroke_width(3)))?;
        }
        let label = if pts.len() >= 2 {
            format!(
                "{} ({} points; line: convex hull frontier)",
                s.label,
                pts.len()
            )
        } else {
            s.label.clone()
        };
        draw_markers(&mut chart, &pts, Marker::of(i), color, 7, Some(label))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Draws a cost-performance figure into `dir/NAME.{svg,png}`.
pub fn cost_performance(dir: &Path, name: &str, fig: &CostFigure) -> Result<(), Error> {
    save_both(dir, name, |r| draw(r, fig), |r| draw(r, fig))
}
