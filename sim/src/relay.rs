//! Call reliability over churning relays, at the session level.
//!
//! A population of peers, every one able to relay, alternates between up and
//! down periods drawn from any [`Dist`]. Calls start at uniformly random
//! instants after a warm-up (so the population is close to its stationary
//! state), sample a local-random candidate set of up peers, and let a
//! [`RelayStrategy`] pick their relays. No packets are simulated: a call
//! survives on a relay exactly as long as that relay's up period lasts.
//! Relay capacity is not a limit here (Baset & Schulzrinne tuned the load so
//! calls fail only through relay failure); the strategies' capacity checks
//! still apply to the candidates' advertised spare capacity, which is ample.
//!
//! Failover ([`Failover`]):
//! - **Active**: media flows through all `k` relays; the call succeeds if at
//!   least one of them stays up for the whole call. `k = 1` is no failover.
//! - **Passive**: one relay at a time; when it leaves, the loss is noticed
//!   after `detect_s`, a new relay is chosen, and the gap counts as an
//!   interruption. A call succeeds if it is never interrupted; it is dropped
//!   if no relay can be found or the switch budget runs out.
//!
//! Randomness comes from [`derive_seed`] streams: one per peer (its up/down
//! timeline) and one per call (start, duration, candidate sample, the
//! strategy's draws). Runs that differ only in `k` or the failover mode
//! therefore share their sample path (common random numbers): with the
//! Random strategy, call `i` gets the same first relay for every `k`.
//!
//! Analysis for comparison: if a relay is picked uniformly among the up peers
//! at a random instant, its remaining up time has the equilibrium (residual)
//! distribution of the up-time `F`, `P(R > t) = ∫_t^∞ (1 − F(x)) dx / E[X]`.
//! Exponential: `e^(−t/L)`. Lomax (shifted Pareto) with shape `a` and scale
//! `b`: `(1 + t/b)^(−(a−1))`. With `k` independent relays under active
//! failover, success is `1 − (1 − P(R > T))^k`.

use peerlab_churn::{Dist, InvalidParam};
use peerlab_core::relay::{
    Candidate, Constraints, Ipv4Prefix, RelayStrategy, Selection, SelectionContext,
};
use peerlab_core::rng::{NodeRng, derive_seed};
use rand::{RngExt, SeedableRng};

/// How a call copes with losing relays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Failover {
    /// Media through all `k` relays; the call lives while one is up.
    Active {
        /// Number of relays (1 = no failover).
        k: usize,
    },
    /// One relay; detect its loss within `detect_s`, then switch.
    Passive {
        /// Seconds from the relay's departure to the switch.
        detect_s: f64,
        /// The most switches a call may make before it is dropped.
        max_switches: u32,
    },
}

/// A reliability run.
#[derive(Clone, Debug, PartialEq)]
pub struct ReliabilityConfig {
    /// Peers in the population (all can relay).
    pub nodes: usize,
    /// Up-period distribution, seconds.
    pub up: Dist,
    /// Down-period distribution, seconds.
    pub down: Dist,
    /// The equilibrium residual of `up` and `down`, if known: each peer's
    /// first period is drawn from it, so the population is stationary from
    /// time 0 (exponential: the same distribution; Lomax `(a, b)`: Lomax
    /// `(a − 1, b)`). `None` draws the first period from `up`/`down` and
    /// relies on the warm-up.
    pub residual: Option<(Dist, Dist)>,
    /// Time before the first call, letting the population approach its
    /// stationary state, seconds.
    pub warmup_s: f64,
    /// Calls start uniformly in `[warmup_s, warmup_s + horizon_s)`.
    pub horizon_s: f64,
    /// Number of calls.
    pub calls: usize,
    /// Call-duration distribution, seconds.
    pub call_duration: Dist,
    /// Size of the local-random candidate set offered to the strategy.
    pub candidates: usize,
    /// Failover mode.
    pub failover: Failover,
    /// Constraints every chosen relay must meet (uptime is the one this
    /// scenario models; RTT and loss are the defaults of [`Candidate`]).
    pub constraints: Constraints,
    /// Master seed.
    pub seed: u64,
}

