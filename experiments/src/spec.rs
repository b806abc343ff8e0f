//! Experiment specs: the TOML file that says what to simulate.
//!
//! ```toml
//! [run]
//! name = "quickstart"
//! seed = 1
//! description = "one line for `peerlab spec list`"
//!
//! [network]                 # the simulator's NetworkConfig
//! nodes = 1000
//! [network.latency]
//! model = "coordinates"
//!
//! [dht]
//! protocol = "kademlia"     # or "chord", or ["kademlia", "chord"] to compare
//! routing = "iterative"     # "parallel-iterative" or "recursive"; unset: each
//!                           # protocol's paper default (Kademlia parallel
//!                           # iterative, Chord iterative)
//! [dht.kademlia]            # mirrors peerlab_core's KademliaConfig
//! k = 20
//! [dht.chord]               # mirrors peerlab_core's ChordConfig
//! successors = 8
//!
//! [workload]                # static scenario: the simulator's StaticWorkload
//! [sim]                     # the simulator's SimOptions
//! [graph]                   # overlay-graph snapshots (crate::graph_out)
//! [series]                  # time series of the run (peerlab_sim::series)
//! [plots]                   # which figures to draw (default: all that apply)
//! kinds = ["hops", "latency_cdf", "timeseries"]
//! metrics = ["lookup_hops"]  # what metric_vs_param draws (default: the main ones)
//! ```
//!
//! A `[churn]` table (a [`peerlab_churn::ChurnSpec`]) selects the churn
//! scenario instead of the static one; its workload is `[churn_workload]` (a
//! [`peerlab_churn::WorkloadSpec`]), and `[workload]` is then an error. The
//! population is `churn.nodes` (`network.nodes` is set to it, and may only
//! repeat it; for a trace or an open population it is not used). A relative
//! trace path in `[churn.model]` is resolved against the spec file's
//! directory.
//!
//! A `[sweep]` table (see [`crate::grid`]) turns the spec into a grid of
//! runs for `peerlab sweep`; its paths and values are checked here too.
//!
//! Every table and field is optional and defaults as documented on its type;
//! unknown fields are errors. Errors name the spec file and the dotted path of
//! the field (`network.nodes`), found from the parser's span when serde's own
//! message does not say it.

use crate::error::Error;
use crate::figures::PlotKind;
use crate::grid::{Grid, SweepSection};
use crate::simapi::{
    ChordConfig, ChurnError, ChurnModel, ChurnSpec, InvalidConfig, InvalidParam, NetworkConfig,
    RoutingMode, SeriesOptions, SimOptions, StaticWorkload, WorkloadSpec, registrar_config,
};
use peerlab_core::kademlia::{ConfigError, KademliaConfig};
use peerlab_core::{Duration, HashAlg};
use serde::de::{self, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Range;
use std::path::Path;

/// A whole experiment spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spec {
    /// Name and seed.
    pub run: RunSection,
    /// The simulated network.
    pub network: NetworkConfig,
    /// The overlay protocol and its parameters.
    pub dht: DhtSection,
    /// What the nodes do in the static scenario. Filled with its defaults
    /// when the spec has no `[churn]`; an error when it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<StaticWorkload>,
    /// The churn model; present, it selects the churn scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnSpec>,
    /// What the nodes do in the churn scenario (lookups); filled with an empty
    /// workload when `[churn]` is present and this is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn_workload: Option<WorkloadSpec>,
    /// Options of the simulator itself.
    pub sim: SimOptions,
    /// `[series]`: time series of an overlay run (`timeseries.parquet`,
    /// optionally `node_traffic.parquet`; see [`crate::series_tables`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesOptions>,
    /// `[graph]`: overlay-graph snapshots and their export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph: Option<crate::graph_out::GraphSection>,
    /// Which figures to draw.
    #[serde(skip_serializing_if = "PlotsSection::is_default")]
    pub plots: PlotsSection,
    /// `[calls]`: the call scenario ([`crate::calls_spec`]); present, the
    /// run simulates calls and relays instead of an overlay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<crate::calls_spec::CallsSection>,
    /// `[nat]`: the overlay behind NATs, in the super-node/client hierarchy
    /// ([`crate::nat_spec`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat: Option<crate::nat_spec::NatSection>,
    /// `[sweep]`: a grid over parameter paths, with replications (see
    /// [`crate::grid`]). Run by `peerlab sweep`; `peerlab run` refuses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSection>,
}

/// `[plots]`: which figures a run draws (see [`crate::figures`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlotsSection {
    /// The plot kinds to draw; absent, every kind that applies to the data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<PlotKind>>,
    /// The `summary.csv` metrics `metric_vs_param` draws against each
    /// swept parameter; absent, its main metrics
    /// ([`crate::figures::MAIN_METRICS`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
}

impl PlotsSection {
    fn is_default(&self) -> bool {
        self.kinds.is_none() && self.metrics.is_none()
    }
}

/// `[run]`: what the run is called and its base seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSection {
    /// A short name for the run; defaults to the spec file's stem.
    pub name: String,
    /// The base seed; `peerlab run --seed` overrides it.
    pub seed: u64,
    /// One line saying what the spec runs, shown by `peerlab spec list`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            name: String::new(),
            seed: 1,
            description: String::new(),
        }
    }
}

/// The overlay protocols a spec can select.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DhtProtocol {
    /// Kademlia (Maymounkov and Mazières 2002).
    #[default]
    Kademlia,
    /// Chord (Stoica et al. 2001).
    Chord,
}

impl DhtProtocol {
    /// Every protocol, in the order specs list them.
    pub const ALL: [DhtProtocol; 2] = [DhtProtocol::Kademlia, DhtProtocol::Chord];
    /// The names a spec may write.
    pub const NAMES: &'static [&'static str] = &["kademlia", "chord"];

    /// The protocol's name in specs and result tables.
    pub fn name(self) -> &'static str {
        match self {
            DhtProtocol::Kademlia => "kademlia",
            DhtProtocol::Chord => "chord",
        }
    }

    /// The routing mode of the protocol's paper: parallel iterative
    /// (α = `dht.kademlia.alpha`) for Kademlia, iterative for Chord.
    pub fn default_routing(self) -> RoutingMode {
        match self {
            DhtProtocol::Kademlia => KademliaConfig::DEFAULT_ROUTING,
            DhtProtocol::Chord => ChordConfig::DEFAULT_ROUTING,
        }
    }

    /// The name with a capital, for figure titles.
    pub fn title(self) -> &'static str {
        match self {
            DhtProtocol::Kademlia => "Kademlia",
            DhtProtocol::Chord => "Chord",
        }
    }
}

