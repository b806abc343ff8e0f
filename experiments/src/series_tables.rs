//! Time-series tables of overlay runs (churn or static) with a `[series]` table
//! ([`SeriesOptions`](crate::simapi::SeriesOptions)).
//!
//! | file | one row per | columns |
//! |------|-------------|---------|
//! | `timeseries.parquet` | protocol and sampling interval `(time_s - interval_s, time_s]` | `time_s` f64 (interval end), `interval_s` f64, `phase` str (at the interval's start: `init`, `transition`, `measurement`; `static` in static runs), `online_nodes` u32 (up at `time_s`), `joined_nodes` u32 (of those, joined), `joins` u32 (arrivals), `leaves` u32, `fails` u32, `lookups` u32 (finished in the interval), `lookup_successes` u32, `success_rate` f64 (NaN: no lookup finished), `mean_latency_ms` f64 (NaN: none), `bytes` u64 (sent by all nodes), `node_seconds` f64 (joined-node-seconds), `bytes_per_node_s` f64, `live_nodes` u32, `routing_entries` u64, `dead_entries` u64 (naming a node that is down), `entries_per_node` f64 (per live node), `dead_entry_share` f64, `ring_members` u32 (Chord: joined ring nodes; null otherwise), `wrong_successors` u32 (Chord: members whose first successor is not the oracle's; null otherwise), `wrong_successor_share` f64 (null unless Chord), `protocol` str |
//! | `node_traffic.parquet` | protocol, node-traffic interval, node and traffic group with non-zero traffic | `interval` u32, `time_s` f64 (interval end), `node` u32, `class` str (`lookup`, `store`, `join`, `routing_maintenance`, `data_maintenance`: as `traffic_by_class` attributes them, sent = requests and unsolicited messages, received = answers to the node's own requests; `all`: every datagram, as `nodes.parquet`), `sent_messages` u64, `sent_bytes` u64, `recv_messages` u64, `recv_bytes` u64, `protocol` str |
//!
//! Only runs that recorded a series write these files, and
//! `node_traffic.parquet` only with `series.node_traffic = true`.

use crate::error::Error;
use crate::simapi::{NodeTrafficRow, SeriesOutput, SeriesRow, group_name};
use crate::tables::{Labelled, col, frame, protocol_col, write_parquet};
use polars::prelude::{Column, DataFrame, PolarsResult};
use std::path::Path;

/// `timeseries.parquet`.
pub const TIMESERIES: &str = "timeseries.parquet";
/// `node_traffic.parquet`.
pub const NODE_TRAFFIC: &str = "node_traffic.parquet";

fn series<'a>(r: &Labelled<'a>) -> Option<&'a SeriesOutput> {
    r.output.series.as_ref()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// The `timeseries.parquet` frame of `runs`, protocols stacked in order.
pub fn timeseries_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<(&str, &SeriesRow)> = runs
        .iter()
        .flat_map(|r| {
            series(r)
                .into_iter()
                .flat_map(|s| s.rows.iter())
                .map(move |x| (r.protocol, x))
        })
        .collect();
    let r: &[(&str, &SeriesRow)] = &rows;
    frame(vec![
        col("time_s", r, |x| x.time_s),
        col("interval_s", r, |x| x.interval_s),
        col("phase", r, |x| x.phase.to_string()),
        col("online_nodes", r, |x| x.online_nodes),
        col("joined_nodes", r, |x| x.joined_nodes),
        col("joins", r, |x| x.joins),
        col("leaves", r, |x| x.leaves),
        col("fails", r, |x| x.fails),
        col("lookups", r, |x| x.lookups),
        col("lookup_successes", r, |x| x.lookup_successes),
        col("success_rate", r, |x| {
            ratio(x.lookup_successes as f64, x.lookups as f64)
        }),
        col("mean_latency_ms", r, |x| {
            ratio(x.latency_sum_ms, x.lookups as f64)
        }),
        col("bytes", r, |x| x.bytes),
        col("node_seconds", r, |x| x.node_seconds),
        col("bytes_per_node_s", r, |x| {
            ratio(x.bytes as f64, x.node_seconds)
        }),
        col("live_nodes", r, |x| x.health.live_nodes),
        col("routing_entries", r, |x| x.health.entries),
        col("dead_entries", r, |x| x.health.dead_entries),
        col("entries_per_node", r, |x| {
            ratio(x.health.entries as f64, x.health.live_nodes as f64)
        }),
        col("dead_entry_share", r, |x| x.health.dead_entry_share()),
        col("ring_members", r, |x| {
            x.ring.then_some(x.health.ring_members)
        }),
        col("wrong_successors", r, |x| {
            x.ring.then_some(x.health.wrong_successors)
        }),
        col("wrong_successor_share", r, |x| {
            x.ring.then(|| {
                if x.health.ring_members == 0 {
                    0.0
                } else {
                    x.health.wrong_successors as f64 / x.health.ring_members as f64
                }
            })
        }),
        protocol_col(r),
    ])
}

/// The `node_traffic.parquet` frame of `runs`, protocols stacked in order.
pub fn node_traffic_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<(&str, f64, &NodeTrafficRow)> = runs
        .iter()
        .flat_map(|r| {
            series(r).into_iter().flat_map(move |s| {
                s.node_rows.iter().map(move |x| {
                    let end = s
                        .node_interval_ends_s
                        .get(x.interval as usize)
                        .copied()
                        .unwrap_or(f64::NAN);
                    (r.protocol, end, x)
                })
            })
        })
        .collect();
    fn c<V>(
        name: &str,
        rows: &[(&str, f64, &NodeTrafficRow)],
        f: impl Fn(&NodeTrafficRow) -> V,
    ) -> Column
    where
        polars::prelude::Series: polars::prelude::NamedFrom<Vec<V>, [V]>,
    {
        Column::new(
            name.into(),
            rows.iter().map(|(_, _, r)| f(r)).collect::<Vec<V>>(),
        )
    }
    let r = &rows;
    frame(vec![
        c("interval", r, |x| x.interval),
        Column::new(
            "time_s".into(),
            rows.iter().map(|(_, t, _)| *t).collect::<Vec<f64>>(),
        ),
        c("node", r, |x| x.node),
        c("class", r, |x| group_name(x.class).to_string()),
        c("sent_messages", r, |x| x.sent_messages as u64),
        c("sent_bytes", r, |x| x.sent_bytes as u64),
        c("recv_messages", r, |x| x.recv_messages as u64),
        c("recv_bytes", r, |x| x.recv_bytes as u64),
        Column::new(
            "protocol".into(),
            rows.iter()
                .map(|(p, _, _)| p.to_string())
                .collect::<Vec<String>>(),
        ),
    ])
}

fn write_one(dir: &Path, name: &str, df: PolarsResult<DataFrame>) -> Result<String, Error> {
    let mut df = df.map_err(|source| Error::Table {
        name: name.to_string(),
        source,
    })?;
    write_parquet(&dir.join(name), &mut df)?;
    Ok(name.to_string())
}

/// Writes the series tables `runs` recorded into `dir`; returns their names
/// (none if no run recorded a series).
pub fn write(dir: &Path, runs: &[Labelled<'_>]) -> Result<Vec<String>, Error> {
    let mut files = Vec::new();
    if runs.iter().any(|r| series(r).is_some()) {
        files.push(write_one(dir, TIMESERIES, timeseries_frame(runs))?);
    }
    if runs
        .iter()
        .any(|r| series(r).is_some_and(|s| s.node_traffic))
    {
        files.push(write_one(dir, NODE_TRAFFIC, node_traffic_frame(runs))?);
    }
    Ok(files)
}
