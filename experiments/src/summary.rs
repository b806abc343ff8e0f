//! `summary.csv`: per metric, the mean, sample standard deviation, count and
//! the half-width of a 95% confidence interval for the mean (Student t with
//! n − 1 degrees of freedom, via statrs).
//!
//! Columns: `metric,unit,mean,std,n,ci95_half_width,protocol`. A run that
//! compares protocols has one block of rows per protocol, in the spec's
//! order. Undefined values (the standard deviation of one sample, anything
//! of zero samples) are empty. Numbers use Rust's shortest round-trip
//! formatting, so the file is byte-identical for identical results.
//!
//! Lookup metrics use the lookups of the measurement phase only (every
//! lookup of a static run); latency, hops, messages and timeouts use those
//! that finished. Churn runs add the traffic of the measurement phase per
//! online node and second: `bytes_per_node_s` and `messages_per_node_s`
//! overall, `bytes_per_node_s.<kind>` for every message kind that was sent,
//! and `online_nodes` (the time-averaged number of joined nodes). These are
//! ratios, not samples: `n` is 1 and the spread is empty.
//!
//! Churn runs with registration reads add, over the reads issued in the
//! measurement phase that finished: `registration_read_success` (the share
//! the global view judges correct), `registration_read_stale`,
//! `registration_read_missing` (shares with those flags) and
//! `registration_read_latency_ms`.

use crate::simapi::{MeasurementWindow, RegistrationRead, RunOutput};
use peerlab_core::wire::MsgKind;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean, spread and confidence of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Number of observations.
    pub n: usize,
    /// Arithmetic mean (NaN when n = 0).
    pub mean: f64,
    /// Sample standard deviation, n − 1 in the denominator (NaN when n < 2).
    pub std: f64,
    /// Half-width of the 95% confidence interval of the mean (NaN when n < 2).
    pub ci95: f64,
}

impl Stats {
    /// Describes a sample (two passes: the mean, then squared deviations
    /// from it, which keeps the variance accurate).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stats {
        let xs: Vec<f64> = values.into_iter().collect();
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        if n == 0 {
            return Stats {
                n,
                mean: f64::NAN,
                std: f64::NAN,
                ci95: f64::NAN,
            };
        }
        if n < 2 {
            return Stats {
                n,
                mean,
                std: f64::NAN,
                ci95: f64::NAN,
            };
        }
        let std = (m2 / (n - 1) as f64).sqrt();
        Stats {
            n,
            mean,
            std,
            ci95: t_quantile_975(n - 1) * std / (n as f64).sqrt(),
        }
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile_975(df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(t) => t.inverse_cdf(0.975),
        Err(_) => f64::NAN,
    }
}

/// One row of `summary.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    /// Metric name, e.g. `lookup_hops`.
    pub metric: String,
    /// Unit of the metric (`fraction`, `hops`, `ms`, ...).
    pub unit: &'static str,
    /// Its statistics.
    pub stats: Stats,
    /// The protocol the row describes.
    pub protocol: &'static str,
}

