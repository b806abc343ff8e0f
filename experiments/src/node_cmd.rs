//! `peerlab node run` and `peerlab node ctl`: the live node behind the same
//! binary as the simulator, running the same core over real UDP sockets.

use crate::error::Error;
use crate::spec::{DhtProtocol, Spec};
use clap::{Args, Subcommand, ValueEnum};
use peerlab_core::Duration;
use peerlab_core::chord::ChordConfig;
use peerlab_node::{CtlRequest, DhtConfig, NodeOptions, ctl_blocking, run_blocking};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `peerlab node run`.
#[derive(Args, Debug)]
pub struct NodeRunArgs {
    /// UDP address for overlay traffic (IPv4; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Loopback TCP address of the control interface (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub control: SocketAddr,
    /// A node already in the overlay (repeat for several); none starts a new overlay.
    #[arg(long, value_name = "ADDR")]
    pub bootstrap: Vec<SocketAddr>,
    /// Seed for the node's random choices (default: from process entropy).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// The DHT to run (default: the spec's `dht.protocol` when `--spec`
    /// names exactly one, else kademlia).
    #[arg(long, value_enum, value_name = "DHT")]
    pub dht: Option<DhtArg>,
    /// Take the DHT's parameters from this spec's `[dht.kademlia]` or
    /// `[dht.chord]` table.
    #[arg(long, value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Chord parameters (override the spec's).
    #[command(flatten)]
    pub chord: ChordArgs,
    /// Refuse to relay calls for other nodes (by default every node relays).
    #[arg(long)]
    pub no_relay: bool,
}

/// The DHTs a live node can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DhtArg {
    /// Kademlia (Maymounkov and Mazières 2002).
    Kademlia,
    /// Chord (Stoica et al. 2001).
    Chord,
}

/// Chord parameters of `peerlab node run --dht chord`; each overrides the
/// spec's `[dht.chord]` value (or the default).
#[derive(Args, Debug, Default)]
pub struct ChordArgs {
    /// Chord: length r of the successor list.
    #[arg(long, value_name = "R")]
    pub successors: Option<usize>,
    /// Chord: nodes holding each value, the successor and the next ones (at
    /// most --successors, which lowers it when it is not given).
    #[arg(long, value_name = "N")]
    pub replicas: Option<usize>,
    /// Chord: stabilize/notify period in milliseconds.
    #[arg(long, value_name = "MS")]
    pub stabilize_ms: Option<u64>,
    /// Chord: period of a full finger refresh in milliseconds.
    #[arg(long, value_name = "MS")]
    pub fix_fingers_ms: Option<u64>,
    /// Chord: predecessor liveness check period in milliseconds.
    #[arg(long, value_name = "MS")]
    pub check_predecessor_ms: Option<u64>,
}

impl ChordArgs {
    /// The flags given, by name, for errors.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--successors", self.successors.is_some()),
            ("--replicas", self.replicas.is_some()),
            ("--stabilize-ms", self.stabilize_ms.is_some()),
            ("--fix-fingers-ms", self.fix_fingers_ms.is_some()),
            (
                "--check-predecessor-ms",
                self.check_predecessor_ms.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }

