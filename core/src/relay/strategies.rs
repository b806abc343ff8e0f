//! The relay-selection strategies.
//!
//! Two shapes of decision recur:
//! - **Ordered trial** (Random, RoutingTable, AsBased, Prefix, threshold
//!   Annoyance): the caller ranks candidates from what it already knows
//!   (addresses, AS numbers, its routing table) and contacts them one by one;
//!   a candidate that fails the constraints, lacks capacity or refuses is
//!   skipped. Probes are the candidates contacted.
//! - **Measure all** (MinRtt, NetMax, Threshold, LoadBalanced, real-valued
//!   Annoyance): the caller contacts every candidate to learn its RTT, spare
//!   capacity, load or af(), then takes the best eligible ones. Probes are
//!   the whole candidate set.
//!
//! Ties are broken uniformly at random with the caller's RNG.

use super::{AnnoyanceForm, Candidate, RelayStrategy, Selection, SelectionContext, shuffled};
use crate::rng::NodeRng;

/// Contacts candidates in `order`, keeping the first `ctx.k` that are
/// eligible and accept.
fn try_in_order(
    order: &[usize],
    cands: &[Candidate],
    ctx: &SelectionContext,
    accepts: impl Fn(&Candidate) -> bool,
) -> Selection {
    let mut sel = Selection::default();
    if ctx.k == 0 {
        return sel;
    }
    for &i in order {
        let Some(c) = cands.get(i) else { continue };
        sel.probes = sel.probes.saturating_add(1);
        if ctx.eligible(c) && accepts(c) {
            sel.chosen.push(i);
            if sel.chosen.len() >= ctx.k {
                break;
            }
        }
    }
    sel
}

/// Contacts every candidate, then keeps the `ctx.k` eligible, accepting ones
/// with the smallest `key` (random among ties).
fn rank_all(
    cands: &[Candidate],
    ctx: &SelectionContext,
    rng: &mut NodeRng,
    accepts: impl Fn(&Candidate) -> bool,
    key: impl Fn(&Candidate) -> f64,
) -> Selection {
    if ctx.k == 0 || cands.is_empty() {
        return Selection::default();
    }
    let mut order: Vec<usize> = shuffled(cands.len(), rng)
        .into_iter()
        .filter(|&i| ctx.eligible(&cands[i]) && accepts(&cands[i]))
        .collect();
    order.sort_by(|&a, &b| nan_last(key(&cands[a])).total_cmp(&nan_last(key(&cands[b]))));
    order.truncate(ctx.k);
    Selection {
        chosen: order,
        probes: u32::try_from(cands.len()).unwrap_or(u32::MAX),
    }
}

/// Maps NaN to +infinity so that unmeasurable candidates rank last.
fn nan_last(v: f64) -> f64 {
    if v.is_nan() { f64::INFINITY } else { v }
}

/// A random permutation with the candidates for which `first` holds moved to
/// the front (random order within each group).
fn preferring(
    cands: &[Candidate],
    rng: &mut NodeRng,
    rank: impl Fn(&Candidate) -> u32,
) -> Vec<usize> {
    let mut order = shuffled(cands.len(), rng);
    // Stable sort: higher rank first, random within a rank.
    order.sort_by_key(|&i| std::cmp::Reverse(rank(&cands[i])));
    order
}

/// Random: contacts candidates in random order and keeps the first that can
/// serve. The baseline of Baset & Schulzrinne (IPTComm 2010, §6.5.3) and of
/// Singh's slides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Random;

impl RelayStrategy for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        let order = shuffled(cands.len(), rng);
        try_in_order(&order, cands, ctx, |_| true)
    }
}

/// Routing-table based: relay-capable contacts already in the caller's own
/// routing table first (no lookup needed; Singh's slides spread the call
/// load over the relays in the table), then the rest, each group in random
/// order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoutingTable;

impl RelayStrategy for RoutingTable {
    fn name(&self) -> &'static str {
        "routing-table"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        let order = preferring(cands, rng, |c| u32::from(c.in_routing_table));
        try_in_order(&order, cands, ctx, |_| true)
    }
}

/// AS-based: a relay in the same autonomous system as the caller or the
/// callee, else the others in random order (Singh's slides: "select a relay
/// within same AS — but too many machines in one AS, or none"; ASAP, Ren et
/// al. ICDCS 2006, for AS-aware relay choice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsBased;

