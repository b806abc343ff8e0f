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
        (
            vec![
                "node",
                "ctl",
                "--control",
                "127.0.0.1:9",
                "call",
                "bob@example.com",
                "--relay",
                "127.0.0.1:4000,bogus",
            ],
            "--relay",
            "bogus",
        ),
        (
            vec![
                "node",
                "ctl",
                "--control",
                "127.0.0.1:9",
                "call",
                "bob@example.com",
                "--detect-ms",
                "soon",
            ],
            "--detect-ms",
            "soon",
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

#[test]
fn bad_protocol_routing_and_chord_fields_name_their_path() {
    let (err, spec, _d) = run_spec("[dht]\nprotocol = \"pastry\"\n");
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(
        err.contains("dht.protocol") && err.contains("`kademlia`") && err.contains("`chord`"),
        "{err}"
    );
    let (err, _, _d) = run_spec("[dht]\nprotocol = [\"kademlia\", \"pastry\"]\n");
    assert!(err.contains("dht.protocol[1]"), "{err}");
    let (err, _, _d) = run_spec("[dht]\nrouting = \"flooding\"\n");
    assert!(
        err.contains("dht.routing") && err.contains("`iterative`"),
        "{err}"
    );
    let (err, spec, _d) = run_spec("[dht.chord]\nsuccessors = 4\nreplicas = 5\n");
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(err.contains("dht.chord.replicas = 5 is invalid"), "{err}");
    let (err, _, _d) = run_spec("[dht.chord]\nstabilize_interval_s = 20\n");
    assert!(
        err.contains("dht.chord.stabilize_interval_s") && err.contains("unknown field"),
        "{err}"
    );
}

#[test]
fn bad_churn_tables_name_their_path() {
    let base = "[churn]\nnodes = 20\nmeasurement_s = 60.0\n";
    let (err, spec, _d) = run_spec(&format!("{base}model = {{ kind = \"hourly\" }}\n"));
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(
        err.contains("churn.model") && err.contains("p2psim") && err.contains("hourly"),
        "{err}"
    );
    let (err, _, _d) = run_spec(&format!(
        "{base}model = {{ kind = \"lifetime\", up = {{ dist = \"exponential\", mean_s = -1.0 }}, down = {{ dist = \"constant\", value_s = 1.0 }} }}\n"
    ));
    assert!(err.contains("churn.model"), "{err}");
    assert!(err.contains("mean_s"), "{err}");
    let (err, _, _d) = run_spec(&format!(
        "{base}model = {{ kind = \"p2psim\" }}\n[[churn.mass_failures]]\nat_s = 10.0\nfraction = 2.0\n"
    ));
    assert!(err.contains("churn.mass_failures[0].fraction = 2"), "{err}");
    let (err, _, _d) = run_spec(&format!(
        "{base}model = {{ kind = \"trace\", path = \"no/such/trace.csv\", format = \"csv\" }}\n"
    ));
    assert!(
        err.contains("churn.model.path") && err.contains("no/such/trace.csv"),
        "{err}"
    );
    let (err, _, _d) = run_spec(&format!(
        "{base}model = {{ kind = \"p2psim\" }}\n[churn_workload]\nlookups = {{ rate_per_s = -0.5 }}\n"
    ));
    assert!(
        err.contains("churn_workload.lookups.rate_per_s = -0.5"),
        "{err}"
    );
    let (err, _, _d) = run_spec(&format!(
        "{base}model = {{ kind = \"p2psim\" }}\n[workload]\nlookups = 10\n"
    ));
    assert!(err.contains("`workload`"), "{err}");
}

#[test]
fn bad_series_tables_name_their_path() {
    let base = "[churn]\nnodes = 20\nmeasurement_s = 60.0\nmodel = { kind = \"p2psim\" }\n";
    let (err, spec, _d) = run_spec(&format!("{base}[series]\ninterval_s = 0.0\n"));
    assert!(err.contains(spec.to_str().unwrap()), "{err}");
    assert!(err.contains("series.interval_s = 0"), "{err}");
    let (err, _, _d) = run_spec(&format!(
        "{base}[series]\nnode_traffic = true\nnode_traffic_interval_s = -5.0\n"
    ));
    assert!(err.contains("series.node_traffic_interval_s = -5"), "{err}");
    let (err, _, _d) = run_spec(&format!("{base}[series]\nintervall_s = 5.0\n"));
    assert!(err.contains("series.intervall_s"), "{err}");
    // Time series are recorded in overlay runs only.
    let (err, _, _d) = run_spec(
        "[series]\ninterval_s = 10.0\n[calls]\n\
         churn = { nodes = 100, model = { kind = \"skype-supernode\" }, measurement_s = 600.0 }\n\
         nat = { preset = \"consumer\" }\ncalls = { rate_per_s = 0.001 }\n\
         strategies = [{ kind = \"random\" }]\n",
    );
    assert!(err.contains("`series`") && err.contains("calls"), "{err}");
}

#[test]
fn spec_show_prints_the_new_tables_and_round_trips() {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/p2psim_churn.toml");
    let o = peerlab(&["spec", "show", spec]);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    for needle in [
        "name = \"p2psim_churn\"",
        "\"kademlia\"",
        "\"chord\"",
        "# dht.routing is unset, so each protocol routes as its paper does: \
         kademlia parallel-iterative, chord iterative",
        "[dht.kademlia]",
        "recursive_timeout_ms = 10000",
        "[dht.chord]",
        "stabilize_interval_ms = 20000",
        "successors = 8",
        "[churn]",
        "nodes = 1024",
        "kind = \"p2psim\"",
        "warmup_s = 36000.0",
        "rate_per_s = 0.0016666666666666668",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(!out.contains("[workload]"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let again = write_spec(dir.path(), "p2psim_churn.toml", &out);
    let o2 = peerlab(&["spec", "show", again.to_str().unwrap()]);
    assert_eq!(texts(&o2).0, out);
}

#[test]
fn spec_list_describes_every_bundled_spec() {
    let o = peerlab(&["spec", "list"]);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    assert!(!out.contains("INVALID"), "{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".toml") {
            n += 1;
            assert!(out.contains(&name), "{name} not listed:\n{out}");
        }
    }
    assert!(n >= 3, "{n} specs");
    assert_eq!(out.matches("    what        ").count(), n, "{out}");
    assert_eq!(out.matches("    reproduces  ").count(), n, "{out}");
    for needle in [
        "kademlia vs chord",
        "Li, Stribling",
        "p2psim churn",
        "chord, recursive routing",
        "kademlia vs chord, kademlia parallel-iterative, chord iterative routing",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // Another directory, and a clear error for a missing one.
    let d = tempfile::tempdir().unwrap();
    write_spec(
        d.path(),
        "mine.toml",
        "# My own spec.\n[network]\nnodes = 0\n",
    );
    let o = peerlab(&["spec", "list", d.path().to_str().unwrap()]);
    let (out, _) = texts(&o);
    assert!(
        out.contains("My own spec.") && out.contains("INVALID"),
        "{out}"
    );
    let o = peerlab(&["spec", "list", "/nonexistent/peerlab-specs"]);
    let err = expect_failure(&o);
    assert!(err.contains("/nonexistent/peerlab-specs"), "{err}");
}
