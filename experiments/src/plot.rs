//! Figures, drawn with plotters as SVG (for papers) and PNG (for a quick look).
//!
//! Text uses DejaVu Sans, compiled into the binary (the `dejavu` crate) and
//! registered with plotters' `ab_glyph` text renderer, so no system font or
//! fontconfig is needed. Colours come from the Okabe–Ito palette, which stays
//! distinguishable under the common forms of colour blindness. Every figure
//! function takes plain data; [`crate::figures`] builds that data from the
//! stored tables of a result directory, for `peerlab run` and `peerlab plot`
//! alike.
//!
//! The kinds: [`lookup_hops`] (a histogram), [`cdf`], [`errorbars`] (a metric
//! against a parameter with 95% CIs), [`timeseries`] (mean and CI band per
//! time bin), [`stacked`] (stacked bars of categories) and [`scatter`] (the
//! cost-performance scatter with each series' convex hull, see [`hull`]).

pub mod errorbars;
pub mod hull;
pub mod scatter;
pub mod stacked;
pub mod timeseries;

use crate::error::Error;
use crate::output::{create_dir, write_atomic_via_path, write_bytes_atomic};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::Once;

/// Okabe–Ito colours, in the order series use them.
pub mod palette {
    use plotters::style::RGBColor;
    /// Blue.
    pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
    /// Orange.
    pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
    /// Vermillion.
    pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
    /// Bluish green.
    pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
    /// Sky blue.
    pub const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
    /// Reddish purple.
    pub const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
    /// Yellow.
    pub const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);
    /// Black.
    pub const BLACK: RGBColor = RGBColor(0x00, 0x00, 0x00);
    /// Grey, for an "other" category (not an Okabe–Ito colour).
    pub const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);
    /// Series colours in order.
    pub const SERIES: [RGBColor; 6] = [BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE];
    /// Category colours for stacked bars: all eight Okabe–Ito colours, the
    /// darker ones first so neighbouring segments contrast.
    pub const CATEGORIES: [RGBColor; 8] =
        [BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW, BLACK];
}

/// Figure size in pixels (SVG user units and PNG pixels alike).
pub const SIZE: (u32, u32) = (900, 560);
pub(crate) const FONT: &str = "sans-serif";
pub(crate) const CAPTION_PT: u32 = 24;
pub(crate) const LABEL_PT: u32 = 20;
pub(crate) const TICK_PT: u32 = 16;
pub(crate) const LEGEND_PT: u32 = 17;
/// Light grid lines.
pub(crate) const GRID: RGBColor = RGBColor(0xEE, 0xEE, 0xEE);

static FONTS: Once = Once::new();

/// Registers the bundled DejaVu fonts with plotters (once per process).
pub fn register_fonts() {
    FONTS.call_once(|| {
        for family in [FONT, "serif", "DejaVu Sans"] {
            let _ = register_font(family, FontStyle::Normal, dejavu::sans::regular());
            let _ = register_font(family, FontStyle::Bold, dejavu::sans::bold());
            let _ = register_font(family, FontStyle::Oblique, dejavu::sans::oblique());
            let _ = register_font(family, FontStyle::Italic, dejavu::sans::oblique());
        }
        let _ = register_font("monospace", FontStyle::Normal, dejavu::sans_mono::regular());
    });
}

