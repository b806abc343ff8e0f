//! The discrete-event engine.
//!
//! Deliveries and driver hooks are ordered by (time, insertion sequence);
//! each node's next deadline sits in an indexed heap ([`NodeTimers`]) with
//! exactly one entry per node, ordered by (time, node). At the same instant
//! queued events run before deadlines. So simultaneous events always run in
//! the same order, and a run depends only on its seed and configuration. The engine drives any [`Protocol`] implementation: it
//! delivers datagrams after the network model's delay, wakes nodes at their
//! deadlines, and hands application events to a [`Driver`].
//!
//! Every processed event is folded into a running xxh3 hash, the *trace hash*:
//! two runs with the same hash processed the same events, at the same times,
//! carrying the same messages. Messages travel as structured values; with
//! `wire_check` each one is encoded and decoded on the way, which must not
//! change the trace hash.

use crate::nat::{NatDrops, NatLayer};
use crate::network::{Network, addr_of, index_of};
use crate::records::{NodeTraffic, TrafficByKind};
use crate::series::{GROUPS, NodeClassCounters};
use crate::timers::NodeTimers;
use peerlab_core::protocol::{ClassTraffic, CommandError, Protocol, TrafficClass};
use peerlab_core::{Addr, Command, Duration, Event, Instant, Message, RequestId};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use xxhash_rust::xxh3::Xxh3;

/// What the engine can schedule.
#[derive(Debug)]
enum Action {
    Deliver { to: u32, from: Addr, msg: Message },
    Hook { tag: u64 },
}

#[derive(Debug)]
struct Scheduled {
    at: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// The scenario side of a run: it receives hooks it scheduled and node events.
pub trait Driver<P: Protocol> {
    /// A hook scheduled with [`Sim::schedule_hook`] is due.
    fn on_hook(&mut self, sim: &mut Sim<P>, tag: u64);
    /// Node `node` emitted `event`.
    fn on_event(&mut self, sim: &mut Sim<P>, node: u32, event: Event);
}

struct Slot<P> {
    node: P,
    up: bool,
}

/// A simulation of `P` nodes over a network model.
pub struct Sim<P: Protocol> {
    now: Instant,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    timers: NodeTimers,
    /// Traffic by purpose of node sessions that have been replaced.
    retired: [ClassTraffic; TrafficClass::COUNT],
    slots: Vec<Slot<P>>,
    net: Network,
    nat: Option<NatLayer>,
    wire_check: bool,
    wire_buf: Vec<u8>,
    node_events: VecDeque<(u32, Event)>,
    trace: Xxh3,
    processed: u64,
    dropped: u64,
    traffic: TrafficByKind,
    node_traffic: Vec<NodeTraffic>,
    /// Per-node traffic by purpose, when asked for (see [`crate::series`]).
    class_counters: Option<NodeClassCounters>,
}

impl<P: Protocol> Sim<P> {
    /// A simulation of the given nodes; node `i` must use [`addr_of`]`(i)`.
    pub fn new(nodes: Vec<P>, net: Network, wire_check: bool) -> Self {
        let n = nodes.len();
        Sim {
            now: Instant::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            timers: NodeTimers::new(n as u32),
            retired: Default::default(),
            slots: nodes
                .into_iter()
                .map(|node| Slot { node, up: true })
                .collect(),
            net,
            nat: None,
            wire_check,
            wire_buf: Vec::with_capacity(2048),
            node_events: VecDeque::new(),
            trace: Xxh3::new(),
            processed: 0,
            dropped: 0,
            traffic: TrafficByKind::default(),
            node_traffic: vec![NodeTraffic::default(); n],
            class_counters: None,
        }
    }

    /// Starts keeping per-node traffic counters by purpose, for
    /// [`Sim::take_node_class_deltas`] (96 bytes per node).
    pub fn track_node_classes(&mut self) {
        if self.class_counters.is_none() {
            self.class_counters = Some(NodeClassCounters::new(self.len()));
        }
    }

    /// Calls `f` with each node's traffic since the previous call (or the
    /// start), by [`crate::series`] group: sent messages, sent bytes,
    /// received messages, received bytes. Nothing without
    /// [`Sim::track_node_classes`].
    pub fn take_node_class_deltas(&mut self, f: impl FnMut(u32, &[[u32; 4]; GROUPS])) {
        let Some(c) = &mut self.class_counters else {
            return;
        };
        let (slots, all) = (&self.slots, &self.node_traffic);
        c.take(|i| (slots[i as usize].node.stats(), all[i as usize]), f);
    }

