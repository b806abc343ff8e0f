//! Combining a sweep's finished runs into its result directory.
//!
//! ```text
//! DIR/runs/<run_id>/  the run's tables (overlay: lookups puts traffic nodes
//!                     traffic_by_class and any graph tables; calls: calls
//!                     relay_sessions relay_nodes), its summary.csv and run.json
//! DIR/runs.parquet    one row per run and protocol (calls: per run and variant)
//! DIR/<table>.parquet every run's rows of each table in COMBINED_TABLES that
//!                     the runs wrote, in run order, plus run_id, point, replication
//! DIR/summary.csv     per grid point, protocol (variant) and metric: over replications
//! DIR/manifest.json   written last
//! ```
//!
//! Everything here is read back from the runs' own files (`run.json` and
//! tables), never from memory, so the combined files depend only on which
//! runs the directory holds: a sweep run with any thread count, resumed
//! after a kill, or merged from shards gives byte-identical `runs.parquet`,
//! combined tables and `summary.csv`. Rows are in run-index order.
//! Wall-clock times appear only in `manifest.json` and the runs' `run.json`.
//! A table is combined when at least one run wrote it; runs that did not
//! (a swept `[graph]` option, say) add no rows.
//!
//! `runs.parquet` columns: `run_id` str, `point` u32, `replication` u32,
//! `seed` u64, one column per swept path (named by the path; i64, f64, bool
//! or str after the values' TOML type, str with the TOML text for mixed
//! types and tables), `protocol` str (a calls sweep: `variant` str, then
//! `strategy` str and `failover` str), one f64 column per run-level metric
//! (the mean of the run's `summary.csv` row, or for calls the run's
//! figure, [`crate::calls_tables::run_metrics`]; null when undefined or not
//! reported by that run), `trace_hash` str (that protocol's or variant's).
//!
//! `summary.csv` columns: `metric,unit,mean,std,n,ci95_half_width,protocol`
//! as for one run (a calls sweep: `variant` in place of `protocol`), then
//! `point` and one column per swept path. `mean`, `std` and the Student-t
//! interval are over the replications' run-level means; `n` counts
//! replications where the metric is defined.

use crate::error::Error;
use crate::grid::{Grid, show_value};
use crate::manifest::{
    MANIFEST, Manifest, ProtocolManifest, SweepManifest, SweepRun, combine_trace_hashes,
    trace_hash_hex,
};
use crate::output::write_bytes_atomic;
use crate::record::{RUN_RECORD, RunRecord};
use crate::run::{SUMMARY, events_per_s};
use crate::series_tables;
use crate::spec::Spec;
use crate::summary::{CSV_HEADER, Stats, num};
use crate::tables::{self, write_parquet};
use polars::prelude::{Column, DataFrame, ParquetReader, SerReader};
use std::path::Path;

/// File name of the per-run table of a sweep.
pub const RUNS_TABLE: &str = "runs.parquet";
/// The directory of a sweep's runs.
pub const RUNS_DIR: &str = "runs";

/// The per-run tables a sweep combines, in the order they are written: one
/// entry per table, so that adding a table is adding a line.
pub const COMBINED_TABLES: &[&str] = &[
    tables::TABLES[0],
    tables::TABLES[1],
    tables::TABLES[2],
    tables::TABLES[3],
    tables::TRAFFIC_BY_CLASS,
    crate::graph_out::GRAPH_METRICS,
    crate::graph_out::IN_DEGREE,
    crate::graph_out::REPAIR,
    crate::graph_out::REPAIR_SAMPLES,
    tables::REGISTRATIONS,
    series_tables::TIMESERIES,
    series_tables::NODE_TRAFFIC,
    crate::calls_tables::CALLS,
    crate::calls_tables::RELAY_SESSIONS,
    crate::calls_tables::RELAY_NODES,
];

/// The name of the column (in `runs.parquet` and `summary.csv`) that tells
/// a run's parts apart: `protocol`, or `variant` for a calls sweep.
pub fn group_column(spec: &Spec) -> &'static str {
    if spec.calls.is_some() {
        "variant"
    } else {
        "protocol"
    }
}

/// How a sweep's result directory came about, for its manifest.
#[derive(Clone, Debug)]
pub struct Provenance {
    /// The spec file, as given.
    pub spec_file: String,
    /// The shard (`I/N`), or none.
    pub shard: Option<String>,
    /// Threads used (none for a merge).
    pub threads: Option<usize>,
    /// Runs found finished and skipped.
    pub runs_skipped: usize,
    /// Wall-clock seconds of the invocation so far.
    pub elapsed_s: f64,
}

