//! Kademlia protocol details, pinned with a tiny hand-driven network: every
//! datagram is delivered after 1 ms, and time jumps to the next deadline.
//! Nodes can be muted (they receive but never answer), like a crashed host.

use peerlab_core::kademlia::{Kademlia, KademliaConfig};
use peerlab_core::protocol::{CommandError, RouteRole};
use peerlab_core::{Addr, Command, Duration, Event, Instant, NodeId, Protocol, RequestId};
use std::collections::VecDeque;
use std::sync::Arc;

struct Net {
    now: Instant,
    nodes: Vec<Kademlia>,
    muted: Vec<bool>,
    wire: VecDeque<(Instant, Addr, usize, peerlab_core::Message)>,
    events: Vec<(usize, Event)>,
}

fn addr(i: usize) -> Addr {
    Addr::new([10, 0, 0, i as u8 + 1], 4000)
}

impl Net {
    fn new(cfg: KademliaConfig, ids: &[NodeId]) -> Net {
        let cfg = Arc::new(cfg);
        let nodes = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Kademlia::new(cfg.clone(), *id, addr(i), i as u64))
            .collect();
        Net {
            now: Instant::ZERO,
            nodes,
            muted: vec![false; ids.len()],
            wire: VecDeque::new(),
            events: Vec::new(),
        }
    }

    fn flush(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].poll_transmit() {
            if let Some(to) = (0..self.nodes.len()).find(|&j| addr(j) == t.dst) {
                self.wire
                    .push_back((self.now + Duration::from_millis(1), t.src, to, t.msg));
            }
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events.push((i, e));
        }
    }

    fn cmd(&mut self, i: usize, c: Command) -> Result<RequestId, CommandError> {
        let r = self.nodes[i].handle_command(self.now, c);
        self.flush(i);
        r
    }

    /// Runs until nothing is in flight and no deadline falls before `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            let wire_at = self.wire.front().map(|w| w.0);
            let timer = (0..self.nodes.len())
                .filter_map(|i| self.nodes[i].poll_timeout().map(|d| (d.at, i)))
                .min();
            match (wire_at, timer) {
                (Some(w), t) if t.is_none_or(|(at, _)| w <= at) && w <= until => {
                    let (at, from, to, msg) = self.wire.pop_front().unwrap();
                    self.now = at;
                    if !self.muted[to] {
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

    fn after(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    fn take_events(&mut self) -> Vec<(usize, Event)> {
        std::mem::take(&mut self.events)
    }

    fn join_all(&mut self) {
        self.cmd(0, Command::Join { bootstrap: vec![] }).unwrap();
        for i in 1..self.nodes.len() {
            self.cmd(
                i,
                Command::Join {
                    bootstrap: vec![addr(0)],
                },
            )
            .unwrap();
            self.after(Duration::from_secs(1));
        }
        self.after(Duration::from_secs(5));
        let joined = self
            .take_events()
            .iter()
            .filter(|(_, e)| matches!(e, Event::Joined { .. }))
            .count();
        assert_eq!(joined, self.nodes.len());
    }

    fn get(&mut self, i: usize, key: NodeId) -> Vec<Vec<u8>> {
        let r = self.cmd(i, Command::Get { key }).unwrap();
        self.after(Duration::from_secs(30));
        self.take_events()
            .into_iter()
            .find_map(|(n, e)| match e {
                Event::GetDone { id, values, .. } if n == i && id == r => Some(values),
                _ => None,
            })
            .expect("get finished")
    }
}

/// An id whose first byte is `first` and last byte `last`.
fn id(first: u8, last: u8) -> NodeId {
    let mut b = [0u8; 20];
    b[0] = first;
    b[19] = last;
    NodeId(b)
}

fn small_cfg() -> KademliaConfig {
    KademliaConfig {
        k: 3,
        alpha: 2,
        replacement_cache: 2,
        timer_jitter: 0.0,
        ..KademliaConfig::default()
    }
}

#[test]
fn a_full_bucket_evicts_its_head_only_after_a_failed_liveness_check() {
    // Node 0 has id 0; nodes 1..=4 all share no prefix with it (bucket 0), k = 3.
    let ids = [
        id(0, 0),
        id(0x80, 1),
        id(0x80, 2),
        id(0x80, 3),
        id(0x80, 4),
        id(0x80, 5),
    ];
    let mut net = Net::new(small_cfg(), &ids);
    net.cmd(0, Command::Join { bootstrap: vec![] }).unwrap();
    for i in 1..=3 {
        net.cmd(
            i,
            Command::Join {
                bootstrap: vec![addr(0)],
            },
        )
        .unwrap();
        net.after(Duration::from_secs(1));
    }
    let bucket0 = |net: &Net| -> Vec<NodeId> {
        net.nodes[0]
            .routes()
            .iter()
            .filter(|r| r.role == RouteRole::Bucket(0))
            .map(|r| r.contact.id)
            .collect()
    };
    assert_eq!(bucket0(&net), vec![ids[1], ids[2], ids[3]]);

    // A newcomer while the head (node 1) is alive: node 1 answers the check and stays.
    net.cmd(
        4,
        Command::Join {
            bootstrap: vec![addr(0)],
        },
    )
    .unwrap();
    net.after(Duration::from_secs(10));
    let b = bucket0(&net);
    assert!(b.contains(&ids[1]) && !b.contains(&ids[4]), "{b:?}");
    assert!(
        net.nodes[0]
            .routes()
            .iter()
            .any(|r| r.role == RouteRole::Replacement(0) && r.contact.id == ids[4])
    );

    // Now the head crashes. The next newcomer triggers a check that fails
    // (after the RPC timeout and its retry), and the freshest replacement
    // takes the slot.
    let head = b[0];
    let head_idx = ids.iter().position(|x| *x == head).unwrap();
    net.muted[head_idx] = true;
    net.take_events();
    net.cmd(
        5,
        Command::Join {
            bootstrap: vec![addr(0)],
        },
    )
    .unwrap();
    net.after(Duration::from_millis(100));
    assert!(
        bucket0(&net).contains(&head),
        "not evicted before the check times out"
    );
    net.after(Duration::from_secs(10));
    let b = bucket0(&net);
    assert!(!b.contains(&head), "{b:?}");
    assert!(
        b.contains(&ids[5]),
        "the newest replacement was promoted: {b:?}"
    );
    let ev = net.take_events();
    assert!(ev.iter().any(|(n, e)| *n == 0
        && *e
            == Event::PeerRemoved(peerlab_core::Contact {
                id: head,
                addr: addr(head_idx)
            })));
}

#[test]
fn keys_are_multi_valued_and_values_are_removed_individually() {
    let ids: Vec<NodeId> = (0..8)
        .map(|i| NodeId::from_name(Default::default(), &format!("n{i}")))
        .collect();
    let mut net = Net::new(small_cfg(), &ids);
    net.join_all();
    let key = NodeId::from_name(Default::default(), "alice@example.com");
    net.cmd(
        1,
        Command::Put {
            key,
            value: b"contact-a".to_vec(),
            ttl_secs: 3600,
        },
    )
    .unwrap();
    net.cmd(
        2,
        Command::Put {
            key,
            value: b"contact-b".to_vec(),
            ttl_secs: 3600,
        },
    )
    .unwrap();
    net.after(Duration::from_secs(10));
    let stores: Vec<u32> = net
        .take_events()
        .into_iter()
        .filter_map(|(_, e)| {
            if let Event::StoreDone { replicas, .. } = e {
                Some(replicas)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(stores, vec![3, 3], "each value on k = 3 nodes");
    let mut got = net.get(5, key);
    got.sort();
    assert_eq!(got, vec![b"contact-a".to_vec(), b"contact-b".to_vec()]);
    net.cmd(
        1,
        Command::Remove {
            key,
            value: b"contact-a".to_vec(),
        },
    )
    .unwrap();
    net.after(Duration::from_secs(10));
    assert_eq!(net.get(6, key), vec![b"contact-b".to_vec()]);
}

#[test]
fn values_expire_when_nobody_republishes_them() {
    let ids: Vec<NodeId> = (0..6)
        .map(|i| NodeId::from_name(Default::default(), &format!("m{i}")))
        .collect();
    let mut net = Net::new(small_cfg(), &ids);
    net.join_all();
    let key = NodeId::from_name(Default::default(), "bob");
    net.cmd(
        1,
        Command::Put {
            key,
            value: b"x".to_vec(),
            ttl_secs: 60,
        },
    )
    .unwrap();
    net.after(Duration::from_secs(5));
    // The publisher keeps it alive: it republishes at 80% of the TTL.
    net.after(Duration::from_secs(100));
    assert_eq!(net.get(4, key), vec![b"x".to_vec()]);
    // Once the publisher leaves, the holders let it expire after its TTL.
    net.cmd(1, Command::Leave).unwrap();
    net.muted[1] = true;
    net.after(Duration::from_secs(61));
    assert_eq!(net.get(4, key), Vec::<Vec<u8>>::new());
}

#[test]
fn a_join_through_a_dead_bootstrap_fails_after_timeouts_and_retries() {
    let cfg = KademliaConfig {
        rpc_timeout: Duration::from_secs(2),
        rpc_retries: 1,
        ..small_cfg()
    };
    let mut net = Net::new(cfg, &[id(1, 1), id(2, 2)]);
    net.muted[0] = true;
    let r = net
        .cmd(
            1,
            Command::Join {
                bootstrap: vec![addr(0)],
            },
        )
        .unwrap();
    net.after(Duration::from_millis(3999));
    assert!(net.take_events().is_empty(), "still waiting for the retry");
    net.after(Duration::from_millis(2));
    assert_eq!(net.take_events(), vec![(1, Event::JoinFailed { id: r })]);
    assert_eq!(
        net.nodes[1].stats().requests_sent,
        2,
        "one request, one retry"
    );
    // It can try again.
    assert!(
        net.cmd(
            1,
            Command::Join {
                bootstrap: vec![addr(0)]
            }
        )
        .is_ok()
    );
}

#[test]
fn commands_are_refused_with_a_reason() {
    let mut net = Net::new(small_cfg(), &[id(1, 1)]);
    let key = id(9, 9);
    assert_eq!(
        net.cmd(0, Command::Get { key }),
        Err(CommandError::NotJoined)
    );
    net.cmd(0, Command::Join { bootstrap: vec![] }).unwrap();
    assert_eq!(
        net.cmd(0, Command::Join { bootstrap: vec![] }),
        Err(CommandError::AlreadyJoined)
    );
    let long = vec![0u8; 1025];
    assert_eq!(
        net.cmd(
            0,
            Command::Put {
                key,
                value: long,
                ttl_secs: 1
            }
        ),
        Err(CommandError::ValueTooLong {
            len: 1025,
            max: 1024
        })
    );
}

#[test]
fn idle_buckets_are_refreshed_by_a_lookup_into_their_range() {
    let ids: Vec<NodeId> = (0..6)
        .map(|i| NodeId::from_name(Default::default(), &format!("r{i}")))
        .collect();
    let cfg = KademliaConfig {
        refresh_interval: Duration::from_secs(600),
        ..small_cfg()
    };
    let mut net = Net::new(cfg, &ids);
    net.join_all();
    let before = net.nodes[3].stats().requests_sent;
    // Nothing happens before the interval...
    net.after(Duration::from_secs(400));
    let mid = net.nodes[3].stats().requests_sent;
    // ...and after it every bucket with contacts is refreshed (FIND_NODE requests).
    net.after(Duration::from_secs(800));
    let after = net.nodes[3].stats().requests_sent;
    assert_eq!(mid, before, "no refresh within the interval");
    assert!(after > mid, "refresh lookups after the interval");
}
