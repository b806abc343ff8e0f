//! What a call run records: one [`CallRecord`] per call, [`NodeStats`] per
//! node, one [`SelectionRecord`] per relay selection, and the
//! [`CallSummary`] computed from them.

use peerlab_churn::NatClass;
use serde::Serialize;

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The callee was offline when the call was placed.
    UserNotFound,
    /// The call needed a relay and no online node could relay it (none of
    /// the classes the connectivity oracle allows was among the candidates).
    NoConnectivity,
    /// Candidates existed but every one was refused: no slot, no uplink,
    /// annoyed, or outside the constraints.
    RelayRefused,
    /// The call lost its relays mid-call and could not recover: all `k`
    /// relays left (active failover), or no new relay was found or the
    /// switch budget ran out (passive failover).
    RelayLost,
}

impl FailureReason {
    /// Every reason.
    pub const ALL: [FailureReason; 4] = [
        FailureReason::UserNotFound,
        FailureReason::NoConnectivity,
        FailureReason::RelayRefused,
        FailureReason::RelayLost,
    ];

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            FailureReason::UserNotFound => "user-not-found",
            FailureReason::NoConnectivity => "no-connectivity",
            FailureReason::RelayRefused => "relay-refused",
            FailureReason::RelayLost => "relay-lost",
        }
    }
}

/// How media flowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathType {
    /// Straight to the other side's (reflexive) address.
    Direct,
    /// After hole punching.
    Punched,
    /// Through UDP relays.
    RelayUdp,
    /// Through TCP relays on public nodes.
    RelayTcp,
}

impl PathType {
    /// Whether relays carried the media.
    pub fn relayed(self) -> bool {
        matches!(self, PathType::RelayUdp | PathType::RelayTcp)
    }

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            PathType::Direct => "direct",
            PathType::Punched => "punched",
            PathType::RelayUdp => "relay-udp",
            PathType::RelayTcp => "relay-tcp",
        }
    }
}

/// Which streams a relay forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Both: caller → callee and back.
    Both,
    /// Caller → callee only.
    Forward,
    /// Callee → caller only.
    Reverse,
}

impl Direction {
    /// Streams forwarded.
    pub fn streams(self) -> u32 {
        match self {
            Direction::Both => 2,
            _ => 1,
        }
    }
}

/// One relay's service to one call.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RelayUse {
    /// The relay.
    pub node: u32,
    /// Streams it forwarded.
    pub direction: Direction,
    /// When it was admitted, seconds.
    pub from_s: f64,
    /// When it was released (call end, failure, or its own departure).
    pub to_s: f64,
    /// Whether it left the network while serving.
    pub departed: bool,
}

/// One call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    /// Position in the call stream (the same call under every strategy).
    pub id: u64,
    /// Caller.
    pub caller: u32,
    /// Callee.
    pub callee: u32,
    /// Placed at, seconds.
    pub start_s: f64,
    /// The duration the workload asked for, seconds.
    pub nominal_s: f64,
    /// When media stopped for good, seconds.
    pub end_s: f64,
    /// Whether the call started in the measurement phase.
    pub measured: bool,
    /// `None` if the call ran to its end (or to an endpoint's departure).
    pub failure: Option<FailureReason>,
    /// It ended early because the caller or callee went offline.
    pub ended_by_endpoint: bool,
    /// How media flowed (`None` if the call never set up).
    pub path: Option<PathType>,
    /// Setup latency, ms (see the module documentation for what it holds).
    pub setup_ms: Option<f64>,
    /// The DHT lookup of the callee, ms (with `lookup`; `None` without, or
    /// when the lookup was not issued or did not finish). Included in
    /// `setup_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_ms: Option<f64>,
    /// One-way delay of the media path at setup, ms (through the best
    /// relay of each direction when relayed; the mean of both directions).
    pub one_way_ms: Option<f64>,
    /// One-way delay over the direct IP path, ms.
    pub direct_one_way_ms: f64,
    /// Every relay that served, in order.
    pub relays: Vec<RelayUse>,
    /// Relay changes after setup (passive failover).
    pub switches: u32,
    /// Candidates contacted over all selections.
    pub probes: u32,
    /// Times media stopped mid-call.
    pub interruptions: u32,
    /// Total time without media, seconds.
    pub interrupted_s: f64,
    /// Media frames delivered, both directions.
    pub frames: u64,
}

impl CallRecord {
    /// The delay relaying added at setup, ms (0 for end-to-end calls).
    pub fn added_delay_ms(&self) -> Option<f64> {
        self.one_way_ms
            .map(|d| (d - self.direct_one_way_ms).max(0.0))
    }

    /// Ran to its end without failure or interruption.
    pub fn success(&self) -> bool {
        self.failure.is_none() && self.interruptions == 0
    }
}

/// What one node did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeStats {
    /// Its NAT class.
    pub class: Option<NatClass>,
    /// Calls it placed.
    pub calls_made: u32,
    /// Bytes it sent and received in calls it placed.
    pub own_bytes: u64,
    /// Bytes it sent and received in calls it answered.
    pub callee_bytes: u64,
    /// Calls it relayed (each admission counts once).
    pub relayed_calls: u32,
    /// Of which over TCP.
    pub relayed_tcp: u32,
    /// Bytes it received and sent as a relay.
    pub relayed_bytes: u64,
    /// Of which as a TCP relay.
    pub relayed_tcp_bytes: u64,
    /// Seconds during which it relayed and its af() said annoyed.
    pub annoyed_s: f64,
    /// Times it was offered to a strategy as a candidate.
    pub offered: u32,
}

