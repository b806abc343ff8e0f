//! Result tables: simulator records to polars DataFrames to Parquet.
//!
//! | file               | one row per            | columns |
//! |--------------------|------------------------|---------|
//! | `lookups.parquet`  | workload lookup        | `time_s` f64, `origin` u32, `key` str (40 hex), `success` bool, `k_closest_fraction` f64, `hops` u32, `latency_ms` f64 (NaN: never finished), `messages` u32, `timeouts` u32, `measured` bool, `protocol` str |
//! | `puts.parquet`     | workload put + read-back | `time_s` f64, `key` str, `put_origin` u32, `replicas` u32, `replicas_on_closest` u32, `get_origin` u32, `found` bool, `get_hops` u32, `get_latency_ms` f64, `protocol` str |
//! | `traffic.parquet`  | protocol and message kind | `kind` str, `messages` u64, `bytes` u64 (whole run), `measured_messages` u64, `measured_bytes` u64, `bytes_per_node_s` f64 (measurement phase of a churn run: bytes per online node per second; null in static runs), `protocol` str |
//! | `nodes.parquet`    | protocol and node      | `node` u32, `sent_messages` u64, `sent_bytes` u64, `recv_messages` u64, `recv_bytes` u64, `protocol` str |
//! | `registrations.parquet` | registration read (churn runs with `churn_workload.registration`) | `time_s` f64, `reader` u32, `user` u32, `expected` u32 (0/1 contacts), `returned` u32, `correct` bool, `stale` bool, `missing` bool, `latency_ms` f64, `measured` bool, `protocol` str |
//! | `traffic_by_class.parquet` | protocol, scope and traffic class | `class` str (`lookup`, `store`, `join`, `routing_maintenance`, `data_maintenance`), `scope` str (`run`; `measurement` in churn runs), `messages` u64, `bytes` u64, `node_seconds` f64, `messages_per_node_s` f64, `bytes_per_node_s` f64, `protocol` str |
//!
//! The overlay-graph and repair tables are in [`crate::graph_out`].
//!
//! A run that compares protocols stacks each protocol's rows, in the order
//! the spec lists the protocols; the `protocol` column tells them apart. New
//! columns are appended, so readers that index columns by position keep
//! working.
//!
//! Files are byte-identical for identical records: fixed compression (zstd at
//! its default level), no timestamps, one row group, and polars' constant
//! `created_by`.

use crate::error::Error;
use crate::output::write_atomic;
use crate::simapi::{LookupRecord, NodeTraffic, PutRecord, RegistrationRead, RunOutput};
use peerlab_core::protocol::{ClassTraffic, TrafficClass};
use peerlab_core::wire::MsgKind;
use polars::prelude::{
    Column, DataFrame, NamedFrom, ParquetCompression, ParquetWriter, PolarsResult, Series,
};
use std::path::Path;

/// Table file names, in the order they are written.
pub const TABLES: [&str; 4] = [
    "lookups.parquet",
    "puts.parquet",
    "traffic.parquet",
    "nodes.parquet",
];

/// One protocol's output, labelled for the `protocol` column.
#[derive(Clone, Copy, Debug)]
pub struct Labelled<'a> {
    /// The protocol's name (`kademlia`, `chord`).
    pub protocol: &'a str,
    /// What the simulator reported for it.
    pub output: &'a RunOutput,
}

/// A frame of `columns` (all of one length).
pub(crate) fn frame(columns: Vec<Column>) -> PolarsResult<DataFrame> {
    DataFrame::new(columns.first().map_or(0, |c| c.len()), columns)
}

