//! Experiment specs: the TOML file that says what to simulate.
//!
//! ```toml
//! [run]
//! name = "quickstart"
//! seed = 1
//!
//! [network]                 # the simulator's NetworkConfig
//! nodes = 1000
//! [network.latency]
//! model = "coordinates"
//!
//! [dht]
//! protocol = "kademlia"
//! [dht.kademlia]            # mirrors peerlab_core's KademliaConfig
//! k = 20
//!
//! [workload]                # the simulator's StaticWorkload
//! [sim]                     # the simulator's SimOptions
//! ```
//!
//! Every table and field is optional and defaults as documented on its type;
//! unknown fields are errors. Errors name the spec file and the dotted path of
//! the field (`network.nodes`), found from the parser's span when serde's own
//! message does not say it.

use crate::error::Error;
use crate::simapi::{InvalidConfig, NetworkConfig, SimOptions, StaticWorkload};
use peerlab_core::kademlia::{ConfigError, KademliaConfig};
use peerlab_core::{Duration, HashAlg};
use serde::{Deserialize, Serialize};
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
    /// What the nodes do.
    pub workload: StaticWorkload,
    /// Options of the simulator itself.
    pub sim: SimOptions,
}

/// `[run]`: what the run is called and its base seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSection {
    /// A short name for the run; defaults to the spec file's stem.
    pub name: String,
    /// The base seed; `peerlab run --seed` overrides it.
    pub seed: u64,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            name: String::new(),
            seed: 1,
        }
    }
}

/// The overlay protocols a spec can select.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DhtProtocol {
    /// Kademlia (Maymounkov and Mazières 2002).
    #[default]
    Kademlia,
}

/// `[dht]`: the protocol and its parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhtSection {
    /// Which overlay to run.
    pub protocol: DhtProtocol,
    /// `[dht.kademlia]`: Kademlia's parameters.
    pub kademlia: KademliaSpec,
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
            other => (other, e.value),
        };
        (
            format!("dht.kademlia.{name}"),
            value,
            e.expected.to_string(),
        )
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
        spec.validate(path)?;
        Ok(spec)
    }

    /// Checks every value against its valid range; the error names the file
    /// and the first bad field.
    pub fn validate(&self, file: &Path) -> Result<(), Error> {
        let value_error =
            |(path_in_spec, value, expected): (String, String, String)| Error::SpecValue {
                file: file.to_path_buf(),
                path_in_spec,
                value,
                expected,
            };
        let sim_error = |e: InvalidConfig| value_error((e.path, e.value, e.expected));
        self.network.validate().map_err(sim_error)?;
        self.dht
            .kademlia
            .to_config()
            .validate()
            .map_err(|e| value_error(self.dht.kademlia.config_error(e)))?;
        self.workload.validate().map_err(sim_error)?;
        Ok(())
    }

    /// The Kademlia configuration of this spec.
    pub fn kademlia(&self) -> KademliaConfig {
        self.dht.kademlia.to_config()
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
        assert_eq!(s.workload, StaticWorkload::default());
        assert_eq!(s.kademlia(), KademliaConfig::default());
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
        let m = message("[dht]\nprotocol = \"chord\"\n");
        assert!(m.contains("dht.protocol"), "{m}");
        assert!(m.contains("kademlia"), "{m}");
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
