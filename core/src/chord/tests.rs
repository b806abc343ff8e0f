//! Protocol details pinned against hand-made rings.
//!
//! Rings are built by writing each node's state directly (successor list,
//! predecessor, and fingers computed by brute force here, independently of
//! the protocol), on a small circle so that positions read like the figures
//! of Stoica et al. A tiny driver then delivers datagrams after 1 ms each and
//! jumps time to the next deadline; crashed nodes receive nothing and do
//! nothing.

use super::*;
use crate::recursive::fingerprint;

/// The id whose top `bits` bits are `pos` (the rest zero).
fn id_at(bits: u16, pos: u64) -> NodeId {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&(pos << (64 - bits as u32)).to_be_bytes());
    NodeId(b)
}

/// The position of an id on a small ring.
fn pos_of(bits: u16, id: &NodeId) -> u64 {
    id.prefix_u64() >> (64 - bits as u32)
}

fn addr(i: usize) -> Addr {
    Addr::from_u32(0x0A00_0001 + i as u32, 4000)
}

/// Brute force: the first of `positions` at or after `x` on a 2^bits circle.
fn successor_of(bits: u16, positions: &[u64], x: u64) -> u64 {
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    let x = x % (1 << bits);
    sorted
        .iter()
        .copied()
        .find(|p| *p >= x)
        .unwrap_or(sorted[0])
}

struct TestRing {
    bits: u16,
    positions: Vec<u64>,
    nodes: Vec<Chord>,
    crashed: Vec<bool>,
    now: Instant,
    wire: VecDeque<(Instant, usize, Addr, Message)>,
    events: Vec<(usize, Event)>,
}

impl TestRing {
    /// Nodes at `positions` (any order) with correct successor lists and
    /// predecessors; fingers only if `with_fingers`.
    fn new(cfg: ChordConfig, positions: &[u64], with_fingers: bool) -> TestRing {
        let bits = cfg.id_bits;
        let cfg = Arc::new(cfg);
        let mut nodes: Vec<Chord> = positions
            .iter()
            .enumerate()
            .map(|(i, p)| Chord::new(cfg.clone(), id_at(bits, *p), addr(i), i as u64))
            .collect();
        let contact = |p: u64| {
            let i = positions.iter().position(|x| *x == p).unwrap();
            Contact {
                id: id_at(bits, p),
                addr: addr(i),
            }
        };
        let mut sorted = positions.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        for (i, node) in nodes.iter_mut().enumerate() {
            let k = sorted.iter().position(|x| *x == positions[i]).unwrap();
            node.phase = Phase::Joined;
            let succs = (1..n)
                .take(cfg.successors)
                .map(|d| contact(sorted[(k + d) % n]));
            node.successors.set(succs);
            if n > 1 {
                node.predecessor = Some(contact(sorted[(k + n - 1) % n]));
            }
            if with_fingers {
                for f in 0..bits {
                    let start = (positions[i] + (1 << f)) % (1 << bits);
                    let s = successor_of(bits, positions, start);
                    if s != positions[i] {
                        node.fingers.set(f as u8, contact(s));
                    }
                }
            }
            node.neighbours = node.neighbour_set();
        }
        TestRing {
            bits,
            positions: positions.to_vec(),
            nodes,
            crashed: vec![false; positions.len()],
            now: Instant::ZERO,
            wire: VecDeque::new(),
            events: Vec::new(),
        }
    }

    fn idx(&self, pos: u64) -> usize {
        self.positions.iter().position(|x| *x == pos).unwrap()
    }

    fn node(&mut self, pos: u64) -> &mut Chord {
        let i = self.idx(pos);
        &mut self.nodes[i]
    }

    fn contact(&self, pos: u64) -> Contact {
        let i = self.idx(pos);
        Contact {
            id: id_at(self.bits, pos),
            addr: addr(i),
        }
    }

