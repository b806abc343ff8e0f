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
//!   [`manifest`] records what ran, and [`plot`] draws the figures;
//! - every file goes through [`output::write_atomic`], so an interrupted run
//!   never leaves a truncated table behind;
//! - [`bench`] measures the simulator at several sizes, one child process per
//!   size; [`node_cmd`] wires the live node into the same binary.
//!
//! [`catalog`] lists the bundled specs (`peerlab spec list`).
//!
//! [`cli`] is the command line; `main.rs` only calls [`cli::main`].

pub mod bench;
pub mod bench_sweep;
pub mod catalog;
pub mod cli;
pub mod combine;
pub mod error;
pub mod grid;
pub mod manifest;
pub mod merge;
pub mod node_cmd;
pub mod output;
pub mod plot;
pub mod progress;
pub mod record;
pub mod run;
pub mod shard;
mod simapi;
pub mod spec;
pub mod summary;
pub mod sweep;
pub mod tables;

pub use error::Error;
