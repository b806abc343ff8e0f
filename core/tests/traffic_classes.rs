//! Traffic accounting by purpose ([`TrafficClass`]), checked against the
//! test network's own count of the datagrams on its wire.
//!
//! Each scenario runs in windows that start and end with nothing in flight,
//! one command (or one stretch of idling) per window. The harness groups the
//! window's datagrams by request, `(requester, txid)`: a request belongs to
//! its sender, a reply to its receiver (the requester), and an unsolicited
//! recursive result to its sender. Everything in a window was started by the
//! window's command or by the timers it idles through, so the window's class
//! is known from outside; the nodes' own counters must then match the
//! harness's count node by node, and only the expected classes may grow. With
//! no loss and no timeouts, the counters summed over all nodes and classes
//! equal the bytes of every datagram delivered.

mod common;

use common::{Net, Tapped, addr, index_of};
use peerlab_core::chord::{Chord, ChordConfig};
use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::{ClassTraffic, RoutingMode, TrafficClass};
use peerlab_core::wire::MsgKind;
use peerlab_core::{Command, Duration, Event, HashAlg, Instant, NodeId, Protocol};
use std::collections::BTreeMap;
use std::sync::Arc;

type Counters = [ClassTraffic; TrafficClass::COUNT];

fn counters<P: Protocol>(net: &Net<P>) -> Vec<Counters> {
    net.nodes.iter().map(|n| n.stats().traffic).collect()
}

fn sum(xs: impl IntoIterator<Item = ClassTraffic>) -> ClassTraffic {
    let mut t = ClassTraffic::default();
    for x in xs {
        t += x;
    }
    t
}

/// The node a datagram's bytes belong to under the accounting rule.
fn owner(t: &Tapped, n: usize) -> usize {
    let kind = t.msg.body.kind();
    if kind.is_request() || kind == MsgKind::RouteResult {
        index_of(t.from, n).expect("sent by a node of the network")
    } else {
        t.to
    }
}

/// One window: what the nodes counted, and what the wire carried.
struct Window {
    /// Per node and class: the growth of the node's counters.
    counted: Vec<Counters>,
    /// The wire, by request: `(requester, txid)` → messages and bytes.
    wire: BTreeMap<(usize, u64), ClassTraffic>,
    /// Every datagram taken off the wire.
    tap: Vec<Tapped>,
}

impl Window {
    /// Runs `f` between two moments with nothing in flight.
    fn run<P: Protocol>(net: &mut Net<P>, f: impl FnOnce(&mut Net<P>)) -> Window {
        net.settle();
        let before = counters(net);
        net.tap = Some(Vec::new());
        f(net);
        net.settle();
        let tap = net.tap.take().unwrap_or_default();
        let after = counters(net);
        let n = net.nodes.len();
        let counted = after
            .iter()
            .zip(&before)
            .map(|(a, b)| {
                let mut d = [ClassTraffic::default(); TrafficClass::COUNT];
                for c in TrafficClass::ALL {
                    let i = c.index();
                    assert!(a[i].messages >= b[i].messages && a[i].bytes >= b[i].bytes);
                    d[i] = ClassTraffic {
                        messages: a[i].messages - b[i].messages,
                        bytes: a[i].bytes - b[i].bytes,
                    };
                }
                d
            })
            .collect();
        let mut wire: BTreeMap<(usize, u64), ClassTraffic> = BTreeMap::new();
        for t in &tap {
            assert!(t.delivered, "no node crashes in these scenarios");
            wire.entry((owner(t, n), t.msg.txid))
                .or_default()
                .add(t.msg.encoded_len());
        }
        Window { counted, wire, tap }
    }

    /// The harness's count for node `i`.
    fn wire_of(&self, i: usize) -> ClassTraffic {
        sum(self
            .wire
            .iter()
            .filter(|((r, _), _)| *r == i)
            .map(|(_, t)| *t))
    }

