//! A tiny hand-driven test network for any [`Protocol`]: every datagram is
//! delivered after a fixed delay (1 ms unless changed), and time jumps to the
//! next delivery or deadline. Node `i` listens on 10.0.x.y:4000 with
//! x.y = i + 1. A crashed node receives nothing and does nothing.

#![allow(dead_code)]

use peerlab_core::protocol::CommandError;
use peerlab_core::{Addr, Command, Duration, Event, Instant, Message, Protocol, RequestId};
use std::collections::{BTreeMap, BTreeSet};

/// The address of node `i`.
pub fn addr(i: usize) -> Addr {
    Addr::from_u32(0x0A00_0001 + i as u32, 4000)
}

/// A datagram the network carried, as its receiver got it.
#[derive(Clone, Debug)]
pub struct Tapped {
    /// When it arrived.
    pub at: Instant,
    /// The address it came from.
    pub from: Addr,
    /// The receiving node.
    pub to: usize,
    /// The datagram.
    pub msg: Message,
    /// Whether the receiver got it (false: it had crashed).
    pub delivered: bool,
}

/// The node listening on `a`, if any.
pub fn index_of(a: Addr, n: usize) -> Option<usize> {
    let i = a.ip_u32().wrapping_sub(0x0A00_0001) as usize;
    (a.port == 4000 && i < n).then_some(i)
}

pub struct Net<P> {
    pub now: Instant,
    pub nodes: Vec<P>,
    pub crashed: Vec<bool>,
    pub delay: Duration,
    /// Datagrams handed to the network so far.
    pub datagrams: u64,
    /// When set, every datagram taken off the wire is appended here.
    pub tap: Option<Vec<Tapped>>,
    wire: BTreeMap<(Instant, u64), (Addr, usize, Message)>,
    seq: u64,
    deadlines: BTreeSet<(Instant, usize)>,
    deadline_of: Vec<Option<Instant>>,
    events: Vec<(usize, Event)>,
}

impl<P: Protocol> Net<P> {
    pub fn new(nodes: Vec<P>) -> Self {
        let n = nodes.len();
        Net {
            now: Instant::ZERO,
            nodes,
            crashed: vec![false; n],
            delay: Duration::from_millis(1),
            datagrams: 0,
            tap: None,
            wire: BTreeMap::new(),
            seq: 0,
            deadlines: BTreeSet::new(),
            deadline_of: vec![None; n],
            events: Vec::new(),
        }
    }

    fn reschedule(&mut self, i: usize) {
        if let Some(old) = self.deadline_of[i].take() {
            self.deadlines.remove(&(old, i));
        }
        if self.crashed[i] {
            return;
        }
        if let Some(d) = self.nodes[i].poll_timeout() {
            self.deadlines.insert((d.at, i));
            self.deadline_of[i] = Some(d.at);
        }
    }

    /// Drains node `i`'s datagrams and events.
    pub fn flush(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].poll_transmit() {
            self.datagrams += 1;
            if let Some(to) = index_of(t.dst, self.nodes.len()) {
                self.seq += 1;
                self.wire
                    .insert((self.now + self.delay, self.seq), (t.src, to, t.msg));
            }
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events.push((i, e));
        }
        self.reschedule(i);
    }

    pub fn cmd(&mut self, i: usize, c: Command) -> Result<RequestId, CommandError> {
        let r = self.nodes[i].handle_command(self.now, c);
        self.flush(i);
        r
    }

    /// Delivers `msg` from `from` to node `to` after the usual delay.
    pub fn inject(&mut self, from: Addr, to: usize, msg: Message) {
        self.seq += 1;
        self.wire
            .insert((self.now + self.delay, self.seq), (from, to, msg));
    }

    pub fn crash(&mut self, i: usize) {
        self.crashed[i] = true;
        self.reschedule(i);
    }

    /// Puts a fresh node in slot `i` (a crashed host restarting at the same
    /// address); it is live again.
    pub fn restart(&mut self, i: usize, node: P) {
        self.nodes[i] = node;
        self.crashed[i] = false;
        self.reschedule(i);
    }

    /// Runs until nothing is in flight and no deadline falls before `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let wire_at = self.wire.keys().next().map(|k| k.0);
            let timer = self.deadlines.iter().next().copied();
            match (wire_at, timer) {
                (Some(w), t) if t.is_none_or(|(at, _)| w <= at) && w <= until => {
                    let Some((_, (from, to, msg))) = self.wire.pop_first() else {
                        break;
                    };
                    self.now = w;
                    if let Some(tap) = self.tap.as_mut() {
                        tap.push(Tapped {
                            at: w,
                            from,
                            to,
                            msg: msg.clone(),
                            delivered: !self.crashed[to],
                        });
                    }
                    if !self.crashed[to] {
                        self.nodes[to].handle_message(w, from, msg);
                        self.flush(to);
                    }
                }
                (_, Some((at, i))) if at <= until => {
                    self.now = self.now.max(at);
                    self.nodes[i].handle_timeout(self.now);
                    self.flush(i);
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs until no datagram is in flight (timers due meanwhile fire too).
    pub fn settle(&mut self) {
        while let Some(&(at, _)) = self.wire.keys().next() {
            self.run_until(at);
        }
    }

    pub fn after(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    pub fn take_events(&mut self) -> Vec<(usize, Event)> {
        std::mem::take(&mut self.events)
    }

    /// Node 0 starts the overlay; the others join through it, one every
    /// `spacing`. Panics unless every node reports `Joined`.
    pub fn join_all(&mut self, spacing: Duration) {
        self.cmd(0, Command::Join { bootstrap: vec![] }).unwrap();
        for i in 1..self.nodes.len() {
            self.cmd(
                i,
                Command::Join {
                    bootstrap: vec![addr(0)],
                },
            )
            .unwrap();
            self.after(spacing);
        }
        self.after(Duration::from_secs(10));
        let joined = self
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Joined { .. }))
            .count();
        assert_eq!(joined, self.nodes.len(), "every node joined");
    }

    /// Issues a command at node `i`, runs for `d` and returns the event that
    /// finished it.
    pub fn request(&mut self, i: usize, c: Command, d: Duration) -> Event {
        let r = self.cmd(i, c).unwrap();
        self.after(d);
        let pos = self
            .events
            .iter()
            .position(|(n, e)| *n == i && finishes(e, r))
            .expect("the request finished");
        self.events.remove(pos).1
    }
}

fn finishes(e: &Event, r: RequestId) -> bool {
    match e {
        Event::LookupDone { id, .. }
        | Event::GetDone { id, .. }
        | Event::StoreDone { id, .. }
        | Event::Joined { id, .. }
        | Event::JoinFailed { id } => *id == r,
        _ => false,
    }
}
