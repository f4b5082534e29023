//! Reader for the IDX format used by MNIST-style datasets.
//!
//! An IDX file is a big-endian header — two zero bytes, an element type code,
//! the number of dimensions `n`, then `n` dimension sizes as `u32` — followed by
//! the elements in row-major order. Only unsigned bytes (type `0x08`) are
//! supported. Files may be gzip-compressed; compression is recognised by the
//! gzip magic bytes, never by the file name.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::error::DataError;

/// IDX element type code for unsigned bytes, the only one supported.
pub const IDX_TYPE_U8: u8 = 0x08;

/// First two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate cannot compress better than about 1032:1, so a gzip file of `n`
/// bytes never expands to more than this many times `n` (plus a little slack).
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Largest up-front allocation for a payload; bigger payloads grow as read.
const PREALLOC_CAP: usize = 64 << 20;

/// How many leading bytes are inspected to recognise a text or HTML page.
const SNIFF_LEN: u64 = 512;

/// A fully loaded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes from the header, outermost first.
    pub dims: Vec<usize>,
    /// All elements in row-major order; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// The IDX magic number this array would be stored with
    /// (`0x0800 | dims.len()`, e.g. 2051 for 3-D images, 2049 for 1-D labels).
    pub fn magic(&self) -> u32 {
        // The header stores the number of dimensions in one byte.
        let ndims = u32::try_from(self.dims.len()).unwrap_or(u32::MAX) & 0xff;
        (u32::from(IDX_TYPE_U8) << 8) | ndims
    }
}

/// Where the bytes handed to [`decode`] come from; used for error mapping and
/// to bound the payload size before allocating.
#[derive(Clone, Copy)]
enum Source {
    /// Uncompressed bytes; `len` is the total length including the header.
    Raw { len: u64 },
    /// Output of a gzip decoder reading a file of `compressed_len` bytes.
    Gzip { compressed_len: u64 },
}

/// Reads and fully validates an IDX file, gzip-compressed or not.
///
/// Compression is detected from the first two bytes (`1f 8b`). Any problem is
/// reported as a typed [`DataError`] naming `path`; no partial array is returned.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|e| DataError::io(path, e))?;
    if head.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if head.starts_with(&GZIP_MAGIC) {
        let source = Source::Gzip {
            compressed_len: file_len,
        };
        decode(MultiGzDecoder::new(reader), path, source)
    } else {
        decode(reader, path, Source::Raw { len: file_len })
    }
}

/// Parses uncompressed IDX bytes. `path` is only used in error messages.
///
/// Gzip-compressed input is refused with [`DataError::NotIdx`]; use
/// [`read_idx`] for files, which decompresses when needed.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        return Err(DataError::NotIdx {
            path: path.to_path_buf(),
            hint: "these bytes are gzip-compressed; decompress them first (read_idx does)".into(),
        });
    }
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    decode(bytes, path, Source::Raw { len })
}

