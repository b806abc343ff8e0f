//! Registration and calls between live nodes on real loopback UDP sockets:
//! a callee registers, a caller finds it with `whois` and calls it directly
//! and through a third node acting as relay, with synthetic voice both ways;
//! and a relayed call survives its relay shutting down mid-call by failing
//! over to the next candidate.
//!
//! Oracles: the callee's record must carry the id and address the node was
//! spawned with; frame counts are the call length over the 20 ms frame
//! interval, computed here; a frame's datagram size is computed here from the
//! documented wire layout; an interruption lasts at least the detection time
//! the test chose (the caller waits that long without media before it even
//! asks the next relay), and every frame is accounted for by the relay that
//! carried it or as lost. No timing is asserted (the `bounded` guards only
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
        relays: relay.into_iter().collect(),
        detect_ms: None,
        redundancy: None,
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
/// Registers `BOB` at `node`, which must succeed.
async fn register_bob(node: &NodeInfo) {
    match request(node, CtlRequest::Register { aor: BOB.into() }).await {
        CtlReply::Registered { .. } => {}
        other => panic!("register: {other:?}"),
    }
}

/// Shuts every node down cleanly.
async fn shutdown_all(nodes: impl IntoIterator<Item = NodeHandle>) {
    for h in nodes {
        bounded(15, "shutdown", h.shutdown())
            .await
            .expect("clean shutdown");
    }
}

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
            relays: vec![],
            detect_ms: None,
            redundancy: None,
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
    assert_eq!(
        (c.outcome.as_str(), c.switches, c.interruptions),
        ("completed", 0, 0)
    );
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
    register_bob(&callee).await;
    assert_eq!(whois(&caller, BOB).await.len(), 1);
    bounded(15, "callee shutdown", callee_handle.shutdown())
        .await
        .expect("clean shutdown");
    assert!(whois(&caller, BOB).await.is_empty());

    shutdown_all([node0].into_iter().chain(handles)).await;
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
                relays: vec![],
                detect_ms: None,
                redundancy: None,
            },
            "out of range",
        ),
        (
            CtlRequest::Call {
                aor: BOB.into(),
                seconds: 1.0,
                relays: vec!["0.0.0.0:0".parse().unwrap()],
                detect_ms: None,
                redundancy: None,
            },
            "relay address",
        ),
        (
            CtlRequest::Call {
                aor: BOB.into(),
                seconds: 1.0,
                relays: vec![nodes[0].info.udp, nodes[0].info.udp],
                detect_ms: None,
                redundancy: None,
            },
            "listed twice",
        ),
        (
            CtlRequest::Call {
                aor: BOB.into(),
                seconds: 1.0,
                relays: vec![nodes[0].info.udp],
                detect_ms: Some(5),
                redundancy: None,
            },
            "detection time 5 ms is out of range",
        ),
        (
            CtlRequest::Call {
                aor: BOB.into(),
                seconds: 1.0,
                relays: vec![nodes[0].info.udp],
                detect_ms: None,
                redundancy: Some(2),
            },
            "redundancy 2 needs between 1 and as many relays as given (1)",
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
    register_bob(&nodes[0].info).await;
    let e = try_request(
        &a,
        CtlRequest::Call {
            aor: BOB.into(),
            seconds: 0.2,
            relays: vec![silent_addr],
            detect_ms: None,
            redundancy: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, NodeError::Remote(m) if m.contains("did not answer") && m.contains(&silent_addr.to_string())),
        "{e}"
    );
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn a_relayed_call_fails_over_when_its_relay_shuts_down_mid_call() {
    let mut nodes = start(5).await;
    let infos: Vec<NodeInfo> = nodes.iter().map(|h| h.info).collect();
    let (callee, caller, r1, r2) = (infos[1], infos[2], infos[3], infos[4]);
    register_bob(&callee).await;
    // A 3 s call through r1, then r2; 300 ms without media means r1 is lost.
    let seconds = 3.0;
    let detect_ms = 300u64;
    let req = CtlRequest::Call {
        aor: BOB.into(),
        seconds,
        relays: vec![r1.udp, r2.udp],
        detect_ms: Some(detect_ms),
        redundancy: None,
    };
    let control = caller.control;
    let placed = tokio::spawn(async move { ctl(control, &req).await });
    // Once r1 carries the call, shut it down.
    bounded(20, "the call flows through r1", async {
        while stats(&r1).await.relayed_frames < 20 {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    })
    .await;
    let r1_handle = nodes.remove(3);
    bounded(15, "r1 shutdown", r1_handle.shutdown())
        .await
        .expect("clean shutdown");
    let c = match bounded(30, "the call ends", placed).await.expect("task") {
        Ok(CtlReply::Call(c)) => *c,
        other => panic!("call: {other:?}"),
    };

    // One switch, to r2, and the call completed.
    assert_eq!(c.outcome, "completed", "{c:?}");
    assert_eq!((c.switches, c.interruptions), (1, 1), "{c:?}");
    assert_eq!(c.relay, Some(r2.udp));
    let used: Vec<SocketAddr> = c.relays.iter().map(|r| r.addr).collect();
    assert_eq!(used, [r1.udp, r2.udp]);
    assert_eq!(c.detect_ms, detect_ms as f64);
    // The caller heard nothing for at least the detection time.
    let detect = detect_ms as f64;
    assert!(c.interrupted_ms >= detect, "{c:?}");
    let want = expected_frames(seconds);
    let fwd = c.forward.expect("callee's report");
    let bwd = c.backward.expect("callee's report");
    assert!(bwd.max_gap_ms >= detect, "{bwd:?}");
    for (name, d) in [("caller -> callee", fwd), ("callee -> caller", bwd)] {
        assert_eq!(d.sent, want, "{name}: every frame is sent");
        assert_eq!(d.received + d.lost, d.sent, "{name}: {d:?}");
        // Each side keeps sending a frame every 20 ms towards the dead r1
        // for at least the detection time (15 frames), and the frames lost
        // fit in the longest gap the receiver saw; 3 frames of slack for
        // where the outage falls between frames and timer wake-ups.
        let per_detect = (detect / 20.0) as u32;
        let per_gap = (d.max_gap_ms / 20.0) as u32;
        assert!(
            d.lost + 3 >= per_detect && d.lost <= per_gap + 3,
            "{name}: lost {} with detection {per_detect} frames and gap {per_gap} frames: {d:?}",
            d.lost
        );
    }
    // Every frame the caller received came through r1 or r2 (loopback
    // loses nothing else, and nothing is duplicated).
    let (a, b) = (c.relays[0], c.relays[1]);
    assert_eq!(a.received + b.received, bwd.received);
    assert_eq!(a.sent + b.sent, fwd.sent);
    assert!(
        b.sent >= 1 && b.received >= 1,
        "media resumed through r2: {b:?}"
    );
    // r2 forwarded exactly what went through it, both legs; r1 never reports.
    let via_r2 = u64::from(b.sent + b.received);
    assert_eq!(b.relayed_frames.map(u64::from), Some(via_r2));
    assert_eq!(b.relayed_bytes, Some(via_r2 * FRAME_BYTES));
    assert_eq!((a.relayed_frames, a.relayed_bytes), (None, None));
    let s2 = stats(&r2).await;
    assert_eq!((s2.relayed_calls, s2.relayed_frames), (1, via_r2));
    // The callee got through r2 everything the caller sent it: its frames
    // received minus those through r2 are what r1 delivered before it went.
    assert!(fwd.received >= b.sent && fwd.received - b.sent <= a.sent);
    let text = CtlReply::Call(Box::new(c.clone())).to_string();
    eprintln!("{text}");
    assert!(
        text.contains(&format!("via relay {} then {}", r1.udp, r2.udp))
            && text.contains("1 switches, 1 interruptions"),
        "{text}"
    );
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn an_actively_redundant_call_loses_nothing_when_one_relay_shuts_down() {
    let mut nodes = start(5).await;
    let infos: Vec<NodeInfo> = nodes.iter().map(|h| h.info).collect();
    let (callee, caller, r1, r2) = (infos[1], infos[2], infos[3], infos[4]);
    register_bob(&callee).await;
    // Every frame goes through r1 and r2 at once.
    let seconds = 3.0;
    let req = CtlRequest::Call {
        aor: BOB.into(),
        seconds,
        relays: vec![r1.udp, r2.udp],
        detect_ms: Some(300),
        redundancy: Some(2),
    };
    let control = caller.control;
    let placed = tokio::spawn(async move { ctl(control, &req).await });
    bounded(20, "the call flows through r1", async {
        while stats(&r1).await.relayed_frames < 20 {
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    })
    .await;
    let r1_handle = nodes.remove(3);
    bounded(15, "r1 shutdown", r1_handle.shutdown())
        .await
        .expect("clean shutdown");
    let c = match bounded(30, "the call ends", placed).await.expect("task") {
        Ok(CtlReply::Call(c)) => *c,
        other => panic!("call: {other:?}"),
    };
    eprintln!("{}", CtlReply::Call(Box::new(c.clone())));

    // r2 carried every frame both ways: nothing lost, no interruption, and
    // with no third candidate nothing to switch to.
    assert_eq!(c.outcome, "completed", "{c:?}");
    assert_eq!((c.switches, c.interruptions, c.redundancy), (0, 0, 2));
    assert_eq!(c.relay, Some(r2.udp));
    let want = expected_frames(seconds);
    for (name, d) in [
        ("caller -> callee", c.forward.expect("report")),
        ("callee -> caller", c.backward.expect("report")),
    ] {
        assert_eq!(
            (d.sent, d.received, d.lost),
            (want, want, 0),
            "{name}: {d:?}"
        );
    }
    let (a, b) = (c.relays[0], c.relays[1]);
    assert_eq!((a.addr, b.addr), (r1.udp, r2.udp));
    assert_eq!(b.sent, want, "the caller sent every frame through r2");
    assert!(a.sent < want, "and stopped sending through r1: {a:?}");
    let via_r2 = u64::from(b.sent + b.received);
    assert_eq!(b.relayed_frames.map(u64::from), Some(via_r2));
    assert_eq!(b.relayed_bytes, Some(via_r2 * FRAME_BYTES));
    assert_eq!(stats(&r2).await.relayed_frames, via_r2);
    shutdown_all(nodes).await;
}
