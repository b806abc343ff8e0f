//! Drawing the figures of calls results, in the style of [`crate::plot`]
//! (DejaVu Sans, Okabe–Ito colours, SVG and PNG, written atomically): an
//! added-delay CDF, horizontal bars and stacked path-type shares. What is
//! drawn, and from which stored tables, is decided in [`crate::figures`]
//! (kinds `added_delay_cdf`, `path_types`, `relay_load`), for `peerlab run`
//! and `peerlab plot` alike.
//!
//! Variants (groups) on the vertical axis of the bar figures, so long names stay
//! readable; the CDF cycles through eight colours, then dashes.

use crate::error::Error;
use crate::plot::{DrawResult, palette};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (1000, 620);
const FONT: &str = "sans-serif";
const CAPTION_PT: u32 = 24;
const LABEL_PT: u32 = 20;
const TICK_PT: u32 = 16;
const LEGEND_PT: u32 = 15;

/// Eight distinguishable colours: Okabe–Ito's six, black and dark grey.
const COLOURS: [RGBColor; 8] = [
    palette::BLUE,
    palette::ORANGE,
    palette::GREEN,
    palette::VERMILLION,
    palette::SKY,
    palette::PURPLE,
    RGBColor(0, 0, 0),
    RGBColor(0x80, 0x80, 0x80),
];

fn save_both(
    dir: &Path,
    name: &str,
    draw_svg: impl Fn(DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult<SVGBackend<'_>>,
    draw_png: impl Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult<BitMapBackend<'_>>,
) -> Result<(), Error> {
    crate::plot::save_both_sized(dir, name, SIZE, draw_svg, draw_png)
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The added-delay CDF: one curve per `(label, values)`.
#[derive(Clone, Debug)]
pub struct DelayCdf {
    /// Caption.
    pub title: String,
    /// Per variant: its label and the added delays of its relayed calls, ms.
    pub series: Vec<(String, Vec<f64>)>,
}

fn draw_cdf<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &DelayCdf) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let sorted: Vec<Vec<f64>> = fig
        .series
        .iter()
        .map(|(_, v)| {
            let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let x_max = sorted
        .iter()
        .map(|v| nearest_rank(v, 0.99))
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .caption(&fig.title, (FONT, CAPTION_PT))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("delay added by relaying (ms, one way; axis ends at the 99th percentile)")
        .y_desc("cumulative fraction of relayed calls")
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .max_light_lines(1)
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .draw()?;
    for (i, ((label, _), v)) in fig.series.iter().zip(&sorted).enumerate() {
        if v.is_empty() {
            continue;
        }
        let colour = COLOURS[i % COLOURS.len()];
        let style = colour.stroke_width(3);
        let n = v.len();
        let step = n.div_ceil(1000).max(1);
        let mut pts: Vec<(f64, f64)> = vec![(v[0], 0.0)];
        let mut j = 0;
        while j < n && v[j] <= x_max {
            pts.push((v[j], (j + 1) as f64 / n as f64));
            j += step;
        }
        let last_y = pts.last().map_or(0.0, |p| p.1);
        if v[n - 1] > x_max {
            pts.push((x_max, last_y));
        } else {
            pts.push((v[n - 1], 1.0));
        }
        let text = format!(
            "{label}: median {:.0}, p95 {:.0} ms",
            nearest_rank(v, 0.5),
            nearest_rank(v, 0.95)
        );
        let anno = if i >= COLOURS.len() {
            chart.draw_series(DashedLineSeries::new(pts, 10, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(pts, style))?
        };
        let dashed = i >= COLOURS.len();
        anno.label(text).legend(move |(x, y)| {
            if dashed {
                PathElement::new([(x, y), (x + 8, y)], style)
            } else {
                PathElement::new([(x, y), (x + 18, y)], style)
            }
        });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .margin(10)
        .label_font((FONT, LEGEND_PT))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()?;
    Ok(())
}

/// Draws a delay CDF into `dir/NAME.{svg,png}`.
pub fn delay_cdf(dir: &Path, name: &str, fig: &DelayCdf) -> Result<(), Error> {
    save_both(dir, name, |r| draw_cdf(r, fig), |r| draw_cdf(r, fig))
}

/// A horizontal bar figure: one bar per variant.
#[derive(Clone, Debug)]
pub struct Bars {
    /// Caption.
    pub title: String,
    /// The value axis's description.
    pub x_desc: String,
    /// Per variant: its label and value.
    pub bars: Vec<(String, f64)>,
    /// Digits after the point in the value printed beside each bar.
    pub decimals: usize,
}

fn label_area(labels: impl Iterator<Item = usize>) -> u32 {
    // About 9 px per character at the tick size, within bounds.
    (labels.max().unwrap_or(4) as u32 * 9 + 20).clamp(80, 360)
}

/// A value-axis tick: millions as `12M`, whole numbers on long axes, one
/// decimal on short ones.
fn tick(x: f64, axis_max: f64) -> String {
    if axis_max >= 1e7 {
        format!("{:.0}M", x / 1e6)
    } else if axis_max >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn draw_bars<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &Bars) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let n = fig.bars.len();
    let top = fig
        .bars
        .iter()
        .map(|b| b.1)
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let x_max = if top > 0.0 { top * 1.2 } else { 1.0 };
    let labels: Vec<String> = fig.bars.iter().map(|b| b.0.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(&fig.title, (FONT, CAPTION_PT))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(label_area(labels.iter().map(|l| l.chars().count())))
        .build_cartesian_2d(0.0..x_max, -0.5..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n.max(1) * 2 + 1)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                // The first variant on top.
                labels[n - 1 - i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|x| tick(*x, x_max))
        .x_desc(fig.x_desc.as_str())
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .max_light_lines(1)
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .draw()?;
    let colour = palette::BLUE;
    for (i, (_, v)) in fig.bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        if !v.is_finite() {
            chart.draw_series(std::iter::once(Text::new(
                "n/a",
                (0.0, y),
                (FONT, TICK_PT).into_font(),
            )))?;
            continue;
        }
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.35), (*v, y + 0.35)],
            colour.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!(" {:.*}", fig.decimals, v),
            (*v, y + 0.15),
            (FONT, TICK_PT).into_font(),
        )))?;
    }
    Ok(())
}

