//! Typed errors for loading and downloading datasets.
//!
//! Every variant names the file (full path) or URL involved and says what was
//! expected, so a message can be shown to a user as-is.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while locating, downloading or reading a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused a read, write, rename or directory listing.
    #[error("I/O error on {}: {error}", path.display())]
    Io {
        /// File or folder the operation was about.
        path: PathBuf,
        /// The underlying error (in the message, not repeated as a cause).
        error: std::io::Error,
    },

    /// The file (or the data inside its gzip stream) has no bytes at all.
    #[error("{} is empty (0 bytes); expected an IDX file, optionally gzip-compressed", path.display())]
    Empty {
        /// The empty file.
        path: PathBuf,
    },

    /// The file ends inside the IDX header.
    #[error(
        "{} is too short: it holds {len} bytes but its IDX header alone needs {needed} bytes",
        path.display()
    )]
    TooShort {
        /// The short file.
        path: PathBuf,
        /// Bytes actually present (after decompression).
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },

    /// The gzip stream ends early, fails its CRC/length check or is otherwise corrupt.
    #[error(
        "{} is a truncated or corrupt gzip file (the stream ends early or its checksum is wrong); \
         expected a complete gzip stream: delete the file and download it again",
        path.display()
    )]
    TruncatedGzip {
        /// The damaged file.
        path: PathBuf,
    },

    /// The bytes are clearly not IDX data (for example a saved web page).
    #[error("{} is not an IDX file: {hint}", path.display())]
    NotIdx {
        /// The offending file.
        path: PathBuf,
        /// What the content looks like instead.
        hint: String,
    },

    /// The first four bytes are not the magic number that was expected.
    #[error("{} has magic number {found:#010x} ({found}); expected {expected}", path.display())]
    BadMagic {
        /// The offending file.
        path: PathBuf,
        /// The first four bytes, read as a big-endian integer.
        found: u32,
        /// Description of the accepted magic number(s).
        expected: String,
    },

    /// The IDX element type is not unsigned byte (0x08).
    #[error(
        "{} stores IDX element type {type_code:#04x}; only unsigned byte (0x08) is supported",
        path.display()
    )]
    UnsupportedType {
        /// The offending file.
        path: PathBuf,
        /// The type code from the header (third byte).
        type_code: u8,
    },

    /// The header's dimensions describe more bytes than can be addressed.
    #[error(
        "{} has absurd header dimensions {dims:?}: their product overflows; expected a real IDX header",
        path.display()
    )]
    DimsOverflow {
        /// The offending file.
        path: PathBuf,
        /// The dimensions read from the header.
        dims: Vec<usize>,
    },

    /// The payload length disagrees with the dimensions in the header.
    #[error(
        "{} header says dimensions {header_says:?}, i.e. {expected_bytes} payload bytes, \
         but the file holds {payload_bytes} payload bytes",
        path.display()
    )]
    CountMismatch {
        /// The offending file.
        path: PathBuf,
        /// The dimensions given by the header.
        header_says: Vec<usize>,
        /// Payload bytes actually present after the header.
        payload_bytes: u64,
        /// Payload bytes the header implies.
        expected_bytes: u64,
    },

    /// An image file and its label file hold different numbers of items.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels; expected the same count",
        images.display(),
        labels.display()
    )]
    ImageLabelCountMismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },

    /// A label is not a valid class index.
    #[error(
        "{} has label {label} at index {index}; expected a class index in 0..{num_classes}",
        path.display()
    )]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// Position of the bad label.
        index: usize,
        /// The bad value.
        label: u8,
        /// Number of classes of the dataset.
        num_classes: usize,
    },

    /// A file's MD5 differs from the published one.
    #[error(
        "MD5 of {} is {found}, expected {expected}: the data is corrupt, truncated or a different file",
        path.display()
    )]
    ChecksumMismatch {
        /// The file that was checked (for a download, its final destination).
        path: PathBuf,
        /// Published MD5 (lower-case hex).
        expected: String,
        /// MD5 of the bytes actually received (lower-case hex).
        found: String,
    },

    /// One HTTP download attempt failed.
    #[error("download of {url} failed: {reason}")]
    Download {
        /// The URL that was requested.
        url: String,
        /// Why it failed (status code, network error, ...).
        reason: String,
    },

    /// Every mirror failed for one file; lists each attempt.
    #[error("{}", all_mirrors_message(dir, file, attempts))]
    AllMirrorsFailed {
        /// Folder the file should have been written to.
        dir: PathBuf,
        /// Name of the file.
        file: String,
        /// Each URL tried, with the error it produced.
        attempts: Vec<(String, DataError)>,
    },

    /// A required file is absent and could not (or may not) be downloaded.
    #[error("{file} is missing from {}: {hint}", dir.display())]
    Missing {
        /// Folder that was searched.
        dir: PathBuf,
        /// Name of the missing file.
        file: String,
        /// What to do about it.
        hint: String,
    },

    /// The files are another dataset's (their MD5 is that dataset's published one).
    #[error(
        "{} is {found}'s file (its MD5 is {found}'s published one), but {expected} was asked \
         for; check --dataset and --data-dir", path.display()
    )]
    WrongDataset {
        /// The file.
        path: PathBuf,
        /// The dataset the file belongs to.
        found: String,
        /// The dataset asked for.
        expected: String,
    },

    /// An image file could not be decoded.
    #[error("{} is not a readable image: {reason}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },

    /// An image folder cannot serve as a dataset (missing, too few classes, small classes).
    #[error("image folder {}: {reason}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What is wrong, naming the classes concerned.
        reason: String,
    },

    /// A line of a pairs file is malformed.
    #[error("{}{}: {reason}", path.display(), if *line == 0 { String::new() } else { format!(", line {line}") })]
    PairsFile {
        /// The file.
        path: PathBuf,
        /// One-based line number (0 for the file as a whole).
        line: usize,
        /// What was found and what was expected.
        reason: String,
    },

    /// An audio file could not be read as the expected WAV.
    #[error("{} is not a usable recording: {reason}", path.display())]
    Audio {
        /// The file.
        path: PathBuf,
        /// What was found and what was expected.
        reason: String,
    },

    /// A line of a dataset's index table is malformed.
    #[error("{}{}: {reason}", path.display(), if *line == 0 { String::new() } else { format!(", line {line}") })]
    Table {
        /// The file.
        path: PathBuf,
        /// One-based line number (0 for the file as a whole).
        line: usize,
        /// What was found and what was expected.
        reason: String,
    },
}