/// Every row of every run, with its protocol.
fn rows<'a, T>(
    runs: &[Labelled<'a>],
    pick: impl Fn(&'a RunOutput) -> &'a [T],
) -> Vec<(&'a str, &'a T)> {
    runs.iter()
        .flat_map(|r| pick(r.output).iter().map(move |x| (r.protocol, x)))
        .collect()
}

/// A column of `f` over `rows` (protocol, record).
pub(crate) fn col<T, V>(name: &str, rows: &[(&str, &T)], f: impl Fn(&T) -> V) -> Column
where
    Series: NamedFrom<Vec<V>, [V]>,
{
    Column::new(
        name.into(),
        rows.iter().map(|(_, r)| f(r)).collect::<Vec<V>>(),
    )
}

/// The `protocol` column of `rows` (protocol, record).
pub(crate) fn protocol_col<T>(rows: &[(&str, &T)]) -> Column {
    Column::new(
        "protocol".into(),
        rows.iter()
            .map(|(p, _)| p.to_string())
            .collect::<Vec<String>>(),
    )
}

/// One row per lookup.
pub fn lookups_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows = rows(runs, |o| &o.lookups);
    let rows: &[(&str, &LookupRecord)] = &rows;
    frame(vec![
        col("time_s", rows, |r| r.time_s),
        col("origin", rows, |r| r.origin),
        col("key", rows, |r| r.key.to_hex()),
        col("success", rows, |r| r.success),
        col("k_closest_fraction", rows, |r| r.k_closest_fraction),
        col("hops", rows, |r| r.hops),
        col("latency_ms", rows, |r| r.latency_ms),
        col("messages", rows, |r| r.messages),
        col("timeouts", rows, |r| r.timeouts),
        col("measured", rows, |r| r.measured),
        protocol_col(rows),
    ])
}

/// One row per put and its read-back.
pub fn puts_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows = rows(runs, |o| &o.puts);
    let rows: &[(&str, &PutRecord)] = &rows;
    frame(vec![
        col("time_s", rows, |r| r.time_s),
        col("key", rows, |r| r.key.to_hex()),
        col("put_origin", rows, |r| r.put_origin),
        col("replicas", rows, |r| r.replicas),
        col("replicas_on_closest", rows, |r| r.replicas_on_closest),
        col("get_origin", rows, |r| r.get_origin),
        col("found", rows, |r| r.found),
        col("get_hops", rows, |r| r.get_hops),
        col("get_latency_ms", rows, |r| r.get_latency_ms),
        protocol_col(rows),
    ])
}

/// One row per protocol and message kind, in type-code order: whole-run
/// totals, and for churn runs the measurement phase's totals and bytes per
/// online node per second.
pub fn traffic_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<(&str, (&RunOutput, MsgKind))> = runs
        .iter()
        .flat_map(|r| {
            MsgKind::ALL
                .iter()
                .map(move |&k| (r.protocol, (r.output, k)))
        })
        .collect();
    let rows: Vec<(&str, &(&RunOutput, MsgKind))> = rows.iter().map(|(p, x)| (*p, x)).collect();
    let rows: &[(&str, &(&RunOutput, MsgKind))] = &rows;
    frame(vec![
        col("kind", rows, |(_, k)| k.name().to_string()),
        col("messages", rows, |(o, k)| o.traffic.messages[k.index()]),
        col("bytes", rows, |(o, k)| o.traffic.bytes[k.index()]),
        col("measured_messages", rows, |(o, k)| {
            o.measurement
                .as_ref()
                .map(|m| m.traffic.messages[k.index()])
        }),
        col("measured_bytes", rows, |(o, k)| {
            o.measurement.as_ref().map(|m| m.traffic.bytes[k.index()])
        }),
        col("bytes_per_node_s", rows, |(o, k)| {
            o.measurement
                .as_ref()
                .map(|m| m.traffic.bytes[k.index()] as f64 / m.node_seconds.max(f64::MIN_POSITIVE))
        }),
        protocol_col(rows),
    ])
}

/// One row per protocol and node.
pub fn nodes_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<(&str, (u32, &NodeTraffic))> = runs
        .iter()
        .flat_map(|r| {
            r.output
                .node_traffic
                .iter()
                .enumerate()
                .map(move |(i, t)| (r.protocol, (i as u32, t)))
        })
        .collect();
    let rows: Vec<(&str, &(u32, &NodeTraffic))> = rows.iter().map(|(p, x)| (*p, x)).collect();
    let rows: &[(&str, &(u32, &NodeTraffic))] = &rows;
    frame(vec![
        col("node", rows, |(i, _)| *i),
        col("sent_messages", rows, |(_, t)| t.sent_messages),
        col("sent_bytes", rows, |(_, t)| t.sent_bytes),
        col("recv_messages", rows, |(_, t)| t.recv_messages),
        col("recv_bytes", rows, |(_, t)| t.recv_bytes),
        protocol_col(rows),
    ])
}

/// `registrations.parquet`, written by churn runs with registrations.
pub const REGISTRATIONS: &str = "registrations.parquet";