/// ⌈log2 n⌉, the hop bound of an n-node Kademlia (0 for n ≤ 1).
pub fn log2_ceil(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Writes `name.svg` and `name.png` into `dir` at the standard [`SIZE`],
/// each drawn by `draw`.
pub(crate) fn save_both(
    dir: &Path,
    name: &str,
    draw_svg: impl Fn(DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult<SVGBackend<'_>>,
    draw_png: impl Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult<BitMapBackend<'_>>,
) -> Result<(), Error> {
    save_both_sized(dir, name, SIZE, draw_svg, draw_png)
}

/// [`save_both`] at another canvas size.
pub(crate) fn save_both_sized(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    draw_svg: impl Fn(DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult<SVGBackend<'_>>,
    draw_png: impl Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult<BitMapBackend<'_>>,
) -> Result<(), Error> {
    register_fonts();
    create_dir(dir)?;
    let svg_name = format!("{name}.svg");
    let plot_err = |file: &str| {
        let file = file.to_string();
        move |e: String| Error::Plot {
            name: file,
            message: e,
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_svg(root.clone())
            .map_err(|e| e.to_string())
            .map_err(plot_err(&svg_name))?;
        root.present()
            .map_err(|e| e.to_string())
            .map_err(plot_err(&svg_name))?;
    }
    write_bytes_atomic(&dir.join(&svg_name), svg.as_bytes())?;
    let png_name = format!("{name}.png");
    write_atomic_via_path(&dir.join(&png_name), |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        draw_png(root.clone())
            .map_err(|e| e.to_string())
            .map_err(plot_err(&png_name))?;
        root.present()
            .map_err(|e| e.to_string())
            .map_err(plot_err(&png_name))
    })
}

/// Draws the series legend the same way on every figure.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(12)
        .label_font((FONT, LEGEND_PT))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()
}

/// The marker shape of series `i`, so series differ in shape as well as
/// colour (for grey-scale prints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    Circle,
    Triangle,
    Square,
}

impl Marker {
    pub(crate) fn of(i: usize) -> Marker {
        [Marker::Circle, Marker::Triangle, Marker::Square][i % 3]
    }
}

/// Draws `points` as markers of shape `marker` and registers the legend
/// entry `label` (a line with the marker).
pub(crate) fn draw_markers<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: &[(f64, f64)],
    marker: Marker,
    color: RGBColor,
    size: i32,
    label: Option<String>,
) -> DrawResult<DB> {
    let line = color.stroke_width(3);
    let fill = color.filled();
    let anno = match marker {
        Marker::Circle => chart
            .draw_series(points.iter().map(|&p| Circle::new(p, size, fill)))?
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (22, 0)], line)
                    + Circle::new((11, 0), size, fill)
            }),
        Marker::Triangle => chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| TriangleMarker::new(p, size + 2, fill)),
            )?
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (22, 0)], line)
                    + TriangleMarker::new((11, 0), size + 2, fill)
            }),
        Marker::Square => chart
            .draw_series(points.iter().map(|&p| {
                EmptyElement::at(p) + Rectangle::new([(-size, -size), (size, size)], fill)
            }))?
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (22, 0)], line)
                    + Rectangle::new([(11 - size, -size), (11 + size, size)], fill)
            }),
    };
    if let Some(label) = label {
        anno.label(label);
    }
    Ok(())
}

/// A padded axis range around `[lo, hi]` (a unit range around a single value).
pub(crate) fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// Tick label text for `x`: no trailing zeros, at most 3 decimals.
pub(crate) fn tick(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    let s = if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// What the hop-count figure shows.
#[derive(Clone, Debug)]
pub struct HopsFigure {
    /// Caption above the plot.
    pub title: String,
    /// Hops of each lookup.
    pub hops: Vec<u32>,
    /// Overlay size N, for the ⌈log2 N⌉ bound.
    pub nodes: u64,
}

fn draw_hops<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &HopsFigure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let bound = log2_ceil(fig.nodes);
    let max_hop = fig.hops.iter().copied().max().unwrap_or(0).max(bound);
    let mut counts = vec![0u64; max_hop as usize + 1];
    for &h in &fig.hops {
        counts[h as usize] += 1;
    }
    let n = fig.hops.len().max(1) as f64;
    let share: Vec<f64> = counts.iter().map(|&c| 100.0 * c as f64 / n).collect();
    let mean = if fig.hops.is_empty() {
        0.0
    } else {
        fig.hops.iter().map(|&h| h as f64).sum::<f64>() / n
    };
    // The legend sits in headroom above the tallest bar; the marker lines
    // stop below it, so nothing is hidden behind the legend.
    let top = share.iter().copied().fold(0.0, f64::max).max(1.0);
    let line_top = top * 1.08;
    let y_max = top * 1.5;
    let x_range = -0.6..max_hop as f64 + 0.6;

    let mut chart = ChartBuilder::on(&root)
        .caption(&fig.title, (FONT, CAPTION_PT))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range, 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(max_hop as usize + 2)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("hops per lookup")
        .y_desc("share of lookups (%)")
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .max_light_lines(1)
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .draw()?;

    let bar = palette::BLUE;
    chart
        .draw_series(share.iter().enumerate().map(|(h, &s)| {
            Rectangle::new([(h as f64 - 0.38, 0.0), (h as f64 + 0.38, s)], bar.filled())
        }))?
        .label(format!("lookups (n = {})", fig.hops.len()))
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], bar.filled()));
    let mean_style = palette::ORANGE.stroke_width(4);
    chart
        .draw_series(DashedLineSeries::new(
            [(mean, 0.0), (mean, line_top)],
            12,
            6,
            mean_style,
        ))?
        .label(format!("mean = {mean:.2} hops"))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], mean_style));
    let bound_style = palette::VERMILLION.stroke_width(3);
    chart
        .draw_series(LineSeries::new(
            [(bound as f64, 0.0), (bound as f64, line_top)],
            bound_style,
        ))?
        .label(format!("⌈log₂ N⌉ = {bound} (N = {})", fig.nodes))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], bound_style));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(12)
        .label_font((FONT, LEGEND_PT))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()?;
    Ok(())
}

