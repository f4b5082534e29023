//! Tests for the IDX reader.

use super::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::PathBuf;

/// Builds raw IDX bytes with the given type code, dims and payload.
pub(crate) fn idx_bytes(type_code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, type_code, u8::try_from(dims.len()).unwrap()];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// Gzip-compresses `bytes`.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn sample() -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0u8..12).map(|i| i * 20).collect();
    (idx_bytes(0x08, &[2, 3, 2], &payload), payload)
}

#[test]
fn parses_raw_and_gzip_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, payload) = sample();
    // Names deliberately lie: compression must be decided by content.
    let raw_path = write(dir.path(), "raw-idx3-ubyte.gz", &raw);
    let gz_path = write(dir.path(), "packed-idx3-ubyte", &gzip(&raw));
    for p in [&raw_path, &gz_path] {
        let a = read_idx(p).unwrap();
        assert_eq!(a.dims, vec![2, 3, 2]);
        assert_eq!(a.data, payload);
        assert_eq!(a.data[7], 140);
        assert_eq!(a.magic(), 2051);
    }
    let a = parse_idx(&raw, &raw_path).unwrap();
    assert_eq!((a.dims, a.data), (vec![2, 3, 2], payload));

    let labels = idx_bytes(0x08, &[4], &[9, 0, 3, 7]);
    let a = read_idx(&write(dir.path(), "l.gz", &gzip(&labels))).unwrap();
    assert_eq!(
        (a.dims.clone(), a.data.clone()),
        (vec![4], vec![9, 0, 3, 7])
    );
    assert_eq!(a.magic(), 2049);
}

#[test]
fn empty_file_and_empty_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "e-idx1-ubyte.gz", b"");
    assert!(matches!(read_idx(&p), Err(DataError::Empty { path }) if path == p));
    let p = write(dir.path(), "e2.gz", &gzip(b""));
    assert!(matches!(read_idx(&p), Err(DataError::Empty { path }) if path == p));
}

#[test]
fn too_short_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s1", &[0, 0, 8]);
    match read_idx(&p) {
        Err(DataError::TooShort { path, len, needed }) => {
            assert_eq!((path, len, needed), (p.clone(), 3, 4));
        }
        other => panic!("expected TooShort, got {other:?}"),
    }
    // Three dims announced, only one present.
    let p = write(dir.path(), "s2.gz", &gzip(&[0, 0, 8, 3, 0, 0, 0, 5]));
    match read_idx(&p) {
        Err(DataError::TooShort { len, needed, .. }) => assert_eq!((len, needed), (8, 16)),
        other => panic!("expected TooShort, got {other:?}"),
    }
}

#[test]
fn truncated_and_corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let gz = gzip(&idx_bytes(8, &[4096], &payload));
    let p = write(dir.path(), "cut-idx1-ubyte.gz", &gz[..gz.len() / 2]);
    let err = read_idx(&p).unwrap_err();
    assert!(
        matches!(&err, DataError::TruncatedGzip { path } if *path == p),
        "{err:?}"
    );
    assert!(err.to_string().contains("cut-idx1-ubyte.gz"));

    // Complete stream, but the CRC in the trailer is wrong.
    let mut bad_crc = gz.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0xff;
    let p = write(dir.path(), "crc.gz", &bad_crc);
    assert!(matches!(read_idx(&p), Err(DataError::TruncatedGzip { .. })));
}