/// One row per registration read that finished, judged against the
/// simulator's global view (see `peerlab_sim::scenario::registrations`).
pub fn registrations_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    let rows = rows(runs, |o| &o.registrations);
    let rows: &[(&str, &RegistrationRead)] = &rows;
    frame(vec![
        col("time_s", rows, |r| r.time_s),
        col("reader", rows, |r| r.reader),
        col("user", rows, |r| r.user),
        col("expected", rows, |r| r.expected),
        col("returned", rows, |r| r.returned),
        col("correct", rows, |r| r.correct),
        col("stale", rows, |r| r.stale),
        col("missing", rows, |r| r.missing),
        col("latency_ms", rows, |r| r.latency_ms),
        col("measured", rows, |r| r.measured),
        protocol_col(rows),
    ])
}

/// Writes `registrations.parquet` into `dir`; returns its name.
pub fn write_registrations(dir: &Path, runs: &[Labelled<'_>]) -> Result<String, Error> {
    let mut df = registrations_frame(runs).map_err(|source| Error::Table {
        name: REGISTRATIONS.to_string(),
        source,
    })?;
    write_parquet(&dir.join(REGISTRATIONS), &mut df)?;
    Ok(REGISTRATIONS.to_string())
}

/// `traffic_by_class.parquet`.
pub const TRAFFIC_BY_CLASS: &str = "traffic_by_class.parquet";

/// One row per protocol, scope and traffic class ([`TrafficClass`], in
/// [`TrafficClass::ALL`] order): messages and bytes as the nodes attribute
/// them, over the whole run (`scope` = `run`, per joined node-second of the
/// run) and, in churn runs, over the measurement phase (`scope` =
/// `measurement`, per online node-second of the phase).
pub fn traffic_by_class_frame(runs: &[Labelled<'_>]) -> PolarsResult<DataFrame> {
    struct Row {
        class: TrafficClass,
        scope: &'static str,
        traffic: ClassTraffic,
        node_seconds: f64,
    }
    let rows: Vec<(&str, Row)> = runs
        .iter()
        .flat_map(|r| {
            let o = r.output;
            let run = TrafficClass::ALL.into_iter().map(move |class| Row {
                class,
                scope: "run",
                traffic: o.class_traffic[class.index()],
                node_seconds: o.node_seconds,
            });
            let window = o.measurement.iter().flat_map(|m| {
                TrafficClass::ALL.into_iter().map(move |class| Row {
                    class,
                    scope: "measurement",
                    traffic: m.by_class[class.index()],
                    node_seconds: m.node_seconds,
                })
            });
            run.chain(window).map(move |x| (r.protocol, x))
        })
        .collect();
    let rows: Vec<(&str, &Row)> = rows.iter().map(|(p, x)| (*p, x)).collect();
    let rows: &[(&str, &Row)] = &rows;
    let per = |x: u64, s: f64| if s > 0.0 { x as f64 / s } else { f64::NAN };
    frame(vec![
        col("class", rows, |r| r.class.name().to_string()),
        col("scope", rows, |r| r.scope.to_string()),
        col("messages", rows, |r| r.traffic.messages),
        col("bytes", rows, |r| r.traffic.bytes),
        col("node_seconds", rows, |r| r.node_seconds),
        col("messages_per_node_s", rows, |r| {
            per(r.traffic.messages, r.node_seconds)
        }),
        col("bytes_per_node_s", rows, |r| {
            per(r.traffic.bytes, r.node_seconds)
        }),
        protocol_col(rows),
    ])
}

/// Writes `traffic_by_class.parquet` into `dir`; returns its name.
pub fn write_traffic_by_class(dir: &Path, runs: &[Labelled<'_>]) -> Result<String, Error> {
    let mut df = traffic_by_class_frame(runs).map_err(|source| Error::Table {
        name: TRAFFIC_BY_CLASS.to_string(),
        source,
    })?;
    write_parquet(&dir.join(TRAFFIC_BY_CLASS), &mut df)?;
    Ok(TRAFFIC_BY_CLASS.to_string())
}

/// Writes `df` to `path` as Parquet, atomically and reproducibly.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), Error> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_atomic(path, |w| {
        ParquetWriter::new(w)
            .with_compression(ParquetCompression::Zstd(None))
            .with_row_group_size(None)
            .set_parallel(false)
            .finish(df)
            .map(|_| ())
            .map_err(|source| Error::Table {
                name: name.clone(),
                source,
            })
    })
}