    /// The growth of class `c`, over all nodes.
    fn total(&self, c: TrafficClass) -> ClassTraffic {
        sum(self.counted.iter().map(|n| n[c.index()]))
    }

    /// Every node counted exactly the harness's count, all of it under
    /// `classes`; the other classes did not grow.
    fn assert_only(&self, classes: &[TrafficClass]) {
        for (i, node) in self.counted.iter().enumerate() {
            for c in TrafficClass::ALL {
                if !classes.contains(&c) {
                    assert_eq!(
                        node[c.index()],
                        ClassTraffic::default(),
                        "node {i}: {c} grew, expected only {classes:?}"
                    );
                }
            }
            let counted = sum(classes.iter().map(|c| node[c.index()]));
            assert_eq!(counted, self.wire_of(i), "node {i}: counted vs wire");
        }
    }

    /// Request datagrams node `i` sent.
    fn requests_from(&self, i: usize, n: usize) -> usize {
        self.tap
            .iter()
            .filter(|t| t.msg.body.kind().is_request() && index_of(t.from, n) == Some(i))
            .count()
    }

    /// Bytes of every datagram delivered.
    fn delivered(&self) -> ClassTraffic {
        let mut t = ClassTraffic::default();
        for d in &self.tap {
            t.add(d.msg.encoded_len());
        }
        t
    }
}

/// Every node's counters over all classes.
fn grand_total<P: Protocol>(net: &Net<P>) -> ClassTraffic {
    sum(counters(net).into_iter().flatten())
}

fn no_timeouts<P: Protocol>(net: &Net<P>) {
    for (i, n) in net.nodes.iter().enumerate() {
        assert_eq!(n.stats().request_timeouts, 0, "node {i} saw a timeout");
    }
}

fn kademlia_net(n: usize, cfg: KademliaConfig) -> Net<Kademlia> {
    cfg.validate().unwrap();
    let cfg = Arc::new(cfg);
    let nodes = (0..n)
        .map(|i| {
            let id = NodeId::from_name(HashAlg::Sha1, &format!("traffic-kad-{i}"));
            Kademlia::new(cfg.clone(), id, addr(i), 500 + i as u64)
        })
        .collect();
    Net::new(nodes)
}

fn chord_net(n: usize, cfg: ChordConfig) -> Net<Chord> {
    cfg.validate().unwrap();
    let cfg = Arc::new(cfg);
    let nodes = (0..n)
        .map(|i| {
            let id = NodeId::from_name(HashAlg::Sha1, &format!("traffic-chord-{i}"));
            Chord::new(cfg.clone(), id, addr(i), 700 + i as u64)
        })
        .collect();
    Net::new(nodes)
}

fn key(name: &str) -> NodeId {
    NodeId::from_name(HashAlg::Sha1, name)
}

const SEC: Duration = Duration::from_secs(1);
const FIVE_SECS: Duration = Duration::from_secs(5);

/// A lookup's statistics from its event.
fn lookup_messages(e: &Event) -> u32 {
    match e {
        Event::LookupDone { stats, closest, .. } => {
            assert!(!closest.is_empty(), "the lookup found nodes");
            stats.messages
        }
        other => panic!("not a lookup result: {other:?}"),
    }
}