    fn flush(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].poll_transmit() {
            let to = (t.dst.ip_u32().wrapping_sub(0x0A00_0001)) as usize;
            if to < self.nodes.len() {
                self.wire
                    .push_back((self.now + Duration::from_millis(1), to, t.src, t.msg));
            }
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events.push((i, e));
        }
    }

    fn cmd(&mut self, pos: u64, c: Command) -> RequestId {
        let i = self.idx(pos);
        let r = self.nodes[i].handle_command(self.now, c).unwrap();
        self.flush(i);
        r
    }

    /// Runs until nothing is in flight and no deadline falls before `until`.
    /// Periodic maintenance is off unless `maintenance`.
    fn run_until(&mut self, until: Instant, maintenance: bool) {
        loop {
            let wire_at = self.wire.front().map(|w| w.0);
            let timer = (0..self.nodes.len())
                .filter(|&i| !self.crashed[i])
                .filter_map(|i| {
                    let d = self.nodes[i].poll_timeout()?;
                    (maintenance || d.reason == TimerReason::RpcTimeout).then_some((d.at, i))
                })
                .min();
            match (wire_at, timer) {
                (Some(w), t) if t.is_none_or(|(at, _)| w <= at) && w <= until => {
                    let (at, to, from, msg) = self.wire.pop_front().unwrap();
                    self.now = at;
                    if !self.crashed[to] {
                        self.nodes[to].handle_message(at, from, msg);
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

    fn settle(&mut self, secs: u64) {
        let t = self.now + Duration::from_secs(secs);
        self.run_until(t, false);
    }

    fn lookup(&mut self, from: u64, key: NodeId, mode: RoutingMode) -> (Vec<u64>, RequestStats) {
        let r = self.cmd(from, Command::Lookup { target: key, mode });
        self.settle(60);
        let i = self.idx(from);
        let bits = self.bits;
        self.events
            .iter()
            .find_map(|(n, e)| match e {
                Event::LookupDone {
                    id, closest, stats, ..
                } if *n == i && *id == r => Some((
                    closest.iter().map(|c| pos_of(bits, &c.id)).collect(),
                    *stats,
                )),
                _ => None,
            })
            .expect("lookup finished")
    }

    fn successor_positions(&mut self, pos: u64) -> Vec<u64> {
        let bits = self.bits;
        self.node(pos)
            .successor_list()
            .iter()
            .map(|c| pos_of(bits, &c.id))
            .collect()
    }
}

/// The ring of Figure 3 in Stoica et al. (ToN 2003): m = 6, ten nodes.
const PAPER_RING: [u64; 10] = [1, 8, 14, 21, 32, 38, 42, 48, 51, 56];

fn cfg6() -> ChordConfig {
    ChordConfig {
        id_bits: 6,
        successors: 3,
        replicas: 3,
        timer_jitter: 0.0,
        adaptive_timeout: false,
        ..ChordConfig::default()
    }
}

#[test]
fn fix_fingers_finds_the_successor_of_n_plus_two_to_the_i() {
    // No fingers yet: node 8 refreshes them through lookups.
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, false);
    let now = ring.now;
    ring.node(8).start_fix_round(now);
    let i = ring.idx(8);
    ring.flush(i);
    ring.settle(30);
    // The paper's finger table of N8: 8+1, 8+2, 8+4 → N14 (the successor,
    // implied), 8+8 → N21, 8+16 → N32, 8+32 → N42.
    let runs: Vec<(u8, u64)> = ring
        .node(8)
        .fingers()
        .iter()
        .map(|(i, c)| (*i, pos_of(6, &c.id)))
        .collect();
    assert_eq!(runs, vec![(3, 21), (4, 32), (5, 42)]);
    // Independent check of every finger against brute force.
    for f in 0..6u8 {
        let want = successor_of(6, &PAPER_RING, 8 + (1 << f));
        let got = runs.iter().rev().find(|(i, _)| *i <= f).map_or(14, |r| r.1);
        assert_eq!(got, want, "finger {f}");
    }
    let roles: Vec<RouteRole> = ring.node(8).routes().iter().map(|r| r.role).collect();
    assert_eq!(
        roles,
        vec![
            RouteRole::Successor(0),
            RouteRole::Successor(1),
            RouteRole::Successor(2),
            RouteRole::Finger(3),
            RouteRole::Finger(4),
            RouteRole::Finger(5),
            RouteRole::Predecessor,
        ]
    );
    // Wrap-around: node 56's fingers 56+16 = 8 → N8, 56+32 = 24 → N32.
    let now = ring.now;
    ring.node(56).start_fix_round(now);
    let j = ring.idx(56);
    ring.flush(j);
    ring.settle(30);
    let runs: Vec<(u8, u64)> = ring
        .node(56)
        .fingers()
        .iter()
        .map(|(i, c)| (*i, pos_of(6, &c.id)))
        .collect();
    // 56 + 8 ≡ 0 still falls before the successor N1: implied.
    assert_eq!(runs, vec![(4, 8), (5, 32)]);
}

#[test]
fn notify_adopts_a_closer_predecessor_rejects_a_farther_one_and_hands_over_keys() {
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, true);
    let now = ring.now;
    // N32 holds keys at 24 and 30; its predecessor is N21.
    let (k24, k30) = (id_at(6, 24), id_at(6, 30));
    for k in [k24, k30] {
        ring.node(32).apply_store(now, k, b"v".to_vec(), 600);
    }
    assert_eq!(
        ring.node(32).predecessor().map(|p| pos_of(6, &p.id)),
        Some(21)
    );
    // N14 is farther than N21: rejected.
    let n14 = ring.contact(14);
    ring.node(32).on_notify(now, n14);
    assert_eq!(
        ring.node(32).predecessor().map(|p| pos_of(6, &p.id)),
        Some(21)
    );
    assert!(ring.node(32).transmits.is_empty());
    // A newcomer at 25 sits between N21 and N32: adopted, given the key at
    // 24 (now its own) but not the one at 30, and N21 is told that its
    // successor is now the newcomer (aggressive join).
    let newcomer = Contact {
        id: id_at(6, 25),
        addr: Addr::new([10, 9, 9, 9], 1),
    };
    ring.node(32).on_notify(now, newcomer);
    assert_eq!(ring.node(32).predecessor(), Some(newcomer));
    let sent: Vec<(Addr, Body)> = ring
        .node(32)
        .transmits
        .drain()
        .map(|t| (t.dst, t.msg.body))
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(matches!(&sent[0], (a, Body::Store { key, .. }) if *a == newcomer.addr && *key == k24));
    let n21 = ring.contact(21);
    assert_eq!(
        sent[1],
        (
            n21.addr,
            Body::SuccessorHint {
                successor: newcomer
            }
        )
    );
    // N21 takes the hint: the newcomer is closer than its successor N32.
    ring.node(21).on_successor_hint(now, newcomer);
    assert_eq!(ring.node(21).successor_list()[0], newcomer);
    // A hint about a node farther than the successor is ignored.
    ring.node(14).on_successor_hint(now, newcomer);
    assert_eq!(ring.successor_positions(14), vec![21, 32, 38]);
    // The adopted node is reported as a routing change.
    ring.node(32).sync_neighbours();
    let added: Vec<Event> = std::iter::from_fn(|| ring.node(32).poll_event()).collect();
    assert!(added.contains(&Event::PeerAdded(newcomer)), "{added:?}");
    // A notify from the current predecessor changes nothing.
    ring.node(32).on_notify(now, newcomer);
    assert!(ring.node(32).transmits.is_empty());
}

#[test]
fn the_successor_list_is_repaired_after_failures() {
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, true);
    assert_eq!(ring.successor_positions(8), vec![14, 21, 32]);
    // N14 crashes: the next stabilization times out (request and one retry)
    // and the next entry, N21, takes over and supplies its list.
    let i14 = ring.idx(14);
    ring.crashed[i14] = true;
    let now = ring.now;
    ring.node(8).stabilize(now);
    let i = ring.idx(8);
    ring.flush(i);
    ring.settle(1);
    assert_eq!(
        ring.successor_positions(8),
        vec![14, 21, 32],
        "still waiting"
    );
    ring.settle(10);
    assert_eq!(ring.successor_positions(8), vec![21, 32, 38]);
    // Two consecutive failures (N21 and N32) are survived with r = 3.
    for p in [21, 32] {
        let k = ring.idx(p);
        ring.crashed[k] = true;
    }
    let now = ring.now;
    ring.node(8).stabilize(now);
    ring.flush(i);
    ring.settle(30);
    assert_eq!(ring.successor_positions(8), vec![38, 42, 48]);
    // The dead nodes left every part of the routing state.
    let dead: Vec<NodeId> = [14, 21, 32].iter().map(|p| id_at(6, *p)).collect();
    assert!(
        ring.node(8)
            .routes()
            .iter()
            .all(|r| !dead.contains(&r.contact.id))
    );
    // With maintenance running, N38 notices its predecessor died and adopts
    // N8 on its next notify.
    let now = ring.now;
    for k in 0..ring.nodes.len() {
        if !ring.crashed[k] {
            ring.nodes[k].start_maintenance(now);
            ring.flush(k);
        }
    }
    let t = ring.now + Duration::from_secs(60);
    ring.run_until(t, true);
    assert_eq!(
        ring.node(38).predecessor().map(|p| pos_of(6, &p.id)),
        Some(8)
    );
    assert_eq!(ring.successor_positions(8), vec![38, 42, 48]);
}

#[test]
fn lookups_name_the_successor_in_both_modes_with_equal_paths() {
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, true);
    for origin in PAPER_RING {
        for key in 0..64u64 {
            let want = successor_of(6, &PAPER_RING, key);
            let (it, s_it) = ring.lookup(origin, id_at(6, key), RoutingMode::Iterative);
            let (rec, s_rec) = ring.lookup(origin, id_at(6, key), RoutingMode::Recursive);
            assert_eq!(it.first(), Some(&want), "iterative {origin} → {key}");
            assert_eq!(it, rec, "{origin} → {key}");
            assert_eq!(it.len(), 3, "the successor and its r − 1 successors");
            assert_eq!(s_it.hops, s_rec.hops, "{origin} → {key}");
            assert!(!s_rec.loop_detected && !s_rec.fell_back);
        }
    }
    // The paper's example: N8 looks up K54 via N42 and N51 (2 hops) to N56.
    let (res, s) = ring.lookup(8, id_at(6, 54), RoutingMode::Recursive);
    assert_eq!((res[0], s.hops), (56, 2));
    // A key the origin is responsible for is answered locally.
    let (res, s) = ring.lookup(21, id_at(6, 20), RoutingMode::Iterative);
    assert_eq!((res[0], s.hops, s.messages), (21, 0, 0));
}