    /// `base` with the flags applied.
    fn apply(&self, mut base: ChordConfig) -> ChordConfig {
        if let Some(r) = self.successors {
            base.successors = r;
            // Unless set too, replicas follow a shorter successor list.
            if self.replicas.is_none() {
                base.replicas = base.replicas.min(r.max(1));
            }
        }
        if let Some(r) = self.replicas {
            base.replicas = r;
        }
        if let Some(ms) = self.stabilize_ms {
            base.stabilize_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = self.fix_fingers_ms {
            base.fix_fingers_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = self.check_predecessor_ms {
            base.check_predecessor_interval = Duration::from_millis(ms);
        }
        base
    }
}

/// The flag that sets a Chord parameter, for errors (`None`: only a spec sets it).
fn chord_flag(field: &str) -> Option<&'static str> {
    Some(match field {
        "successors" => "--successors",
        "replicas" => "--replicas",
        "stabilize_interval" => "--stabilize-ms",
        "fix_fingers_interval" => "--fix-fingers-ms",
        "check_predecessor_interval" => "--check-predecessor-ms",
        _ => return None,
    })
}

/// The DHT configuration `peerlab node run` asks for.
pub fn dht_config(args: &NodeRunArgs) -> Result<DhtConfig, Error> {
    let spec = match &args.spec {
        Some(path) => Some(Spec::load(path)?),
        None => None,
    };
    let dht = match (args.dht, &spec) {
        (Some(d), _) => d,
        (None, Some(s)) => match s.protocols() {
            [DhtProtocol::Chord] => DhtArg::Chord,
            _ => DhtArg::Kademlia,
        },
        (None, None) => DhtArg::Kademlia,
    };
    match dht {
        DhtArg::Kademlia => {
            let given = args.chord.given();
            if let Some(flag) = given.first() {
                return Err(Error::Node(format!(
                    "{flag} is a Chord parameter; add `--dht chord` to run Chord"
                )));
            }
            Ok(DhtConfig::Kademlia(
                spec.map(|s| s.kademlia()).unwrap_or_default(),
            ))
        }
        DhtArg::Chord => {
            let cfg = args
                .chord
                .apply(spec.map(|s| s.chord()).unwrap_or_default());
            cfg.validate().map_err(|e| {
                let by_flag = chord_flag(e.field).filter(|f| args.chord.given().contains(f));
                Error::Node(match by_flag {
                    Some(flag) => format!("{flag} = {} is invalid: {}", e.value, e.expected),
                    None => e.to_string(),
                })
            })?;
            Ok(DhtConfig::Chord(cfg))
        }
    }
}

/// A control request, as typed on the command line.
#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Add VALUE to the values stored under KEY.
    Put {
        /// The key's name (hashed to an id).
        key: String,
        /// The value (UTF-8 text).
        value: String,
        /// Lifetime in seconds (the node's default when absent).
        #[arg(long, value_name = "S")]
        ttl: Option<u32>,
    },
    /// Read every value stored under KEY.
    Get {
        /// The key's name.
        key: String,
    },
    /// Remove VALUE from the values stored under KEY.
    Remove {
        /// The key's name.
        key: String,
        /// The value to remove.
        value: String,
    },
    /// Find the nodes responsible for KEY (Kademlia: the closest; Chord: the
    /// successor and the nodes after it).
    Lookup {
        /// The key's name.
        key: String,
    },
    /// Show the routing state with each entry's role (Kademlia: buckets and
    /// replacement caches; Chord: successors, fingers, predecessor).
    Routes,
    /// Show the node's counters.
    Stats,
    /// Leave the overlay and stop the node (removing its registrations first).
    Leave,
    /// Register this node under an address of record (e.g. sip:alice@example.com);
    /// the node refreshes the registration until unregistered or stopped.
    Register {
        /// The address of record.
        aor: String,
    },
    /// Remove this node's registration under an address of record.
    Unregister {
        /// The address of record.
        aor: String,
    },
    /// Show the live contact records (node id, UDP address) under an address of record.
    Whois {
        /// The address of record.
        aor: String,
    },
    /// Look a user up and place a call with synthetic 64 kb/s voice (20 ms
    /// frames) both ways; prints frames, loss, max gap, one-way delay and,
    /// for relayed calls, the failover record (switches, interruptions).
    Call {
        /// The callee's address of record.
        aor: String,
        /// Call length in seconds.
        #[arg(long, value_name = "S", default_value_t = 5.0)]
        seconds: f64,
        /// Send the media through the node at this UDP address. Repeat it
        /// (or separate addresses with commas) to give failover candidates,
        /// in order: when the relay stops carrying media the call moves to
        /// the next.
        #[arg(long, value_name = "ADDR", value_delimiter = ',')]
        relay: Vec<SocketAddr>,
        /// Milliseconds without media from the relay before failing over to
        /// the next one (60 to 60000; default 1000).
        #[arg(long, value_name = "MS")]
        detect_ms: Option<u64>,
        /// Send every frame through this many relays at once (active
        /// failover; the receiver keeps the first copy); the call survives
        /// while any of them lives. Default 1.
        #[arg(long, value_name = "K")]
        redundancy: Option<u8>,
    },
}

impl From<CtlCommand> for CtlRequest {
    fn from(c: CtlCommand) -> CtlRequest {
        match c {
            CtlCommand::Put { key, value, ttl } => CtlRequest::Put {
                key,
                value,
                ttl_secs: ttl,
            },
            CtlCommand::Get { key } => CtlRequest::Get { key },
            CtlCommand::Remove { key, value } => CtlRequest::Remove { key, value },
            CtlCommand::Lookup { key } => CtlRequest::Lookup { key },
            CtlCommand::Routes => CtlRequest::Routes,
            CtlCommand::Stats => CtlRequest::Stats,
            CtlCommand::Leave => CtlRequest::Leave,
            CtlCommand::Register { aor } => CtlRequest::Register { aor },
            CtlCommand::Unregister { aor } => CtlRequest::Unregister { aor },
            CtlCommand::Whois { aor } => CtlRequest::Whois { aor },
            CtlCommand::Call {
                aor,
                seconds,
                relay,
                detect_ms,
                redundancy,
            } => CtlRequest::Call {
                aor,
                seconds,
                relays: relay,
                detect_ms,
                redundancy,
            },
        }
    }
}

/// Arguments of `peerlab node ctl`.
#[derive(Args, Debug)]
pub struct NodeCtlArgs {
    /// The node's control address (printed by `peerlab node run`).
    #[arg(long, value_name = "ADDR")]
    pub control: SocketAddr,
    /// The request.
    #[command(subcommand)]
    pub request: CtlCommand,
}

/// Runs a node until SIGINT, SIGTERM or `leave`.
pub fn run(args: NodeRunArgs) -> Result<(), Error> {
    let dht = dht_config(&args)?;
    let opts = NodeOptions {
        listen: args.listen,
        control: args.control,
        bootstrap: args.bootstrap,
        seed: args.seed,
        dht,
        id: None,
        relay: !args.no_relay,
    };
    run_blocking(opts).map_err(|e| Error::Node(e.to_string()))
}

/// Sends one control request and prints the reply to stdout.
pub fn ctl(args: NodeCtlArgs) -> Result<(), Error> {
    let reply =
        ctl_blocking(args.control, &args.request.into()).map_err(|e| Error::Node(e.to_string()))?;
    let text = reply.to_string();
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
    Ok(())
}
