//! A connection attempt between two hosts, run by the core's [`NatAgent`]s
//! over a [`NatNet`]: both classify themselves and attach to a public
//! rendezvous, then the caller connects (direct probe, rendezvous
//! introduction, simultaneous probes with retries; see
//! [`peerlab_core::nat::agent`]). Datagrams cross every middlebox when sent
//! and arrive one one-way delay later, so bindings age as they would.
//!
//! [`NatAgent`]: peerlab_core::nat::NatAgent

use peerlab_core::nat::{
    ConnectOutcome, ConnectRequest, Connectivity, NatCommand, NatConfig, NatEvent, NatType,
};
use peerlab_core::{Addr, Duration, Instant, NodeId};

use super::agents::{AgentError, AgentNet};
use super::classify::{StunServers, place_servers};
use super::middlebox::Middlebox;
use super::net::{HostId, NatNet, NetError, Realm};
/// A host and the UDP port it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The host.
    pub host: HostId,
    /// Its local port.
    pub port: u16,
}

/// Timing and retries of a connection attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PunchConfig {
    /// Punching attempts before giving up (at least one is made).
    pub attempts: u32,
    /// Probe pairs per attempt.
    pub probes_per_attempt: u32,
    /// Time between probes within an attempt.
    pub probe_interval: Duration,
    /// Time from one attempt's start to the next's.
    pub attempt_timeout: Duration,
    /// One-way delay of every packet.
    pub one_way: Duration,
    /// Probability that any packet is lost (0 in the oracle matrix).
    pub loss: f64,
    /// Seed of the loss draws.
    pub seed: u64,
}

impl Default for PunchConfig {
    fn default() -> Self {
        PunchConfig {
            attempts: 3,
            probes_per_attempt: 3,
            probe_interval: Duration::from_millis(50),
            attempt_timeout: Duration::from_secs(1),
            one_way: Duration::from_millis(20),
            loss: 0.0,
            seed: 0,
        }
    }
}

/// The outcome of [`connect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PunchReport {
    /// Direct, punched, or relayed with the reason, in the oracle's terms.
    pub outcome: Connectivity,
    /// The outcome as the caller's agent reported it.
    pub agent_outcome: ConnectOutcome,
    /// The caller's reflexive address, from its classification.
    pub caller_reflexive: Option<Addr>,
    /// The callee's reflexive address, from its classification.
    pub callee_reflexive: Option<Addr>,
    /// The punching attempt that succeeded (1-based), if punched.
    pub punch_attempt: Option<u32>,
    /// When the connection attempt started (after both classified).
    pub started: Instant,
    /// When it finished.
    pub finished: Instant,
}

impl PunchConfig {
    /// The agent configuration this attempt uses.
    pub fn agent_config(&self) -> NatConfig {
        NatConfig {
            punch_attempts: self.attempts,
            request_retries: self.attempts.saturating_sub(1),
            probes_per_attempt: self.probes_per_attempt,
            probe_interval: self.probe_interval,
            attempt_timeout: self.attempt_timeout,
            ..NatConfig::default()
        }
    }
}

/// Time allowed for each phase (classification, then connecting).
const PHASE_BUDGET: Duration = Duration::from_secs(60);

