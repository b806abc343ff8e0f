//! Trace replay reproduces every up and down interval exactly, in all three
//! formats, and rejects malformed lines with the line number and reason.

use std::path::PathBuf;

use peerlab_churn::event::up_intervals;
use peerlab_churn::process::TraceSource;
use peerlab_churn::{
    ChurnEvent, ChurnModel, ChurnRecord, ChurnSpec, Trace, TraceFormat, UpInterval,
};

fn trace_spec(format: TraceFormat, measurement_s: f64) -> ChurnSpec {
    ChurnSpec::new(
        0,
        ChurnModel::Trace(TraceSource {
            path: PathBuf::from("inline"),
            format,
        }),
        measurement_s,
    )
}

/// Replays `trace` through the churn generator and returns what it emits.
fn replay(trace: Trace, format: TraceFormat, measurement_s: f64) -> Vec<ChurnRecord> {
    trace_spec(format, measurement_s)
        .build_with_trace(trace)
        .unwrap()
        .events(99)
        .collect()
}

fn iv(node: u32, start_s: f64, end: Option<(f64, ChurnEvent)>) -> UpInterval {
    UpInterval {
        node,
        start_s,
        end_s: end.map(|e| e.0),
        end: end.map(|e| e.1),
    }
}

/// Up intervals and the down gaps between consecutive ones, per node.
fn down_gaps(ivs: &[UpInterval]) -> Vec<(u32, f64, f64)> {
    ivs.windows(2)
        .filter(|w| w[0].node == w[1].node)
        .filter_map(|w| w[0].end_s.map(|e| (w[0].node, e, w[1].start_s)))
        .collect()
}

#[test]
fn availability_intervals_replay_exactly() {
    let text = "\
# node start end [leave|fail]
7 0 100.5
7 100.5 250 fail
7 400.25 -
3, 10, 20
3, 35.125, 1000.75, leave
12 5 6
";
    let expected = vec![
        iv(3, 10.0, Some((20.0, ChurnEvent::Leave))),
        iv(3, 35.125, Some((1000.75, ChurnEvent::Leave))),
        iv(7, 0.0, Some((100.5, ChurnEvent::Leave))),
        iv(7, 100.5, Some((250.0, ChurnEvent::Fail))),
        iv(7, 400.25, None),
        iv(12, 5.0, Some((6.0, ChurnEvent::Leave))),
    ];
    let trace = Trace::parse(text, TraceFormat::Intervals).unwrap();
    assert_eq!(trace.intervals(), expected);
    let out = replay(trace, TraceFormat::Intervals, 2000.0);
    assert_eq!(up_intervals(&out), expected);
    assert_eq!(
        down_gaps(&up_intervals(&out)),
        vec![(3, 20.0, 35.125), (7, 100.5, 100.5), (7, 250.0, 400.25)]
    );
    // Time-ordered, and the touching intervals leave before rejoining.
    assert!(out.windows(2).all(|w| w[0].time_s <= w[1].time_s));
    let at_100_5: Vec<_> = out
        .iter()
        .filter(|r| r.time_s == 100.5)
        .map(|r| r.event)
        .collect();
    assert_eq!(at_100_5, vec![ChurnEvent::Leave, ChurnEvent::Join]);
}

#[test]
fn csv_replays_exactly() {
    let text = "\
time,node,event
0,1,join
0.5,2,JOIN
3.25,1,leave
3.25,2,fail
4,1,join
9.75,2,join
12,1,fail
";
    let expected = vec![
        iv(1, 0.0, Some((3.25, ChurnEvent::Leave))),
        iv(1, 4.0, Some((12.0, ChurnEvent::Fail))),
        iv(2, 0.5, Some((3.25, ChurnEvent::Fail))),
        iv(2, 9.75, None),
    ];
    let trace = Trace::parse(text, TraceFormat::Csv).unwrap();
    let out = replay(trace.clone(), TraceFormat::Csv, 100.0);
    assert_eq!(up_intervals(&out), expected);
    assert_eq!(out, trace.events());
}

#[test]
fn oversim_replays_exactly() {
    let text = "\
# OverSim trace
1.5 4 JOIN
2.0 9 JOIN
60.0 4 LEAVE
61.0 4 JOIN
120.25 9 LEAVE
";
    let expected = vec![
        iv(4, 1.5, Some((60.0, ChurnEvent::Leave))),
        iv(4, 61.0, None),
        iv(9, 2.0, Some((120.25, ChurnEvent::Leave))),
    ];
    let out = replay(
        Trace::parse(text, TraceFormat::Oversim).unwrap(),
        TraceFormat::Oversim,
        500.0,
    );
    assert_eq!(up_intervals(&out), expected);
}

