//! Relay selection for relayed calls.
//!
//! When two peers cannot reach each other directly, media flows through one or
//! more peers acting as relays. This module holds the pure pieces of that
//! decision: what a caller knows about each candidate relay ([`Candidate`]),
//! what the call needs ([`SelectionContext`], [`CodecProfile`],
//! [`Constraints`]), how much a relay can carry ([`RelayCapacity`]), and the
//! strategies that choose ([`RelayStrategy`] and its implementations in
//! [`strategies`]).
//!
//! Every strategy returns a [`Selection`]: the indices of up to `ctx.k`
//! chosen candidates (several for redundancy under active failover) and the
//! number of candidates it had to contact to decide. Strategies never panic:
//! empty candidate sets, `k = 0`, non-finite measurements and `k` larger than
//! the set all give a (possibly short or empty) selection.
//!
//! Sources: the approaches are those of Singh & Schulzrinne's P2P-SIP slides
//! (routing-table, AS-number and IP-prefix based, random, annoyance function,
//! load balancing, constraints on RTT, loss and uptime, active and passive
//! failover), and Baset & Schulzrinne, "Reliability and Relay Selection in
//! P2P Communication Systems" (IPTComm 2010) for Random, NetMax, MinDelay and
//! Threshold.

mod annoyance;
pub mod strategies;

use crate::rng::NodeRng;
use rand::RngExt;

pub use annoyance::{AnnoyanceForm, AnnoyanceInputs, AnnoyanceWeights};
pub use strategies::{
    Annoyance, AsBased, LoadBalanced, MinRtt, NetMax, Prefix, Random, RoutingTable, Threshold,
};

/// A media codec's demand on a relay: the relay forwards `kbps` each way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecProfile {
    /// A short name for reports.
    pub name: &'static str,
    /// The bit rate a relay forwards for one call, in kb/s.
    pub kbps: u32,
}

impl CodecProfile {
    /// G.711-like voice at 64 kb/s: the default (20 ms frames).
    pub const VOICE_64: CodecProfile = CodecProfile {
        name: "voice-64",
        kbps: 64,
    };
    /// A low-rate voice codec (G.729-like) at 8 kb/s.
    pub const VOICE_8: CodecProfile = CodecProfile {
        name: "voice-8",
        kbps: 8,
    };
    /// Video at 256 kb/s, as in the seeds' video profile.
    pub const VIDEO_256: CodecProfile = CodecProfile {
        name: "video-256",
        kbps: 256,
    };
}

impl Default for CodecProfile {
    fn default() -> Self {
        CodecProfile::VOICE_64
    }
}

/// An IPv4 address, as a `u32` in host order, with a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ipv4Prefix {
    /// The address bits.
    pub addr: u32,
    /// The prefix length in bits (values above 32 are treated as 32).
    pub len: u8,
}

impl Ipv4Prefix {
    /// Creates a prefix.
    pub fn new(addr: u32, len: u8) -> Self {
        Ipv4Prefix { addr, len }
    }

    /// The number of leading bits `self` and `other` share, capped by both
    /// prefix lengths.
    pub fn common_len(&self, other: &Ipv4Prefix) -> u8 {
        let shared = (self.addr ^ other.addr).leading_zeros() as u8;
        shared.min(self.len.min(32)).min(other.len.min(32))
    }
}

/// What a caller knows or measures about one candidate relay.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The caller's own identifier for this candidate (a node index, say);
    /// strategies return positions in the slice, not this.
    pub id: u64,
    /// Round-trip time between the caller and the candidate, in ms.
    pub rtt_caller_ms: f64,
    /// Round-trip time between the candidate and the callee, in ms.
    pub rtt_callee_ms: f64,
    /// Loss rate on the relayed path, in `[0, 1]`.
    pub loss: f64,
    /// Free call slots.
    pub free_slots: u32,
    /// Spare uplink bandwidth, in kb/s.
    pub spare_uplink_kbps: u32,
    /// How long the candidate has been up, in seconds.
    pub uptime_s: f64,
    /// The candidate's autonomous system.
    pub as_number: u32,
    /// The candidate's address and the prefix it sits in.
    pub prefix: Ipv4Prefix,
    /// Utilisation of the relay's capacity, in `[0, 1]` (relayed load over
    /// what it can carry).
    pub load: f64,
    /// Whether the candidate is already in the caller's routing table.
    pub in_routing_table: bool,
    /// The relay's local state, from which it computes its annoyance.
    pub annoyance: AnnoyanceInputs,
}

impl Default for Candidate {
    fn default() -> Self {
        Candidate {
            id: 0,
            rtt_caller_ms: 50.0,
            rtt_callee_ms: 50.0,
            loss: 0.0,
            free_slots: 1,
            spare_uplink_kbps: 1000,
            uptime_s: 3600.0,
            as_number: 0,
            prefix: Ipv4Prefix::default(),
            load: 0.0,
            in_routing_table: false,
            annoyance: AnnoyanceInputs::default(),
        }
    }
}

