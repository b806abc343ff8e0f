//! Registration (issue #6 item 1) over Kademlia and Chord, 500 nodes.
//!
//! Users register their devices under an address of record (AoR) with the
//! core's `Registrar`; *when* each device registers, refreshes, departs and
//! (after a crash) expires comes from `peerlab-churn`'s `WorkloadDriver`
//! with a `RegistrationWorkload` (refresh every t = 300 s, expire after
//! e = 600 s), through `peerlab_sim::registration::registrar_config`. 50
//! users have two devices (the second registers as `sip:User<u>@Example.com`,
//! so AoR normalisation is exercised end to end), 400 have one.
//!
//! - **Static part.** All 500 devices join in the first 30 s and register
//!   150 s after their join started (the overlay has settled); at 300 s every
//!   AoR is read from another node. Each read must return exactly the
//!   records of that user's devices: 50 users with 2 contacts, 400 with 1.
//! - **Churn part.** Between 400 s and 910 s, 40 devices leave gracefully
//!   (remove, then leave the overlay) and 40 crash; 15 of the crashed devices
//!   come back 200 s later (same node id, new session) and register again
//!   30 s after that, while their old record still lives. Sweeps at 700,
//!   1000, 1300, 1600 and 1900 s read every AoR again, and a read is issued
//!   the moment each leave's removal is acknowledged.
//! - **Crash bounds.** A crashed device's record is read 5 s before
//!   `last registration + e`, and 5 s (`G`) after it. The generator's
//!   `Expire` event must fall exactly at `last registration + e`, and its
//!   refresh times must agree with the registrar's own schedule. A rejoined
//!   device is read 20 s after re-registering.
//!
//! The oracle is the simulator's global view: every record each device put
//! (with its issue time and first acknowledgement), which were replaced by
//! a confirmed refresh, which were removed on leave (and when the removal
//! was acknowledged), and which device is up. A read issued at `g` and
//! finished at `now` must contain, for each of the user's devices, the
//! newest record put and acknowledged before `g - SLACK` and neither removed
//! nor expired at `now` (a record put within `SLACK` may or may not be seen
//! yet), nothing older, and no other device's record. A get merges the
//! values of `read_holders` holders (the DHTs' default), so a removed record
//! may be among the raw values when a merged holder missed its removal; the
//! read must not return it (the leave's tombstone or the refresh's newer
//! record hides it), and such reads are counted. A leave's tombstone must
//! outrank the device's newest record and live exactly as long.
//!
//! Exact, for every read: no foreign or malformed record; nothing, not even
//! among the raw values, `G` past its expiry (the upper bound, which holds
//! whatever the replicas do); the generator's expiries and refreshes agree
//! with the registrar. Every other device read is judged and counted by
//! category, and at most [`MAX_MISMATCH`] of them may disagree (see there
//! for why some do); the lower bounds (2 contacts for 2 devices, removal
//! seen right after a leave, a crashed record still read before its expiry)
//! must hold for every read not counted as a mismatch.
//!
//! Run: `cargo test --release -p peerlab-sim --test registration -- --nocapture`
//! prints the figures.

use peerlab_churn::workload::{
    RegistrationWorkload, WorkItem, WorkloadDriver, WorkloadEvent, WorkloadSpec,
};
use peerlab_churn::{ChurnEvent, ChurnRecord};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::nat::NatType;
use peerlab_core::registration::{
    ContactRecord, Device, Registrar, RegistrarConfig, aor_key, read_contacts,
};
use peerlab_core::rng::{NodeRng, derive_seed};
use peerlab_core::{Addr, Command, Duration, Event, HashAlg, Instant, NodeId, RequestId};
use peerlab_sim::NetworkConfig;
use peerlab_sim::dht::DhtNode;
use peerlab_sim::engine::{Driver, Sim};
use peerlab_sim::network::{Network, addr_of};
use peerlab_sim::registration::{DeviceLog, SLACK, registrar_config};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

const N: u32 = 500;
/// Users 0..PAIRS own devices 2u and 2u+1; device d >= 2*PAIRS is the only
/// device of user d - PAIRS.
const PAIRS: u32 = 50;
const USERS: u32 = N - PAIRS;
const JOIN_WINDOW_S: u64 = 30;
/// A device comes online (registers) this long after its overlay join
/// starts: after the overlay has settled.
const GRACE_S: u64 = 150;
/// The same after a rejoin into the settled overlay.
const REJOIN_GRACE_S: u64 = 30;
/// The stores' expiry granularity: a copy expires its TTL after it
/// *arrives*, and a hand-over rounds the remaining lifetime up to a second.
const G: Duration = Duration::from_secs(5);
const LEAVES: usize = 40;
const FAILS: usize = 40;
const REJOINS: usize = 15;
const REJOIN_AFTER_S: u64 = 200;
const SWEEPS_S: [u64; 6] = [300, 700, 1000, 1300, 1600, 1900];
const END_S: u64 = 2000;

