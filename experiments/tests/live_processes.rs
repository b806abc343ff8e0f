//! The live node as a user runs it: `peerlab node run` processes on
//! 127.0.0.1, talked to with `peerlab node ctl`, and shut down by SIGTERM,
//! SIGINT and `leave`, each of which must end the process cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_peerlab");

struct Node {
    child: Child,
    udp: String,
    control: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a node and reads its `node <id> udp <addr> control <addr>` line.
fn start(bootstrap: Option<&str>) -> Node {
    start_with(bootstrap, &[])
}

/// Starts a node with extra `node run` arguments.
fn start_with(bootstrap: Option<&str>, extra: &[&str]) -> Node {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "node",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
    ]);
    cmd.args(extra);
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn peerlab");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the banner");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (words.first(), words.get(2), words.get(4)),
        (Some(&"node"), Some(&"udp"), Some(&"control")),
        "{line}"
    );
    assert_eq!(words[1].len(), 40, "a 160-bit hex id: {line}");
    Node {
        child,
        udp: words[3].to_string(),
        control: words[5].to_string(),
    }
}

fn ctl(node: &Node, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["node", "ctl", "--control", &node.control])
        .args(args)
        .output()
        .expect("run ctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Waits for the process to exit by itself, up to `limit`.
fn exits_cleanly(node: &mut Node, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = node.child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn signal(node: &Node, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &node.child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn live_processes_store_read_and_shut_down_gracefully() {
    let mut a = start(None);
    let mut b = start(Some(&a.udp));
    let mut c = start(Some(&a.udp));
    // Joining takes a few round trips on loopback: retry the put until it lands.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ok, out) = ctl(
            &b,
            &["put", "alice@example.com", "sip:alice@192.0.2.7:5060"],
        );
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "put never succeeded: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, out) = ctl(&c, &["get", "alice@example.com"]);
    assert!(ok && out.contains("sip:alice@192.0.2.7:5060"), "{out}");
    let (ok, out) = ctl(&a, &["routes"]);
    assert!(ok && out.contains("bucket"), "{out}");

    signal(&c, "-TERM");
    assert!(
        exits_cleanly(&mut c, Duration::from_secs(10)),
        "SIGTERM ends the node with status 0"
    );
    signal(&b, "-INT");
    assert!(
        exits_cleanly(&mut b, Duration::from_secs(10)),
        "SIGINT ends the node with status 0"
    );
    let (ok, out) = ctl(&a, &["leave"]);
    assert!(ok, "{out}");
    assert!(
        exits_cleanly(&mut a, Duration::from_secs(10)),
        "`leave` ends the node with status 0"
    );
}

#[test]
fn live_chord_processes_store_read_and_list_successors() {
    let chord = [
        "--dht",
        "chord",
        "--successors",
        "2",
        "--stabilize-ms",
        "200",
    ];
    let a = start_with(None, &chord);
    let b = start_with(Some(&a.udp), &chord);
    let c = start_with(Some(&a.udp), &chord);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ok, out) = ctl(&b, &["put", "bob@example.com", "sip:bob@192.0.2.8:5060"]);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "put never succeeded: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, out) = ctl(&c, &["get", "bob@example.com"]);
    assert!(ok && out.contains("sip:bob@192.0.2.8:5060"), "{out}");
    // Three nodes, two successors each: once stabilized, every node lists
    // both other nodes as successors.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ok, out) = ctl(&a, &["routes"]);
        assert!(ok, "{out}");
        if out.contains("(chord)") && out.contains("succ 1") && out.contains("pred") {
            assert!(!out.contains("bucket"), "{out}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "routes never listed two successors: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn live_processes_register_and_call_through_a_relay() {
    let relay = start(None);
    let callee = start(Some(&relay.udp));
    let mut caller = start(Some(&relay.udp));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ok, out) = ctl(&callee, &["register", "sip:bob@example.com"]);
        if ok {
            assert!(out.contains(&callee.udp), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "register never succeeded: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, out) = ctl(&caller, &["whois", "bob@example.com"]);
    assert!(
        ok && out.contains("1 contacts") && out.contains(&callee.udp),
        "{out}"
    );
    // 0.4 s of 20 ms frames is 20 frames each way; the relay forwards 40
    // datagrams of 212 bytes (30 header + 22 media header + 160 payload).
    let (ok, out) = ctl(
        &caller,
        &[
            "call",
            "bob@example.com",
            "--seconds",
            "0.4",
            "--relay",
            &relay.udp,
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        out.matches("sent 20 received 20 lost 0").count(),
        2,
        "both directions: {out}"
    );
    assert!(out.contains("relayed 40 frames, 8480 bytes"), "{out}");
    let (ok, out) = ctl(&relay, &["stats"]);
    assert!(
        ok && out.contains("relayed             1 calls, 40 frames, 8480 bytes"),
        "{out}"
    );
    let (ok, out) = ctl(&caller, &["leave"]);
    assert!(ok, "{out}");
    assert!(exits_cleanly(&mut caller, Duration::from_secs(10)));
    // SIGTERM on the callee unregisters it before it leaves.
    let mut callee = callee;
    signal(&callee, "-TERM");
    assert!(exits_cleanly(&mut callee, Duration::from_secs(10)));
    let (ok, out) = ctl(&relay, &["whois", "bob@example.com"]);
    assert!(ok && out.contains("0 contacts"), "{out}");
}
