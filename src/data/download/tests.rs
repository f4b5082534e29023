//! Tests for downloading and verification, against a loopback HTTP server.

use super::*;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Instant;

/// Serves `routes` (path, status, body) on 127.0.0.1 over HTTP/1.1.
/// Unknown paths get 404. Stops after `max_requests` requests or 30 s and
/// returns the request paths in the order they arrived.
pub(crate) fn serve(
    routes: Vec<(String, u16, Vec<u8>)>,
    max_requests: usize,
) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while seen.len() < max_requests && Instant::now() < deadline {
            let mut stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(e) => panic!("accept failed: {e}"),
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            let (status, body) = routes
                .iter()
                .find(|(p, _, _)| *p == path)
                .map(|(_, s, b)| (*s, b.clone()))
                .unwrap_or((404, b"<html>not found</html>".to_vec()));
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\
                 Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
            stream.flush().unwrap();
            seen.push(path);
        }
        seen
    });
    (base, handle)
}

pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    to_hex(&Md5::digest(bytes))
}

fn opts(mirrors: Vec<String>) -> DownloadOptions {
    DownloadOptions {
        mirrors: Some(mirrors),
        ..DownloadOptions::default()
    }
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn md5_of_known_bytes() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
}

#[test]
fn wrong_checksum_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let served = b"\x1f\x8b not what was published".to_vec();
    let found = md5_hex(&served);
    let expected = md5_hex(b"the published file");
    let (base, server) = serve(vec![("/m/f.gz".into(), 200, served)], 1);
    let table = [("f.gz", expected.as_str())];
    let err =
        ensure_files_with(dir.path(), &table, &[], &opts(vec![format!("{base}/m/")])).unwrap_err();
    assert_eq!(server.join().unwrap(), vec!["/m/f.gz"]);
    let msg = err.to_string();
    let DataError::AllMirrorsFailed { attempts, file, .. } = err else {
        panic!("expected AllMirrorsFailed, got {err:?}");
    };
    assert_eq!(file, "f.gz");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].0, format!("{base}/m/f.gz"));
    match &attempts[0].1 {
        DataError::ChecksumMismatch {
            path,
            expected: e,
            found: f,
        } => {
            assert_eq!(*path, dir.path().join("f.gz"));
            assert_eq!((e, f), (&expected, &found));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    for needle in ["f.gz", expected.as_str(), found.as_str(), "--data-dir"] {
        assert!(msg.contains(needle), "{needle} not in {msg}");
    }
    assert!(
        dir_entries(dir.path()).is_empty(),
        "{:?}",
        dir_entries(dir.path())
    );
}

#[test]
fn falls_back_to_next_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let good = b"payload of the good file".to_vec();
    let md5 = md5_hex(&good);
    // Mirror a: 404. Mirror b: corrupt bytes. Mirror c: the right file.
    let routes = vec![
        ("/b/f.gz".into(), 200, b"corrupted".to_vec()),
        ("/c/f.gz".into(), 200, good.clone()),
    ];
    let (base, server) = serve(routes, 3);
    let mirrors = vec![
        format!("{base}/a"),
        format!("{base}/b/"),
        format!("{base}/c/"),
    ];
    ensure_files_with(dir.path(), &[("f.gz", &md5)], &[], &opts(mirrors)).unwrap();
    assert_eq!(
        server.join().unwrap(),
        vec!["/a/f.gz", "/b/f.gz", "/c/f.gz"]
    );
    assert_eq!(fs::read(dir.path().join("f.gz")).unwrap(), good);
    assert_eq!(dir_entries(dir.path()), vec!["f.gz"]);
}

#[test]
fn every_mirror_failing_lists_each_url() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was just free: connecting to it is refused.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (base, server) = serve(vec![], 1);
    let mirrors = vec![format!("{base}/x/"), format!("http://{closed}/y/")];
    let err = ensure_files_with(dir.path(), &[("f.gz", "00")], &[], &opts(mirrors)).unwrap_err();
    assert_eq!(server.join().unwrap(), vec!["/x/f.gz"]);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{base}/x/f.gz: download of")),
        "{msg}"
    );
    assert!(msg.contains("HTTP status 404"), "{msg}");
    assert!(msg.contains(&format!("http://{closed}/y/f.gz")), "{msg}");
    assert!(msg.contains("--data-dir"), "{msg}");
    match err {
        DataError::AllMirrorsFailed { attempts, .. } => {
            assert_eq!(attempts.len(), 2);
            assert!(
                attempts
                    .iter()
                    .all(|(_, e)| matches!(e, DataError::Download { .. }))
            );
        }
        other => panic!("expected AllMirrorsFailed, got {other:?}"),
    }
    // Folders made for a download that failed are removed again (a mistyped --data-dir
    // leaves nothing behind).
    let typo = dir.path().join("typo").join("fashion");
    let mirrors = vec![format!("http://{closed}/y/")];
    ensure_files_with(&typo, &[("f.gz", "00")], &[], &opts(mirrors)).unwrap_err();
    assert!(!dir.path().join("typo").exists());
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn missing_without_download_names_dir_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = DownloadOptions {
        allow_download: false,
        ..DownloadOptions::default()
    };
    let err =
        ensure_files_with(dir.path(), &[("t10k-labels-idx1-ubyte.gz", "00")], &[], &o).unwrap_err();
    let msg = err.to_string();
    match err {
        DataError::Missing { dir: d, file, .. } => {
            assert_eq!(d, dir.path());
            assert_eq!(file, "t10k-labels-idx1-ubyte.gz");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
}

#[test]
fn existing_files_are_hashed_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f.gz"), b"local copy").unwrap();
    let wrong = md5_hex(b"something else");
    let mut o = DownloadOptions {
        allow_download: false,
        ..DownloadOptions::default()
    };
    ensure_files_with(dir.path(), &[("f.gz", &wrong)], &[], &o).unwrap();
    o.verify_existing = true;
    match ensure_files_with(dir.path(), &[("f.gz", &wrong)], &[], &o) {
        Err(DataError::ChecksumMismatch { found, .. }) => {
            assert_eq!(found, md5_hex(b"local copy"));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    let right = md5_hex(b"local copy").to_ascii_uppercase();
    ensure_files_with(dir.path(), &[("f.gz", &right)], &[], &o).unwrap();
}

#[test]
fn loopback_detection() {
    assert!(is_loopback("http://127.0.0.1:8080/a/"));
    assert!(is_loopback("http://localhost/a"));
    assert!(is_loopback("http://[::1]:9/a"));
    assert!(!is_loopback(
        "https://ossci-datasets.s3.amazonaws.com/mnist/"
    ));
}
