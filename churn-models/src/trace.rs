//! Trace replay: churn read from a file, in three formats.
//!
//! * **CSV** ([`TraceFormat::Csv`]): one event per line, `time,node,event`,
//!   where `time` is in seconds, `node` is an integer in `0..=4294967295` and
//!   `event` is `join`, `leave` or `fail` (any case). An optional header line
//!   `time,node,event` is skipped. Times must not decrease.
//! * **OverSim** ([`TraceFormat::Oversim`]): OverSim's trace format, one
//!   command per line, `t node JOIN` or `t node LEAVE`, separated by
//!   whitespace. Times must not decrease. Other OverSim commands are rejected,
//!   since only churn is replayed.
//! * **Availability intervals** ([`TraceFormat::Intervals`]): one up interval
//!   per line, `node start end` (commas or whitespace), with an optional
//!   fourth field `leave` or `fail` for how it ends (default `leave`). `end`
//!   may be `-` or `inf` for a node still up when the trace ends. A node's
//!   intervals must not overlap; they may touch, and then the node leaves and
//!   rejoins at the same instant.
//!
//! In every format, blank lines and lines starting with `#` are ignored, and
//! every event must make sense: a node joins only while offline and leaves or
//! fails only while online. Any violation is a [`TraceError`] with the line
//! number (counting from 1) and the reason.
//!
//! Events at the same time are replayed in node order; a node's own events
//! keep their order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::{ChurnEvent, ChurnRecord, UpInterval, up_intervals};

/// The file format of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    /// `time,node,event` with `join`, `leave` or `fail`.
    Csv,
    /// OverSim's `t node JOIN|LEAVE`.
    Oversim,
    /// Per-node availability intervals, `node start end [leave|fail]`.
    Intervals,
}

/// A malformed trace line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct TraceError {
    /// Line number, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// A trace that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TraceLoadError {
    /// The file could not be read.
    #[error("cannot read trace {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("trace {}, {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The first bad line.
        #[source]
        source: TraceError,
    },
}

/// A validated churn trace: a time-ordered, consistent event sequence.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Trace {
    events: Vec<ChurnRecord>,
}

fn err(line: usize, reason: impl Into<String>) -> TraceError {
    TraceError {
        line,
        reason: reason.into(),
    }
}

fn parse_time(line: usize, field: &str, what: &str) -> Result<f64, TraceError> {
    let t: f64 = field
        .parse()
        .map_err(|_| err(line, format!("{what} `{field}` is not a number")))?;
    if !t.is_finite() {
        return Err(err(line, format!("{what} `{field}` is not finite")));
    }
    if t < 0.0 {
        return Err(err(line, format!("{what} {t} is negative")));
    }
    Ok(t)
}

fn parse_node(line: usize, field: &str) -> Result<u32, TraceError> {
    field.parse().map_err(|_| {
        err(
            line,
            format!("node `{field}` is not an integer in 0..=4294967295"),
        )
    })
}

/// Lines that carry data: `(line number, trimmed text)`.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Checks the order and the consistency of events given with their line
/// numbers, then sorts them into replay order.
fn check_sequence(events: Vec<(usize, ChurnRecord)>) -> Result<Trace, TraceError> {
    // Per node: (online, line of the last event).
    let mut state: BTreeMap<u32, (bool, usize)> = BTreeMap::new();
    let mut prev: Option<(f64, usize)> = None;
    for &(line, r) in &events {
        if let Some((pt, pl)) = prev
            && r.time_s < pt
        {
            return Err(err(
                line,
                format!("time {} is earlier than {pt} on line {pl}", r.time_s),
            ));
        }
        prev = Some((r.time_s, line));
        let entry = state.entry(r.node).or_insert((false, 0));
        match (r.event, entry.0) {
            (ChurnEvent::Join, true) => {
                return Err(err(
                    line,
                    format!(
                        "node {} joins but is already online (joined on line {})",
                        r.node, entry.1
                    ),
                ));
            }
            (ChurnEvent::Leave | ChurnEvent::Fail, false) => {
                let verb = if r.event == ChurnEvent::Leave {
                    "leaves"
                } else {
                    "fails"
                };
                let since = if entry.1 == 0 {
                    String::new()
                } else {
                    format!(" (went offline on line {})", entry.1)
                };
                return Err(err(
                    line,
                    format!("node {} {verb} but is not online{since}", r.node),
                ));
            }
            _ => {}
        }
        *entry = (r.event == ChurnEvent::Join, line);
    }
    let mut events: Vec<ChurnRecord> = events.into_iter().map(|(_, r)| r).collect();
    events.sort_by(|a, b| a.time_s.total_cmp(&b.time_s).then(a.node.cmp(&b.node)));
    Ok(Trace { events })
}

