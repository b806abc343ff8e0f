//! Time annoyed, recomputed by a sweep over the call records. The run
//! updates it incrementally at each load change; here every node's load is
//! rebuilt from its relay intervals and af() is evaluated from the
//! documented inputs (CPU = base + per-call × calls, bandwidth = used uplink
//! share, interactivity redrawn every period) on every piece of time.

mod calls_common;

use calls_common::churning;
use peerlab_core::relay::{AnnoyanceForm, AnnoyanceInputs};
use peerlab_sim::calls::{CallRun, CallScenarioConfig, Direction, RelayConfig, StrategySpec};

#[test]
fn time_annoyed_matches_a_sweep_over_the_records() {
    let base = churning(2_000, 30_000, 8);
    for (strategy, per_direction) in [
        (StrategySpec::Random, false),
        (StrategySpec::Netmax, true),
        (
            StrategySpec::Annoyance {
                af: Default::default(),
            },
            false,
        ),
    ] {
        let cfg = CallScenarioConfig {
            relay: RelayConfig {
                per_direction,
                ..base.relay.clone()
            },
            strategy,
            ..base.clone()
        };
        let run = CallRun::new(&cfg).expect("valid");
        let r = run.run_configured().expect("runs");
        let a = &cfg.relay.annoyance;
        let form: AnnoyanceForm = a.form.form();
        let kbps = f64::from(r.kbps);
        let uplink = f64::from(cfg.relay.uplink_kbps);
        let period = a.interactivity_period_s;
        // Per node: (time, +/- calls, +/- kb/s).
        let mut ev: Vec<Vec<(f64, i32, f64)>> = vec![Vec::new(); r.nodes.len()];
        for c in &r.calls {
            for u in &c.relays {
                let cost = if u.direction == Direction::Both {
                    kbps
                } else {
                    (kbps / 2.0).ceil()
                };
                ev[u.node as usize].push((u.from_s, 1, cost));
                ev[u.node as usize].push((u.to_s, -1, -cost));
            }
        }
        let mut checked = 0;
        let mut total = 0.0;
        for (node, e) in ev.iter_mut().enumerate() {
            e.sort_by(|x, y| x.0.total_cmp(&y.0));
            let (mut calls, mut used, mut want) = (0i32, 0.0f64, 0.0f64);
            for w in 0..e.len() {
                calls += e[w].1;
                used += e[w].2;
                let (lo, hi) = (e[w].0, e.get(w + 1).map_or(e[w].0, |x| x.0));
                if calls <= 0 || hi <= lo {
                    continue;
                }
                // Walk the interactivity periods inside [lo, hi).
                let mut t = lo;
                while t < hi {
                    let next = (((t / period).floor() + 1.0) * period).min(hi);
                    let x = AnnoyanceInputs {
                        cpu: a.cpu_base + a.cpu_per_call * f64::from(calls),
                        bandwidth: used / uplink,
                        interactivity: run.interactivity(node as u32, t),
                    };
                    if form.annoyed(&x) {
                        want += next - t;
                    }
                    t = next;
                }
            }
            let got = r.nodes[node].annoyed_s;
            assert!(
                (got - want).abs() <= 1e-6 * want.max(1.0),
                "node {node}: run {got}, sweep {want}"
            );
            if want > 0.0 {
                checked += 1;
            }
            total += want;
        }
        println!(
            "{}{}: {checked} nodes annoyed while relaying, {total:.0} s in all",
            r.strategy,
            if per_direction { " per direction" } else { "" }
        );
        assert!(checked > 10);
    }
}