/// One row of a sweep's `summary.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct PointRow {
    /// The grid point.
    pub point: usize,
    /// The protocol.
    pub protocol: String,
    /// The metric.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// Over the replications' run-level means.
    pub stats: Stats,
}

fn table_error(name: &str) -> impl Fn(polars::error::PolarsError) -> Error + '_ {
    move |source| Error::Table {
        name: name.to_string(),
        source,
    }
}

/// Every metric the runs report, with its unit, in order of first
/// appearance (run order, then protocol, then the run's order).
fn metric_names(records: &[RunRecord]) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = Vec::new();
    for r in records {
        for p in &r.protocols {
            for m in &p.metrics {
                if !names.iter().any(|(n, _)| *n == m.metric) {
                    names.push((m.metric.clone(), m.unit.clone()));
                }
            }
        }
    }
    names
}

/// A column of one swept parameter's values, typed after the values.
fn axis_column(name: &str, values: &[&toml::Value]) -> Column {
    use toml::Value as V;
    if values.iter().all(|v| matches!(v, V::Integer(_))) {
        let xs: Vec<i64> = values.iter().filter_map(|v| v.as_integer()).collect();
        Column::new(name.into(), xs)
    } else if values
        .iter()
        .all(|v| matches!(v, V::Integer(_) | V::Float(_)))
    {
        let xs: Vec<f64> = values
            .iter()
            .map(|v| match v {
                V::Integer(i) => *i as f64,
                V::Float(f) => *f,
                _ => f64::NAN,
            })
            .collect();
        Column::new(name.into(), xs)
    } else if values.iter().all(|v| matches!(v, V::Boolean(_))) {
        let xs: Vec<bool> = values.iter().filter_map(|v| v.as_bool()).collect();
        Column::new(name.into(), xs)
    } else {
        let xs: Vec<String> = values.iter().map(|v| plain_value(v)).collect();
        Column::new(name.into(), xs)
    }
}

/// A parameter value as a table cell: a string without quotes, anything
/// else as TOML.
pub fn plain_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => show_value(other),
    }
}

/// `runs.parquet`: one row per run and protocol (calls: variant).
pub fn runs_frame(grid: &Grid, records: &[RunRecord]) -> Result<DataFrame, Error> {
    let rows: Vec<(&RunRecord, usize)> = records
        .iter()
        .flat_map(|r| (0..r.protocols.len()).map(move |i| (r, i)))
        .collect();
    let mut columns = vec![
        Column::new(
            "run_id".into(),
            rows.iter()
                .map(|(r, _)| r.run_id.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "point".into(),
            rows.iter().map(|(r, _)| r.point as u32).collect::<Vec<_>>(),
        ),
        Column::new(
            "replication".into(),
            rows.iter().map(|(r, _)| r.replication).collect::<Vec<_>>(),
        ),
        Column::new(
            "seed".into(),
            rows.iter().map(|(r, _)| r.seed).collect::<Vec<_>>(),
        ),
    ];
    for (i, axis) in grid.axes.iter().enumerate() {
        let values: Vec<&toml::Value> = rows
            .iter()
            .map(|(r, _)| &grid.points[r.point].values[i])
            .collect();
        columns.push(axis_column(&axis.path, &values));
    }
    let group = grid
        .points
        .first()
        .map_or("protocol", |p| group_column(&p.spec));
    let calls = group == "variant";
    columns.push(Column::new(
        group.into(),
        rows.iter()
            .map(|(r, p)| r.protocols[*p].run.protocol.clone())
            .collect::<Vec<_>>(),
    ));
    if calls {
        let of = |f: fn(&crate::record::VariantOf) -> &String| {
            rows.iter()
                .map(|(r, p)| r.protocols[*p].variant.as_ref().map(|v| f(v).clone()))
                .collect::<Vec<Option<String>>>()
        };
        columns.push(Column::new("strategy".into(), of(|v| &v.strategy)));
        columns.push(Column::new("failover".into(), of(|v| &v.failover)));
    }
    for (metric, _) in metric_names(records) {
        let xs: Vec<Option<f64>> = rows
            .iter()
            .map(|(r, p)| {
                r.protocols[*p]
                    .metrics
                    .iter()
                    .find(|m| m.metric == metric)
                    .and_then(|m| m.mean)
            })
            .collect();
        columns.push(Column::new(metric.as_str().into(), xs));
    }
    columns.push(Column::new(
        "trace_hash".into(),
        rows.iter()
            .map(|(r, p)| r.protocols[*p].run.trace_hash.clone())
            .collect::<Vec<_>>(),
    ));
    DataFrame::new(rows.len(), columns).map_err(table_error(RUNS_TABLE))
}

fn read_parquet(path: &Path, name: &str) -> Result<DataFrame, Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    ParquetReader::new(file).finish().map_err(table_error(name))
}