impl fmt::Display for DhtProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `dht.protocol`: one protocol (`"chord"`), or several to compare
/// (`["kademlia", "chord"]`). Each runs with the same seed, so the same
/// overlay ids, churn sample path and workload; the results share one result
/// directory, told apart by a `protocol` column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocols(pub Vec<DhtProtocol>);

impl Default for Protocols {
    fn default() -> Self {
        Protocols(vec![DhtProtocol::default()])
    }
}

impl Serialize for Protocols {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Protocols {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Protocols;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a protocol (`kademlia` or `chord`) or an array of protocols")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Protocols, E> {
                let p: DhtProtocol = Deserialize::deserialize(v.into_deserializer())
                    .map_err(|_: E| E::unknown_variant(v, DhtProtocol::NAMES))?;
                Ok(Protocols(vec![p]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Protocols, A::Error> {
                let mut v = Vec::new();
                while let Some(p) = seq.next_element::<DhtProtocol>()? {
                    v.push(p);
                }
                Ok(Protocols(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// How the workload's lookups are routed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// The origin asks each hop in turn, one request in flight.
    #[default]
    Iterative,
    /// The origin asks each hop, α requests in flight (`dht.kademlia.alpha`,
    /// `dht.chord.alpha`).
    #[serde(rename = "parallel-iterative", alias = "parallel_iterative")]
    ParallelIterative,
    /// Each hop forwards the request; the answer comes straight back to the
    /// origin.
    Recursive,
}

impl Routing {
    /// The core's routing mode.
    pub fn mode(self) -> RoutingMode {
        match self {
            Routing::Iterative => RoutingMode::Iterative,
            Routing::ParallelIterative => RoutingMode::ParallelIterative,
            Routing::Recursive => RoutingMode::Recursive,
        }
    }

    /// The spec value for a core routing mode.
    pub fn from_mode(mode: RoutingMode) -> Routing {
        match mode {
            RoutingMode::Iterative => Routing::Iterative,
            RoutingMode::ParallelIterative => Routing::ParallelIterative,
            RoutingMode::Recursive => Routing::Recursive,
        }
    }

    /// The mode's name in specs.
    pub fn name(self) -> &'static str {
        self.mode().name()
    }
}

/// `[dht]`: the protocol(s), the routing mode and every protocol's parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhtSection {
    /// Which overlay to run, or which overlays to compare.
    pub protocol: Protocols,
    /// How lookups are routed, for every protocol of the run; unset, each
    /// protocol routes as its paper does ([`DhtProtocol::default_routing`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// `[dht.kademlia]`: Kademlia's parameters.
    pub kademlia: KademliaSpec,
    /// `[dht.chord]`: Chord's parameters.
    pub chord: ChordSpec,
}

/// The hash that maps names to ids, as spelled in a spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashName {
    /// SHA-1 (160 bits).
    #[default]
    Sha1,
    /// SHA-256 truncated to 160 bits.
    Sha256,
}

impl From<HashName> for HashAlg {
    fn from(h: HashName) -> HashAlg {
        match h {
            HashName::Sha1 => HashAlg::Sha1,
            HashName::Sha256 => HashAlg::Sha256,
        }
    }
}

impl From<HashAlg> for HashName {
    fn from(h: HashAlg) -> HashName {
        match h {
            HashAlg::Sha1 => HashName::Sha1,
            HashAlg::Sha256 => HashName::Sha256,
        }
    }
}

/// `[dht.kademlia]`: [`KademliaConfig`] with times in spec-friendly units.
/// Defaults are those of `KademliaConfig::default()`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KademliaSpec {
    /// Bucket size and replication factor.
    pub k: usize,
    /// Requests in flight per lookup.
    pub alpha: usize,
    /// Replacement-cache entries per bucket.
    pub replacement_cache: usize,
    /// The longest wait for a reply before retrying (and the wait before any
    /// round trip has been measured), in milliseconds.
    pub rpc_timeout_ms: u64,
    /// The shortest wait for a reply, in milliseconds; between the two the
    /// wait adapts to measured round trips unless `adaptive_timeout` is off.
    pub min_rpc_timeout_ms: u64,
    /// Adapt the wait to measured round trips (SRTT + 4·RTTVAR).
    pub adaptive_timeout: bool,
    /// Retransmissions of an unanswered request.
    pub rpc_retries: u8,
    /// Consecutive failures after which a contact is evicted.
    pub stale_after: u8,
    /// Consecutive failures after which a contact is replaced from the cache.
    pub replace_after: u8,
    /// Bucket refresh interval, in seconds.
    pub refresh_interval_s: u64,
    /// Holder republish interval, in seconds.
    pub republish_interval_s: u64,
    /// Original-publisher republish interval, in seconds.
    pub publisher_republish_s: u64,
    /// Relative jitter on periodic timers (0.1 = ±10%).
    pub timer_jitter: f64,
    /// Most values a node holds for others.
    pub max_stored_values: usize,
    /// The hash that maps names to keys: `"sha1"` or `"sha256"`.
    pub hash: HashName,
    /// Recursive lookups: hops after which a request is stopped as looping.
    pub max_hops: u8,
    /// Recursive lookups: how long the origin waits before falling back to
    /// an iterative lookup, in milliseconds.
    pub recursive_timeout_ms: u64,
    /// Holders a get reads and merges (1 to k; 1 is the paper's first holder).
    pub read_holders: usize,
}

impl Default for KademliaSpec {
    fn default() -> Self {
        KademliaSpec::from(&KademliaConfig::default())
    }
}

impl From<&KademliaConfig> for KademliaSpec {
    fn from(c: &KademliaConfig) -> Self {
        KademliaSpec {
            k: c.k,
            alpha: c.alpha,
            replacement_cache: c.replacement_cache,
            rpc_timeout_ms: c.rpc_timeout.as_micros() / 1_000,
            min_rpc_timeout_ms: c.min_rpc_timeout.as_micros() / 1_000,
            adaptive_timeout: c.adaptive_timeout,
            rpc_retries: c.rpc_retries,
            stale_after: c.stale_after,
            replace_after: c.replace_after,
            refresh_interval_s: c.refresh_interval.as_micros() / 1_000_000,
            republish_interval_s: c.republish_interval.as_micros() / 1_000_000,
            publisher_republish_s: c.publisher_republish.as_micros() / 1_000_000,
            timer_jitter: c.timer_jitter,
            max_stored_values: c.max_stored_values,
            hash: c.hash.into(),
            max_hops: c.max_hops,
            recursive_timeout_ms: c.recursive_timeout.as_micros() / 1_000,
            read_holders: c.read_holders,
        }
    }
}

impl KademliaSpec {
    /// The core configuration these parameters describe.
    pub fn to_config(&self) -> KademliaConfig {
        KademliaConfig {
            k: self.k,
            alpha: self.alpha,
            replacement_cache: self.replacement_cache,
            rpc_timeout: Duration::from_millis(self.rpc_timeout_ms),
            min_rpc_timeout: Duration::from_millis(self.min_rpc_timeout_ms),
            adaptive_timeout: self.adaptive_timeout,
            rpc_retries: self.rpc_retries,
            stale_after: self.stale_after,
            replace_after: self.replace_after,
            refresh_interval: Duration::from_secs(self.refresh_interval_s),
            republish_interval: Duration::from_secs(self.republish_interval_s),
            publisher_republish: Duration::from_secs(self.publisher_republish_s),
            timer_jitter: self.timer_jitter,
            max_stored_values: self.max_stored_values,
            hash: self.hash.into(),
            max_hops: self.max_hops,
            recursive_timeout: Duration::from_millis(self.recursive_timeout_ms),
            read_holders: self.read_holders,
        }
    }

