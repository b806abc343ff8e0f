//! Calls runs (`[calls]` specs) through the real binary.
//!
//! Oracles: the call stream recounted from `calls.parquet` (success = no
//! failure and no interruption, measured calls only) against
//! `summary.csv`; common random numbers checked row by row across
//! strategies; the blog's burden derived from the NAT mix alone
//! (sim/tests/calls_blog_burden.rs does the same in the simulator); node
//! figures recounted from `relay_nodes.parquet`; relay sessions against
//! the calls' relay counts.

mod common;
use common::{
    assert_replot_identical, expect_failure, hidden_files, peerlab, report_figures, run_ok as run,
    strs, table, texts, write_spec,
};
use peerlab_experiments::manifest::Manifest;
use polars::prelude::DataFrame;
use std::collections::BTreeMap;
use std::path::Path;

const SMALL: &str = r#"
[run]
name = "small_calls"
seed = 3

[calls]
churn = { nodes = 1500, model = { kind = "skype-supernode" }, warmup_s = 86400.0, measurement_s = 43200.0 }
nat = { preset = "consumer" }
calls = { rate_per_s = 0.0001 }
strategies = [{ kind = "random" }, { kind = "as-based" }, { kind = "min-rtt" }]

[calls.relay]
slots = 2
uplink_kbps = 200
candidates = { kind = "local_random", count = 6 }
"#;

fn u32s(df: &DataFrame, col: &str) -> Vec<u32> {
    let c = df.column(col).unwrap().u32().unwrap().clone();
    (0..df.height()).map(|i| c.get(i).unwrap()).collect()
}

fn f64s(df: &DataFrame, col: &str) -> Vec<f64> {
    let c = df.column(col).unwrap().f64().unwrap().clone();
    (0..df.height()).map(|i| c.get(i).unwrap()).collect()
}

fn bools(df: &DataFrame, col: &str) -> Vec<bool> {
    let c = df.column(col).unwrap().bool().unwrap().clone();
    (0..df.height()).map(|i| c.get(i).unwrap()).collect()
}