const WORKLOAD: RegistrationWorkload = RegistrationWorkload {
    refresh_s: 300.0,
    expires_s: 600.0,
    read_interval_s: None,
};

/// Read categories: per device read, the static sweep, the churn sweeps,
/// and the targeted reads (kinds 0..=3 of `Run::targeted`).
const CATEGORIES: [&str; 6] = [
    "static sweep",
    "churn sweeps",
    "right after a leave",
    "5 s before a crashed record's expiry",
    "G after a crashed record's expiry",
    "20 s after re-registering",
];
const CAT_STATIC: usize = 0;
const CAT_CHURN: usize = 1;
const CAT_CRASH_AFTER: usize = 4;

const HOOK_DHT_JOIN: u64 = 1;
const HOOK_WORK: u64 = 2;
const HOOK_SWEEP: u64 = 3;
const HOOK_GET: u64 = 4;

fn hook(kind: u64, i: u64) -> u64 {
    (kind << 56) | i
}

fn user_of(d: u32) -> u32 {
    if d < 2 * PAIRS { d / 2 } else { d - PAIRS }
}

fn devices_of(u: u32) -> Vec<u32> {
    if u < PAIRS {
        vec![2 * u, 2 * u + 1]
    } else {
        vec![u + PAIRS]
    }
}

/// The AoR device `d` registers under; a user's second device spells it
/// differently, as a SIP URI.
fn aor_of(d: u32) -> String {
    let u = user_of(d);
    if d < 2 * PAIRS && d % 2 == 1 {
        format!("sip:User{u}@Example.com")
    } else {
        format!("user{u}@example.com")
    }
}

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Down,
    Joining,
    Joined,
    Leaving,
    Left,
    Crashed,
}

struct Dev {
    status: Status,
    registrar: Option<Registrar>,
    /// The global view of the device's records (shared with the churn
    /// scenario: `peerlab_sim::registration::DeviceLog`).
    log: DeviceLog,
    pending_removes: u32,
    incarnation: u64,
}

#[derive(Clone, Debug)]
enum Pending {
    Join(u32),
    Put(Vec<u8>),
    /// A refresh removing the record it replaced.
    Replace,
    Remove(u32),
    Get {
        user: u32,
        issued: Instant,
    },
}

#[derive(Default, Debug)]
struct Figures {
    gets: u32,
    two_contact_users_static: u32,
    one_contact_users_static: u32,
    leave_checks: u32,
    crash_before_present: u32,
    crash_after_absent: u32,
    expire_events: u32,
    refresh_agreements: u32,
    superseded_seen: u32,
    put_retries: u32,
    /// Device reads judged, by category (`CATEGORIES`).
    reads: [u32; 6],
    /// Of those, reads where the device was not as the oracle says.
    mismatched: [u32; 6],
    latency_ms_sum: f64,
    /// Removed records among a read's merged values that the read did not
    /// return: hidden by the leave's tombstone, or by the newer record of
    /// the refresh that replaced them.
    hidden_by_tombstone: u32,
    hidden_by_successor: u32,
}

struct Run<D: DhtNode> {
    cfg: Arc<D::Config>,
    reg: RegistrarConfig,
    seed: u64,
    ids: Vec<NodeId>,
    devs: Vec<Dev>,
    work: Vec<WorkItem>,
    pending: BTreeMap<(u32, RequestId), Pending>,
    /// Targeted reads: (user, kind) with kind 0 = after leave, 1 = before
    /// expiry, 2 = after expiry, 3 = after a re-registration following a crash.
    targeted: Vec<(u32, u8, u32)>,
    get_kind: BTreeMap<(u32, RequestId), usize>,
    rng: NodeRng,
    failures: Vec<String>,
    /// Mismatches in measured reads.
    stale: Vec<String>,
    fig: Figures,
}

fn device_info(d: u32, id: NodeId) -> Device {
    let nat = NatType::ALL[d as usize % NatType::ALL.len()];
    Device {
        node_id: id,
        nat,
        host: addr_of(d),
        reflexive: nat
            .is_natted()
            .then(|| Addr::new([198, 51, (d >> 8) as u8, d as u8], 40_000)),
        super_node: (nat == NatType::UdpBlocked).then(|| addr_of(0)),
    }
}

impl<D: DhtNode> Run<D> {
    fn fail(&mut self, now: Instant, msg: String) {
        self.failures
            .push(format!("{:.3} s: {msg}", now.as_secs_f64()));
    }