    /// The spec path and spec-unit value of the core parameter a
    /// [`ConfigError`] names, and what is allowed.
    fn config_error(&self, e: ConfigError) -> (String, String, String) {
        let (name, value) = match e.field {
            "k" => ("k", self.k.to_string()),
            "alpha" => ("alpha", self.alpha.to_string()),
            "replacement_cache" => ("replacement_cache", self.replacement_cache.to_string()),
            "rpc_timeout" => ("rpc_timeout_ms", self.rpc_timeout_ms.to_string()),
            "min_rpc_timeout" => ("min_rpc_timeout_ms", self.min_rpc_timeout_ms.to_string()),
            "adaptive_timeout" => ("adaptive_timeout", self.adaptive_timeout.to_string()),
            "rpc_retries" => ("rpc_retries", self.rpc_retries.to_string()),
            "stale_after" => ("stale_after", self.stale_after.to_string()),
            "replace_after" => ("replace_after", self.replace_after.to_string()),
            "refresh_interval" => ("refresh_interval_s", self.refresh_interval_s.to_string()),
            "republish_interval" => (
                "republish_interval_s",
                self.republish_interval_s.to_string(),
            ),
            "publisher_republish" => (
                "publisher_republish_s",
                self.publisher_republish_s.to_string(),
            ),
            "timer_jitter" => ("timer_jitter", self.timer_jitter.to_string()),
            "max_stored_values" => ("max_stored_values", self.max_stored_values.to_string()),
            "max_hops" => ("max_hops", self.max_hops.to_string()),
            "recursive_timeout" => (
                "recursive_timeout_ms",
                self.recursive_timeout_ms.to_string(),
            ),
            "read_holders" => ("read_holders", self.read_holders.to_string()),
            other => (other, e.value),
        };
        (
            format!("dht.kademlia.{name}"),
            value,
            e.expected.to_string(),
        )
    }
}

/// `[dht.chord]`: [`ChordConfig`] with times in spec-friendly units.
/// Defaults are those of `ChordConfig::default()` (OverSim's Chord).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChordSpec {
    /// Width m of the identifier circle in bits (1 to 160).
    pub id_bits: u16,
    /// Length r of the successor list.
    pub successors: usize,
    /// Nodes that hold each value: the key's successor and the next
    /// `replicas − 1` nodes (at most `successors`).
    pub replicas: usize,
    /// Interval between stabilizations, in milliseconds.
    pub stabilize_interval_ms: u64,
    /// Interval between rounds that refresh every finger, in milliseconds.
    pub fix_fingers_interval_ms: u64,
    /// Interval between liveness checks of the predecessor, in milliseconds.
    pub check_predecessor_interval_ms: u64,
    /// Contacts offered in an iterative-routing answer (next hop and
    /// fallbacks).
    pub next_hop_candidates: usize,
    /// Parallel iterative routing: requests in flight per lookup.
    pub alpha: usize,
    /// The longest wait for a reply before retrying (and the wait before any
    /// round trip has been measured), in milliseconds.
    pub rpc_timeout_ms: u64,
    /// The shortest wait for a reply, in milliseconds.
    pub min_rpc_timeout_ms: u64,
    /// Adapt the wait to measured round trips (SRTT + 4·RTTVAR).
    pub adaptive_timeout: bool,
    /// Retransmissions of an unanswered request before the peer counts as
    /// failed.
    pub rpc_retries: u8,
    /// Recursive routing: hops after which a request is stopped as looping.
    pub max_hops: u8,
    /// Recursive routing: how long the origin waits before finding the
    /// result iteratively instead, in milliseconds.
    pub recursive_timeout_ms: u64,
    /// Responsible nodes push their values to their replicas this often, in
    /// seconds.
    pub republish_interval_s: u64,
    /// The original publisher republishes this often, in seconds.
    pub publisher_republish_s: u64,
    /// Relative jitter on periodic timers (0.1 = ±10%).
    pub timer_jitter: f64,
    /// Most values a node holds for others.
    pub max_stored_values: usize,
    /// The hash that maps names to keys: `"sha1"` or `"sha256"`.
    pub hash: HashName,
    /// Replicas a get reads and merges (1 to `replicas`).
    pub read_holders: usize,
}

impl Default for ChordSpec {
    fn default() -> Self {
        ChordSpec::from(&ChordConfig::default())
    }
}

impl From<&ChordConfig> for ChordSpec {
    fn from(c: &ChordConfig) -> Self {
        ChordSpec {
            id_bits: c.id_bits,
            successors: c.successors,
            replicas: c.replicas,
            stabilize_interval_ms: c.stabilize_interval.as_micros() / 1_000,
            fix_fingers_interval_ms: c.fix_fingers_interval.as_micros() / 1_000,
            check_predecessor_interval_ms: c.check_predecessor_interval.as_micros() / 1_000,
            next_hop_candidates: c.next_hop_candidates,
            alpha: c.alpha,
            rpc_timeout_ms: c.rpc_timeout.as_micros() / 1_000,
            min_rpc_timeout_ms: c.min_rpc_timeout.as_micros() / 1_000,
            adaptive_timeout: c.adaptive_timeout,
            rpc_retries: c.rpc_retries,
            max_hops: c.max_hops,
            recursive_timeout_ms: c.recursive_timeout.as_micros() / 1_000,
            republish_interval_s: c.republish_interval.as_micros() / 1_000_000,
            publisher_republish_s: c.publisher_republish.as_micros() / 1_000_000,
            timer_jitter: c.timer_jitter,
            max_stored_values: c.max_stored_values,
            hash: c.hash.into(),
            read_holders: c.read_holders,
        }
    }
}

impl ChordSpec {
    /// The core configuration these parameters describe.
    pub fn to_config(&self) -> ChordConfig {
        ChordConfig {
            id_bits: self.id_bits,
            successors: self.successors,
            replicas: self.replicas,
            stabilize_interval: Duration::from_millis(self.stabilize_interval_ms),
            fix_fingers_interval: Duration::from_millis(self.fix_fingers_interval_ms),
            check_predecessor_interval: Duration::from_millis(self.check_predecessor_interval_ms),
            next_hop_candidates: self.next_hop_candidates,
            alpha: self.alpha,
            rpc_timeout: Duration::from_millis(self.rpc_timeout_ms),
            min_rpc_timeout: Duration::from_millis(self.min_rpc_timeout_ms),
            adaptive_timeout: self.adaptive_timeout,
            rpc_retries: self.rpc_retries,
            max_hops: self.max_hops,
            recursive_timeout: Duration::from_millis(self.recursive_timeout_ms),
            republish_interval: Duration::from_secs(self.republish_interval_s),
            publisher_republish: Duration::from_secs(self.publisher_republish_s),
            timer_jitter: self.timer_jitter,
            max_stored_values: self.max_stored_values,
            hash: self.hash.into(),
            read_holders: self.read_holders,
        }
    }