/// `summary.csv` as one map per row.
fn summary(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            head.iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn strategies_share_one_sample_path_and_the_summary_recounts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "small.toml", SMALL);
    let out = dir.path().join("out");
    let stdout = run(&spec, &out);
    assert!(
        stdout.contains("as-based:") && stdout.contains("Wilson"),
        "{stdout}"
    );

    let m = Manifest::read(&out).unwrap();
    for f in &m.files {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for f in [
        "calls.parquet",
        "relay_sessions.parquet",
        "relay_nodes.parquet",
        "summary.csv",
    ] {
        assert!(m.files.iter().any(|x| x == f), "{f} not in the manifest");
    }
    for p in ["added_delay_cdf", "path_types", "jain", "spare_p5"] {
        for ext in ["svg", "png"] {
            assert!(out.join(format!("plots/{p}.{ext}")).is_file(), "{p}.{ext}");
        }
    }
    assert!(hidden_files(&out).is_empty(), "{:?}", hidden_files(&out));

    let calls = table(&out.join("calls.parquet"));
    let variant = strs(&calls, "variant");
    let ids: Vec<u64> = {
        let c = calls.column("call").unwrap().u64().unwrap().clone();
        (0..calls.height()).map(|i| c.get(i).unwrap()).collect()
    };
    let (caller, callee, start) = (
        u32s(&calls, "caller"),
        u32s(&calls, "callee"),
        f64s(&calls, "start_s"),
    );
    let measured = bools(&calls, "measured");
    let failure = strs(&calls, "failure");
    let interruptions = u32s(&calls, "interruptions");
    let path = strs(&calls, "path");

    // One row per call and strategy: each strategy's rows are the call
    // stream 0..n in order, with the same callers, callees and start times.
    let names = ["random", "as-based", "min-rtt"];
    let n = calls.height() / names.len();
    assert_eq!(calls.height(), n * names.len());
    assert!(n > 500, "{n} calls");
    assert_eq!(m.events as usize, calls.height());
    for (k, name) in names.iter().enumerate() {
        for i in 0..n {
            let r = k * n + i;
            assert_eq!(variant[r].as_deref(), Some(*name));
            assert_eq!(ids[r], i as u64);
            assert_eq!(
                (caller[r], callee[r], start[r].to_bits()),
                (caller[i], callee[i], start[i].to_bits()),
                "call {i} differs under {name}"
            );
        }
    }

    // summary.csv against an independent recount of calls.parquet.
    let rows = summary(&out);
    assert_eq!(rows.len(), names.len());
    let mut relayed_somewhere = 0;
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row["variant"], names[k]);
        let range = k * n..(k + 1) * n;
        let placed = range.clone().filter(|&r| measured[r]).count();
        let ok = range
            .clone()
            .filter(|&r| measured[r] && failure[r].is_none() && interruptions[r] == 0)
            .count();
        let relayed = range
            .clone()
            .filter(|&r| {
                measured[r] && matches!(path[r].as_deref(), Some("relay-udp" | "relay-tcp"))
            })
            .count();
        relayed_somewhere += relayed;
        assert_eq!(row["calls"], placed.to_string(), "{row:?}");
        assert_eq!(row["successes"], ok.to_string(), "{row:?}");
        let rate: f64 = row["success_rate"].parse().unwrap();
        assert_eq!(rate, ok as f64 / placed as f64);
        let lo: f64 = row["success_ci95_low"].parse().unwrap();
        let hi: f64 = row["success_ci95_high"].parse().unwrap();
        assert!(lo < rate && rate < hi && hi - lo < 0.05, "{lo} {rate} {hi}");
        let got: usize = ["path_relay_udp", "path_relay_tcp"]
            .iter()
            .map(|c| row[*c].parse::<usize>().unwrap())
            .sum();
        assert_eq!(got, relayed);
        // Some calls failed on the small relays, so success is a real count.
        assert!(ok < placed, "{row:?}");
    }
    assert!(relayed_somewhere > 0);

    // relay_nodes.parquet: one row per node and strategy.
    let nodes = table(&out.join("relay_nodes.parquet"));
    assert_eq!(nodes.height(), 1500 * names.len());

    // relay_sessions.parquet against calls.parquet: per variant and call,
    // as many sessions as relays used, as many departed as relays
    // departed, the first one on the first relay, each inside the call.
    let sessions = table(&out.join("relay_sessions.parquet"));
    let s_variant = strs(&sessions, "variant");
    let s_call: Vec<u64> = {
        let c = sessions.column("call").unwrap().u64().unwrap().clone();
        (0..sessions.height()).map(|i| c.get(i).unwrap()).collect()
    };
    let (s_relay, s_from, s_to, s_dur) = (
        u32s(&sessions, "relay"),
        f64s(&sessions, "from_s"),
        f64s(&sessions, "to_s"),
        f64s(&sessions, "duration_s"),
    );
    let s_departed = bools(&sessions, "departed");
    let streams = u32s(&sessions, "streams");
    let used = u32s(&calls, "relays_used");
    let departed = u32s(&calls, "relays_departed");
    let first: Vec<Option<u32>> = {
        let c = calls.column("first_relay").unwrap().u32().unwrap().clone();
        (0..calls.height()).map(|i| c.get(i)).collect()
    };
    let end = f64s(&calls, "end_s");
    let mut by_call: BTreeMap<(String, u64), Vec<usize>> = BTreeMap::new();
    for r in 0..sessions.height() {
        by_call
            .entry((s_variant[r].clone().unwrap(), s_call[r]))
            .or_default()
            .push(r);
    }
    assert!(sessions.height() > 0);
    for r in 0..calls.height() {
        let rows = by_call
            .remove(&(variant[r].clone().unwrap(), ids[r]))
            .unwrap_or_default();
        assert_eq!(rows.len() as u32, used[r], "call {} sessions", ids[r]);
        let gone = rows.iter().filter(|&&j| s_departed[j]).count() as u32;
        assert_eq!(gone, departed[r], "call {} departed relays", ids[r]);
        assert_eq!(rows.first().map(|&j| s_relay[j]), first[r]);
        for &j in &rows {
            assert!(start[r] <= s_from[j] && s_from[j] <= s_to[j] && s_to[j] <= end[r]);
            assert_eq!(s_dur[j], s_to[j] - s_from[j]);
            assert_eq!(streams[j], 2, "no per-direction relays in this spec");
        }
    }
    assert!(by_call.is_empty(), "sessions of no call: {by_call:?}");

    // Same seed, same bytes.
    let again = dir.path().join("again");
    run(&spec, &again);
    for f in ["calls.parquet", "relay_nodes.parquet", "summary.csv"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs between identical runs"
        );
    }
    assert_eq!(Manifest::read(&again).unwrap().trace_hash, m.trace_hash);
}

