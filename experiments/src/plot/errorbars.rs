//! A metric against a swept parameter: one line per series, each point the
//! mean with its 95% confidence interval as an error bar.
//!
//! The values come straight from `summary.csv` (mean and `ci95_half_width`
//! of each grid point); this module only draws them. A categorical parameter
//! (one whose values are not all numbers) is drawn at positions 0, 1, ...
//! with its values as tick labels.

use super::{
    CAPTION_PT, DrawResult, FONT, GRID, LABEL_PT, Marker, TICK_PT, draw_legend, draw_markers,
    padded, palette, save_both, tick,
};
use crate::error::Error;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One point: the parameter value, and the metric's mean and CI half-width
/// (NaN when the point has a single replication: no bar is drawn).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorBarPoint {
    /// Parameter value (or category position).
    pub x: f64,
    /// Mean of the metric.
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean.
    pub ci95: f64,
}

/// One line of an error-bar figure.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBarSeries {
    /// Legend text.
    pub label: String,
    /// The points, in increasing `x`.
    pub points: Vec<ErrorBarPoint>,
}

/// What an error-bar figure shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBarFigure {
    /// Caption above the plot.
    pub title: String,
    /// X axis description (the parameter path).
    pub x_desc: String,
    /// Y axis description, with its unit.
    pub y_desc: String,
    /// Tick labels of a categorical parameter, at x = 0, 1, ...; `None` for
    /// a numeric one.
    pub categories: Option<Vec<String>>,
    /// The lines.
    pub series: Vec<ErrorBarSeries>,
}

impl ErrorBarFigure {
    fn x_range(&self) -> (f64, f64) {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.x));
        let lo = xs.clone().fold(f64::INFINITY, f64::min);
        let hi = xs.fold(f64::NEG_INFINITY, f64::max);
        match &self.categories {
            Some(c) => (-0.5, c.len() as f64 - 0.5),
            None => padded(lo, hi, 0.06),
        }
    }

    fn y_range(&self) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for p in self.series.iter().flat_map(|s| &s.points) {
            let ci = if p.ci95.is_finite() { p.ci95 } else { 0.0 };
            if p.mean.is_finite() {
                lo = lo.min(p.mean - ci);
                hi = hi.max(p.mean + ci);
            }
        }
        let (lo, hi) = padded(lo, hi, 0.08);
        // Headroom for the legend above the data.
        let span = hi - lo;
        (lo, hi + span * (0.1 + 0.09 * self.series.len() as f64))
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &ErrorBarFigure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (x0, x1) = fig.x_range();
    let (y0, y1) = fig.y_range();
    let mut chart = ChartBuilder::on(&root)
        .caption(&fig.title, (FONT, CAPTION_PT))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let cats = fig.categories.clone();
    let n_cats = cats.as_ref().map_or(10, |c| c.len());
    // A parameter that takes whole values only (k relays, k contacts) gets
    // no fractional tick labels.
    let whole = fig
        .series
        .iter()
        .flat_map(|s| &s.points)
        .all(|p| p.x.fract() == 0.0);
    chart
        .configure_mesh()
        .x_desc(fig.x_desc.as_str())
        .y_desc(fig.y_desc.as_str())
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .x_labels(if cats.is_some() { n_cats * 2 + 1 } else { 10 })
        .x_label_formatter(&|x| match &cats {
            Some(c) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < c.len() {
                    c[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None if whole && x.fract().abs() > 1e-9 => String::new(),
            None => tick(*x),
        })
        .y_label_formatter(&|y| tick(*y))
        .max_light_lines(1)
        .light_line_style(GRID)
        .draw()?;
    // Series side by side at a shared x, so their bars do not overlap.
    let n = fig.series.len();
    let dodge = (x1 - x0) * 0.008;
    for (i, s) in fig.series.iter().enumerate() {
        let color = palette::SERIES[i % palette::SERIES.len()];
        let shift = (i as f64 - (n as f64 - 1.0) / 2.0) * dodge;
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.mean.is_finite())
            .map(|p| (p.x + shift, p.mean))
            .collect();
        chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?;
        // Bars with caps (plotters' ErrorBar also draws a circle at the
        // mean, which would hide the series' marker shape).
        let cap = (x1 - x0) * 0.008;
        let bar = color.stroke_width(2);
        for p in s
            .points
            .iter()
            .filter(|p| p.mean.is_finite() && p.ci95.is_finite())
        {
            let (x, lo, hi) = (p.x + shift, p.mean - p.ci95, p.mean + p.ci95);
            chart.draw_series([
                PathElement::new([(x, lo), (x, hi)], bar),
                PathElement::new([(x - cap, lo), (x + cap, lo)], bar),
                PathElement::new([(x - cap, hi), (x + cap, hi)], bar),
            ])?;
        }
        draw_markers(
            &mut chart,
            &pts,
            Marker::of(i),
            color,
            6,
            Some(s.label.clone()),
        )?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Draws an error-bar figure into `dir/NAME.{svg,png}`.
pub fn errorbars(dir: &Path, name: &str, fig: &ErrorBarFigure) -> Result<(), Error> {
    save_both(dir, name, |r| draw(r, fig), |r| draw(r, fig))
}
