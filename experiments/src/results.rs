//! Reading a result directory back: the tables, `summary.csv`, the spec and
//! the manifest, for `peerlab plot` and the report.
//!
//! Two layouts are read:
//!
//! - a single run (`peerlab run`): every table has a `protocol` column and
//!   `summary.csv` is `metric,unit,mean,std,n,ci95_half_width,protocol`;
//! - a sweep: the event tables also have `run_id`, `point` and
//!   `replication` columns, and `summary.csv` has a `point` column and one
//!   column per swept parameter path (any column not in the single-run
//!   header and not `point`, `run_id` or `replication`).
//!
//! A calls sweep has `variant` where the others have `protocol` (in
//! `summary.csv` and its tables) and no lookups. A calls run's
//! `summary.csv` is one row per variant and one column per metric
//! ([`crate::calls_tables::SUMMARY_HEADER`]); it is read as metric rows
//! with `n` = 1 and the variant as the protocol. `calls.parquet` and
//! `relay_nodes.parquet` are read when present.
//!
//! A missing column of the sweep layout means a single run and point. Rows
//! are grouped by (protocol, point), in the order the groups first appear;
//! within a group, rows are told apart by run (`run_id`, else
//! `replication`), which are the replications.
//!
//! `summary.csv` is required, and so is `lookups.parquet` for a single
//! overlay run; `puts`, `traffic` and `nodes` are read when present. Any missing or unreadable required file,
//! corrupt table or missing column is an error naming the file.

use crate::error::Error;
use crate::manifest::MANIFEST;
use crate::spec::Spec;
use polars::prelude::{DataFrame, DataType, ParquetReader, SerReader};
use std::path::{Path, PathBuf};

/// The resolved spec a run writes next to its results.
pub const SPEC_FILE: &str = "spec.toml";
/// The summary file.
pub const SUMMARY: &str = "summary.csv";

/// A (protocol, grid point) pair: the unit figures compare.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    /// The protocol (`kademlia`, `chord`).
    pub protocol: String,
    /// The grid point, as written in the tables (`None`: not a sweep).
    pub point: Option<String>,
}

/// One lookup, as figures need it.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    /// Index into [`ResultDir::groups`].
    pub group: usize,
    /// The run within the group (a replication).
    pub run: String,
    /// Issue time, simulated seconds.
    pub time_s: f64,
    /// Whether the oracle judged it a success.
    pub success: bool,
    /// Hops taken.
    pub hops: f64,
    /// Latency in ms (NaN: never finished).
    pub latency_ms: f64,
    /// Issued in the measurement phase.
    pub measured: bool,
}

/// One put and its read-back.
#[derive(Clone, Debug, PartialEq)]
pub struct Put {
    /// Index into [`ResultDir::groups`].
    pub group: usize,
    /// Whether the read-back found the value.
    pub found: bool,
    /// Latency of the read-back in ms.
    pub get_latency_ms: f64,
}

/// One row of `traffic.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    /// Index into [`ResultDir::groups`].
    pub group: usize,
    /// The run within the group.
    pub run: String,
    /// Message kind.
    pub kind: String,
    /// Bytes of this kind over the whole run.
    pub bytes: f64,
    /// Bytes per online node per second in the measurement phase (churn
    /// runs; NaN otherwise).
    pub bytes_per_node_s: f64,
}

/// One row of `summary.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// Metric name.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// Mean (NaN when empty).
    pub mean: f64,
    /// Standard deviation (NaN when empty).
    pub std: f64,
    /// Sample size.
    pub n: u64,
    /// Half-width of the 95% CI (NaN when empty).
    pub ci95: f64,
    /// Protocol.
    pub protocol: String,
    /// Grid point (`None`: not a sweep).
    pub point: Option<String>,
    /// Values of the swept parameters, in [`Summary::params`] order.
    pub params: Vec<String>,
}