/// The calls figures of a run are drawn from its stored tables:
/// `peerlab plot` on the directory rewrites every figure and `report.html`
/// byte for byte, the report shows each figure, and the figures' data
/// agree with `summary.csv` and the burden `peerlab run` printed, which the
/// simulator's in-memory reports produced (path counts, relayed calls and
/// mean added delay in the CDF, bar values, public burden × N).
#[test]
fn plot_redraws_a_calls_run_from_its_tables() {
    use peerlab_experiments::figures::{FigureData, plan};
    use peerlab_experiments::results::ResultDir;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "small.toml", SMALL);
    let out = dir.path().join("out");
    let stdout = run(&spec, &out);
    let figures = [
        "added_delay_cdf",
        "path_types",
        "jain",
        "spare_p5",
        "probes",
        "success_vs_duration",
        "public_tcp_relays",
        "public_bandwidth",
    ];
    let m = Manifest::read(&out).unwrap();
    for f in figures
        .iter()
        .flat_map(|f| [format!("plots/{f}.svg"), format!("plots/{f}.png")])
        .chain(["spec.toml".into(), "report.html".into()])
    {
        assert!(m.files.contains(&f), "{f} not in the manifest");
    }
    let files = assert_replot_identical(&out);
    assert_eq!(files.len(), 2 * figures.len() + 1, "{:?}", files.keys());
    assert_eq!(report_figures(&out), figures);

    let rows = summary(&out);
    let num = |k: usize, c: &str| -> f64 { rows[k][c].parse().unwrap() };
    // Per variant, the burden line `peerlab run` printed: (TCP-relayed
    // calls × N, bandwidth × N), to 3 decimals.
    let printed: Vec<(f64, f64)> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("burden"))
        .map(|l| {
            let (tcp, bw) = l.split_once("bandwidth").unwrap();
            (after(tcp, "TCP-relayed calls ="), after(bw, "calls ="))
        })
        .collect();
    assert_eq!(printed.len(), 3, "{stdout}");
    let planned = plan(&ResultDir::load(&out).unwrap());
    assert_eq!(planned.len(), figures.len());
    for f in &planned {
        match (&f.data, f.name.as_str()) {
            (FigureData::PathShares(p), _) => {
                assert_eq!(p.rows.len(), 3);
                for (k, (label, counts)) in p.rows.iter().enumerate() {
                    assert_eq!(*label, rows[k]["variant"]);
                    let want: Vec<f64> = ["path_direct", "path_punched", "path_relay_udp"]
                        .iter()
                        .chain(&["path_relay_tcp"])
                        .map(|c| num(k, c))
                        .collect();
                    let got: Vec<f64> = counts[..4].iter().map(|&x| x as f64).collect();
                    assert_eq!(got, want, "{label}");
                    assert_eq!(
                        counts.iter().sum::<usize>() as f64,
                        num(k, "calls"),
                        "{label}: never set up completes the measured calls"
                    );
                }
            }
            (FigureData::DelayCdf(c), _) => {
                for (k, (label, delays)) in c.series.iter().enumerate() {
                    assert_eq!(*label, rows[k]["variant"]);
                    let relayed = num(k, "path_relay_udp") + num(k, "path_relay_tcp");
                    assert_eq!(delays.len() as f64, relayed, "{label}");
                    let mean = delays.iter().sum::<f64>() / delays.len() as f64;
                    let want = num(k, "added_delay_mean_ms");
                    assert!(
                        (mean - want).abs() < 1e-9 * want,
                        "{label}: {mean} vs {want}"
                    );
                }
            }
            (FigureData::Bars(b), name @ ("public_tcp_relays" | "public_bandwidth")) => {
                for (k, (label, v)) in b.bars.iter().enumerate() {
                    assert_eq!(*label, rows[k]["variant"]);
                    let want = if name == "public_tcp_relays" {
                        printed[k].0
                    } else {
                        printed[k].1
                    };
                    assert!((v - want).abs() <= 5e-4, "{name} of {label}: {v} vs {want}");
                }
            }
            (FigureData::Bars(b), name) => {
                let column = match name {
                    "jain" => "jain_relayed_bytes",
                    "spare_p5" => "spare_p5_kbps",
                    "probes" => "probes_per_selection",
                    other => panic!("unexpected bar figure {other}"),
                };
                for (k, (label, v)) in b.bars.iter().enumerate() {
                    assert_eq!(*label, rows[k]["variant"]);
                    assert_eq!(*v, num(k, column), "{name} of {label}");
                }
            }
            (FigureData::ErrorBars(e), "success_vs_duration") => {
                assert_eq!(e.series.len(), 3);
            }
            (_, name) => panic!("unexpected figure {name}"),
        }
    }

    // A corrupt table is an error naming it, not a panic.
    for f in ["calls.parquet", "relay_nodes.parquet"] {
        let bytes = std::fs::read(out.join(f)).unwrap();
        std::fs::write(out.join(f), b"not parquet").unwrap();
        let err = expect_failure(&peerlab(&["plot", out.to_str().unwrap()]));
        assert!(
            err.contains(f) && err.contains("not a valid Parquet"),
            "{err}"
        );
        std::fs::write(out.join(f), bytes).unwrap();
    }
}

