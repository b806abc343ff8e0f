//! Live nodes on real loopback UDP sockets, driven through the control interface.

use peerlab_core::kademlia::KademliaConfig;
use peerlab_core::{Body, Duration, HashAlg, Message, NodeId};
use peerlab_node::{
    CtlReply, CtlRequest, CtlStats, DhtConfig, NodeError, NodeHandle, NodeInfo, NodeOptions, ctl,
    spawn,
};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration as StdDuration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const NODES: usize = 10;

/// Fails the test instead of hanging when `fut` takes longer than `secs`.
async fn bounded<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(StdDuration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s: {what}"),
    }
}

fn config() -> KademliaConfig {
    KademliaConfig {
        rpc_timeout: Duration::from_millis(300),
        ..KademliaConfig::default()
    }
}

fn options(seed: u64, bootstrap: Vec<SocketAddr>) -> NodeOptions {
    NodeOptions {
        seed: Some(seed),
        bootstrap,
        dht: DhtConfig::Kademlia(config()),
        ..NodeOptions::default()
    }
}

async fn stats(node: &NodeInfo) -> CtlStats {
    match ctl(node.control, &CtlRequest::Stats).await {
        Ok(CtlReply::Stats(s)) => s,
        other => panic!("stats from {}: {other:?}", node.udp),
    }
}

async fn request(node: &NodeInfo, req: CtlRequest) -> CtlReply {
    bounded(10, "control request", ctl(node.control, &req))
        .await
        .unwrap_or_else(|e| panic!("{req:?}: {e}"))
}

async fn get(node: &NodeInfo, key: &str) -> Vec<String> {
    match request(node, CtlRequest::Get { key: key.into() }).await {
        CtlReply::Values { values, key_id, .. } => {
            assert_eq!(key_id, NodeId::from_name(HashAlg::Sha1, key));
            let mut v = values;
            v.sort();
            v
        }
        other => panic!("get: {other:?}"),
    }
}

async fn put(node: &NodeInfo, key: &str, value: &str) -> u32 {
    let req = CtlRequest::Put {
        key: key.into(),
        value: value.into(),
        ttl_secs: None,
    };
    match request(node, req).await {
        CtlReply::Stored {
            removed: false,
            replicas,
            ..
        } => replicas,
        other => panic!("put: {other:?}"),
    }
}

/// Starts node 0 of a new overlay and `n - 1` nodes bootstrapping through it.
async fn start_network(n: usize) -> Vec<NodeHandle> {
    let first = spawn(options(100, vec![])).await.expect("node 0 starts");
    let seed_addr = first.info.udp;
    let mut nodes = vec![first];
    for i in 1..n {
        nodes.push(
            spawn(options(100 + i as u64, vec![seed_addr]))
                .await
                .expect("node starts"),
        );
    }
    nodes
}