impl RelayStrategy for AsBased {
    fn name(&self) -> &'static str {
        "as-based"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        let order = preferring(cands, rng, |c| {
            u32::from(c.as_number == ctx.caller_as || c.as_number == ctx.callee_as)
        });
        try_in_order(&order, cands, ctx, |_| true)
    }
}

/// IP-prefix based: the candidate sharing the longest address prefix with the
/// caller or the callee first (Singh's slides), random among equals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prefix;

impl RelayStrategy for Prefix {
    fn name(&self) -> &'static str {
        "prefix"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        let order = preferring(cands, rng, |c| {
            u32::from(
                c.prefix
                    .common_len(&ctx.caller_prefix)
                    .max(c.prefix.common_len(&ctx.callee_prefix)),
            )
        });
        try_in_order(&order, cands, ctx, |_| true)
    }
}

/// MinRtt (Baset's MinDelay): the candidate adding the least one-way delay,
/// measured by probing every candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MinRtt;

impl RelayStrategy for MinRtt {
    fn name(&self) -> &'static str {
        "min-rtt"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        rank_all(
            cands,
            ctx,
            rng,
            |_| true,
            |c| c.added_delay_ms(ctx.direct_rtt_ms),
        )
    }
}

/// NetMax: the candidate with the most spare uplink (then the most free
/// slots), Baset & Schulzrinne §6.5.3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetMax;

impl RelayStrategy for NetMax {
    fn name(&self) -> &'static str {
        "netmax"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        rank_all(
            cands,
            ctx,
            rng,
            |_| true,
            |c| -(f64::from(c.spare_uplink_kbps) + f64::from(c.free_slots.min(1 << 20)) * 1e-9),
        )
    }
}

/// Threshold: among candidates adding at most `max_added_delay_ms` (200 ms in
/// Baset & Schulzrinne §6.5.3), the one with the most spare bandwidth; if
/// none (or too few for `k`), random eligible candidates fill the rest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    /// The added one-way delay bound, in ms.
    pub max_added_delay_ms: f64,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold {
            max_added_delay_ms: 200.0,
        }
    }
}

impl RelayStrategy for Threshold {
    fn name(&self) -> &'static str {
        "threshold"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        let bound = self.max_added_delay_ms;
        let within = |c: &Candidate| c.added_delay_ms(ctx.direct_rtt_ms) <= bound;
        let mut sel = rank_all(cands, ctx, rng, within, |c| -f64::from(c.spare_uplink_kbps));
        if sel.chosen.len() < ctx.k && !cands.is_empty() {
            let rest: Vec<usize> = shuffled(cands.len(), rng)
                .into_iter()
                .filter(|&i| !within(&cands[i]) && ctx.eligible(&cands[i]))
                .take(ctx.k - sel.chosen.len())
                .collect();
            sel.chosen.extend(rest);
        }
        sel
    }
}

/// Load-balanced: the least-utilised candidates (relayed load over
/// capacity), so relaying spreads evenly (Singh's slides, "load-balance
/// approach").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadBalanced;

impl RelayStrategy for LoadBalanced {
    fn name(&self) -> &'static str {
        "load-balanced"
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        rank_all(cands, ctx, rng, |_| true, |c| c.load)
    }
}

/// Annoyance-aware: each relay evaluates af() on its own CPU, bandwidth and
/// interactivity and refuses when annoyed (Singh's slides).
/// - Threshold form: candidates are contacted in random order; the first
///   that are not annoyed serve.
/// - Real-valued form: every candidate reports af(); the least annoyed
///   among those below the refusal level serve.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Annoyance {
    /// Which af() the relays run.
    pub form: AnnoyanceForm,
}