/// The number after `key` on the burden line.
fn after(line: &str, key: &str) -> f64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn blog_burden_reproduces_five_and_eleven_n() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/blog_burden.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let stdout = run(&spec, &out);
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("burden"))
        .unwrap_or_else(|| panic!("no burden line:\n{stdout}"));
    let relayed = after(line, "per public node");
    let relayed_n = after(line, "TCP-relayed calls =");
    let bw_part = &line[line.find("bandwidth of").expect("bandwidth")..];
    let bw_calls = after(bw_part, "bandwidth of");
    let bw_n = after(bw_part, "calls =");
    let per_node = after(line, "(N =");

    // From the mix: 10,000 nodes, P 10%, F 30% in exact proportions,
    // uniform callees, N calls per node.
    let (n, n_p, n_f) = (10_000.0_f64, 1_000.0, 3_000.0);
    let p_tcp = n_f / n + (1.0 - n_f / n) * n_f / (n - 1.0);
    let want_relayed_n = n * p_tcp / n_p; // relayed calls per public node / N
    let want_bw_n = 1.0 + 2.0 * want_relayed_n;
    // TCP calls ~ Poisson(n N p); N from the spec's rate: 10 per day.
    let big_n = 10.0;
    let se = (n * big_n * p_tcp).sqrt() / n_p / big_n;
    println!(
        "burden: {relayed_n} × N (analytic {want_relayed_n:.3} ± {se:.3}), bandwidth {bw_n} × N (analytic {want_bw_n:.3} ± {:.3})",
        2.0 * se
    );
    assert!((relayed_n - want_relayed_n).abs() < 4.0 * se, "{line}");
    assert!((bw_n - want_bw_n).abs() < 4.0 * 2.0 * se + 0.01, "{line}");
    assert!(
        (per_node - big_n).abs() < 4.0 * (big_n / n).sqrt(),
        "{line}"
    );
    // The blog's rounded figures.
    assert!(
        (relayed_n - 5.0).abs() < 0.25 && (bw_n - 11.0).abs() < 0.5,
        "{line}"
    );

    // The printed figure recounted from relay_nodes.parquet.
    let nodes = table(&out.join("relay_nodes.parquet"));
    let class = strs(&nodes, "class");
    let tcp = u32s(&nodes, "relayed_tcp");
    let made = u32s(&nodes, "calls_made");
    let public: Vec<usize> = (0..nodes.height())
        .filter(|&i| class[i].as_deref() == Some("open"))
        .collect();
    assert_eq!(public.len(), 1_000, "exact assignment");
    let recount = public.iter().map(|&i| f64::from(tcp[i])).sum::<f64>() / 1_000.0;
    assert!((recount - relayed).abs() < 5e-4, "{recount} vs {line}");
    let u64s = |col: &str| -> Vec<u64> {
        let c = nodes.column(col).unwrap().u64().unwrap().clone();
        (0..nodes.height()).map(|i| c.get(i).unwrap()).collect()
    };
    let (own, tcp_bytes) = (u64s("own_bytes"), u64s("relayed_tcp_bytes"));
    // A call's bytes at its caller: the mean over all placed calls (every
    // call lasts 60 s and none fails, so this is one 60-s call).
    let unit = own.iter().sum::<u64>() as f64 / made.iter().map(|&x| f64::from(x)).sum::<f64>();
    let bw_rec = public
        .iter()
        .map(|&i| (own[i] + tcp_bytes[i]) as f64 / unit)
        .sum::<f64>()
        / 1_000.0;
    assert!((bw_rec - bw_calls).abs() < 5e-3, "{bw_rec} vs {line}");
    let n_rec = made.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    assert!((n_rec - per_node).abs() < 5e-4, "{n_rec} vs {line}");
    // Only public nodes relay over TCP.
    assert!(
        (0..nodes.height())
            .filter(|&i| class[i].as_deref() != Some("open"))
            .all(|i| tcp[i] == 0)
    );
}