/// A per-run table of every run that wrote it, in run order, with
/// `run_id`, `point` and `replication` appended; `None` when no run wrote
/// it.
fn event_table(dir: &Path, name: &str, records: &[RunRecord]) -> Result<Option<DataFrame>, Error> {
    let err = table_error(name);
    let mut all: Option<DataFrame> = None;
    for r in records.iter().filter(|r| r.files.iter().any(|f| f == name)) {
        let mut df = read_parquet(&dir.join(RUNS_DIR).join(&r.run_id).join(name), name)?;
        let h = df.height();
        for c in [
            Column::new("run_id".into(), vec![r.run_id.clone(); h]),
            Column::new("point".into(), vec![r.point as u32; h]),
            Column::new("replication".into(), vec![r.replication; h]),
        ] {
            df.with_column(c).map_err(&err)?;
        }
        match &mut all {
            None => all = Some(df),
            Some(acc) => {
                acc.vstack_mut_owned(df).map_err(&err)?;
            }
        }
    }
    Ok(all.map(|mut df| {
        df.rechunk_mut();
        df
    }))
}

/// The rows of a sweep's `summary.csv`: per grid point (in order), protocol
/// (in order of appearance) and metric, statistics over replications.
pub fn point_rows(grid: &Grid, records: &[RunRecord]) -> Vec<PointRow> {
    let metrics = metric_names(records);
    let mut rows = Vec::new();
    for point in &grid.points {
        let runs: Vec<&RunRecord> = records.iter().filter(|r| r.point == point.index).collect();
        let mut protocols: Vec<&str> = Vec::new();
        for r in &runs {
            for p in &r.protocols {
                if !protocols.contains(&p.run.protocol.as_str()) {
                    protocols.push(&p.run.protocol);
                }
            }
        }
        for protocol in protocols {
            for (metric, unit) in &metrics {
                let found: Vec<Option<f64>> = runs
                    .iter()
                    .flat_map(|r| r.protocols.iter().filter(|p| p.run.protocol == protocol))
                    .filter_map(|p| p.metrics.iter().find(|m| m.metric == *metric))
                    .map(|m| m.mean)
                    .collect();
                if found.is_empty() {
                    continue;
                }
                rows.push(PointRow {
                    point: point.index,
                    protocol: protocol.to_string(),
                    metric: metric.clone(),
                    unit: unit.clone(),
                    stats: Stats::of(found.into_iter().flatten()),
                });
            }
        }
    }
    rows
}

/// A CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The text of a sweep's `summary.csv`.
pub fn summary_csv(grid: &Grid, rows: &[PointRow]) -> String {
    let group = grid
        .points
        .first()
        .map_or("protocol", |p| group_column(&p.spec));
    let header = match CSV_HEADER.strip_suffix("protocol") {
        Some(head) => format!("{head}{group}"),
        None => CSV_HEADER.to_string(),
    };
    let mut s = format!("{header},point");
    for a in &grid.axes {
        s.push(',');
        s.push_str(&csv_field(&a.path));
    }
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}",
            csv_field(&r.metric),
            csv_field(&r.unit),
            num(r.stats.mean),
            num(r.stats.std),
            r.stats.n,
            num(r.stats.ci95),
            csv_field(&r.protocol),
            r.point
        ));
        for v in &grid.points[r.point].values {
            s.push(',');
            s.push_str(&csv_field(&plain_value(v)));
        }
        s.push('\n');
    }
    s
}

