//! A live Chord ring on real loopback UDP sockets, judged against a
//! brute-force oracle computed from the nodes' known ids: every lookup from
//! every node must name the key's true successor, values must be read back
//! from other nodes, and `ctl routes` must list each node's true successors.

use peerlab_core::chord::ChordConfig;
use peerlab_core::{Duration, HashAlg, NodeId};
use peerlab_node::{
    CtlReply, CtlRequest, CtlRoute, DhtConfig, NodeHandle, NodeInfo, NodeOptions, ctl, spawn,
};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration as StdDuration;
use tokio::time::timeout;

const NODES: usize = 10;

/// Fails the test instead of hanging when `fut` takes longer than `secs`.
async fn bounded<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(StdDuration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s: {what}"),
    }
}

/// Chord with maintenance fast enough for a test on loopback.
fn config() -> ChordConfig {
    ChordConfig {
        successors: 4,
        replicas: 3,
        stabilize_interval: Duration::from_millis(100),
        fix_fingers_interval: Duration::from_millis(500),
        check_predecessor_interval: Duration::from_millis(250),
        rpc_timeout: Duration::from_millis(300),
        min_rpc_timeout: Duration::from_millis(100),
        ..ChordConfig::default()
    }
}

fn options(seed: u64, bootstrap: Vec<SocketAddr>) -> NodeOptions {
    NodeOptions {
        seed: Some(seed),
        bootstrap,
        dht: DhtConfig::Chord(config()),
        ..NodeOptions::default()
    }
}

async fn request(node: &NodeInfo, req: CtlRequest) -> CtlReply {
    bounded(10, "control request", ctl(node.control, &req))
        .await
        .unwrap_or_else(|e| panic!("{req:?}: {e}"))
}

async fn routes(node: &NodeInfo) -> Vec<CtlRoute> {
    match request(node, CtlRequest::Routes).await {
        CtlReply::Routes {
            node: id,
            protocol,
            entries,
        } => {
            assert_eq!((id, protocol.as_str()), (node.id, "chord"));
            entries
        }
        other => panic!("routes: {other:?}"),
    }
}

/// The oracle: nodes in ring order, each with its ring position.
struct Ring {
    /// (position, node index), ascending by position.
    sorted: Vec<(NodeId, usize)>,
}

impl Ring {
    fn new(ids: &[NodeId]) -> Ring {
        let cfg = config();
        let mut sorted: Vec<(NodeId, usize)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (cfg.ring_position(id), i))
            .collect();
        sorted.sort();
        Ring { sorted }
    }

    /// The first node at or after `key`'s position, clockwise.
    fn successor_of_key(&self, key: &NodeId) -> usize {
        let pos = config().ring_position(key);
        self.sorted
            .iter()
            .find(|(p, _)| *p >= pos)
            .unwrap_or(&self.sorted[0])
            .1
    }

    /// The `r` nodes after node `i` on the ring, nearest first.
    fn successors_of_node(&self, i: usize, r: usize) -> Vec<usize> {
        let k = self.sorted.iter().position(|(_, j)| *j == i).unwrap();
        (1..=r)
            .map(|d| self.sorted[(k + d) % self.sorted.len()].1)
            .collect()
    }
}

/// The nodes `entries` lists under `succ 0`, `succ 1`, ..., as indices.
fn successor_entries(entries: &[CtlRoute], ids: &[NodeId]) -> Vec<usize> {
    entries
        .iter()
        .filter(|e| e.role.starts_with("succ "))
        .map(|e| ids.iter().position(|id| *id == e.id).expect("a known node"))
        .collect()
}