    fn issue(&mut self, sim: &mut Sim<D>, d: u32, cmd: Command) {
        let now = sim.now();
        let what = match &cmd {
            Command::Put {
                value, ttl_secs, ..
            } => {
                let record = ContactRecord::decode(value).expect("the registrar's own record");
                let dev = &mut self.devs[d as usize];
                if record.removed {
                    // A leave's tombstone: it must hide every record the
                    // device put and live exactly as long as the newest.
                    let newest = dev
                        .log
                        .entries
                        .iter()
                        .map(|e| e.record)
                        .max_by_key(|r| r.expires_at);
                    let ok = dev.status == Status::Leaving
                        && newest.is_some_and(|n| {
                            record.expires_at == n.expires_at
                                && record.seq > n.seq
                                && now + Duration::from_secs(u64::from(*ttl_secs)) >= n.expires_at
                                && now + Duration::from_secs(u64::from(*ttl_secs) - 1)
                                    < n.expires_at
                        });
                    if !ok {
                        self.fail(now, format!("device {d}: tombstone {record:?} (ttl {ttl_secs} s) does not match its newest record {newest:?}"));
                    }
                    let dev = &mut self.devs[d as usize];
                    dev.log.put_issued(now, record, value);
                    dev.pending_removes += 1;
                    match sim.command(d, cmd.clone()) {
                        Ok(r) => {
                            self.pending.insert((d, r), Pending::Remove(d));
                        }
                        Err(e) => self.fail(now, format!("device {d}: command refused: {e}")),
                    }
                    return;
                }
                if !dev.log.put_issued(now, record, value) {
                    self.fig.put_retries += 1;
                }
                Pending::Put(value.clone())
            }
            Command::Remove { value, .. } => {
                let dev = &mut self.devs[d as usize];
                let leaving = dev.status == Status::Leaving;
                dev.log.remove_issued(now, value, leaving);
                if leaving {
                    dev.pending_removes += 1;
                    Pending::Remove(d)
                } else {
                    Pending::Replace
                }
            }
            _ => unreachable!("the registrar only puts and removes"),
        };
        match sim.command(d, cmd) {
            Ok(r) => {
                self.pending.insert((d, r), what);
            }
            Err(e) => self.fail(now, format!("device {d}: command refused: {e}")),
        }
    }

    /// A random joined device, for issuing a read.
    fn reader(&mut self, sim: &Sim<D>, not_user: u32) -> Option<u32> {
        for _ in 0..1000 {
            let d = self.rng.random_range(0..N);
            if user_of(d) != not_user
                && sim.is_up(d)
                && self.devs[d as usize].status == Status::Joined
            {
                return Some(d);
            }
        }
        None
    }

    fn get(&mut self, sim: &mut Sim<D>, user: u32, target: Option<usize>) {
        let Some(origin) = self.reader(sim, user) else {
            return self.fail(sim.now(), format!("no reader for user {user}"));
        };
        let key = aor_key(self.reg.hash, &aor_of(devices_of(user)[0])).expect("valid AoR");
        match sim.command(origin, Command::Get { key }) {
            Ok(r) => {
                let issued = sim.now();
                self.pending
                    .insert((origin, r), Pending::Get { user, issued });
                if let Some(k) = target {
                    self.get_kind.insert((origin, r), k);
                }
            }
            Err(e) => self.fail(sim.now(), format!("get refused at {origin}: {e}")),
        }
    }

    fn dht_join(&mut self, sim: &mut Sim<D>, d: u32) {
        let dev = &mut self.devs[d as usize];
        if dev.incarnation > 0 {
            let seed = derive_seed(self.seed, "node", (dev.incarnation << 32) | u64::from(d));
            sim.revive(
                d,
                D::build(&self.cfg, self.ids[d as usize], addr_of(d), seed),
            );
        }
        dev.incarnation += 1;
        dev.status = Status::Joining;
        let bootstrap = if d == 0 { vec![] } else { vec![addr_of(0)] };
        match sim.command(d, Command::Join { bootstrap }) {
            Ok(r) => {
                self.pending.insert((d, r), Pending::Join(d));
            }
            Err(e) => self.fail(sim.now(), format!("device {d}: join refused: {e}")),
        }
    }