/// Draws the hop-count distribution into `dir/lookup_hops.{svg,png}`.
pub fn lookup_hops(dir: &Path, fig: &HopsFigure) -> Result<(), Error> {
    save_both(
        dir,
        "lookup_hops",
        |r| draw_hops(r, fig),
        |r| draw_hops(r, fig),
    )
}

/// One curve of a CDF figure.
#[derive(Clone, Debug)]
pub struct CdfSeries {
    /// Legend text (the median and 95th percentile are appended).
    pub label: String,
    /// The observations, in any order.
    pub values: Vec<f64>,
}

/// What a CDF figure shows.
#[derive(Clone, Debug)]
pub struct CdfFigure {
    /// Caption above the plot.
    pub title: String,
    /// X axis description, with its unit.
    pub x_desc: String,
    /// Unit of the values, for the legend's median and 95th percentile.
    pub unit: String,
    /// The curves.
    pub series: Vec<CdfSeries>,
    /// Draw each curve as a step function with integer ticks (for counts
    /// such as hops).
    pub discrete: bool,
    /// End the x axis at this quantile of the widest curve instead of its
    /// maximum, so a long tail does not squash the body (the legend still
    /// gives the median and the 95th percentile of all values).
    pub x_max_quantile: Option<f64>,
}

/// The `p`-quantile of sorted values (nearest rank).
pub(crate) fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// At most ~1,000 points of the empirical CDF of `sorted`: `(x_i, (i+1)/n)`
/// at every 0.1% of the mass, plus the extremes, joined by straight lines.
fn cdf_points(sorted: &[f64]) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(1000).max(1);
    let mut pts = vec![(sorted[0], 0.0)];
    let mut i = 0;
    while i < n {
        pts.push((sorted[i], (i + 1) as f64 / n as f64));
        i += step;
    }
    pts.push((sorted[n - 1], 1.0));
    pts
}

/// The empirical CDF of `sorted` as a step function: one riser per distinct
/// value.
fn step_points(sorted: &[f64]) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let mut pts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let x = sorted[i];
        let before = i as f64 / n;
        while i < sorted.len() && sorted[i] == x {
            i += 1;
        }
        if let Some(&(_, y)) = pts.last() {
            pts.push((x, y));
        }
        pts.push((x, before));
        pts.push((x, i as f64 / n));
    }
    pts
}

/// `pts` up to `x_max`, ending on the curve at `x_max` if it goes beyond.
fn clip_points(pts: Vec<(f64, f64)>, x_max: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    for (x, y) in pts {
        if x <= x_max {
            out.push((x, y));
        } else {
            if let Some(&(_, y_last)) = out.last() {
                out.push((x_max, y_last));
            }
            break;
        }
    }
    out
}

