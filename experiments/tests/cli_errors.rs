//! Bad input through the real binary: a clear message naming the file, field
//! or argument, a non-zero exit, and never a panic.

mod common;
use common::{expect_failure, peerlab, texts, write_spec};

fn run_spec(text: &str) -> (String, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "bad.toml", text);
    let out = dir.path().join("out");
    let o = peerlab(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = expect_failure(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    // Spec errors are found before anything runs or is written.
    assert!(
        !out.exists(),
        "output directory created for an invalid spec"
    );
    (err, spec, dir)
}

#[test]
fn unknown_field_names_file_field_and_line() {
    let (err, spec, _d) = run_spec("[run]\nseed = 2\n\n[network]\nnodes = 50\nnodez = 5\n");
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(err.contains("network.nodez"), "{err}");
    assert!(err.contains("unknown field `nodez`"), "{err}");
    assert!(err.contains("line 6, column 1"), "{err}");
}

#[test]
fn unknown_table_is_named() {
    let (err, _, _d) = run_spec("[wrkload]\nlookups = 5\n");
    assert!(err.contains("wrkload"), "{err}");
}

#[test]
fn negative_node_count_names_network_nodes() {
    let (err, spec, _d) = run_spec("[network]\nnodes = -5\n");
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(err.contains("network.nodes"), "{err}");
    assert!(err.contains("-5"), "{err}");
}

#[test]
fn zero_node_count_names_network_nodes() {
    let (err, spec, _d) = run_spec("[network]\nnodes = 0\n");
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(err.contains("network.nodes = 0 is invalid"), "{err}");
}

#[test]
fn out_of_range_values_name_their_path() {
    let (err, _, _d) = run_spec("[network]\nloss = 1.5\n");
    assert!(err.contains("network.loss = 1.5"), "{err}");
    let (err, _, _d) = run_spec("[dht.kademlia]\nk = 0\n");
    assert!(err.contains("dht.kademlia.k = 0"), "{err}");
    let (err, _, _d) = run_spec("[dht]\nprotocol = \"pastry\"\n");
    assert!(
        err.contains("dht.protocol") && err.contains("`kademlia`"),
        "{err}"
    );
}

#[test]
fn missing_spec_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-spec.toml");
    let o = peerlab(&[
        "run",
        missing.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    let err = expect_failure(&o);
    assert!(
        err.contains(&format!("cannot read spec {}", missing.display())),
        "{err}"
    );
    let o = peerlab(&["spec", "show", missing.to_str().unwrap()]);
    let err = expect_failure(&o);
    assert!(err.contains("cannot read spec"), "{err}");
}

#[test]
fn bad_addresses_name_the_argument() {
    for (args, arg, value) in [
        (
            vec!["node", "run", "--listen", "not-an-address"],
            "--listen",
            "not-an-address",
        ),
        (
            vec![
                "node",
                "run",
                "--listen",
                "127.0.0.1:4000",
                "--bootstrap",
                "10.0.0.1",
            ],
            "--bootstrap",
            "10.0.0.1",
        ),
        (
            vec!["node", "run", "--listen", "127.0.0.1:99999"],
            "--listen",
            "127.0.0.1:99999",
        ),
        (
            vec!["node", "ctl", "--control", "localhost", "stats"],
            "--control",
            "localhost",
        ),
    ] {
        let o = peerlab(&args);
        let err = expect_failure(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(arg) && err.contains(value), "{args:?}: {err}");
    }
}

#[test]
fn bad_cli_numbers_name_the_argument() {
    let o = peerlab(&["bench", "--nodes", "10000,abc"]);
    let err = expect_failure(&o);
    assert!(err.contains("--nodes") && err.contains("abc"), "{err}");
    let o = peerlab(&["bench", "--nodes", "1"]);
    let err = expect_failure(&o);
    assert!(err.contains("--nodes"), "{err}");
    let o = peerlab(&["run", "x.toml", "--out", "d", "--seed", "-3"]);
    let err = expect_failure(&o);
    assert!(err.contains("--seed"), "{err}");
    let o = peerlab(&["run", "x.toml"]);
    let err = expect_failure(&o);
    assert!(err.contains("--out"), "{err}");
}

#[test]
fn unreachable_control_interface_is_an_error() {
    // Bind and drop a listener to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let o = peerlab(&["node", "ctl", "--control", &addr, "stats"]);
    let err = expect_failure(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&addr), "{err}");
}

#[test]
fn spec_show_prints_the_resolved_quickstart() {
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/quickstart.toml");
    let o = peerlab(&["spec", "show", quickstart]);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    for needle in [
        "name = \"quickstart\"",
        "nodes = 1000",
        "lookups = 10000",
        "puts = 1000",
        "protocol = \"kademlia\"",
        "[dht.kademlia]",
        "rpc_timeout_ms = 2000",
        "replacement_cache = 8",
        "wire_check = false",
        "no_oracle = false",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // The printed spec is itself a valid spec that resolves to the same thing.
    let dir = tempfile::tempdir().unwrap();
    let again = write_spec(dir.path(), "quickstart.toml", &out);
    let o2 = peerlab(&["spec", "show", again.to_str().unwrap()]);
    assert_eq!(texts(&o2).0, out);
}