/// Waits until every node has joined and knows at least one other node.
async fn wait_until_joined(infos: &[NodeInfo]) {
    bounded(10, "all nodes joined", async {
        loop {
            let mut ready = 0;
            for info in infos {
                let s = stats(info).await;
                if s.joined && s.routing_entries >= 1 {
                    ready += 1;
                }
            }
            if ready == infos.len() {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn ten_live_nodes_store_find_and_leave() {
    let nodes = start_network(NODES).await;
    let infos: Vec<NodeInfo> = nodes.iter().map(|h| h.info).collect();
    let ids: Vec<NodeId> = infos.iter().map(|i| i.id).collect();
    for (i, info) in infos.iter().enumerate() {
        assert!(info.udp.ip().is_loopback() && info.udp.port() != 0);
        assert!(!ids[..i].contains(&info.id), "ids are distinct");
    }
    wait_until_joined(&infos).await;

    // Put on node 2, get from node 7.
    let replicas = put(&infos[2], "alice@example.com", "sip:alice@127.0.0.1:5060").await;
    assert!(replicas >= 2, "stored on {replicas} replicas");
    assert_eq!(
        get(&infos[7], "alice@example.com").await,
        vec!["sip:alice@127.0.0.1:5060"]
    );
    let missing = request(
        &infos[7],
        CtlRequest::Get {
            key: "nobody@example.com".into(),
        },
    )
    .await;
    assert!(matches!(&missing, CtlReply::Values { values, .. } if values.is_empty()));
    assert!(missing.to_string().contains("not found"));

    // Lookup from node 5 finds the XOR-closest node (brute-force oracle). A
    // lookup reports other nodes, so use a key whose closest node is not node 5.
    let (key, oracle) = (0..)
        .map(|i| format!("lookup-key-{i}"))
        .map(|k| {
            let target = NodeId::from_name(HashAlg::Sha1, &k);
            let closest = *ids.iter().min_by_key(|id| id.distance(&target)).unwrap();
            (k, closest)
        })
        .find(|(_, closest)| *closest != ids[5])
        .unwrap();
    match request(&infos[5], CtlRequest::Lookup { key: key.clone() }).await {
        CtlReply::Closest {
            closest, key_id, ..
        } => {
            assert_eq!(key_id, NodeId::from_name(HashAlg::Sha1, &key));
            assert_eq!(
                closest.first().map(|c| c.id),
                Some(oracle),
                "closest node for {key}"
            );
            let oracle_addr = infos.iter().find(|i| i.id == oracle).unwrap().udp;
            assert_eq!(closest[0].addr, oracle_addr);
            assert_eq!(
                closest.len(),
                NODES - 1,
                "a 10-node overlay is fully visible to a lookup"
            );
        }
        other => panic!("lookup: {other:?}"),
    }

    // Multi-valued key: two publishers, read from a third node.
    put(&infos[3], "bob@example.com", "contact-a").await;
    put(&infos[4], "bob@example.com", "contact-b").await;
    assert_eq!(
        get(&infos[6], "bob@example.com").await,
        vec!["contact-a", "contact-b"]
    );
    // Remove one: only the other remains.
    let req = CtlRequest::Remove {
        key: "bob@example.com".into(),
        value: "contact-a".into(),
    };
    assert!(matches!(
        request(&infos[3], req).await,
        CtlReply::Stored { removed: true, .. }
    ));
    assert_eq!(get(&infos[8], "bob@example.com").await, vec!["contact-b"]);

    // Routes list other nodes, never the node itself.
    match request(&infos[3], CtlRequest::Routes).await {
        reply @ CtlReply::Routes { .. } => {
            let text = reply.to_string();
            let CtlReply::Routes {
                node,
                protocol,
                entries,
            } = reply
            else {
                unreachable!()
            };
            assert_eq!(node, ids[3]);
            assert_eq!(protocol, "kademlia");
            assert!(!entries.is_empty());
            for e in &entries {
                assert!(e.id != ids[3] && ids.contains(&e.id), "unknown route {e:?}");
                assert!(text.contains(&e.id.to_hex()));
            }
        }
        other => panic!("routes: {other:?}"),
    }
    let s = stats(&infos[2]).await;
    assert!(
        s.datagrams_sent > 0
            && s.datagrams_received > 0
            && s.bytes_sent > 0
            && s.bytes_received > 0
    );
    assert_eq!(s.decode_errors, 0);

    // `leave` stops node 9; its control interface goes away.
    let mut nodes = nodes;
    let last = nodes.pop().unwrap();
    assert_eq!(
        request(&infos[9], CtlRequest::Leave).await,
        CtlReply::Left { node: ids[9] }
    );
    bounded(5, "node 9 stops after leave", last.wait())
        .await
        .expect("clean stop");
    assert!(matches!(
        ctl(infos[9].control, &CtlRequest::Stats).await,
        Err(NodeError::Control { .. })
    ));

    for h in nodes {
        bounded(5, "shutdown", h.shutdown())
            .await
            .expect("clean shutdown");
    }
}

#[tokio::test]
async fn refuses_bad_addresses_with_clear_errors() {
    let opts = NodeOptions {
        control: "0.0.0.0:0".parse().unwrap(),
        ..NodeOptions::default()
    };
    let e = spawn(opts).await.unwrap_err();
    assert!(matches!(e, NodeError::NonLoopbackControl(_)));
    assert!(e.to_string().contains("loopback"), "{e}");

    let opts = NodeOptions {
        listen: "[::1]:0".parse().unwrap(),
        ..NodeOptions::default()
    };
    let e = spawn(opts).await.unwrap_err();
    assert!(matches!(e, NodeError::Ipv6Listen(_)));
    assert!(e.to_string().contains("IPv4"), "{e}");

    let taken = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let opts = NodeOptions {
        listen: taken.local_addr().unwrap(),
        ..NodeOptions::default()
    };
    let e = spawn(opts).await.unwrap_err();
    assert!(matches!(e, NodeError::PortInUse { .. }));
    assert!(e.to_string().contains("port in use"), "{e}");

    let opts = NodeOptions {
        dht: DhtConfig::Kademlia(KademliaConfig { k: 0, ..config() }),
        ..NodeOptions::default()
    };
    assert!(matches!(spawn(opts).await, Err(NodeError::Config(_))));
    let opts = NodeOptions {
        dht: DhtConfig::Chord(peerlab_core::chord::ChordConfig {
            successors: 0,
            ..Default::default()
        }),
        ..NodeOptions::default()
    };
    let e = spawn(opts).await.unwrap_err();
    assert!(e.to_string().contains("chord.successors = 0"), "{e}");
}

#[tokio::test]
async fn garbage_datagrams_are_counted_and_dropped() {
    let node = spawn(options(7, vec![])).await.unwrap();
    let info = node.info;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut header_only = Message::new(
        1,
        NodeId::ZERO,
        Body::FindNode {
            target: NodeId::ZERO,
        },
    )
    .to_bytes();
    header_only.truncate(30);
    let garbage: [&[u8]; 4] = [b"", b"hello, node", &[0xff; 700], &header_only];
    for g in garbage {
        sock.send_to(g, info.udp).await.unwrap();
    }
    bounded(5, "decode errors counted", async {
        while stats(&info).await.decode_errors < garbage.len() as u64 {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    })
    .await;

    // Still alive on the wire: a valid ping gets a pong that reports our address.
    let me = NodeId::from_name(HashAlg::Sha1, "prober");
    sock.send_to(&Message::new(42, me, Body::Ping).to_bytes(), info.udp)
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = bounded(5, "pong", sock.recv_from(&mut buf)).await.unwrap();
    assert_eq!(from, info.udp);
    let pong = Message::decode(&buf[..n]).unwrap();
    assert_eq!((pong.txid, pong.sender), (42, info.id));
    let local = sock.local_addr().unwrap();
    assert!(matches!(pong.body, Body::Pong { observed } if observed.port == local.port()));

    let s = stats(&info).await;
    assert_eq!(s.decode_errors, 4);
    assert_eq!(s.datagrams_received, 5);
    bounded(5, "shutdown", node.shutdown()).await.unwrap();
}

/// Sends one raw line to the control port and returns the raw reply line.
async fn raw_control(addr: SocketAddr, line: &[u8]) -> serde_json::Value {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(line).await.unwrap();
    let mut reply = String::new();
    bounded(
        5,
        "raw control reply",
        BufReader::new(stream).read_line(&mut reply),
    )
    .await
    .unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?} is not JSON: {e}"))
}

#[tokio::test]
async fn malformed_control_lines_get_error_replies() {
    let node = spawn(options(8, vec![])).await.unwrap();
    let info = node.info;
    for line in [
        &b"this is not json\n"[..],
        b"{\"op\":\"fly\"}\n",
        b"{\"op\":\"get\"}\n",
        b"\xff\xfe\n",
        b"\n",
    ] {
        let reply = raw_control(info.control, line).await;
        let msg = reply
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or_else(|| panic!("no error in {reply}"));
        assert!(msg.contains("request"), "{msg}");
    }
    // A well-formed line on the same interface still works.
    let reply = raw_control(info.control, b"{\"op\":\"stats\"}\n").await;
    assert_eq!(reply["ok"]["reply"], "stats");
    // Semantic errors come back as errors too, turned into NodeError::Remote by `ctl`.
    let e = ctl(
        info.control,
        &CtlRequest::Put {
            key: "k".into(),
            value: "x".repeat(2000),
            ttl_secs: None,
        },
    )
    .await;
    assert!(
        matches!(&e, Err(NodeError::Remote(m)) if m.contains("exceeds")),
        "{e:?}"
    );
    let e = ctl(
        info.control,
        &CtlRequest::Put {
            key: "k".into(),
            value: "v".into(),
            ttl_secs: Some(0),
        },
    )
    .await;
    assert!(
        matches!(&e, Err(NodeError::Remote(m)) if m.contains("ttl_secs")),
        "{e:?}"
    );
    bounded(5, "shutdown", node.shutdown()).await.unwrap();
}

#[tokio::test]
async fn put_and_get_before_joining_are_refused() {
    // Nothing listens at the bootstrap address, so the join cannot finish.
    let dead = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let node = spawn(options(9, vec![dead_addr])).await.unwrap();
    let info = node.info;
    for req in [
        CtlRequest::Put {
            key: "k".into(),
            value: "v".into(),
            ttl_secs: None,
        },
        CtlRequest::Get { key: "k".into() },
    ] {
        let e = ctl(info.control, &req).await.unwrap_err();
        assert!(
            matches!(&e, NodeError::Remote(m) if m.contains("not joined")),
            "{e}"
        );
    }
    assert!(!stats(&info).await.joined);
    bounded(5, "shutdown", node.shutdown()).await.unwrap();
}

#[test]
fn blocking_client_reports_an_unreachable_node() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let e = peerlab_node::ctl_blocking(addr, &CtlRequest::Stats).unwrap_err();
    assert!(matches!(e, NodeError::Control { .. }));
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
}

#[tokio::test]
async fn a_failed_join_is_retried_until_the_bootstrap_node_appears() {
    let reserved = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bootstrap_addr = reserved.local_addr().unwrap();
    drop(reserved);
    let late = spawn(options(11, vec![bootstrap_addr])).await.unwrap();
    let info = late.info;
    // The first attempt fails (two 300 ms tries); the node keeps running, unjoined.
    tokio::time::sleep(StdDuration::from_millis(800)).await;
    let s = stats(&info).await;
    assert!(!s.joined);
    assert!(
        s.request_timeouts >= 1,
        "the bootstrap ping timed out: {s:?}"
    );
    // Now the bootstrap node starts on that address; the retry (every 3 s) joins.
    let first = spawn(NodeOptions {
        listen: bootstrap_addr,
        ..options(10, vec![])
    })
    .await
    .unwrap();
    bounded(8, "joined on retry", async {
        loop {
            let s = stats(&info).await;
            if s.joined && s.routing_entries >= 1 {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    })
    .await;
    bounded(5, "shutdown", late.shutdown()).await.unwrap();
    bounded(5, "shutdown", first.shutdown()).await.unwrap();
}
