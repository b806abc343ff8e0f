//! An AS and prefix model: nodes in autonomous systems with heavy-tailed
//! sizes, each AS holding IPv4 prefixes, and latency that is lower inside an
//! AS than between ASes.
//!
//! - **AS sizes.** Node `i` joins AS `k` (rank `k = 1..=ases`) with
//!   probability `k^(−s) / H(ases, s)` (a Zipf law, drawn independently per
//!   node from its own stream), so the expected share of the largest AS is
//!   `1 / H(ases, s)` and a log–log rank/size plot has slope `−s`. Internet
//!   AS sizes are heavy-tailed in this way (Faloutsos et al., SIGCOMM 1999;
//!   Tangmunarunkit et al., 2001).
//! - **Prefixes.** An AS holding `c` nodes gets `clamp(⌈c / hosts_per_prefix⌉,
//!   1, max_prefixes_per_as)` prefixes, each just large enough for its share
//!   of hosts (at least a /24). All prefixes are laid out, in a seeded random
//!   order, from `1.0.0.0` upwards, aligned to their size, so they never
//!   overlap and one AS's prefixes are usually not adjacent. An AS's nodes are
//!   dealt round-robin over its prefixes; each gets the next host address.
//! - **Latency.** Each node has an access delay drawn from `[access_min_ms,
//!   access_max_ms]`; each AS sits at a point in a square whose diagonal is
//!   `diameter_ms`. One-way delay between distinct nodes is the sum of both
//!   access delays plus `intra_as_ms` inside one AS, or plus
//!   `inter_as_base_ms` and the distance between the two ASes otherwise.
//!   [`TopologyConfig::validate`] demands `intra_as_ms + (access_max_ms −
//!   access_min_ms) < inter_as_base_ms`, so for any node, every peer in its
//!   own AS is closer than every peer outside it.
//!
//! Everything is a function of the configuration and the seed.

use crate::config::{InvalidConfig, invalid};
use peerlab_core::relay::Ipv4Prefix;
use peerlab_core::rng::{NodeRng, derive_seed};
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// The first address handed out.
const BASE_ADDR: u32 = 0x0100_0000;
/// AS numbers are `AS_BASE + rank − 1`.
const AS_BASE: u32 = 1000;

/// Parameters of the AS and prefix model.
///
/// ```toml
/// [topology]
/// ases = 500
/// zipf_exponent = 1.0
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopologyConfig {
    /// Number of autonomous systems (>= 1).
    pub ases: u32,
    /// Zipf exponent `s` of AS sizes (finite, >= 0; 0 gives equal sizes).
    pub zipf_exponent: f64,
    /// Target hosts per prefix: an AS with more nodes gets more prefixes.
    pub hosts_per_prefix: u32,
    /// The most prefixes one AS holds (>= 1).
    pub max_prefixes_per_as: u32,
    /// Smallest per-node access delay, ms.
    pub access_min_ms: f64,
    /// Largest per-node access delay, ms.
    pub access_max_ms: f64,
    /// Delay added between two nodes of the same AS, ms.
    pub intra_as_ms: f64,
    /// Delay added between two nodes of different ASes, before distance, ms.
    pub inter_as_base_ms: f64,
    /// One-way delay across the diagonal of the AS plane, ms.
    pub diameter_ms: f64,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            ases: 500,
            zipf_exponent: 1.0,
            hosts_per_prefix: 256,
            max_prefixes_per_as: 8,
            access_min_ms: 1.0,
            access_max_ms: 5.0,
            intra_as_ms: 3.0,
            inter_as_base_ms: 10.0,
            diameter_ms: 200.0,
        }
    }
}

