//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// Runs the `peerlab` binary with `args`.
pub fn peerlab(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_peerlab"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("cannot start the peerlab binary")
}

/// Writes a spec file named `name` into `dir`.
pub fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `peerlab run SPEC --out OUT`, which must succeed; returns its stdout.
pub fn run_ok(spec: &Path, out: &Path) -> String {
    let o = peerlab(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = texts(&o);
    assert!(o.status.success(), "{}: {stdout}\n{stderr}", spec.display());
    stdout
}

/// Stdout and stderr as text.
pub fn texts(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Asserts the command failed cleanly (non-zero exit, no panic) and returns stderr.
pub fn expect_failure(o: &Output) -> String {
    let (out, err) = texts(o);
    assert!(
        !o.status.success(),
        "expected failure; stdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        o.status.code().is_some(),
        "killed by a signal: {:?}",
        o.status
    );
    assert!(!err.contains("panicked"), "panic:\n{err}");
    err
}

/// Files in `dir` whose names start with a dot (temporaries), recursively.
pub fn hidden_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                found.push(p.clone());
            }
            if p.is_dir() {
                found.extend(hidden_files(&p));
            }
        }
    }
    found
}
