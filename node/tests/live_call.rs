//! Registration and calls between live nodes on real loopback UDP sockets:
//! a callee registers, a caller finds it with `whois` and calls it directly
//! and through a third node acting as relay, with synthetic voice both ways.
//!
//! Oracles: the callee's record must carry the id and address the node was
//! spawned with; frame counts are the call length over the 20 ms frame
//! interval, computed here; a frame's datagram size is computed here from the
//! documented wire layout. No timing is asserted (the `bounded` guards only
//! turn a hang into a failure).

use peerlab_core::Duration;
use peerlab_core::kademlia::KademliaConfig;
use peerlab_node::{
    CtlCall, CtlRecord, CtlReply, CtlRequest, CtlStats, DhtConfig, NodeError, NodeHandle, NodeInfo,
    NodeOptions, ctl, spawn,
};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration as StdDuration;
use tokio::time::timeout;

const BOB: &str = "sip:Bob@Example.com";

/// Fails the test instead of hanging when `fut` takes longer than `secs`.
async fn bounded<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(StdDuration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s: {what}"),
    }
}

fn options(seed: u64, bootstrap: Vec<SocketAddr>) -> NodeOptions {
    NodeOptions {
        seed: Some(seed),
        bootstrap,
        dht: DhtConfig::Kademlia(KademliaConfig {
            rpc_timeout: Duration::from_millis(300),
            ..KademliaConfig::default()
        }),
        ..NodeOptions::default()
    }
}

async fn try_request(node: &NodeInfo, req: CtlRequest) -> Result<CtlReply, NodeError> {
    bounded(20, "control request", ctl(node.control, &req)).await
}

async fn request(node: &NodeInfo, req: CtlRequest) -> CtlReply {
    try_request(node, req.clone())
        .await
        .unwrap_or_else(|e| panic!("{req:?}: {e}"))
}

async fn stats(node: &NodeInfo) -> CtlStats {
    match request(node, CtlRequest::Stats).await {
        CtlReply::Stats(s) => s,
        other => panic!("stats: {other:?}"),
    }
}

async fn whois(node: &NodeInfo, aor: &str) -> Vec<CtlRecord> {
    match request(node, CtlRequest::Whois { aor: aor.into() }).await {
        CtlReply::Contacts {
            aor: name, records, ..
        } => {
            assert_eq!(name, "bob@example.com", "the AoR is normalized");
            records
        }
        other => panic!("whois: {other:?}"),
    }
}

async fn call(node: &NodeInfo, seconds: f64, relay: Option<SocketAddr>) -> CtlCall {
    let req = CtlRequest::Call {
        aor: BOB.into(),
        seconds,
        relay,
    };
    match request(node, req).await {
        CtlReply::Call(c) => *c,
        other => panic!("call: {other:?}"),
    }
}

