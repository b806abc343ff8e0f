//! `manifest.json`: what ran, how long it took, and the trace hash that
//! identifies the run's exact event sequence.
//!
//! The manifest is the last file a run writes, so its presence marks a
//! complete result directory (a later resumable sweep relies on this). It
//! records no git state, host name or timestamp; `wall_time_s` and
//! `events_per_s` are the only fields that change between identical runs.
//!
//! `protocols` has one entry per protocol the run simulated. The top-level
//! figures are that entry's for a single protocol; for a comparison they are
//! totals over the protocols (`sim_time_s` the longest), and `trace_hash`
//! combines the protocols' hashes in order ([`combine_trace_hashes`]).

use crate::error::Error;
use crate::output::write_bytes_atomic;
use crate::spec::Spec;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the manifest in a result directory.
pub const MANIFEST: &str = "manifest.json";

/// The manifest of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of peerlab that produced the results.
    pub peerlab_version: String,
    /// The spec file, as given on the command line.
    pub spec_file: String,
    /// The fully resolved spec (defaults filled in, `--seed` applied).
    pub spec: Spec,
    /// The seed the simulator ran with.
    pub seed: u64,
    /// Hash over the sequence of processed events, 16 hex digits.
    pub trace_hash: String,
    /// Events the simulator processed.
    pub events: u64,
    /// Wall-clock time of the simulation (not of writing results), in seconds.
    pub wall_time_s: f64,
    /// `events / wall_time_s`.
    pub events_per_s: f64,
    /// Simulated time at the end of the run, in seconds.
    pub sim_time_s: f64,
    /// Nodes that completed their join.
    pub nodes_joined: u32,
    /// Messages dropped by the loss model.
    pub messages_dropped: u64,
    /// Rows in `lookups.parquet`.
    pub lookups: u64,
    /// Rows in `puts.parquet`.
    pub puts: u64,
    /// Every file of the result directory, relative to it, manifest excluded.
    pub files: Vec<String>,
    /// One entry per simulated protocol, in the spec's order.
    #[serde(default)]
    pub protocols: Vec<ProtocolManifest>,
    /// Present for the result directory of a sweep (`peerlab sweep` or
    /// `peerlab merge`): the grid, the shard and every run in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepManifest>,
}

/// The sweep part of a sweep's manifest.
///
/// In a sweep's manifest the top-level figures are totals over its runs
/// (`sim_time_s` the longest), `seed` is the base seed, `trace_hash`
/// combines the runs' trace hashes in run order, and `protocols` has one
/// entry per protocol with totals over the runs and their trace hashes
/// combined in run order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    /// Grid points of the whole sweep.
    pub points: usize,
    /// Replications per point.
    pub replications: u32,
    /// Runs of the whole sweep (`points · replications`).
    pub runs_total: usize,
    /// The shard this directory holds (`I/N`), or none for every run.
    pub shard: Option<String>,
    /// Threads the last invocation ran with (none for `peerlab merge`).
    pub threads: Option<usize>,
    /// Runs the last invocation found finished and skipped.
    pub runs_skipped: usize,
    /// Wall-clock seconds of the last invocation, combining included.
    pub elapsed_s: f64,
    /// Every run in this directory, in run order.
    pub runs: Vec<SweepRun>,
}

/// One run of a sweep, as its manifest lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    /// `p{point:03}-r{replication:02}`.
    pub run_id: String,
    /// The simulator seed.
    pub seed: u64,
    /// The run's trace hash.
    pub trace_hash: String,
    /// Wall-clock seconds of its simulations.
    pub wall_time_s: f64,
}

