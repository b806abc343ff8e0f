//! Every preset and model can be written in an experiment spec (TOML), and
//! bad specs fail with an error that names the field.

use peerlab_churn::nat_mix::{NatModel, NatPreset};
use peerlab_churn::{ChurnModel, ChurnPreset, ChurnSpec, NatClass, WorkloadSpec};
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Spec {
    churn: ChurnSpec,
    #[serde(default)]
    nat: Option<NatModel>,
    #[serde(default)]
    workload: Option<WorkloadSpec>,
}

fn parse(text: &str) -> Result<Spec, String> {
    toml::from_str::<Spec>(text).map_err(|e| e.to_string())
}

#[test]
fn every_preset_is_usable_by_name() {
    for p in ChurnPreset::ALL {
        let text = format!(
            "[churn]\nnodes = 50\nmodel = {{ kind = \"{}\" }}\nmeasurement_s = 3600.0\n",
            p.name()
        );
        let spec = parse(&text).unwrap().churn;
        assert_eq!(spec.model.expanded(), p.model(), "{}", p.name());
        let events: Vec<_> = spec.build().unwrap().events(1).collect();
        assert!(
            events
                .iter()
                .any(|r| r.event == peerlab_churn::ChurnEvent::Join),
            "{}",
            p.name()
        );
    }
}

#[test]
fn every_model_and_scenario_feature_is_usable_from_a_spec() {
    let text = r#"
[churn]
nodes = 200
join_rate_per_s = 20.0
warmup_s = 86400.0
transition_s = 600.0
measurement_s = 7200.0
model = { kind = "lifetime", up = { dist = "weibull", shape = 0.61511, scale_s = 10170.0 }, down = { dist = "log_normal", median_s = 3600.0, sigma = 1.0 }, graceful_fraction = 0.5, diurnal = { profile = "sinusoidal", amplitude = 0.3, peak_hour = 21.0 } }

[[churn.mass_failures]]
at_s = 3000.0
fraction = 0.25

[[churn.mass_failures]]
at_s = 4000.0
fraction = 0.1
recovery = { after = { dist = "uniform", min_s = 60.0, max_s = 120.0 } }

[[churn.mass_failures]]
at_s = 5000.0
fraction = 0.1
recovery = "never"

[[churn.flash_crowds]]
at_s = 2000.0
nodes = 100
spread_s = 60.0
session = { dist = "exponential", mean_s = 600.0 }

[[churn.partitions]]
start_s = 1000.0
end_s = 1500.0
side_a_fraction = 0.5

[nat]
mix = { preset = "consumer" }
groups = { enterprise = 0.2, residential = 0.7, university = 0.1 }
by_group.enterprise = { weights = { open = 0.05, symmetric = 0.35, udp_blocked = 0.6 } }
by_group.university = { blog = { p = 0.5, g = 0.3, b = 0.1, f = 0.1 } }

[workload]
lookups = { rate_per_s = 0.0016667 }
registration = { refresh_s = 1800.0, expires_s = 3600.0 }
calls = { rate_per_s = 0.0005, duration = { dist = "log_normal", median_s = 180.0, sigma = 1.2 }, callee = { kind = "buddies", count = 10 } }
"#;
    let spec = parse(text).unwrap();
    let scn = spec.churn.build().unwrap();
    assert_eq!(scn.phases().measurement_start_s, 10.0 + 600.0);
    assert!(scn.events(3).count() > 200);
    assert!(scn.partitions(3).is_partitioned(1200.0));
    let nat = spec.nat.unwrap();
    assert_eq!(
        nat.mix_for(peerlab_churn::AsGroup::Enterprise)
            .probability(NatClass::UdpBlocked),
        0.6
    );
    assert_eq!(
        nat.mix_for(peerlab_churn::AsGroup::University)
            .probability(NatClass::Open),
        0.5
    );
    assert_eq!(
        nat.mix_for(peerlab_churn::AsGroup::Residential),
        &NatPreset::Consumer.mix()
    );
    spec.workload.unwrap().validate().unwrap();

    let others = [
        r#"model = { kind = "heterogeneous", mean_up_s = 3600.0, mean_down_s = 1800.0 }"#,
        r#"model = { kind = "heterogeneous", mean_up_s = 3600.0, mean_down_s = 1800.0, shape = 2.5, diurnal = { profile = "hourly", factors = [1,1,1,1,1,1,2,2,2,2,2,2,3,3,3,3,3,3,2,2,2,2,2,2] } }"#,
        r#"model = { kind = "open", arrival_rate_per_s = 0.1, session = { dist = "pareto", shape = 2.0, scale_s = 60.0 } }"#,
        r#"model = { kind = "lifetime", up = { dist = "truncated_normal", mean_s = 600.0, sd_s = 300.0, min_s = 0.0 }, down = { dist = "empirical", samples_s = [10.0, 20.0, 30.0] }, fresh_ids = true }"#,
        r#"model = { kind = "lifetime", up = { dist = "shifted_pareto", shape = 3.0, scale_s = 7200.0 }, down = { dist = "empirical_cdf", points = [[0.0, 0.0], [60.0, 0.5], [600.0, 1.0]] } }"#,
        r#"model = { kind = "lifetime", up = { dist = "constant", value_s = 60.0 }, down = { dist = "uniform", min_s = 1.0, max_s = 2.0 } }"#,
        r#"model = { kind = "static" }"#,
    ];
    for m in others {
        let nodes = if m.contains("\"open\"") { 0 } else { 20 };
        let spec = parse(&format!(
            "[churn]\nnodes = {nodes}\nmeasurement_s = 3600.0\n{m}\n"
        ))
        .unwrap_or_else(|e| panic!("{m}: {e}"));
        assert!(spec.churn.build().unwrap().events(1).count() > 0, "{m}");
    }
    let trace = parse("[churn]\nmeasurement_s = 10.0\nmodel = { kind = \"trace\", path = \"x.csv\", format = \"oversim\" }\n").unwrap();
    assert!(matches!(trace.churn.model, ChurnModel::Trace(_)));
}