    fn on_work(&mut self, sim: &mut Sim<D>, item: WorkItem) {
        let now = sim.now();
        match item {
            WorkItem::Churn(ChurnRecord { node, event, .. }) => match event {
                ChurnEvent::Join => {
                    if self.devs[node as usize].status != Status::Joined {
                        self.fail(
                            now,
                            format!("device {node} not joined when it comes online"),
                        );
                    }
                }
                ChurnEvent::Leave => {
                    let dev = &mut self.devs[node as usize];
                    dev.status = Status::Leaving;
                    let cmds = dev
                        .registrar
                        .take()
                        .map(|mut r| r.unregister_all(now))
                        .unwrap_or_default();
                    if cmds.is_empty() {
                        self.finish_leave(sim, node);
                    }
                    for c in cmds {
                        self.issue(sim, node, c);
                    }
                }
                ChurnEvent::Fail => {
                    sim.set_down(node);
                    let dev = &mut self.devs[node as usize];
                    dev.status = Status::Crashed;
                    dev.registrar = None;
                    if let Some(last) = dev.log.entries.last() {
                        let exp = last.record.expires_at;
                        let u = user_of(node);
                        self.targeted.push((u, 1, node));
                        let i = self.targeted.len() as u64 - 1;
                        sim.schedule_hook(
                            Instant::from_micros(exp.as_micros() - 5_000_000),
                            hook(HOOK_GET, i),
                        );
                        self.targeted.push((u, 2, node));
                        sim.schedule_hook(exp + G, hook(HOOK_GET, i + 1));
                    }
                }
            },
            WorkItem::Work(w) => match w.event {
                WorkloadEvent::Register { node } => {
                    let aor = aor_of(node);
                    let dev = &mut self.devs[node as usize];
                    if dev.registrar.is_none() && dev.incarnation > 1 {
                        // Back after a crash: its old record still lives.
                        self.targeted.push((user_of(node), 3, node));
                        let i = self.targeted.len() as u64 - 1;
                        sim.schedule_hook(now + Duration::from_secs(20), hook(HOOK_GET, i));
                    }
                    let dev = &mut self.devs[node as usize];
                    let cmds = match &mut dev.registrar {
                        None => {
                            let device = device_info(node, self.ids[node as usize]);
                            let mut r = Registrar::new(self.reg, device).expect("valid config");
                            let cmds = r.register(now, &aor).expect("valid AoR");
                            dev.registrar = Some(r);
                            cmds
                        }
                        Some(r) => {
                            let due = r.poll_timeout();
                            let cmds = r.handle_timeout(now);
                            if due == Some(now) {
                                self.fig.refresh_agreements += 1;
                            } else {
                                self.fail(
                                    now,
                                    format!("device {node}: generator refreshes, registrar due at {due:?}"),
                                );
                            }
                            cmds
                        }
                    };
                    for c in cmds {
                        self.issue(sim, node, c);
                    }
                }
                WorkloadEvent::Expire { node } => {
                    self.fig.expire_events += 1;
                    let last = self.devs[node as usize].log.entries.last().map(|e| {
                        (
                            e.issued + Duration::from_secs(u64::from(self.reg.expires_s)),
                            e.record.expires_at,
                        )
                    });
                    if last != Some((now, now)) {
                        self.fail(
                            now,
                            format!("device {node}: generator expiry at {now:?}, last registration + e and record say {last:?}"),
                        );
                    }
                }
                _ => {}
            },
        }
    }

    fn finish_leave(&mut self, sim: &mut Sim<D>, d: u32) {
        let now = sim.now();
        let dev = &mut self.devs[d as usize];
        dev.log.leave_done(now);
        dev.status = Status::Left;
        let _ = sim.command(d, Command::Leave);
        sim.set_down(d);
        self.targeted.push((user_of(d), 0, d));
        let i = self.targeted.len() - 1;
        self.get(sim, user_of(d), Some(i));
    }