impl ReliabilityConfig {
    /// Baset & Schulzrinne's exponential setup: up and down times with mean
    /// 300 min, calls of `duration_s`, active failover over `k` relays.
    /// The error names a bad `duration_s`.
    pub fn baset_exponential(
        duration_s: f64,
        k: usize,
        calls: usize,
        seed: u64,
    ) -> Result<Self, InvalidParam> {
        let life = Dist::exponential(300.0 * 60.0)?;
        Ok(ReliabilityConfig {
            nodes: 20_000,
            up: life.clone(),
            down: life.clone(),
            residual: Some((life.clone(), life)),
            warmup_s: 2.0 * 86_400.0,
            horizon_s: 10.0 * 86_400.0,
            calls,
            call_duration: Dist::constant(duration_s)?,
            candidates: 8,
            failover: Failover::Active { k },
            constraints: Constraints::default(),
            seed,
        })
    }
}

/// A configuration the run cannot use.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RelayRunError {
    /// A parameter is out of range; the message names it.
    #[error("invalid reliability config: {0}")]
    Invalid(&'static str),
}

/// Why a call ended badly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFailure {
    /// No up candidate could be found or none was accepted.
    NoRelay,
    /// Every relay left before the call ended (active failover).
    RelayLost,
    /// Passive failover ran out of switches.
    TooManySwitches,
}

/// One call's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct CallOutcome {
    /// Start time, seconds.
    pub start_s: f64,
    /// Duration, seconds.
    pub duration_s: f64,
    /// Relays used over the call.
    pub relays_used: u32,
    /// Times the call's relay left mid-call, each an interruption until the
    /// switch (passive failover; always 0 under active failover).
    pub interruptions: u32,
    /// Total time without a working relay, seconds.
    pub interrupted_s: f64,
    /// Candidates contacted over all selections.
    pub probes: u32,
    /// `None` if the call ran to its end; interruptions alone are not a
    /// failure here (see [`CallOutcome::success`]).
    pub failure: Option<CallFailure>,
}

impl CallOutcome {
    /// Ran to its end without any interruption.
    pub fn success(&self) -> bool {
        self.failure.is_none() && self.interruptions == 0
    }
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct ReliabilityReport {
    /// Every call, in order.
    pub outcomes: Vec<CallOutcome>,
}

impl ReliabilityReport {
    /// Calls placed.
    pub fn calls(&self) -> usize {
        self.outcomes.len()
    }

    /// Calls that succeeded.
    pub fn successes(&self) -> usize {
        self.outcomes.iter().filter(|o| o.success()).count()
    }

    /// The success rate (0 for no calls).
    pub fn success_rate(&self) -> f64 {
        if self.outcomes.is_empty() {
            0.0
        } else {
            self.successes() as f64 / self.calls() as f64
        }
    }

    /// The normal-approximation 95% confidence interval of the success rate.
    pub fn ci95(&self) -> (f64, f64) {
        let p = self.success_rate();
        let h = 1.96 * binomial_se(p, self.calls());
        ((p - h).max(0.0), (p + h).min(1.0))
    }

    /// Mean interruptions per call.
    pub fn mean_interruptions(&self) -> f64 {
        mean(self.outcomes.iter().map(|o| f64::from(o.interruptions)))
    }

    /// Mean interrupted seconds per call.
    pub fn mean_interrupted_s(&self) -> f64 {
        mean(self.outcomes.iter().map(|o| o.interrupted_s))
    }

    /// Mean probes per call.
    pub fn mean_probes(&self) -> f64 {
        mean(self.outcomes.iter().map(|o| f64::from(o.probes)))
    }

    /// Calls that failed for `why`.
    pub fn failures(&self, why: CallFailure) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.failure == Some(why))
            .count()
    }
}

fn mean(it: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = it.len();
    if n == 0 {
        0.0
    } else {
        it.sum::<f64>() / n as f64
    }
}

/// Standard error of a binomial proportion `p` over `n` trials.
pub fn binomial_se(p: f64, n: usize) -> f64 {
    if n == 0 {
        return f64::INFINITY;
    }
    (p * (1.0 - p) / n as f64).max(0.0).sqrt()
}