/// Draws a bar figure into `dir/NAME.{svg,png}`.
pub fn bars(dir: &Path, name: &str, fig: &Bars) -> Result<(), Error> {
    save_both(dir, name, |r| draw_bars(r, fig), |r| draw_bars(r, fig))
}

/// Path types per variant, as shares of measured calls.
#[derive(Clone, Debug)]
pub struct PathShares {
    /// Caption.
    pub title: String,
    /// Per variant: its label and its counts of direct, punched, UDP-relayed,
    /// TCP-relayed and never set up calls.
    pub rows: Vec<(String, [usize; 5])>,
}

/// The segments' names, in [`PathShares::rows`] order.
pub const PATH_SEGMENTS: [&str; 5] = [
    "direct",
    "punched",
    "relay (UDP)",
    "relay (TCP)",
    "never set up",
];

fn draw_paths<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fig: &PathShares,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let n = fig.rows.len();
    let labels: Vec<String> = fig.rows.iter().map(|r| r.0.clone()).collect();
    let colours = [
        palette::GREEN,
        palette::SKY,
        palette::ORANGE,
        palette::VERMILLION,
        RGBColor(0x99, 0x99, 0x99),
    ];
    // The legend is one row under the caption, outside the bars.
    let root = root.titled(&fig.title, (FONT, CAPTION_PT))?;
    let (legend, body) = root.split_vertically(36);
    let area = label_area(labels.iter().map(|l| l.chars().count())) as i32;
    let mut x = area;
    for (name, c) in PATH_SEGMENTS.iter().zip(colours) {
        legend.draw(&Rectangle::new([(x, 12), (x + 18, 26)], c.filled()))?;
        legend.draw(&Text::new(
            name.to_string(),
            (x + 24, 11),
            (FONT, LEGEND_PT).into_font(),
        ))?;
        x += 30 + 9 * name.chars().count() as i32;
    }
    let mut chart = ChartBuilder::on(&body)
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(area as u32)
        .build_cartesian_2d(0.0..100.0, -0.5..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n.max(1) * 2 + 1)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                labels[n - 1 - i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("share of measured calls (%)")
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .max_light_lines(1)
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .draw()?;
    for (seg, &c) in colours.iter().enumerate() {
        let rects: Vec<Rectangle<(f64, f64)>> = fig
            .rows
            .iter()
            .enumerate()
            .map(|(i, (_, counts))| {
                let total = counts.iter().sum::<usize>().max(1) as f64;
                let from: f64 = counts[..seg].iter().sum::<usize>() as f64 / total * 100.0;
                let to = from + counts[seg] as f64 / total * 100.0;
                let y = (n - 1 - i) as f64;
                Rectangle::new([(from, y - 0.35), (to, y + 0.35)], c.filled())
            })
            .collect();
        chart.draw_series(rects)?;
    }
    Ok(())
}

/// Draws path-type shares into `dir/NAME.{svg,png}`.
pub fn path_types(dir: &Path, name: &str, fig: &PathShares) -> Result<(), Error> {
    save_both(dir, name, |r| draw_paths(r, fig), |r| draw_paths(r, fig))
}