    /// Judges a read of `user`'s AoR issued at `g` against the global view.
    fn judge(
        &mut self,
        now: Instant,
        user: u32,
        g: Instant,
        values: &[Vec<u8>],
        target: Option<usize>,
    ) {
        let (kind, target_dev) = match target {
            Some(i) => (Some(self.targeted[i].1), self.targeted[i].2),
            None => (None, u32::MAX),
        };
        self.fig.gets += 1;
        let read = read_contacts(values, now);
        if read.malformed > 0 {
            self.fail(
                now,
                format!("user {user}: {} malformed values", read.malformed),
            );
        }
        let mine: Vec<NodeId> = devices_of(user)
            .iter()
            .map(|&d| self.ids[d as usize])
            .collect();
        for r in &read.records {
            if !mine.contains(&r.node_id) {
                self.fail(now, format!("user {user}: foreign record {r:?}"));
            }
        }
        let cutoff = Instant::from_micros(g.as_micros().saturating_sub(SLACK.as_micros()));
        let mut present = 0;
        let mut strict_errs = Vec::new();
        for d in devices_of(user) {
            let mut errs = Vec::new();
            let dev = &self.devs[d as usize];
            let got = read
                .records
                .iter()
                .find(|r| r.node_id == self.ids[d as usize]);
            // The global view's verdict (see `DeviceLog::judge`): the newest
            // settled record or a newer one in flight, nothing removed or
            // expired, nothing when nothing is required.
            let verdict = dev.log.judge(got, g, now, SLACK);
            if !verdict.correct {
                let msg = format!(
                    "user {user} device {d} ({:?}): read {got:?}, expected {:?} (issued {:?})",
                    dev.status,
                    dev.log.expected(g, now, SLACK).map(|e| e.record),
                    g
                );
                errs.push(msg);
            }
            if got.is_some() {
                present += 1;
            }
            // The stores themselves: a record removed (leave acknowledged,
            // or replaced more than SLACK ago) or past its expiry by G is
            // gone from the raw values too.
            for e in &dev.log.entries {
                let lapsed = e.record.expires_at + G <= g;
                let removed =
                    e.unreg_done.is_some_and(|u| u <= g) || e.replaced.is_some_and(|r| r <= cutoff);
                if lapsed && values.contains(&e.bytes) {
                    strict_errs.push(format!(
                        "user {user} device {d}: store returns {:?} {G:?} past its expiry",
                        e.record
                    ));
                } else if removed && values.contains(&e.bytes) {
                    // A holder that missed the removal is among those
                    // merged: the read must not return the record. Its
                    // tombstone or its successor, from another holder, hides it.
                    if got == Some(&e.record) {
                        let msg = format!(
                            "user {user} device {d}: read returns the removed {:?} (issued {:?}, replaced {:?}, unregistered {:?})",
                            e.record, e.issued, e.replaced, e.unreg_done
                        );
                        errs.push(msg);
                    } else if e.unreg_done.is_some() {
                        self.fig.hidden_by_tombstone += 1;
                    } else {
                        self.fig.hidden_by_successor += 1;
                    }
                }
            }
            for (bytes, expires_at) in &dev.log.tombstones {
                if *expires_at + G <= g && values.contains(bytes) {
                    strict_errs.push(format!(
                        "user {user} device {d}: store returns a tombstone {G:?} past its expiry {expires_at:?}"
                    ));
                }
            }
            match kind.filter(|_| d == target_dev) {
                Some(3)
                    if read.superseded > 0 && got == dev.log.entries.last().map(|e| &e.record) =>
                {
                    self.fig.superseded_seen += 1
                }
                Some(1) if got.is_some() && dev.status == Status::Crashed => {
                    self.fig.crash_before_present += 1
                }
                Some(2) if got.is_none() && dev.status == Status::Crashed => {
                    self.fig.crash_after_absent += 1
                }
                Some(0) if got.is_none() && dev.status == Status::Left => {
                    self.fig.leave_checks += 1
                }
                _ => {}
            }
            // A read after the expiry bound must lack the record: exact. Any
            // other read is subject to the DHT's replica consistency, so its
            // mismatches are counted by category (see `check`).
            let cat = match kind.filter(|_| d == target_dev) {
                Some(k) => 2 + usize::from(k),
                None if g <= secs(SWEEPS_S[0]) => CAT_STATIC,
                None => CAT_CHURN,
            };
            self.fig.reads[cat] += 1;
            if cat == CAT_CRASH_AFTER {
                strict_errs.extend(errs);
            } else {
                if !errs.is_empty() {
                    self.fig.mismatched[cat] += 1;
                    self.stale.extend(
                        errs.into_iter()
                            .map(|m| format!("{:.3} s: {m}", now.as_secs_f64())),
                    );
                }
            }
        }

        for m in strict_errs {
            self.fail(now, m);
        }
        if g == secs(SWEEPS_S[0]) {
            match present {
                2 => self.fig.two_contact_users_static += 1,
                1 => self.fig.one_contact_users_static += 1,
                _ => {}
            }
        }
    }
}

impl<D: DhtNode> Driver<D> for Run<D> {
    fn on_hook(&mut self, sim: &mut Sim<D>, tag: u64) {
        let (kind, i) = (tag >> 56, (tag & ((1 << 56) - 1)) as usize);
        match kind {
            HOOK_DHT_JOIN => self.dht_join(sim, i as u32),
            HOOK_WORK => {
                let item = self.work[i];
                self.on_work(sim, item);
            }
            HOOK_SWEEP => {
                for u in 0..USERS {
                    self.get(sim, u, None);
                }
            }
            HOOK_GET => {
                let u = self.targeted[i].0;
                self.get(sim, u, Some(i));
            }
            _ => unreachable!(),
        }
    }