/// Analytic success under active failover with `k` independent relays whose
/// residual up time survives the call with probability `survive`.
pub fn active_success(survive: f64, k: usize) -> f64 {
    let k = i32::try_from(k).unwrap_or(i32::MAX);
    1.0 - (1.0 - survive).powi(k)
}

/// Residual survival of an exponential up time with mean `mean_s`.
pub fn exponential_residual(t_s: f64, mean_s: f64) -> f64 {
    (-t_s / mean_s).exp()
}

/// Residual (equilibrium) survival of a Lomax up time with shape `a > 1` and
/// scale `b`: `(1 + t/b)^(−(a−1))`.
pub fn lomax_residual(t_s: f64, a: f64, b_s: f64) -> f64 {
    (1.0 + t_s / b_s).powf(-(a - 1.0))
}

/// One peer's up periods, sorted, as `(start, end)` seconds. Shared with
/// the call scenario ([`crate::calls`]), which builds it from churn events.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Timeline {
    ups: Vec<(f64, f64)>,
}

impl Timeline {
    /// A timeline from up periods sorted by start, non-overlapping; an
    /// open period ends at `f64::INFINITY`.
    pub(crate) fn from_ups(ups: Vec<(f64, f64)>) -> Timeline {
        Timeline { ups }
    }

    fn generate(
        up: &Dist,
        down: &Dist,
        residual: Option<&(Dist, Dist)>,
        end_s: f64,
        rng: &mut NodeRng,
    ) -> Timeline {
        let (mu, md) = (up.mean(), down.mean());
        let p_up = if mu.is_finite() && md.is_finite() && mu + md > 0.0 {
            mu / (mu + md)
        } else {
            0.5
        };
        let mut is_up = rng.random::<f64>() < p_up;
        let mut t = 0.0f64;
        let mut ups = Vec::new();
        let mut first = true;
        // Non-positive draws still advance by a hair, so the loop ends.
        while t < end_s {
            let (u, w) = match residual {
                Some((ru, rd)) if first => (ru, rd),
                _ => (up, down),
            };
            first = false;
            let d = if is_up { u.sample(rng) } else { w.sample(rng) };
            let d = if d.is_finite() && d > 1e-9 { d } else { 1e-9 };
            if is_up {
                ups.push((t, t + d));
            }
            t += d;
            is_up = !is_up;
        }
        Timeline { ups }
    }

    /// The up period containing `t`, if the peer is up then.
    pub(crate) fn session_at(&self, t: f64) -> Option<(f64, f64)> {
        let i = self.ups.partition_point(|&(s, _)| s <= t);
        let (s, e) = *self.ups.get(i.checked_sub(1)?)?;
        (t < e).then_some((s, e))
    }
}

/// Runs the reliability scenario with `strategy`.
pub fn run_reliability(
    cfg: &ReliabilityConfig,
    strategy: &dyn RelayStrategy,
) -> Result<ReliabilityReport, RelayRunError> {
    validate(cfg)?;
    let tail = cfg.call_duration.quantile(0.99999);
    let tail = if tail.is_finite() {
        tail
    } else {
        cfg.horizon_s
    };
    let end = cfg.warmup_s + cfg.horizon_s + tail.max(0.0) + 1.0;
    let nodes: Vec<Timeline> = (0..cfg.nodes)
        .map(|j| {
            let mut r = NodeRng::seed_from_u64(derive_seed(cfg.seed, "relay-node", j as u64));
            Timeline::generate(&cfg.up, &cfg.down, cfg.residual.as_ref(), end, &mut r)
        })
        .collect();
    let outcomes = (0..cfg.calls)
        .map(|i| {
            let mut r = NodeRng::seed_from_u64(derive_seed(cfg.seed, "relay-call", i as u64));
            place_call(cfg, &nodes, strategy, &mut r)
        })
        .collect();
    Ok(ReliabilityReport { outcomes })
}

