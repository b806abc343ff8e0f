//! Registrations in the churn scenario (`churn_workload.registration`).
//!
//! Every node is the only device of its own user, whose address of record is
//! `sip:u<index>@peerlab.sim` (see [`aor_of`]), hashed with the DHT's
//! [`DhtNode::key_hash`]. The device's contact record carries its node id,
//! the address the DHT reaches it at ([`DhtNode::contact_addr`]) and its NAT
//! class ([`DhtNode::nat_class`]); no reflexive address or super node.
//!
//! - **Register.** The workload generator says when a device registers: on
//!   coming online and every `refresh_s` after. A registration due before
//!   the node's overlay join has completed waits for it. Each registration
//!   is a fresh record from the device's core
//!   [`Registrar`]; the registrar removes the record it replaces once the
//!   new one is acknowledged, and retries a put no replica took.
//! - **Leave.** A graceful leave removes the device's records first; the
//!   node leaves the overlay when every removal is acknowledged, or after
//!   [`LEAVE_GRACE`] (it no longer counts as joined meanwhile).
//! - **Crash.** Nothing is removed: the records expire `expires_s` after
//!   their put, as their `expires_at` stamp and the stores' TTL say.
//! - **Read.** On the workload's `Read` events, a joined node gets the
//!   user's AoR from the DHT. The answer is judged, when it arrives, against
//!   the global view: per user, a [`DeviceLog`] of every record put, its
//!   first acknowledgement, and its removal by a refresh or a leave. A read
//!   is correct when its contacts are what [`DeviceLog::judge`] allows with
//!   [`SLACK`], and nothing of another user came back. A read whose reader
//!   departs before the answer comes is dropped.
//! - **Call.** On the workload's `Call` events, the caller reads the
//!   callee's AoR the same way: call setup's lookup. Every call gets a
//!   [`CallLookup`] row, in call-stream order, whether or not the read could
//!   be issued (a caller that has not joined cannot) or finished (a caller
//!   that departs first); `found` says a live record of the callee came
//!   back.

use super::{hook, unhook};
use crate::config::InvalidConfig;
use crate::dht::DhtNode;
use crate::engine::Sim;
use crate::records::{CallLookup, RegistrationRead};
use crate::registration::{DeviceLog, SLACK, registrar_config};
use peerlab_churn::workload::{RegistrationWorkload, WorkloadEvent};
use peerlab_core::registration::{
    ContactRecord, Device, Registrar, RegistrarConfig, aor_key, read_contacts,
};
use peerlab_core::{Command, Duration, Event, Instant, NodeId, RequestId};
use std::collections::BTreeMap;

/// Longest a gracefully leaving node waits for its removals before it
/// leaves the overlay anyway.
pub const LEAVE_GRACE: Duration = Duration::from_secs(10);

/// The address of record of user `u` (the user whose only device is node `u`).
pub fn aor_of(u: u32) -> String {
    format!("sip:u{u}@peerlab.sim")
}

/// Hook kind of a leave deadline (the churn driver's hook kinds are below).
pub(crate) const HOOK_LEAVE_DEADLINE: u64 = 0x40;

#[derive(Clone, Debug)]
enum Op {
    Put(Vec<u8>),
    /// A removal: on a leave, or of a record a refresh replaced.
    Remove {
        leaving: bool,
    },
    Get {
        row: usize,
        user: u32,
        issued: Instant,
    },
    /// A call's read of its callee.
    CallGet {
        row: usize,
        callee: u32,
    },
}

#[derive(Debug, Default)]
struct Dev {
    registrar: Option<Registrar>,
    /// A registration is due once the join completes.
    register_on_join: bool,
    /// Removals of a graceful leave still unacknowledged.
    leaving: Option<u32>,
    log: DeviceLog,
}

/// The registration layer of one churn run; see the module documentation.
pub(crate) struct Registrations {
    cfg: RegistrarConfig,
    devices: Vec<Device>,
    devs: Vec<Dev>,
    keys: Vec<NodeId>,
    pending: BTreeMap<(u32, RequestId), Op>,
    rows: Vec<RegistrationRead>,
    calls: Vec<CallLookup>,
}

impl Registrations {
    /// The layer for `w` over DHT `D` (configured by `dht`) and nodes with
    /// `ids`. Errors name `churn_workload.registration.*`.
    pub(crate) fn new<D: DhtNode>(
        w: &RegistrationWorkload,
        dht: &D::Config,
        ids: &[NodeId],
    ) -> Result<Self, InvalidConfig> {
        let hash = D::key_hash(dht);
        let cfg = registrar_config(w, hash, "churn_workload.registration")?;
        let n = ids.len() as u32;
        Ok(Registrations {
            cfg,
            devices: (0..n)
                .map(|i| Device {
                    node_id: ids[i as usize],
                    nat: D::nat_class(dht, i),
                    host: D::contact_addr(dht, i),
                    reflexive: None,
                    super_node: None,
                })
                .collect(),
            devs: (0..n).map(|_| Dev::default()).collect(),
            keys: (0..n)
                .map(|u| aor_key(hash, &aor_of(u)).expect("a well-formed AoR"))
                .collect(),
            pending: BTreeMap::new(),
            rows: Vec::new(),
            calls: Vec::new(),
        })
    }

