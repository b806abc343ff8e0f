//! Atomic file output.
//!
//! Every result file is written to a temporary file in the target's directory,
//! flushed and fsynced, then renamed over the target, and the directory is
//! fsynced. A crash or error at any point leaves either the old file or the
//! complete new one, never a truncated table. A failed write removes its
//! temporary file; a killed process may leave a hidden `.NAME.*.tmp` file
//! behind, which later runs ignore and overwrite.

use crate::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh hidden temporary path next to `target`, ending in `.tmp` (so
/// globs such as `*.parquet` never pick it up), or in `.tmp.EXT` when
/// `keep_ext` is set (for writers that choose the format by extension).
fn temp_path(target: &Path, keep_ext: bool) -> PathBuf {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let ext = match target.extension() {
        Some(e) if keep_ext => format!(".{}", e.to_string_lossy()),
        _ => String::new(),
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}-{n}.tmp{ext}", std::process::id()))
}

/// Removes the temporary file when dropped, unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn sync_dir(dir: &Path) {
    // Persist the rename. Not every platform or filesystem lets a directory be
    // opened for syncing; the rename itself is atomic either way.
    if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        let _ = d.sync_all();
    }
}

/// Writes `path` atomically: `fill` writes the contents into a buffered
/// temporary file; only if it succeeds is the file fsynced and renamed onto
/// `path`. If `fill` fails, `path` is untouched and the temporary is removed.
pub fn write_atomic<E>(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<Error>,
{
    write_via_temp(path, false, |tmp| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| Error::write(path, e))?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        w.flush().map_err(|e| Error::write(path, e))?;
        Ok(())
    })
}

/// Like [`write_atomic`] for writers that insist on opening a path
/// themselves (the PNG encoder): `fill` gets a temporary path with the same
/// extension as `path`, creates the file there, and closes it before
/// returning.
pub fn write_atomic_via_path<E>(
    path: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<Error>,
{
    write_via_temp(path, true, fill)
}

fn write_via_temp<E>(
    path: &Path,
    keep_ext: bool,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<Error>,
{
    let tmp = temp_path(path, keep_ext);
    let mut guard = TempGuard(Some(tmp.clone()));
    fill(&tmp)?;
    let f = File::options()
        .read(true)
        .write(true)
        .open(&tmp)
        .map_err(|e| Error::write(path, e))?;
    f.sync_all().map_err(|e| Error::write(path, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::write(path, e))?;
    guard.0 = None;
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomic(path, |w| {
        w.write_all(bytes).map_err(|e| Error::write(path, e))
    })
}

/// Creates `dir` and its parents if needed.
pub fn create_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_bytes_atomic(&p, b"one").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_bytes_atomic(&p, b"two, longer").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two, longer");
        assert_eq!(entries(dir.path()), vec!["a.csv"]);
    }

    #[test]
    fn failure_mid_write_keeps_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lookups.parquet");
        write_bytes_atomic(&p, b"complete old table").unwrap();
        // Write a good part of a large file, then fail.
        let r: Result<(), Error> = write_atomic(&p, |w| {
            for _ in 0..10_000 {
                w.write_all(&[7u8; 1000]).map_err(|e| Error::write(&p, e))?;
            }
            Err(Error::Other("simulated failure mid-write".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"complete old table");
        assert_eq!(entries(dir.path()), vec!["lookups.parquet"]);
    }

    #[test]
    fn the_temporary_is_hidden_and_matches_no_table_glob() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lookups.parquet");
        write_atomic(&p, |w| {
            w.write_all(b"x").map_err(|e| Error::write(&p, e))?;
            let names = entries(dir.path());
            assert_eq!(names.len(), 1, "{names:?}");
            assert!(
                names[0].starts_with(".lookups.parquet.") && names[0].ends_with(".tmp"),
                "{names:?}"
            );
            Ok::<(), Error>(())
        })
        .unwrap();
        assert_eq!(entries(dir.path()), vec!["lookups.parquet"]);
    }

    #[test]
    fn failure_on_a_new_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.parquet");
        let r: Result<(), Error> = write_atomic(&p, |w| {
            w.write_all(b"partial").map_err(|e| Error::write(&p, e))?;
            Err(Error::Other("boom".into()))
        });
        assert!(r.is_err());
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn via_path_keeps_the_extension_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plot.png");
        write_atomic_via_path(&p, |tmp| {
            assert_eq!(tmp.extension().unwrap(), "png");
            assert_eq!(tmp.parent(), p.parent());
            std::fs::write(tmp, b"png bytes").map_err(|e| Error::write(tmp, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"png bytes");
        let r: Result<(), Error> = write_atomic_via_path(&p, |tmp| {
            std::fs::write(tmp, b"half").map_err(|e| Error::write(tmp, e))?;
            Err(Error::Other("encoder failed".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"png bytes");
        assert_eq!(entries(dir.path()), vec!["plot.png"]);
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_the_path() {
        let p = Path::new("/nonexistent-peerlab-dir/x.csv");
        let e = write_bytes_atomic(p, b"x").unwrap_err().to_string();
        assert!(e.contains("/nonexistent-peerlab-dir/"), "{e}");
    }
}