impl Trace {
    /// Parses `text` in `format`.
    pub fn parse(text: &str, format: TraceFormat) -> Result<Trace, TraceError> {
        match format {
            TraceFormat::Csv => Trace::parse_csv(text),
            TraceFormat::Oversim => Trace::parse_oversim(text),
            TraceFormat::Intervals => Trace::parse_intervals(text),
        }
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path, format: TraceFormat) -> Result<Trace, TraceLoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| TraceLoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Trace::parse(&text, format).map_err(|source| TraceLoadError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses the CSV format `time,node,event`.
    pub fn parse_csv(text: &str) -> Result<Trace, TraceError> {
        let mut out = Vec::new();
        for (k, (line, l)) in data_lines(text).enumerate() {
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            if k == 0
                && fields.len() == 3
                && fields
                    .iter()
                    .zip(["time", "node", "event"])
                    .all(|(f, h)| f.eq_ignore_ascii_case(h))
            {
                continue;
            }
            if fields.len() != 3 {
                return Err(err(
                    line,
                    format!(
                        "expected 3 comma-separated fields (time,node,event), found {}",
                        fields.len()
                    ),
                ));
            }
            let time_s = parse_time(line, fields[0], "time")?;
            let node = parse_node(line, fields[1])?;
            let event = match fields[2].to_ascii_lowercase().as_str() {
                "join" => ChurnEvent::Join,
                "leave" => ChurnEvent::Leave,
                "fail" => ChurnEvent::Fail,
                _ => {
                    return Err(err(
                        line,
                        format!("event `{}` is not join, leave or fail", fields[2]),
                    ));
                }
            };
            out.push((
                line,
                ChurnRecord {
                    time_s,
                    node,
                    event,
                },
            ));
        }
        check_sequence(out)
    }

    /// Parses OverSim's format `t node JOIN|LEAVE`.
    pub fn parse_oversim(text: &str) -> Result<Trace, TraceError> {
        let mut out = Vec::new();
        for (line, l) in data_lines(text) {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() != 3 {
                return Err(err(
                    line,
                    format!(
                        "expected 3 whitespace-separated fields (time node JOIN|LEAVE), found {}",
                        fields.len()
                    ),
                ));
            }
            let time_s = parse_time(line, fields[0], "time")?;
            let node = parse_node(line, fields[1])?;
            let event = match fields[2].to_ascii_uppercase().as_str() {
                "JOIN" => ChurnEvent::Join,
                "LEAVE" => ChurnEvent::Leave,
                _ => {
                    return Err(err(
                        line,
                        format!(
                            "command `{}` is not JOIN or LEAVE (only churn commands are replayed)",
                            fields[2]
                        ),
                    ));
                }
            };
            out.push((
                line,
                ChurnRecord {
                    time_s,
                    node,
                    event,
                },
            ));
        }
        check_sequence(out)
    }

    /// Parses availability intervals `node start end [leave|fail]`.
    pub fn parse_intervals(text: &str) -> Result<Trace, TraceError> {
        // Per node: (start, end, how it ends, line).
        let mut per_node: BTreeMap<u32, Vec<(f64, f64, ChurnEvent, usize)>> = BTreeMap::new();
        for (line, l) in data_lines(text) {
            let fields: Vec<&str> = if l.contains(',') {
                l.split(',').map(str::trim).collect()
            } else {
                l.split_whitespace().collect()
            };
            if !(3..=4).contains(&fields.len()) {
                return Err(err(
                    line,
                    format!(
                        "expected 3 or 4 fields (node start end [leave|fail]), found {}",
                        fields.len()
                    ),
                ));
            }
            let node = parse_node(line, fields[0])?;
            let start = parse_time(line, fields[1], "start")?;
            let end = match fields[2].to_ascii_lowercase().as_str() {
                "-" | "inf" => f64::INFINITY,
                _ => parse_time(line, fields[2], "end")?,
            };
            if end <= start {
                return Err(err(line, format!("end {end} is not after start {start}")));
            }
            let how = match fields.get(3).map(|f| f.to_ascii_lowercase()) {
                None => ChurnEvent::Leave,
                Some(f) if f == "leave" => ChurnEvent::Leave,
                Some(f) if f == "fail" => ChurnEvent::Fail,
                Some(_) => {
                    return Err(err(
                        line,
                        format!("end kind `{}` is not leave or fail", fields[3]),
                    ));
                }
            };
            if end.is_infinite() && fields.len() == 4 {
                return Err(err(
                    line,
                    "an interval still open at the end of the trace cannot say how it ends",
                ));
            }
            per_node
                .entry(node)
                .or_default()
                .push((start, end, how, line));
        }
        let mut events = Vec::new();
        for (node, mut ivs) in per_node {
            ivs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.3.cmp(&b.3)));
            for w in ivs.windows(2) {
                let (a, b) = (w[0], w[1]);
                if b.0 < a.1 {
                    let (later, earlier) = if b.3 > a.3 { (b, a) } else { (a, b) };
                    let show = |e: f64| {
                        if e.is_infinite() {
                            "-".to_string()
                        } else {
                            e.to_string()
                        }
                    };
                    return Err(err(
                        later.3,
                        format!(
                            "node {node}: interval [{}, {}) overlaps [{}, {}) on line {}",
                            later.0,
                            show(later.1),
                            earlier.0,
                            show(earlier.1),
                            earlier.3
                        ),
                    ));
                }
            }
            for (start, end, how, _) in ivs {
                events.push(ChurnRecord {
                    time_s: start,
                    node,
                    event: ChurnEvent::Join,
                });
                if end.is_finite() {
                    events.push(ChurnRecord {
                        time_s: end,
                        node,
                        event: how,
                    });
                }
            }
        }
        // A stable sort keeps each node's own order (a leave before a rejoin
        // at the same instant).
        events.sort_by(|a, b| a.time_s.total_cmp(&b.time_s).then(a.node.cmp(&b.node)));
        Ok(Trace { events })
    }

    /// A trace from records in time order; the error's line is the record's
    /// position counting from 1.
    pub fn from_records(records: &[ChurnRecord]) -> Result<Trace, TraceError> {
        check_sequence(
            records
                .iter()
                .enumerate()
                .map(|(i, r)| (i + 1, *r))
                .collect(),
        )
    }

    /// The events in replay order.
    pub fn events(&self) -> &[ChurnRecord] {
        &self.events
    }

    /// Each node's up intervals, ordered by node then start.
    pub fn intervals(&self) -> Vec<UpInterval> {
        up_intervals(&self.events)
    }

    /// The largest node id, if any.
    pub fn max_node(&self) -> Option<u32> {
        self.events.iter().map(|r| r.node).max()
    }

    /// Writes the CSV format, with its header.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("time,node,event\n");
        for r in &self.events {
            let e = match r.event {
                ChurnEvent::Join => "join",
                ChurnEvent::Leave => "leave",
                ChurnEvent::Fail => "fail",
            };
            s.push_str(&format!("{},{},{e}\n", r.time_s, r.node));
        }
        s
    }

    /// Writes OverSim's format. OverSim has no failure command, so a failure
    /// is written as `LEAVE`.
    pub fn to_oversim(&self) -> String {
        let mut s = String::new();
        for r in &self.events {
            let c = if r.event == ChurnEvent::Join {
                "JOIN"
            } else {
                "LEAVE"
            };
            s.push_str(&format!("{} {} {c}\n", r.time_s, r.node));
        }
        s
    }

    /// Writes the availability-interval format.
    pub fn to_intervals(&self) -> String {
        let mut s = String::new();
        for iv in self.intervals() {
            match (iv.end_s, iv.end) {
                (Some(e), Some(ChurnEvent::Fail)) => {
                    s.push_str(&format!("{} {} {e} fail\n", iv.node, iv.start_s))
                }
                (Some(e), _) => s.push_str(&format!("{} {} {e}\n", iv.node, iv.start_s)),
                (None, _) => s.push_str(&format!("{} {} -\n", iv.node, iv.start_s)),
            }
        }
        s
    }
}