impl TopologyConfig {
    /// Checks every field; the error names the first bad one, under `path`
    /// (for example `topology`).
    pub fn validate(&self, path: &str) -> Result<(), InvalidConfig> {
        let p = |f: &str| format!("{path}.{f}");
        if self.ases == 0 {
            return Err(invalid(&p("ases"), self.ases, "at least 1"));
        }
        if !(self.zipf_exponent.is_finite() && self.zipf_exponent >= 0.0) {
            return Err(invalid(
                &p("zipf_exponent"),
                self.zipf_exponent,
                "a finite number >= 0",
            ));
        }
        if self.hosts_per_prefix == 0 {
            return Err(invalid(
                &p("hosts_per_prefix"),
                self.hosts_per_prefix,
                "at least 1",
            ));
        }
        if self.max_prefixes_per_as == 0 {
            return Err(invalid(
                &p("max_prefixes_per_as"),
                self.max_prefixes_per_as,
                "at least 1",
            ));
        }
        for (f, v) in [
            ("access_min_ms", self.access_min_ms),
            ("access_max_ms", self.access_max_ms),
            ("intra_as_ms", self.intra_as_ms),
            ("inter_as_base_ms", self.inter_as_base_ms),
            ("diameter_ms", self.diameter_ms),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(&p(f), v, "a finite number of ms >= 0"));
            }
        }
        if self.access_max_ms < self.access_min_ms {
            return Err(invalid(
                &p("access_max_ms"),
                self.access_max_ms,
                "at least access_min_ms",
            ));
        }
        let spread = self.access_max_ms - self.access_min_ms;
        if self.intra_as_ms + spread >= self.inter_as_base_ms {
            return Err(invalid(
                &p("inter_as_base_ms"),
                self.inter_as_base_ms,
                "more than intra_as_ms + (access_max_ms - access_min_ms), so an AS's own \
                 nodes are always closer than other ASes' nodes",
            ));
        }
        Ok(())
    }

    /// The analytic share of the AS of rank `rank` (1-based): `rank^(−s) /
    /// H(ases, s)`.
    pub fn zipf_share(&self, rank: u32) -> f64 {
        let s = self.zipf_exponent;
        let h: f64 = (1..=self.ases).map(|k| f64::from(k).powf(-s)).sum();
        f64::from(rank).powf(-s) / h
    }
}

/// One autonomous system.
#[derive(Clone, Debug, PartialEq)]
pub struct AsInfo {
    /// Its AS number.
    pub number: u32,
    /// Its prefixes (network address and length).
    pub prefixes: Vec<Ipv4Prefix>,
    /// Its position in the latency plane, ms.
    pub coord: [f64; 2],
    /// Nodes placed in it.
    pub nodes: u32,
}

/// A node's place in the topology.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Index of its AS in [`Topology::ases`].
    pub as_index: u32,
    /// Its address (as a /32).
    pub addr: u32,
    /// Its access delay, ms.
    pub access_ms: f64,
}

/// Nodes placed in ASes and prefixes; see the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    cfg: TopologyConfig,
    ases: Vec<AsInfo>,
    nodes: Vec<Placement>,
}

/// Whether `addr` lies in `prefix`.
pub fn contains(prefix: &Ipv4Prefix, addr: u32) -> bool {
    let len = u32::from(prefix.len.min(32));
    if len == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - len);
    (addr & mask) == (prefix.addr & mask)
}

