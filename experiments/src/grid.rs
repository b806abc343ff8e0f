//! `[sweep]`: a grid over spec parameters, with replications.
//!
//! ```toml
//! [sweep]
//! replications = 3                       # runs per grid point (default 1)
//! "dht.kademlia.k" = [4, 8, 20]          # any parameter path of the spec
//! "churn_workload.lookups.rate_per_s" = [0.001, 0.01]
//! ```
//!
//! Every key other than `replications` is the dotted path of a parameter
//! (quoted, or as nested tables: `dht.kademlia.k = [...]` is the same path),
//! in an overlay spec or in a calls spec (`"calls.relay.failover.k" = [1, 2,
//! 3]`, `"calls.churn.nodes"`, `"calls.strategy"`, ...),
//! and its value is the array of values to try. A value may be anything the
//! parameter takes, a whole table included (`"network.latency" =
//! [{ model = "constant", ms = 20.0 }, { model = "coordinates" }]`).
//!
//! **Grid order.** The axes are taken in the lexicographic order of their
//! paths; grid points are numbered from 0 in row-major order (the last axis
//! varies fastest). Run `index = point · R + replication`, replications are
//! numbered from 0, and the run id is `p{point:03}-r{replication:02}`.
//!
//! **Seeds.** Replication `r` runs with
//! `derive_seed(run.seed, "sweep-replication", r)` (SHA-256,
//! [`peerlab_core::rng::derive_seed`]): the same seed at every grid point
//! (common random numbers, so points are compared on the same node ids,
//! churn sample path and workload draws), independent of the order in which
//! runs execute.
//!
//! **Validation.** Every path and value is checked against the fully
//! resolved spec (defaults included) before anything runs: the path must
//! name a field of `peerlab spec show`'s output, and the spec with that
//! one value set must deserialize (types) and validate (ranges), so the
//! error names the path, the value and what is allowed. Then every grid
//! point (every combination) is built and validated the same way, which
//! catches constraints between parameters (`dht.chord.replicas` at most
//! `dht.chord.successors`).

use crate::error::Error;
use crate::spec::Spec;
use peerlab_core::rng::derive_seed;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt::Write as _;
use std::path::Path;

/// The key of `[sweep]` that is not a parameter path.
pub const REPLICATIONS: &str = "replications";
/// The purpose label of replication seeds.
pub const SEED_PURPOSE: &str = "sweep-replication";

/// One swept parameter: its path and the values it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The dotted path of the parameter (`dht.kademlia.k`).
    pub path: String,
    /// The values, in the order the spec lists them.
    pub values: Vec<toml::Value>,
}

/// `[sweep]` as written: replications and the axes, sorted by path.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSection {
    /// Runs per grid point, each with its own seed.
    pub replications: u32,
    /// The swept parameters, sorted by path. Values are checked only when
    /// the grid is built ([`Grid::new`]).
    pub axes: Vec<Axis>,
    /// Entries that are not arrays: kept so that validation can name them.
    pub not_arrays: Vec<(String, toml::Value)>,
    /// A `replications` value that is not a positive integer, as written.
    pub bad_replications: Option<toml::Value>,
}

impl Default for SweepSection {
    fn default() -> Self {
        SweepSection {
            replications: 1,
            axes: Vec::new(),
            not_arrays: Vec::new(),
            bad_replications: None,
        }
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut SweepSection) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&path, t, out),
            toml::Value::Array(a) => out.axes.push(Axis {
                path,
                values: a.clone(),
            }),
            other => out.not_arrays.push((path, other.clone())),
        }
    }
}

impl<'de> Deserialize<'de> for SweepSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let mut s = SweepSection::default();
        if let Some(r) = table.remove(REPLICATIONS) {
            match r.as_integer() {
                Some(n) if n >= 1 && n <= i64::from(u32::MAX) => s.replications = n as u32,
                _ => s.bad_replications = Some(r),
            }
        }
        flatten("", &table, &mut s);
        s.axes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(s)
    }
}

impl Serialize for SweepSection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1 + self.axes.len() + self.not_arrays.len()))?;
        match &self.bad_replications {
            Some(v) => m.serialize_entry(REPLICATIONS, v)?,
            None => m.serialize_entry(REPLICATIONS, &self.replications)?,
        }
        for a in &self.axes {
            m.serialize_entry(&a.path, &a.values)?;
        }
        for (p, v) in &self.not_arrays {
            m.serialize_entry(p, v)?;
        }
        m.end()
    }
}