fn validate(cfg: &ReliabilityConfig) -> Result<(), RelayRunError> {
    let bad = |c: bool, m| {
        if c {
            Err(RelayRunError::Invalid(m))
        } else {
            Ok(())
        }
    };
    bad(cfg.nodes == 0, "nodes must be at least 1")?;
    bad(cfg.candidates == 0, "candidates must be at least 1")?;
    bad(
        !(cfg.warmup_s.is_finite() && cfg.warmup_s >= 0.0),
        "warmup_s must be finite and >= 0",
    )?;
    bad(
        !(cfg.horizon_s.is_finite() && cfg.horizon_s > 0.0),
        "horizon_s must be finite and > 0",
    )?;
    match cfg.failover {
        Failover::Active { k } => bad(k == 0, "active failover needs k >= 1"),
        Failover::Passive { detect_s, .. } => bad(
            !(detect_s.is_finite() && detect_s >= 0.0),
            "detect_s must be finite and >= 0",
        ),
    }
}

/// Samples up to `cfg.candidates` distinct peers that are up at `t`, and asks
/// the strategy for `k` of them. Returns the chosen peers' sessions.
fn select(
    cfg: &ReliabilityConfig,
    nodes: &[Timeline],
    strategy: &dyn RelayStrategy,
    t: f64,
    k: usize,
    rng: &mut NodeRng,
) -> (Vec<(f64, f64)>, u32) {
    let mut ids: Vec<usize> = Vec::with_capacity(cfg.candidates);
    let mut sessions = Vec::with_capacity(cfg.candidates);
    let budget = cfg.candidates.saturating_mul(64).max(256);
    for _ in 0..budget {
        if ids.len() >= cfg.candidates {
            break;
        }
        let j = rng.random_range(0..nodes.len());
        if ids.contains(&j) {
            continue;
        }
        if let Some(s) = nodes[j].session_at(t) {
            ids.push(j);
            sessions.push(s);
        }
    }
    let cands: Vec<Candidate> = ids
        .iter()
        .zip(&sessions)
        .map(|(&j, &(s, _))| Candidate {
            id: j as u64,
            uptime_s: t - s,
            // Addresses are spread so prefix and AS strategies see distinct
            // peers; this scenario does not model topology.
            prefix: Ipv4Prefix::new((j as u32).wrapping_mul(2_654_435_761), 32),
            as_number: j as u32,
            ..Candidate::default()
        })
        .collect();
    let ctx = SelectionContext {
        k,
        constraints: cfg.constraints,
        ..SelectionContext::default()
    };
    let Selection { chosen, probes } = strategy.choose(&cands, &ctx, rng);
    let picked = chosen
        .iter()
        .filter_map(|&i| sessions.get(i).copied())
        .collect();
    (picked, probes)
}

fn place_call(
    cfg: &ReliabilityConfig,
    nodes: &[Timeline],
    strategy: &dyn RelayStrategy,
    rng: &mut NodeRng,
) -> CallOutcome {
    let start = cfg.warmup_s + cfg.horizon_s * rng.random::<f64>();
    let d = cfg.call_duration.sample(rng);
    let duration = if d.is_finite() { d.max(0.0) } else { 0.0 };
    let end = start + duration;
    let mut out = CallOutcome {
        start_s: start,
        duration_s: duration,
        relays_used: 0,
        interruptions: 0,
        interrupted_s: 0.0,
        probes: 0,
        failure: None,
    };
    match cfg.failover {
        Failover::Active { k } => {
            let (picked, probes) = select(cfg, nodes, strategy, start, k, rng);
            out.probes = probes;
            out.relays_used = picked.len() as u32;
            if picked.is_empty() {
                out.failure = Some(CallFailure::NoRelay);
            } else if picked.iter().all(|&(_, e)| e < end) {
                out.failure = Some(CallFailure::RelayLost);
            }
        }
        Failover::Passive {
            detect_s,
            max_switches,
        } => {
            let mut t = start;
            loop {
                let (picked, probes) = select(cfg, nodes, strategy, t, 1, rng);
                out.probes = out.probes.saturating_add(probes);
                let Some(&(_, leaves)) = picked.first() else {
                    out.failure = Some(CallFailure::NoRelay);
                    break;
                };
                out.relays_used += 1;
                if leaves >= end {
                    break;
                }
                // The relay leaves mid-call: media stops until the switch.
                out.interruptions += 1;
                let resume = leaves + detect_s;
                out.interrupted_s += resume.min(end) - leaves;
                if resume >= end {
                    break;
                }
                if out.interruptions > max_switches {
                    out.failure = Some(CallFailure::TooManySwitches);
                    break;
                }
                t = resume;
            }
        }
    }
    out
}
