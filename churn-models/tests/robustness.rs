//! Bad input never panics: arbitrary trace text and arbitrary parameters
//! give a value or an error, and valid distributions stay in their support.

use peerlab_churn::streams::stream;
use peerlab_churn::{ChurnEvent, ChurnRecord, Dist, DistSpec, Trace, TraceFormat};
use proptest::prelude::*;

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..1e6f64,
        Just(0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(1e-300),
        Just(1e300),
    ]
}

fn any_spec() -> impl Strategy<Value = DistSpec> {
    prop_oneof![
        any_f64().prop_map(|mean_s| DistSpec::Exponential { mean_s }),
        (any_f64(), any_f64()).prop_map(|(shape, scale_s)| DistSpec::Pareto { shape, scale_s }),
        (any_f64(), any_f64())
            .prop_map(|(shape, scale_s)| DistSpec::ShiftedPareto { shape, scale_s }),
        (any_f64(), any_f64()).prop_map(|(shape, scale_s)| DistSpec::Weibull { shape, scale_s }),
        (any_f64(), any_f64())
            .prop_map(|(median_s, sigma)| DistSpec::LogNormal { median_s, sigma }),
        (
            any_f64(),
            any_f64(),
            proptest::option::of(any_f64()),
            proptest::option::of(any_f64())
        )
            .prop_map(|(mean_s, sd_s, min_s, max_s)| DistSpec::TruncatedNormal {
                mean_s,
                sd_s,
                min_s,
                max_s
            }),
        (any_f64(), any_f64()).prop_map(|(min_s, max_s)| DistSpec::Uniform { min_s, max_s }),
        any_f64().prop_map(|value_s| DistSpec::Constant { value_s }),
        proptest::collection::vec(any_f64(), 0..5)
            .prop_map(|samples_s| DistSpec::Empirical { samples_s }),
        proptest::collection::vec((any_f64(), -0.5..1.5f64), 0..5).prop_map(|v| {
            DistSpec::EmpiricalCdf {
                points: v.into_iter().map(|(x, p)| [x, p]).collect(),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn distributions_validate_or_stay_in_support(spec in any_spec(), seed in any::<u64>(), p in -1.0..2.0f64) {
        if let Ok(d) = Dist::new(spec) {
            let mut rng = stream(seed, "test.robustness", 0);
            for _ in 0..20 {
                let x = d.sample(&mut rng);
                prop_assert!(!x.is_nan(), "NaN draw from {:?}", d.spec());
                prop_assert!(x >= d.min_value(), "{x} below support of {:?}", d.spec());
                let f = d.cdf(x);
                prop_assert!((0.0..=1.0).contains(&f), "cdf {f} for {:?}", d.spec());
            }
            let q = d.quantile(p);
            prop_assert!(!q.is_nan(), "quantile({p}) of {:?} is NaN", d.spec());
        }
    }

    #[test]
    fn arbitrary_trace_text_is_parsed_or_rejected_with_a_real_line(text in "[0-9a-zA-Z ,.#\\-\n]{0,200}") {
        for format in [TraceFormat::Csv, TraceFormat::Oversim, TraceFormat::Intervals] {
            if let Err(e) = Trace::parse(&text, format) {
                prop_assert!(e.line >= 1 && e.line <= text.lines().count(), "line {} of {:?}", e.line, text);
            }
        }
    }

    #[test]
    fn valid_traces_round_trip_through_csv(steps in proptest::collection::vec((0u32..5, 0.0..100.0f64, any::<bool>()), 0..60)) {
        // Build a consistent sequence: toggle each node's state.
        let mut online = [false; 5];
        let mut t = 0.0;
        let mut records = Vec::new();
        for (node, dt, graceful) in steps {
            t += dt;
            let up = &mut online[node as usize];
            let event = if !*up { ChurnEvent::Join } else if graceful { ChurnEvent::Leave } else { ChurnEvent::Fail };
            *up = !*up;
            records.push(ChurnRecord { time_s: t, node, event });
        }
        let trace = Trace::from_records(&records).unwrap();
        let back = Trace::parse(&trace.to_csv(), TraceFormat::Csv).unwrap();
        prop_assert_eq!(back.intervals(), trace.intervals());
        let back = Trace::parse(&trace.to_intervals(), TraceFormat::Intervals).unwrap();
        prop_assert_eq!(back.intervals(), trace.intervals());
    }
}
