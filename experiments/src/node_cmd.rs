//! `peerlab node run` and `peerlab node ctl`: the live node behind the same
//! binary as the simulator, running the same core over real UDP sockets.

use crate::error::Error;
use crate::spec::Spec;
use clap::{Args, Subcommand};
use peerlab_node::{CtlRequest, NodeOptions, ctl_blocking, run_blocking};
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
    /// Take the Kademlia parameters from this spec's `[dht.kademlia]` table.
    #[arg(long, value_name = "SPEC")]
    pub spec: Option<PathBuf>,
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
    /// Find the nodes closest to KEY.
    Lookup {
        /// The key's name.
        key: String,
    },
    /// Show the routing table.
    Routes,
    /// Show the node's counters.
    Stats,
    /// Leave the overlay and stop the node.
    Leave,
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
    let kademlia = match &args.spec {
        Some(path) => Spec::load(path)?.kademlia(),
        None => Default::default(),
    };
    let opts = NodeOptions {
        listen: args.listen,
        control: args.control,
        bootstrap: args.bootstrap,
        seed: args.seed,
        kademlia,
        id: None,
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