#[test]
fn a_recursive_route_that_loops_is_stopped_reported_and_recovered() {
    // N8 has a stale finger: N39 left, and its address now belongs to N1,
    // behind N8. N1 has no fingers yet and routes K40 through its successor
    // N8, which finds itself on the request's path.
    let mut ring = TestRing::new(cfg6(), &[1, 8, 38, 50], true);
    let stale = Contact {
        id: id_at(6, 39),
        addr: ring.contact(1).addr,
    };
    ring.node(8).fingers.set(5, stale);
    ring.node(1).fingers.clear(); // N1 routes through its successor N8 only
    let (res, s) = ring.lookup(8, id_at(6, 40), RoutingMode::Recursive);
    assert!(s.loop_detected, "{s:?}");
    assert!(s.fell_back, "recovered iteratively");
    assert_eq!(
        res[0], 50,
        "the iterative fallback still finds the successor"
    );
    assert_eq!(
        ring.node(8).stats().loops_detected,
        1,
        "N8 caught its own fingerprint"
    );
    // The same check, directly: a request whose path holds a node's
    // fingerprint is stopped there and reported to the origin.
    let origin = ring.contact(50);
    let path = vec![fingerprint(&origin.id), fingerprint(&id_at(6, 1))];
    let now = ring.now;
    ring.node(1)
        .on_route(now, 77, origin, id_at(6, 40), 2, &path);
    let out: Vec<Transmit> = ring.node(1).transmits.drain().collect();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].dst, out[0].msg.txid), (origin.addr, 77));
    assert!(matches!(
        out[0].msg.body,
        Body::RouteResult { loop_detected: true, hops: 2, ref contacts, .. } if contacts.is_empty()
    ));
}