/// The metrics of one protocol's run, in a fixed order.
pub fn metrics(protocol: &'static str, out: &RunOutput) -> Vec<MetricRow> {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    let measured: Vec<_> = out.lookups.iter().filter(|r| r.measured).collect();
    let l = &measured;
    let done: Vec<_> = measured
        .iter()
        .copied()
        .filter(|r| r.latency_ms.is_finite())
        .collect();
    let d = &done;
    let p = &out.puts;
    let nt = &out.node_traffic;
    let row = |metric: &str, unit, stats| MetricRow {
        metric: metric.to_string(),
        unit,
        stats,
        protocol,
    };
    let mut rows = vec![
        row(
            "lookup_success",
            "fraction",
            Stats::of(l.iter().map(|r| b(r.success))),
        ),
        row(
            "lookup_k_closest_fraction",
            "fraction",
            Stats::of(l.iter().map(|r| r.k_closest_fraction)),
        ),
        row(
            "lookup_hops",
            "hops",
            Stats::of(d.iter().map(|r| r.hops as f64)),
        ),
        row(
            "lookup_latency_ms",
            "ms",
            Stats::of(d.iter().map(|r| r.latency_ms)),
        ),
        row(
            "lookup_messages",
            "messages",
            Stats::of(d.iter().map(|r| r.messages as f64)),
        ),
        row(
            "lookup_timeouts",
            "timeouts",
            Stats::of(d.iter().map(|r| r.timeouts as f64)),
        ),
        row(
            "put_replicas",
            "nodes",
            Stats::of(p.iter().map(|r| r.replicas as f64)),
        ),
        row(
            "put_replicas_on_closest",
            "nodes",
            Stats::of(p.iter().map(|r| r.replicas_on_closest as f64)),
        ),
        row(
            "get_success",
            "fraction",
            Stats::of(p.iter().map(|r| b(r.found))),
        ),
        row(
            "get_hops",
            "hops",
            Stats::of(p.iter().map(|r| r.get_hops as f64)),
        ),
        row(
            "get_latency_ms",
            "ms",
            Stats::of(p.iter().map(|r| r.get_latency_ms)),
        ),
        row(
            "node_sent_messages",
            "messages",
            Stats::of(nt.iter().map(|r| r.sent_messages as f64)),
        ),
        row(
            "node_sent_bytes",
            "bytes",
            Stats::of(nt.iter().map(|r| r.sent_bytes as f64)),
        ),
        row(
            "node_recv_bytes",
            "bytes",
            Stats::of(nt.iter().map(|r| r.recv_bytes as f64)),
        ),
    ];
    let regs: Vec<_> = out.registrations.iter().filter(|r| r.measured).collect();
    if !out.registrations.is_empty() {
        for (metric, f) in [
            (
                "registration_read_success",
                (|r| r.correct) as fn(&RegistrationRead) -> bool,
            ),
            ("registration_read_stale", |r| r.stale),
            ("registration_read_missing", |r| r.missing),
        ] {
            rows.push(row(
                metric,
                "fraction",
                Stats::of(regs.iter().map(|r| b(f(r)))),
            ));
        }
        rows.push(row(
            "registration_read_latency_ms",
            "ms",
            Stats::of(regs.iter().map(|r| r.latency_ms)),
        ));
    }
    let drops = &out.nat_drops;
    if drops.blocked + drops.filtered + drops.unroutable > 0 {
        for (metric, n) in [
            ("nat_dropped_filtered", drops.filtered),
            ("nat_dropped_blocked", drops.blocked),
            ("nat_dropped_unroutable", drops.unroutable),
        ] {
            rows.push(row(metric, "datagrams", Stats::of([n as f64])));
        }
    }
    if let Some(w) = &out.measurement {
        rows.extend(
            window_metrics(w)
                .into_iter()
                .map(|(metric, unit, x)| MetricRow {
                    metric,
                    unit,
                    stats: Stats::of([x]),
                    protocol,
                }),
        );
    }
    rows
}

/// The measurement phase's rates: `(metric, unit, value)`.
pub fn window_metrics(w: &MeasurementWindow) -> Vec<(String, &'static str, f64)> {
    let node_s = w.node_seconds.max(f64::MIN_POSITIVE);
    let span = (w.end_s - w.start_s).max(f64::MIN_POSITIVE);
    let mut v = vec![
        (
            "bytes_per_node_s".to_string(),
            "bytes/node/s",
            w.bytes_per_node_s(),
        ),
        (
            "messages_per_node_s".to_string(),
            "messages/node/s",
            w.traffic.total_messages() as f64 / node_s,
        ),
        ("online_nodes".to_string(), "nodes", w.node_seconds / span),
    ];
    if w.traffic.keepalive_bytes() + w.traffic.relay_routing_bytes() > 0 {
        v.push((
            "keepalive_bytes_per_node_s".to_string(),
            "bytes/node/s",
            w.keepalive_bytes_per_node_s(),
        ));
        v.push((
            "relay_routing_bytes_per_node_s".to_string(),
            "bytes/node/s",
            w.relay_routing_bytes_per_node_s(),
        ));
    }
    for k in MsgKind::ALL {
        let bytes = w.traffic.bytes[k.index()];
        if bytes > 0 {
            v.push((
                format!("bytes_per_node_s.{}", k.name()),
                "bytes/node/s",
                bytes as f64 / node_s,
            ));
        }
    }
    v
}

/// A number as `summary.csv` writes it: shortest round-trip form, empty
/// when undefined.
pub fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// The header of `summary.csv`.
pub const CSV_HEADER: &str = "metric,unit,mean,std,n,ci95_half_width,protocol";

