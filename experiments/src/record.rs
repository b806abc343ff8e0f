//! `runs/<run_id>/run.json`: what one run of a sweep was and what it gave.
//!
//! A sweep writes each run's tables into `DIR/runs/<run_id>/`, then its
//! `run.json` atomically and last: the file's presence marks the run
//! finished, so a re-invoked sweep skips it and `peerlab merge` trusts it.
//! It records the grid point, replication, seed, swept parameter values, the
//! run's resolved spec (with `run.seed` set to the run's seed, so
//! `peerlab run` of it repeats the run), each protocol's trace hash,
//! events, wall time and run-level metrics. `wall_time_s` fields are the
//! only ones that change when a run is repeated.

use crate::error::Error;
use crate::manifest::ProtocolManifest;
use crate::output::write_bytes_atomic;
use crate::spec::Spec;
use crate::summary::MetricRow;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of a run's record.
pub const RUN_RECORD: &str = "run.json";

/// One metric of one protocol's run, as in its `summary.csv` (undefined
/// values are `null`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMetric {
    /// Metric name (`lookup_hops`).
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// Mean over the run's samples.
    pub mean: Option<f64>,
    /// Sample standard deviation.
    pub std: Option<f64>,
    /// Number of samples.
    pub n: usize,
    /// Half-width of the 95% confidence interval of the mean.
    pub ci95_half_width: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl From<&MetricRow> for RunMetric {
    fn from(r: &MetricRow) -> Self {
        RunMetric {
            metric: r.metric.clone(),
            unit: r.unit.to_string(),
            mean: finite(r.stats.mean),
            std: finite(r.stats.std),
            n: r.stats.n,
            ci95_half_width: finite(r.stats.ci95),
        }
    }
}

/// The strategy and failover of a calls run's variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantOf {
    /// The relay-selection strategy's name.
    pub strategy: String,
    /// The failover setting, in words.
    pub failover: String,
}

/// One protocol's part of a run; in a calls run, one variant's
/// ([`crate::calls_spec::Variant`]): its label is the `protocol`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunProtocol {
    /// Trace hash, events, wall time and row counts.
    #[serde(flatten)]
    pub run: ProtocolManifest,
    /// The variant's strategy and failover (calls runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantOf>,
    /// The run-level metrics, in `summary.csv` order.
    pub metrics: Vec<RunMetric>,
}

/// The record of one finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `p{point:03}-r{replication:02}`.
    pub run_id: String,
    /// Run index: `point · replications + replication`.
    pub index: usize,
    /// Grid point, from 0.
    pub point: usize,
    /// Replication, from 0.
    pub replication: u32,
    /// The simulator seed.
    pub seed: u64,
    /// Swept path → value, in axis order.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Trace hash of the run (the protocols' combined, in order, when it
    /// compares protocols), 16 hex digits.
    pub trace_hash: String,
    /// Wall-clock seconds of the simulations.
    pub wall_time_s: f64,
    /// One entry per protocol, in the spec's order.
    pub protocols: Vec<RunProtocol>,
    /// The run's files, relative to its directory, `run.json` excluded.
    pub files: Vec<String>,
    /// The run's resolved spec, `run.seed` set to [`RunRecord::seed`].
    pub spec: Spec,
}

impl RunRecord {
    /// Writes `run.json` into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot serialize {RUN_RECORD}: {e}")))?;
        text.push('\n');
        write_bytes_atomic(&dir.join(RUN_RECORD), text.as_bytes())
    }

    /// Reads the `run.json` of `dir`; `Ok(None)` when there is none (the run
    /// has not finished).
    pub fn read(dir: &Path) -> Result<Option<RunRecord>, Error> {
        let path = dir.join(RUN_RECORD);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Other(format!("cannot read {}: {e}", path.display()))),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Other(format!("invalid run record {}: {e}", path.display())))
    }
}
