//! peerlab-node: the sans-IO core over real UDP sockets.
//!
//! [`spawn`] binds a UDP socket for the overlay and a loopback TCP listener for
//! the control interface, then runs one event-loop task that owns one DHT
//! node, [`peerlab_core::kademlia::Kademlia`] or [`peerlab_core::chord::Chord`]
//! as [`NodeOptions::dht`] says: the same state machines the simulator
//! measures. The driver is generic over the [`peerlab_core::Protocol`] trait;
//! it only converts addresses and time at the edge, encodes and decodes
//! datagrams, and counts traffic.
//!
//! Beside the DHT, each node registers users (`ctl register`, `whois`,
//! `unregister`; removed on graceful leave), places and answers calls with
//! synthetic media (`ctl call`), and relays calls for others; see
//! [`peerlab_core::registration`] and [`peerlab_core::media`].
//!
//! [`run_blocking`] is the `peerlab node run` entry point; [`ctl`] and
//! [`ctl_blocking`] are the client side of the control interface (see
//! [`control`] for the line protocol).

pub mod control;
mod driver;
mod error;

pub use control::{
    CtlCall, CtlContact, CtlCost, CtlDirection, CtlRecord, CtlRelay, CtlReply, CtlRequest,
    CtlRoute, CtlStats, ctl, ctl_blocking,
};
pub use error::NodeError;

use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{ConfigError, Kademlia, KademliaConfig};
use peerlab_core::{HashAlg, NodeId};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The UDP address for overlay traffic (IPv4 only; port 0 picks a free port).
    pub listen: SocketAddr,
    /// The TCP address of the control interface; must be a loopback address.
    pub control: SocketAddr,
    /// Nodes already in the overlay; empty starts a new overlay.
    pub bootstrap: Vec<SocketAddr>,
    /// Seed for the node's random choices; `None` draws one from process entropy.
    pub seed: Option<u64>,
    /// The DHT to run, with its parameters.
    pub dht: DhtConfig,
    /// The node's id; `None` hashes the bound UDP address and the seed with
    /// the DHT's `hash`.
    pub id: Option<NodeId>,
    /// Whether the node relays calls for others (accepts relay allocations).
    pub relay: bool,
}

/// Which DHT a live node runs, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum DhtConfig {
    /// Kademlia (Maymounkov and Mazières 2002).
    Kademlia(KademliaConfig),
    /// Chord (Stoica et al. 2001).
    Chord(ChordConfig),
}

impl Default for DhtConfig {
    /// Kademlia with its default parameters.
    fn default() -> Self {
        DhtConfig::Kademlia(KademliaConfig::default())
    }
}

impl DhtConfig {
    /// The protocol's name: `kademlia` or `chord`.
    pub fn name(&self) -> &'static str {
        match self {
            DhtConfig::Kademlia(_) => "kademlia",
            DhtConfig::Chord(_) => "chord",
        }
    }

    /// The hash that maps names to ids.
    pub fn hash(&self) -> HashAlg {
        match self {
            DhtConfig::Kademlia(c) => c.hash,
            DhtConfig::Chord(c) => c.hash,
        }
    }

    /// Checks the parameters; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            DhtConfig::Kademlia(c) => c.validate(),
            DhtConfig::Chord(c) => c.validate(),
        }
    }
}

impl Default for NodeOptions {
    /// A node on free loopback ports starting a new overlay, running Kademlia
    /// with its default parameters.
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        NodeOptions {
            listen: loopback,
            control: loopback,
            bootstrap: Vec::new(),
            seed: None,
            dht: DhtConfig::default(),
            id: None,
            relay: true,
        }
    }
}

/// Where a running node can be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's overlay id.
    pub id: NodeId,
    /// The bound UDP address.
    pub udp: SocketAddr,
    /// The bound control address.
    pub control: SocketAddr,
}

/// A running node. Dropping the handle shuts the node down (as [`NodeHandle::shutdown`]
/// would, without waiting).
#[derive(Debug)]
pub struct NodeHandle {
    /// Where the node can be reached.
    pub info: NodeInfo,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), NodeError>>,
}

impl NodeHandle {
    /// Leaves the overlay, sends what is queued, and waits for the event loop to end.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        if let Some(stop) = self.stop.take() {
            // The loop may have stopped already (after `leave`); that is fine.
            let _ = stop.send(());
        }
        join(&mut self.task).await
    }

    /// Waits until the node stops by itself (a `leave` control request).
    pub async fn wait(mut self) -> Result<(), NodeError> {
        let _keep_running = self.stop.take();
        join(&mut self.task).await
    }
}

