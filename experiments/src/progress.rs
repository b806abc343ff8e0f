//! Progress bars for long runs and for sweeps, on stderr, only when stderr
//! is a terminal.
//!
//! The simulator reports [`Progress`] (simulated time reached, end time,
//! events so far); the bar shows simulated seconds against the end time and
//! the event count. When stderr is a file or pipe nothing is drawn, so logs
//! and CI output stay clean.

use crate::simapi::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// The bar of one simulation run (possibly hidden).
pub struct RunProgress {
    bar: Option<ProgressBar>,
}

impl RunProgress {
    /// A bar labelled `label`, drawn only if stderr is a terminal.
    pub fn new(label: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return RunProgress::hidden();
        }
        // Hidden until the first report says how long the run is.
        let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} sim s  {msg}  (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        RunProgress { bar: Some(bar) }
    }

    /// A bar that draws nothing.
    pub fn hidden() -> Self {
        RunProgress { bar: None }
    }

    /// Feeds one report from the simulator.
    pub fn update(&mut self, p: Progress) {
        if let Some(bar) = &self.bar {
            let len = p.end_time_s.max(0.0).ceil() as u64;
            if bar.length() != Some(len) {
                bar.set_length(len);
            }
            if bar.is_hidden() {
                bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            }
            bar.set_position((p.sim_time_s.max(0.0) as u64).min(len));
            bar.set_message(format!("{} events", p.events));
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for RunProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The bar of a sweep: runs finished out of the runs to do, with an ETA.
/// Drawn on stderr only when stderr is a terminal; shared by the worker
/// threads.
pub struct SweepProgress {
    bar: Option<ProgressBar>,
}

impl SweepProgress {
    /// A bar over `total` runs, labelled `label`.
    pub fn new(label: &str, total: u64) -> Self {
        if !std::io::stderr().is_terminal() || total == 0 {
            return SweepProgress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} runs  {msg}  (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        bar.tick();
        SweepProgress { bar: Some(bar) }
    }

    /// Counts one finished run, `run_id`.
    pub fn finished(&self, run_id: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(run_id.to_string());
            bar.inc(1);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for SweepProgress {
    fn drop(&mut self) {
        self.finish();
    }
}