/// `caller` calls `callee` through the rendezvous `servers.primary`:
///
/// 1. both place a client agent, classify themselves against `servers`
///    (which also registers them with the rendezvous) and attach to the
///    rendezvous for keepalives;
/// 2. the caller connects, knowing what the callee's contact record would
///    hold: its id, reflexive address and NAT class.
pub fn connect(
    net: &mut NatNet,
    now: Instant,
    caller: Peer,
    callee: Peer,
    servers: StunServers,
    cfg: &PunchConfig,
) -> Result<PunchReport, AgentError> {
    let mut run = AgentNet::new(net, now, cfg.one_way, cfg.loss, cfg.seed);
    let (rv, _, stun) = place_servers(&mut run, servers, cfg.seed)?;
    let rendezvous = stun.primary;
    let _ = rv;
    let ids = [NodeId([0xCA; 20]), NodeId([0xCE; 20])];
    let a = run.add_agent(caller, cfg.agent_config(), ids[0], cfg.seed ^ 0xA)?;
    let b = run.add_agent(callee, cfg.agent_config(), ids[1], cfg.seed ^ 0xB)?;
    for x in [a, b] {
        run.command(x, NatCommand::Classify(stun));
        run.command(x, NatCommand::Attach { rendezvous });
    }
    let mut classified = [None, None];
    let deadline = now + PHASE_BUDGET;
    run.run_until(deadline, |i, e| {
        if let NatEvent::Classified(c) = e
            && let Some(slot) = [a, b].iter().position(|&x| x == i)
        {
            classified[slot] = Some(*c);
        }
        classified.iter().all(Option::is_some)
    });
    let [Some(ca), Some(cb)] = classified else {
        return Err(AgentError::Unfinished("classification"));
    };
    run.take_events();
    let started = run.now();
    run.command(
        a,
        NatCommand::Connect(ConnectRequest {
            target: ids[1],
            reflexive: cb.reflexive,
            nat: Some(cb.nat_type),
            rendezvous,
        }),
    );
    let mut outcome = None;
    let finished = run.run_until(started + PHASE_BUDGET, |i, e| {
        if let NatEvent::Connected { outcome: o, .. } = e
            && i == a
        {
            outcome = Some(*o);
        }
        outcome.is_some()
    });
    let agent_outcome = outcome.ok_or(AgentError::Unfinished("connection attempt"))?;
    Ok(PunchReport {
        outcome: agent_outcome.connectivity(),
        agent_outcome,
        caller_reflexive: ca.reflexive,
        callee_reflexive: cb.reflexive,
        punch_attempt: match agent_outcome {
            ConnectOutcome::Punched { attempt, .. } => Some(attempt),
            _ => None,
        },
        started,
        finished,
    })
}

/// The public rendezvous's address in [`pair_net`].
pub const RENDEZVOUS_IP: [u8; 4] = [198, 51, 100, 1];

/// The rendezvous's partner server in [`pair_net`].
pub const PARTNER_IP: [u8; 4] = [198, 51, 100, 2];

/// A fresh network with a public rendezvous and one host behind each of
/// `a` and `b` (a middlebox of that preset, a UDP-blocking firewall, or
/// nothing for open). Both NATed hosts use the private IP 10.0.0.1 in their
/// own realms. Returns the net, the caller, the callee, and the rendezvous
/// with its partner server.
pub fn pair_net(
    a: NatType,
    b: NatType,
    seed: u64,
) -> Result<(NatNet, Peer, Peer, StunServers), NetError> {
    let mut net = NatNet::new();
    let server = net.add_host(Realm::Public, RENDEZVOUS_IP)?;
    let partner = net.add_host(Realm::Public, PARTNER_IP)?;
    let mut place = |t: NatType, i: u8| -> Result<HostId, NetError> {
        let public = [203, 0, 113, i];
        let mb = match t {
            NatType::Open => return net.add_host(Realm::Public, public),
            NatType::UdpBlocked => Middlebox::udp_blocking_firewall(public),
            _ => match t.behavior() {
                Some(beh) => Middlebox::nat(beh, vec![public], seed ^ u64::from(i)),
                None => return net.add_host(Realm::Public, public),
            },
        };
        let id = net.add_box(mb, Realm::Public)?;
        net.add_host(Realm::Behind(id), [10, 0, 0, 1])
    };
    let ha = place(a, 1)?;
    let hb = place(b, 2)?;
    let peer = |host| Peer { host, port: 5000 };
    Ok((
        net,
        peer(ha),
        peer(hb),
        StunServers {
            primary: server,
            other: partner,
            port: 3478,
            alt_port: 3479,
        },
    ))
}

/// Simulates "a calls b" in a fresh [`pair_net`]; `None` only if the net
/// cannot be built or the agents do not finish (never for presets).
pub fn simulate_pair(a: NatType, b: NatType, cfg: &PunchConfig) -> Option<PunchReport> {
    let (mut net, ca, cb, servers) = pair_net(a, b, cfg.seed).ok()?;
    connect(&mut net, Instant::ZERO, ca, cb, servers, cfg).ok()
}

/// A markdown table: one row per caller preset, one column per callee
/// preset, each cell given by `cell`.
pub fn matrix_table(mut cell: impl FnMut(NatType, NatType) -> String) -> String {
    let mut s = String::from("| caller \\ callee |");
    for b in NatType::ALL {
        s.push_str(&format!(" {} |", b.name()));
    }
    s.push_str("\n|---|");
    for _ in NatType::ALL {
        s.push_str("---|");
    }
    s.push('\n');
    for a in NatType::ALL {
        s.push_str(&format!("| **{}** |", a.name()));
        for b in NatType::ALL {
            s.push_str(&format!(" {} |", cell(a, b)));
        }
        s.push('\n');
    }
    s
}
