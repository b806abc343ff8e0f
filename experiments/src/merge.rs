//! `peerlab merge DIR... --out DIR`: shards of one sweep into one result set.
//!
//! Each input must be a finished sweep directory (its `manifest.json`
//! present) of the same spec (run name and description aside; the error
//! names the first differing parameter). Every finished run found under the
//! inputs' `runs/` is checked against the grid (its spec and seed) and
//! copied into `OUT/runs/` (`run.json` last, so a merge interrupted midway
//! resumes like a sweep); a run present in several inputs must have the same
//! trace hash. Then the combined files are written exactly as
//! `peerlab sweep` writes them, so the result is byte-identical to an
//! unsharded sweep's. If runs are missing the merge stops after copying
//! what exists and names them; `peerlab sweep SPEC --out OUT` then runs just
//! those and combines everything.

use crate::combine::{Provenance, RUNS_DIR, write_combined};
use crate::error::Error;
use crate::grid::{Grid, spec_difference};
use crate::manifest::{MANIFEST, Manifest};
use crate::output::{create_dir, write_bytes_atomic};
use crate::record::{RUN_RECORD, RunRecord};
use crate::sweep::{SweepReport, finished_run};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn read_input(dir: &Path) -> Result<Manifest, Error> {
    if !dir.join(MANIFEST).is_file() {
        return Err(Error::Other(format!(
            "{} has no {MANIFEST}: it is not a finished sweep; re-invoke its \
             `peerlab sweep ... --out {}` (with the same --shard) to finish it",
            dir.display(),
            dir.display()
        )));
    }
    let m = Manifest::read(dir)?;
    if m.sweep.is_none() {
        return Err(Error::Other(format!(
            "{} holds the results of `peerlab run`, not of a sweep",
            dir.display()
        )));
    }
    Ok(m)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Copies a finished run's files from `src` to `dst`, `run.json` last.
fn copy_run(rec: &RunRecord, src: &Path, dst: &Path) -> Result<(), Error> {
    if dst.exists() {
        std::fs::remove_dir_all(dst).map_err(|e| Error::write(dst, e))?;
    }
    create_dir(dst)?;
    for f in rec.files.iter().map(String::as_str).chain([RUN_RECORD]) {
        let from = src.join(f);
        let bytes = std::fs::read(&from)
            .map_err(|e| Error::Other(format!("cannot read {}: {e}", from.display())))?;
        let to = dst.join(f);
        if let Some(parent) = to.parent() {
            create_dir(parent)?;
        }
        write_bytes_atomic(&to, &bytes)?;
    }
    Ok(())
}

/// Merges the sweep directories `inputs` into `out`.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<SweepReport, Error> {
    let start = Instant::now();
    let Some(first) = inputs.first() else {
        return Err(Error::Other(
            "nothing to merge: give sweep directories".into(),
        ));
    };
    let reference = read_input(first)?;
    for dir in &inputs[1..] {
        let m = read_input(dir)?;
        if let Some(diff) = spec_difference(&reference.spec, &m.spec) {
            return Err(Error::Other(format!(
                "cannot merge {} and {}: they are sweeps of different specs ({diff})",
                first.display(),
                dir.display()
            )));
        }
    }
    let spec = reference.spec.clone();
    let grid = Grid::new(&spec, Path::new(&reference.spec_file))?;
    create_dir(out)?;
    if out.join(MANIFEST).is_file() && !inputs.iter().any(|d| same_dir(d, out)) {
        let m = Manifest::read(out)?;
        let diff = if m.sweep.is_none() {
            Some("it holds a `peerlab run` result".to_string())
        } else {
            spec_difference(&m.spec, &spec)
        };
        if let Some(diff) = diff {
            return Err(Error::Other(format!(
                "cannot merge into {}: {diff}; choose another --out",
                out.display()
            )));
        }
    }
    let out_runs = out.join(RUNS_DIR);
    create_dir(&out_runs)?;

    let mut records = Vec::new();
    let mut missing = Vec::new();
    let mut copied = 0;
    for key in grid.runs() {
        let mut found: Option<(RunRecord, PathBuf)> = None;
        let sources = inputs
            .iter()
            .map(|d| d.join(RUNS_DIR))
            .chain([out_runs.clone()]);
        for runs_dir in sources {
            let Some(rec) = finished_run(&grid, &key, &runs_dir)? else {
                continue;
            };
            match &found {
                Some((other, from)) if other.trace_hash != rec.trace_hash => {
                    return Err(Error::Other(format!(
                        "run {} differs between {} and {} (trace hash {} vs {}); \
                         the runs are not from the same build or spec",
                        key.run_id,
                        from.display(),
                        runs_dir.display(),
                        other.trace_hash,
                        rec.trace_hash
                    )));
                }
                Some(_) => {}
                None => found = Some((rec, runs_dir)),
            }
        }
        match found {
            None => missing.push(key.run_id.clone()),
            Some((rec, from)) => {
                let dst = out_runs.join(&key.run_id);
                let src = from.join(&key.run_id);
                if !same_dir(&src, &dst) {
                    copy_run(&rec, &src, &dst)?;
                    copied += 1;
                }
                records.push(rec);
            }
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        return Err(Error::Other(format!(
            "cannot merge: {} of {} runs are in none of the inputs ({}{}); the {} present \
             are in {}; run `peerlab sweep {} --out {}` to run the missing ones and combine",
            missing.len(),
            records.len() + missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", ..."
            } else {
                ""
            },
            records.len(),
            out_runs.display(),
            reference.spec_file,
            out.display()
        )));
    }
    let provenance = Provenance {
        spec_file: reference.spec_file.clone(),
        shard: None,
        threads: None,
        runs_skipped: 0,
        elapsed_s: start.elapsed().as_secs_f64(),
    };
    let (manifest, rows) = write_combined(out, &spec, &grid, &records, &provenance)?;
    Ok(SweepReport {
        grid,
        records,
        ran: 0,
        skipped: copied,
        manifest,
        rows,
    })
}

/// `peerlab merge`: merges and prints the per-point summary.
pub fn merge_command(inputs: &[PathBuf], out: &Path) -> Result<SweepReport, Error> {
    let report = merge(inputs, out)?;
    let mut text = format!(
        "{}: merged {} runs from {} directories ({} copied)\n",
        report.manifest.spec.run.name,
        report.records.len(),
        inputs.len(),
        report.skipped
    );
    text += &crate::sweep::point_table(&report);
    text += &format!(
        "  trace_hash (combined) {}\n  results      {}\n",
        report.manifest.trace_hash,
        out.display()
    );
    crate::sweep::stdout(&text);
    Ok(report)
}