fn bad(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "bad.toml", text);
    let out = dir.path().join("out");
    let o = peerlab(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = expect_failure(&o);
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(!out.exists(), "output written for an invalid spec");
    err
}

#[test]
fn spec_errors_name_the_calls_path_before_anything_runs() {
    let base = SMALL.replace("[calls.relay]\n", "[calls.relay]\nRELAY\n");
    let with = |line: &str| base.replace("RELAY", line);
    let e = bad(&with("slotz = 3"));
    assert!(
        e.contains("calls.relay.slotz") && e.contains("unknown field"),
        "{e}"
    );
    let e = bad(&SMALL.replace("slots = 2", "slots = 0"));
    assert!(e.contains("calls.relay.slots = 0"), "{e}");
    let e = bad(&SMALL.replace("{ kind = \"as-based\" }", "{ kind = \"fastest\" }"));
    assert!(
        e.contains("calls.strategies[1]") && e.contains("as-based"),
        "{e}"
    );
    let e = bad(&SMALL.replace(
        "{ kind = \"min-rtt\" }",
        "{ kind = \"threshold\", max_added_delay_ms = -1.0 }",
    ));
    assert!(
        e.contains("calls.strategies[2].max_added_delay_ms = -1"),
        "{e}"
    );
    let e = bad(&with(
        "failover = { kind = \"active\", k = 1 }\n[calls.dummy]",
    ));
    assert!(e.contains("calls.dummy"), "{e}");
    let e = bad(&SMALL.replace(
        "[calls.relay]",
        "failovers = [{ kind = \"active\", k = 1 }, { kind = \"active\", k = 0 }]\n[calls.relay]",
    ));
    assert!(e.contains("calls.failovers[1].k = 0"), "{e}");
    let e = bad(&SMALL.replace(
        "[calls.relay]",
        "failovers = [{ kind = \"active\", k = 0 }]\n[calls.relay]",
    ));
    assert!(e.contains("calls.failovers[0].k = 0"), "{e}");
    let e = bad(&SMALL.replace(
        "[calls.relay]",
        "strategy = { kind = \"random\" }\n[calls.relay]",
    ));
    assert!(
        e.contains("calls.strategy") && e.contains("not both"),
        "{e}"
    );
    let e = bad(&SMALL.replace("rate_per_s = 0.0001", "rate_per_s = -1.0"));
    assert!(e.contains("calls.calls.rate_per_s = -1"), "{e}");
    let e = bad(&SMALL.replace("nodes = 1500", "nodes = 0"));
    assert!(e.contains("calls.churn.nodes = 0"), "{e}");
    let e = bad(&format!("{SMALL}\n[network]\nnodes = 50\n"));
    assert!(e.contains("`network`") && e.contains("calls"), "{e}");
    let e = bad(&format!("{SMALL}\n[workload]\nlookups = 5\n"));
    assert!(e.contains("`workload`"), "{e}");
}