#[tokio::test]
async fn a_live_chord_ring_finds_true_successors_and_stores_values() {
    let first = spawn(options(500, vec![])).await.expect("node 0 starts");
    let seed_addr = first.info.udp;
    let mut nodes: Vec<NodeHandle> = vec![first];
    for i in 1..NODES {
        let h = spawn(options(500 + i as u64, vec![seed_addr]))
            .await
            .expect("node starts");
        nodes.push(h);
    }
    let infos: Vec<NodeInfo> = nodes.iter().map(|h| h.info).collect();
    let ids: Vec<NodeId> = infos.iter().map(|i| i.id).collect();
    let ring = Ring::new(&ids);
    let r = config().successors.min(NODES - 1);

    // Stabilization converges: every node's successor list is its true
    // successors, as `ctl routes` reports them.
    bounded(30, "successor lists converge", async {
        loop {
            let mut right = 0;
            for (i, info) in infos.iter().enumerate() {
                let got = successor_entries(&routes(info).await, &ids);
                if got == ring.successors_of_node(i, r) {
                    right += 1;
                }
            }
            // Fingers come from the first fix-fingers round (500 ms), which
            // stabilization on loopback can beat; wait for node 4's too.
            let fingers = routes(&infos[4])
                .await
                .iter()
                .any(|e| e.role.starts_with("finger "));
            if right == NODES && fingers {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    })
    .await;
    let entries = routes(&infos[4]).await;
    let roles: Vec<&str> = entries.iter().map(|e| e.role.as_str()).collect();
    assert_eq!(&roles[..2], ["succ 0", "succ 1"], "{roles:?}");
    assert!(roles.contains(&"pred"), "{roles:?}");
    assert!(roles.iter().any(|r| r.starts_with("finger ")), "{roles:?}");
    for e in &entries {
        assert!(e.id != ids[4] && ids.contains(&e.id), "unknown route {e:?}");
        let at = ids.iter().position(|id| *id == e.id).unwrap();
        assert_eq!(e.addr, infos[at].udp);
    }
    let pred = entries.iter().find(|e| e.role == "pred").unwrap();
    assert_eq!(
        ring.successors_of_node(ids.iter().position(|id| *id == pred.id).unwrap(), 1),
        vec![4],
        "the predecessor's successor is the node itself"
    );
    let text = request(&infos[4], CtlRequest::Routes).await.to_string();
    assert!(
        text.contains("(chord)") && text.contains("succ 0"),
        "{text}"
    );

    // Lookups from every node name the key's true successor and the nodes
    // after it.
    for (i, info) in infos.iter().enumerate() {
        for k in 0..5 {
            let key = format!("chord-key-{i}-{k}");
            let key_id = NodeId::from_name(HashAlg::Sha1, &key);
            let want = ring.successor_of_key(&key_id);
            match request(info, CtlRequest::Lookup { key: key.clone() }).await {
                CtlReply::Closest {
                    closest,
                    key_id: k_id,
                    ..
                } => {
                    assert_eq!(k_id, key_id);
                    let first = closest.first().expect("a result");
                    assert_eq!(first.id, ids[want], "lookup of {key} from node {i}");
                    assert_eq!(first.addr, infos[want].udp);
                    let rest: Vec<NodeId> = closest[1..].iter().map(|c| c.id).collect();
                    let after: Vec<NodeId> = ring
                        .successors_of_node(want, rest.len())
                        .into_iter()
                        .map(|j| ids[j])
                        .collect();
                    assert_eq!(rest, after, "the successor's successors");
                }
                other => panic!("lookup: {other:?}"),
            }
        }
    }

    // A value put on one node is read back from another, and sits on the
    // key's successor's replica set (it was acknowledged by all of them).
    let put = CtlRequest::Put {
        key: "alice@example.com".into(),
        value: "sip:alice@127.0.0.1:5060".into(),
        ttl_secs: None,
    };
    match request(&infos[2], put).await {
        CtlReply::Stored {
            removed: false,
            replicas,
            ..
        } => assert_eq!(replicas as usize, config().replicas),
        other => panic!("put: {other:?}"),
    }
    for reader in [7, 0, 9] {
        match request(
            &infos[reader],
            CtlRequest::Get {
                key: "alice@example.com".into(),
            },
        )
        .await
        {
            CtlReply::Values { values, .. } => {
                assert_eq!(values, vec!["sip:alice@127.0.0.1:5060"], "from {reader}")
            }
            other => panic!("get: {other:?}"),
        }
    }

    for h in nodes {
        bounded(5, "shutdown", h.shutdown())
            .await
            .expect("clean shutdown");
    }
}
