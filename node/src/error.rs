//! The errors a live node and its control client report.

use std::net::SocketAddr;

/// Why a node could not start, run, or answer a control request.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The UDP listen address is IPv6; the core's addresses are IPv4 only.
    #[error(
        "listen address {0} is IPv6, but peerlab nodes support IPv4 only (use e.g. 127.0.0.1:4000)"
    )]
    Ipv6Listen(SocketAddr),
    /// A bootstrap address is IPv6.
    #[error("bootstrap address {0} is IPv6, but peerlab nodes support IPv4 only")]
    Ipv6Bootstrap(SocketAddr),
    /// The control address is not a loopback address.
    #[error(
        "control address {0} is not a loopback address; the control interface only listens on 127.0.0.1 or ::1"
    )]
    NonLoopbackControl(SocketAddr),
    /// The Kademlia configuration is invalid.
    #[error("invalid node configuration: {0}")]
    Config(#[from] peerlab_core::kademlia::ConfigError),
    /// A socket could not be bound because the port is taken.
    #[error("cannot bind {what} on {addr}: port in use")]
    PortInUse {
        /// Which socket (`UDP` or `control TCP`).
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A socket could not be bound for another reason.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// Which socket (`UDP` or `control TCP`).
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Some other I/O failure, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What failed.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The control interface could not be reached or the exchange failed.
    #[error("control interface at {addr}: {source}")]
    Control {
        /// The control address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The control interface answered something that is not a valid reply.
    #[error("control interface at {addr} sent an invalid reply: {reason}")]
    BadReply {
        /// The control address.
        addr: SocketAddr,
        /// What was wrong with it.
        reason: String,
    },
    /// The node refused or failed the request; the message says why.
    #[error("node error: {0}")]
    Remote(String),
    /// The node's event loop stopped abnormally.
    #[error("the node's event loop stopped abnormally: {0}")]
    EventLoop(String),
}

impl NodeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        NodeError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn bind(what: &'static str, addr: SocketAddr, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            NodeError::PortInUse { what, addr }
        } else {
            NodeError::Bind { what, addr, source }
        }
    }
}