impl DataError {
    /// Shorthand for an [`DataError::Io`] on `path`.
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

fn all_mirrors_message(dir: &Path, file: &str, attempts: &[(String, DataError)]) -> String {
    let mut msg = format!(
        "could not download {file} into {}: every mirror failed:",
        dir.display()
    );
    if attempts.is_empty() {
        msg.push_str("\n  (no mirror URLs were configured)");
    }
    for (url, err) in attempts {
        // Writing to a String cannot fail.
        let _ = write!(msg, "\n  - {url}: {err}");
    }
    let _ = write!(
        msg,
        "\nPoint --data-dir at a folder that already holds {file} (and the dataset's other \
         files), or SIAMESE_DATA at the folder above it, or copy the files into {}",
        dir.display()
    );
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_expectation() {
        let e = DataError::TooShort {
            path: PathBuf::from("/d/x-idx3-ubyte"),
            len: 3,
            needed: 4,
        };
        let m = e.to_string();
        assert!(m.contains("/d/x-idx3-ubyte"), "{m}");
        assert!(m.contains("3 bytes") && m.contains("needs 4"), "{m}");

        let e = DataError::BadMagic {
            path: PathBuf::from("/d/f"),
            found: 2049,
            expected: "2051".into(),
        };
        assert_eq!(
            e.to_string(),
            "/d/f has magic number 0x00000801 (2049); expected 2051"
        );
    }

    #[test]
    fn all_mirrors_message_lists_each_url_and_advice() {
        let e = DataError::AllMirrorsFailed {
            dir: PathBuf::from("/cache/mnist"),
            file: "t10k-labels-idx1-ubyte.gz".into(),
            attempts: vec![
                (
                    "http://a/t10k-labels-idx1-ubyte.gz".into(),
                    DataError::Download {
                        url: "http://a/t10k-labels-idx1-ubyte.gz".into(),
                        reason: "HTTP status 404".into(),
                    },
                ),
                (
                    "http://b/t10k-labels-idx1-ubyte.gz".into(),
                    DataError::Download {
                        url: "http://b/t10k-labels-idx1-ubyte.gz".into(),
                        reason: "connection refused".into(),
                    },
                ),
            ],
        };
        let m = e.to_string();
        assert!(m.contains("/cache/mnist"), "{m}");
        assert!(
            m.contains("- http://a/t10k-labels-idx1-ubyte.gz: download of"),
            "{m}"
        );
        assert!(m.contains("HTTP status 404"), "{m}");
        assert!(m.contains("connection refused"), "{m}");
        assert!(m.contains("--data-dir"), "{m}");
    }
}