#[test]
fn the_hop_limit_stops_long_routes_and_the_origin_falls_back() {
    let cfg = ChordConfig {
        max_hops: 1,
        ..cfg6()
    };
    let mut ring = TestRing::new(cfg, &PAPER_RING, true);
    // N8 → K54 takes 2 hops (N42, N51): the second hop is over the limit.
    let (res, s) = ring.lookup(8, id_at(6, 54), RoutingMode::Recursive);
    assert!(s.loop_detected && s.fell_back, "{s:?}");
    assert_eq!((res[0], s.hops), (56, 2));
    // One hop (N42, whose successor N48 is responsible for K44) is within it.
    let (res, s) = ring.lookup(8, id_at(6, 44), RoutingMode::Recursive);
    assert!(!s.loop_detected && !s.fell_back, "{s:?}");
    assert_eq!((res[0], s.hops), (48, 1));
}

#[test]
fn a_dead_hop_is_routed_around_in_both_modes() {
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, true);
    let i42 = ring.idx(42);
    ring.crashed[i42] = true;
    for mode in [RoutingMode::Iterative, RoutingMode::Recursive] {
        // N8's best finger for K54 is N42 (dead): the next finger, N32, is tried.
        let (res, s) = ring.lookup(8, id_at(6, 54), mode);
        assert_eq!(res[0], 56, "{mode:?}");
        assert!(!s.fell_back, "{mode:?} {s:?}");
    }
}

