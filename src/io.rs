//! File helpers: atomic writes so that a crash never leaves a half-written model or index.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary sibling of `path` in the same folder (so a rename is atomic).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Write `bytes` to `path` atomically: write a temporary sibling, flush it to disk, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Produce `path` atomically with a writer that takes a path (e.g. a library's `save`):
/// `write` is called on a temporary sibling, which is then renamed over `path`.
/// `rename_error` turns a failure of the final rename into the caller's error type.
pub fn with_atomic_path<E, F, R>(path: &Path, write: F, rename_error: R) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    R: FnOnce(std::io::Error) -> E,
{
    let tmp = temp_sibling(path);
    match write(&tmp) {
        Ok(()) => {
            if let Ok(file) = fs::File::open(&tmp) {
                let _ = file.sync_all();
            }
            fs::rename(&tmp, path).map_err(|e| {
                let _ = fs::remove_file(&tmp);
                rename_error(e)
            })
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");
    }

    #[test]
    fn failed_writer_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        write_atomic(&path, b"old").unwrap();
        let r: Result<(), std::io::Error> = with_atomic_path(
            &path,
            |tmp| {
                fs::write(tmp, b"partial")?;
                Err(std::io::Error::other("disk full"))
            },
            |e| e,
        );
        assert!(r.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
