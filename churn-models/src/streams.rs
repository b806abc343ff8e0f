//! Common random numbers: one independent RNG stream per purpose.
//!
//! Every stochastic process in this crate draws from its own
//! [`ChaCha8Rng`], seeded by [`peerlab_core::rng::derive_seed`] from the run
//! seed, a purpose label and an index (usually the node). A node's churn
//! therefore never depends on how many lookups or calls were drawn, on the NAT
//! mix, or on any other node's history, and two strategies compared under the
//! same run seed see the same churn sample path.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator behind every stream.
pub type StreamRng = ChaCha8Rng;

/// Purpose labels of the streams this crate derives. Each label names one
/// process; the index is given with it.
pub mod purpose {
    /// A closed-population node's up and down periods (index: the node's first id).
    pub const CHURN_NODE: &str = "churn.node";
    /// Open-population arrivals and their sessions (index 0).
    pub const CHURN_ARRIVALS: &str = "churn.arrivals";
    /// Choice of the victims of a mass failure (index: the failure's position).
    pub const CHURN_MASS_FAILURE: &str = "churn.mass_failure";
    /// Join times and sessions of a flash crowd (index: the crowd's position).
    pub const CHURN_FLASH_CROWD: &str = "churn.flash_crowd";
    /// Side assignment of a partition (index: the partition's position).
    pub const CHURN_PARTITION: &str = "churn.partition";
    /// A node's NAT class (index: the node).
    pub const NAT_CLASS: &str = "nat.class";
    /// A node's AS group (index: the node).
    pub const NAT_AS_GROUP: &str = "nat.as_group";
    /// Exact-proportion NAT assignment shuffle (index 0).
    pub const NAT_EXACT: &str = "nat.exact";
    /// A node's lookups (index: the node).
    pub const WORKLOAD_LOOKUP: &str = "workload.lookup";
    /// A node's outgoing calls (index: the node).
    pub const WORKLOAD_CALL: &str = "workload.call";
    /// A node's buddy list (index: the node).
    pub const WORKLOAD_BUDDIES: &str = "workload.buddies";
    /// A node's reads of registrations: gaps and users read (index: the node).
    pub const WORKLOAD_REGISTRATION_READ: &str = "workload.registration_read";
}

/// The stream for `purpose` and `index` under `run_seed`.
pub fn stream(run_seed: u64, purpose: &str, index: u64) -> StreamRng {
    ChaCha8Rng::seed_from_u64(peerlab_core::rng::derive_seed(run_seed, purpose, index))
}

/// A uniform draw strictly inside `(0, 1)`, from 53 random bits.
pub(crate) fn open01<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `0..n` (`n > 0`), without modulo bias.
pub(crate) fn below<R: Rng + ?Sized>(rng: &mut R, n: u64) -> u64 {
    debug_assert!(n > 0);
    // Lemire's multiply-and-reject.
    let mut m = (rng.next_u64() as u128) * (n as u128);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = (rng.next_u64() as u128) * (n as u128);
        }
    }
    (m >> 64) as u64
}

/// The SplitMix64 finaliser: a fast, well-mixed hash of one word.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps a hash to a uniform number in `[0, 1)`.
pub(crate) fn unit_from_hash(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, purpose::CHURN_NODE, 3), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, purpose::CHURN_NODE, 3), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, purpose::CHURN_NODE, 4), |r, _| Some(r.next_u64()))
            .collect();
        let d: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, purpose::WORKLOAD_LOOKUP, 3), |r, _| {
                Some(r.next_u64())
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn open01_and_below_stay_in_range() {
        let mut r = stream(1, "test", 0);
        for _ in 0..10_000 {
            let u = open01(&mut r);
            assert!(u > 0.0 && u < 1.0);
            assert!(below(&mut r, 7) < 7);
        }
        // `below` is uniform: each of 5 values gets about a fifth of 50,000 draws.
        let mut counts = [0u32; 5];
        for _ in 0..50_000 {
            counts[below(&mut r, 5) as usize] += 1;
        }
        for c in counts {
            // sd = sqrt(50000 * 0.2 * 0.8) ~ 89; allow 5 sd.
            assert!((c as f64 - 10_000.0).abs() < 450.0, "{counts:?}");
        }
    }
}
