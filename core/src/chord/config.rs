//! Chord parameters and their defaults.

use super::ring::Ring;
use crate::config::ConfigError;
use crate::id::{HashAlg, ID_BITS, NodeId};
use crate::protocol::RoutingMode;
use crate::time::Duration;
use crate::wire::{MAX_CONTACTS, MAX_PATH};

/// Chord parameters. Every field can be set from an experiment spec.
///
/// Defaults follow OverSim's `simulations/default.ini` (the reference Chord
/// configuration of a widely used overlay simulator): 160-bit ids, 8
/// successors, stabilize every 20 s, fix fingers every 120 s, check the
/// predecessor every 5 s, a hop limit of 50. Timeouts, retries, jitter and
/// storage lifetimes are the same as [`crate::kademlia::KademliaConfig`]'s, so
/// the two protocols differ only in their routing.
#[derive(Clone, Debug, PartialEq)]
pub struct ChordConfig {
    /// Width m of the identifier circle in bits (1 to 160): ids and keys are
    /// placed on the circle by their top m bits, and a node has m fingers.
    pub id_bits: u16,
    /// Length r of the successor list.
    pub successors: usize,
    /// Nodes that hold each value: the key's successor and the next
    /// `replicas − 1` nodes (at most r).
    pub replicas: usize,
    /// Interval between stabilizations (ask the successor for its predecessor
    /// and successor list, then notify it).
    pub stabilize_interval: Duration,
    /// Interval between rounds that refresh every finger.
    pub fix_fingers_interval: Duration,
    /// Interval between liveness checks of the predecessor.
    pub check_predecessor_interval: Duration,
    /// Contacts a node offers in an iterative-routing answer (the best one is
    /// the next hop; the rest are fallbacks if it fails).
    pub next_hop_candidates: usize,
    /// Parallel iterative routing: requests a lookup keeps in flight (1 to
    /// 64). Plain iterative routing, the default, keeps one.
    pub alpha: usize,
    /// The longest wait for a reply before retrying (and the wait before any
    /// round trip has been measured).
    pub rpc_timeout: Duration,
    /// The shortest wait for a reply; between the two the wait adapts to
    /// measured round trips (SRTT + 4·RTTVAR), unless `adaptive_timeout` is off.
    pub min_rpc_timeout: Duration,
    /// Adapt the wait to measured round trips; off, every wait is `rpc_timeout`.
    pub adaptive_timeout: bool,
    /// Retransmissions of an unanswered request before the peer counts as failed.
    pub rpc_retries: u8,
    /// Recursive routing: hops after which a request is stopped and reported
    /// as looping.
    pub max_hops: u8,
    /// Recursive routing: how long the origin waits for the result before it
    /// finds it iteratively instead.
    pub recursive_timeout: Duration,
    /// Responsible nodes push their values to their replicas this often.
    pub republish_interval: Duration,
    /// The original publisher republishes this often (capped at 80% of the TTL).
    pub publisher_republish: Duration,
    /// Relative jitter applied to every periodic timer (0.1 = ±10%).
    pub timer_jitter: f64,
    /// Most values a node holds for others.
    pub max_stored_values: usize,
    /// The hash that maps names to keys.
    pub hash: HashAlg,
    /// Replicas a get reads (1 to `replicas`): it asks this many of the key's
    /// replicas at once, most responsible first (the next one when one fails
    /// or has nothing), and returns the union of the values of those that
    /// answered with some ([`crate::holder_read`] semantics). 1 reads the
    /// first replica that has values, as Chord's get does.
    pub read_holders: usize,
}

impl Default for ChordConfig {
    fn default() -> Self {
        ChordConfig {
            id_bits: ID_BITS as u16,
            successors: 8,
            replicas: 8,
            stabilize_interval: Duration::from_secs(20),
            fix_fingers_interval: Duration::from_secs(120),
            check_predecessor_interval: Duration::from_secs(5),
            next_hop_candidates: 3,
            // Kademlia's α, and p2psim's Chord "parallelism" in Li et al.
            alpha: 3,
            rpc_timeout: Duration::from_secs(2),
            min_rpc_timeout: Duration::from_millis(200),
            adaptive_timeout: true,
            rpc_retries: 1,
            max_hops: 50,
            recursive_timeout: Duration::from_secs(10),
            republish_interval: Duration::from_secs(3600),
            publisher_republish: Duration::from_secs(24 * 3600),
            timer_jitter: 0.1,
            max_stored_values: 65_536,
            hash: HashAlg::Sha1,
            // As Kademlia's: a stale replica is outvoted by any fresh one.
            read_holders: 2,
        }
    }
}