    /// Puts every NATed node behind its middlebox: from now on datagrams
    /// are routed through `layer` (see [`crate::nat::layer`]). Without a
    /// layer, every node is reached at its own address.
    pub fn set_nat(&mut self, layer: NatLayer) {
        self.nat = Some(layer);
    }

    /// The NAT layer, if any.
    pub fn nat(&self) -> Option<&NatLayer> {
        self.nat.as_ref()
    }

    /// Datagrams the NAT layer dropped, by cause (all zero without one).
    /// They are also counted in [`Sim::dropped`].
    pub fn nat_drops(&self) -> NatDrops {
        self.nat.as_ref().map(NatLayer::drops).unwrap_or_default()
    }

    /// Current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }
    /// Number of nodes.
    pub fn len(&self) -> u32 {
        self.slots.len() as u32
    }
    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// Node `i`'s state machine.
    pub fn node(&self, i: u32) -> &P {
        &self.slots[i as usize].node
    }
    /// Whether node `i` is up.
    pub fn is_up(&self, i: u32) -> bool {
        self.slots[i as usize].up
    }
    /// Events processed so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }
    /// The trace hash of the events processed so far.
    pub fn trace_hash(&self) -> u64 {
        self.trace.digest()
    }
    /// Messages dropped (loss, or a destination that is down or unknown).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Traffic by message kind.
    pub fn traffic(&self) -> &TrafficByKind {
        &self.traffic
    }
    /// Traffic per node.
    pub fn node_traffic(&self) -> &[NodeTraffic] {
        &self.node_traffic
    }

    /// Traffic by purpose, as the nodes themselves attribute it (see
    /// [`TrafficClass`]), summed over every node session so far.
    pub fn class_traffic(&self) -> [ClassTraffic; TrafficClass::COUNT] {
        let mut total = self.retired;
        for s in &self.slots {
            for (t, c) in total.iter_mut().zip(s.node.stats().traffic) {
                *t += c;
            }
        }
        total
    }