    fn on_event(&mut self, sim: &mut Sim<D>, node: u32, event: Event) {
        let id = match &event {
            Event::Joined { id, .. }
            | Event::JoinFailed { id }
            | Event::GetDone { id, .. }
            | Event::StoreDone { id, .. } => *id,
            _ => return,
        };
        let Some(p) = self.pending.remove(&(node, id)) else {
            return;
        };
        let now = sim.now();
        match (p, event) {
            (Pending::Join(d), Event::Joined { .. }) => {
                self.devs[d as usize].status = Status::Joined
            }
            (Pending::Join(d), _) => self.fail(now, format!("device {d}: join failed")),
            (Pending::Put(value), Event::StoreDone { key, replicas, .. }) => {
                if replicas > 0 {
                    let dev = &mut self.devs[node as usize];
                    dev.log.put_acked(now, &value);
                }
                let cmds = match &mut self.devs[node as usize].registrar {
                    Some(r) => r.put_done(key, replicas),
                    None => Vec::new(), // left or crashed meanwhile
                };
                for c in cmds {
                    self.issue(sim, node, c);
                }
            }
            (Pending::Replace, Event::StoreDone { .. }) => {}
            (Pending::Remove(d), Event::StoreDone { .. }) => {
                let dev = &mut self.devs[d as usize];
                dev.pending_removes -= 1;
                if dev.pending_removes == 0 {
                    self.finish_leave(sim, d);
                }
            }
            (Pending::Get { user, issued }, Event::GetDone { values, stats, .. }) => {
                let kind = self.get_kind.remove(&(node, id));
                self.fig.latency_ms_sum += (stats.finished - stats.started).as_millis_f64();
                self.judge(now, user, issued, &values, kind);
            }
            (p, e) => self.fail(now, format!("unexpected {e:?} for {p:?}")),
        }
    }
}

/// The churn the workload generator is fed: every device online `GRACE_S`
/// after its overlay join; then leaves, crashes and rejoins. No departure
/// falls within `SLACK` after a refresh, so a departing device never has a
/// store in flight and the oracle's expectation is unambiguous.
fn plan(seed: u64) -> (Vec<u64>, Vec<ChurnRecord>, Vec<(u64, u32)>) {
    let mut rng = NodeRng::seed_from_u64(derive_seed(seed, "registration-plan", 0));
    let joins: Vec<u64> = (0..N)
        .map(|d| {
            if d == 0 {
                0
            } else {
                rng.random_range(1..=JOIN_WINDOW_S)
            }
        })
        .collect();
    let mut churn: Vec<ChurnRecord> = (0..N)
        .map(|d| ChurnRecord {
            time_s: (joins[d as usize] + GRACE_S) as f64,
            node: d,
            event: ChurnEvent::Join,
        })
        .collect();
    let mut order: Vec<u32> = (1..N).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let refresh = WORKLOAD.refresh_s as u64;
    let mut rejoins = Vec::new();
    for (k, &d) in order[..LEAVES + FAILS].iter().enumerate() {
        let online = joins[d as usize] + GRACE_S;
        let mut t = rng.random_range(400..=900u64);
        if (t - online) % refresh < SLACK.as_micros() / 1_000_000 {
            t += SLACK.as_micros() / 1_000_000;
        }
        let event = if k < LEAVES {
            ChurnEvent::Leave
        } else {
            ChurnEvent::Fail
        };
        churn.push(ChurnRecord {
            time_s: t as f64,
            node: d,
            event,
        });
        if (LEAVES..LEAVES + REJOINS).contains(&k) {
            let back = t + REJOIN_AFTER_S;
            rejoins.push((back, d));
            churn.push(ChurnRecord {
                time_s: (back + REJOIN_GRACE_S) as f64,
                node: d,
                event: ChurnEvent::Join,
            });
        }
    }
    churn.sort_by(|a, b| a.time_s.total_cmp(&b.time_s).then(a.node.cmp(&b.node)));
    (joins, churn, rejoins)
}