/// One call of `calls.parquet`, as the calls figures need it.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Index into [`ResultDir::groups`] (variant, grid point).
    pub group: usize,
    /// Placed in the measurement phase.
    pub measured: bool,
    /// How media flowed: index into [`CALL_PATHS`], `None` if never set up.
    pub path: Option<usize>,
    /// Delay relaying added, ms (NaN if never set up).
    pub added_delay_ms: f64,
    /// Nominal duration, s.
    pub nominal_s: f64,
    /// Neither failed nor interrupted (`outcome` is `completed`).
    pub completed: bool,
}

/// The `path` values of `calls.parquet`, in [`Call::path`] order.
pub const CALL_PATHS: [&str; 4] = ["direct", "punched", "relay-udp", "relay-tcp"];

/// One run's node totals of one group, from `relay_nodes.parquet`: what
/// the public-node burden figures need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeTotals {
    /// Index into [`ResultDir::groups`].
    pub group: usize,
    /// The run within the group.
    pub run: String,
    /// Nodes.
    pub nodes: u64,
    /// Calls placed, all nodes.
    pub calls_made: u64,
    /// Bytes moved by nodes in their own calls, all nodes.
    pub own_bytes: u64,
    /// Public nodes (NAT class `open`).
    pub public_nodes: u64,
    /// TCP-relayed calls carried by public nodes.
    pub public_relayed_tcp: u64,
    /// Public nodes' own-call bytes plus their TCP-relayed bytes.
    pub public_bytes: u64,
}

/// `summary.csv`, parsed.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Summary {
    /// The header, as written.
    pub header: Vec<String>,
    /// Swept parameter paths (empty for a single run).
    pub params: Vec<String>,
    /// The rows.
    pub rows: Vec<SummaryRow>,
}

/// One sampling interval of one run, from `timeseries.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPoint {
    /// Index into [`ResultDir::groups`].
    pub group: usize,
    /// The run (`run_id` in a sweep; empty for a single run).
    pub run: String,
    /// End of the interval, in seconds.
    pub time_s: f64,
    /// Nodes up at `time_s`.
    pub online_nodes: f64,
    /// Share of live nodes' routing entries naming a node that is down.
    pub dead_entry_share: f64,
    /// Share of the lookups finished in the interval that succeeded (NaN: none).
    pub success_rate: f64,
    /// Chord: share of ring members with a wrong first successor (NaN otherwise).
    pub wrong_successor_share: f64,
}

/// Everything figures and the report read from a result directory.
#[derive(Clone, Debug)]
pub struct ResultDir {
    /// The directory.
    pub dir: PathBuf,
    /// The (protocol, point) groups, in order of first appearance in
    /// `lookups.parquet`, then `summary.csv`.
    pub groups: Vec<Group>,
    /// Every lookup.
    pub lookups: Vec<Lookup>,
    /// Every put (empty without `puts.parquet`).
    pub puts: Vec<Put>,
    /// Traffic by kind (empty without `traffic.parquet`).
    pub traffic: Vec<Traffic>,
    /// Rows of `nodes.parquet` per group and run: `(group, run, count)`.
    pub node_counts: Vec<(usize, String, usize)>,
    /// Every call of `calls.parquet` (empty without it).
    pub calls: Vec<Call>,
    /// Node totals per group and run, from `relay_nodes.parquet` (empty
    /// without it).
    pub node_totals: Vec<NodeTotals>,
    /// `summary.csv`.
    pub summary: Summary,
    /// The text of `summary.csv`.
    pub summary_text: String,
    /// `timeseries.parquet`, when present.
    pub series: Vec<SeriesPoint>,
    /// The resolved spec, from `spec.toml` or else the manifest.
    pub spec: Option<Spec>,
    /// The text of `spec.toml`, when present.
    pub spec_text: Option<String>,
    /// The text of `manifest.json`, when present.
    pub manifest_text: Option<String>,
}

