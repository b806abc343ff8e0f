//! The full NAT pair matrix: for every ordered pair of presets, the
//! packet-level connection attempt through simulated RFC 4787 middleboxes
//! ends as the core oracle predicts.
//!
//! Run with `--nocapture` to see the table; sim/NAT.md carries the same one.

#![allow(clippy::disallowed_methods)]

use peerlab_core::nat::{Connectivity, NatType, connectivity};
use peerlab_sim::nat::{PunchConfig, matrix_table, simulate_pair};

fn simulated(a: NatType, b: NatType, seed: u64) -> Option<Connectivity> {
    let cfg = PunchConfig {
        seed,
        ..PunchConfig::default()
    };
    simulate_pair(a, b, &cfg).map(|r| r.outcome)
}

#[test]
fn every_pair_matches_the_oracle() {
    let mut mismatches = Vec::new();
    for a in NatType::ALL {
        for b in NatType::ALL {
            for seed in 0..5 {
                let sim = simulated(a, b, seed);
                if sim != Some(connectivity(a, b)) {
                    mismatches.push(format!(
                        "{} calls {} (seed {seed}): simulated {sim:?}, oracle {:?}",
                        a.name(),
                        b.name(),
                        connectivity(a, b)
                    ));
                }
            }
        }
    }
    let table = matrix_table(|a, b| connectivity(a, b).label().to_string());
    println!("\nNAT pair matrix (rows call columns; simulated = oracle):\n\n{table}");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/NAT.md")).unwrap_or_default();
    assert!(
        doc.contains(&table),
        "sim/NAT.md must carry the matrix exactly as printed above"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .unwrap_or_default();
    assert!(
        readme.contains(&table),
        "README.md must carry the matrix exactly as printed above"
    );
}

#[test]
fn punching_succeeds_on_the_first_attempt_without_loss() {
    for a in NatType::ALL {
        for b in NatType::ALL {
            let Some(r) = simulate_pair(a, b, &PunchConfig::default()) else {
                panic!("preset net builds");
            };
            match r.outcome {
                Connectivity::Punched => assert_eq!(r.punch_attempt, Some(1)),
                _ => assert_eq!(r.punch_attempt, None),
            }
            // Reflexive addresses are public: the caller's NAT (or itself).
            if a != NatType::UdpBlocked {
                assert_eq!(r.caller_reflexive.map(|x| x.ip), Some([203, 0, 113, 1]));
            }
        }
    }
}

#[test]
fn retries_recover_lost_probes() {
    // With 20% packet loss, punchable pairs still punch (or connect
    // directly) in most runs, and some need a second attempt.
    let (mut ok, mut later, mut runs) = (0, 0, 0);
    for seed in 0..200 {
        let cfg = PunchConfig {
            loss: 0.2,
            seed,
            attempts: 5,
            ..PunchConfig::default()
        };
        let Some(r) = simulate_pair(NatType::PortRestrictedCone, NatType::RestrictedCone, &cfg)
        else {
            panic!("preset net builds");
        };
        runs += 1;
        if r.outcome.is_end_to_end() {
            ok += 1;
        }
        if r.punch_attempt.is_some_and(|k| k > 1) {
            later += 1;
        }
    }
    println!("20% loss: {ok}/{runs} end to end, {later} punched after the first attempt");
    assert!(ok * 100 >= runs * 90, "{ok}/{runs}");
    assert!(later > 0);
}