#[test]
fn html_page_saved_as_gz() {
    let dir = tempfile::tempdir().unwrap();
    let html = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n";
    let p = write(dir.path(), "x-idx3-ubyte.gz", html);
    match read_idx(&p) {
        Err(DataError::NotIdx { path, hint }) => {
            assert_eq!(path, p);
            assert!(hint.contains("looks like an HTML/text page, not an IDX file or gzip"));
            assert!(hint.contains("<!DOCTYPE"), "{hint}");
        }
        other => panic!("expected NotIdx, got {other:?}"),
    }
    let p = write(dir.path(), "t.gz", b"Access denied\r\n");
    assert!(matches!(read_idx(&p), Err(DataError::NotIdx { .. })));
    let p = write(dir.path(), "t2.gz", &gzip(b"  <html>error</html>"));
    match read_idx(&p) {
        Err(DataError::NotIdx { hint, .. }) => assert!(hint.contains("gzip content")),
        other => panic!("expected NotIdx, got {other:?}"),
    }
    // gzip bytes handed to the raw parser
    assert!(matches!(
        parse_idx(&gzip(&sample().0), &p),
        Err(DataError::NotIdx { .. })
    ));
}

#[test]
fn wrong_magic_and_zero_dims() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "m", &[0x12, 0x34, 0x56, 0x78, 0x9a, 0x00, 0xff]);
    match read_idx(&p) {
        Err(DataError::BadMagic { path, found, .. }) => {
            assert_eq!((path, found), (p.clone(), 0x1234_5678));
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
    let p = write(dir.path(), "z", &[0, 0, 8, 0, 1, 2]);
    assert!(matches!(
        read_idx(&p),
        Err(DataError::BadMagic { found: 0x0800, .. })
    ));
}

#[test]
fn unsupported_type_code() {
    let dir = tempfile::tempdir().unwrap();
    // 0x0D is 4-byte float in the IDX spec.
    let p = write(dir.path(), "f.gz", &gzip(&idx_bytes(0x0d, &[1], &[0; 4])));
    match read_idx(&p) {
        Err(DataError::UnsupportedType { path, type_code }) => {
            assert_eq!((path, type_code), (p.clone(), 0x0d));
        }
        other => panic!("expected UnsupportedType, got {other:?}"),
    }
}

#[test]
fn payload_disagrees_with_header() {
    let dir = tempfile::tempdir().unwrap();
    let short = idx_bytes(8, &[3, 2, 2], &[1; 11]);
    let long = idx_bytes(8, &[3, 2, 2], &[1; 13]);
    for (name, bytes, got) in [
        ("short", short.clone(), 11),
        ("long", long.clone(), 13),
        ("short.gz", gzip(&short), 11),
        ("long.gz", gzip(&long), 13),
    ] {
        let p = write(dir.path(), name, &bytes);
        match read_idx(&p) {
            Err(DataError::CountMismatch {
                path,
                header_says,
                payload_bytes,
                expected_bytes,
            }) => {
                assert_eq!(path, p);
                assert_eq!(header_says, vec![3, 2, 2]);
                assert_eq!((payload_bytes, expected_bytes), (got, 12));
            }
            other => panic!("{name}: expected CountMismatch, got {other:?}"),
        }
    }
}

#[test]
fn absurd_dims_are_errors_not_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let huge = idx_bytes(8, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]);
    let p = write(dir.path(), "o.gz", &gzip(&huge));
    match read_idx(&p) {
        Err(DataError::DimsOverflow { dims, .. }) => assert_eq!(dims.len(), 3),
        other => panic!("expected DimsOverflow, got {other:?}"),
    }
    // 2^40 bytes promised by a tiny file: a mismatch, found without allocating.
    let big = gzip(&idx_bytes(8, &[1 << 16, 1 << 16, 256], &[7; 100]));
    let p = write(dir.path(), "b.gz", &big);
    match read_idx(&p) {
        Err(DataError::CountMismatch {
            payload_bytes,
            expected_bytes,
            ..
        }) => assert_eq!((payload_bytes, expected_bytes), (100, 1 << 40)),
        other => panic!("expected CountMismatch, got {other:?}"),
    }
}

#[test]
fn missing_file_is_io_error_naming_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("absent-idx1-ubyte.gz");
    let err = read_idx(&p).unwrap_err();
    assert!(matches!(&err, DataError::Io { path, .. } if *path == p));
    assert!(err.to_string().contains("absent-idx1-ubyte.gz"));
}