impl Candidate {
    /// One-way delay of the relayed path, caller → relay → callee, in ms:
    /// half the sum of the two round-trip times.
    pub fn relayed_one_way_ms(&self) -> f64 {
        (self.rtt_caller_ms + self.rtt_callee_ms) / 2.0
    }

    /// The one-way delay relaying adds over the direct path, in ms. With no
    /// direct RTT known (the peers cannot reach each other), the whole relayed
    /// one-way delay counts as added. Never negative.
    pub fn added_delay_ms(&self, direct_rtt_ms: Option<f64>) -> f64 {
        let direct = direct_rtt_ms.map(|d| d / 2.0).unwrap_or(0.0);
        let added = self.relayed_one_way_ms() - direct;
        if added.is_nan() {
            f64::INFINITY
        } else {
            added.max(0.0)
        }
    }

    /// Whether the relay has a call slot and the uplink for `profile`.
    pub fn can_carry(&self, profile: CodecProfile) -> bool {
        self.free_slots >= 1 && self.spare_uplink_kbps >= profile.kbps
    }
}

/// Constraints that filter any strategy's candidates (Singh: "constraint
/// RTT, loss rate, uptime"). A `None` bound is not checked; a non-finite
/// measurement fails any bound set on it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Constraints {
    /// The largest allowed RTT to either end, in ms.
    pub max_rtt_ms: Option<f64>,
    /// The largest allowed loss rate.
    pub max_loss: Option<f64>,
    /// The smallest allowed uptime, in seconds.
    pub min_uptime_s: Option<f64>,
}

impl Constraints {
    /// Whether `c` meets every bound.
    pub fn admits(&self, c: &Candidate) -> bool {
        let rtt_ok = self
            .max_rtt_ms
            .is_none_or(|m| c.rtt_caller_ms <= m && c.rtt_callee_ms <= m);
        let loss_ok = self.max_loss.is_none_or(|m| c.loss <= m);
        let up_ok = self.min_uptime_s.is_none_or(|m| c.uptime_s >= m);
        rtt_ok && loss_ok && up_ok
    }
}

/// What the call asks of its relays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelectionContext {
    /// How many relays to choose (k > 1 for active failover).
    pub k: usize,
    /// The codec, which sets the uplink a relay must spare.
    pub profile: CodecProfile,
    /// Bounds every chosen relay must meet.
    pub constraints: Constraints,
    /// The caller's AS.
    pub caller_as: u32,
    /// The callee's AS.
    pub callee_as: u32,
    /// The caller's address.
    pub caller_prefix: Ipv4Prefix,
    /// The callee's address.
    pub callee_prefix: Ipv4Prefix,
    /// The direct caller–callee RTT if known, in ms.
    pub direct_rtt_ms: Option<f64>,
}

impl Default for SelectionContext {
    fn default() -> Self {
        SelectionContext {
            k: 1,
            profile: CodecProfile::VOICE_64,
            constraints: Constraints::default(),
            caller_as: 0,
            callee_as: 0,
            caller_prefix: Ipv4Prefix::default(),
            callee_prefix: Ipv4Prefix::default(),
            direct_rtt_ms: None,
        }
    }
}

impl SelectionContext {
    /// Whether `c` can serve this call: it meets the constraints and has the
    /// capacity for the codec. (Annoyance is the relay's own decision; see
    /// [`Annoyance`].)
    pub fn eligible(&self, c: &Candidate) -> bool {
        self.constraints.admits(c) && c.can_carry(self.profile)
    }
}

/// A strategy's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Positions in the candidate slice of the chosen relays, best first;
    /// at most `ctx.k`, no repeats.
    pub chosen: Vec<usize>,
    /// How many candidates were contacted to decide.
    pub probes: u32,
}

/// A relay-selection strategy.
pub trait RelayStrategy {
    /// A short name for reports.
    fn name(&self) -> &'static str;

    /// Chooses up to `ctx.k` relays among `cands`.
    fn choose(&self, cands: &[Candidate], ctx: &SelectionContext, rng: &mut NodeRng) -> Selection;
}

/// Why a relay refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every preallocated call slot is taken.
    NoSlot,
    /// The uplink cannot carry another call of this codec.
    NoBandwidth,
}

/// A relay's capacity: preallocated call slots (Skype: one call per relay)
/// and an uplink cap. A relay refuses calls beyond either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayCapacity {
    /// Total call slots.
    pub slots: u32,
    /// Uplink available for relaying, in kb/s.
    pub uplink_kbps: u32,
    used_slots: u32,
    used_kbps: u32,
}

impl RelayCapacity {
    /// A relay with `slots` call slots and `uplink_kbps` of uplink.
    pub fn new(slots: u32, uplink_kbps: u32) -> Self {
        RelayCapacity {
            slots,
            uplink_kbps,
            used_slots: 0,
            used_kbps: 0,
        }
    }

    /// Skype's policy: one call per relay, with the given uplink.
    pub fn skype(uplink_kbps: u32) -> Self {
        RelayCapacity::new(1, uplink_kbps)
    }

    /// Free call slots.
    pub fn free_slots(&self) -> u32 {
        self.slots.saturating_sub(self.used_slots)
    }