#[test]
fn kademlia_traffic_lands_in_the_class_of_its_purpose() {
    use TrafficClass::*;
    let n = 16;
    let mut net = kademlia_net(
        n,
        KademliaConfig {
            refresh_interval: Duration::from_secs(600),
            republish_interval: Duration::from_secs(100 * 3600),
            publisher_republish: Duration::from_secs(100 * 3600),
            ..KademliaConfig::default()
        },
    );
    let mut wire_total = ClassTraffic::default();

    // Joining: bootstrap pings, self-lookups and the refreshes they trigger
    // (plus any liveness checks of full buckets).
    let w = Window::run(&mut net, |net| net.join_all(SEC));
    w.assert_only(&[Join, RoutingMaintenance]);
    for i in 1..n {
        assert!(w.counted[i][Join.index()].bytes > 0, "node {i} joined");
    }
    wire_total += w.delivered();

    // An iterative lookup: the origin's requests and their replies, all at
    // the origin.
    let mut messages = 0;
    let w = Window::run(&mut net, |net| {
        let e = net.request(
            3,
            Command::Lookup {
                target: key("somewhere"),
                mode: RoutingMode::ParallelIterative,
            },
            FIVE_SECS,
        );
        messages = lookup_messages(&e);
    });
    w.assert_only(&[Lookup]);
    assert!(w.wire.keys().all(|(r, _)| *r == 3), "all of it is node 3's");
    assert_eq!(w.requests_from(3, n), messages as usize);
    assert_eq!(w.total(Lookup).messages, 2 * messages as u64);
    wire_total += w.delivered();

    // A recursive lookup: forwards count at each forwarding hop, the result
    // at the hop that sends it.
    let w = Window::run(&mut net, |net| {
        net.request(
            5,
            Command::Lookup {
                target: key("elsewhere"),
                mode: RoutingMode::Recursive,
            },
            FIVE_SECS,
        );
    });
    w.assert_only(&[Lookup]);
    assert!(
        (0..n).any(|i| i != 5 && w.counted[i][Lookup.index()].messages > 0),
        "a hop other than the origin counted its part"
    );
    wire_total += w.delivered();

    // A put: the lookup of the k closest and the STOREs.
    let w = Window::run(&mut net, |net| {
        let e = net.request(
            7,
            Command::Put {
                key: key("a key"),
                value: b"a value".to_vec(),
                ttl_secs: 200_000,
            },
            FIVE_SECS,
        );
        assert!(matches!(e, Event::StoreDone { replicas, .. } if replicas > 0));
    });
    w.assert_only(&[Store]);
    assert!(w.wire.keys().all(|(r, _)| *r == 7));
    wire_total += w.delivered();

    // A get.
    let w = Window::run(&mut net, |net| {
        let e = net.request(9, Command::Get { key: key("a key") }, FIVE_SECS);
        assert!(matches!(e, Event::GetDone { values, .. } if values == vec![b"a value".to_vec()]));
    });
    w.assert_only(&[Lookup]);
    wire_total += w.delivered();

    // Idling past the refresh interval: bucket refreshes only.
    let w = Window::run(&mut net, |net| net.run_until(Instant::from_secs(1500)));
    w.assert_only(&[RoutingMaintenance]);
    assert!(
        w.total(RoutingMaintenance).messages > 0,
        "buckets refreshed"
    );
    wire_total += w.delivered();

    no_timeouts(&net);
    assert_eq!(
        grand_total(&net),
        wire_total,
        "each delivered datagram once"
    );
}

#[test]
fn an_iterative_lookup_counts_its_own_requests_and_replies() {
    let n = 12;
    let mut net = kademlia_net(
        n,
        KademliaConfig {
            refresh_interval: Duration::from_secs(100 * 3600),
            ..KademliaConfig::default()
        },
    );
    Window::run(&mut net, |net| net.join_all(SEC));
    let mut messages = 0;
    let w = Window::run(&mut net, |net| {
        let e = net.request(
            4,
            Command::Lookup {
                target: key("target"),
                mode: RoutingMode::ParallelIterative,
            },
            FIVE_SECS,
        );
        messages = lookup_messages(&e);
    });
    w.assert_only(&[TrafficClass::Lookup]);
    // Every request the lookup reported got exactly one reply, and those
    // are all the bytes on the wire.
    let requests = w.requests_from(4, n);
    assert_eq!(requests, messages as usize);
    assert_eq!(w.wire.len(), requests, "one (request, reply) pair each");
    assert!(w.wire.values().all(|t| t.messages == 2));
    assert_eq!(w.counted[4][TrafficClass::Lookup.index()], w.delivered());
}

