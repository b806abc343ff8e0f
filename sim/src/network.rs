//! The network model: addresses, per-pair latency and i.i.d. loss.
//!
//! Node `i` owns the address `10.x.y.z:4000` with `x.y.z = i + 1`, so mapping
//! an address back to a node is arithmetic, not a table lookup.

use crate::config::{LatencyModel, NetworkConfig};
use crate::topology::Topology;
use peerlab_churn::PartitionSchedule;
use peerlab_core::rng::{NodeRng, derive_seed};
use peerlab_core::{Addr, Duration, Instant};
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

const BASE_IP: u32 = 0x0A00_0000;
const PORT: u16 = 4000;

/// The address of node `i`.
pub fn addr_of(i: u32) -> Addr {
    Addr::from_u32(BASE_IP + i + 1, PORT)
}

/// The node that owns `addr`, if any of the first `n` nodes does.
pub fn index_of(addr: Addr, n: u32) -> Option<u32> {
    let ip = addr.ip_u32();
    if addr.port != PORT || ip <= BASE_IP {
        return None;
    }
    let i = ip - BASE_IP - 1;
    (i < n).then_some(i)
}

/// Precomputed per-node state of the latency model.
#[derive(Clone, Debug)]
pub struct Network {
    model: LatencyModel,
    loss: f64,
    pair_seed: u64,
    /// Coordinates (scaled to milliseconds) and access delay, per node.
    coords: Vec<[f32; 4]>,
    rng: NodeRng,
    partitions: Option<PartitionSchedule>,
    /// The placement of [`LatencyModel::Topology`].
    topology: Option<Arc<Topology>>,
}

