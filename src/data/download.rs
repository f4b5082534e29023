//! Making sure dataset files are present: download from HTTP mirrors into a
//! temporary file, verify its MD5, then move it into place atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use md5::{Digest, Md5};

use super::error::DataError;

/// A download larger than this is abandoned; the datasets' files are far smaller.
const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// Controls what [`ensure_files_with`] (and `ensure_files`) may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Download missing files; when false a missing file is [`DataError::Missing`].
    pub allow_download: bool,
    /// Base URLs to try in order instead of the dataset's built-in mirrors.
    pub mirrors: Option<Vec<String>>,
    /// Also check the MD5 of files that are already present (slower).
    pub verify_existing: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            allow_download: true,
            mirrors: None,
            verify_existing: false,
        }
    }
}

/// Makes sure every `(file name, md5)` in `files` exists in `dir`.
///
/// Present files are accepted as they are unless `opts.verify_existing` is set,
/// in which case their MD5 must match. A missing file is downloaded from each
/// mirror in turn (`opts.mirrors`, else `default_mirrors`; the URL is the base
/// followed by the file name) into a temporary file in `dir`, checked against
/// its MD5 and renamed into place; a bad download never stays on disk. When
/// every mirror fails the error lists each URL with its reason.
pub fn ensure_files_with(
    dir: &Path,
    files: &[(&str, &str)],
    default_mirrors: &[&str],
    opts: &DownloadOptions,
) -> Result<(), DataError> {
    let mirrors: Vec<&str> = match &opts.mirrors {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => default_mirrors.to_vec(),
    };
    for &(name, md5) in files {
        let path = dir.join(name);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                if opts.verify_existing {
                    verify_md5(&path, md5)?;
                    tracing::info!(file = %path.display(), "MD5 verified");
                }
                continue;
            }
            Ok(_) => {
                let e = io::Error::other("exists but is not a regular file");
                return Err(DataError::io(&path, e));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(DataError::io(&path, e)),
        }
        if !opts.allow_download {
            return Err(DataError::Missing {
                dir: dir.to_path_buf(),
                file: name.to_string(),
                hint: "downloads are disabled (--no-download); point --data-dir at the folder \
                       that holds the dataset's files (or SIAMESE_DATA at the folder above it), \
                       or allow downloads"
                    .into(),
            });
        }
        // The folders made here are removed again if nothing lands in them, so that a
        // mistyped --data-dir leaves no trace.
        let made: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
        fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        let mut attempts = Vec::new();
        let mut done = false;
        for base in &mirrors {
            let url = format!("{}/{name}", base.trim_end_matches('/'));
            tracing::info!(%url, dest = %path.display(), "downloading");
            match download_verified(&url, &path, md5) {
                Ok(bytes) => {
                    tracing::info!(%url, bytes, dest = %path.display(), "downloaded and verified");
                    done = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(%url, error = %e, "download attempt failed");
                    attempts.push((url, e));
                }
            }
        }
        if !done {
            for folder in made {
                // Only empty folders go; the first one that is not ends the cleanup.
                if fs::remove_dir(folder).is_err() {
                    break;
                }
            }
            return Err(DataError::AllMirrorsFailed {
                dir: dir.to_path_buf(),
                file: name.to_string(),
                attempts,
            });
        }
    }
    Ok(())
}

/// Lower-case hex MD5 of a file's contents.
pub fn md5_file(path: &Path) -> Result<String, DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DataError::io(path, e)),
        }
    }
    Ok(to_hex(&hasher.finalize()))
}

/// MD5 of `bytes`, lower-case hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    to_hex(&Md5::digest(bytes))
}

/// Checks that the file at `path` has MD5 `expected` (hex, any case).
fn verify_md5(path: &Path, expected: &str) -> Result<(), DataError> {
    let found = md5_file(path)?;
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            found,
        })
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A temporary file that is deleted when dropped unless it was persisted.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: the file may not exist or the folder may be gone.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Downloads `url` to `dest` via a temporary file; returns the byte count.
fn download_verified(url: &str, dest: &Path, md5: &str) -> Result<u64, DataError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let fail = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };

    let response = agent_for(url)
        .get(url)
        // The published MD5s are of the compressed files: ask for the bytes as stored.
        .header("Accept-Encoding", "identity")
        .call()
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP status {status}")));
    }
    let transformed = response
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.eq_ignore_ascii_case("identity"))
        .map(str::to_string);
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    tracing::info!(%url, bytes = ?announced, "receiving");

    let dir = dest.parent().unwrap_or(Path::new("."));
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = TempFile {
        path: dir.join(format!(".{file_name}.part-{}-{n}", std::process::id())),
        keep: false,
    };
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp.path)
        .map_err(|e| DataError::io(&temp.path, e))?;

    let mut body = response.into_body().into_reader();
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    loop {
        let k = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(format!("transfer broke off after {total} bytes: {e}"))),
        };
        hasher.update(&buf[..k]);
        out.write_all(&buf[..k])
            .map_err(|e| DataError::io(&temp.path, e))?;
        total = total.saturating_add(u64::try_from(k).unwrap_or(u64::MAX));
        if total > MAX_DOWNLOAD_BYTES {
            return Err(fail(format!(
                "response exceeds {MAX_DOWNLOAD_BYTES} bytes; expected a dataset file"
            )));
        }
    }
    out.sync_all().map_err(|e| DataError::io(&temp.path, e))?;
    drop(out);

    let found = to_hex(&hasher.finalize());
    if !found.eq_ignore_ascii_case(md5) {
        if let Some(enc) = transformed {
            tracing::warn!(%url, encoding = %enc, "server sent Content-Encoding; bytes were decoded");
        }
        // `temp` is dropped here, deleting the bad download.
        return Err(DataError::ChecksumMismatch {
            path: dest.to_path_buf(),
            expected: md5.to_ascii_lowercase(),
            found,
        });
    }
    fs::rename(&temp.path, dest).map_err(|e| DataError::io(dest, e))?;
    let mut temp = temp;
    temp.keep = true;
    Ok(total)
}

/// An HTTP agent with sane timeouts; loopback URLs bypass any proxy settings.
fn agent_for(url: &str) -> ureq::Agent {
    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)));
    if is_loopback(url) {
        builder = builder.proxy(None);
    }
    builder.build().into()
}

fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
pub(crate) mod tests;