#[test]
fn calls_specs_round_trip_and_are_listed() {
    for name in [
        "relay_strategies",
        "blog_burden",
        "blog_nat_rfc4787",
        "relay_redundancy",
        "relay_reliability_sweep",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("specs/{name}.toml"));
        let spec = peerlab_experiments::spec::Spec::load(&path).unwrap();
        let text = spec.to_toml().unwrap();
        let again = peerlab_experiments::spec::Spec::parse(&text, &path).unwrap();
        assert_eq!(again, spec, "{name}:\n{text}");
    }
    let o = peerlab(&["spec", "list"]);
    let (stdout, stderr) = texts(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(!stdout.contains("INVALID"), "{stdout}");
    for (file, runs) in [
        (
            "relay_strategies.toml",
            "10000 nodes, skype-supernode churn, calls: 10 relay strategies",
        ),
        (
            "blog_burden.toml",
            "10000 nodes, static churn, calls: 1 relay strategy",
        ),
        (
            "relay_redundancy.toml",
            "20000 nodes, skype-supernode churn, calls: 1 relay strategy × 3 failover settings",
        ),
        (
            "relay_reliability_sweep.toml",
            "2000 nodes, skype-supernode churn, calls: 1 relay strategy; sweep of 3 points × 10 \
             replications over calls.relay.failover.k",
        ),
    ] {
        let at = stdout
            .find(file)
            .unwrap_or_else(|| panic!("{file}:\n{stdout}"));
        assert!(stdout[at..].contains(runs), "{file}: {stdout}");
    }
}

#[test]
fn relay_redundancy_matches_the_memoryless_analysis() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/relay_redundancy.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run(&spec, &out);
    let calls = table(&out.join("calls.parquet"));
    let (variant, measured, outcome) = (
        strs(&calls, "variant"),
        bools(&calls, "measured"),
        strs(&calls, "outcome"),
    );
    let (start, nominal) = (f64s(&calls, "start_s"), f64s(&calls, "nominal_s"));
    // Skype-supernode sessions are exponential with a median of 5.5 h; a
    // relay picked among the online nodes then stays up for T with
    // probability e^(−T ln 2 / 5.5 h), and k independent relays all leave
    // with the k-th power of the complement. Calls that would outlast the
    // churn horizon (86,400 s) are left out: relays never leave after it.
    let t_s = 3600.0;
    let stay = (-t_s * std::f64::consts::LN_2 / (5.5 * 3600.0)).exp();
    let mut last = 0.0;
    for k in 1..=3 {
        let label = format!("random active k={k}");
        let rows: Vec<usize> = (0..calls.height())
            .filter(|&i| variant[i].as_deref() == Some(label.as_str()))
            .filter(|&i| measured[i] && start[i] + nominal[i] <= 86_400.0)
            .collect();
        let ok = rows
            .iter()
            .filter(|&&i| outcome[i].as_deref() == Some("completed"))
            .count();
        let n = rows.len() as f64;
        let got = ok as f64 / n;
        let want = 1.0 - (1.0 - stay).powi(k);
        let se = (want * (1.0 - want) / n).sqrt();
        println!("k = {k}: {got:.4} over {n} calls, analytic {want:.4} ± {se:.4}");
        assert!(n > 30_000.0, "{n}");
        assert!((got - want).abs() < 4.0 * se, "k = {k}: {got} vs {want}");
        assert!(got > last, "success rises with k");
        last = got;
    }
}

#[test]
fn repeated_strategies_get_distinct_labels() {
    let text = SMALL.replace(
        "{ kind = \"min-rtt\" }",
        "{ kind = \"as-based\" }, { kind = \"threshold\", max_added_delay_ms = 50.0 }",
    )
    .replace(
        "[calls.relay]",
        "failovers = [{ kind = \"passive\", detect_s = 2.0, max_switches = 3 }, { kind = \"active\", k = 2 }]\n[calls.relay]",
    );
    let spec = peerlab_experiments::spec::Spec::parse(&text, Path::new("t.toml")).unwrap();
    let labels: Vec<String> = spec
        .calls
        .unwrap()
        .variants(3)
        .into_iter()
        .map(|v| v.label)
        .collect();
    assert_eq!(
        labels,
        [
            "random passive detect=2s max_switches=3",
            "as-based passive detect=2s max_switches=3",
            "as-based#3 passive detect=2s max_switches=3",
            "threshold passive detect=2s max_switches=3",
            "random active k=2",
            "as-based active k=2",
            "as-based#3 active k=2",
            "threshold active k=2",
        ]
    );
}