fn read_error(path: &Path, message: impl Into<String>) -> Error {
    Error::ResultRead {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_parquet(path: &Path) -> Result<DataFrame, Error> {
    let f = std::fs::File::open(path).map_err(|e| read_error(path, e.to_string()))?;
    ParquetReader::new(f)
        .finish()
        .map_err(|e| read_error(path, format!("not a valid Parquet table: {e}")))
}

/// A column cast to `dtype`; missing or uncastable columns name the file.
fn column(
    df: &DataFrame,
    name: &str,
    dtype: &DataType,
    path: &Path,
) -> Result<polars::prelude::Column, Error> {
    df.column(name)
        .map_err(|_| read_error(path, format!("no column `{name}`")))?
        .cast(dtype)
        .map_err(|e| read_error(path, format!("column `{name}`: {e}")))
}

fn f64s(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<f64>, Error> {
    let c = column(df, name, &DataType::Float64, path)?;
    let ca = c
        .f64()
        .map_err(|e| read_error(path, format!("column `{name}`: {e}")))?;
    Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn bools(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<bool>, Error> {
    let c = column(df, name, &DataType::Boolean, path)?;
    let ca = c
        .bool()
        .map_err(|e| read_error(path, format!("column `{name}`: {e}")))?;
    Ok(ca.iter().map(|v| v.unwrap_or(false)).collect())
}

fn strings(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<String>, Error> {
    let c = column(df, name, &DataType::String, path)?;
    let ca = c
        .str()
        .map_err(|e| read_error(path, format!("column `{name}`: {e}")))?;
    Ok(ca
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// A sweep-layout column, or `None` when the table has none.
fn optional_strings(df: &DataFrame, name: &str, path: &Path) -> Result<Option<Vec<String>>, Error> {
    if df.column(name).is_err() {
        return Ok(None);
    }
    strings(df, name, path).map(Some)
}

/// The group and run of every row of a table.
struct Keys {
    protocol: Vec<String>,
    point: Option<Vec<String>>,
    run: Option<Vec<String>>,
}

impl Keys {
    fn of(df: &DataFrame, path: &Path) -> Result<Keys, Error> {
        let protocol = match optional_strings(df, "protocol", path)? {
            Some(p) => p,
            None => match optional_strings(df, "variant", path)? {
                Some(v) => v,
                None => vec!["kademlia".to_string(); df.height()],
            },
        };
        let run = match optional_strings(df, "run_id", path)? {
            Some(r) => Some(r),
            None => optional_strings(df, "replication", path)?,
        };
        Ok(Keys {
            protocol,
            point: optional_strings(df, "point", path)?,
            run,
        })
    }

    fn group(&self, i: usize) -> Group {
        Group {
            protocol: self.protocol[i].clone(),
            point: self.point.as_ref().map(|p| p[i].clone()),
        }
    }

    fn run(&self, i: usize) -> String {
        self.run.as_ref().map(|r| r[i].clone()).unwrap_or_default()
    }
}

/// Index of `g` in `groups`, appending it when new.
fn group_index(groups: &mut Vec<Group>, g: Group) -> usize {
    match groups.iter().position(|x| *x == g) {
        Some(i) => i,
        None => {
            groups.push(g);
            groups.len() - 1
        }
    }
}

/// Splits one CSV line (RFC 4180 quoting).
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

const SUMMARY_COLUMNS: [&str; 7] = [
    "metric",
    "unit",
    "mean",
    "std",
    "n",
    "ci95_half_width",
    "protocol",
];

/// Parses `summary.csv` text; `path` names the file in errors.
pub fn parse_summary(text: &str, path: &Path) -> Result<Summary, Error> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> =
        csv_fields(lines.next().ok_or_else(|| read_error(path, "empty file"))?);
    let idx = |name: &str| header.iter().position(|h| h == name);
    if idx("metric").is_none() && header.first().map(String::as_str) == Some("variant") {
        return parse_calls_summary(header, lines, path);
    }
    let mut at = Vec::new();
    for name in &SUMMARY_COLUMNS[..6] {
        at.push(idx(name).ok_or_else(|| {
            read_error(
                path,
                format!("no column `{name}` in the header `{}`", header.join(",")),
            )
        })?);
    }
    let protocol_at = idx("protocol").or_else(|| idx("variant"));
    let point_at = idx("point");
    let params: Vec<String> = header
        .iter()
        .filter(|h| {
            !SUMMARY_COLUMNS.contains(&h.as_str())
                && !["point", "run_id", "replication", "variant"].contains(&h.as_str())
        })
        .cloned()
        .collect();
    let param_at: Vec<usize> = params.iter().filter_map(|p| idx(p)).collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let f = csv_record(line, header.len(), i + 2, path)?;
        let num = |j: usize, what: &str| csv_number(&f[at[j]], what, i + 2, path);
        let n = num(4, "n")?;
        rows.push(SummaryRow {
            metric: f[at[0]].clone(),
            unit: f[at[1]].clone(),
            mean: num(2, "mean")?,
            std: num(3, "std")?,
            n: if n.is_finite() { n as u64 } else { 0 },
            ci95: num(5, "ci95_half_width")?,
            protocol: protocol_at.map_or_else(|| "kademlia".to_string(), |j| f[j].clone()),
            point: point_at.map(|j| f[j].clone()),
            params: param_at.iter().map(|&j| f[j].clone()).collect(),
        });
    }
    Ok(Summary {
        header,
        params,
        rows,
    })
}

/// The fields of CSV line `line_no` of `path`, which must number `width`.
fn csv_record(line: &str, width: usize, line_no: usize, path: &Path) -> Result<Vec<String>, Error> {
    let f = csv_fields(line);
    if f.len() != width {
        return Err(read_error(
            path,
            format!("line {line_no}: {} fields, the header has {width}", f.len()),
        ));
    }
    Ok(f)
}

/// A numeric CSV cell (`what` names its column): empty or `NaN` is NaN.
fn csv_number(cell: &str, what: &str, line_no: usize, path: &Path) -> Result<f64, Error> {
    let s = cell.trim();
    if s.is_empty() || s == "NaN" {
        return Ok(f64::NAN);
    }
    s.parse::<f64>().map_err(|_| {
        read_error(
            path,
            format!("line {line_no}: {what} `{s}` is not a number"),
        )
    })
}

/// The label columns of a calls run's `summary.csv`
/// ([`crate::calls_tables::SUMMARY_HEADER`]); every other column is a metric.
const CALLS_LABELS: [&str; 3] = ["variant", "strategy", "failover"];

/// A calls run's `summary.csv` (one row per variant, one column per
/// metric) as metric rows: each value a mean with `n` = 1, the variant in
/// [`SummaryRow::protocol`].
fn parse_calls_summary<'a>(
    header: Vec<String>,
    lines: impl Iterator<Item = &'a str>,
    path: &Path,
) -> Result<Summary, Error> {
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let f = csv_record(line, header.len(), i + 2, path)?;
        for (h, v) in header.iter().zip(&f) {
            if CALLS_LABELS.contains(&h.as_str()) {
                continue;
            }
            let mean = csv_number(v, h, i + 2, path)?;
            rows.push(SummaryRow {
                metric: h.clone(),
                unit: String::new(),
                mean,
                std: f64::NAN,
                n: 1,
                ci95: f64::NAN,
                protocol: f[0].clone(),
                point: None,
                params: Vec::new(),
            });
        }
    }
    Ok(Summary {
        header,
        params: Vec::new(),
        rows,
    })
}

/// Reads `calls.parquet` into [`Call`]s, adding their groups.
fn read_calls(path: &Path, groups: &mut Vec<Group>) -> Result<Vec<Call>, Error> {
    let df = read_parquet(path)?;
    let keys = Keys::of(&df, path)?;
    let measured = bools(&df, "measured", path)?;
    let added = f64s(&df, "added_delay_ms", path)?;
    let nominal = f64s(&df, "nominal_s", path)?;
    let outcome = strings(&df, "outcome", path)?;
    let c = column(&df, "path", &DataType::String, path)?;
    let paths = c
        .str()
        .map_err(|e| read_error(path, format!("column `path`: {e}")))?;
    let mut out = Vec::with_capacity(df.height());
    for (i, p) in paths.iter().enumerate() {
        let p = match p {
            None => None,
            Some(p) => Some(CALL_PATHS.iter().position(|x| *x == p).ok_or_else(|| {
                read_error(
                    path,
                    format!(
                        "row {i}: path `{p}` is not one of {}",
                        CALL_PATHS.join(", ")
                    ),
                )
            })?),
        };
        out.push(Call {
            group: group_index(groups, keys.group(i)),
            measured: measured[i],
            path: p,
            added_delay_ms: added[i],
            nominal_s: nominal[i],
            completed: outcome[i] == "completed",
        });
    }
    Ok(out)
}

fn u64s(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<u64>, Error> {
    let c = column(df, name, &DataType::UInt64, path)?;
    let ca = c
        .u64()
        .map_err(|e| read_error(path, format!("column `{name}`: {e}")))?;
    Ok(ca.iter().map(|v| v.unwrap_or(0)).collect())
}

/// Reads `relay_nodes.parquet` into per-(group, run) [`NodeTotals`].
fn read_node_totals(path: &Path, groups: &mut Vec<Group>) -> Result<Vec<NodeTotals>, Error> {
    let df = read_parquet(path)?;
    let keys = Keys::of(&df, path)?;
    let class = strings(&df, "class", path)?;
    let made = u64s(&df, "calls_made", path)?;
    let own = u64s(&df, "own_bytes", path)?;
    let tcp = u64s(&df, "relayed_tcp", path)?;
    let tcp_bytes = u64s(&df, "relayed_tcp_bytes", path)?;
    let mut out: Vec<NodeTotals> = Vec::new();
    for i in 0..df.height() {
        let group = group_index(groups, keys.group(i));
        let run = keys.run(i);
        let at = match out.iter().rposition(|t| t.group == group && t.run == run) {
            Some(at) => at,
            None => {
                out.push(NodeTotals {
                    group,
                    run,
                    ..NodeTotals::default()
                });
                out.len() - 1
            }
        };
        let t = &mut out[at];
        t.nodes += 1;
        t.calls_made += made[i];
        t.own_bytes += own[i];
        if class[i] == "open" {
            t.public_nodes += 1;
            t.public_relayed_tcp += tcp[i];
            t.public_bytes += own[i] + tcp_bytes[i];
        }
    }
    Ok(out)
}

impl ResultDir {
    /// Reads the result directory `dir`.
    pub fn load(dir: &Path) -> Result<ResultDir, Error> {
        Self::load_with(dir, None)
    }

    /// Reads `dir`, taking the manifest text from `manifest_text` when given
    /// (a run renders its report before it writes the manifest).
    pub fn load_with(dir: &Path, manifest_text: Option<String>) -> Result<ResultDir, Error> {
        if !dir.is_dir() {
            return Err(read_error(
                dir,
                "not a directory (expected a result directory written by `peerlab run`)",
            ));
        }
        let summary_path = dir.join(SUMMARY);
        let summary_text = std::fs::read_to_string(&summary_path)
            .map_err(|e| read_error(&summary_path, e.to_string()))?;
        let summary = parse_summary(&summary_text, &summary_path)?;

        let mut groups = Vec::new();
        let path = dir.join("lookups.parquet");
        // A sweep holds the tables its runs wrote (none of lookups for a
        // calls sweep, or a shard without runs); a single overlay run must
        // have lookups.
        let optional = summary.header.iter().any(|h| h == "point")
            || dir.join(crate::calls_tables::CALLS).exists();
        let df = if optional && !path.exists() {
            DataFrame::empty()
        } else {
            read_parquet(&path)?
        };
        let keys = Keys::of(&df, &path)?;
        let (time_s, success, hops, latency_ms, measured) = if df.width() == 0 {
            Default::default()
        } else {
            (
                f64s(&df, "time_s", &path)?,
                bools(&df, "success", &path)?,
                f64s(&df, "hops", &path)?,
                f64s(&df, "latency_ms", &path)?,
                if df.column("measured").is_ok() {
                    bools(&df, "measured", &path)?
                } else {
                    vec![true; df.height()]
                },
            )
        };
        let mut lookups = Vec::with_capacity(df.height());
        for i in 0..df.height() {
            lookups.push(Lookup {
                group: group_index(&mut groups, keys.group(i)),
                run: keys.run(i),
                time_s: time_s[i],
                success: success[i],
                hops: hops[i],
                latency_ms: latency_ms[i],
                measured: measured[i],
            });
        }
        for r in &summary.rows {
            group_index(
                &mut groups,
                Group {
                    protocol: r.protocol.clone(),
                    point: r.point.clone(),
                },
            );
        }

        let mut puts = Vec::new();
        let path = dir.join("puts.parquet");
        if path.exists() {
            let df = read_parquet(&path)?;
            let keys = Keys::of(&df, &path)?;
            let found = bools(&df, "found", &path)?;
            let lat = f64s(&df, "get_latency_ms", &path)?;
            for i in 0..df.height() {
                puts.push(Put {
                    group: group_index(&mut groups, keys.group(i)),
                    found: found[i],
                    get_latency_ms: lat[i],
                });
            }
        }

        let mut traffic = Vec::new();
        let path = dir.join("traffic.parquet");
        if path.exists() {
            let df = read_parquet(&path)?;
            let keys = Keys::of(&df, &path)?;
            let kind = strings(&df, "kind", &path)?;
            let bytes = f64s(&df, "bytes", &path)?;
            let rate = if df.column("bytes_per_node_s").is_ok() {
                f64s(&df, "bytes_per_node_s", &path)?
            } else {
                vec![f64::NAN; df.height()]
            };
            for i in 0..df.height() {
                traffic.push(Traffic {
                    group: group_index(&mut groups, keys.group(i)),
                    run: keys.run(i),
                    kind: kind[i].clone(),
                    bytes: bytes[i],
                    bytes_per_node_s: rate[i],
                });
            }
        }

        let mut node_counts: Vec<(usize, String, usize)> = Vec::new();
        let path = dir.join("nodes.parquet");
        if path.exists() {
            let df = read_parquet(&path)?;
            let keys = Keys::of(&df, &path)?;
            for i in 0..df.height() {
                let g = group_index(&mut groups, keys.group(i));
                let run = keys.run(i);
                match node_counts
                    .iter_mut()
                    .find(|(x, r, _)| *x == g && *r == run)
                {
                    Some(e) => e.2 += 1,
                    None => node_counts.push((g, run, 1)),
                }
            }
        }

        let mut series = Vec::new();
        let path = dir.join(crate::series_tables::TIMESERIES);
        if path.exists() {
            let df = read_parquet(&path)?;
            let keys = Keys::of(&df, &path)?;
            let col = |name: &str| f64s(&df, name, &path);
            let (t, online, dead, success, wrong) = (
                col("time_s")?,
                col("online_nodes")?,
                col("dead_entry_share")?,
                col("success_rate")?,
                col("wrong_successor_share")?,
            );
            for i in 0..df.height() {
                series.push(SeriesPoint {
                    group: group_index(&mut groups, keys.group(i)),
                    run: keys.run(i),
                    time_s: t[i],
                    online_nodes: online[i],
                    dead_entry_share: dead[i],
                    success_rate: success[i],
                    wrong_successor_share: wrong[i],
                });
            }
        }
        let path = dir.join(crate::calls_tables::CALLS);
        let calls = if path.exists() {
            read_calls(&path, &mut groups)?
        } else {
            Vec::new()
        };
        let path = dir.join(crate::calls_tables::RELAY_NODES);
        let node_totals = if path.exists() {
            read_node_totals(&path, &mut groups)?
        } else {
            Vec::new()
        };

        let spec_path = dir.join(SPEC_FILE);
        let spec_text = match std::fs::read_to_string(&spec_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(read_error(&spec_path, e.to_string())),
        };
        let manifest_text = match manifest_text {
            Some(t) => Some(t),
            None => std::fs::read_to_string(dir.join(MANIFEST)).ok(),
        };
        let spec = match &spec_text {
            Some(t) => Some(
                toml::from_str::<Spec>(t)
                    .map_err(|e| read_error(&spec_path, format!("not a valid spec: {e}")))?,
            ),
            None => manifest_text
                .as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                .and_then(|v| v.get("spec").cloned())
                .and_then(|s| serde_json::from_value::<Spec>(s).ok()),
        };
        Ok(ResultDir {
            dir: dir.to_path_buf(),
            groups,
            lookups,
            puts,
            traffic,
            node_counts,
            calls,
            node_totals,
            summary,
            summary_text,
            series,
            spec,
            spec_text,
            manifest_text,
        })
    }

    /// Distinct runs of group `g` in `lookups.parquet`, in order of
    /// appearance.
    pub fn runs_of(&self, g: usize) -> Vec<String> {
        let mut runs: Vec<String> = Vec::new();
        for l in self.lookups.iter().filter(|l| l.group == g) {
            if runs.last() != Some(&l.run) && !runs.contains(&l.run) {
                runs.push(l.run.clone());
            }
        }
        runs
    }

    /// The swept parameter values of grid point `point`, as `(path, value)`,
    /// from `summary.csv`.
    pub fn point_params(&self, point: &str) -> Vec<(String, String)> {
        self.summary
            .rows
            .iter()
            .find(|r| r.point.as_deref() == Some(point))
            .map(|r| {
                self.summary
                    .params
                    .iter()
                    .cloned()
                    .zip(r.params.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_both_layouts() {
        let p = Path::new("summary.csv");
        let single = "metric,unit,mean,std,n,ci95_half_width,protocol\n\
                      lookup_hops,hops,2.5,1,10,0.7,kademlia\n\
                      bytes_per_node_s,bytes/node/s,2,,1,,chord\n";
        let s = parse_summary(single, p).unwrap();
        assert!(s.params.is_empty());
        assert_eq!(s.rows.len(), 2);
        assert_eq!(
            (s.rows[0].mean, s.rows[0].n, s.rows[0].ci95),
            (2.5, 10, 0.7)
        );
        assert!(s.rows[1].std.is_nan() && s.rows[1].point.is_none());
        let sweep = "metric,unit,mean,std,n,ci95_half_width,protocol,point,dht.kademlia.k,\"a,b\"\n\
                     lookup_hops,hops,2.5,1,3,0.7,kademlia,4,8,\"x,\"\"y\"\"\"\n";
        let s = parse_summary(sweep, p).unwrap();
        assert_eq!(s.params, ["dht.kademlia.k", "a,b"]);
        assert_eq!(s.rows[0].params, ["8", "x,\"y\""]);
        assert_eq!(s.rows[0].point.as_deref(), Some("4"));
    }

    #[test]
    fn calls_run_summary_reads_as_metric_rows() {
        let p = Path::new("d/summary.csv");
        let text = "variant,strategy,failover,calls,jain_relayed_bytes\n\
                    \"a,b\",random,none,40,0.5\n\
                    min-rtt,min-rtt,none,38,\n";
        let s = parse_summary(text, p).unwrap();
        assert!(s.params.is_empty());
        let got: Vec<(&str, &str, f64)> = s
            .rows
            .iter()
            .map(|r| (r.protocol.as_str(), r.metric.as_str(), r.mean))
            .collect();
        assert_eq!(
            &got[..3],
            &[
                ("a,b", "calls", 40.0),
                ("a,b", "jain_relayed_bytes", 0.5),
                ("min-rtt", "calls", 38.0)
            ]
        );
        assert!(s.rows[3].mean.is_nan() && s.rows[3].n == 1 && s.rows[3].point.is_none());
        let e = parse_summary("variant,strategy,failover,calls\nx,y,z,lots\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("d/summary.csv") && e.contains("line 2") && e.contains("lots"),
            "{e}"
        );
    }

    #[test]
    fn bad_summary_names_file_and_line() {
        let p = Path::new("d/summary.csv");
        let e = parse_summary("metric,unit\n", p).unwrap_err().to_string();
        assert!(e.contains("d/summary.csv") && e.contains("`mean`"), "{e}");
        let e = parse_summary(
            "metric,unit,mean,std,n,ci95_half_width,protocol\nx,y,zz,1,2,3,k\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && e.contains("zz"), "{e}");
    }
}