#[test]
fn a_generated_churn_path_survives_every_format_round_trip() {
    // Record a KAD sample path, write it in each format, read it back and
    // replay it: every up and down interval must come back bit for bit.
    let mut spec = ChurnSpec::new(300, ChurnModel::Kad, 3.0 * 86_400.0);
    spec.warmup_s = 86_400.0;
    let original: Vec<ChurnRecord> = spec.build().unwrap().events(5).collect();
    let want = up_intervals(&original);
    assert!(want.len() > 300);
    let recorded = Trace::from_records(&original).unwrap();

    let csv = replay(
        Trace::parse(&recorded.to_csv(), TraceFormat::Csv).unwrap(),
        TraceFormat::Csv,
        4.0 * 86_400.0,
    );
    assert_eq!(csv, original);
    let intervals = Trace::parse(&recorded.to_intervals(), TraceFormat::Intervals).unwrap();
    let replayed = replay(intervals, TraceFormat::Intervals, 4.0 * 86_400.0);
    assert_eq!(up_intervals(&replayed), want);
    // OverSim has no failure command: same intervals, every end a LEAVE.
    let oversim = Trace::parse(&recorded.to_oversim(), TraceFormat::Oversim).unwrap();
    let replayed = replay(oversim, TraceFormat::Oversim, 4.0 * 86_400.0);
    let times = |v: &[UpInterval]| {
        v.iter()
            .map(|i| (i.node, i.start_s, i.end_s))
            .collect::<Vec<_>>()
    };
    assert_eq!(times(&up_intervals(&replayed)), times(&want));
}

#[test]
fn trace_files_load_from_disk() {
    let path = std::env::temp_dir().join(format!("peerlab-churn-trace-{}.csv", std::process::id()));
    std::fs::write(&path, "0,1,join\n10,1,leave\n").unwrap();
    let spec = ChurnSpec::new(
        0,
        ChurnModel::Trace(TraceSource {
            path: path.clone(),
            format: TraceFormat::Csv,
        }),
        100.0,
    );
    let events: Vec<ChurnRecord> = spec.build().unwrap().events(0).collect();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        up_intervals(&events),
        vec![iv(1, 0.0, Some((10.0, ChurnEvent::Leave)))]
    );
    // A missing file is an error naming it.
    let err = spec.build().unwrap_err().to_string();
    assert!(
        err.contains("cannot read trace") && err.contains("peerlab-churn-trace"),
        "{err}"
    );
}

#[test]
fn malformed_lines_are_rejected_with_line_number_and_reason() {
    use TraceFormat::*;
    let cases: &[(TraceFormat, &str, usize, &str)] = &[
        (
            Csv,
            "time,node,event\n0,1,join\n1,1\n",
            3,
            "expected 3 comma-separated fields",
        ),
        (
            Csv,
            "0,1,join\nabc,1,leave\n",
            2,
            "time `abc` is not a number",
        ),
        (
            Csv,
            "0,1,join\n# comment\n\n-4,1,leave\n",
            4,
            "time -4 is negative",
        ),
        (
            Csv,
            "0,1,join\n1,x,leave\n",
            2,
            "node `x` is not an integer",
        ),
        (
            Csv,
            "0,4294967296,join\n",
            1,
            "node `4294967296` is not an integer",
        ),
        (
            Csv,
            "0,1,join\n1,1,crash\n",
            2,
            "event `crash` is not join, leave or fail",
        ),
        (
            Csv,
            "0,1,join\n5,2,join\n3,1,leave\n",
            3,
            "time 3 is earlier than 5 on line 2",
        ),
        (
            Csv,
            "0,1,join\n1,1,join\n",
            2,
            "node 1 joins but is already online (joined on line 1)",
        ),
        (Csv, "0,1,leave\n", 1, "node 1 leaves but is not online"),
        (
            Csv,
            "0,1,join\n1,1,fail\n2,1,fail\n",
            3,
            "node 1 fails but is not online (went offline on line 2)",
        ),
        (Csv, "inf,1,join\n", 1, "time `inf` is not finite"),
        (
            Oversim,
            "0 1 JOIN\n1 1 FAIL\n",
            2,
            "command `FAIL` is not JOIN or LEAVE",
        ),
        (
            Oversim,
            "0 1 JOIN extra\n",
            1,
            "expected 3 whitespace-separated fields",
        ),
        (
            Oversim,
            "0 1 JOIN\n\n2 1 LEAVE\n3 1 LEAVE\n",
            4,
            "node 1 leaves but is not online",
        ),
        (
            Intervals,
            "1 0 10\n1 5 20\n",
            2,
            "node 1: interval [5, 20) overlaps [0, 10) on line 1",
        ),
        (
            Intervals,
            "1 5 20\n1 0 10\n",
            2,
            "node 1: interval [0, 10) overlaps [5, 20) on line 1",
        ),
        (
            Intervals,
            "1 0 -\n1 50 60\n",
            2,
            "node 1: interval [50, 60) overlaps [0, -) on line 1",
        ),
        (Intervals, "1 10 10\n", 1, "end 10 is not after start 10"),
        (
            Intervals,
            "1 0 10 crash\n",
            1,
            "end kind `crash` is not leave or fail",
        ),
        (Intervals, "1 0\n", 1, "expected 3 or 4 fields"),
        (
            Intervals,
            "1 0 - fail\n",
            1,
            "still open at the end of the trace cannot say how it ends",
        ),
        (
            Intervals,
            "# header\nn1 0 10\n",
            2,
            "node `n1` is not an integer",
        ),
    ];
    for (format, text, line, reason) in cases {
        let e = Trace::parse(text, *format).unwrap_err();
        assert_eq!(e.line, *line, "{format:?} {text:?}: {e}");
        assert!(
            e.reason.contains(reason),
            "{format:?} {text:?}: got `{}`, want `{reason}`",
            e.reason
        );
        assert!(e.to_string().starts_with(&format!("line {line}: ")));
    }
}
