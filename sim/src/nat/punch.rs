//! A scripted, packet-level connection attempt between two hosts: register
//! with a rendezvous, try direct, try connection reversal, then punch.
//!
//! This is a first step: a fixed procedure over a [`NatNet`], not yet a core
//! state machine. Packets are carried through every middlebox when sent;
//! time advances by a one-way delay per packet, so bindings age as they would.

use peerlab_core::nat::{Connectivity, NatType, RelayKind, RelayReason};
use peerlab_core::rng::NodeRng;
use peerlab_core::{Addr, Duration, Instant};
use rand::{RngExt, SeedableRng};

use super::middlebox::Middlebox;
use super::net::{Delivery, HostId, NatNet, NetError, Realm};

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
    /// Direct, punched, or relayed with the reason.
    pub outcome: Connectivity,
    /// The caller's reflexive address as the rendezvous saw it.
    pub caller_reflexive: Option<Addr>,
    /// The callee's reflexive address as the rendezvous saw it.
    pub callee_reflexive: Option<Addr>,
    /// The punching attempt that succeeded (1-based), if punched.
    pub punch_attempt: Option<u32>,
    /// When the procedure finished.
    pub finished: Instant,
}

struct Run<'a> {
    net: &'a mut NatNet,
    cfg: PunchConfig,
    rng: NodeRng,
    now: Instant,
}

impl Run<'_> {
    /// One packet; `None` if lost or dropped.
    fn send(&mut self, from: Peer, dst: Addr) -> Option<Delivery> {
        self.now += self.cfg.one_way;
        if self.cfg.loss > 0.0 && self.rng.random::<f64>() < self.cfg.loss {
            return None;
        }
        self.net.send(self.now, from.host, from.port, dst)
    }

    /// `from` sends to `dst`; if it reaches `expect`, that host answers the
    /// source it saw. True if the answer reaches `from`.
    fn ping(&mut self, from: Peer, dst: Addr, expect: HostId) -> bool {
        let Some(d) = self.send(from, dst) else {
            return false;
        };
        if d.to != expect {
            return false;
        }
        let back = Peer {
            host: d.to,
            port: d.dst.port,
        };
        self.send(back, d.src).is_some_and(|r| r.to == from.host)
    }

    /// `peer` sends a binding request to the rendezvous; the address it saw
    /// (if the request and its answer both got through).
    fn register(&mut self, peer: Peer, rendezvous: Peer) -> Option<Addr> {
        let server = self.net.local_addr(rendezvous.host, rendezvous.port)?;
        let d = self.send(peer, server)?;
        if d.to != rendezvous.host {
            return None;
        }
        let answer = self.send(rendezvous, d.src)?;
        (answer.to == peer.host).then_some(d.src)
    }

    fn register_retrying(&mut self, peer: Peer, rendezvous: Peer) -> Option<Addr> {
        (0..self.cfg.attempts.max(1)).find_map(|_| self.register(peer, rendezvous))
    }
}

/// `caller` calls `callee`, both registered with the public `rendezvous`:
///
/// 1. each side sends a binding request to the rendezvous, which records its
///    reflexive address; a side that gets no answer has no UDP → TCP relay;
/// 2. the caller sends to the callee's reflexive address; an answer back →
///    direct;
/// 3. if the caller is public (its reflexive address is its own), the
///    callee, told through the rendezvous, calls back → direct;
/// 4. both send probes to each other's reflexive address, `probes_per_attempt`
///    pairs per attempt, up to `attempts` attempts; each side answers any
///    probe it gets. Punched when each side has heard the other;
/// 5. otherwise → UDP relay.
pub fn connect(
    net: &mut NatNet,
    now: Instant,
    caller: Peer,
    callee: Peer,
    rendezvous: Peer,
    cfg: &PunchConfig,
) -> PunchReport {
    let mut run = Run {
        net,
        cfg: *cfg,
        rng: NodeRng::seed_from_u64(cfg.seed),
        now,
    };
    let ra = run.register_retrying(caller, rendezvous);
    let rb = run.register_retrying(callee, rendezvous);
    let report = |run: &Run, outcome, attempt| PunchReport {
        outcome,
        caller_reflexive: ra,
        callee_reflexive: rb,
        punch_attempt: attempt,
        finished: run.now,
    };
    let (Some(ra), Some(rb)) = (ra, rb) else {
        let tcp = Connectivity::Relay(RelayKind::Tcp, RelayReason::UdpBlocked);
        return report(&run, tcp, None);
    };
    let tries = cfg.attempts.max(1);
    // 2. Direct.
    if (0..tries).any(|_| run.ping(caller, rb, callee.host)) {
        return report(&run, Connectivity::Direct, None);
    }
    // 3. Connection reversal, when the caller knows it is public.
    if run.net.local_addr(caller.host, caller.port) == Some(ra)
        && (0..tries).any(|_| run.ping(callee, ra, caller.host))
    {
        return report(&run, Connectivity::Direct, None);
    }
    // 4. Simultaneous probes.
    let start = run.now;
    for attempt in 1..=tries {
        let attempt_start = start
            + Duration::from_micros(
                cfg.attempt_timeout
                    .as_micros()
                    .saturating_mul(u64::from(attempt - 1)),
            );
        if run.now < attempt_start {
            run.now = attempt_start;
        }
        let (mut heard_a, mut heard_b) = (false, false);
        for _ in 0..cfg.probes_per_attempt.max(1) {
            for (from, to, dst) in [(caller, callee, rb), (callee, caller, ra)] {
                let Some(d) = run.send(from, dst) else {
                    continue;
                };
                if d.to != to.host {
                    continue;
                }
                // `to` heard `from`; it answers the source it saw.
                let heard_by_caller = to.host == caller.host;
                let answer = run.send(
                    Peer {
                        host: d.to,
                        port: d.dst.port,
                    },
                    d.src,
                );
                let answered = answer.is_some_and(|r| r.to == from.host);
                if heard_by_caller {
                    heard_a = true;
                    heard_b |= answered;
                } else {
                    heard_b = true;
                    heard_a |= answered;
                }
            }
            if heard_a && heard_b {
                return report(&run, Connectivity::Punched, Some(attempt));
            }
            run.now += cfg.probe_interval;
        }
    }
    let udp = Connectivity::Relay(RelayKind::Udp, RelayReason::PunchFailed);
    report(&run, udp, None)
}

/// The public rendezvous's address in [`pair_net`].
pub const RENDEZVOUS_IP: [u8; 4] = [198, 51, 100, 1];

/// A fresh network with a public rendezvous and one host behind each of
/// `a` and `b` (a middlebox of that preset, a UDP-blocking firewall, or
/// nothing for open). Both NATed hosts use the private IP 10.0.0.1 in their
/// own realms. Returns the net and the caller, callee and rendezvous.
pub fn pair_net(a: NatType, b: NatType, seed: u64) -> Result<(NatNet, Peer, Peer, Peer), NetError> {
    let mut net = NatNet::new();
    let server = net.add_host(Realm::Public, RENDEZVOUS_IP)?;
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
        Peer {
            host: server,
            port: 3478,
        },
    ))
}

/// Simulates "a calls b" in a fresh [`pair_net`]; `None` only if the net
/// cannot be built (never for presets).
pub fn simulate_pair(a: NatType, b: NatType, cfg: &PunchConfig) -> Option<PunchReport> {
    let (mut net, ca, cb, rv) = pair_net(a, b, cfg.seed).ok()?;
    Some(connect(&mut net, Instant::ZERO, ca, cb, rv, cfg))
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