fn draw_cdf<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &CdfFigure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let sorted: Vec<Vec<f64>> = fig
        .series
        .iter()
        .map(|s| {
            let mut v: Vec<f64> = s.values.iter().copied().filter(|x| x.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let x_max = sorted
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| match fig.x_max_quantile {
            Some(q) => quantile(v, q),
            None => v[v.len() - 1],
        })
        .fold(0.0, f64::max);
    let x_max = if fig.discrete {
        x_max.ceil() + 1.0
    } else if x_max > 0.0 {
        x_max * 1.05
    } else {
        1.0
    };
    // Every curve ends at 1; the legend sits in the band above it.
    let y_max = 1.12 + 0.1 * fig.series.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(&fig.title, (FONT, CAPTION_PT))
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(fig.x_desc.as_str())
        .y_desc("cumulative fraction")
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .y_label_formatter(&|y| {
            if *y <= 1.0 + 1e-9 {
                format!("{y:.1}")
            } else {
                String::new()
            }
        })
        .x_labels(if fig.discrete { x_max as usize + 1 } else { 10 })
        .x_label_formatter(&|x| {
            if fig.discrete && (x - x.round()).abs() > 1e-9 {
                String::new()
            } else {
                format!("{x:.0}")
            }
        })
        .max_light_lines(1)
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .draw()?;
    for (i, (s, v)) in fig.series.iter().zip(&sorted).enumerate() {
        if v.is_empty() {
            continue;
        }
        let style = palette::SERIES[i % palette::SERIES.len()].stroke_width(3);
        let mean = if fig.discrete {
            format!("mean {:.2}, ", v.iter().sum::<f64>() / v.len() as f64)
        } else {
            String::new()
        };
        let label = format!(
            "{} (n = {}, {mean}median {:.0} {u}, p95 {:.0} {u})",
            s.label,
            v.len(),
            quantile(v, 0.5),
            quantile(v, 0.95),
            u = fig.unit
        );
        let pts = clip_points(
            if fig.discrete {
                step_points(v)
            } else {
                cdf_points(v)
            },
            x_max,
        );
        // Past the palette, colours repeat with dashed lines.
        if i < palette::SERIES.len() {
            chart
                .draw_series(LineSeries::new(pts, style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
        } else {
            chart
                .draw_series(DashedLineSeries::new(pts, 10, 6, style))?
                .label(label)
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new([(0, 0), (7, 0)], style)
                        + PathElement::new([(11, 0), (18, 0)], style)
                });
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(12)
        .label_font((FONT, LEGEND_PT))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()?;
    Ok(())
}

/// Draws a CDF figure into `dir/NAME.{svg,png}`.
pub fn cdf(dir: &Path, name: &str, fig: &CdfFigure) -> Result<(), Error> {
    save_both(dir, name, |r| draw_cdf(r, fig), |r| draw_cdf(r, fig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_bound() {
        assert_eq!(log2_ceil(1), 0);
        assert_eq!(log2_ceil(2), 1);
        assert_eq!(log2_ceil(1000), 10);
        assert_eq!(log2_ceil(1024), 10);
        assert_eq!(log2_ceil(1025), 11);
        assert_eq!(log2_ceil(100_000), 17);
    }

    #[test]
    fn quantiles_and_cdf_points() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.95), 95.0);
        let pts = cdf_points(&v);
        assert_eq!(pts.first(), Some(&(1.0, 0.0)));
        assert_eq!(pts.last(), Some(&(100.0, 1.0)));
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        let big: Vec<f64> = (0..100_000).map(f64::from).collect();
        assert!(cdf_points(&big).len() <= 1_002);
    }

    #[test]
    fn figures_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let fig = HopsFigure {
            title: "test".into(),
            hops: vec![1, 2, 2, 3, 3, 3, 4],
            nodes: 1000,
        };
        lookup_hops(dir.path(), &fig).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("lookup_hops.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..50]);
        assert!(
            svg.contains("hops per lookup") && svg.contains("mean = 2.57 hops"),
            "{svg}"
        );
        let png = std::fs::read(dir.path().join("lookup_hops.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let cdf_fig = CdfFigure {
            title: "t".into(),
            x_desc: "latency (ms)".into(),
            unit: "ms".into(),
            series: vec![
                CdfSeries {
                    label: "a".into(),
                    values: vec![1.0, 5.0, 3.0],
                },
                CdfSeries {
                    label: "empty".into(),
                    values: vec![],
                },
            ],
            discrete: false,
            x_max_quantile: None,
        };
        cdf(dir.path(), "c", &cdf_fig).unwrap();
        assert!(dir.path().join("c.png").exists() && dir.path().join("c.svg").exists());
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn step_and_clipped_curves() {
        let pts = step_points(&[1.0, 1.0, 2.0, 4.0]);
        assert_eq!(
            pts,
            [
                (1.0, 0.0),
                (1.0, 0.5),
                (2.0, 0.5),
                (2.0, 0.5),
                (2.0, 0.75),
                (4.0, 0.75),
                (4.0, 0.75),
                (4.0, 1.0)
            ]
        );
        let c = clip_points(pts, 3.0);
        assert_eq!(c.last(), Some(&(3.0, 0.75)));
        assert!(c.iter().all(|&(x, _)| x <= 3.0));
    }
}
