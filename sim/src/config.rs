//! Simulator configuration: the network model and the static-DHT scenario.
//!
//! These types deserialize straight from an experiment spec's TOML tables;
//! unknown fields are rejected, and [`validate`](NetworkConfig::validate)
//! names the first bad field.

use crate::series::SeriesOptions;
use serde::{Deserialize, Serialize};

/// A configuration value outside its valid range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{path} = {value} is invalid: {expected}")]
pub struct InvalidConfig {
    /// The dotted path of the field, as written in a spec.
    pub path: String,
    /// The value found.
    pub value: String,
    /// What is allowed.
    pub expected: String,
}

pub(crate) fn invalid(path: &str, value: impl ToString, expected: &str) -> InvalidConfig {
    InvalidConfig {
        path: path.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// How long a message takes between two nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum LatencyModel {
    /// The same one-way delay for every pair.
    Constant {
        /// One-way delay in milliseconds.
        ms: f64,
    },
    /// A per-pair delay drawn once, uniformly, from `[min_ms, max_ms]`.
    Uniform {
        /// Smallest one-way delay in milliseconds.
        min_ms: f64,
        /// Largest one-way delay in milliseconds.
        max_ms: f64,
    },
    /// Synthetic coordinates: nodes sit uniformly in a 2-D or 3-D cube; delay is
    /// the Euclidean distance scaled so the cube's diagonal is `diameter_ms`,
    /// plus each endpoint's access delay (drawn per node from
    /// `[access_min_ms, access_max_ms]`).
    Coordinates {
        /// 2 or 3.
        dims: u8,
        /// One-way delay across the cube's diagonal, in milliseconds.
        diameter_ms: f64,
        /// Smallest per-node access delay, in milliseconds.
        access_min_ms: f64,
        /// Largest per-node access delay, in milliseconds.
        access_max_ms: f64,
    },
    /// The AS and prefix topology of [`crate::topology`] (the model the
    /// calls scenario places its nodes in): nodes in ASes with Zipf sizes,
    /// delay within an AS below delay between ASes. Placed from the run
    /// seed, so a run with the same seed and node count has the same
    /// topology as a calls run with that `[calls.topology]`.
    Topology(crate::topology::TopologyConfig),
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::Coordinates {
            dims: 2,
            diameter_ms: 200.0,
            access_min_ms: 1.0,
            access_max_ms: 10.0,
        }
    }
}

/// The network between nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Number of nodes.
    pub nodes: u32,
    /// Independent probability that a message is lost, in `[0, 1)`.
    pub loss: f64,
    /// The delay model.
    pub latency: LatencyModel,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            nodes: 1000,
            loss: 0.0,
            latency: LatencyModel::default(),
        }
    }
}

impl NetworkConfig {
    /// Checks every field; the error names the first bad one by its spec path.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.nodes == 0 {
            return Err(invalid("network.nodes", self.nodes, "at least 1"));
        }
        if self.nodes > (1 << 24) - 2 {
            return Err(invalid(
                "network.nodes",
                self.nodes,
                "at most 16,777,214 (one 10.0.0.0/8 address each)",
            ));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(invalid(
                "network.loss",
                self.loss,
                "a probability in [0, 1)",
            ));
        }
        let ms = |path: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(invalid(path, v, "a finite number of milliseconds >= 0"))
            }
        };
        match self.latency {
            LatencyModel::Constant { ms: v } => ms("network.latency.ms", v)?,
            LatencyModel::Uniform { min_ms, max_ms } => {
                ms("network.latency.min_ms", min_ms)?;
                ms("network.latency.max_ms", max_ms)?;
                if max_ms < min_ms {
                    return Err(invalid("network.latency.max_ms", max_ms, "at least min_ms"));
                }
            }
            LatencyModel::Coordinates {
                dims,
                diameter_ms,
                access_min_ms,
                access_max_ms,
            } => {
                if !(2..=3).contains(&dims) {
                    return Err(invalid("network.latency.dims", dims, "2 or 3"));
                }
                ms("network.latency.diameter_ms", diameter_ms)?;
                ms("network.latency.access_min_ms", access_min_ms)?;
                ms("network.latency.access_max_ms", access_max_ms)?;
                if access_max_ms < access_min_ms {
                    return Err(invalid(
                        "network.latency.access_max_ms",
                        access_max_ms,
                        "at least access_min_ms",
                    ));
                }
            }
            LatencyModel::Topology(ref t) => {
                // Building checks the parameters and that the population's
                // prefixes fit in IPv4.
                crate::topology::Topology::build(t, self.nodes, 0).map_err(|e| InvalidConfig {
                    path: e.path.replacen("topology", "network.latency", 1),
                    ..e
                })?;
            }
        }
        Ok(())
    }
}