    fn issue<D: DhtNode>(&mut self, sim: &mut Sim<D>, i: u32, cmd: Command) {
        let now = sim.now();
        let dev = &mut self.devs[i as usize];
        let op = match &cmd {
            Command::Put { value, .. } => {
                let record = ContactRecord::decode(value).ok();
                if let Some(r) = record {
                    dev.log.put_issued(now, r, value);
                }
                if record.is_some_and(|r| r.removed) {
                    // A leave's tombstone: the leave waits for it as for
                    // its removals.
                    Op::Remove {
                        leaving: dev.leaving.is_some(),
                    }
                } else {
                    Op::Put(value.clone())
                }
            }
            Command::Remove { value, .. } => {
                let leaving = dev.leaving.is_some();
                dev.log.remove_issued(now, value, leaving);
                Op::Remove { leaving }
            }
            _ => return,
        };
        match sim.command(i, cmd) {
            Ok(r) => {
                self.pending.insert((i, r), op);
            }
            Err(_) => {
                if let (Op::Remove { leaving: true }, Some(k)) =
                    (op, &mut self.devs[i as usize].leaving)
                {
                    *k = k.saturating_sub(1);
                }
            }
        }
    }

    fn register<D: DhtNode>(&mut self, sim: &mut Sim<D>, i: u32) {
        let now = sim.now();
        let (cfg, device) = (self.cfg, self.devices[i as usize]);
        let dev = &mut self.devs[i as usize];
        let r = dev
            .registrar
            .get_or_insert_with(|| Registrar::new(cfg, device).expect("a validated config"));
        let cmds = r.register(now, &aor_of(i)).unwrap_or_default();
        for c in cmds {
            self.issue(sim, i, c);
        }
    }

    /// A workload event at `time_s`: registrations, reads and calls;
    /// anything else is ignored. `joined` says whether a node has completed
    /// its overlay join, `measured` whether now is in the measurement phase.
    pub(crate) fn on_work<D: DhtNode>(
        &mut self,
        sim: &mut Sim<D>,
        time_s: f64,
        event: WorkloadEvent,
        joined: impl Fn(u32) -> bool,
        measured: bool,
    ) {
        match event {
            WorkloadEvent::Call { caller, callee, .. } => {
                let row = self.calls.len();
                let mut rec = CallLookup {
                    call: row as u64,
                    time_s,
                    caller,
                    callee,
                    issued: false,
                    found: false,
                    latency_ms: f64::NAN,
                    hops: 0,
                };
                if joined(caller)
                    && let Some(&key) = self.keys.get(callee as usize)
                    && let Ok(r) = sim.command(caller, Command::Get { key })
                {
                    rec.issued = true;
                    self.pending
                        .insert((caller, r), Op::CallGet { row, callee });
                }
                self.calls.push(rec);
            }
            WorkloadEvent::Register { node } if joined(node) => self.register(sim, node),
            WorkloadEvent::Register { node } => self.devs[node as usize].register_on_join = true,
            WorkloadEvent::Read { node, user } if joined(node) => {
                let key = self.keys[user as usize];
                if let Ok(r) = sim.command(node, Command::Get { key }) {
                    let issued = sim.now();
                    self.pending.insert(
                        (node, r),
                        Op::Get {
                            row: self.rows.len(),
                            user,
                            issued,
                        },
                    );
                    self.rows.push(RegistrationRead {
                        time_s: issued.as_secs_f64(),
                        reader: node,
                        user,
                        expected: 0,
                        returned: 0,
                        correct: false,
                        stale: false,
                        missing: false,
                        latency_ms: f64::NAN,
                        measured,
                    });
                }
            }
            _ => {}
        }
    }

    /// Node `i` completed its overlay join.
    pub(crate) fn on_joined<D: DhtNode>(&mut self, sim: &mut Sim<D>, i: u32) {
        if std::mem::take(&mut self.devs[i as usize].register_on_join) {
            self.register(sim, i);
        }
    }

