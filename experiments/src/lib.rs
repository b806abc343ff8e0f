//! peerlab-experiments: the research front end behind the `peerlab` binary.
//!
//! A run goes spec → simulator → result directory:
//!
//! - [`spec`] parses and validates an experiment spec (TOML), naming the file
//!   and the dotted path of any bad field;
//! - [`run`] drives one simulation and hands its [`RunOutput`](peerlab_sim::records::RunOutput)
//!   to the writers;
//! - [`tables`] turns the records into Parquet tables (polars), [`summary`]
//!   computes per-metric means and Student-t confidence intervals,
//!   [`manifest`] records what ran;
//! - [`figures`] builds every figure from the stored tables (read back by
//!   [`results`]) and [`plot`] draws them; [`report`] writes `report.html`.
//!   `peerlab run` and `peerlab plot DIR` share this path;
//! - every file goes through [`output::write_atomic`], so an interrupted run
//!   never leaves a truncated table behind;
//! - [`bench`] measures the simulator at several sizes, one child process per
//!   size; [`node_cmd`] wires the live node into the same binary.
//!
//! A spec with `[calls]` runs the call scenario instead: [`calls_spec`]
//! parses it, [`calls_run`] drives it, [`calls_tables`] and [`calls_plots`]
//! write its tables and figures.
//!
//! [`catalog`] lists the bundled specs (`peerlab spec list`).
//!
//! [`cli`] is the command line; `main.rs` only calls [`cli::main`].

pub mod bench;
pub mod bench_sweep;
pub mod calls_plots;
pub mod calls_run;
pub mod calls_spec;
pub mod calls_tables;
pub mod catalog;
pub mod cli;
pub mod combine;
pub mod error;
pub mod figures;
pub mod graph_out;
pub mod grid;
pub mod manifest;
pub mod merge;
pub mod nat_spec;
pub mod node_cmd;
pub mod output;
pub mod plot;
pub mod progress;
pub mod record;
pub mod report;
pub mod results;
pub mod run;
pub mod series_tables;
pub mod shard;
mod simapi;
pub mod spec;
pub mod summary;
pub mod sweep;
pub mod tables;

pub use error::Error;