fn run<D: DhtNode>(
    dht: D::Config,
    hash: HashAlg,
    seed: u64,
) -> (Figures, Vec<String>, Vec<String>) {
    let reg = registrar_config(&WORKLOAD, hash, "workload.registration").expect("whole seconds");
    let cfg = Arc::new(dht);
    let mut id_rng = NodeRng::seed_from_u64(derive_seed(seed, "node-ids", 0));
    let ids: Vec<NodeId> = (0..N).map(|_| NodeId::random(&mut id_rng)).collect();
    let nodes = (0..N)
        .map(|i| {
            D::build(
                &cfg,
                ids[i as usize],
                addr_of(i),
                derive_seed(seed, "node", u64::from(i)),
            )
        })
        .collect();
    let net = NetworkConfig {
        nodes: N,
        ..NetworkConfig::default()
    };
    let mut sim = Sim::new(nodes, Network::new(&net, seed), false);

    let (joins, churn, rejoins) = plan(seed);
    let spec = WorkloadSpec {
        registration: Some(WORKLOAD),
        ..WorkloadSpec::default()
    };
    let work: Vec<WorkItem> = WorkloadDriver::new(churn.into_iter(), spec, seed, END_S as f64)
        .expect("valid workload")
        .with_population(N)
        .collect();
    for (d, &j) in joins.iter().enumerate() {
        sim.schedule_hook(secs(j), hook(HOOK_DHT_JOIN, d as u64));
    }
    for &(t, d) in &rejoins {
        sim.schedule_hook(secs(t), hook(HOOK_DHT_JOIN, u64::from(d)));
    }
    for (i, w) in work.iter().enumerate() {
        sim.schedule_hook(
            Instant::ZERO + Duration::from_secs_f64(w.time_s()),
            hook(HOOK_WORK, i as u64),
        );
    }
    for (k, &s) in SWEEPS_S.iter().enumerate() {
        sim.schedule_hook(secs(s), hook(HOOK_SWEEP, k as u64));
    }
    let mut run = Run::<D> {
        cfg,
        reg,
        seed,
        ids,
        devs: (0..N)
            .map(|_| Dev {
                status: Status::Down,
                registrar: None,
                log: DeviceLog::default(),
                pending_removes: 0,
                incarnation: 0,
            })
            .collect(),
        work,
        pending: BTreeMap::new(),
        targeted: Vec::new(),
        get_kind: BTreeMap::new(),
        rng: NodeRng::seed_from_u64(derive_seed(seed, "registration-readers", 0)),
        failures: Vec::new(),
        stale: Vec::new(),
        fig: Figures::default(),
    };
    sim.run_until(secs(END_S + 60), &mut run, &mut |_, _| {});
    for ((node, _), p) in &run.pending {
        if matches!(p, Pending::Get { .. } | Pending::Remove(_)) {
            run.failures.push(format!("{p:?} at {node} never finished"));
        }
    }
    (run.fig, run.failures, run.stale)
}

/// At most this share of all device reads may disagree with the oracle:
/// 0.05%, one read of the about 3,160 a run judges.
///
/// A get merges the values of `read_holders` holders (default 2); a holder
/// that a put or remove missed (under churn, or before the ring has fully
/// converged) is outvoted by any fresh one, and a removal by its tombstone
/// or the record that replaced it. What remains: every holder merged missed
/// the same refresh (Kademlia), or the replicas asked had nothing yet
/// (Chord gives up after 2 empty answers).
///
/// Measured over seeds 0–4 (`mismatch_over_seeds_0_to_4`, run with
/// `--ignored`), default `read_holders` = 2: Kademlia 1, 0, 0, 0, 0 and
/// Chord 0, 1, 1, 0, 1 of about 3,160 reads each, so at most 1 (0.032%);
/// with the first holder only (`read_holders` = 1) Kademlia 9, 9, 8, 4, 4
/// and Chord 0, 1, 1, 0, 1. The seeds of the tests above: Kademlia 0 of 3157
/// (15 with `read_holders` = 1), Chord 0 of 3170 (0).
const MAX_MISMATCH: f64 = 0.0005;