    fn push(&mut self, at: Instant, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            action,
        }));
    }

    /// Schedules a driver hook at `at` (not before now).
    pub fn schedule_hook(&mut self, at: Instant, tag: u64) {
        self.push(at.max(self.now), Action::Hook { tag });
    }

    /// Issues a command to node `i` now.
    pub fn command(&mut self, i: u32, cmd: Command) -> Result<RequestId, CommandError> {
        let now = self.now;
        let r = self.slots[i as usize].node.handle_command(now, cmd);
        self.flush(i);
        r
    }

    /// Brings node `i` back up as a fresh state machine (a new session after
    /// a departure); datagrams still in flight to the old session reach it.
    pub fn revive(&mut self, i: u32, node: P) {
        let s = &mut self.slots[i as usize];
        let old = std::mem::replace(&mut s.node, node);
        let stats = old.stats();
        for (r, t) in self.retired.iter_mut().zip(stats.traffic) {
            *r += t;
        }
        if let Some(c) = &mut self.class_counters {
            c.retire(i, &stats);
        }
        s.up = true;
        if let Some(nat) = &mut self.nat {
            nat.reset(i);
        }
        self.flush(i);
    }

    /// Takes node `i` down: it receives nothing and its timers stop.
    pub fn set_down(&mut self, i: u32) {
        self.slots[i as usize].up = false;
        self.timers.set(i, None);
        if let Some(nat) = &mut self.nat {
            nat.reset(i);
        }
    }

    /// Runs until the queue is empty or the next event is later than `end`.
    /// `progress` is called every 65,536 events with the current time.
    pub fn run_until(
        &mut self,
        end: Instant,
        driver: &mut impl Driver<P>,
        progress: &mut dyn FnMut(Instant, u64),
    ) {
        loop {
            // Queued events (deliveries, hooks) run before node deadlines at
            // the same instant: a reply that arrives exactly at a timeout counts.
            let queued = self.queue.peek().map(|Reverse(e)| e.at);
            let timer = self.timers.peek();
            let next = match (queued, timer) {
                (Some(q), Some((t, _))) => q.min(t),
                (Some(q), None) => q,
                (None, Some((t, _))) => t,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = next;
            self.processed += 1;
            if self.processed & 0xFFFF == 0 {
                progress(self.now, self.processed);
            }
            if queued == Some(next) {
                let Some(Reverse(ev)) = self.queue.pop() else {
                    break;
                };
                self.process(ev, driver);
            } else if let Some((_, node)) = self.timers.pop_due(next) {
                self.timeout(node);
            }
            while let Some((node, event)) = self.node_events.pop_front() {
                driver.on_event(self, node, event);
            }
        }
        self.now = self.now.max(end);
    }

    /// Node `node`'s deadline has come.
    fn timeout(&mut self, node: u32) {
        let mut rec = [0u8; 13];
        rec[..8].copy_from_slice(&self.now.as_micros().to_le_bytes());
        rec[8] = 2;
        rec[9..13].copy_from_slice(&node.to_le_bytes());
        self.trace.update(&rec);
        self.slots[node as usize].node.handle_timeout(self.now);
        self.flush(node);
    }

    fn process(&mut self, ev: Scheduled, driver: &mut impl Driver<P>) {
        let mut rec = [0u8; 48];
        rec[..8].copy_from_slice(&ev.at.as_micros().to_le_bytes());
        match ev.action {
            Action::Deliver { to, from, msg } => {
                let len = msg.encoded_len();
                rec[8] = 1;
                rec[9..13].copy_from_slice(&to.to_le_bytes());
                rec[13..17].copy_from_slice(&from.ip);
                rec[17..19].copy_from_slice(&from.port.to_le_bytes());
                rec[19] = msg.body.kind() as u8;
                rec[20..28].copy_from_slice(&msg.txid.to_le_bytes());
                rec[28..32].copy_from_slice(&(len as u32).to_le_bytes());
                rec[32..40].copy_from_slice(&msg.sender.prefix_u64().to_le_bytes());
                self.trace.update(&rec[..40]);
                let slot = &mut self.slots[to as usize];
                if !slot.up {
                    self.dropped += 1;
                    return;
                }
                let t = &mut self.node_traffic[to as usize];
                t.recv_messages += 1;
                t.recv_bytes += len as u64;
                slot.node.handle_message(self.now, from, msg);
                self.flush(to);
            }
            Action::Hook { tag } => {
                rec[8] = 3;
                rec[9..17].copy_from_slice(&tag.to_le_bytes());
                self.trace.update(&rec[..17]);
                driver.on_hook(self, tag);
            }
        }
    }

    /// Drains node `i`'s outputs: datagrams into the network, events to the
    /// driver queue, and its next deadline into the timer heap.
    fn flush(&mut self, i: u32) {
        while let Some(t) = self.slots[i as usize].node.poll_transmit() {
            self.transmit(i, t.src, t.dst, t.msg);
        }
        while let Some(e) = self.slots[i as usize].node.poll_event() {
            self.node_events.push_back((i, e));
        }
        let slot = &self.slots[i as usize];
        let at = slot
            .up
            .then(|| slot.node.poll_timeout())
            .flatten()
            .map(|d| d.at.max(self.now));
        self.timers.set(i, at);
    }

    fn transmit(&mut self, from: u32, src: Addr, dst: Addr, msg: Message) {
        let len = msg.encoded_len();
        let k = msg.body.kind().index();
        self.traffic.messages[k] += 1;
        self.traffic.bytes[k] += len as u64;
        let t = &mut self.node_traffic[from as usize];
        t.sent_messages += 1;
        t.sent_bytes += len as u64;
        let (to, src, extra) = match &mut self.nat {
            None => {
                let Some(to) = index_of(dst, self.len()) else {
                    self.dropped += 1;
                    return;
                };
                debug_assert_eq!(src, addr_of(from));
                (to, src, Duration::ZERO)
            }
            Some(nat) => match nat.route(self.now, from, dst) {
                Ok(r) => (r.to, r.seen_src, r.extra),
                Err(_) => {
                    self.dropped += 1;
                    return;
                }
            },
        };
        if self.net.lose() || !self.net.reachable(from, to, self.now) {
            self.dropped += 1;
            return;
        }
        let msg = if self.wire_check {
            self.round_trip(msg)
        } else {
            msg
        };
        let at = self.now + self.net.latency(from, to) + extra;
        self.push(at, Action::Deliver { to, from: src, msg });
    }

    fn round_trip(&mut self, msg: Message) -> Message {
        self.wire_buf.clear();
        msg.encode(&mut self.wire_buf);
        assert_eq!(
            self.wire_buf.len(),
            msg.encoded_len(),
            "encoded_len disagrees with encode for {msg:?}"
        );
        match Message::decode(&self.wire_buf) {
            Ok(m) if m == msg => m,
            other => panic!("wire codec does not round-trip {msg:?}: {other:?}"),
        }
    }
}
