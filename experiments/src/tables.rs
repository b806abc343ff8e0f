//! Result tables: simulator records to polars DataFrames to Parquet.
//!
//! | file               | one row per            | columns |
//! |--------------------|------------------------|---------|
//! | `lookups.parquet`  | workload lookup        | `time_s` f64, `origin` u32, `key` str (40 hex), `success` bool, `k_closest_fraction` f64, `hops` u32, `latency_ms` f64, `messages` u32, `timeouts` u32, `measured` bool |
//! | `puts.parquet`     | workload put + read-back | `time_s` f64, `key` str, `put_origin` u32, `replicas` u32, `replicas_on_closest` u32, `get_origin` u32, `found` bool, `get_hops` u32, `get_latency_ms` f64 |
//! | `traffic.parquet`  | message kind           | `kind` str, `messages` u64, `bytes` u64 |
//! | `nodes.parquet`    | node                   | `node` u32, `sent_messages` u64, `sent_bytes` u64, `recv_messages` u64, `recv_bytes` u64 |
//!
//! Files are byte-identical for identical records: fixed compression (zstd at
//! its default level), no timestamps, one row group, and polars' constant
//! `created_by`.

use crate::error::Error;
use crate::output::write_atomic;
use crate::simapi::{LookupRecord, NodeTraffic, PutRecord, RunOutput, TrafficByKind};
use peerlab_core::wire::MsgKind;
use polars::prelude::{Column, DataFrame, ParquetCompression, ParquetWriter, PolarsResult};
use std::path::Path;

/// Table file names, in the order they are written.
pub const TABLES: [&str; 4] = [
    "lookups.parquet",
    "puts.parquet",
    "traffic.parquet",
    "nodes.parquet",
];

fn frame(columns: Vec<Column>) -> PolarsResult<DataFrame> {
    DataFrame::new(columns.first().map_or(0, |c| c.len()), columns)
}

/// One row per lookup.
pub fn lookups_frame(rows: &[LookupRecord]) -> PolarsResult<DataFrame> {
    frame(vec![
        Column::new(
            "time_s".into(),
            rows.iter().map(|r| r.time_s).collect::<Vec<f64>>(),
        ),
        Column::new(
            "origin".into(),
            rows.iter().map(|r| r.origin).collect::<Vec<u32>>(),
        ),
        Column::new(
            "key".into(),
            rows.iter().map(|r| r.key.to_hex()).collect::<Vec<String>>(),
        ),
        Column::new(
            "success".into(),
            rows.iter().map(|r| r.success).collect::<Vec<bool>>(),
        ),
        Column::new(
            "k_closest_fraction".into(),
            rows.iter()
                .map(|r| r.k_closest_fraction)
                .collect::<Vec<f64>>(),
        ),
        Column::new(
            "hops".into(),
            rows.iter().map(|r| r.hops).collect::<Vec<u32>>(),
        ),
        Column::new(
            "latency_ms".into(),
            rows.iter().map(|r| r.latency_ms).collect::<Vec<f64>>(),
        ),
        Column::new(
            "messages".into(),
            rows.iter().map(|r| r.messages).collect::<Vec<u32>>(),
        ),
        Column::new(
            "timeouts".into(),
            rows.iter().map(|r| r.timeouts).collect::<Vec<u32>>(),
        ),
        Column::new(
            "measured".into(),
            rows.iter().map(|r| r.measured).collect::<Vec<bool>>(),
        ),
    ])
}

/// One row per put and its read-back.
pub fn puts_frame(rows: &[PutRecord]) -> PolarsResult<DataFrame> {
    frame(vec![
        Column::new(
            "time_s".into(),
            rows.iter().map(|r| r.time_s).collect::<Vec<f64>>(),
        ),
        Column::new(
            "key".into(),
            rows.iter().map(|r| r.key.to_hex()).collect::<Vec<String>>(),
        ),
        Column::new(
            "put_origin".into(),
            rows.iter().map(|r| r.put_origin).collect::<Vec<u32>>(),
        ),
        Column::new(
            "replicas".into(),
            rows.iter().map(|r| r.replicas).collect::<Vec<u32>>(),
        ),
        Column::new(
            "replicas_on_closest".into(),
            rows.iter()
                .map(|r| r.replicas_on_closest)
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "get_origin".into(),
            rows.iter().map(|r| r.get_origin).collect::<Vec<u32>>(),
        ),
        Column::new(
            "found".into(),
            rows.iter().map(|r| r.found).collect::<Vec<bool>>(),
        ),
        Column::new(
            "get_hops".into(),
            rows.iter().map(|r| r.get_hops).collect::<Vec<u32>>(),
        ),
        Column::new(
            "get_latency_ms".into(),
            rows.iter().map(|r| r.get_latency_ms).collect::<Vec<f64>>(),
        ),
    ])
}

/// One row per message kind, in type-code order.
pub fn traffic_frame(t: &TrafficByKind) -> PolarsResult<DataFrame> {
    frame(vec![
        Column::new(
            "kind".into(),
            MsgKind::ALL
                .iter()
                .map(|k| k.name().to_string())
                .collect::<Vec<String>>(),
        ),
        Column::new(
            "messages".into(),
            MsgKind::ALL
                .iter()
                .map(|k| t.messages[k.index()])
                .collect::<Vec<u64>>(),
        ),
        Column::new(
            "bytes".into(),
            MsgKind::ALL
                .iter()
                .map(|k| t.bytes[k.index()])
                .collect::<Vec<u64>>(),
        ),
    ])
}

/// One row per node.
pub fn nodes_frame(rows: &[NodeTraffic]) -> PolarsResult<DataFrame> {
    frame(vec![
        Column::new("node".into(), (0..rows.len() as u32).collect::<Vec<u32>>()),
        Column::new(
            "sent_messages".into(),
            rows.iter().map(|r| r.sent_messages).collect::<Vec<u64>>(),
        ),
        Column::new(
            "sent_bytes".into(),
            rows.iter().map(|r| r.sent_bytes).collect::<Vec<u64>>(),
        ),
        Column::new(
            "recv_messages".into(),
            rows.iter().map(|r| r.recv_messages).collect::<Vec<u64>>(),
        ),
        Column::new(
            "recv_bytes".into(),
            rows.iter().map(|r| r.recv_bytes).collect::<Vec<u64>>(),
        ),
    ])
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

/// Writes every table of `out` into `dir`.
pub fn write_tables(dir: &Path, out: &RunOutput) -> Result<(), Error> {
    let table_err = |name: &str| {
        let name = name.to_string();
        move |source| Error::Table { name, source }
    };
    let frames = [
        lookups_frame(&out.lookups).map_err(table_err(TABLES[0]))?,
        puts_frame(&out.puts).map_err(table_err(TABLES[1]))?,
        traffic_frame(&out.traffic).map_err(table_err(TABLES[2]))?,
        nodes_frame(&out.node_traffic).map_err(table_err(TABLES[3]))?,
    ];
    for (name, mut df) in TABLES.iter().zip(frames) {
        write_parquet(&dir.join(name), &mut df)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
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
        write_tables(a.path(), &out).unwrap();
        write_tables(b.path(), &out).unwrap();
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
                "measured"
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
        write_tables(dir.path(), &RunOutput::default()).unwrap();
        let df = ParquetReader::new(std::fs::File::open(dir.path().join("puts.parquet")).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), 0);
        assert_eq!(df.width(), 9, "puts has 9 columns");
    }
}
