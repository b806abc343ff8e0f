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