/// The blog's NAT table from the two bundled specs: the path shares of the
/// measured calls against the shares the mix implies. With exact classes
/// (n_P, n_G, n_B, n_F of n) and uniform callees other than the caller, the
/// chance that caller and callee fall in classes X and Y is
/// n_X/n · (n_Y − [X = Y])/(n − 1).
#[test]
fn blog_nat_table_under_both_rule_sets() {
    let n = 10_000.0_f64;
    // P is the remaining 10%.
    let (g, b, f) = (0.3 * n, 0.3 * n, 0.3 * n);
    let pair = |x: f64, y: f64, same: bool| x / n * (y - f64::from(u8::from(same))) / (n - 1.0);
    // A TCP relay whenever either side is F.
    let tcp = 1.0 - pair(n - f, n - f, true);
    // Blog: B–B needs a UDP relay; RFC 4787: so do G–B and B–G.
    let udp_blog = pair(b, b, true);
    let udp_rfc = udp_blog + 2.0 * pair(g, b, false);
    let dir = tempfile::tempdir().unwrap();
    for (spec, udp) in [("blog_burden", udp_blog), ("blog_nat_rfc4787", udp_rfc)] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("specs/{spec}.toml"));
        let out = dir.path().join(spec);
        run(&path, &out);
        let row = &summary(&out)[0];
        let num = |k: &str| row[k].parse::<f64>().unwrap();
        let calls = num("calls");
        let shares = (
            (num("path_direct") + num("path_punched")) / calls,
            num("path_relay_udp") / calls,
            num("path_relay_tcp") / calls,
        );
        let want = (1.0 - udp - tcp, udp, tcp);
        println!(
            "{spec}: end to end {:.2}% (analytic {:.2}%), UDP relay {:.2}% ({:.2}%), TCP relay {:.2}% ({:.2}%)",
            100.0 * shares.0,
            100.0 * want.0,
            100.0 * shares.1,
            100.0 * want.1,
            100.0 * shares.2,
            100.0 * want.2
        );
        for (got, want) in [(shares.0, want.0), (shares.1, want.1), (shares.2, want.2)] {
            assert!((got - want).abs() < 0.01, "{spec}: {got} vs {want}");
        }
    }
}

/// The redundancy figure: success against call duration for k = 1, 2, 3
/// active relays. The figure is drawn, and each duration bin's success,
/// recounted from `calls.parquet`, matches the memoryless analysis
/// averaged over the bin's own calls: a call of T seconds succeeds with
/// probability 1 − (1 − e^(−T ln 2 / 5.5 h))^k.
#[test]
fn relay_redundancy_against_duration_matches_the_analysis() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/relay_redundancy_duration.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run(&spec, &out);
    assert!(out.join("plots/success_vs_duration.png").exists());
    let calls = table(&out.join("calls.parquet"));
    let (variant, measured, outcome) = (
        strs(&calls, "variant"),
        bools(&calls, "measured"),
        strs(&calls, "outcome"),
    );
    let (start, nominal) = (f64s(&calls, "start_s"), f64s(&calls, "nominal_s"));
    let p = |t: f64, k: i32| {
        let stay = (-t * std::f64::consts::LN_2 / (5.5 * 3600.0)).exp();
        1.0 - (1.0 - stay).powi(k)
    };
    let (lo, hi) = (300.0, 7200.0);
    let bins = 8usize;
    for k in 1..=3 {
        let label = format!("random active k={k}");
        for b in 0..bins {
            let (a, z) = (
                lo + (hi - lo) * b as f64 / bins as f64,
                lo + (hi - lo) * (b + 1) as f64 / bins as f64,
            );
            let rows: Vec<usize> = (0..calls.height())
                .filter(|&i| variant[i].as_deref() == Some(label.as_str()) && measured[i])
                .filter(|&i| start[i] + nominal[i] <= 86_400.0)
                .filter(|&i| nominal[i] >= a && (nominal[i] < z || b + 1 == bins))
                .collect();
            let n = rows.len() as f64;
            let ok = rows
                .iter()
                .filter(|&&i| outcome[i].as_deref() == Some("completed"))
                .count() as f64;
            let want = rows.iter().map(|&i| p(nominal[i], k)).sum::<f64>() / n;
            let var = rows
                .iter()
                .map(|&i| p(nominal[i], k) * (1.0 - p(nominal[i], k)))
                .sum::<f64>()
                / (n * n);
            let got = ok / n;
            assert!(n > 1000.0, "k = {k}, bin {b}: {n} calls");
            assert!(
                (got - want).abs() < 4.0 * var.sqrt() + 1e-3,
                "k = {k}, bin {b} ({:.0}-{:.0} min): {got:.4} vs {want:.4}",
                a / 60.0,
                z / 60.0
            );
        }
    }
}
