//! Stacked bars: one bar per group (protocol, grid point), split into
//! categories (lookup outcomes, message kinds, later the path types of
//! calls). The legend sits in its own column right of the plot, top
//! category first, in the order the segments stack from the top.

use super::{
    CAPTION_PT, DrawResult, FONT, GRID, LABEL_PT, LEGEND_PT, TICK_PT, palette, save_both, tick,
};
use crate::error::Error;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One bar: its label and one value per category (in the figure's
/// category order, stacked bottom up).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Tick label under the bar.
    pub label: String,
    /// The segment heights.
    pub values: Vec<f64>,
    /// Text above the bar (e.g. the share of small segments that would
    /// otherwise be invisible).
    pub note: Option<String>,
}

/// What a stacked-bar figure shows.
#[derive(Clone, Debug, PartialEq)]
pub struct StackedBarFigure {
    /// Caption above the plot.
    pub title: String,
    /// Y axis description, with its unit.
    pub y_desc: String,
    /// The categories, bottom segment first.
    pub categories: Vec<String>,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
}

/// Width of the legend column, in pixels.
const LEGEND_W: u32 = 250;

/// Colour of category `i` of `n`: Okabe–Ito in order, grey for a last
/// category named "other".
fn category_color(fig: &StackedBarFigure, i: usize) -> RGBColor {
    if i + 1 == fig.categories.len() && fig.categories[i] == "other" {
        palette::GREY
    } else {
        palette::CATEGORIES[i % palette::CATEGORIES.len()]
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fig: &StackedBarFigure,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(&fig.title, (FONT, CAPTION_PT))?;
    let (w, _) = root.dim_in_pixel();
    let (plot, legend) = root.split_horizontally(w.saturating_sub(LEGEND_W));
    let total = fig
        .bars
        .iter()
        .map(|b| b.values.iter().filter(|v| v.is_finite()).sum::<f64>())
        .fold(0.0, f64::max);
    let notes = fig.bars.iter().any(|b| b.note.is_some());
    let y_max = if total > 0.0 {
        total * if notes { 1.14 } else { 1.06 }
    } else {
        1.0
    };
    let n = fig.bars.len();
    let mut chart = ChartBuilder::on(&plot)
        .margin(18)
        .x_label_area_size(70)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.6..n as f64 - 0.4, 0.0..y_max)?;
    let labels: Vec<String> = fig.bars.iter().map(|b| b.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| tick(*y))
        .y_desc(fig.y_desc.as_str())
        .axis_desc_style((FONT, LABEL_PT))
        .label_style((FONT, TICK_PT))
        .max_light_lines(1)
        .light_line_style(GRID)
        .draw()?;
    for (i, bar) in fig.bars.iter().enumerate() {
        let mut base = 0.0;
        for (c, &v) in bar.values.iter().enumerate() {
            if !v.is_finite() || v <= 0.0 {
                continue;
            }
            let color = category_color(fig, c);
            let x = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.32, base), (x + 0.32, base + v)],
                color.filled(),
            )))?;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.32, base), (x + 0.32, base + v)],
                WHITE.stroke_width(1),
            )))?;
            base += v;
        }
        if let Some(note) = &bar.note {
            let style = TextStyle::from((FONT, TICK_PT).into_font())
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(
                note.clone(),
                (i as f64, base + y_max * 0.015),
                style,
            )))?;
        }
    }
    // The legend column: top category first, as the segments stack.
    let style = TextStyle::from((FONT, LEGEND_PT).into_font()).color(&BLACK);
    let row = 30;
    let top = 40;
    for (row_i, c) in (0..fig.categories.len()).rev().enumerate() {
        let y = top + row * row_i as i32;
        legend.draw(&Rectangle::new(
            [(8, y - 9), (30, y + 9)],
            category_color(fig, c).filled(),
        ))?;
        legend.draw(&Text::new(
            fig.categories[c].clone(),
            (40, y - 9),
            style.clone(),
        ))?;
    }
    Ok(())
}

/// Draws a stacked-bar figure into `dir/NAME.{svg,png}`.
pub fn stacked(dir: &Path, name: &str, fig: &StackedBarFigure) -> Result<(), Error> {
    save_both(dir, name, |r| draw(r, fig), |r| draw(r, fig))
}