fn check(name: &str, fig: &Figures, failures: &[String], stale: &[String]) {
    let reads: u32 = fig.reads.iter().sum();
    let off: u32 = fig.mismatched.iter().sum();
    let mismatch = f64::from(off) / f64::from(reads);
    println!("{name}: {fig:?}");
    println!(
        "{name}: mean get latency {:.1} ms; device reads not as the oracle says: {off} of {reads} ({:.2}%)",
        fig.latency_ms_sum / f64::from(fig.gets),
        100.0 * mismatch
    );
    for (c, label) in CATEGORIES.iter().enumerate() {
        println!(
            "{name}:   {label}: {} of {} off",
            fig.mismatched[c], fig.reads[c]
        );
    }
    for m in stale.iter().take(5) {
        println!("{name}: mismatch: {m}");
    }
    assert!(
        failures.is_empty(),
        "{name}: {} failures, first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(20)]
    );
    assert!(
        mismatch <= MAX_MISMATCH,
        "{name}: {:.2}% of reads disagree with the oracle, first: {:#?}",
        100.0 * mismatch,
        &stale[..stale.len().min(20)]
    );
    // Every planned read happened and was judged.
    let lapsing = (FAILS - REJOINS) as u32;
    assert_eq!(
        fig.reads[CAT_STATIC], N,
        "{name}: static sweep device reads"
    );
    assert!(
        fig.reads[CAT_CHURN] > N * 4,
        "{name}: churn sweep device reads"
    );
    assert_eq!(fig.reads[2] as usize, LEAVES, "{name}: reads after a leave");
    assert_eq!(
        fig.reads[3] as usize, FAILS,
        "{name}: reads before an expiry"
    );
    assert_eq!(
        fig.reads[4] as usize, FAILS,
        "{name}: reads after an expiry"
    );
    assert_eq!(
        fig.crash_after_absent, lapsing,
        "{name}: crashed records gone after e + G"
    );
    assert_eq!(
        fig.reads[5] as usize, REJOINS,
        "{name}: reads after a rejoin"
    );
    // What the reads that matched show.
    assert!(
        fig.two_contact_users_static + fig.mismatched[CAT_STATIC] >= PAIRS,
        "{name}: users with 2 devices read with 2 contacts: {}",
        fig.two_contact_users_static
    );
    assert_eq!(
        fig.leave_checks + fig.mismatched[2],
        LEAVES as u32,
        "{name}: a read right after a leave lacks the record"
    );
    assert!(
        fig.crash_before_present + fig.mismatched[3] >= lapsing,
        "{name}: crashed records kept until e: {}",
        fig.crash_before_present
    );
    assert_eq!(
        fig.expire_events,
        LEAVES as u32 + lapsing,
        "{name}: generator expiries"
    );
    assert!(
        fig.refresh_agreements > N,
        "{name}: refreshes cross-checked"
    );
    // Whether the first holder a get reaches still has the old record is up
    // to the DHT; that only the newest is returned is judged above.
    assert!(
        fig.superseded_seen > 0,
        "{name}: no read saw a rejoined device's old and new records together"
    );
}

#[test]
fn kademlia_registration_follows_sip_register_semantics() {
    let cfg = KademliaConfig::default();
    let hash = cfg.hash;
    let (fig, failures, stale) = run::<Kademlia>(cfg, hash, 61);
    check("kademlia", &fig, &failures, &stale);
}

#[test]
fn chord_registration_follows_sip_register_semantics() {
    let cfg = ChordConfig::default();
    let hash = cfg.hash;
    let (fig, failures, stale) = run::<Chord>(cfg, hash, 62);
    check("chord", &fig, &failures, &stale);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let cfg = KademliaConfig::default();
    let hash = cfg.hash;
    let a = run::<Kademlia>(cfg.clone(), hash, 7);
    let b = run::<Kademlia>(cfg, hash, 7);
    assert_eq!(format!("{:?}", a.0), format!("{:?}", b.0));
    assert_eq!((a.1, a.2), (b.1, b.2));
}

/// Reads that disagree with the oracle, reads judged, and mean get latency.
fn summary(fig: &Figures) -> (u32, u32, f64) {
    (
        fig.mismatched.iter().sum(),
        fig.reads.iter().sum(),
        fig.latency_ms_sum / f64::from(fig.gets),
    )
}

/// The measurement behind [`MAX_MISMATCH`]: both DHTs over seeds 0–4, with
/// the default `read_holders` (checked as the tests above are) and with 1,
/// the first holder only (printed for comparison). About 3 minutes:
/// `cargo test --release -p peerlab-sim --test registration -- --ignored --nocapture`
#[test]
#[ignore = "measurement over 5 seeds, about 3 minutes"]
fn mismatch_over_seeds_0_to_4() {
    let (kad, chord) = (KademliaConfig::default(), ChordConfig::default());
    for seed in 0..5 {
        for q in [1, kad.read_holders] {
            let cfg = KademliaConfig {
                read_holders: q,
                ..kad.clone()
            };
            let (fig, failures, stale) = run::<Kademlia>(cfg, kad.hash, seed);
            let (off, reads, ms) = summary(&fig);
            println!(
                "seed {seed} kademlia read_holders {q}: {off} of {reads} off, hidden {}+{}, mean get {ms:.1} ms",
                fig.hidden_by_tombstone, fig.hidden_by_successor
            );
            if q == kad.read_holders {
                check("kademlia", &fig, &failures, &stale);
            }
        }
        for q in [1, chord.read_holders] {
            let cfg = ChordConfig {
                read_holders: q,
                ..chord.clone()
            };
            let (fig, failures, stale) = run::<Chord>(cfg, chord.hash, seed);
            let (off, reads, ms) = summary(&fig);
            println!(
                "seed {seed} chord read_holders {q}: {off} of {reads} off, hidden {}+{}, mean get {ms:.1} ms",
                fig.hidden_by_tombstone, fig.hidden_by_successor
            );
            if q == chord.read_holders {
                check("chord", &fig, &failures, &stale);
            }
        }
    }
}