impl RelayStrategy for Annoyance {
    fn name(&self) -> &'static str {
        match self.form {
            AnnoyanceForm::Threshold { .. } => "annoyance-threshold",
            AnnoyanceForm::RealValued { .. } => "annoyance-real",
        }
    }

    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection {
        let form = self.form;
        let willing = |c: &Candidate| !form.annoyed(&c.annoyance);
        match form {
            AnnoyanceForm::Threshold { .. } => {
                let order = shuffled(cands.len(), rng);
                try_in_order(&order, cands, ctx, willing)
            }
            AnnoyanceForm::RealValued { .. } => {
                rank_all(cands, ctx, rng, willing, |c| form.value(&c.annoyance))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        AnnoyanceInputs, CodecProfile, Constraints, Ipv4Prefix, RelayStrategy, SelectionContext,
    };
    use super::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> NodeRng {
        NodeRng::seed_from_u64(seed)
    }

    fn cand(id: u64) -> Candidate {
        Candidate {
            id,
            ..Candidate::default()
        }
    }

    fn all() -> Vec<Box<dyn RelayStrategy>> {
        vec![
            Box::new(Random),
            Box::new(RoutingTable),
            Box::new(AsBased),
            Box::new(Prefix),
            Box::new(MinRtt),
            Box::new(NetMax),
            Box::new(Threshold::default()),
            Box::new(LoadBalanced),
            Box::new(Annoyance::default()),
            Box::new(Annoyance {
                form: AnnoyanceForm::real_valued(),
            }),
        ]
    }

    /// Picks `strategy`'s first choice over many seeds.
    fn firsts(s: &dyn RelayStrategy, cands: &[Candidate], ctx: &SelectionContext) -> Vec<usize> {
        (0..200)
            .filter_map(|seed| s.choose(cands, ctx, &mut rng(seed)).chosen.first().copied())
            .collect()
    }

    #[test]
    fn every_strategy_survives_degenerate_inputs() {
        let ctx = SelectionContext::default();
        let weird = Candidate {
            rtt_caller_ms: f64::NAN,
            rtt_callee_ms: f64::INFINITY,
            loss: f64::NAN,
            uptime_s: f64::NEG_INFINITY,
            load: f64::NAN,
            annoyance: AnnoyanceInputs {
                cpu: f64::NAN,
                bandwidth: -3.0,
                interactivity: 9.0,
            },
            ..cand(0)
        };
        for s in all() {
            let r = &mut rng(1);
            assert_eq!(s.choose(&[], &ctx, r), Selection::default(), "{}", s.name());
            let zero = SelectionContext { k: 0, ..ctx };
            assert!(s.choose(&[cand(0)], &zero, r).chosen.is_empty());
            let sel = s.choose(&[weird.clone(), cand(1)], &ctx, r);
            assert!(sel.chosen.len() <= 1 && sel.chosen.iter().all(|&i| i < 2));
            // k larger than the set: everything eligible, no repeats.
            let big = SelectionContext { k: 10, ..ctx };
            let cs: Vec<Candidate> = (0..4).map(cand).collect();
            let mut sel = s.choose(&cs, &big, r).chosen;
            sel.sort_unstable();
            assert_eq!(sel, vec![0, 1, 2, 3], "{}", s.name());
        }
    }

    #[test]
    fn strategies_are_deterministic_per_seed() {
        let cs: Vec<Candidate> = (0..20).map(cand).collect();
        let ctx = SelectionContext {
            k: 3,
            ..Default::default()
        };
        for s in all() {
            assert_eq!(
                s.choose(&cs, &ctx, &mut rng(7)),
                s.choose(&cs, &ctx, &mut rng(7))
            );
        }
    }

    #[test]
    fn random_is_uniform_and_probes_until_accepted() {
        let cs: Vec<Candidate> = (0..4).map(cand).collect();
        let ctx = SelectionContext::default();
        let mut counts = [0u32; 4];
        for seed in 0..4000 {
            let sel = Random.choose(&cs, &ctx, &mut rng(seed));
            assert_eq!(sel.probes, 1);
            counts[sel.chosen[0]] += 1;
        }
        // Each 1000 ± 4 sd (sd ≈ 27).
        assert!(
            counts.iter().all(|&c| (890..=1110).contains(&c)),
            "{counts:?}"
        );

        // Full relays refuse; random tries until one accepts.
        let mut cs2 = cs.clone();
        for c in &mut cs2[..3] {
            c.free_slots = 0;
        }
        let sel = Random.choose(&cs2, &ctx, &mut rng(3));
        assert_eq!(sel.chosen, vec![3]);
        assert!((1..=4).contains(&sel.probes));
    }

    #[test]
    fn routing_table_prefers_known_contacts() {
        let mut cs: Vec<Candidate> = (0..6).map(cand).collect();
        cs[4].in_routing_table = true;
        let ctx = SelectionContext::default();
        assert!(firsts(&RoutingTable, &cs, &ctx).iter().all(|&i| i == 4));
        assert_eq!(RoutingTable.choose(&cs, &ctx, &mut rng(0)).probes, 1);
    }

    #[test]
    fn as_based_picks_same_as_else_falls_back() {
        let mut cs: Vec<Candidate> = (0..6).map(cand).collect();
        for (i, c) in cs.iter_mut().enumerate() {
            c.as_number = 100 + i as u32;
        }
        let ctx = SelectionContext {
            caller_as: 102,
            callee_as: 105,
            k: 2,
            ..Default::default()
        };
        for seed in 0..50 {
            let mut s = AsBased.choose(&cs, &ctx, &mut rng(seed)).chosen;
            s.sort_unstable();
            assert_eq!(s, vec![2, 5]);
        }
        // No candidate in either AS: still a relay (fallback).
        let none = SelectionContext {
            caller_as: 1,
            callee_as: 2,
            k: 1,
            ..ctx
        };
        let f = firsts(&AsBased, &cs, &none);
        assert_eq!(f.len(), 200);
        assert!(f.iter().any(|&i| i != f[0]), "fallback is random");
    }

    #[test]
    fn prefix_picks_longest_common_prefix() {
        let addrs = [0x0a00_0000u32, 0xc0a8_0101, 0xc0a8_01f0, 0x0b00_0000];
        let cs: Vec<Candidate> = addrs
            .iter()
            .enumerate()
            .map(|(i, &a)| Candidate {
                prefix: Ipv4Prefix::new(a, 32),
                ..cand(i as u64)
            })
            .collect();
        let ctx = SelectionContext {
            caller_prefix: Ipv4Prefix::new(0xc0a8_0102, 32), // shares 30 bits with [1]
            callee_prefix: Ipv4Prefix::new(0x5000_0000, 32),
            ..Default::default()
        };
        assert!(firsts(&Prefix, &cs, &ctx).iter().all(|&i| i == 1));
        // The callee side counts too.
        let ctx2 = SelectionContext {
            callee_prefix: Ipv4Prefix::new(0x0b00_0001, 32),
            caller_prefix: Ipv4Prefix::new(0x5000_0000, 32),
            ..ctx
        };
        assert!(firsts(&Prefix, &cs, &ctx2).iter().all(|&i| i == 3));
    }

    #[test]
    fn min_rtt_picks_least_added_delay_and_probes_all() {
        let rtts = [(80.0, 90.0), (30.0, 40.0), (10.0, 200.0), (35.0, 30.0)];
        let cs: Vec<Candidate> = rtts
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| Candidate {
                rtt_caller_ms: a,
                rtt_callee_ms: b,
                ..cand(i as u64)
            })
            .collect();
        let ctx = SelectionContext {
            k: 2,
            ..Default::default()
        };
        let sel = MinRtt.choose(&cs, &ctx, &mut rng(0));
        assert_eq!(sel.chosen, vec![3, 1]);
        assert_eq!(sel.probes, 4);
    }

    #[test]
    fn netmax_picks_most_spare_capacity() {
        let spare = [300, 5000, 100, 5000, 64, 63];
        let mut cs: Vec<Candidate> = spare
            .iter()
            .enumerate()
            .map(|(i, &s)| Candidate {
                spare_uplink_kbps: s,
                ..cand(i as u64)
            })
            .collect();
        cs[3].free_slots = 0; // full: refuses despite its bandwidth
        let ctx = SelectionContext {
            k: 3,
            ..Default::default()
        };
        assert_eq!(NetMax.choose(&cs, &ctx, &mut rng(0)).chosen, vec![1, 0, 2]);
        // 63 kb/s cannot carry 64 kb/s voice, but can carry 8 kb/s.
        let all = SelectionContext { k: 6, ..ctx };
        assert_eq!(
            NetMax.choose(&cs, &all, &mut rng(0)).chosen,
            vec![1, 0, 2, 4]
        );
        let low = SelectionContext {
            profile: CodecProfile::VOICE_8,
            ..all
        };
        assert_eq!(
            NetMax.choose(&cs, &low, &mut rng(0)).chosen,
            vec![1, 0, 2, 4, 5]
        );
        // Video needs 256 kb/s.
        let video = SelectionContext {
            profile: CodecProfile::VIDEO_256,
            ..all
        };
        assert_eq!(NetMax.choose(&cs, &video, &mut rng(0)).chosen, vec![1, 0]);
    }

    #[test]
    fn threshold_takes_most_bandwidth_within_200ms_else_random() {
        // (caller rtt, callee rtt, spare): added = (a + b) / 2.
        let rows = [
            (100.0, 100.0, 900),  // 100 ms added
            (300.0, 200.0, 5000), // 250 ms: over the bound despite its bandwidth
            (150.0, 250.0, 1200), // exactly 200 ms: within
            (50.0, 50.0, 400),
        ];
        let cs: Vec<Candidate> = rows
            .iter()
            .enumerate()
            .map(|(i, &(a, b, s))| Candidate {
                rtt_caller_ms: a,
                rtt_callee_ms: b,
                spare_uplink_kbps: s,
                ..cand(i as u64)
            })
            .collect();
        let ctx = SelectionContext::default();
        let sel = Threshold::default().choose(&cs, &ctx, &mut rng(0));
        assert_eq!(sel.chosen, vec![2]);
        assert_eq!(sel.probes, 4);
        let k3 = SelectionContext { k: 3, ..ctx };
        assert_eq!(
            Threshold::default().choose(&cs, &k3, &mut rng(0)).chosen,
            vec![2, 0, 3]
        );

        // All over the bound: random.
        let slow: Vec<Candidate> = (0..5)
            .map(|i| Candidate {
                rtt_caller_ms: 500.0,
                spare_uplink_kbps: 100 + i as u32,
                ..cand(i)
            })
            .collect();
        let f = firsts(&Threshold::default(), &slow, &ctx);
        assert_eq!(f.len(), 200);
        assert!(f.iter().any(|&i| i != f[0]));
    }

    #[test]
    fn load_balanced_picks_least_loaded() {
        let loads = [0.5, 0.1, 0.9, 0.3];
        let cs: Vec<Candidate> = loads
            .iter()
            .enumerate()
            .map(|(i, &l)| Candidate {
                load: l,
                ..cand(i as u64)
            })
            .collect();
        let ctx = SelectionContext {
            k: 2,
            ..Default::default()
        };
        assert_eq!(
            LoadBalanced.choose(&cs, &ctx, &mut rng(0)).chosen,
            vec![1, 3]
        );
    }

    #[test]
    fn annoyed_relays_refuse() {
        let busy = AnnoyanceInputs {
            cpu: 0.9,
            bandwidth: 0.9,
            interactivity: 1.0,
        };
        let mild = AnnoyanceInputs {
            cpu: 0.5,
            bandwidth: 0.3,
            interactivity: 0.2,
        };
        let idle = AnnoyanceInputs {
            cpu: 0.05,
            bandwidth: 0.0,
            interactivity: 0.0,
        };
        let cs: Vec<Candidate> = [busy, mild, busy, idle]
            .iter()
            .enumerate()
            .map(|(i, &a)| Candidate {
                annoyance: a,
                ..cand(i as u64)
            })
            .collect();
        let ctx = SelectionContext::default();
        let thr = Annoyance::default();
        let f = firsts(&thr, &cs, &ctx);
        assert!(f.iter().all(|&i| i == 1 || i == 3));
        assert!(f.contains(&1) && f.contains(&3));
        let real = Annoyance {
            form: AnnoyanceForm::real_valued(),
        };
        let k3 = SelectionContext { k: 3, ..ctx };
        let sel = real.choose(&cs, &k3, &mut rng(0));
        assert_eq!(
            sel.chosen,
            vec![3, 1],
            "least annoyed first; busy ones refuse"
        );
        assert_eq!(sel.probes, 4);
        // Everyone annoyed: no relay.
        let all_busy: Vec<Candidate> = (0..3)
            .map(|i| Candidate {
                annoyance: busy,
                ..cand(i)
            })
            .collect();
        assert!(thr.choose(&all_busy, &ctx, &mut rng(0)).chosen.is_empty());
        assert_eq!(thr.choose(&all_busy, &ctx, &mut rng(0)).probes, 3);
    }

    #[test]
    fn constraints_apply_to_every_strategy() {
        // Candidate 0 is best on every criterion but fails the uptime bound;
        // candidate 1 fails the RTT bound, 2 the loss bound; only 3 passes.
        let mut cs: Vec<Candidate> = (0..4).map(cand).collect();
        cs[0].uptime_s = 5.0;
        cs[0].in_routing_table = true;
        cs[0].spare_uplink_kbps = 10_000;
        cs[0].rtt_caller_ms = 1.0;
        cs[1].rtt_callee_ms = 900.0;
        cs[2].loss = 0.3;
        cs[3].load = 0.5;
        cs[3].rtt_caller_ms = 120.0;
        let ctx = SelectionContext {
            k: 2,
            constraints: Constraints {
                max_rtt_ms: Some(400.0),
                max_loss: Some(0.05),
                min_uptime_s: Some(600.0),
            },
            ..Default::default()
        };
        for s in all() {
            for seed in 0..20 {
                assert_eq!(
                    s.choose(&cs, &ctx, &mut rng(seed)).chosen,
                    vec![3],
                    "{}",
                    s.name()
                );
            }
        }
    }
}
