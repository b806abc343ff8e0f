//! The tables of a calls run (`[calls]`, [`crate::calls_spec`]).
//!
//! | file                  | one row per             | columns |
//! |-----------------------|-------------------------|---------|
//! | `calls.parquet`       | call and variant        | `variant` str, `strategy` str, `failover` str, `call` u64 (position in the call stream: the same call in every variant), `caller` u32, `callee` u32, `start_s` f64, `nominal_s` f64, `end_s` f64, `measured` bool, `outcome` str (`completed`, `interrupted`, `failed`), `failure` str (null, `user-not-found`, `no-connectivity`, `relay-refused`, `relay-lost`), `ended_by_endpoint` bool, `path` str (null if never set up; `direct`, `punched`, `relay-udp`, `relay-tcp`), `setup_ms` f64, `one_way_ms` f64, `direct_one_way_ms` f64, `added_delay_ms` f64 (null if never set up; 0 end to end), `relays_used` u32, `relays_departed` u32, `first_relay` u32, `switches` u32, `probes` u32, `interruptions` u32, `interrupted_s` f64, `frames` u64, and with `calls.lookup` only: `lookup_ms` f64 (the callee's DHT lookup, included in `setup_ms`; null if not issued or not finished) |
//! | `relay_sessions.parquet` | relay session: one relay serving one call, per variant | `variant` str, `strategy` str, `failover` str, `call` u64, `measured` bool (the call's), `relay` u32, `direction` str (`both`, `forward`, `reverse`), `streams` u32 (media streams it forwarded: 2 for both, else 1), `from_s` f64 (admitted), `to_s` f64 (released: call end, failure or its own departure), `duration_s` f64, `departed` bool (it left the network while serving) |
//! | `relay_nodes.parquet` | node and variant        | `variant` str, `strategy` str, `failover` str, `node` u32, `class` str (NAT class, `open` = public), `calls_made` u32, `own_bytes` u64, `callee_bytes` u64, `relayed_calls` u32, `relayed_tcp` u32, `relayed_bytes` u64, `relayed_tcp_bytes` u64, `annoyed_s` f64, `offered` u32 |
//!
//! `summary.csv` has one row per variant ([`SUMMARY_HEADER`]); every figure
//! except the population shares counts measured calls only (those placed in
//! the churn model's measurement phase). A call *succeeds* when it neither
//! failed nor was interrupted. `success_ci95_low/high` is the Wilson score
//! interval at 95% (z = 1.959964), which stays inside [0, 1] and is
//! accurate near 0 and 1, where success rates of relayed calls sit.
//! Node-level figures (Jain's index, public shares, `relay_nodes.parquet`)
//! count the whole run, warm-up included. Numbers use Rust's shortest
//! round-trip formatting; undefined values are empty.
//!
//! Files are byte-identical for identical records (see [`crate::tables`]).

use crate::calls_spec::Variant;
use crate::error::Error;
use crate::tables::write_parquet;
use peerlab_sim::calls::{CallReport, CallSummary, Direction, FailureReason, PathType};
use polars::prelude::{Column, DataFrame, NamedFrom, PolarsResult, Series};
use std::path::Path;

/// The calls table's file name.
pub const CALLS: &str = "calls.parquet";
/// The relay-node table's file name.
pub const RELAY_NODES: &str = "relay_nodes.parquet";
/// The relay-session table's file name.
pub const RELAY_SESSIONS: &str = "relay_sessions.parquet";

/// One variant's records.
pub struct VariantRun<'a> {
    /// What ran.
    pub variant: &'a Variant,
    /// What the simulator reported.
    pub report: &'a CallReport,
}

fn frame(columns: Vec<Column>) -> PolarsResult<DataFrame> {
    DataFrame::new(columns.first().map_or(0, |c| c.len()), columns)
}

fn col<V>(name: &str, v: Vec<V>) -> Column
where
    Series: NamedFrom<Vec<V>, [V]>,
{
    Column::new(name.into(), v)
}