impl ChordConfig {
    /// The routing mode of the paper: iterative, one request in flight
    /// (Stoica et al., §4.3).
    pub const DEFAULT_ROUTING: RoutingMode = RoutingMode::Iterative;

    /// Checks every parameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, value: &dyn ToString, expected| {
            Err(ConfigError::new("chord", field, value, expected))
        };
        if self.id_bits == 0 || self.id_bits as usize > ID_BITS {
            return err("id_bits", &self.id_bits, "1 to 160");
        }
        if self.successors == 0 || self.successors > MAX_CONTACTS {
            return err("successors", &self.successors, "1 to 64");
        }
        if self.replicas == 0 || self.replicas > self.successors {
            return err("replicas", &self.replicas, "1 to successors");
        }
        if self.read_holders == 0 || self.read_holders > self.replicas {
            return err("read_holders", &self.read_holders, "1 to replicas");
        }
        if self.next_hop_candidates == 0 || self.next_hop_candidates > MAX_CONTACTS {
            return err("next_hop_candidates", &self.next_hop_candidates, "1 to 64");
        }
        if self.alpha == 0 || self.alpha > MAX_CONTACTS {
            return err("alpha", &self.alpha, "1 to 64");
        }
        if self.rpc_timeout == Duration::ZERO {
            return err("rpc_timeout", &self.rpc_timeout, "greater than zero");
        }
        if self.min_rpc_timeout == Duration::ZERO || self.min_rpc_timeout > self.rpc_timeout {
            return err(
                "min_rpc_timeout",
                &self.min_rpc_timeout,
                "greater than zero and at most rpc_timeout",
            );
        }
        if self.max_hops == 0 || self.max_hops as usize > MAX_PATH {
            return err("max_hops", &self.max_hops, "1 to 255");
        }
        for (field, d) in [
            ("stabilize_interval", self.stabilize_interval),
            ("fix_fingers_interval", self.fix_fingers_interval),
            (
                "check_predecessor_interval",
                self.check_predecessor_interval,
            ),
            ("recursive_timeout", self.recursive_timeout),
            ("republish_interval", self.republish_interval),
            ("publisher_republish", self.publisher_republish),
        ] {
            if d == Duration::ZERO {
                return err(field, &d, "greater than zero");
            }
        }
        if !(0.0..1.0).contains(&self.timer_jitter) {
            return err("timer_jitter", &self.timer_jitter, "a fraction in [0, 1)");
        }
        Ok(())
    }

    /// Where an id or key sits on the identifier circle: its top `id_bits`
    /// bits, the rest zeroed. The key's successor is the first node whose
    /// position is at or after the key's, clockwise (for oracles).
    pub fn ring_position(&self, id: &NodeId) -> NodeId {
        Ring::new(self.id_bits).position(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_field() {
        assert_eq!(ChordConfig::default().validate(), Ok(()));
        let bad = |c: ChordConfig| c.validate().unwrap_err().field;
        let d = ChordConfig::default;
        assert_eq!(
            bad(ChordConfig {
                id_bits: 161,
                ..d()
            }),
            "id_bits"
        );
        assert_eq!(bad(ChordConfig { id_bits: 0, ..d() }), "id_bits");
        assert_eq!(
            bad(ChordConfig {
                successors: 0,
                ..d()
            }),
            "successors"
        );
        assert_eq!(bad(ChordConfig { replicas: 9, ..d() }), "replicas");
        assert_eq!(
            bad(ChordConfig {
                read_holders: 0,
                ..d()
            }),
            "read_holders"
        );
        assert_eq!(
            bad(ChordConfig {
                replicas: 1,
                read_holders: 2,
                ..d()
            }),
            "read_holders"
        );
        assert_eq!(bad(ChordConfig { max_hops: 0, ..d() }), "max_hops");
        assert_eq!(bad(ChordConfig { alpha: 0, ..d() }), "alpha");
        assert_eq!(bad(ChordConfig { alpha: 65, ..d() }), "alpha");
        assert_eq!(
            bad(ChordConfig {
                stabilize_interval: Duration::ZERO,
                ..d()
            }),
            "stabilize_interval"
        );
        assert_eq!(
            bad(ChordConfig {
                timer_jitter: 1.0,
                ..d()
            }),
            "timer_jitter"
        );
        let e = ChordConfig {
            successors: 65,
            ..d()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.to_string(), "chord.successors = 65 is invalid: 1 to 64");
    }
}