/// The CSV text of `rows`, header included.
pub fn to_csv(rows: &[MetricRow]) -> String {
    let mut s = format!("{CSV_HEADER}\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.metric,
            r.unit,
            num(r.stats.mean),
            num(r.stats.std),
            r.stats.n,
            num(r.stats.ci95),
            r.protocol
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_hand_computation() {
        let s = Stats::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.n, 8);
        assert!((s.mean - 5.0).abs() < 1e-12);
        // Sample variance 32 / 7.
        assert!((s.std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        // t(0.975, 7) = 2.364624...
        assert!(
            (s.ci95 - 2.364_624_251_6 * s.std / 8f64.sqrt()).abs() < 1e-6,
            "{s:?}"
        );
    }

    #[test]
    fn t_quantiles_are_right() {
        assert!((t_quantile_975(1) - 12.706_204_736).abs() < 1e-6);
        assert!((t_quantile_975(30) - 2.042_272_456).abs() < 1e-6);
        assert!((t_quantile_975(100_000) - 1.959_99).abs() < 1e-3);
    }

    #[test]
    fn degenerate_samples() {
        let e = Stats::of(std::iter::empty());
        assert_eq!(e.n, 0);
        assert!(e.mean.is_nan() && e.std.is_nan() && e.ci95.is_nan());
        let one = Stats::of([3.0]);
        assert_eq!((one.n, one.mean), (1, 3.0));
        assert!(one.std.is_nan());
        let same = Stats::of([1.0; 10]);
        assert_eq!((same.std, same.ci95), (0.0, 0.0));
    }

    #[test]
    fn csv_rows_for_a_run() {
        let out = crate::tables::tests::sample_output(40);
        let rows = metrics("kademlia", &out);
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "metric,unit,mean,std,n,ci95_half_width,protocol");
        assert_eq!(lines.len(), rows.len() + 1);
        let success = lines
            .iter()
            .find(|l| l.starts_with("lookup_success,"))
            .unwrap();
        // 4 of 40 fail (i % 10 == 3).
        assert!(
            success.starts_with("lookup_success,fraction,0.9,"),
            "{success}"
        );
        assert!(success.contains(",40,"), "{success}");
        let get = lines
            .iter()
            .find(|l| l.starts_with("get_success,"))
            .unwrap();
        assert!(get.starts_with("get_success,fraction,0.8,"), "{get}");
        assert!(success.ends_with(",kademlia"), "{success}");
        let empty = to_csv(&metrics("chord", &RunOutput::default()));
        assert!(empty.contains("lookup_hops,hops,,,0,,chord\n"), "{empty}");
    }

    #[test]
    fn churn_rows_use_measured_finished_lookups_and_the_window() {
        let mut out = crate::tables::tests::sample_output(10);
        out.lookups[0].measured = false;
        out.lookups[0].hops = 100;
        out.lookups[1].latency_ms = f64::NAN;
        let mut w = MeasurementWindow {
            start_s: 0.0,
            end_s: 100.0,
            node_seconds: 5000.0,
            ..Default::default()
        };
        w.traffic.bytes[MsgKind::FindNode.index()] = 10_000;
        w.traffic.messages[MsgKind::FindNode.index()] = 100;
        out.measurement = Some(w);
        let rows = metrics("chord", &out);
        let get = |m: &str| rows.iter().find(|r| r.metric == m).unwrap().stats;
        assert_eq!(get("lookup_success").n, 9);
        assert_eq!(get("lookup_hops").n, 8);
        assert!(get("lookup_latency_ms").mean.is_finite());
        assert_eq!(get("bytes_per_node_s").mean, 2.0);
        assert_eq!(get("bytes_per_node_s").n, 1);
        assert_eq!(get("messages_per_node_s").mean, 0.02);
        assert_eq!(get("online_nodes").mean, 50.0);
        assert_eq!(get("bytes_per_node_s.find_node").mean, 2.0);
        assert!(!rows.iter().any(|r| r.metric == "bytes_per_node_s.ping"));
        let csv = to_csv(&rows);
        assert!(
            csv.contains("bytes_per_node_s,bytes/node/s,2,,1,,chord\n"),
            "{csv}"
        );
    }
}