async fn join(task: &mut JoinHandle<Result<(), NodeError>>) -> Result<(), NodeError> {
    task.await
        .map_err(|e| NodeError::EventLoop(e.to_string()))?
}

/// Checks the options, binds both sockets, starts the event loop, and returns
/// once the node is listening (it joins in the background).
pub async fn spawn(opts: NodeOptions) -> Result<NodeHandle, NodeError> {
    if opts.listen.is_ipv6() {
        return Err(NodeError::Ipv6Listen(opts.listen));
    }
    if !opts.control.ip().is_loopback() {
        return Err(NodeError::NonLoopbackControl(opts.control));
    }
    if let Some(b) = opts.bootstrap.iter().find(|b| b.is_ipv6()) {
        return Err(NodeError::Ipv6Bootstrap(*b));
    }
    opts.dht.validate()?;

    let socket = UdpSocket::bind(opts.listen)
        .await
        .map_err(|e| NodeError::bind("UDP socket", opts.listen, e))?;
    let udp = socket
        .local_addr()
        .map_err(|e| NodeError::io("cannot read the UDP socket's address", e))?;
    let listener = TcpListener::bind(opts.control)
        .await
        .map_err(|e| NodeError::bind("control listener", opts.control, e))?;
    let control = listener
        .local_addr()
        .map_err(|e| NodeError::io("cannot read the control address", e))?;

    let seed = opts.seed.unwrap_or_else(entropy_seed);
    let id = opts
        .id
        .unwrap_or_else(|| opts.dht.hash().hash(format!("{udp}/{seed}").as_bytes()));
    let info = NodeInfo { id, udp, control };
    // A node never bootstraps through itself.
    let bootstrap = opts
        .bootstrap
        .iter()
        .filter(|b| {
            **b != udp
                && !(udp.ip().is_unspecified() && b.port() == udp.port() && b.ip().is_loopback())
        })
        .filter_map(|b| driver::to_core(*b))
        .collect();
    let core_addr = driver::to_core(udp).ok_or(NodeError::Ipv6Listen(udp))?;

    let (ctl_tx, ctl_rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = oneshot::channel();
    let acceptor = tokio::spawn(control::serve(listener, ctl_tx));
    let protocol = opts.dht.name();
    let relay = opts.relay;
    let task = match opts.dht {
        DhtConfig::Kademlia(cfg) => {
            let node = Kademlia::new(Arc::new(cfg), id, core_addr, seed);
            let driver = driver::Driver::new(node, socket, info, bootstrap, relay);
            tokio::spawn(async move {
                let result = driver.run(ctl_rx, stop_rx).await;
                acceptor.abort();
                result
            })
        }
        DhtConfig::Chord(cfg) => {
            let node = Chord::new(Arc::new(cfg), id, core_addr, seed);
            let driver = driver::Driver::new(node, socket, info, bootstrap, relay);
            tokio::spawn(async move {
                let result = driver.run(ctl_rx, stop_rx).await;
                acceptor.abort();
                result
            })
        }
    };
    tracing::info!(%id, %udp, %control, protocol, "node listening");
    Ok(NodeHandle {
        info,
        stop: Some(stop_tx),
        task,
    })
}

/// Runs a node on a current-thread runtime until SIGINT, SIGTERM or a `leave`
/// control request, then leaves gracefully.
///
/// Once listening it prints one line to stdout,
/// `node <40-hex id> udp <addr> control <addr>`, for scripts to read.
pub fn run_blocking(opts: NodeOptions) -> Result<(), NodeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::io("cannot start the async runtime", e))?;
    runtime.block_on(async {
        let mut handle = spawn(opts).await?;
        announce(&handle.info);
        let stopped_by_itself = tokio::select! {
            r = &mut handle.task => Some(r),
            signal = stop_signal() => {
                match signal {
                    Ok(name) => tracing::info!("received {name}"),
                    Err(e) => tracing::warn!(error = %e, "cannot listen for signals"),
                }
                None
            }
        };
        match stopped_by_itself {
            Some(r) => r.map_err(|e| NodeError::EventLoop(e.to_string()))?,
            None => handle.shutdown().await,
        }
    })
}

fn announce(info: &NodeInfo) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let line = writeln!(
        out,
        "node {} udp {} control {}",
        info.id, info.udp, info.control
    );
    if let Err(e) = line.and_then(|()| out.flush()) {
        tracing::warn!(error = %e, "cannot print the node's addresses");
    }
}

/// Resolves with the signal's name on SIGINT or SIGTERM.
async fn stop_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT"),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
    }
}

/// A seed from process entropy (std's per-process random hash keys), the clock and the pid.
fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish()
}