#[test]
fn kademlia_republishing_is_data_maintenance() {
    use TrafficClass::*;
    let n = 12;
    let mut net = kademlia_net(
        n,
        KademliaConfig {
            refresh_interval: Duration::from_secs(100 * 3600),
            republish_interval: Duration::from_secs(1000),
            publisher_republish: Duration::from_secs(100 * 3600),
            ..KademliaConfig::default()
        },
    );
    let mut wire_total = ClassTraffic::default();
    let w = Window::run(&mut net, |net| net.join_all(SEC));
    wire_total += w.delivered();
    let w = Window::run(&mut net, |net| {
        for v in 0..3u8 {
            net.cmd(
                v as usize,
                Command::Put {
                    key: key("republished"),
                    value: vec![v; 10],
                    ttl_secs: 100_000,
                },
            )
            .unwrap();
        }
        net.after(FIVE_SECS);
    });
    w.assert_only(&[Store]);
    wire_total += w.delivered();
    // The holders republish within 1000 s ± 10% of storing.
    let w = Window::run(&mut net, |net| net.run_until(Instant::from_secs(1300)));
    w.assert_only(&[DataMaintenance]);
    assert!(w.total(DataMaintenance).messages > 0, "values republished");
    wire_total += w.delivered();
    no_timeouts(&net);
    assert_eq!(grand_total(&net), wire_total);
}

/// Maintenance too rare to interfere within a window of a few seconds.
fn quiet_chord() -> ChordConfig {
    ChordConfig {
        stabilize_interval: Duration::from_secs(1000),
        fix_fingers_interval: Duration::from_secs(1000),
        check_predecessor_interval: Duration::from_secs(1000),
        republish_interval: Duration::from_secs(100 * 3600),
        publisher_republish: Duration::from_secs(100 * 3600),
        ..ChordConfig::default()
    }
}

#[test]
fn chord_traffic_lands_in_the_class_of_its_purpose() {
    use TrafficClass::*;
    let n = 12;
    let mut net = chord_net(n, quiet_chord());
    let mut wire_total = ClassTraffic::default();

    // Joining: pings, the join lookup, the first stabilization and
    // fix-fingers round (Join); the successor hints and checks other nodes
    // send because of it (routing maintenance).
    let w = Window::run(&mut net, |net| net.join_all(SEC));
    w.assert_only(&[Join, RoutingMaintenance]);
    for i in 1..n {
        assert!(w.counted[i][Join.index()].bytes > 0, "node {i} joined");
    }
    wire_total += w.delivered();

    for (origin, mode) in [
        (2, RoutingMode::Iterative),
        (4, RoutingMode::ParallelIterative),
        (6, RoutingMode::Recursive),
    ] {
        let w = Window::run(&mut net, |net| {
            let e = net.request(
                origin,
                Command::Lookup {
                    target: key(&format!("chord target {origin}")),
                    mode,
                },
                FIVE_SECS,
            );
            lookup_messages(&e);
        });
        w.assert_only(&[Lookup]);
        wire_total += w.delivered();
    }

    let w = Window::run(&mut net, |net| {
        let e = net.request(
            3,
            Command::Put {
                key: key("chord key"),
                value: b"v".to_vec(),
                ttl_secs: 100_000,
            },
            FIVE_SECS,
        );
        assert!(matches!(e, Event::StoreDone { replicas, .. } if replicas > 0));
    });
    w.assert_only(&[Store]);
    wire_total += w.delivered();

    let w = Window::run(&mut net, |net| {
        let e = net.request(
            8,
            Command::Get {
                key: key("chord key"),
            },
            FIVE_SECS,
        );
        assert!(matches!(e, Event::GetDone { values, .. } if values == vec![b"v".to_vec()]));
    });
    w.assert_only(&[Lookup]);
    wire_total += w.delivered();

    no_timeouts(&net);
    assert_eq!(grand_total(&net), wire_total);
}