/// A value as a spec writes it, inline (`8`, `"chord"`, `{ model = "constant" }`).
pub fn show_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(show_value).collect();
            format!("[{}]", parts.join(", "))
        }
        toml::Value::Table(t) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{k} = {}", show_value(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// One point of the grid: a value for every axis, and the spec it makes.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The point's number, from 0 in row-major order.
    pub index: usize,
    /// One value per axis, in axis order.
    pub values: Vec<toml::Value>,
    /// The resolved, validated spec of the point (no `[sweep]`; `run.seed`
    /// is the sweep's base seed).
    pub spec: Spec,
}

/// One run of a sweep: a grid point and a replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunKey {
    /// `point · replications + replication`: the order of results.
    pub index: usize,
    /// The grid point.
    pub point: usize,
    /// The replication, from 0.
    pub replication: u32,
    /// The simulator seed.
    pub seed: u64,
    /// `p{point:03}-r{replication:02}`.
    pub run_id: String,
}

/// The run id of a grid point and replication.
pub fn run_id(point: usize, replication: u32) -> String {
    format!("p{point:03}-r{replication:02}")
}

/// The seed of replication `r` of a point whose spec has base seed `base`.
pub fn replication_seed(base: u64, r: u32) -> u64 {
    derive_seed(base, SEED_PURPOSE, u64::from(r))
}

/// A spec's sweep, expanded and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// The swept parameters (sorted by path; empty for a spec without
    /// `[sweep]`, which is one point).
    pub axes: Vec<Axis>,
    /// Runs per point.
    pub replications: u32,
    /// Every grid point.
    pub points: Vec<Point>,
}

/// Parameters a resolved spec leaves out while they are unset, but which a
/// sweep may still set: leaving them out means "the default", not "no such
/// parameter".
const OPTIONAL_LEAVES: &[&str] = &[
    "dht.routing",
    "calls.strategy",
    "calls.nat",
    "calls.nat_model",
];

/// Where a path leads in a resolved spec, or why it leads nowhere.
fn set_path(root: &mut toml::Value, path: &str, value: toml::Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut cur = root;
    let mut walked = String::new();
    for (i, seg) in segments.iter().enumerate() {
        let table = match cur {
            toml::Value::Table(t) => t,
            _ => {
                return Err(format!(
                    "`{walked}` is a value, not a table, so it has no `{seg}`"
                ));
            }
        };
        let last = i + 1 == segments.len();
        let settable = table.contains_key(*seg) || (last && OPTIONAL_LEAVES.contains(&path));
        if !settable {
            let keys: Vec<&str> = table.keys().map(String::as_str).collect();
            let level = if walked.is_empty() {
                "the spec".to_string()
            } else {
                format!("`{walked}`")
            };
            return Err(format!(
                "not a parameter of the resolved spec (see `peerlab spec show`); \
                 {level} has: {}",
                keys.join(", ")
            ));
        }
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(seg);
        if i + 1 == segments.len() {
            table.insert((*seg).to_string(), value);
            return Ok(());
        }
        cur = table.get_mut(*seg).expect("checked above");
    }
    Err("an empty path".into())
}

/// Turns a validation error of a point spec into one that says which sweep
/// values made the point.
fn in_point(e: Error, assignments: &str, single_path: Option<&str>) -> Error {
    let note = format!("(in [sweep]: {assignments})");
    match e {
        Error::SpecValue {
            file,
            path_in_spec,
            value,
            expected,
        } => {
            let expected = if Some(path_in_spec.as_str()) == single_path {
                format!("{expected} (a value in [sweep])")
            } else {
                format!("{expected} {note}")
            };
            Error::SpecValue {
                file,
                path_in_spec,
                value,
                expected,
            }
        }
        Error::SpecUnsupported {
            file,
            path_in_spec,
            reason,
        } => Error::SpecUnsupported {
            file,
            path_in_spec,
            reason: format!("{reason} {note}"),
        },
        other => Error::Other(format!("{other} {note}")),
    }
}

