//! Pairs files: CSV lines `left,right,label` naming two images and whether they show the same
//! thing.
//!
//! Labels are 1 = same, 0 = different, unless a header row declares the opposite: a header
//! whose third column is `label` or `same` keeps 1 = same; `different` (or `dissimilar`) means
//! 1 = different, and the labels are flipped on reading. Without a header the first row must be
//! data. Relative paths are taken from the file's folder.

use std::path::{Path, PathBuf};

use super::DataError;

/// The pairs of a pairs file, labels in the project's convention (1 = same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairsFile {
    /// First image of each pair.
    pub left: Vec<PathBuf>,
    /// Second image of each pair.
    pub right: Vec<PathBuf>,
    /// 1 = same, 0 = different.
    pub labels: Vec<u8>,
    /// Whether the file declared 1 = different (and its labels were flipped).
    pub declared_different: bool,
}

/// Read the pairs file at `path`; every malformed line is an error naming its number.
pub fn read_pairs_csv(path: &Path) -> Result<PairsFile, DataError> {
    let bad = |line: usize, reason: String| DataError::PairsFile {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let text = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_slice());
    let mut out = PairsFile {
        left: Vec::new(),
        right: Vec::new(),
        labels: Vec::new(),
        declared_different: false,
    };
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            bad(line, format!("not valid CSV: {e}"))
        })?;
        let line = record.position().map_or(i + 1, |p| p.line() as usize);
        if record.len() != 3 {
            return Err(bad(
                line,
                format!(
                    "{} field(s); expected 3: left image, right image, label",
                    record.len()
                ),
            ));
        }
        let label = &record[2];
        if out.labels.is_empty() && out.left.is_empty() && !matches!(label, "0" | "1") {
            // A header row.
            match label.to_ascii_lowercase().as_str() {
                "label" | "same" => {}
                "different" | "dissimilar" => out.declared_different = true,
                other => {
                    return Err(bad(
                        line,
                        format!(
                            "third column {other:?} is neither a label (0 or 1) nor a header \
                             naming the convention (label, same, or different)"
                        ),
                    ));
                }
            }
            continue;
        }
        let value = match label {
            "0" => 0,
            "1" => 1,
            other => {
                return Err(bad(line, format!("label {other:?}; expected 0 or 1")));
            }
        };
        if record[0].is_empty() || record[1].is_empty() {
            return Err(bad(line, "an image path is empty".into()));
        }
        out.left.push(base.join(&record[0]));
        out.right.push(base.join(&record[1]));
        out.labels.push(if out.declared_different {
            1 - value
        } else {
            value
        });
    }
    if out.labels.is_empty() {
        return Err(bad(0, "holds no pairs".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("pairs.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn plain_and_headed_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = read_pairs_csv(&write(dir.path(), "a.png,b.png,1\nc.png, d.png ,0\n")).unwrap();
        assert_eq!(p.labels, vec![1, 0]);
        assert_eq!(p.left[1], dir.path().join("c.png"));
        assert_eq!(p.right[1], dir.path().join("d.png"));
        assert!(!p.declared_different);
        let p =
            read_pairs_csv(&write(dir.path(), "left,right,same\n# a comment\na,b,1\n")).unwrap();
        assert_eq!(p.labels, vec![1]);
        // Declared the other way round: 1 = different becomes 0.
        let p = read_pairs_csv(&write(dir.path(), "x,y,different\na,b,1\nc,d,0\n")).unwrap();
        assert_eq!(p.labels, vec![0, 1]);
        assert!(p.declared_different);
        let abs = dir.path().join("abs.png");
        let p = read_pairs_csv(&write(dir.path(), &format!("{},b,0\n", abs.display()))).unwrap();
        assert_eq!(p.left[0], abs);
    }

    #[test]
    fn malformed_lines_name_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("a,b,1\nc,d,2\n", "line 2", "label \"2\""),
            ("a,b,1\nc,d\n", "line 2", "2 field(s)"),
            (
                "left,right,similarity\na,b,1\n",
                "line 1",
                "neither a label",
            ),
            ("a,,1\n", "line 1", "empty"),
            ("", "pairs.csv: ", "no pairs"),
            ("left,right,label\n", "pairs.csv: ", "no pairs"),
        ];
        for (text, line, what) in cases {
            let err = read_pairs_csv(&write(dir.path(), text))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(line) && err.contains(what) && err.contains("pairs.csv"),
                "{text:?}: {err}"
            );
        }
        assert!(read_pairs_csv(&dir.path().join("none.csv")).is_err());
    }
}