/// Node 0 starts the overlay; the others join through it.
async fn start(n: usize) -> Vec<NodeHandle> {
    let first = spawn(options(500, vec![])).await.expect("node 0 starts");
    let seed = first.info.udp;
    let mut nodes = vec![first];
    for i in 1..n {
        nodes.push(
            spawn(options(500 + i as u64, vec![seed]))
                .await
                .expect("node starts"),
        );
    }
    let infos: Vec<NodeInfo> = nodes.iter().map(|h| h.info).collect();
    bounded(10, "all nodes joined", async {
        loop {
            let mut ready = 0;
            for info in &infos {
                let s = stats(info).await;
                ready += usize::from(s.joined && s.routing_entries >= 1);
            }
            if ready == infos.len() {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    })
    .await;
    nodes
}

/// A voice frame's datagram: 30-byte header (version, type, txid, sender
/// id), call id 8, sequence 4, send time 8, payload length 2, and 160 bytes
/// of payload (64 kb/s × 20 ms / 8 bits).
const FRAME_BYTES: u64 = (1 + 1 + 8 + 20) + 8 + 4 + 8 + 2 + 64_000 * 20 / 1000 / 8;

/// Frames per direction in a call of `seconds`: one per 20 ms.
fn expected_frames(seconds: f64) -> u32 {
    (seconds * 1000.0 / 20.0).round() as u32
}

fn assert_every_frame_delivered(c: &CtlCall, seconds: f64) {
    let want = expected_frames(seconds);
    let fwd = c.forward.expect("callee's report");
    let bwd = c.backward.expect("callee's report");
    for (name, d) in [("caller -> callee", fwd), ("callee -> caller", bwd)] {
        assert!(
            d.sent.abs_diff(want) <= 1,
            "{name}: sent {} frames, expected {want} ± 1",
            d.sent
        );
        assert_eq!(
            d.received, d.sent,
            "{name}: every frame arrives on loopback"
        );
        assert_eq!(d.lost, 0, "{name}");
        assert!(
            d.mean_delay_ms.is_finite() && d.mean_delay_ms >= 0.0,
            "{name}: {d:?}"
        );
    }
    assert_eq!(u64::from(c.frame_bytes), FRAME_BYTES);
}

#[tokio::test]
async fn register_whois_call_through_a_relay_and_directly_then_unregister() {
    let nodes = start(4).await;
    let infos: Vec<NodeInfo> = nodes.iter().map(|h| h.info).collect();
    let (callee, caller, relay) = (infos[1], infos[2], infos[3]);

    // Nobody is registered yet.
    assert!(whois(&caller, BOB).await.is_empty());
    let e = try_request(
        &caller,
        CtlRequest::Call {
            aor: BOB.into(),
            seconds: 1.0,
            relay: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, NodeError::Remote(m) if m.contains("not found")),
        "{e}"
    );

    // The callee registers; the record carries its id and UDP address.
    match request(&callee, CtlRequest::Register { aor: BOB.into() }).await {
        CtlReply::Registered {
            aor,
            record,
            replicas,
            ..
        } => {
            assert_eq!(aor, "bob@example.com");
            assert_eq!((record.node, record.addr), (callee.id, callee.udp));
            assert!(replicas >= 1);
        }
        other => panic!("register: {other:?}"),
    }
    assert_eq!(stats(&callee).await.registrations, 1);
    let records = whois(&caller, "bob@example.com").await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!((records[0].node, records[0].addr), (callee.id, callee.udp));

    // A 1 s call through the relay: every frame both ways, and the relay
    // forwarded each of them once.
    let seconds = 1.0;
    let c = call(&caller, seconds, Some(relay.udp)).await;
    assert_eq!((c.callee, c.callee_addr), (callee.id, callee.udp));
    assert_eq!(c.relay, Some(relay.udp));
    assert_every_frame_delivered(&c, seconds);
    let both = u64::from(c.forward.unwrap().sent + c.backward.unwrap().sent);
    assert_eq!(c.relayed_frames.map(u64::from), Some(both));
    assert_eq!(c.relayed_bytes, Some(both * FRAME_BYTES));
    let r = stats(&relay).await;
    assert_eq!(
        (r.relayed_calls, r.relayed_frames, r.relayed_bytes),
        (1, both, both * FRAME_BYTES)
    );
    assert_eq!(stats(&callee).await.calls_answered, 1);

    // A direct call: the relay forwards nothing more.
    let c = call(&caller, seconds, None).await;
    assert_every_frame_delivered(&c, seconds);
    assert_eq!(
        (c.relay, c.relayed_frames, c.relayed_bytes),
        (None, None, None)
    );
    assert_eq!(stats(&relay).await.relayed_frames, both);
    assert_eq!(stats(&caller).await.calls_placed, 2);

    // Unregistering empties the AoR.
    match request(&callee, CtlRequest::Unregister { aor: BOB.into() }).await {
        CtlReply::Unregistered { records, .. } => assert_eq!(records, 1),
        other => panic!("unregister: {other:?}"),
    }
    assert!(whois(&caller, BOB).await.is_empty());
    assert_eq!(stats(&callee).await.registrations, 0);

    // Graceful shutdown removes the registration too.
    let handles: Vec<NodeHandle> = nodes;
    let mut handles = handles.into_iter();
    let node0 = handles.next().unwrap();
    let callee_handle = handles.next().unwrap();
    match request(&callee, CtlRequest::Register { aor: BOB.into() }).await {
        CtlReply::Registered { .. } => {}
        other => panic!("register: {other:?}"),
    }
    assert_eq!(whois(&caller, BOB).await.len(), 1);
    bounded(15, "callee shutdown", callee_handle.shutdown())
        .await
        .expect("clean shutdown");
    assert!(whois(&caller, BOB).await.is_empty());

    for h in [node0].into_iter().chain(handles) {
        bounded(15, "shutdown", h.shutdown())
            .await
            .expect("clean shutdown");
    }
}

#[tokio::test]
async fn bad_call_requests_are_refused_with_the_reason() {
    let nodes = start(2).await;
    let a = nodes[1].info;
    for (req, needle) in [
        (
            CtlRequest::Register {
                aor: "no-at-sign".into(),
            },
            "missing `@`",
        ),
        (
            CtlRequest::Call {
                aor: BOB.into(),
                seconds: 0.0,
                relay: None,
            },
            "out of range",
        ),
        (
            CtlRequest::Call {
                aor: BOB.into(),
                seconds: 1.0,
                relay: Some("0.0.0.0:0".parse().unwrap()),
            },
            "relay address",
        ),
    ] {
        let e = try_request(&a, req.clone()).await.unwrap_err();
        assert!(
            matches!(&e, NodeError::Remote(m) if m.contains(needle)),
            "{req:?}: {e}"
        );
    }
    // A relay that does not answer fails the call, naming the relay.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    match request(&nodes[0].info, CtlRequest::Register { aor: BOB.into() }).await {
        CtlReply::Registered { .. } => {}
        other => panic!("register: {other:?}"),
    }
    let e = try_request(
        &a,
        CtlRequest::Call {
            aor: BOB.into(),
            seconds: 0.2,
            relay: Some(silent_addr),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, NodeError::Remote(m) if m.contains("did not answer") && m.contains(&silent_addr.to_string())),
        "{e}"
    );
    for h in nodes {
        bounded(15, "shutdown", h.shutdown())
            .await
            .expect("clean shutdown");
    }
}
