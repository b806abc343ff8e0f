//! Network partitions: two groups that cannot reach each other for a while.
//!
//! The simulator asks [`PartitionSchedule::reachable`] before delivering a
//! message. Group membership is either an explicit node list or a fraction:
//! each node falls on side A independently with that probability, decided
//! by a hash of the run seed, the partition and the node, so any node id
//! (including ones created later) has a fixed side.

use serde::{Deserialize, Serialize};

use crate::error::{InvalidParam, probability};
use crate::streams::{mix64, purpose, unit_from_hash};

/// A partition as written in a spec; exactly one of `side_a_fraction` and
/// `side_a_nodes` is given.
///
/// ```toml
/// [[churn.partitions]]
/// start_s = 7200.0
/// end_s = 9000.0
/// side_a_fraction = 0.3
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// When the partition starts.
    pub start_s: f64,
    /// When it heals (> `start_s`).
    pub end_s: f64,
    /// Each node is on side A with this probability.
    #[serde(default)]
    pub side_a_fraction: Option<f64>,
    /// Exactly these nodes are on side A.
    #[serde(default)]
    pub side_a_nodes: Option<Vec<u32>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Side {
    Fraction { fraction: f64, salt: u64 },
    Nodes(Vec<u32>),
}

/// One partition, active on `[start_s, end_s)`.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionWindow {
    /// Start.
    pub start_s: f64,
    /// End (the partition heals at this instant).
    pub end_s: f64,
    side: Side,
}

impl PartitionWindow {
    /// Whether the partition is in force at `t_s`.
    pub fn active_at(&self, t_s: f64) -> bool {
        self.start_s <= t_s && t_s < self.end_s
    }

    /// Whether `node` is on side A (otherwise it is on side B).
    pub fn in_side_a(&self, node: u32) -> bool {
        match &self.side {
            Side::Fraction { fraction, salt } => {
                unit_from_hash(mix64(salt ^ u64::from(node))) < *fraction
            }
            Side::Nodes(v) => v.binary_search(&node).is_ok(),
        }
    }
}

/// Every partition of a run.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PartitionSchedule {
    windows: Vec<PartitionWindow>,
}

impl PartitionSchedule {
    /// Validates `specs` and fixes the sides for `run_seed`.
    pub fn new(specs: &[PartitionSpec], run_seed: u64) -> Result<PartitionSchedule, InvalidParam> {
        let mut windows = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            let p = |f: &str| format!("partitions[{i}].{f}");
            if !(s.start_s.is_finite() && s.start_s >= 0.0) {
                return Err(InvalidParam::new(
                    p("start_s"),
                    s.start_s,
                    "a finite time >= 0",
                ));
            }
            if !(s.end_s.is_finite() && s.end_s > s.start_s) {
                return Err(InvalidParam::new(
                    p("end_s"),
                    s.end_s,
                    format!("a finite time after start_s ({})", s.start_s),
                ));
            }
            let side = match (&s.side_a_fraction, &s.side_a_nodes) {
                (Some(f), None) => Side::Fraction {
                    fraction: probability(&p("side_a_fraction"), *f)?,
                    salt: peerlab_core::rng::derive_seed(
                        run_seed,
                        purpose::CHURN_PARTITION,
                        i as u64,
                    ),
                },
                (None, Some(nodes)) => {
                    let mut v = nodes.clone();
                    v.sort_unstable();
                    v.dedup();
                    Side::Nodes(v)
                }
                _ => {
                    return Err(InvalidParam::new(
                        p("side_a_fraction"),
                        format!(
                            "{:?} with side_a_nodes {:?}",
                            s.side_a_fraction,
                            s.side_a_nodes.as_ref().map(Vec::len)
                        ),
                        "exactly one of side_a_fraction and side_a_nodes",
                    ));
                }
            };
            windows.push(PartitionWindow {
                start_s: s.start_s,
                end_s: s.end_s,
                side,
            });
        }
        Ok(PartitionSchedule { windows })
    }

    /// The partitions, in spec order.
    pub fn windows(&self) -> &[PartitionWindow] {
        &self.windows
    }

    /// Whether any partition is in force at `t_s`.
    pub fn is_partitioned(&self, t_s: f64) -> bool {
        self.windows.iter().any(|w| w.active_at(t_s))
    }

    /// Whether `a` can reach `b` at `t_s`: false if some partition in force
    /// puts them on different sides.
    pub fn reachable(&self, a: u32, b: u32, t_s: f64) -> bool {
        self.windows
            .iter()
            .all(|w| !w.active_at(t_s) || w.in_side_a(a) == w.in_side_a(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(fraction: Option<f64>, nodes: Option<Vec<u32>>) -> PartitionSpec {
        PartitionSpec {
            start_s: 10.0,
            end_s: 20.0,
            side_a_fraction: fraction,
            side_a_nodes: nodes,
        }
    }

    #[test]
    fn explicit_sides() {
        let s = PartitionSchedule::new(&[spec(None, Some(vec![3, 1]))], 1).unwrap();
        assert!(s.reachable(1, 2, 9.9));
        assert!(!s.reachable(1, 2, 10.0));
        assert!(s.reachable(1, 3, 15.0));
        assert!(s.reachable(2, 4, 15.0));
        assert!(s.reachable(1, 2, 20.0));
        assert!(s.is_partitioned(19.0) && !s.is_partitioned(20.0));
    }

    #[test]
    fn invalid_specs_are_named() {
        assert_eq!(
            PartitionSchedule::new(&[spec(None, None)], 0)
                .unwrap_err()
                .param,
            "partitions[0].side_a_fraction"
        );
        assert_eq!(
            PartitionSchedule::new(&[spec(Some(0.5), Some(vec![1]))], 0)
                .unwrap_err()
                .param,
            "partitions[0].side_a_fraction"
        );
        assert_eq!(
            PartitionSchedule::new(&[spec(Some(1.5), None)], 0)
                .unwrap_err()
                .param,
            "partitions[0].side_a_fraction"
        );
        let mut bad = spec(Some(0.5), None);
        bad.end_s = 5.0;
        assert_eq!(
            PartitionSchedule::new(&[bad], 0).unwrap_err().param,
            "partitions[0].end_s"
        );
    }
}