#[test]
fn a_graceful_leave_hands_keys_over_and_links_the_neighbours() {
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, true);
    let now = ring.now;
    let key = id_at(6, 20);
    ring.node(21).apply_store(now, key, b"alice".to_vec(), 600);
    ring.cmd(21, Command::Leave);
    let i21 = ring.idx(21);
    ring.crashed[i21] = true;
    ring.settle(5);
    assert_eq!(ring.node(32).stored(&key), vec![b"alice".to_vec()]);
    assert_eq!(
        ring.node(32).predecessor().map(|p| pos_of(6, &p.id)),
        Some(14)
    );
    assert_eq!(ring.successor_positions(14), vec![32, 38, 42]);
    // Lookups at once route around the gap.
    let (res, _) = ring.lookup(8, key, RoutingMode::Iterative);
    assert_eq!(res[0], 32);
}

#[test]
fn values_go_to_the_successor_and_its_replicas_and_reads_fall_back() {
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, true);
    let key = id_at(6, 33);
    let r = ring.cmd(
        8,
        Command::Put {
            key,
            value: b"v".to_vec(),
            ttl_secs: 600,
        },
    );
    ring.settle(10);
    assert!(ring.events.iter().any(|(_, e)| matches!(e,
        Event::StoreDone { id, replicas: 3, .. } if *id == r)));
    for p in PAPER_RING {
        let holds = !ring.node(p).stored(&key).is_empty();
        assert_eq!(holds, [38, 42, 48].contains(&p), "N{p}");
    }
    // The responsible node crashes: a get falls back to the next replica.
    let i38 = ring.idx(38);
    ring.crashed[i38] = true;
    let g = ring.cmd(1, Command::Get { key });
    ring.settle(30);
    let got = ring.events.iter().find_map(|(_, e)| match e {
        Event::GetDone { id, values, .. } if *id == g => Some(values.clone()),
        _ => None,
    });
    assert_eq!(got, Some(vec![b"v".to_vec()]));
}

#[test]
fn parallel_iterative_asks_alpha_fingers_at_once_and_iterative_one() {
    let mut ring = TestRing::new(cfg6(), &PAPER_RING, true);
    // N8's fingers preceding K54: N14, N21, N32 and N42.
    let steps = |ring: &mut TestRing, mode| {
        let i = ring.idx(8);
        ring.nodes[i]
            .handle_command(
                ring.now,
                Command::Lookup {
                    target: id_at(6, 54),
                    mode,
                },
            )
            .unwrap();
        let sent: Vec<u64> = ring.nodes[i]
            .transmits
            .drain()
            .filter(|t| matches!(t.msg.body, Body::NextHop { .. }))
            .map(|t| {
                let to = (t.dst.ip_u32() - 0x0A00_0001) as usize;
                ring.positions[to]
            })
            .collect();
        ring.nodes[i].lookups.clear();
        ring.nodes[i].rpcs.clear();
        sent
    };
    assert_eq!(steps(&mut ring, RoutingMode::Iterative), vec![42]);
    assert_eq!(ring.node(8).config().alpha, 3);
    assert_eq!(
        steps(&mut ring, RoutingMode::ParallelIterative),
        vec![42, 32, 21],
        "the three fingers closest to the key, best first"
    );
    // Every lookup still names the true successor, and never with more hops
    // than the one-at-a-time walk.
    for origin in PAPER_RING {
        for key in 0..64u64 {
            let want = successor_of(6, &PAPER_RING, key);
            let (it, s_it) = ring.lookup(origin, id_at(6, key), RoutingMode::Iterative);
            let (par, s_par) = ring.lookup(origin, id_at(6, key), RoutingMode::ParallelIterative);
            assert_eq!(par.first(), Some(&want), "parallel {origin} → {key}");
            assert_eq!(it, par, "{origin} → {key}");
            assert!(s_par.hops <= s_it.hops, "{origin} → {key}");
            assert!(s_par.finished - s_par.started <= s_it.finished - s_it.started);
        }
    }
}