/// Decodes one IDX array from `r`, reading it to the end.
fn decode<R: Read>(mut r: R, path: &Path, source: Source) -> Result<IdxArray, DataError> {
    let read_err = |e: io::Error| read_error(e, path, source);

    let mut magic = [0u8; 4];
    let n = read_up_to(&mut r, &mut magic).map_err(read_err)?;
    if n == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if magic[..n.min(2)].iter().any(|&b| b != 0) {
        return Err(not_idx(&mut r, &magic[..n], path, source));
    }
    if n < 4 {
        return Err(DataError::TooShort {
            path: path.to_path_buf(),
            len: n,
            needed: 4,
        });
    }
    let type_code = magic[2];
    if type_code != IDX_TYPE_U8 {
        return Err(DataError::UnsupportedType {
            path: path.to_path_buf(),
            type_code,
        });
    }
    let ndims = usize::from(magic[3]);
    if ndims == 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: u32::from_be_bytes(magic),
            expected: "at least one dimension (last magic byte >= 1)".into(),
        });
    }

    let header_len = 4 + 4 * ndims;
    let mut dim_bytes = vec![0u8; 4 * ndims];
    let m = read_up_to(&mut r, &mut dim_bytes).map_err(read_err)?;
    if m < dim_bytes.len() {
        return Err(DataError::TooShort {
            path: path.to_path_buf(),
            len: 4 + m,
            needed: header_len,
        });
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| {
            let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            usize::try_from(v).unwrap_or(usize::MAX)
        })
        .collect();
    let overflow = || DataError::DimsOverflow {
        path: path.to_path_buf(),
        dims: dims.clone(),
    };
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&p| isize::try_from(p).is_ok())
        .ok_or_else(overflow)?;
    let expected_u64 = u64::try_from(expected).map_err(|_| overflow())?;

    // Upper bound on the payload the input can possibly hold; a header that
    // promises more is wrong, and is reported without allocating for it.
    let header_u64 = u64::try_from(header_len).unwrap_or(u64::MAX);
    let bound = match source {
        Source::Raw { len } => len.saturating_sub(header_u64),
        Source::Gzip { compressed_len } => compressed_len
            .saturating_mul(MAX_DEFLATE_RATIO)
            .saturating_add(1024),
    };
    let mut data = Vec::new();
    if expected_u64 <= bound {
        data.reserve_exact(expected.min(PREALLOC_CAP));
        (&mut r)
            .take(expected_u64)
            .read_to_end(&mut data)
            .map_err(read_err)?;
    }
    // Read to the very end: this counts surplus bytes and, for gzip, checks
    // the trailer's CRC and length.
    let rest = io::copy(&mut r, &mut io::sink()).map_err(read_err)?;
    let payload = u64::try_from(data.len())
        .unwrap_or(u64::MAX)
        .saturating_add(rest);
    if payload != expected_u64 {
        return Err(DataError::CountMismatch {
            path: path.to_path_buf(),
            header_says: dims,
            payload_bytes: payload,
            expected_bytes: expected_u64,
        });
    }
    Ok(IdxArray { dims, data })
}

/// Maps a read error: data errors from the gzip decoder mean a damaged stream.
fn read_error(e: io::Error, path: &Path, source: Source) -> DataError {
    let data_error = matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
    );
    if data_error && matches!(source, Source::Gzip { .. }) {
        DataError::TruncatedGzip {
            path: path.to_path_buf(),
        }
    } else {
        DataError::io(path, e)
    }
}

/// Builds the error for content whose first two bytes are not zero.
fn not_idx<R: Read>(r: &mut R, head: &[u8], path: &Path, source: Source) -> DataError {
    let mut sniff = head.to_vec();
    // Only used to describe the content; a read error here changes nothing.
    let _ = r.take(SNIFF_LEN).read_to_end(&mut sniff);
    if looks_like_text(&sniff) {
        let start: String = String::from_utf8_lossy(&sniff)
            .trim_start()
            .chars()
            .take(40)
            .collect();
        let inner = match source {
            Source::Gzip { .. } => "its gzip content ",
            Source::Raw { .. } => "it ",
        };
        return DataError::NotIdx {
            path: path.to_path_buf(),
            hint: format!(
                "{inner}looks like an HTML/text page, not an IDX file or gzip (starts with {start:?}); \
                 a download probably saved an error page"
            ),
        };
    }
    if head.len() < 4 {
        return DataError::TooShort {
            path: path.to_path_buf(),
            len: head.len(),
            needed: 4,
        };
    }
    DataError::BadMagic {
        path: path.to_path_buf(),
        found: u32::from_be_bytes([head[0], head[1], head[2], head[3]]),
        expected: "an IDX magic number 0x0000TTNN (two zero bytes, type code, number of \
                   dimensions), e.g. 0x00000803 (2051) for images or 0x00000801 (2049) for labels"
            .into(),
    }
}

/// True when the bytes look like an HTML page or plain text.
fn looks_like_text(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"<") {
        return true;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => !s.is_empty() && s.chars().all(|c| !c.is_control() || c.is_whitespace()),
        // The sniff window may cut a multi-byte character at its end.
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > bytes.len(),
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
pub(crate) mod tests;
