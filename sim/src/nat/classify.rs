//! NAT type discovery in the simulator: the core's [`NatAgent`] classifier
//! run against two public server agents over a [`NatNet`].
//!
//! The test sequence itself lives in the core
//! ([`peerlab_core::nat::discovery`]); this module only places the agents
//! and runs them, so the simulator checks the same state machine a live node
//! runs.

pub use peerlab_core::nat::Classification;
use peerlab_core::nat::{DiscoveryServers, NatCommand, NatConfig, NatEvent, ServerRole};
use peerlab_core::{Duration, Instant, NodeId};

use super::agents::{AgentError, AgentNet};
use super::net::{HostId, NatNet};
use super::punch::Peer;

/// The servers a classification uses: two public hosts at different IPs,
/// each answering on `port` and `alt_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StunServers {
    /// The primary server host.
    pub primary: HostId,
    /// A server host at another IP (the primary's partner).
    pub other: HostId,
    /// The main port of both.
    pub port: u16,
    /// The alternate port of both.
    pub alt_port: u16,
}

/// One-way delay of every datagram in a classification.
pub const CLASSIFY_ONE_WAY: Duration = Duration::from_millis(10);

/// The longest a classification can take with the default agent timing
/// (five tests, each tried three times at 500 ms), with margin.
pub const CLASSIFY_BUDGET: Duration = Duration::from_secs(10);

/// Places the two server agents of `s` on `net`, partnered with each other.
/// Returns their indices and the servers as a client sees them.
pub fn place_servers(
    run: &mut AgentNet<'_>,
    s: StunServers,
    seed: u64,
) -> Result<(usize, usize, DiscoveryServers), AgentError> {
    let primary = run.local_addr(s.primary, s.port)?;
    let other = run.local_addr(s.other, s.port)?;
    let server = |partner| NatConfig {
        serve: Some(ServerRole {
            alt_port: s.alt_port,
            partner: Some(partner),
        }),
        ..NatConfig::default()
    };
    let a = run.add_agent(
        Peer {
            host: s.primary,
            port: s.port,
        },
        server(other),
        NodeId([0xA1; 20]),
        seed,
    )?;
    let b = run.add_agent(
        Peer {
            host: s.other,
            port: s.port,
        },
        server(primary),
        NodeId([0xA2; 20]),
        seed ^ 1,
    )?;
    let servers = DiscoveryServers {
        primary,
        alt_port: s.alt_port,
        partner: other,
    };
    Ok((a, b, servers))
}

/// Classifies `peer` starting at `now`: a client agent on `peer` runs the
/// core's test sequence against the server agents on `s`. Returns the
/// classification and when it finished.
pub fn classify(
    net: &mut NatNet,
    now: Instant,
    peer: Peer,
    s: StunServers,
) -> Result<(Classification, Instant), AgentError> {
    let mut run = AgentNet::new(net, now, CLASSIFY_ONE_WAY, 0.0, 0);
    let (_, _, servers) = place_servers(&mut run, s, 1)?;
    let id = NodeId([0xC0; 20]);
    let client = run.add_agent(peer, NatConfig::default(), id, 2)?;
    run.command(client, NatCommand::Classify(servers));
    let end = run.run_until(now + CLASSIFY_BUDGET, |i, e| {
        i == client && matches!(e, NatEvent::Classified(_))
    });
    let found = run.take_events().into_iter().find_map(|(i, _, e)| match e {
        NatEvent::Classified(c) if i == client => Some(c),
        _ => None,
    });
    found
        .map(|c| (c, end))
        .ok_or(AgentError::Unfinished("classification"))
}