    /// Spare uplink, in kb/s.
    pub fn spare_kbps(&self) -> u32 {
        self.uplink_kbps.saturating_sub(self.used_kbps)
    }

    /// Utilisation in `[0, 1]`: the larger of slot and uplink use.
    pub fn load(&self) -> f64 {
        let s = if self.slots == 0 {
            1.0
        } else {
            f64::from(self.used_slots) / f64::from(self.slots)
        };
        let b = if self.uplink_kbps == 0 {
            1.0
        } else {
            f64::from(self.used_kbps) / f64::from(self.uplink_kbps)
        };
        s.max(b).min(1.0)
    }

    /// Admits a call of `profile`, or refuses it.
    pub fn admit(&mut self, profile: CodecProfile) -> Result<(), Refusal> {
        if self.free_slots() == 0 {
            return Err(Refusal::NoSlot);
        }
        if self.spare_kbps() < profile.kbps {
            return Err(Refusal::NoBandwidth);
        }
        self.used_slots += 1;
        self.used_kbps += profile.kbps;
        Ok(())
    }

    /// Releases a call of `profile` (saturating: releasing more than was
    /// admitted leaves the relay idle).
    pub fn release(&mut self, profile: CodecProfile) {
        self.used_slots = self.used_slots.saturating_sub(1);
        self.used_kbps = self.used_kbps.saturating_sub(profile.kbps);
    }
}

/// Applies the constraints to a candidate set and returns the positions that
/// survive: for callers that want to filter before running any strategy.
pub fn filter(cands: &[Candidate], constraints: &Constraints) -> Vec<usize> {
    (0..cands.len())
        .filter(|&i| constraints.admits(&cands[i]))
        .collect()
}

/// A uniformly random permutation of `0..n` (Fisher–Yates).
pub(crate) fn shuffled(n: usize, rng: &mut NodeRng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_refuses_beyond_slots_and_uplink() {
        let mut c = RelayCapacity::skype(1000);
        assert_eq!(c.admit(CodecProfile::VOICE_64), Ok(()));
        assert_eq!(c.admit(CodecProfile::VOICE_64), Err(Refusal::NoSlot));
        c.release(CodecProfile::VOICE_64);
        assert_eq!(c.free_slots(), 1);

        let mut c = RelayCapacity::new(10, 300);
        assert_eq!(c.admit(CodecProfile::VIDEO_256), Ok(()));
        assert_eq!(c.admit(CodecProfile::VOICE_64), Err(Refusal::NoBandwidth));
        assert_eq!(c.admit(CodecProfile::VOICE_8), Ok(()));
        assert_eq!(c.spare_kbps(), 300 - 256 - 8);
        assert!((c.load() - 264.0 / 300.0).abs() < 1e-12);
        for _ in 0..5 {
            c.release(CodecProfile::VIDEO_256);
        }
        assert_eq!(c.spare_kbps(), 300);
        assert_eq!(c.free_slots(), 10);

        let mut zero = RelayCapacity::new(0, 0);
        assert_eq!(zero.admit(CodecProfile::VOICE_8), Err(Refusal::NoSlot));
        assert_eq!(zero.load(), 1.0);
    }

    #[test]
    fn prefixes_share_leading_bits() {
        let a = Ipv4Prefix::new(0x0a00_0001, 32);
        let b = Ipv4Prefix::new(0x0a00_0101, 32);
        assert_eq!(a.common_len(&b), 23);
        assert_eq!(a.common_len(&a), 32);
        assert_eq!(a.common_len(&Ipv4Prefix::new(0x0a00_0001, 8)), 8);
        assert_eq!(a.common_len(&Ipv4Prefix::new(0x8a00_0001, 200)), 0);
    }

    #[test]
    fn constraints_filter_candidates() {
        let ok = Candidate::default();
        let slow = Candidate {
            rtt_callee_ms: 400.0,
            ..ok.clone()
        };
        let lossy = Candidate {
            loss: 0.2,
            ..ok.clone()
        };
        let young = Candidate {
            uptime_s: 10.0,
            ..ok.clone()
        };
        let nan = Candidate {
            rtt_caller_ms: f64::NAN,
            ..ok.clone()
        };
        let cands = [ok, slow, lossy, young, nan];
        assert_eq!(filter(&cands, &Constraints::default()).len(), 5);
        let c = Constraints {
            max_rtt_ms: Some(300.0),
            max_loss: Some(0.05),
            min_uptime_s: Some(60.0),
        };
        assert_eq!(filter(&cands, &c), vec![0]);
    }

    #[test]
    fn added_delay_is_relative_to_the_direct_path() {
        let c = Candidate {
            rtt_caller_ms: 100.0,
            rtt_callee_ms: 60.0,
            ..Candidate::default()
        };
        assert_eq!(c.added_delay_ms(None), 80.0);
        assert_eq!(c.added_delay_ms(Some(40.0)), 60.0);
        assert_eq!(c.added_delay_ms(Some(1000.0)), 0.0);
        let n = Candidate {
            rtt_caller_ms: f64::NAN,
            ..c
        };
        assert_eq!(n.added_delay_ms(None), f64::INFINITY);
    }
}