impl Grid {
    /// The grid of `spec` (a spec without `[sweep]` is one point with one
    /// replication), every path and point checked. `file` names the spec in
    /// errors; relative trace paths a sweep sets resolve against its
    /// directory.
    pub fn new(spec: &Spec, file: &Path) -> Result<Grid, Error> {
        let section = spec.sweep.clone().unwrap_or_default();
        let value_error = |path: &str, value: String, expected: String| Error::SpecValue {
            file: file.to_path_buf(),
            path_in_spec: path.to_string(),
            value,
            expected,
        };
        if let Some(v) = &section.bad_replications {
            return Err(value_error(
                "sweep.replications",
                show_value(v),
                "an integer, at least 1".into(),
            ));
        }
        if let Some((p, v)) = section.not_arrays.first() {
            return Err(value_error(
                &format!("sweep.\"{p}\""),
                show_value(v),
                format!("an array of values for `{p}`, e.g. [{}]", show_value(v)),
            ));
        }
        let mut base = spec.clone();
        base.sweep = None;
        // A u64 seed may not fit TOML's i64; it is put back in each point.
        let base_seed = base.run.seed;
        base.run.seed = 0;
        let base_value = toml::Value::try_from(&base)
            .map_err(|e| Error::Other(format!("cannot resolve the spec: {e}")))?;
        let spec_dir = file.parent().unwrap_or(Path::new("")).to_path_buf();

        // Each path and value alone.
        for axis in &section.axes {
            if axis.values.is_empty() {
                return Err(value_error(
                    &axis.path,
                    "[]".into(),
                    "at least one value to sweep".into(),
                ));
            }
            for (i, v) in axis.values.iter().enumerate() {
                if axis.values[..i].contains(v) {
                    return Err(value_error(
                        &axis.path,
                        show_value(v),
                        "each value at most once in [sweep]".into(),
                    ));
                }
                let mut value = base_value.clone();
                set_path(&mut value, &axis.path, v.clone()).map_err(|why| {
                    value_error(
                        &axis.path,
                        show_value(&toml::Value::Array(axis.values.clone())),
                        why,
                    )
                })?;
                point_spec(value, base_seed, &[&axis.path], file, &spec_dir).map_err(
                    |e| match e {
                        PointError::Type(msg) => value_error(&axis.path, show_value(v), msg),
                        PointError::Spec(e) => in_point(
                            e,
                            &format!("{} = {}", axis.path, show_value(v)),
                            Some(&axis.path),
                        ),
                    },
                )?;
            }
        }

        // Every combination.
        let count: usize = section.axes.iter().map(|a| a.values.len()).product();
        let mut points = Vec::with_capacity(count);
        for index in 0..count {
            let mut rest = index;
            let mut values = vec![toml::Value::Boolean(false); section.axes.len()];
            for (i, axis) in section.axes.iter().enumerate().rev() {
                values[i] = axis.values[rest % axis.values.len()].clone();
                rest /= axis.values.len();
            }
            let mut value = base_value.clone();
            let mut assignments = String::new();
            for (axis, v) in section.axes.iter().zip(&values) {
                set_path(&mut value, &axis.path, v.clone())
                    .map_err(|why| value_error(&axis.path, show_value(v), why))?;
                if !assignments.is_empty() {
                    assignments.push_str(", ");
                }
                let _ = write!(assignments, "{} = {}", axis.path, show_value(v));
            }
            let paths: Vec<&str> = section.axes.iter().map(|a| a.path.as_str()).collect();
            let spec =
                point_spec(value, base_seed, &paths, file, &spec_dir).map_err(|e| match e {
                    PointError::Type(msg) => Error::Other(format!(
                        "invalid spec {}: grid point {index} ({assignments}): {msg}",
                        file.display()
                    )),
                    PointError::Spec(e) => in_point(e, &assignments, None),
                })?;
            points.push(Point {
                index,
                values,
                spec,
            });
        }
        Ok(Grid {
            axes: section.axes,
            replications: section.replications,
            points,
        })
    }

    /// Every run of the sweep, in run-index order.
    pub fn runs(&self) -> Vec<RunKey> {
        let r = self.replications;
        self.points
            .iter()
            .flat_map(|p| {
                (0..r).map(move |rep| RunKey {
                    index: p.index * r as usize + rep as usize,
                    point: p.index,
                    replication: rep,
                    seed: replication_seed(p.spec.run.seed, rep),
                    run_id: run_id(p.index, rep),
                })
            })
            .collect()
    }