impl Topology {
    /// Places `nodes` nodes under `cfg` and `seed`.
    pub fn build(cfg: &TopologyConfig, nodes: u32, seed: u64) -> Result<Topology, InvalidConfig> {
        cfg.validate("topology")?;
        let a = cfg.ases as usize;
        let mut cum = Vec::with_capacity(a);
        let mut acc = 0.0;
        for k in 1..=cfg.ases {
            acc += f64::from(k).powf(-cfg.zipf_exponent);
            cum.push(acc);
        }
        let mut placements: Vec<Placement> = (0..nodes)
            .map(|i| {
                let mut r =
                    NodeRng::seed_from_u64(derive_seed(seed, "topology.node", u64::from(i)));
                let u = r.random::<f64>() * acc;
                let k = cum.partition_point(|&c| c <= u).min(a - 1);
                let access =
                    cfg.access_min_ms + r.random::<f64>() * (cfg.access_max_ms - cfg.access_min_ms);
                Placement {
                    as_index: k as u32,
                    addr: 0,
                    access_ms: access,
                }
            })
            .collect();
        let mut counts = vec![0u32; a];
        for p in &placements {
            counts[p.as_index as usize] += 1;
        }
        let mut place_rng = NodeRng::seed_from_u64(derive_seed(seed, "topology.ases", 0));
        let side = cfg.diameter_ms / std::f64::consts::SQRT_2;
        let mut ases: Vec<AsInfo> = counts
            .iter()
            .enumerate()
            .map(|(k, &c)| AsInfo {
                number: AS_BASE + k as u32,
                prefixes: Vec::new(),
                coord: [
                    place_rng.random::<f64>() * side,
                    place_rng.random::<f64>() * side,
                ],
                nodes: c,
            })
            .collect();
        // Prefix sizes, then a shuffled layout.
        let mut blocks: Vec<(u32, u8)> = Vec::new(); // (as index, host bits)
        for (k, &c) in counts.iter().enumerate() {
            let m = c
                .div_ceil(cfg.hosts_per_prefix)
                .clamp(1, cfg.max_prefixes_per_as);
            let hosts = c.div_ceil(m) + 2;
            let bits = (32 - (hosts - 1).leading_zeros()).max(8) as u8;
            blocks.extend(std::iter::repeat_n((k as u32, bits), m as usize));
        }
        for i in (1..blocks.len()).rev() {
            let j = place_rng.random_range(0..=i);
            blocks.swap(i, j);
        }
        let mut cursor = u64::from(BASE_ADDR);
        for &(k, bits) in &blocks {
            let size = 1u64 << bits;
            cursor = cursor.div_ceil(size) * size;
            if cursor + size > u64::from(u32::MAX) {
                return Err(invalid(
                    "topology",
                    format!("{nodes} nodes"),
                    "a population whose prefixes fit in IPv4",
                ));
            }
            ases[k as usize]
                .prefixes
                .push(Ipv4Prefix::new(cursor as u32, 32 - bits));
            cursor += size;
        }
        // Deal each AS's nodes round-robin over its prefixes.
        let mut seen = vec![0u32; a];
        for p in placements.iter_mut() {
            let info = &ases[p.as_index as usize];
            let j = seen[p.as_index as usize];
            seen[p.as_index as usize] += 1;
            let m = info.prefixes.len() as u32;
            let prefix = info.prefixes[(j % m) as usize];
            p.addr = prefix.addr + j / m + 1;
        }
        Ok(Topology {
            cfg: cfg.clone(),
            ases,
            nodes: placements,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TopologyConfig {
        &self.cfg
    }

    /// Every AS, by rank (index 0 is the most popular in expectation).
    pub fn ases(&self) -> &[AsInfo] {
        &self.ases
    }

    /// Number of nodes placed.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`'s placement. Panics if `i` is out of range (callers index
    /// nodes they placed).
    pub fn placement(&self, i: u32) -> &Placement {
        &self.nodes[i as usize]
    }

    /// Node `i`'s AS number.
    pub fn as_number(&self, i: u32) -> u32 {
        self.ases[self.nodes[i as usize].as_index as usize].number
    }

    /// Node `i`'s address as a /32.
    pub fn address(&self, i: u32) -> Ipv4Prefix {
        Ipv4Prefix::new(self.nodes[i as usize].addr, 32)
    }

    /// One-way delay between nodes `a` and `b`, ms (0 for `a == b`).
    pub fn one_way_ms(&self, a: u32, b: u32) -> f64 {
        if a == b {
            return 0.0;
        }
        let (p, q) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        let access = p.access_ms + q.access_ms;
        if p.as_index == q.as_index {
            access + self.cfg.intra_as_ms
        } else {
            let (x, y) = (
                &self.ases[p.as_index as usize].coord,
                &self.ases[q.as_index as usize].coord,
            );
            let d = ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2)).sqrt();
            access + self.cfg.inter_as_base_ms + d
        }
    }

    /// Round-trip time between `a` and `b`, ms.
    pub fn rtt_ms(&self, a: u32, b: u32) -> f64 {
        2.0 * self.one_way_ms(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_masks_the_prefix() {
        let p = Ipv4Prefix::new(0x0a01_0000, 16);
        assert!(contains(&p, 0x0a01_ffff));
        assert!(!contains(&p, 0x0a02_0000));
        assert!(contains(&Ipv4Prefix::new(0, 0), 0xffff_ffff));
    }

    #[test]
    fn validation_names_the_field() {
        let bad = TopologyConfig {
            inter_as_base_ms: 4.0,
            ..TopologyConfig::default()
        };
        assert_eq!(
            bad.validate("topology").unwrap_err().path,
            "topology.inter_as_base_ms"
        );
        let bad = TopologyConfig {
            ases: 0,
            ..TopologyConfig::default()
        };
        assert_eq!(bad.validate("t").unwrap_err().path, "t.ases");
    }
}
