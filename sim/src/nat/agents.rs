//! Core [`NatAgent`]s over a [`NatNet`]: a small discrete-event loop that
//! carries their datagrams through the middleboxes.
//!
//! Each agent is bound to a host's port (and, for a server, its alternate
//! port too). A datagram is translated by every middlebox on its way when it
//! is sent, then delivered after a fixed one-way delay, or lost with a given
//! probability (seeded). Agents' timers fire in time order; ties go in the
//! order things were scheduled, so runs are deterministic.

use std::collections::BTreeMap;

use peerlab_core::nat::{NatAgent, NatCommand, NatConfig, NatEvent};
use peerlab_core::rng::NodeRng;
use peerlab_core::wire::Message;
use peerlab_core::{Addr, Duration, Instant, NodeId};
use rand::{RngExt, SeedableRng};

use super::net::{HostId, NatNet};
use super::punch::Peer;

/// Why an agent cannot be placed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// The host is not in the net.
    #[error("no host {0:?} in the net")]
    NoHost(HostId),
    /// Another agent already uses the port.
    #[error("port {port} of host {host:?} is already bound")]
    PortTaken {
        /// The host.
        host: HostId,
        /// The port.
        port: u16,
    },
    /// A procedure did not finish within its time budget.
    #[error("the {0} did not finish in time")]
    Unfinished(&'static str),
    /// The agent's configuration is invalid.
    #[error("invalid NAT agent configuration: {0}")]
    Config(#[from] peerlab_core::config::ConfigError),
}

struct Hosted {
    host: HostId,
    agent: NatAgent,
}

struct InFlight {
    to: usize,
    from: Addr,
    at: Addr,
    msg: Message,
}

/// Agents on a [`NatNet`] and the datagrams between them.
pub struct AgentNet<'a> {
    net: &'a mut NatNet,
    now: Instant,
    one_way: Duration,
    loss: f64,
    rng: NodeRng,
    agents: Vec<Hosted>,
    bound: BTreeMap<(HostId, u16), usize>,
    queue: BTreeMap<(Instant, u64), InFlight>,
    seq: u64,
    events: Vec<(usize, Instant, NatEvent)>,
    /// Events already shown to a `run_until` stop condition.
    checked: usize,
    /// Datagrams sent, delivered, and dropped (by a middlebox, for want of a
    /// listener, or lost).
    pub sent: u64,
    /// Datagrams that reached an agent.
    pub delivered: u64,
}

impl<'a> AgentNet<'a> {
    /// An empty loop over `net` starting at `now`.
    pub fn new(net: &'a mut NatNet, now: Instant, one_way: Duration, loss: f64, seed: u64) -> Self {
        AgentNet {
            net,
            now,
            one_way,
            loss,
            rng: NodeRng::seed_from_u64(seed),
            agents: Vec::new(),
            bound: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            events: Vec::new(),
            checked: 0,
            sent: 0,
            delivered: 0,
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The local address of `host`'s `port`.
    pub fn local_addr(&self, host: HostId, port: u16) -> Result<Addr, AgentError> {
        self.net
            .local_addr(host, port)
            .ok_or(AgentError::NoHost(host))
    }

    /// Places an agent on `peer`'s port (and its alternate port if the
    /// configuration serves). Returns its index.
    pub fn add_agent(
        &mut self,
        peer: Peer,
        cfg: NatConfig,
        id: NodeId,
        seed: u64,
    ) -> Result<usize, AgentError> {
        cfg.validate()?;
        let local = self
            .net
            .local_addr(peer.host, peer.port)
            .ok_or(AgentError::NoHost(peer.host))?;
        let mut ports = vec![peer.port];
        if let Some(s) = cfg.serve {
            ports.push(s.alt_port);
        }
        for &port in &ports {
            if self.bound.contains_key(&(peer.host, port)) {
                return Err(AgentError::PortTaken {
                    host: peer.host,
                    port,
                });
            }
        }
        let i = self.agents.len();
        for port in ports {
            self.bound.insert((peer.host, port), i);
        }
        self.agents.push(Hosted {
            host: peer.host,
            agent: NatAgent::new(cfg, id, local, seed),
        });
        Ok(i)
    }

    /// The agent at index `i`.
    pub fn agent(&self, i: usize) -> Option<&NatAgent> {
        self.agents.get(i).map(|h| &h.agent)
    }

    /// Gives agent `i` a command now.
    pub fn command(&mut self, i: usize, cmd: NatCommand) {
        let now = self.now;
        if let Some(h) = self.agents.get_mut(i) {
            h.agent.handle_command(now, cmd);
        }
        self.flush(i);
    }

    /// Events reported so far, as (agent, time, event), oldest first.
    pub fn take_events(&mut self) -> Vec<(usize, Instant, NatEvent)> {
        self.checked = 0;
        std::mem::take(&mut self.events)
    }

    /// Runs until `deadline` (inclusive) or until `stop` returns true for an
    /// event it has not been shown yet (events reported by a command count);
    /// returns the time reached.
    pub fn run_until(
        &mut self,
        deadline: Instant,
        mut stop: impl FnMut(usize, &NatEvent) -> bool,
    ) -> Instant {
        loop {
            let fresh = &self.events[self.checked..];
            self.checked = self.events.len();
            if fresh.iter().any(|(i, _, e)| stop(*i, e)) {
                return self.now;
            }
            let next_packet = self.queue.keys().next().map(|&(t, _)| t);
            let next_timer = self
                .agents
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.agent.poll_timeout().map(|t| (t, i)))
                .min();
            match (next_packet, next_timer) {
                (Some(tp), timer) if tp <= deadline && timer.is_none_or(|(tt, _)| tp <= tt) => {
                    self.now = self.now.max(tp);
                    if let Some((_, p)) = self.queue.pop_first() {
                        self.delivered += 1;
                        let now = self.now;
                        if let Some(h) = self.agents.get_mut(p.to) {
                            h.agent.handle_message(now, p.from, p.at, p.msg);
                        }
                        self.flush(p.to);
                    }
                }
                (_, Some((tt, i))) if tt <= deadline => {
                    self.now = self.now.max(tt);
                    let now = self.now;
                    if let Some(h) = self.agents.get_mut(i) {
                        h.agent.handle_timeout(now);
                    }
                    self.flush(i);
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return self.now;
                }
            }
        }
    }

    /// Sends agent `i`'s datagrams through the middleboxes and collects its
    /// events.
    fn flush(&mut self, i: usize) {
        let Some(h) = self.agents.get_mut(i) else {
            return;
        };
        let host = h.host;
        let mut out = Vec::new();
        while let Some(t) = h.agent.poll_transmit() {
            out.push(t);
        }
        while let Some(e) = h.agent.poll_event() {
            self.events.push((i, self.now, e));
        }
        for t in out {
            self.sent += 1;
            if self.loss > 0.0 && self.rng.random::<f64>() < self.loss {
                continue;
            }
            let Some(d) = self.net.send(self.now, host, t.src.port, t.dst) else {
                continue;
            };
            let Some(&to) = self.bound.get(&(d.to, d.dst.port)) else {
                continue;
            };
            self.seq += 1;
            self.queue.insert(
                (self.now + self.one_way, self.seq),
                InFlight {
                    to,
                    from: d.src,
                    at: d.dst,
                    msg: t.msg,
                },
            );
        }
    }
}