    /// `"dht.kademlia.k = 8, ..."` for a point.
    pub fn describe(&self, point: usize) -> String {
        self.axes
            .iter()
            .zip(&self.points[point].values)
            .map(|(a, v)| format!("{} = {}", a.path, show_value(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where two specs differ, as ``"`path`: A vs B"`` for the first differing
/// parameter in path order; `None` when they describe the same experiment
/// (`run.name` and `run.description` aside).
pub fn spec_difference(a: &Spec, b: &Spec) -> Option<String> {
    if a.run.seed != b.run.seed {
        return Some(format!("`run.seed`: {} vs {}", a.run.seed, b.run.seed));
    }
    let value = |s: &Spec| {
        let mut s = s.clone();
        s.run.name.clear();
        s.run.description.clear();
        // Seeds are u64, beyond TOML's integers; compared above.
        s.run.seed = 0;
        toml::Value::try_from(&s)
    };
    match (value(a), value(b)) {
        (Ok(x), Ok(y)) => value_difference(&x, &y, ""),
        (Err(e), _) | (_, Err(e)) => Some(format!("cannot compare the specs: {e}")),
    }
}

fn value_difference(a: &toml::Value, b: &toml::Value, path: &str) -> Option<String> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(v), Some(w)) => value_difference(v, w, &join(k)),
                (Some(v), None) => Some(format!("`{}`: {} vs unset", join(k), show_value(v))),
                (None, Some(w)) => Some(format!("`{}`: unset vs {}", join(k), show_value(w))),
                (None, None) => None,
            })
        }
        _ if a == b => None,
        _ => Some(format!("`{path}`: {} vs {}", show_value(a), show_value(b))),
    }
}

enum PointError {
    /// The value does not fit the parameter's type.
    Type(String),
    /// The spec it makes is invalid.
    Spec(Error),
}

