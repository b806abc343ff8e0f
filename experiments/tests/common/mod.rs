//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use polars::prelude::{DataFrame, ParquetReader, SerReader};
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

/// Every file under `DIR/plots/` and `DIR/report.html`, by path relative to
/// `DIR`, with its bytes.
pub fn figure_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir.join("plots")).unwrap() {
        let p = e.unwrap().path();
        let name = format!("plots/{}", p.file_name().unwrap().to_string_lossy());
        out.insert(name, std::fs::read(&p).unwrap());
    }
    out.insert(
        "report.html".into(),
        std::fs::read(dir.join("report.html")).unwrap(),
    );
    out
}

/// Deletes `DIR/plots/` and `DIR/report.html`, runs `peerlab plot DIR` and
/// asserts it writes the same files, byte for byte. Returns the files.
pub fn assert_replot_identical(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let before = figure_files(dir);
    assert!(before.len() > 1, "no figures in {}", dir.display());
    std::fs::remove_dir_all(dir.join("plots")).unwrap();
    std::fs::remove_file(dir.join("report.html")).unwrap();
    let o = peerlab(&["plot", dir.to_str().unwrap()]);
    let (so, se) = texts(&o);
    assert!(o.status.success(), "peerlab plot failed: {so}\n{se}");
    let after = figure_files(dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "peerlab plot wrote other files"
    );
    for (name, bytes) in &before {
        assert!(after[name] == *bytes, "{name} differs after peerlab plot");
    }
    before
}

/// The figures `DIR/report.html` shows (`id="fig-NAME"`), in page order;
/// asserts each inlines the bytes of `plots/NAME.png`.
pub fn report_figures(dir: &Path) -> Vec<String> {
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let mut names = Vec::new();
    for part in html.split("<figure id=\"fig-").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        let png = std::fs::read(dir.join(format!("plots/{name}.png"))).unwrap();
        let inline = format!(
            "src=\"data:image/png;base64,{}\"",
            peerlab_experiments::report::base64(&png)
        );
        assert!(
            part.contains(&inline),
            "{name}: the report's image is not plots/{name}.png"
        );
        names.push(name.to_string());
    }
    names
}

/// A Parquet table, read whole.
pub fn table(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

/// A string column, nulls as `None`.
pub fn strs(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    let c = df.column(col).unwrap().str().unwrap().clone();
    (0..df.height())
        .map(|i| c.get(i).map(str::to_string))
        .collect()
}