impl Network {
    /// Builds the model for `cfg.nodes` nodes from the run seed. `cfg` must
    /// be valid ([`NetworkConfig::validate`]); with an AS topology that does
    /// not build, every delay is 0.
    pub fn new(cfg: &NetworkConfig, seed: u64) -> Self {
        let topology = match &cfg.latency {
            LatencyModel::Topology(t) => Topology::build(t, cfg.nodes, seed).ok().map(Arc::new),
            _ => None,
        };
        let mut place = NodeRng::seed_from_u64(derive_seed(seed, "net-coordinates", 0));
        let coords = match cfg.latency {
            LatencyModel::Coordinates {
                dims,
                diameter_ms,
                access_min_ms,
                access_max_ms,
            } => {
                let side = diameter_ms / (dims as f64).sqrt();
                (0..cfg.nodes)
                    .map(|_| {
                        let mut c = [0f32; 4];
                        for x in c.iter_mut().take(dims as usize) {
                            *x = (place.random::<f64>() * side) as f32;
                        }
                        c[3] = (access_min_ms
                            + place.random::<f64>() * (access_max_ms - access_min_ms))
                            as f32;
                        c
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        Network {
            model: cfg.latency.clone(),
            loss: cfg.loss,
            pair_seed: derive_seed(seed, "net-pairs", 0),
            coords,
            rng: NodeRng::seed_from_u64(derive_seed(seed, "net-loss", 0)),
            partitions: None,
            topology,
        }
    }

    /// Cuts the network along `schedule`: while a partition is active, no
    /// message crosses between its two sides.
    pub fn with_partitions(mut self, schedule: PartitionSchedule) -> Self {
        self.partitions = (!schedule.windows().is_empty()).then_some(schedule);
        self
    }

    /// Whether a message from node `a` can reach node `b` at `now`.
    pub fn reachable(&self, a: u32, b: u32, now: Instant) -> bool {
        self.partitions
            .as_ref()
            .is_none_or(|p| p.reachable(a, b, now.as_secs_f64()))
    }

    /// One-way delay from node `a` to node `b`. Symmetric and fixed per pair.
    pub fn latency(&self, a: u32, b: u32) -> Duration {
        let ms = match self.model {
            LatencyModel::Constant { ms } => ms,
            LatencyModel::Uniform { min_ms, max_ms } => {
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                let key = ((lo as u64) << 32) | hi as u64;
                let h = xxhash_rust::xxh3::xxh3_64_with_seed(&key.to_le_bytes(), self.pair_seed);
                let u = (h >> 11) as f64 / (1u64 << 53) as f64;
                min_ms + u * (max_ms - min_ms)
            }
            LatencyModel::Coordinates { .. } => {
                let (p, q) = (&self.coords[a as usize], &self.coords[b as usize]);
                let d2: f32 = (0..3).map(|i| (p[i] - q[i]) * (p[i] - q[i])).sum();
                (d2.sqrt() + p[3] + q[3]) as f64
            }
            LatencyModel::Topology(_) => self.topology.as_ref().map_or(0.0, |t| t.one_way_ms(a, b)),
        };
        Duration::from_micros((ms * 1000.0).round() as u64)
    }

    /// Whether the next message is lost. Draws from the network's own stream.
    pub fn lose(&mut self) -> bool {
        self.loss > 0.0 && self.rng.random::<f64>() < self.loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_back_to_nodes() {
        for i in [0, 1, 255, 256, 999_999] {
            assert_eq!(index_of(addr_of(i), 1_000_000), Some(i));
        }
        assert_eq!(index_of(addr_of(10), 10), None);
        assert_eq!(index_of(Addr::new([10, 0, 0, 1], 4001), 10), None);
        assert_eq!(index_of(Addr::new([127, 0, 0, 1], 4000), 10), None);
    }

    #[test]
    fn latency_models_are_symmetric_and_in_range() {
        let mk = |latency| {
            Network::new(
                &NetworkConfig {
                    nodes: 50,
                    loss: 0.0,
                    latency,
                },
                9,
            )
        };
        let c = mk(LatencyModel::Constant { ms: 12.5 });
        assert_eq!(c.latency(1, 2), Duration::from_micros(12_500));
        let u = mk(LatencyModel::Uniform {
            min_ms: 10.0,
            max_ms: 30.0,
        });
        let g = mk(LatencyModel::Coordinates {
            dims: 3,
            diameter_ms: 100.0,
            access_min_ms: 1.0,
            access_max_ms: 2.0,
        });
        let mut sum = 0.0;
        for a in 0..50 {
            for b in 0..50 {
                assert_eq!(u.latency(a, b), u.latency(b, a));
                assert_eq!(g.latency(a, b), g.latency(b, a));
                let ms = u.latency(a, b).as_millis_f64();
                assert!((10.0..=30.0).contains(&ms));
                sum += ms;
                // Diagonal bound plus two access delays.
                assert!(g.latency(a, b).as_millis_f64() <= 100.0 + 4.0 + 1e-3);
            }
        }
        let mean = sum / 2500.0;
        assert!((mean - 20.0).abs() < 1.0, "uniform mean {mean}");
    }

    /// The AS topology model gives each pair the delay the calls scenario's
    /// topology gives it (same config, node count and seed), to the
    /// microsecond; a bad topology is named under `network.latency`.
    #[test]
    fn the_topology_model_is_the_calls_topology() {
        use crate::topology::TopologyConfig;
        let t = TopologyConfig {
            ases: 20,
            ..TopologyConfig::default()
        };
        let cfg = NetworkConfig {
            nodes: 300,
            loss: 0.0,
            latency: LatencyModel::Topology(t.clone()),
        };
        cfg.validate().unwrap();
        let net = Network::new(&cfg, 7);
        let topo = Topology::build(&t, 300, 7).unwrap();
        let (mut same_as, mut cross) = (0, 0);
        for a in (0..300).step_by(7) {
            for b in (0..300).step_by(11) {
                let want = Duration::from_micros((topo.one_way_ms(a, b) * 1000.0).round() as u64);
                assert_eq!(net.latency(a, b), want, "{a} -> {b}");
                if a != b && topo.as_number(a) == topo.as_number(b) {
                    same_as += 1;
                } else {
                    cross += 1;
                }
            }
        }
        assert!(same_as > 0 && cross > 0, "{same_as} {cross}");
        let bad = NetworkConfig {
            latency: LatencyModel::Topology(TopologyConfig {
                ases: 0,
                ..TopologyConfig::default()
            }),
            ..cfg
        };
        assert_eq!(bad.validate().unwrap_err().path, "network.latency.ases");
    }

    #[test]
    fn loss_rate_matches_its_probability() {
        let mut n = Network::new(
            &NetworkConfig {
                nodes: 1,
                loss: 0.2,
                latency: LatencyModel::Constant { ms: 1.0 },
            },
            1,
        );
        let lost = (0..100_000).filter(|_| n.lose()).count() as f64 / 100_000.0;
        // Binomial standard error is 0.0013; allow 4 of them.
        assert!((lost - 0.2).abs() < 0.0052, "{lost}");
    }
}