/// Deserializes, resolves and validates the spec a grid point makes.
/// `swept` are the paths the sweep set; `run.seed` is `base_seed` unless
/// it is one of them.
fn point_spec(
    value: toml::Value,
    base_seed: u64,
    swept: &[&str],
    file: &Path,
    spec_dir: &Path,
) -> Result<Spec, PointError> {
    let mut spec: Spec = value
        .try_into()
        .map_err(|e: toml::de::Error| PointError::Type(e.message().trim().to_string()))?;
    spec.sweep = None;
    if !swept.contains(&"run.seed") {
        spec.run.seed = base_seed;
    }
    if let Some(calls) = &spec.calls {
        calls.check_swept(swept, file).map_err(PointError::Spec)?;
        // The calls scenario's own checks: no overlay sections swept in.
        return crate::calls_spec::resolve_and_check(spec, file, spec_dir)
            .map_err(PointError::Spec);
    }
    if let Some(churn) = &spec.churn
        && churn.nodes > 0
    {
        // As in `Spec::parse`: under churn the population is `churn.nodes`.
        if swept.contains(&"network.nodes") && spec.network.nodes != churn.nodes {
            return Err(PointError::Spec(Error::SpecUnsupported {
                file: file.to_path_buf(),
                path_in_spec: "network.nodes".into(),
                reason: format!(
                    "a churn run takes its population from the churn model; sweep \
                     `churn.nodes` instead (it is {})",
                    churn.nodes
                ),
            }));
        }
        spec.network.nodes = churn.nodes;
    }
    spec.resolve(spec_dir);
    spec.validate(file).map_err(PointError::Spec)?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Result<Grid, String> {
        let path = Path::new("specs/s.toml");
        let spec = Spec::parse(text, path).map_err(|e| e.to_string())?;
        Grid::new(&spec, path).map_err(|e| e.to_string())
    }

    #[test]
    fn no_sweep_is_one_point() {
        let g = grid("[network]\nnodes = 10\n").unwrap();
        assert_eq!(g.points.len(), 1);
        let runs = g.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run_id, "p000-r00");
        assert_eq!(runs[0].seed, derive_seed(1, "sweep-replication", 0));
    }

    #[test]
    fn grid_is_row_major_over_sorted_paths_with_common_seeds() {
        let g = grid(
            "[run]\nseed = 5\n[sweep]\nreplications = 2\n\"network.nodes\" = [10, 20, 30]\n\
             dht.kademlia.k = [4, 8]\n",
        )
        .unwrap();
        let paths: Vec<&str> = g.axes.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["dht.kademlia.k", "network.nodes"]);
        assert_eq!(g.points.len(), 6);
        // Brute force over the nested loops, last axis fastest.
        let mut i = 0;
        for k in [4usize, 8] {
            for n in [10u32, 20, 30] {
                let p = &g.points[i];
                assert_eq!((p.spec.dht.kademlia.k, p.spec.network.nodes), (k, n));
                assert_eq!(p.spec.run.seed, 5);
                assert!(p.spec.sweep.is_none());
                i += 1;
            }
        }
        assert_eq!(g.describe(4), "dht.kademlia.k = 8, network.nodes = 20");
        let runs = g.runs();
        assert_eq!(runs.len(), 12);
        for (i, r) in runs.iter().enumerate() {
            assert_eq!(r.index, i);
            assert_eq!((r.point, r.replication as usize), (i / 2, i % 2));
            assert_eq!(r.seed, derive_seed(5, "sweep-replication", (i % 2) as u64));
        }
        assert_eq!(runs[5].run_id, "p002-r01");
        assert_ne!(runs[0].seed, runs[1].seed);
    }

    #[test]
    fn an_unset_routing_mode_can_still_be_swept() {
        let g =
            grid("[sweep]\nreplications = 1\n\"dht.routing\" = [\"iterative\", \"recursive\"]\n")
                .unwrap();
        assert_eq!(g.points.len(), 2);
        let bad = grid("[sweep]\nreplications = 1\n\"dht.routing\" = [\"sideways\"]\n");
        assert!(bad.is_err());
    }

    #[test]
    fn sweep_round_trips_through_spec_show() {
        let text = "[sweep]\nreplications = 3\n\"dht.kademlia.k\" = [4, 8]\n\
                    \"network.latency\" = [{ model = \"constant\", ms = 20.0 }, { model = \"constant\", ms = 50.0 }]\n";
        let s = Spec::parse(text, Path::new("s.toml")).unwrap();
        let shown = s.to_toml().unwrap();
        assert!(shown.contains("[sweep]"), "{shown}");
        assert_eq!(Spec::parse(&shown, Path::new("s.toml")).unwrap(), s);
        let g = Grid::new(&s, Path::new("s.toml")).unwrap();
        assert_eq!(g.points.len(), 4);
        assert_eq!(g.replications, 3);
    }

    #[test]
    fn churn_specs_sweep_their_workload_and_population() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/specs/p2psim_churn.toml"
        ))
        .unwrap();
        let text = format!(
            "{text}\n[sweep]\n\"churn_workload.lookups.rate_per_s\" = [0.01, 0.02]\n\
             \"churn.nodes\" = [50, 60]\n"
        );
        let g = grid(&text).unwrap();
        assert_eq!(g.points.len(), 4);
        let p = &g.points[3].spec;
        assert_eq!((p.churn.as_ref().unwrap().nodes, p.network.nodes), (60, 60));
        let m = grid(&text.replace("churn.nodes", "network.nodes")).unwrap_err();
        assert!(
            m.contains("network.nodes") && m.contains("churn.nodes"),
            "{m}"
        );
    }

    #[test]
    fn calls_specs_sweep_calls_paths_only() {
        let base = "[calls]\nchurn = { nodes = 50, model = { kind = \"skype-supernode\" }, \
                    warmup_s = 100.0, measurement_s = 100.0 }\nnat = { preset = \"consumer\" }\ncalls = { rate_per_s = 0.01 }\n\
                    [calls.relay]\nfailover = { kind = \"active\", k = 1 }\n";
        let g = grid(&format!(
            "{base}[sweep]\nreplications = 2\n\"calls.relay.failover.k\" = [1, 2, 3]\n"
        ))
        .unwrap();
        let ks: Vec<String> = g
            .points
            .iter()
            .map(|p| {
                let c = p.spec.calls.as_ref().unwrap();
                crate::calls_spec::failover_label(&c.relay.failover)
            })
            .collect();
        assert_eq!(ks, ["active k=1", "active k=2", "active k=3"]);
        assert!(g.points.iter().all(|p| p.spec.workload.is_none()));
        let m = grid(&format!("{base}[sweep]\n\"calls.relay.slotz\" = [1]\n")).unwrap_err();
        assert!(
            m.contains("calls.relay.slotz = [1]") && m.contains("slots"),
            "{m}"
        );
        let m = grid(&format!("{base}[sweep]\n\"dht.kademlia.k\" = [4]\n")).unwrap_err();
        assert!(
            m.contains("`dht`") && m.contains("dht.kademlia.k = 4"),
            "{m}"
        );
        let with_list = base.replace(
            "[calls.relay]",
            "failovers = [{ kind = \"active\", k = 1 }]\n[calls.relay]",
        );
        let m = grid(&format!(
            "{with_list}[sweep]\n\"calls.relay.failover.k\" = [1, 2]\n"
        ))
        .unwrap_err();
        assert!(
            m.contains("calls.relay.failover.k") && m.contains("calls.failovers"),
            "{m}"
        );
    }

    #[test]
    fn spec_difference_names_the_first_differing_path() {
        let a = Spec::parse("[dht.kademlia]\nalpha = 3\n", Path::new("a.toml")).unwrap();
        let b = Spec::parse("[dht.kademlia]\nalpha = 4\n", Path::new("b.toml")).unwrap();
        assert_eq!(spec_difference(&a, &a.clone()), None);
        assert_eq!(
            spec_difference(&a, &b).as_deref(),
            Some("`dht.kademlia.alpha`: 3 vs 4")
        );
        let mut c = a.clone();
        c.run.name = "other".into();
        assert_eq!(spec_difference(&a, &c), None, "names do not matter");
        c.run.seed = u64::MAX;
        assert_eq!(
            spec_difference(&a, &c).as_deref(),
            Some("`run.seed`: 1 vs 18446744073709551615")
        );
        let g = Grid::new(&c, Path::new("c.toml")).unwrap();
        assert_eq!(g.points[0].spec.run.seed, u64::MAX);
        assert_eq!(spec_difference(&c, &c.clone()), None);
    }

    #[test]
    fn errors_name_the_path_the_value_and_what_is_allowed() {
        let m = grid("[sweep]\n\"dht.kademlia.kk\" = [4, 8]\n").unwrap_err();
        assert!(
            m.contains("dht.kademlia.kk = [4, 8]")
                && m.contains("`dht.kademlia` has: ")
                && m.contains("alpha"),
            "{m}"
        );
        let m = grid("[sweep]\n\"dht.pastry.leaf_set\" = [8]\n").unwrap_err();
        assert!(
            m.contains("dht.pastry.leaf_set = [8]") && m.contains("chord, kademlia"),
            "{m}"
        );
        let m = grid("[sweep]\n\"dht.kademlia.k.x\" = [8]\n").unwrap_err();
        assert!(m.contains("`dht.kademlia.k` is a value"), "{m}");
        let m = grid("[sweep]\n\"dht.kademlia.k\" = [4, 0]\n").unwrap_err();
        assert!(m.contains("dht.kademlia.k = 0 is invalid: "), "{m}");
        let m = grid("[sweep]\n\"dht.kademlia.k\" = [4, \"eight\"]\n").unwrap_err();
        assert!(
            m.contains("dht.kademlia.k = \"eight\" is invalid: ") && m.contains("usize"),
            "{m}"
        );
        let m = grid("[sweep]\n\"dht.kademlia.k\" = 8\n").unwrap_err();
        assert!(
            m.contains("sweep.\"dht.kademlia.k\" = 8") && m.contains("array"),
            "{m}"
        );
        let m = grid("[sweep]\n\"dht.kademlia.k\" = []\n").unwrap_err();
        assert!(m.contains("dht.kademlia.k = []"), "{m}");
        let m = grid("[sweep]\n\"dht.kademlia.k\" = [4, 4]\n").unwrap_err();
        assert!(m.contains("at most once"), "{m}");
        let m = grid("[sweep]\nreplications = 0\n").unwrap_err();
        assert!(m.contains("sweep.replications = 0"), "{m}");
        // Each value is fine alone; the combination is not.
        let m = grid(
            "[dht.chord]\nreplicas = 2\n[sweep]\n\"dht.chord.successors\" = [2, 4]\n\
             \"dht.chord.replicas\" = [2, 4]\n",
        )
        .unwrap_err();
        assert!(
            m.contains("dht.chord.replicas = 4")
                && m.contains("dht.chord.replicas = 4, dht.chord.successors = 2"),
            "{m}"
        );
    }
}