/// One relay selection.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SelectionRecord {
    /// The call.
    pub call: u64,
    /// Candidates offered.
    pub offered: u32,
    /// Candidates contacted.
    pub probes: u32,
    /// Spare uplink of the first relay admitted, after admission, kb/s.
    pub spare_kbps: Option<u32>,
}

/// The result of a call run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallReport {
    /// The strategy's name.
    pub strategy: String,
    /// Every call placed, in order.
    pub calls: Vec<CallRecord>,
    /// Per node, by id.
    pub nodes: Vec<NodeStats>,
    /// Every selection of a measured call.
    pub selections: Vec<SelectionRecord>,
    /// Codec rate, kb/s.
    pub kbps: u32,
}

/// The headline figures of a run (measured calls only).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallSummary {
    /// Calls placed in the measurement phase.
    pub calls: usize,
    /// Calls without failure or interruption.
    pub successes: usize,
    /// Failures per reason, in [`FailureReason::ALL`] order.
    pub failures: [usize; 4],
    /// Calls per path type: direct, punched, UDP relay, TCP relay.
    pub paths: [usize; 4],
    /// Mean added delay over relayed calls, ms.
    pub added_mean_ms: f64,
    /// Median added delay over relayed calls, ms.
    pub added_p50_ms: f64,
    /// 95th percentile of added delay over relayed calls, ms.
    pub added_p95_ms: f64,
    /// Mean setup latency, ms.
    pub setup_mean_ms: f64,
    /// Jain's index of relayed bytes over the nodes ever offered as
    /// candidates.
    pub jain: f64,
    /// Public (open) nodes' share of relayed bytes.
    pub public_relay_share: f64,
    /// Public nodes' share of the population.
    pub public_population_share: f64,
    /// 5th percentile of the chosen relay's spare uplink after admission,
    /// kb/s.
    pub spare_p5_kbps: f64,
    /// Mean candidates contacted per selection.
    pub probes_per_selection: f64,
    /// Mean interruptions per relayed call.
    pub interruptions_per_relayed_call: f64,
    /// Mean seconds annoyed per node that relayed.
    pub annoyed_s_per_relay: f64,
}

/// The `q`-quantile (nearest rank) of `v`; NaN for an empty slice.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Jain's fairness index `(Σx)² / (n Σx²)`; 1 for an empty or all-zero set.
pub fn jain(x: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut s, mut s2) = (0.0, 0.0, 0.0);
    for v in x {
        n += 1.0;
        s += v;
        s2 += v * v;
    }
    if s2 <= 0.0 { 1.0 } else { s * s / (n * s2) }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

impl CallReport {
    /// Measured calls.
    pub fn measured(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.iter().filter(|c| c.measured)
    }

    /// The headline figures.
    pub fn summary(&self) -> CallSummary {
        let mut failures = [0usize; 4];
        let mut paths = [0usize; 4];
        let mut added = Vec::new();
        let mut setup = Vec::new();
        let (mut calls, mut successes, mut relayed, mut interruptions) = (0, 0, 0usize, 0u64);
        for c in self.measured() {
            calls += 1;
            successes += usize::from(c.success());
            if let Some(f) = c.failure {
                failures[f as usize] += 1;
            }
            if let Some(p) = c.path {
                paths[p as usize] += 1;
                if p.relayed() {
                    relayed += 1;
                    interruptions += u64::from(c.interruptions);
                    if let Some(a) = c.added_delay_ms() {
                        added.push(a);
                    }
                }
            }
            if let Some(s) = c.setup_ms {
                setup.push(s);
            }
        }
        let pool: Vec<&NodeStats> = self.nodes.iter().filter(|n| n.offered > 0).collect();
        let total: f64 = self.nodes.iter().map(|n| n.relayed_bytes as f64).sum();
        let public: f64 = self
            .nodes
            .iter()
            .filter(|n| n.class == Some(NatClass::Open))
            .map(|n| n.relayed_bytes as f64)
            .sum();
        let n_public = self
            .nodes
            .iter()
            .filter(|n| n.class == Some(NatClass::Open))
            .count();
        let relays: Vec<f64> = self
            .nodes
            .iter()
            .filter(|n| n.relayed_calls > 0)
            .map(|n| n.annoyed_s)
            .collect();
        let mut spare: Vec<f64> = self
            .selections
            .iter()
            .filter_map(|s| s.spare_kbps.map(f64::from))
            .collect();
        let probes: Vec<f64> = self
            .selections
            .iter()
            .map(|s| f64::from(s.probes))
            .collect();
        CallSummary {
            calls,
            successes,
            failures,
            paths,
            added_mean_ms: mean(&added),
            added_p50_ms: quantile(&mut added.clone(), 0.5),
            added_p95_ms: quantile(&mut added, 0.95),
            setup_mean_ms: mean(&setup),
            jain: jain(pool.iter().map(|n| n.relayed_bytes as f64)),
            public_relay_share: if total > 0.0 { public / total } else { 0.0 },
            public_population_share: n_public as f64 / self.nodes.len().max(1) as f64,
            spare_p5_kbps: quantile(&mut spare, 0.05),
            probes_per_selection: mean(&probes),
            interruptions_per_relayed_call: if relayed == 0 {
                0.0
            } else {
                interruptions as f64 / relayed as f64
            },
            annoyed_s_per_relay: if relays.is_empty() {
                0.0
            } else {
                mean(&relays)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_and_quantile() {
        assert_eq!(jain([1.0, 1.0, 1.0].into_iter()), 1.0);
        assert!((jain([1.0, 0.0, 0.0, 0.0].into_iter()) - 0.25).abs() < 1e-12);
        assert_eq!(jain(std::iter::empty()), 1.0);
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), 3.0);
        assert_eq!(quantile(&mut v, 0.05), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 5.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }
}