#[test]
fn chord_stabilization_is_routing_maintenance() {
    use TrafficClass::*;
    let n = 12;
    let mut net = chord_net(n, ChordConfig::default());
    let mut wire_total = ClassTraffic::default();
    let w = Window::run(&mut net, |net| {
        net.join_all(SEC);
        net.after(Duration::from_secs(300));
    });
    wire_total += w.delivered();
    // Stabilize every 20 s, check-predecessor every 5 s, fix-fingers every
    // 120 s: all routing maintenance.
    let w = Window::run(&mut net, |net| net.after(Duration::from_secs(300)));
    w.assert_only(&[RoutingMaintenance]);
    for i in 0..n {
        let rm = w.counted[i][RoutingMaintenance.index()];
        // At least 13 stabilizations (request, reply, notify) and 54
        // predecessor checks (request, reply) in 300 s with ±10% jitter.
        assert!(rm.messages >= 13 * 3 + 54 * 2, "node {i}: {rm:?}");
    }
    let stabilize = w
        .tap
        .iter()
        .filter(|t| t.msg.body.kind() == MsgKind::GetNeighbours)
        .count();
    assert!(stabilize >= 13 * n);
    wire_total += w.delivered();
    no_timeouts(&net);
    assert_eq!(grand_total(&net), wire_total);
}

#[test]
fn chord_leave_hands_off_data_and_counts_only_pending_replies() {
    use TrafficClass::*;
    let n = 8;
    let mut net = chord_net(n, quiet_chord());
    let mut wire_total = ClassTraffic::default();
    let w = Window::run(&mut net, |net| net.join_all(SEC));
    wire_total += w.delivered();
    let w = Window::run(&mut net, |net| {
        for v in 0..4u8 {
            net.cmd(
                1,
                Command::Put {
                    key: key(&format!("leave key {v}")),
                    value: vec![v],
                    ttl_secs: 100_000,
                },
            )
            .unwrap();
        }
        net.after(FIVE_SECS);
    });
    w.assert_only(&[Store]);
    wire_total += w.delivered();

    let leaver = 4;
    let held = (0..4u8)
        .filter(|v| {
            !net.nodes[leaver]
                .stored(&key(&format!("leave key {v}")))
                .is_empty()
        })
        .count() as u64;
    assert!(held > 0, "the leaver holds replicas");
    // LEAVING goes to the successor and to a distinct predecessor, if known.
    let succ = net.nodes[leaver].successor_list()[0];
    let notices = 1 + net.nodes[leaver]
        .predecessor()
        .is_some_and(|p| p.id != succ.id) as u64;
    let w = Window::run(&mut net, |net| {
        net.cmd(leaver, Command::Leave).unwrap();
        net.after(FIVE_SECS);
    });
    // The leaver's STOREs to its successor are key hand-offs; its LEAVING
    // notices routing maintenance. The successor's acknowledgements reach
    // a node that no longer waits for them: not counted.
    let l = &w.counted[leaver];
    assert_eq!(l[DataMaintenance.index()].messages, held);
    assert_eq!(l[RoutingMaintenance.index()].messages, notices);
    let unwaited: ClassTraffic = sum(w
        .tap
        .iter()
        .filter(|t| t.to == leaver && !t.msg.body.kind().is_request())
        .map(|t| ClassTraffic {
            messages: 1,
            bytes: t.msg.encoded_len() as u64,
        }));
    assert_eq!(unwaited.messages, held, "one STORE_ACK per hand-off");
    let counted = sum(w.counted.iter().flatten().copied());
    let delivered = w.delivered();
    assert_eq!(counted.messages, delivered.messages - unwaited.messages);
    assert_eq!(counted.bytes, delivered.bytes - unwaited.bytes);
    wire_total += delivered;
    no_timeouts(&net);
    let all = grand_total(&net);
    assert_eq!(all.bytes, wire_total.bytes - unwaited.bytes);
    assert_eq!(all.messages, wire_total.messages - unwaited.messages);
}