/// `completed`, `interrupted` or `failed`.
pub fn outcome(c: &peerlab_sim::calls::CallRecord) -> &'static str {
    match (c.failure, c.interruptions) {
        (Some(_), _) => "failed",
        (None, 0) => "completed",
        (None, _) => "interrupted",
    }
}

fn labels<'a>(
    runs: &[VariantRun<'a>],
    rows: impl Fn(&CallReport) -> usize,
) -> (Column, Column, Column) {
    let mut v = Vec::new();
    let mut s = Vec::new();
    let mut f = Vec::new();
    for r in runs {
        let n = rows(r.report);
        v.extend(std::iter::repeat_n(r.variant.label.clone(), n));
        s.extend(std::iter::repeat_n(r.variant.strategy.clone(), n));
        f.extend(std::iter::repeat_n(r.variant.failover.clone(), n));
    }
    (col("variant", v), col("strategy", s), col("failover", f))
}

/// `calls.parquet`: every call of every variant.
pub fn calls_frame(runs: &[VariantRun<'_>]) -> PolarsResult<DataFrame> {
    let (v, s, f) = labels(runs, |r| r.calls.len());
    let all: Vec<_> = runs.iter().flat_map(|r| r.report.calls.iter()).collect();
    let c = |name: &str, g: &dyn Fn(&peerlab_sim::calls::CallRecord) -> f64| {
        col(name, all.iter().map(|x| g(x)).collect::<Vec<f64>>())
    };
    let u = |name: &str, g: &dyn Fn(&peerlab_sim::calls::CallRecord) -> u32| {
        col(name, all.iter().map(|x| g(x)).collect::<Vec<u32>>())
    };
    let o = |name: &str, g: &dyn Fn(&peerlab_sim::calls::CallRecord) -> Option<f64>| {
        col(name, all.iter().map(|x| g(x)).collect::<Vec<Option<f64>>>())
    };
    frame(vec![
        v,
        s,
        f,
        col("call", all.iter().map(|x| x.id).collect::<Vec<u64>>()),
        u("caller", &|x| x.caller),
        u("callee", &|x| x.callee),
        c("start_s", &|x| x.start_s),
        c("nominal_s", &|x| x.nominal_s),
        c("end_s", &|x| x.end_s),
        col(
            "measured",
            all.iter().map(|x| x.measured).collect::<Vec<bool>>(),
        ),
        col(
            "outcome",
            all.iter().map(|x| outcome(x)).collect::<Vec<&str>>(),
        ),
        col(
            "failure",
            all.iter()
                .map(|x| x.failure.map(FailureReason::label))
                .collect::<Vec<Option<&str>>>(),
        ),
        col(
            "ended_by_endpoint",
            all.iter()
                .map(|x| x.ended_by_endpoint)
                .collect::<Vec<bool>>(),
        ),
        col(
            "path",
            all.iter()
                .map(|x| x.path.map(PathType::label))
                .collect::<Vec<Option<&str>>>(),
        ),
        o("setup_ms", &|x| x.setup_ms),
        o("one_way_ms", &|x| x.one_way_ms),
        c("direct_one_way_ms", &|x| x.direct_one_way_ms),
        o("added_delay_ms", &|x| x.added_delay_ms()),
        u("relays_used", &|x| x.relays.len() as u32),
        u("relays_departed", &|x| {
            x.relays.iter().filter(|r| r.departed).count() as u32
        }),
        col(
            "first_relay",
            all.iter()
                .map(|x| x.relays.first().map(|r| r.node))
                .collect::<Vec<Option<u32>>>(),
        ),
        u("switches", &|x| x.switches),
        u("probes", &|x| x.probes),
        u("interruptions", &|x| x.interruptions),
        c("interrupted_s", &|x| x.interrupted_s),
        col("frames", all.iter().map(|x| x.frames).collect::<Vec<u64>>()),
    ])
    .and_then(|mut df| {
        // Only runs that look callees up get the column, so other specs'
        // tables stay as they were.
        if runs.iter().any(|r| r.variant.config.lookup.is_some()) {
            df.with_column(o("lookup_ms", &|x| x.lookup_ms))?;
        }
        Ok(df)
    })
}

/// `relay_sessions.parquet`: every relay's service to every call, per
/// variant, in call order and then the order the call took its relays.
pub fn relay_sessions_frame(runs: &[VariantRun<'_>]) -> PolarsResult<DataFrame> {
    let (v, s, f) = labels(runs, |r| r.calls.iter().map(|c| c.relays.len()).sum());
    let all: Vec<(
        &peerlab_sim::calls::CallRecord,
        &peerlab_sim::calls::RelayUse,
    )> = runs
        .iter()
        .flat_map(|r| r.report.calls.iter())
        .flat_map(|c| c.relays.iter().map(move |u| (c, u)))
        .collect();
    let direction = |d: Direction| match d {
        Direction::Both => "both",
        Direction::Forward => "forward",
        Direction::Reverse => "reverse",
    };
    frame(vec![
        v,
        s,
        f,
        col("call", all.iter().map(|(c, _)| c.id).collect::<Vec<u64>>()),
        col(
            "measured",
            all.iter().map(|(c, _)| c.measured).collect::<Vec<bool>>(),
        ),
        col(
            "relay",
            all.iter().map(|(_, u)| u.node).collect::<Vec<u32>>(),
        ),
        col(
            "direction",
            all.iter()
                .map(|(_, u)| direction(u.direction))
                .collect::<Vec<&str>>(),
        ),
        col(
            "streams",
            all.iter()
                .map(|(_, u)| u.direction.streams())
                .collect::<Vec<u32>>(),
        ),
        col(
            "from_s",
            all.iter().map(|(_, u)| u.from_s).collect::<Vec<f64>>(),
        ),
        col(
            "to_s",
            all.iter().map(|(_, u)| u.to_s).collect::<Vec<f64>>(),
        ),
        col(
            "duration_s",
            all.iter()
                .map(|(_, u)| u.to_s - u.from_s)
                .collect::<Vec<f64>>(),
        ),
        col(
            "departed",
            all.iter().map(|(_, u)| u.departed).collect::<Vec<bool>>(),
        ),
    ])
}

/// `relay_nodes.parquet`: every node of every variant.
pub fn relay_nodes_frame(runs: &[VariantRun<'_>]) -> PolarsResult<DataFrame> {
    let (v, s, f) = labels(runs, |r| r.nodes.len());
    let all: Vec<(u32, &peerlab_sim::calls::NodeStats)> = runs
        .iter()
        .flat_map(|r| {
            r.report
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (i as u32, n))
        })
        .collect();
    let u = |name: &str, g: &dyn Fn(&peerlab_sim::calls::NodeStats) -> u32| {
        col(name, all.iter().map(|(_, x)| g(x)).collect::<Vec<u32>>())
    };
    let b = |name: &str, g: &dyn Fn(&peerlab_sim::calls::NodeStats) -> u64| {
        col(name, all.iter().map(|(_, x)| g(x)).collect::<Vec<u64>>())
    };
    frame(vec![
        v,
        s,
        f,
        col("node", all.iter().map(|(i, _)| *i).collect::<Vec<u32>>()),
        col(
            "class",
            all.iter()
                .map(|(_, x)| x.class.map(class_name))
                .collect::<Vec<Option<&str>>>(),
        ),
        u("calls_made", &|x| x.calls_made),
        b("own_bytes", &|x| x.own_bytes),
        b("callee_bytes", &|x| x.callee_bytes),
        u("relayed_calls", &|x| x.relayed_calls),
        u("relayed_tcp", &|x| x.relayed_tcp),
        b("relayed_bytes", &|x| x.relayed_bytes),
        b("relayed_tcp_bytes", &|x| x.relayed_tcp_bytes),
        col(
            "annoyed_s",
            all.iter().map(|(_, x)| x.annoyed_s).collect::<Vec<f64>>(),
        ),
        u("offered", &|x| x.offered),
    ])
}

/// A NAT class as the churn crate's serde writes it.
pub fn class_name(c: peerlab_churn::NatClass) -> &'static str {
    use peerlab_churn::NatClass::*;
    match c {
        Open => "open",
        FullCone => "full_cone",
        RestrictedCone => "restricted_cone",
        PortRestrictedCone => "port_restricted_cone",
        Symmetric => "symmetric",
        UdpBlocked => "udp_blocked",
    }
}

/// Writes the calls, relay-session and relay-node tables into `dir`;
/// returns their file names.
pub fn write_tables(dir: &Path, runs: &[VariantRun<'_>]) -> Result<Vec<String>, Error> {
    let err = |name: &str| {
        let name = name.to_string();
        move |source| Error::Table { name, source }
    };
    let mut calls = calls_frame(runs).map_err(err(CALLS))?;
    write_parquet(&dir.join(CALLS), &mut calls)?;
    let mut sessions = relay_sessions_frame(runs).map_err(err(RELAY_SESSIONS))?;
    write_parquet(&dir.join(RELAY_SESSIONS), &mut sessions)?;
    let mut nodes = relay_nodes_frame(runs).map_err(err(RELAY_NODES))?;
    write_parquet(&dir.join(RELAY_NODES), &mut nodes)?;
    Ok(vec![
        CALLS.into(),
        RELAY_SESSIONS.into(),
        RELAY_NODES.into(),
    ])
}

/// The Wilson score interval for `k` successes in `n` trials at 95%
/// (z = 1.959964); `(NaN, NaN)` for `n = 0`.
pub fn wilson95(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let d = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / d;
    let half = z / d * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The columns of `summary.csv`.
pub const SUMMARY_HEADER: &str = "variant,strategy,failover,calls,successes,success_rate,\
success_ci95_low,success_ci95_high,failed_user_not_found,failed_no_connectivity,\
failed_relay_refused,failed_relay_lost,path_direct,path_punched,path_relay_udp,path_relay_tcp,\
added_delay_mean_ms,added_delay_p50_ms,added_delay_p95_ms,setup_mean_ms,jain_relayed_bytes,\
public_relay_share,public_population_share,spare_p5_kbps,probes_per_selection,\
interruptions_per_relayed_call,annoyed_s_per_relay";

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `summary.csv` for the variants and their summaries.
pub fn summary_csv(rows: &[(&Variant, &CallSummary)]) -> String {
    let mut out = String::from(SUMMARY_HEADER);
    out.push('\n');
    for (v, s) in rows {
        let (lo, hi) = wilson95(s.successes, s.calls);
        let rate = if s.calls == 0 {
            f64::NAN
        } else {
            s.successes as f64 / s.calls as f64
        };
        let mut f: Vec<String> = vec![
            csv_text(&v.label),
            csv_text(&v.strategy),
            csv_text(&v.failover),
            s.calls.to_string(),
            s.successes.to_string(),
            num(rate),
            num(lo),
            num(hi),
        ];
        f.extend(s.failures.iter().map(|x| x.to_string()));
        f.extend(s.paths.iter().map(|x| x.to_string()));
        f.extend(
            [
                s.added_mean_ms,
                s.added_p50_ms,
                s.added_p95_ms,
                s.setup_mean_ms,
                s.jain,
                s.public_relay_share,
                s.public_population_share,
                s.spare_p5_kbps,
                s.probes_per_selection,
                s.interruptions_per_relayed_call,
                s.annoyed_s_per_relay,
            ]
            .map(num),
        );
        out += &f.join(",");
        out.push('\n');
    }
    out
}

/// The run-level metrics of one variant, as a sweep records them in
/// `run.json` and `runs.parquet` and summarises them over replications:
/// every numeric column of the run's `summary.csv` except the Wilson
/// bounds, under the same names. Each is one figure of the run (`n` = 1).
pub fn run_metrics(s: &CallSummary) -> Vec<crate::record::RunMetric> {
    let rate = if s.calls == 0 {
        f64::NAN
    } else {
        s.successes as f64 / s.calls as f64
    };
    let mut rows: Vec<(&str, &str, f64)> = vec![
        ("calls", "calls", s.calls as f64),
        ("successes", "calls", s.successes as f64),
        ("success_rate", "fraction", rate),
    ];
    let failures = [
        "failed_user_not_found",
        "failed_no_connectivity",
        "failed_relay_refused",
        "failed_relay_lost",
    ];
    rows.extend(
        failures
            .iter()
            .zip(s.failures)
            .map(|(m, x)| (*m, "calls", x as f64)),
    );
    let paths = [
        "path_direct",
        "path_punched",
        "path_relay_udp",
        "path_relay_tcp",
    ];
    rows.extend(
        paths
            .iter()
            .zip(s.paths)
            .map(|(m, x)| (*m, "calls", x as f64)),
    );
    rows.extend([
        ("added_delay_mean_ms", "ms", s.added_mean_ms),
        ("added_delay_p50_ms", "ms", s.added_p50_ms),
        ("added_delay_p95_ms", "ms", s.added_p95_ms),
        ("setup_mean_ms", "ms", s.setup_mean_ms),
        ("jain_relayed_bytes", "index", s.jain),
        ("public_relay_share", "fraction", s.public_relay_share),
        (
            "public_population_share",
            "fraction",
            s.public_population_share,
        ),
        ("spare_p5_kbps", "kb/s", s.spare_p5_kbps),
        ("probes_per_selection", "probes", s.probes_per_selection),
        (
            "interruptions_per_relayed_call",
            "interruptions",
            s.interruptions_per_relayed_call,
        ),
        ("annoyed_s_per_relay", "s", s.annoyed_s_per_relay),
    ]);
    rows.into_iter()
        .map(|(metric, unit, x)| crate::record::RunMetric {
            metric: metric.to_string(),
            unit: unit.to_string(),
            mean: x.is_finite().then_some(x),
            std: None,
            n: 1,
            ci95_half_width: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_metrics_are_the_summary_columns() {
        let section: crate::calls_spec::CallsSection = toml::from_str(
            "churn = { nodes = 10, model = { kind = \"skype-supernode\" }, warmup_s = 10.0, measurement_s = 10.0 }\ncalls = { rate_per_s = 0.1 }\n",
        )
        .unwrap();
        let variants = section.variants(1);
        // Distinct values, so a column mix-up shows.
        let s = CallSummary {
            calls: 40,
            successes: 37,
            failures: [1, 2, 3, 4],
            paths: [5, 6, 7, 8],
            added_mean_ms: 9.5,
            added_p50_ms: 10.5,
            added_p95_ms: 11.5,
            setup_mean_ms: 12.5,
            jain: 0.135,
            public_relay_share: 0.145,
            public_population_share: 0.155,
            spare_p5_kbps: 16.5,
            probes_per_selection: 17.5,
            interruptions_per_relayed_call: f64::NAN,
            annoyed_s_per_relay: 19.5,
        };
        let csv = summary_csv(&[(&variants[0], &s)]);
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        let metrics = run_metrics(&s);
        let names: Vec<&str> = metrics.iter().map(|m| m.metric.as_str()).collect();
        let expected: Vec<&str> = header
            .iter()
            .copied()
            .filter(|h| {
                ![
                    "variant",
                    "strategy",
                    "failover",
                    "success_ci95_low",
                    "success_ci95_high",
                ]
                .contains(h)
            })
            .collect();
        assert_eq!(names, expected);
        for m in &metrics {
            let at = header.iter().position(|h| *h == m.metric).unwrap();
            let text = m.mean.map(|x| x.to_string()).unwrap_or_default();
            assert_eq!(text, row[at], "{}", m.metric);
        }
    }

    #[test]
    fn wilson_matches_the_closed_form() {
        // Worked example (Newcombe 1998, Stat. Med. 17:857, Table I, method
        // 3): 81 of 263 gives [0.2553, 0.3662].
        let (lo, hi) = wilson95(81, 263);
        assert!(
            (lo - 0.2553).abs() < 5e-5 && (hi - 0.3662).abs() < 5e-5,
            "{lo} {hi}"
        );
        // Newcombe's 0 of 10: [0, 0.2775].
        let (lo, hi) = wilson95(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 5e-5, "{hi}");
        assert!(wilson95(0, 0).0.is_nan());
    }
}
