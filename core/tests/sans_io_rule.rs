//! The dependency rule: `peerlab-core` stays sans-IO.
//!
//! The core may depend only on an allow-list of pure crates, and its sources
//! may not name a clock, a socket, a file, a runtime or unseeded randomness.
//! (`core/clippy.toml` enforces the same at the type level under clippy; this
//! test also catches new dependencies, which clippy cannot see.)

// This test reads the core's sources: the clippy rule against files is for
// the library, not for its tests.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

const ALLOWED_DEPS: &[&str] = &["rand", "rand_chacha", "sha1", "sha2", "thiserror"];

const FORBIDDEN_DEPS: &[&str] = &[
    "tokio",
    "mio",
    "async-std",
    "smol",
    "socket2",
    "polars",
    "getrandom",
    "quinn",
    "libc",
    "nix",
];

const FORBIDDEN_SOURCE: &[&str] = &[
    "Instant::now",
    "SystemTime",
    "std::time::",
    "thread_rng",
    "rand::rng(",
    "rand::random",
    "OsRng",
    "from_entropy",
    "from_os_rng",
    "tokio",
    "std::net::",
    "UdpSocket",
    "TcpStream",
    "std::fs",
    "std::thread",
    "std::env",
    "HashMap",
    "HashSet",
];

fn core_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deps_of(manifest: &str) -> Vec<String> {
    let doc: toml::Table = manifest.parse().expect("core/Cargo.toml parses");
    let mut names = Vec::new();
    for section in ["dependencies", "build-dependencies"] {
        if let Some(t) = doc.get(section).and_then(|v| v.as_table()) {
            names.extend(t.keys().cloned());
        }
    }
    if let Some(targets) = doc.get("target").and_then(|v| v.as_table()) {
        for cfg in targets.values() {
            if let Some(t) = cfg.get("dependencies").and_then(|v| v.as_table()) {
                names.extend(t.keys().cloned());
            }
        }
    }
    names
}

/// Violations of the dependency rule in a manifest.
fn manifest_violations(manifest: &str) -> Vec<String> {
    deps_of(manifest)
        .into_iter()
        .filter(|d| FORBIDDEN_DEPS.contains(&d.as_str()) || !ALLOWED_DEPS.contains(&d.as_str()))
        .map(|d| format!("core depends on `{d}`, which is not on the sans-IO allow-list"))
        .collect()
}

/// Violations of the source rule in one file's text (comments included: a
/// doc comment naming a clock is worth a second look too, so keep them out).
fn source_violations(name: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for pat in FORBIDDEN_SOURCE {
            if code.contains(pat) {
                out.push(format!("{name}:{}: `{pat}` in `{}`", n + 1, line.trim()));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn core_manifest_has_only_allowed_dependencies() {
    let manifest = std::fs::read_to_string(core_dir().join("Cargo.toml")).expect("read manifest");
    let v = manifest_violations(&manifest);
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn core_sources_read_no_clock_socket_file_or_entropy() {
    let mut files = Vec::new();
    rust_files(&core_dir().join("src"), &mut files);
    assert!(files.len() >= 5, "found the sources");
    let mut v = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        v.extend(source_violations(&f.display().to_string(), &text));
    }
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn the_rule_catches_what_it_forbids() {
    // The checks themselves must be able to fail.
    let bad = "[package]\nname='x'\n[dependencies]\ntokio = '1'\nrand = '0.10'\nserde_json = '1'\n";
    let v = manifest_violations(bad);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v.iter().any(|m| m.contains("`tokio`")) && v.iter().any(|m| m.contains("`serde_json`"))
    );
    let src =
        "fn f() { let t = std::time::Instant::now(); }\n// Instant::now in a comment is fine\n";
    assert_eq!(
        source_violations("x.rs", src).len(),
        2,
        "Instant::now and std::time:: on line 1"
    );
    assert!(source_violations("x.rs", "let s = UdpSocket::bind(a);").len() == 1);
}