#[test]
fn bad_specs_name_the_field() {
    let base = "[churn]\nnodes = 10\nmeasurement_s = 3600.0\n";
    let cases = [
        (
            format!("{base}model = {{ kind = \"kad\", shape = 1.0 }}\n"),
            "shape",
        ),
        (
            format!("{base}model = {{ kind = \"kademlia\" }}\n"),
            "kademlia",
        ),
        (
            format!(
                "{base}model = {{ kind = \"open\", arrival_rate_per_s = 1.0, session = {{ dist = \"weibull\", shape = -2.0, scale_s = 5.0 }} }}\n"
            ),
            "weibull.shape = -2 is invalid",
        ),
        (
            format!(
                "{base}model = {{ kind = \"lifetime\", up = {{ dist = \"exponential\", mean_s = 1.0, rate = 2.0 }}, down = {{ dist = \"constant\", value_s = 0.0 }} }}\n"
            ),
            "rate",
        ),
        (
            format!("{base}model = {{ kind = \"static\" }}\nchurn_rate = 3\n"),
            "churn_rate",
        ),
        (
            format!(
                "{base}model = {{ kind = \"p2psim\", diurnal = {{ profile = \"sinusoidal\", amplitude = 0.5, peak_hour = 20.0 }} }}\n"
            ),
            "diurnal",
        ),
    ];
    for (text, needle) in &cases {
        let e = parse(text).unwrap_err();
        assert!(e.contains(needle), "{text}\n=> {e}");
    }
    // Errors raised when building name the field by its path in the section.
    let build_err = |extra: &str| {
        parse(&format!("{base}model = {{ kind = \"kad\" }}\n{extra}"))
            .unwrap()
            .churn
            .build()
            .unwrap_err()
            .to_string()
    };
    assert!(
        build_err("[[churn.mass_failures]]\nat_s = 5.0\nfraction = 1.5\n")
            .contains("mass_failures[0].fraction = 1.5 is invalid")
    );
    assert!(build_err("join_rate_per_s = 0.0\n").contains("join_rate_per_s = 0 is invalid"));
    assert!(
        build_err("[[churn.partitions]]\nstart_s = 5.0\nend_s = 1.0\nside_a_fraction = 0.5\n")
            .contains("partitions[0].end_s")
    );
    assert!(
        build_err("[[churn.flash_crowds]]\nat_s = -5.0\nnodes = 3\n")
            .contains("flash_crowds[0].at_s")
    );
    let zero = parse("[churn]\nmeasurement_s = 1.0\nmodel = { kind = \"kad\" }\n")
        .unwrap()
        .churn
        .build()
        .unwrap_err();
    assert!(zero.to_string().contains("nodes = 0 is invalid"), "{zero}");
    let lifetime_negative = parse(&format!(
        "{base}model = {{ kind = \"lifetime\", up = {{ dist = \"uniform\", min_s = -1.0, max_s = 1.0 }}, down = {{ dist = \"constant\", value_s = 1.0 }} }}\n"
    ))
    .unwrap()
    .churn
    .build()
    .unwrap_err();
    assert!(
        lifetime_negative.to_string().contains("model.up"),
        "{lifetime_negative}"
    );
    let nat = toml::from_str::<Spec>(&format!(
        "{base}model = {{ kind = \"static\" }}\n[nat]\nmix = {{ weights = {{ open = 0.5, symmetric = 0.4 }} }}\n"
    ));
    assert!(
        nat.unwrap_err()
            .to_string()
            .contains("weights summing to 1")
    );
    let wl = parse(&format!("{base}model = {{ kind = \"static\" }}\n[workload]\nregistration = {{ refresh_s = 600.0, expires_s = 300.0 }}\n")).unwrap();
    assert_eq!(
        wl.workload.unwrap().validate().unwrap_err().param,
        "registration.refresh_s"
    );
    let reads = parse(&format!("{base}model = {{ kind = \"static\" }}\n[workload]\nregistration = {{ refresh_s = 300.0, expires_s = 600.0, read_interval_s = 0.0 }}\n")).unwrap();
    let e = reads.workload.unwrap().validate().unwrap_err();
    assert_eq!(e.param, "registration.read_interval_s");
    assert!(e.to_string().contains("read_interval_s"), "{e}");
}