    /// The spec path and spec-unit value of the core parameter a
    /// [`ConfigError`] names, and what is allowed.
    fn config_error(&self, e: ConfigError) -> (String, String, String) {
        let (name, value) = match e.field {
            "id_bits" => ("id_bits", self.id_bits.to_string()),
            "successors" => ("successors", self.successors.to_string()),
            "replicas" => ("replicas", self.replicas.to_string()),
            "stabilize_interval" => (
                "stabilize_interval_ms",
                self.stabilize_interval_ms.to_string(),
            ),
            "fix_fingers_interval" => (
                "fix_fingers_interval_ms",
                self.fix_fingers_interval_ms.to_string(),
            ),
            "check_predecessor_interval" => (
                "check_predecessor_interval_ms",
                self.check_predecessor_interval_ms.to_string(),
            ),
            "next_hop_candidates" => ("next_hop_candidates", self.next_hop_candidates.to_string()),
            "alpha" => ("alpha", self.alpha.to_string()),
            "rpc_timeout" => ("rpc_timeout_ms", self.rpc_timeout_ms.to_string()),
            "min_rpc_timeout" => ("min_rpc_timeout_ms", self.min_rpc_timeout_ms.to_string()),
            "adaptive_timeout" => ("adaptive_timeout", self.adaptive_timeout.to_string()),
            "rpc_retries" => ("rpc_retries", self.rpc_retries.to_string()),
            "max_hops" => ("max_hops", self.max_hops.to_string()),
            "recursive_timeout" => (
                "recursive_timeout_ms",
                self.recursive_timeout_ms.to_string(),
            ),
            "republish_interval" => (
                "republish_interval_s",
                self.republish_interval_s.to_string(),
            ),
            "publisher_republish" => (
                "publisher_republish_s",
                self.publisher_republish_s.to_string(),
            ),
            "timer_jitter" => ("timer_jitter", self.timer_jitter.to_string()),
            "max_stored_values" => ("max_stored_values", self.max_stored_values.to_string()),
            "read_holders" => ("read_holders", self.read_holders.to_string()),
            other => (other, e.value),
        };
        (format!("dht.chord.{name}"), value, e.expected.to_string())
    }
}

impl Spec {
    /// Reads, parses and validates the spec at `path`.
    pub fn load(path: &Path) -> Result<Spec, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::SpecRead {
            path: path.to_path_buf(),
            source,
        })?;
        Spec::parse(&text, path)
    }

    /// Parses and validates spec text; `path` names the file in errors and
    /// supplies the default run name.
    pub fn parse(text: &str, path: &Path) -> Result<Spec, Error> {
        let mut spec: Spec = toml::from_str(text).map_err(|e| parse_error(text, path, &e))?;
        if spec.run.name.is_empty() {
            spec.run.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into());
        }
        if spec.calls.is_some() {
            return crate::calls_spec::finish(spec, text, path);
        }
        if let Some(churn) = &spec.churn {
            // Under churn the population is the churn model's. A
            // `network.nodes` that says otherwise would be silently ignored;
            // one that agrees (as `spec show` prints it) is fine.
            let raw: toml::Table = toml::from_str(text).unwrap_or_default();
            let given = raw
                .get("network")
                .and_then(|n| n.as_table())
                .and_then(|n| n.get("nodes"))
                .and_then(|n| n.as_integer());
            if churn.nodes > 0 {
                if let Some(n) = given.filter(|&n| n != i64::from(churn.nodes)) {
                    return Err(Error::SpecUnsupported {
                        file: path.to_path_buf(),
                        path_in_spec: "network.nodes".into(),
                        reason: format!(
                            "{n} differs from churn.nodes = {}; a churn run takes its \
                             population from the churn model, so set `churn.nodes` only",
                            churn.nodes
                        ),
                    });
                }
                spec.network.nodes = churn.nodes;
            }
        }
        spec.resolve(path.parent().unwrap_or(Path::new("")));
        spec.validate(path)?;
        if spec.sweep.is_some() {
            // Every path, value and grid point, before anything runs.
            Grid::new(&spec, path)?;
        }
        Ok(spec)
    }

    /// Fills in the tables the scenario implies (the static workload, or an
    /// empty churn workload) and resolves a relative trace path against
    /// `spec_dir`, the directory of the spec file.
    pub fn resolve(&mut self, spec_dir: &Path) {
        match &mut self.churn {
            None => {
                if self.workload.is_none() && self.churn_workload.is_none() {
                    self.workload = Some(StaticWorkload::default());
                }
            }
            Some(churn) => {
                if self.churn_workload.is_none() {
                    self.churn_workload = Some(WorkloadSpec::default());
                }
                if let ChurnModel::Trace(src) = &mut churn.model
                    && src.path.is_relative()
                {
                    let joined = spec_dir.join(&src.path);
                    src.path = std::path::absolute(&joined).unwrap_or(joined);
                }
            }
        }
    }

    /// Checks every value against its valid range; the error names the file
    /// and the first bad field. A churn model's trace file is read here, so a
    /// missing or malformed trace fails before anything runs.
    pub fn validate(&self, file: &Path) -> Result<(), Error> {
        let value_error =
            |(path_in_spec, value, expected): (String, String, String)| Error::SpecValue {
                file: file.to_path_buf(),
                path_in_spec,
                value,
                expected,
            };
        let unsupported = |path: &str, reason: &str| Error::SpecUnsupported {
            file: file.to_path_buf(),
            path_in_spec: path.to_string(),
            reason: reason.to_string(),
        };
        let sim_error = |e: InvalidConfig| value_error((e.path, e.value, e.expected));
        let param_error = |prefix: &str, e: InvalidParam| {
            value_error((format!("{prefix}.{}", e.param), e.value, e.expected))
        };
        if let Some(s) = &self.series {
            if self.calls.is_some() {
                return Err(unsupported(
                    "series",
                    "time series are recorded in overlay runs; a calls run (`[calls]`) has none",
                ));
            }
            s.validate().map_err(sim_error)?;
        }
        if let Some(calls) = &self.calls {
            return calls.validate(self.run.seed, file);
        }
        if let Some(nat) = &self.nat {
            nat.validate(file)?;
        }
        let protocols = &self.dht.protocol.0;
        if protocols.is_empty() {
            return Err(value_error((
                "dht.protocol".into(),
                "[]".into(),
                "at least one of `kademlia`, `chord`".into(),
            )));
        }
        for (i, p) in protocols.iter().enumerate() {
            if protocols[..i].contains(p) {
                return Err(value_error((
                    format!("dht.protocol[{i}]"),
                    format!("\"{p}\""),
                    "each protocol at most once".into(),
                )));
            }
        }
        self.network.validate().map_err(sim_error)?;
        if let Some(g) = &self.graph {
            g.validate().map_err(value_error)?;
        }
        self.dht
            .kademlia
            .to_config()
            .validate()
            .map_err(|e| value_error(self.dht.kademlia.config_error(e)))?;
        self.dht
            .chord
            .to_config()
            .validate()
            .map_err(|e| value_error(self.dht.chord.config_error(e)))?;
        match &self.churn {
            None => {
                if self.churn_workload.is_some() {
                    return Err(unsupported(
                        "churn_workload",
                        "it is the churn scenario's workload; add a `[churn]` table, \
                         or use `[workload]` for the static scenario",
                    ));
                }
                if let Some(w) = &self.workload {
                    w.validate().map_err(sim_error)?;
                }
            }
            Some(churn) => {
                if self.workload.is_some() {
                    return Err(unsupported(
                        "workload",
                        "it is the static scenario's workload; a churn run takes \
                         `[churn_workload]` (for example `lookups = { rate_per_s = 0.01 }`)",
                    ));
                }
                churn.build().map_err(|e| match e {
                    ChurnError::Invalid(p) => param_error("churn", p),
                    ChurnError::Trace(t) => value_error((
                        "churn.model.path".into(),
                        match &churn.model {
                            ChurnModel::Trace(src) => src.path.display().to_string(),
                            _ => String::new(),
                        },
                        t.to_string(),
                    )),
                })?;
                if let Some(w) = &self.churn_workload {
                    w.validate().map_err(|e| param_error("churn_workload", e))?;
                    if let Some(r) = &w.registration {
                        // Whole seconds, as the DHT's TTL needs; the hash
                        // does not matter for the check.
                        registrar_config(r, HashAlg::Sha1, "churn_workload.registration")
                            .map_err(sim_error)?;
                    }
                    if w.calls.is_some() {
                        return Err(unsupported(
                            "churn_workload.calls",
                            "calls run in a calls spec: use a [calls] table (its `lookup` makes the caller read the callee's registration through the DHT)",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The Kademlia configuration of this spec.
    pub fn kademlia(&self) -> KademliaConfig {
        self.dht.kademlia.to_config()
    }

    /// The Chord configuration of this spec.
    pub fn chord(&self) -> ChordConfig {
        self.dht.chord.to_config()
    }

    /// The protocols this spec runs, in order.
    pub fn protocols(&self) -> &[DhtProtocol] {
        &self.dht.protocol.0
    }

    /// Whether the spec compares more than one protocol.
    pub fn is_comparison(&self) -> bool {
        self.dht.protocol.0.len() > 1
    }

    /// The routing mode of `protocol`'s workload lookups: `dht.routing`, or
    /// the protocol's paper default when the spec leaves it unset.
    pub fn routing_mode(&self, protocol: DhtProtocol) -> RoutingMode {
        self.dht
            .routing
            .map_or_else(|| protocol.default_routing(), Routing::mode)
    }

    /// What `dht.routing` resolves to, for `spec show` and the spec list:
    /// `"parallel-iterative"`, or per protocol when they differ
    /// (`"kademlia parallel-iterative, chord iterative"`).
    pub fn routing_resolved(&self) -> String {
        let modes: Vec<(DhtProtocol, RoutingMode)> = self
            .protocols()
            .iter()
            .map(|&p| (p, self.routing_mode(p)))
            .collect();
        match modes.as_slice() {
            [(_, m), rest @ ..] if rest.iter().all(|(_, x)| x == m) => m.name().to_string(),
            _ => modes
                .iter()
                .map(|(p, m)| format!("{p} {m}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Whether this is a churn run with registrations (it then writes
    /// `registrations.parquet`).
    pub fn has_registrations(&self) -> bool {
        self.churn.is_some()
            && self
                .churn_workload
                .as_ref()
                .is_some_and(|w| w.registration.is_some())
    }

    /// The static scenario's workload (its defaults if the spec has none).
    pub fn static_workload(&self) -> StaticWorkload {
        self.workload.clone().unwrap_or_default()
    }

    /// The fully resolved spec, every default filled in, as TOML.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot print the spec as TOML: {e}")))
    }
}

/// Turns a TOML or schema error into one that names the file and, when the
/// error carries a span, the dotted path of the field it points at.
fn parse_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let field = e.span().and_then(|span| field_at(text, span));
    Error::SpecParse {
        path: path.to_path_buf(),
        field,
        message: e.to_string().trim_end().to_string(),
    }
}

/// The dotted path of the innermost key or value whose span covers the start
/// of `span`.
fn field_at(text: &str, span: Range<usize>) -> Option<String> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut best: Option<(usize, String)> = None;
    walk_table(doc.get_ref(), "", span.start, &mut best);
    best.map(|(_, p)| p)
}

fn covers(s: Range<usize>, pos: usize) -> bool {
    s.start <= pos && pos < s.end.max(s.start + 1)
}

fn consider(best: &mut Option<(usize, String)>, s: Range<usize>, pos: usize, path: &str) {
    if covers(s.clone(), pos) {
        let len = s.end - s.start;
        if best.as_ref().is_none_or(|(l, _)| len <= *l) {
            *best = Some((len, path.to_string()));
        }
    }
}

fn walk_table(
    t: &toml::de::DeTable<'_>,
    prefix: &str,
    pos: usize,
    best: &mut Option<(usize, String)>,
) {
    for (k, v) in t.iter() {
        let path = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        consider(best, k.span(), pos, &path);
        consider(best, v.span(), pos, &path);
        walk_value(v.get_ref(), &path, pos, best);
    }
}

fn walk_value(
    v: &toml::de::DeValue<'_>,
    path: &str,
    pos: usize,
    best: &mut Option<(usize, String)>,
) {
    match v {
        toml::de::DeValue::Table(t) => walk_table(t, path, pos, best),
        toml::de::DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                consider(best, item.span(), pos, &p);
                walk_value(item.get_ref(), &p, pos, best);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Spec, Error> {
        Spec::parse(text, Path::new("specs/test.toml"))
    }

    fn message(text: &str) -> String {
        parse(text)
            .expect_err("the spec should be rejected")
            .to_string()
    }

    #[test]
    fn empty_spec_resolves_to_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.run.name, "test");
        assert_eq!(s.run.seed, 1);
        assert_eq!(s.network, NetworkConfig::default());
        assert_eq!(s.workload, Some(StaticWorkload::default()));
        assert_eq!(s.kademlia(), KademliaConfig::default());
        assert_eq!(s.chord(), ChordConfig::default());
        assert_eq!(s.protocols(), [DhtProtocol::Kademlia]);
        assert_eq!(s.dht.routing, None);
        assert_eq!(
            s.routing_mode(DhtProtocol::Kademlia),
            RoutingMode::ParallelIterative,
            "Kademlia's paper default"
        );
        assert_eq!(s.routing_mode(DhtProtocol::Chord), RoutingMode::Iterative);
        assert_eq!(s.routing_resolved(), "parallel-iterative");
        assert!(s.churn.is_none() && s.churn_workload.is_none());
    }

    #[test]
    fn resolved_toml_round_trips() {
        let s = parse("[network]\nnodes = 17\n[dht.kademlia]\nk = 8\nhash = \"sha256\"\n").unwrap();
        let text = s.to_toml().unwrap();
        assert!(text.contains("[dht.kademlia]"), "{text}");
        assert!(text.contains("model = \"coordinates\""), "{text}");
        assert_eq!(parse(&text).unwrap(), s);
        assert_eq!(s.kademlia().hash, HashAlg::Sha256);
    }

    #[test]
    fn unknown_field_names_file_path_and_line() {
        let m = message("[run]\nseed = 3\n\n[network]\nnodes = 10\nnodez = 5\n");
        assert!(m.contains("specs/test.toml"), "{m}");
        assert!(m.contains("`network.nodez`"), "{m}");
        assert!(m.contains("unknown field `nodez`"), "{m}");
        assert!(m.contains("line 6"), "{m}");
    }

    #[test]
    fn unknown_table_is_named() {
        let m = message("[netwrok]\nnodes = 10\n");
        assert!(m.contains("`netwrok`"), "{m}");
    }

    #[test]
    fn negative_and_zero_nodes_name_the_field() {
        let m = message("[network]\nnodes = -5\n");
        assert!(m.contains("network.nodes"), "{m}");
        let m = message("[network]\nnodes = 0\n");
        assert!(m.contains("network.nodes = 0"), "{m}");
        let m = message("network = { nodes = -1 }\n");
        assert!(m.contains("network.nodes"), "{m}");
    }

    #[test]
    fn unknown_protocol_lists_the_allowed_values() {
        let m = message("[dht]\nprotocol = \"pastry\"\n");
        assert!(m.contains("dht.protocol"), "{m}");
        assert!(m.contains("`kademlia`") && m.contains("`chord`"), "{m}");
        let m = message("[dht]\nprotocol = [\"chord\", \"pastry\"]\n");
        assert!(
            m.contains("dht.protocol[1]") && m.contains("`chord`"),
            "{m}"
        );
        let m = message("[dht]\nprotocol = [\"chord\", \"chord\"]\n");
        assert!(
            m.contains("dht.protocol[1]") && m.contains("at most once"),
            "{m}"
        );
        let m = message("[dht]\nprotocol = []\n");
        assert!(m.contains("dht.protocol = []"), "{m}");
        let m = message("[dht]\nprotocol = 3\n");
        assert!(m.contains("dht.protocol"), "{m}");
        let m = message("[dht]\nrouting = \"flooding\"\n");
        assert!(
            m.contains("dht.routing") && m.contains("`recursive`"),
            "{m}"
        );
    }

    #[test]
    fn protocols_and_routing_round_trip() {
        let s = parse("[dht]\nprotocol = \"chord\"\nrouting = \"recursive\"\n").unwrap();
        assert_eq!(s.protocols(), [DhtProtocol::Chord]);
        assert!(!s.is_comparison());
        assert_eq!(s.routing_mode(DhtProtocol::Chord), RoutingMode::Recursive);
        let text = s.to_toml().unwrap();
        assert!(text.contains("protocol = \"chord\""), "{text}");
        assert_eq!(parse(&text).unwrap(), s);
        let s = parse("[dht]\nprotocol = [\"chord\", \"kademlia\"]\n").unwrap();
        assert_eq!(s.protocols(), [DhtProtocol::Chord, DhtProtocol::Kademlia]);
        assert!(s.is_comparison());
        assert_eq!(parse(&s.to_toml().unwrap()).unwrap(), s);
        let s = parse("[dht]\nprotocol = [\"kademlia\", \"chord\"]\n").unwrap();
        assert_eq!(
            s.routing_resolved(),
            "kademlia parallel-iterative, chord iterative"
        );
        let s = parse("[dht]\nrouting = \"parallel-iterative\"\n[dht.chord]\nalpha = 5\n").unwrap();
        assert_eq!(
            s.routing_mode(DhtProtocol::Chord),
            RoutingMode::ParallelIterative
        );
        assert_eq!(s.chord().alpha, 5);
        let again = parse(&s.to_toml().unwrap()).unwrap();
        assert_eq!(again, s);
        let m = message("[dht.chord]\nalpha = 0\n");
        assert!(m.contains("dht.chord.alpha = 0"), "{m}");
    }

    #[test]
    fn chord_table_mirrors_the_core_config() {
        let s = parse(
            "[dht.chord]\nid_bits = 32\nsuccessors = 16\nreplicas = 4\n\
             stabilize_interval_ms = 500\nrecursive_timeout_ms = 3000\nhash = \"sha256\"\n",
        )
        .unwrap();
        let c = s.chord();
        assert_eq!((c.id_bits, c.successors, c.replicas), (32, 16, 4));
        assert_eq!(c.stabilize_interval, Duration::from_millis(500));
        assert_eq!(c.recursive_timeout, Duration::from_secs(3));
        assert_eq!(c.hash, HashAlg::Sha256);
        assert_eq!(ChordSpec::from(&c).to_config(), c);
        let text = s.to_toml().unwrap();
        assert!(text.contains("[dht.chord]") && text.contains("fix_fingers_interval_ms = 120000"));
        assert_eq!(parse(&text).unwrap(), s);
    }

    #[test]
    fn chord_validation_uses_spec_paths() {
        for (text, needle) in [
            ("successors = 0", "dht.chord.successors = 0"),
            ("replicas = 9", "dht.chord.replicas = 9"),
            ("id_bits = 161", "dht.chord.id_bits = 161"),
            (
                "stabilize_interval_ms = 0",
                "dht.chord.stabilize_interval_ms = 0",
            ),
            (
                "fix_fingers_interval_ms = 0",
                "dht.chord.fix_fingers_interval_ms = 0",
            ),
            (
                "check_predecessor_interval_ms = 0",
                "dht.chord.check_predecessor_interval_ms = 0",
            ),
            (
                "min_rpc_timeout_ms = 9000",
                "dht.chord.min_rpc_timeout_ms = 9000",
            ),
            ("max_hops = 0", "dht.chord.max_hops = 0"),
            ("timer_jitter = 1.5", "dht.chord.timer_jitter = 1.5"),
            (
                "republish_interval_s = 0",
                "dht.chord.republish_interval_s = 0",
            ),
            (
                "stabilise_interval_ms = 5",
                "dht.chord.stabilise_interval_ms",
            ),
        ] {
            let m = message(&format!("[dht.chord]\n{text}\n"));
            assert!(m.contains(needle), "{text}: {m}");
        }
    }

    const CHURN: &str = "[churn]\nnodes = 50\nmeasurement_s = 600.0\n";

    #[test]
    fn churn_tables_parse_resolve_and_round_trip() {
        for kind in [
            "kad",
            "p2psim",
            "bamboo-extreme",
            "skype-supernode",
            "static",
        ] {
            let s = parse(&format!("{CHURN}model = {{ kind = \"{kind}\" }}\n")).unwrap();
            assert!(s.workload.is_none(), "{kind}");
            assert_eq!(s.churn_workload, Some(WorkloadSpec::default()));
            assert_eq!(s.network.nodes, 50);
            let text = s.to_toml().unwrap();
            assert!(
                text.contains("[churn]") && !text.contains("[workload]"),
                "{text}"
            );
            assert_eq!(parse(&text).unwrap(), s, "{kind}:\n{text}");
        }
        let s = parse(&format!(
            "{CHURN}model = {{ kind = \"lifetime\", up = {{ dist = \"weibull\", shape = 0.6, scale_s = 600.0 }}, down = {{ dist = \"exponential\", mean_s = 600.0 }} }}\n\
             [[churn.mass_failures]]\nat_s = 100.0\nfraction = 0.25\n\
             [churn_workload]\nlookups = {{ rate_per_s = 0.01 }}\n"
        ))
        .unwrap();
        assert_eq!(parse(&s.to_toml().unwrap()).unwrap(), s);
    }

    #[test]
    fn churn_errors_name_the_path() {
        let m = message(&format!("{CHURN}model = {{ kind = \"weekly\" }}\n"));
        assert!(m.contains("churn.model") && m.contains("p2psim"), "{m}");
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"p2psim\" }}\nnodez = 3\n"
        ));
        assert!(m.contains("churn.nodez"), "{m}");
        let m = message("[churn]\nnodes = 0\nmeasurement_s = 60.0\nmodel = { kind = \"kad\" }\n");
        assert!(m.contains("churn.nodes = 0"), "{m}");
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\njoin_rate_per_s = -1.0\n"
        ));
        assert!(m.contains("churn.join_rate_per_s = -1"), "{m}");
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[churn_workload]\nlookups = {{ rate_per_s = 0.0 }}\n"
        ));
        assert!(m.contains("churn_workload.lookups.rate_per_s = 0"), "{m}");
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[churn_workload]\nlookupz = 1\n"
        ));
        assert!(m.contains("churn_workload.lookupz"), "{m}");
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[workload]\nlookups = 5\n"
        ));
        assert!(
            m.contains("`workload`") && m.contains("churn_workload"),
            "{m}"
        );
        let m = message("[churn_workload]\nlookups = { rate_per_s = 0.1 }\n");
        assert!(
            m.contains("`churn_workload`") && m.contains("[churn]"),
            "{m}"
        );
        let m = message(&format!(
            "[network]\nnodes = 10\n{CHURN}model = {{ kind = \"kad\" }}\n"
        ));
        assert!(
            m.contains("`network.nodes`") && m.contains("churn.nodes"),
            "{m}"
        );
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[[churn.partitions]]\nstart_s = 2.0\nend_s = 1.0\nside_a_fraction = 0.5\n"
        ));
        assert!(m.contains("churn.partitions[0]"), "{m}");
        // Registrations run in the churn scenario; a bad value names its field.
        let ok = parse(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[churn_workload]\nregistration = {{ refresh_s = 10.0, expires_s = 20.0, read_interval_s = 5.0 }}\n"
        ))
        .expect("registrations are accepted");
        let r = ok.churn_workload.and_then(|w| w.registration).unwrap();
        assert_eq!(r.read_interval_s, Some(5.0));
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[churn_workload]\nregistration = {{ refresh_s = 10.5, expires_s = 20.0 }}\n"
        ));
        assert!(
            m.contains("churn_workload.registration.refresh_s") && m.contains("whole number"),
            "{m}"
        );
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[churn_workload]\nregistration = {{ refresh_s = 10.0, expires_s = 20.0, read_interval_s = -1.0 }}\n"
        ));
        assert!(
            m.contains("churn_workload.registration.read_interval_s"),
            "{m}"
        );
        let m = message(&format!(
            "{CHURN}model = {{ kind = \"kad\" }}\n[churn_workload]\ncalls = {{ rate_per_s = 0.1 }}\n"
        ));
        assert!(m.contains("`churn_workload.calls`"), "{m}");
    }

    #[test]
    fn trace_paths_resolve_against_the_spec_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("traces")).unwrap();
        std::fs::write(
            dir.path().join("traces/t.csv"),
            "time,node,event\n0,0,join\n0,1,join\n50,1,leave\n",
        )
        .unwrap();
        let spec_path = dir.path().join("s.toml");
        let text = "[churn]\nmeasurement_s = 60.0\nmodel = { kind = \"trace\", path = \"traces/t.csv\", format = \"csv\" }\n";
        let s = Spec::parse(text, &spec_path).unwrap();
        match &s.churn.as_ref().unwrap().model {
            ChurnModel::Trace(src) => {
                assert!(src.path.is_absolute(), "{}", src.path.display());
                assert!(src.path.ends_with("traces/t.csv"));
            }
            other => panic!("{other:?}"),
        }
        let m = Spec::parse(&text.replace("t.csv", "missing.csv"), &spec_path)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("churn.model.path") && m.contains("missing.csv"),
            "{m}"
        );
    }

    #[test]
    fn kademlia_validation_uses_spec_paths() {
        let m = message("[dht.kademlia]\nalpha = 0\n");
        assert!(m.contains("dht.kademlia.alpha = 0"), "{m}");
        let m = message("[dht.kademlia]\nrpc_timeout_ms = 0\n");
        assert!(m.contains("dht.kademlia.rpc_timeout_ms = 0"), "{m}");
        let m = message("[dht.kademlia]\nmin_rpc_timeout_ms = 5000\n");
        assert!(m.contains("dht.kademlia.min_rpc_timeout_ms = 5000"), "{m}");
        let m = message("[dht.kademlia]\nrecursive_timeout_ms = 0\n");
        assert!(m.contains("dht.kademlia.recursive_timeout_ms = 0"), "{m}");
        let m = message("[dht.kademlia]\nhash = \"md5\"\n");
        assert!(
            m.contains("dht.kademlia.hash") && m.contains("sha256"),
            "{m}"
        );
    }

    #[test]
    fn latency_model_errors_name_the_table() {
        let m = message("[network.latency]\nmodel = \"constant\"\n");
        assert!(m.contains("network.latency"), "{m}");
        assert!(m.contains("ms"), "{m}");
        let m = message("[network.latency]\nmodel = \"constant\"\nms = -1.0\n");
        assert!(m.contains("network.latency.ms"), "{m}");
    }

    #[test]
    fn missing_file_names_it() {
        let m = Spec::load(Path::new("/nonexistent/dir/spec.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            m.starts_with("cannot read spec /nonexistent/dir/spec.toml:"),
            "{m}"
        );
    }
}