/// A static overlay: every node joins, the overlay settles, then the workload
/// runs lookups and puts, each put read back from a different node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticWorkload {
    /// Nodes join at uniformly random times in `[0, join_window_s]`.
    pub join_window_s: f64,
    /// Quiet time after the last join before the workload starts.
    pub settle_s: f64,
    /// Lookups for uniformly random keys from uniformly random live nodes.
    pub lookups: u32,
    /// The lookups are spread uniformly over this many seconds.
    pub lookup_window_s: f64,
    /// Values put, each from a random node under a random key.
    pub puts: u32,
    /// Seconds between a put and its read-back from another node.
    pub get_delay_s: f64,
    /// Lifetime of the put values, in seconds.
    pub value_ttl_s: u32,
    /// Share of the nodes that fail at once at `fail_at_s` (a mass failure),
    /// in `[0, 1)`; 0 for none.
    pub fail_fraction: f64,
    /// Simulated time of the mass failure, in seconds; required when
    /// `fail_fraction > 0`.
    pub fail_at_s: Option<f64>,
    /// After a mass failure, the routing state counts as repaired once the
    /// share of routing entries naming dead nodes is below this, in `(0, 1]`.
    pub repair_threshold: f64,
    /// After a mass failure, the routing state is sampled this often, in
    /// seconds of simulated time.
    pub repair_sample_s: f64,
    /// Sampling stops once the routing state is repaired, or this long after
    /// the failure if it is not; the run lasts until sampling stops.
    pub repair_max_s: f64,
}

impl Default for StaticWorkload {
    fn default() -> Self {
        StaticWorkload {
            join_window_s: 60.0,
            settle_s: 120.0,
            lookups: 10_000,
            lookup_window_s: 600.0,
            puts: 1_000,
            get_delay_s: 60.0,
            value_ttl_s: 86_400,
            fail_fraction: 0.0,
            fail_at_s: None,
            repair_threshold: 0.01,
            repair_sample_s: 5.0,
            repair_max_s: 3600.0,
        }
    }
}

impl StaticWorkload {
    /// Checks every field; the error names the first bad one by its spec path.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        for (path, v) in [
            ("workload.join_window_s", self.join_window_s),
            ("workload.settle_s", self.settle_s),
            ("workload.lookup_window_s", self.lookup_window_s),
            ("workload.get_delay_s", self.get_delay_s),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(invalid(path, v, "a finite number of seconds >= 0"));
            }
        }
        if self.value_ttl_s == 0 {
            return Err(invalid("workload.value_ttl_s", 0, "at least 1 second"));
        }
        if !(0.0..1.0).contains(&self.fail_fraction) {
            return Err(invalid(
                "workload.fail_fraction",
                self.fail_fraction,
                "a fraction in [0, 1)",
            ));
        }
        match self.fail_at_s {
            Some(t) if !t.is_finite() || t < 0.0 => {
                return Err(invalid(
                    "workload.fail_at_s",
                    t,
                    "a finite number of seconds >= 0",
                ));
            }
            None if self.fail_fraction > 0.0 => {
                return Err(invalid(
                    "workload.fail_at_s",
                    "none",
                    "a time in seconds when fail_fraction > 0",
                ));
            }
            _ => {}
        }
        if !(self.repair_threshold > 0.0 && self.repair_threshold <= 1.0) {
            return Err(invalid(
                "workload.repair_threshold",
                self.repair_threshold,
                "a share in (0, 1]",
            ));
        }
        if !(self.repair_sample_s.is_finite() && self.repair_sample_s > 0.0) {
            return Err(invalid(
                "workload.repair_sample_s",
                self.repair_sample_s,
                "a finite number of seconds > 0",
            ));
        }
        if !(self.repair_max_s.is_finite() && self.repair_max_s >= 0.0) {
            return Err(invalid(
                "workload.repair_max_s",
                self.repair_max_s,
                "a finite number of seconds >= 0",
            ));
        }
        Ok(())
    }
}

/// Options of the simulator itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimOptions {
    /// Round-trip every message through the wire codec before delivery.
    /// Results are identical either way; this proves it and costs time.
    pub wire_check: bool,
    /// Skip the brute-force oracle (for very large benchmark runs); success
    /// columns are then reported as `false`/0.
    pub no_oracle: bool,
    /// Simulated times, in seconds, at which to snapshot the overlay graph
    /// (see [`crate::graph`]); each snapshot is taken after every event at
    /// that time. The run lasts at least until the latest one. Taking
    /// snapshots does not change the run.
    pub snapshot_at_s: Vec<f64>,
    /// Also return each snapshot's whole graph, for GraphML or DOT export.
    pub snapshot_graphs: bool,
    /// Above 5,000 live nodes, path lengths in a snapshot come from
    /// breadth-first searches from this many sampled sources.
    pub snapshot_bfs_sources: u32,
    /// The time series to record (see [`crate::series`]); set from a spec's
    /// top-level `[series]` table, not from `[sim]`.
    #[serde(skip)]
    pub series: Option<SeriesOptions>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            wire_check: false,
            no_oracle: false,
            snapshot_at_s: Vec::new(),
            snapshot_graphs: false,
            snapshot_bfs_sources: 1_000,
            series: None,
        }
    }
}

impl SimOptions {
    /// Checks every field; the error names the first bad one by its spec path.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        for (i, &t) in self.snapshot_at_s.iter().enumerate() {
            if !t.is_finite() || t < 0.0 {
                return Err(invalid(
                    &format!("sim.snapshot_at_s[{i}]"),
                    t,
                    "a finite number of seconds >= 0",
                ));
            }
        }
        if self.snapshot_bfs_sources == 0 {
            return Err(invalid("sim.snapshot_bfs_sources", 0, "at least 1"));
        }
        if let Some(s) = &self.series {
            s.validate()?;
        }
        Ok(())
    }
}