/// Totals of each protocol over the runs, their trace hashes combined in
/// run order.
fn protocol_totals(records: &[RunRecord]) -> Vec<ProtocolManifest> {
    let mut names: Vec<String> = Vec::new();
    for r in records {
        for p in &r.protocols {
            if !names.contains(&p.run.protocol) {
                names.push(p.run.protocol.clone());
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let parts: Vec<&ProtocolManifest> = records
                .iter()
                .flat_map(|r| r.protocols.iter().map(|p| &p.run))
                .filter(|p| p.protocol == name)
                .collect();
            let hashes: Vec<u64> = parts
                .iter()
                .map(|p| u64::from_str_radix(&p.trace_hash, 16).unwrap_or(0))
                .collect();
            let events = parts.iter().map(|p| p.events).sum();
            let wall_time_s = parts.iter().map(|p| p.wall_time_s).sum();
            ProtocolManifest {
                protocol: name,
                trace_hash: trace_hash_hex(combine_trace_hashes(&hashes)),
                events,
                wall_time_s,
                events_per_s: events_per_s(events, wall_time_s),
                sim_time_s: parts.iter().map(|p| p.sim_time_s).fold(0.0, f64::max),
                nodes_joined: parts.iter().map(|p| p.nodes_joined).sum(),
                messages_dropped: parts.iter().map(|p| p.messages_dropped).sum(),
                lookups: parts.iter().map(|p| p.lookups).sum(),
                puts: parts.iter().map(|p| p.puts).sum(),
            }
        })
        .collect()
}

/// Writes the combined files of a sweep's result directory `dir` from the
/// finished runs `records` (in run order) found under `dir/runs`, the
/// manifest last. Returns the manifest and the rows of `summary.csv`.
pub fn write_combined(
    dir: &Path,
    spec: &Spec,
    grid: &Grid,
    records: &[RunRecord],
    provenance: &Provenance,
) -> Result<(Manifest, Vec<PointRow>), Error> {
    // A manifest left from an earlier invocation would vouch for files that
    // are about to be replaced.
    match std::fs::remove_file(dir.join(MANIFEST)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::write(dir.join(MANIFEST), e));
        }
        _ => {}
    }
    let mut files = vec![RUNS_TABLE.to_string()];
    write_parquet(&dir.join(RUNS_TABLE), &mut runs_frame(grid, records)?)?;
    for name in COMBINED_TABLES {
        // A table no run wrote is not combined; one left from an earlier
        // invocation (other runs) goes, so the directory holds what these
        // runs say.
        match event_table(dir, name, records)? {
            Some(mut df) => {
                write_parquet(&dir.join(name), &mut df)?;
                files.push(name.to_string());
            }
            None => match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::write(dir.join(name), e));
                }
                _ => {}
            },
        }
    }
    let rows = point_rows(grid, records);
    write_bytes_atomic(&dir.join(SUMMARY), summary_csv(grid, &rows).as_bytes())?;
    files.push(SUMMARY.into());
    for r in records {
        for f in r.files.iter().map(String::as_str).chain([RUN_RECORD]) {
            files.push(format!("{RUNS_DIR}/{}/{f}", r.run_id));
        }
    }

    let protocols = protocol_totals(records);
    let hashes: Vec<u64> = records
        .iter()
        .map(|r| u64::from_str_radix(&r.trace_hash, 16).unwrap_or(0))
        .collect();
    let wall_time_s: f64 = records.iter().map(|r| r.wall_time_s).sum();
    let mut manifest = Manifest::for_protocols(
        provenance.spec_file.clone(),
        spec,
        spec.run.seed,
        combine_trace_hashes(&hashes),
        wall_time_s,
        files,
        protocols,
    );
    manifest.sweep = Some(SweepManifest {
        points: grid.points.len(),
        replications: grid.replications,
        runs_total: grid.points.len() * grid.replications as usize,
        shard: provenance.shard.clone(),
        threads: provenance.threads,
        runs_skipped: provenance.runs_skipped,
        elapsed_s: provenance.elapsed_s,
        runs: records
            .iter()
            .map(|r| SweepRun {
                run_id: r.run_id.clone(),
                seed: r.seed,
                trace_hash: r.trace_hash.clone(),
                wall_time_s: r.wall_time_s,
            })
            .collect(),
    });
    // The figures, spec.toml and report.html, from the combined tables.
    crate::figures::render_run(dir, &mut manifest)?;
    manifest.write(dir)?;
    Ok((manifest, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("kademlia"), "kademlia");
        assert_eq!(
            csv_field("{ model = \"constant\", ms = 20.0 }"),
            "\"{ model = \"\"constant\"\", ms = 20.0 }\""
        );
    }

    #[test]
    fn axis_columns_follow_the_value_types() {
        use polars::prelude::DataType;
        let i = [toml::Value::Integer(4), toml::Value::Integer(8)];
        let f = [toml::Value::Integer(4), toml::Value::Float(0.5)];
        let s = [toml::Value::String("chord".into())];
        let m = [toml::Value::Integer(4), toml::Value::String("x".into())];
        assert_eq!(
            axis_column("a", &i.iter().collect::<Vec<_>>()).dtype(),
            &DataType::Int64
        );
        assert_eq!(
            axis_column("a", &f.iter().collect::<Vec<_>>()).dtype(),
            &DataType::Float64
        );
        assert_eq!(
            axis_column("a", &s.iter().collect::<Vec<_>>()).dtype(),
            &DataType::String
        );
        let mixed = axis_column("a", &m.iter().collect::<Vec<_>>());
        assert_eq!(mixed.dtype(), &DataType::String);
        assert_eq!(mixed.str().unwrap().get(0), Some("4"));
    }
}