/// Writes every table of `runs` into `dir`.
pub fn write_tables(dir: &Path, runs: &[Labelled<'_>]) -> Result<(), Error> {
    let table_err = |name: &str| {
        let name = name.to_string();
        move |source| Error::Table { name, source }
    };
    let frames = [
        lookups_frame(runs).map_err(table_err(TABLES[0]))?,
        puts_frame(runs).map_err(table_err(TABLES[1]))?,
        traffic_frame(runs).map_err(table_err(TABLES[2]))?,
        nodes_frame(runs).map_err(table_err(TABLES[3]))?,
    ];
    for (name, mut df) in TABLES.iter().zip(frames) {
        write_parquet(&dir.join(name), &mut df)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::simapi::TrafficByKind;
    use peerlab_core::NodeId;
    use polars::prelude::{ParquetReader, SerReader};

    /// A small hand-built run output.
    pub(crate) fn sample_output(n_lookups: u32) -> RunOutput {
        let lookups = (0..n_lookups)
            .map(|i| LookupRecord {
                time_s: 180.0 + i as f64 * 0.5,
                origin: i * 7 % 100,
                key: NodeId([i as u8; 20]),
                success: i % 10 != 3,
                k_closest_fraction: 1.0 - (i % 4) as f64 * 0.05,
                hops: 1 + i % 4,
                latency_ms: 20.0 + (i * 13 % 200) as f64,
                messages: 6 + i % 9,
                timeouts: i % 3 / 2,
                measured: true,
            })
            .collect();
        let puts = (0..n_lookups / 2)
            .map(|i| PutRecord {
                time_s: 200.0 + i as f64,
                key: NodeId([0xA0 ^ i as u8; 20]),
                put_origin: i,
                replicas: 20,
                replicas_on_closest: 19 + i % 2,
                get_origin: i + 1,
                found: i % 5 != 0,
                get_hops: 2 + i % 2,
                get_latency_ms: 50.0 + i as f64,
            })
            .collect();
        let mut traffic = TrafficByKind::default();
        for (i, m) in traffic.messages.iter_mut().enumerate() {
            *m = 100 * (i as u64 + 1);
        }
        for (i, b) in traffic.bytes.iter_mut().enumerate() {
            *b = 4000 * (i as u64 + 1);
        }
        RunOutput {
            lookups,
            puts,
            traffic,
            node_traffic: (0..100)
                .map(|i| NodeTraffic {
                    sent_messages: i,
                    sent_bytes: 40 * i,
                    recv_messages: i + 1,
                    recv_bytes: 40 * i + 40,
                })
                .collect(),
            trace_hash: 0xDEAD_BEEF_0123_4567,
            events: 123_456,
            dropped: 0,
            sim_time_s: 800.0,
            joined: 100,
            ..RunOutput::default()
        }
    }

    #[test]
    fn tables_round_trip_and_are_byte_identical() {
        let out = sample_output(50);
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let runs = [Labelled {
            protocol: "kademlia",
            output: &out,
        }];
        write_tables(a.path(), &runs).unwrap();
        write_tables(b.path(), &runs).unwrap();
        for name in TABLES {
            let x = std::fs::read(a.path().join(name)).unwrap();
            let y = std::fs::read(b.path().join(name)).unwrap();
            assert!(x.starts_with(b"PAR1"), "{name}");
            assert_eq!(x, y, "{name} differs between identical writes");
        }
        let df = ParquetReader::new(std::fs::File::open(a.path().join("lookups.parquet")).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), 50);
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "time_s",
                "origin",
                "key",
                "success",
                "k_closest_fraction",
                "hops",
                "latency_ms",
                "messages",
                "timeouts",
                "measured",
                "protocol"
            ]
        );
        let key = df
            .column("key")
            .unwrap()
            .str()
            .unwrap()
            .get(1)
            .unwrap()
            .to_string();
        assert_eq!(key, "01".repeat(20));
        let hops: Vec<u32> = df
            .column("hops")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(hops, out.lookups.iter().map(|r| r.hops).collect::<Vec<_>>());
        let t = ParquetReader::new(std::fs::File::open(a.path().join("traffic.parquet")).unwrap())
            .finish()
            .unwrap();
        assert_eq!(t.height(), MsgKind::COUNT);
        let n = ParquetReader::new(std::fs::File::open(a.path().join("nodes.parquet")).unwrap())
            .finish()
            .unwrap();
        assert_eq!(n.height(), 100);
    }

    #[test]
    fn empty_tables_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let empty = RunOutput::default();
        write_tables(
            dir.path(),
            &[Labelled {
                protocol: "chord",
                output: &empty,
            }],
        )
        .unwrap();
        let df = ParquetReader::new(std::fs::File::open(dir.path().join("puts.parquet")).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), 0);
        assert_eq!(df.width(), 10, "puts has 10 columns");
    }

    #[test]
    fn protocols_are_stacked_and_the_window_is_per_kind() {
        let a = sample_output(5);
        let mut b = sample_output(3);
        let mut window = crate::simapi::MeasurementWindow {
            start_s: 100.0,
            end_s: 200.0,
            node_seconds: 1000.0,
            ..Default::default()
        };
        window.traffic.bytes[MsgKind::Ping.index()] = 5000;
        window.traffic.messages[MsgKind::Ping.index()] = 50;
        b.measurement = Some(window);
        let runs = [
            Labelled {
                protocol: "kademlia",
                output: &a,
            },
            Labelled {
                protocol: "chord",
                output: &b,
            },
        ];
        let l = lookups_frame(&runs).unwrap();
        assert_eq!(l.height(), 8);
        let protocol = l.column("protocol").unwrap().str().unwrap().clone();
        let protocols: Vec<&str> = (0..l.height())
            .map(|i| protocol.get(i).unwrap_or_default())
            .collect();
        assert_eq!(&protocols[4..6], ["kademlia", "chord"]);
        let t = traffic_frame(&runs).unwrap();
        assert_eq!(t.height(), 2 * MsgKind::COUNT);
        let rate = t.column("bytes_per_node_s").unwrap().f64().unwrap().clone();
        assert_eq!(rate.get(0), None, "static run: no window");
        let ping = MsgKind::COUNT + MsgKind::Ping.index();
        assert_eq!(rate.get(ping), Some(5.0));
        let measured = t
            .column("measured_messages")
            .unwrap()
            .u64()
            .unwrap()
            .clone();
        assert_eq!(measured.get(ping), Some(50));
        assert_eq!(nodes_frame(&runs).unwrap().height(), 200);
    }

    #[test]
    fn traffic_by_class_has_a_run_scope_and_a_measurement_scope() {
        let mut static_run = sample_output(2);
        static_run.class_traffic[TrafficClass::RoutingMaintenance.index()] = ClassTraffic {
            messages: 30,
            bytes: 900,
        };
        static_run.node_seconds = 300.0;
        let mut churn = sample_output(2);
        churn.node_seconds = 0.0;
        let mut window = crate::simapi::MeasurementWindow {
            node_seconds: 50.0,
            ..Default::default()
        };
        window.by_class[TrafficClass::Join.index()] = ClassTraffic {
            messages: 10,
            bytes: 250,
        };
        churn.measurement = Some(window);
        let runs = [
            Labelled {
                protocol: "kademlia",
                output: &static_run,
            },
            Labelled {
                protocol: "chord",
                output: &churn,
            },
        ];
        let t = traffic_by_class_frame(&runs).unwrap();
        assert_eq!(t.height(), 3 * TrafficClass::COUNT);
        let get = |c: &str, i: usize| -> Option<f64> { t.column(c).unwrap().f64().unwrap().get(i) };
        let maint = TrafficClass::RoutingMaintenance.index();
        assert_eq!(get("bytes_per_node_s", maint), Some(3.0));
        assert_eq!(get("messages_per_node_s", maint), Some(0.1));
        // The churn run: no node-seconds over the run (NaN), then its window.
        assert!(
            get("bytes_per_node_s", TrafficClass::COUNT)
                .unwrap()
                .is_nan()
        );
        let join = 2 * TrafficClass::COUNT + TrafficClass::Join.index();
        assert_eq!(get("bytes_per_node_s", join), Some(5.0));
        let scope = t.column("scope").unwrap().str().unwrap().clone();
        assert_eq!(scope.get(join), Some("measurement"));
        assert_eq!(scope.get(TrafficClass::COUNT), Some("run"));
    }
}
