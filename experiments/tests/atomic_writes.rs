//! `write_atomic`: a failure part-way through a write never leaves a
//! truncated target or a temporary file.

use peerlab_experiments::Error;
use peerlab_experiments::output::{write_atomic, write_bytes_atomic};
use std::io::Write;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn failure_mid_write_keeps_the_previous_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("lookups.parquet");
    let complete = b"PAR1 a complete earlier table PAR1".to_vec();
    write_bytes_atomic(&target, &complete).unwrap();

    let result: Result<(), Error> = write_atomic(&target, |w| {
        // Several megabytes, well past any buffer, then a failure.
        for _ in 0..5_000 {
            w.write_all(&[0xAB; 1024])
                .map_err(|e| Error::write(&target, e))?;
        }
        Err(Error::Other("disk full (simulated)".into()))
    });
    assert!(result.is_err());
    assert_eq!(std::fs::read(&target).unwrap(), complete);
    assert_eq!(names(dir.path()), ["lookups.parquet"]);
}

#[test]
fn failure_before_the_first_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("summary.csv");
    let result: Result<(), Error> =
        write_atomic(&target, |_| Err(Error::Other("nothing to write".into())));
    assert!(result.is_err());
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_panicking_writer_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nodes.parquet");
    let path = target.clone();
    let r = std::panic::catch_unwind(move || {
        let _: Result<(), Error> = write_atomic(&path, |w| {
            w.write_all(b"half").unwrap();
            panic!("writer bug");
        });
    });
    assert!(r.is_err());
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}