/// What one protocol's simulation of a run reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtocolManifest {
    /// The protocol (`kademlia`, `chord`).
    pub protocol: String,
    /// Hash over the sequence of processed events, 16 hex digits.
    pub trace_hash: String,
    /// Events the simulator processed.
    pub events: u64,
    /// Wall-clock time of the simulation, in seconds.
    pub wall_time_s: f64,
    /// `events / wall_time_s`.
    pub events_per_s: f64,
    /// Simulated time at the end of the run, in seconds.
    pub sim_time_s: f64,
    /// Nodes that completed their join (joins, in a churn run).
    pub nodes_joined: u32,
    /// Messages dropped by the loss model.
    pub messages_dropped: u64,
    /// This protocol's rows in `lookups.parquet`.
    pub lookups: u64,
    /// This protocol's rows in `puts.parquet`.
    pub puts: u64,
}

/// One hash for several protocols' trace hashes, order-sensitive
/// (SplitMix64 finalisation of a running combination).
pub fn combine_trace_hashes(hashes: &[u64]) -> u64 {
    let mut acc: u64 = 0x9E37_79B9_7F4A_7C15;
    for &h in hashes {
        let mut z = acc ^ h.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(acc << 6);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        acc = z ^ (z >> 31);
    }
    acc
}

/// Formats a trace hash as it appears in manifests and summaries.
pub fn trace_hash_hex(h: u64) -> String {
    format!("{h:016x}")
}

impl Manifest {
    /// The manifest of an overlay run or sweep over `protocols`: the totals
    /// (events, joins, drops, lookups, puts; the longest simulated time)
    /// are summed over them. `wall_time_s` is the run's wall time. No sweep
    /// section; a sweep sets it.
    pub fn for_protocols(
        spec_file: String,
        spec: &Spec,
        seed: u64,
        trace_hash: u64,
        wall_time_s: f64,
        files: Vec<String>,
        protocols: Vec<ProtocolManifest>,
    ) -> Manifest {
        let events: u64 = protocols.iter().map(|p| p.events).sum();
        Manifest {
            peerlab_version: env!("CARGO_PKG_VERSION").to_string(),
            spec_file,
            spec: spec.clone(),
            seed,
            trace_hash: trace_hash_hex(trace_hash),
            events,
            wall_time_s,
            events_per_s: crate::run::events_per_s(events, wall_time_s),
            sim_time_s: protocols.iter().map(|p| p.sim_time_s).fold(0.0, f64::max),
            nodes_joined: protocols.iter().map(|p| p.nodes_joined).sum(),
            messages_dropped: protocols.iter().map(|p| p.messages_dropped).sum(),
            lookups: protocols.iter().map(|p| p.lookups).sum(),
            puts: protocols.iter().map(|p| p.puts).sum(),
            files,
            protocols,
            sweep: None,
        }
    }

    /// The text of `manifest.json`: pretty JSON and a final newline.
    pub fn to_json(&self) -> Result<String, Error> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot serialize the manifest: {e}")))?;
        text.push('\n');
        Ok(text)
    }

    /// Writes the manifest into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        write_bytes_atomic(&dir.join(MANIFEST), self.to_json()?.as_bytes())
    }

    /// Reads the manifest of a result directory.
    pub fn read(dir: &Path) -> Result<Manifest, Error> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Other(format!("invalid manifest {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let m = Manifest {
            peerlab_version: "0.1.0".into(),
            spec_file: "specs/x.toml".into(),
            spec: Spec::default(),
            seed: 7,
            trace_hash: trace_hash_hex(0xAB),
            events: 10,
            wall_time_s: 0.5,
            events_per_s: 20.0,
            sim_time_s: 100.0,
            nodes_joined: 3,
            messages_dropped: 0,
            lookups: 1,
            puts: 0,
            files: vec!["lookups.parquet".into()],
            protocols: vec![],
            sweep: None,
        };
        assert_eq!(m.trace_hash, "00000000000000ab");
        let dir = tempfile::tempdir().unwrap();
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
    }

    #[test]
    fn combined_hashes_depend_on_every_hash_and_the_order() {
        let ab = combine_trace_hashes(&[1, 2]);
        assert_ne!(ab, combine_trace_hashes(&[2, 1]));
        assert_ne!(ab, combine_trace_hashes(&[1, 3]));
        assert_eq!(ab, combine_trace_hashes(&[1, 2]));
    }
}