    /// Node `i` leaves gracefully: its records' removals are issued. Returns
    /// true if the node must stay up until they finish (the layer then makes
    /// it leave the overlay itself); false if it can leave now.
    pub(crate) fn on_leave<D: DhtNode>(&mut self, sim: &mut Sim<D>, i: u32) -> bool {
        let dev = &mut self.devs[i as usize];
        dev.register_on_join = false;
        let cmds = dev
            .registrar
            .take()
            .map(|mut r| r.unregister_all(sim.now()))
            .unwrap_or_default();
        if cmds.is_empty() {
            return false;
        }
        dev.leaving = Some(cmds.len() as u32);
        for c in cmds {
            self.issue(sim, i, c);
        }
        if self.devs[i as usize].leaving == Some(0) {
            self.devs[i as usize].leaving = None;
            return false;
        }
        sim.schedule_hook(
            sim.now() + LEAVE_GRACE,
            hook(HOOK_LEAVE_DEADLINE, u64::from(i)),
        );
        true
    }

    /// Ends node `i`'s graceful leave, if one is under way: it leaves the
    /// overlay and goes down.
    pub(crate) fn finish_leave<D: DhtNode>(&mut self, sim: &mut Sim<D>, i: u32) {
        if self.devs[i as usize].leaving.take().is_some() {
            self.forget(i);
            if sim.is_up(i) {
                let _ = sim.command(i, Command::Leave);
                sim.set_down(i);
            }
        }
    }

    /// A hook this layer scheduled.
    pub(crate) fn on_hook<D: DhtNode>(&mut self, sim: &mut Sim<D>, tag: u64) {
        let (kind, i) = unhook(tag);
        if kind == HOOK_LEAVE_DEADLINE {
            self.finish_leave(sim, i as u32);
        }
    }

    /// Node `i` went down (crash, or the end of a leave): its registrar and
    /// requests are gone; its records stay until they expire.
    pub(crate) fn on_down(&mut self, i: u32) {
        let dev = &mut self.devs[i as usize];
        dev.registrar = None;
        dev.register_on_join = false;
        dev.leaving = None;
        self.forget(i);
    }

    fn forget(&mut self, i: u32) {
        let gone: Vec<(u32, RequestId)> = self
            .pending
            .range((i, RequestId(0))..=(i, RequestId(u64::MAX)))
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.pending.remove(&k);
        }
    }

    /// An event of node `i`; returns whether it was this layer's.
    pub(crate) fn on_event<D: DhtNode>(&mut self, sim: &mut Sim<D>, i: u32, event: &Event) -> bool {
        let id = match event {
            Event::GetDone { id, .. } | Event::StoreDone { id, .. } => *id,
            _ => return false,
        };
        let Some(op) = self.pending.remove(&(i, id)) else {
            return false;
        };
        let now = sim.now();
        match (op, event) {
            (Op::Put(value), Event::StoreDone { key, replicas, .. }) => {
                let dev = &mut self.devs[i as usize];
                if *replicas > 0 {
                    dev.log.put_acked(now, &value);
                }
                let cmds = match &mut dev.registrar {
                    Some(r) => r.put_done(*key, *replicas),
                    None => Vec::new(),
                };
                for c in cmds {
                    self.issue(sim, i, c);
                }
            }
            (Op::Remove { leaving: true }, Event::StoreDone { .. }) => {
                let dev = &mut self.devs[i as usize];
                if let Some(k) = &mut dev.leaving {
                    *k = k.saturating_sub(1);
                    if *k == 0 {
                        dev.log.leave_done(now);
                        self.finish_leave(sim, i);
                    }
                }
            }
            (Op::Get { row, user, issued }, Event::GetDone { values, stats, .. }) => {
                let contacts = read_contacts(values, now);
                let mine = self.devices[user as usize].node_id;
                let got = contacts.records.iter().find(|r| r.node_id == mine);
                let foreign = contacts.records.iter().any(|r| r.node_id != mine);
                let v = self.devs[user as usize].log.judge(got, issued, now, SLACK);
                if let Some(r) = self.rows.get_mut(row) {
                    r.expected = u32::from(v.expected);
                    r.returned = contacts.records.len() as u32;
                    r.correct = v.correct && !foreign;
                    r.stale = v.stale || foreign;
                    r.missing = v.missing;
                    r.latency_ms = (stats.finished - stats.started).as_millis_f64();
                }
            }
            (Op::CallGet { row, callee }, Event::GetDone { values, stats, .. }) => {
                let contacts = read_contacts(values, now);
                let mine = self.devices[callee as usize].node_id;
                if let Some(r) = self.calls.get_mut(row) {
                    r.found = contacts.records.iter().any(|c| c.node_id == mine);
                    r.latency_ms = (stats.finished - stats.started).as_millis_f64();
                    r.hops = stats.hops;
                }
            }
            _ => {}
        }
        true
    }

    /// The reads that finished, in the order they were issued, and every
    /// call's lookup, in call-stream order.
    pub(crate) fn into_rows(self) -> (Vec<RegistrationRead>, Vec<CallLookup>) {
        let reads = self
            .rows
            .into_iter()
            .filter(|r| r.latency_ms.is_finite())
            .collect();
        (reads, self.calls)
    }
}
