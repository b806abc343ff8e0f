//! Time series with confidence bands: per time bin, a line through the mean
//! and a shaded band over its 95% confidence interval.

use super::{
    CAPTION_PT, DrawResult, FONT, GRID, LABEL_PT, TICK_PT, draw_legend, padded, palette, save_both,
    tick,
};
use crate::error::Error;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One time bin of a series: its centre, the mean and the CI bounds (equal
/// to the mean when the bin has too few samples for an interval).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    /// Centre of the bin, in seconds.
    pub t: f64,
    /// Mean in the bin.
    pub mean: f64,
    /// Lower end of the 95% confidence interval.
    pub lo: f64,
    /// Upper end of the 95% confidence interval.
    pub hi: f64,
}

/// One line and band.
#[derive(Clone, Debug, PartialEq)]
pub struct BandSeries {
    /// Legend text.
    pub label: String,
    /// The bins, in time order.
    pub points: Vec<BandPoint>,
}

/// What a time-series figure shows.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeriesFigure {
    /// Caption above the plot.
    pub title: String,
    /// Y axis description, with its unit.
    pub y_desc: String,
    /// What the band means, quoted on the x axis (e.g. "95% CI across replications").
    pub band_desc: String,
    /// Fixed y range (e.g. 0..1 for a fraction); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// The lines.
    pub series: Vec<BandSeries>,
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fig: &TimeSeriesFigure,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let pts = || fig.series.iter().flat_map(|s| s.points.iter());
    let t0 = pts().map(|p| p.t).fold(f64::INFINITY, f64::min);
    let t1 = pts().map(|p| p.t).fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = padded(t0, t1, 0.02);
    let (y0, y1) = match fig.y_range {
        Some(r) => r,
        None => {
            let lo = pts()
                .map(|p| p.lo.min(p.mean))
                .filter(|v| v.is_finite())
                .fold(f64::INFINITY, f64::min);
            let hi = pts()
                .map(|p| p.hi.max(p.mean))
                .filter(|v| v.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = padded(lo.min(0.0), hi, 0.05);
            (lo.max(0.0), hi)
        }
    };
    // Headroom for the legend.
    let y1 = y1 + (y1 - y0) * (0.08 + 0.09 * fig.series.len() as f64);
    let mut chart = ChartBuilder::on(&root)
        .caption(&fig.title, (FONT, CAPTION_PT))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let y_top = fig.y_range.map(|r| r.1);
    chart
        .configure_mesh()
        .x_desc(format!("simulated time (s); bands: {}", fig.band_desc))
        .y_desc(fig.y_desc.as_str())
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| match y_top {
            Some(top) if *y > top + 1e-9 => String::new(),
            _ => tick(*y),
        })
        .max_light_lines(1)
        .light_line_style(GRID)
        .draw()?;
    for (i, s) in fig.series.iter().enumerate() {
        let color = palette::SERIES[i % palette::SERIES.len()];
        let ok: Vec<&BandPoint> = s.points.iter().filter(|p| p.mean.is_finite()).collect();
        let band: Vec<(f64, f64)> = ok
            .iter()
            .map(|p| (p.t, if p.hi.is_finite() { p.hi } else { p.mean }))
            .chain(
                ok.iter()
                    .rev()
                    .map(|p| (p.t, if p.lo.is_finite() { p.lo } else { p.mean })),
            )
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(
            band,
            color.mix(0.22).filled(),
        )))?;
        let line = color.stroke_width(3);
        chart
            .draw_series(LineSeries::new(ok.iter().map(|p| (p.t, p.mean)), line))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + Rectangle::new([(0, -7), (22, 7)], color.mix(0.22).filled())
                    + PathElement::new([(0, 0), (22, 0)], line)
            });
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Draws a time-series figure into `dir/NAME.{svg,png}`.
pub fn timeseries(dir: &Path, name: &str, fig: &TimeSeriesFigure) -> Result<(), Error> {
    save_both(dir, name, |r| draw(r, fig), |r| draw(r, fig))
}
