//! Hole punching under a realistic NAT mix, for comparison with field
//! measurements (literature T12): Halkes & Pouwelse found > 80% of punches
//! succeed in Tribler, Trautwein et al. 70% ± 7.1% over 4.4M IPFS attempts
//! (97.6% of successes on the first try).
//!
//! Caller and callee classes are drawn from the `halkes-pouwelse` mix
//! (21% open, 64% port-restricted cone, 11% symmetric, 4% UDP-blocked); each
//! pair runs the core's NAT agents over simulated middleboxes with 2% packet
//! loss and 40 ms one-way delay. The oracles: the relayed share the mix
//! implies analytically, and the preset matrix for which pairs need a punch.

use peerlab_churn::{NatMix, NatPreset};
use peerlab_core::Duration;
use peerlab_core::nat::{ConnectOutcome, Connectivity, NatType, RelayCause, connectivity};
use peerlab_sim::nat::{PunchConfig, simulate_pair};

const PAIRS: u32 = 4000;
const SEED: u64 = 2011;

#[test]
fn halkes_pouwelse_mix_punches_like_the_field() {
    let mix = NatMix::preset(NatPreset::HalkesPouwelse);
    let (mut punchable, mut punched, mut first, mut relayed, mut e2e) = (0u32, 0, 0, 0, 0);
    let mut direct_pairs = 0u32;
    // Every pair whose agents went as far as probing, whatever the oracle
    // says: the field studies' denominator.
    let (mut tried, mut tried_ok) = (0u32, 0u32);
    for i in 0..PAIRS {
        let a: NatType = mix.class_of(SEED, 2 * i).into();
        let b: NatType = mix.class_of(SEED, 2 * i + 1).into();
        let cfg = PunchConfig {
            loss: 0.02,
            one_way: Duration::from_millis(40),
            seed: u64::from(i),
            ..PunchConfig::default()
        };
        let Some(r) = simulate_pair(a, b, &cfg) else {
            panic!("pair {i} ({a:?} calls {b:?}) did not finish");
        };
        let oracle = connectivity(a, b);
        if oracle == Connectivity::Punched {
            punchable += 1;
            if r.outcome == Connectivity::Punched {
                punched += 1;
                if r.punch_attempt == Some(1) {
                    first += 1;
                }
            }
        }
        if oracle == Connectivity::Direct {
            direct_pairs += 1;
        }
        match r.agent_outcome {
            ConnectOutcome::Punched { .. } => {
                tried += 1;
                tried_ok += 1;
            }
            ConnectOutcome::NeedsRelay {
                reason: RelayCause::ProbesUnanswered | RelayCause::NoRendezvous,
                ..
            } => tried += 1,
            _ => {}
        }
        match r.outcome {
            Connectivity::Relay(..) => relayed += 1,
            _ => e2e += 1,
        }
    }
    let pct = |n: u32, d: u32| 100.0 * f64::from(n) / f64::from(d.max(1));
    // Analytic relayed share of the mix under the oracle: any UDP-blocked
    // side, or symmetric against port-restricted or symmetric.
    let (f, s, g) = (0.04_f64, 0.11_f64, 0.64_f64);
    let expected_relayed = 1.0 - (1.0 - f).powi(2) + 2.0 * g * s + s * s;
    let relayed_share = f64::from(relayed) / f64::from(PAIRS);
    let se = (expected_relayed * (1.0 - expected_relayed) / f64::from(PAIRS)).sqrt();
    println!("\nhalkes-pouwelse mix, {PAIRS} pairs, 2% loss, 40 ms one way:");
    println!("| metric | peerlab | field |");
    println!("|---|---|---|");
    println!(
        "| punch success (pairs that need a punch) | {:.1}% ({punched}/{punchable}) | > 80% (Halkes & Pouwelse); 70% ± 7.1% (Trautwein et al.) |",
        pct(punched, punchable)
    );
    println!(
        "| punch success (every pair that probed, symmetric ones included) | {:.1}% ({tried_ok}/{tried}) | as above |",
        pct(tried_ok, tried)
    );
    println!(
        "| first-attempt success (of punched) | {:.1}% | 97.6% (Trautwein et al.) |",
        pct(first, punched)
    );
    println!(
        "| relayed connections | {:.1}% (analytic {:.1}%) | about 15% after rendezvous (Halkes & Pouwelse) |",
        100.0 * relayed_share,
        100.0 * expected_relayed
    );
    println!(
        "| end to end | {:.1}% (direct by the oracle: {:.1}%) | |",
        pct(e2e, PAIRS),
        pct(direct_pairs, PAIRS)
    );
    assert!(pct(punched, punchable) >= 80.0);
    assert!(pct(first, punched) >= 95.0);
    assert!((15.0..=30.0).contains(&(100.0 * relayed_share)));
    // Loss can only add relays; it must not add many.
    assert!(
        relayed_share >= expected_relayed - 3.0 * se,
        "{relayed_share}"
    );
    assert!(relayed_share <= expected_relayed + 0.02, "{relayed_share}");
}
