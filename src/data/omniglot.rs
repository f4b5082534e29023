//! Omniglot (Lake, Salakhutdinov and Tenenbaum): 1,623 handwritten characters of 50 alphabets,
//! 20 drawers each, as the IDX files and TSV indexes that `../shared/data/omniglot` holds (its
//! README explains them): the background set (964 characters of 30 alphabets) for training and
//! the evaluation set (659 characters of 20 other alphabets) for one-shot tests.
//!
//! The files store 105x105 images with 255 = white paper and 0 = ink. Here every image is
//! inverted (ink becomes light on black, as in MNIST) and resized to the model's input with a
//! triangle (bilinear) filter.

use std::path::{Path, PathBuf};

use image::GrayImage;
use image::imageops::FilterType;
use rayon::prelude::*;

use super::{ClassId, DataError, ImagePrep, ImageSet, read_idx};

/// The folder name of the dataset (under `$SIAMESE_DATA`).
pub const OMNIGLOT: &str = "omniglot";

/// Images per character: one by each of the 20 drawers.
pub const DRAWERS: usize = 20;

/// One of Omniglot's two sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OmniglotSet {
    /// 964 characters of 30 alphabets: the training set.
    Background,
    /// 659 characters of 20 alphabets: the one-shot test set.
    Evaluation,
}

impl OmniglotSet {
    fn stem(self) -> &'static str {
        match self {
            OmniglotSet::Background => "images_background",
            OmniglotSet::Evaluation => "images_evaluation",
        }
    }

    /// The images file.
    pub fn images_file(self) -> String {
        format!("{}-images-idx3-ubyte.gz", self.stem())
    }

    /// The index file (one row per image: row, label, character id, drawer, alphabet,
    /// character, original path).
    pub fn index_file(self) -> String {
        format!("{}-index.tsv", self.stem())
    }
}

/// An Omniglot set, loaded.
#[derive(Debug, Clone)]
pub struct OmniglotData {
    /// The images at the model's size, light ink on black, labelled by character (0-based
    /// within the set).
    pub images: ImageSet,
    /// Per character: "Alphabet/characterNN".
    pub class_names: Vec<String>,
    /// Per character: the index of its alphabet in `alphabets`.
    pub class_alphabet: Vec<usize>,
    /// The alphabets, in order of first appearance.
    pub alphabets: Vec<String>,
}

/// Load Omniglot's `set` from `dir`, brought to `prep`'s size (inverted as the module says,
/// whatever `prep.invert` says: the files are dark ink on white).
pub fn load_omniglot(
    dir: &Path,
    set: OmniglotSet,
    prep: &ImagePrep,
) -> Result<OmniglotData, DataError> {
    let images_path = dir.join(set.images_file());
    let index_path = dir.join(set.index_file());
    for path in [&images_path, &index_path] {
        if !path.is_file() {
            return Err(DataError::Missing {
                dir: dir.to_path_buf(),
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                hint: "Omniglot is not downloaded automatically (its public release is PNG \
                       archives, not these files); point --data-dir at the folder holding \
                       them, or SIAMESE_DATA at the folder above it (named omniglot)"
                    .into(),
            });
        }
    }
    let array = read_idx(&images_path)?;
    let [count, rows, cols] = array.dims[..] else {
        return Err(invalid(
            &images_path,
            format!(
                "has dimensions {:?}; expected count x 105 x 105",
                array.dims
            ),
        ));
    };
    let index = read_index(&index_path)?;
    if index.len() != count {
        return Err(invalid(
            &index_path,
            format!(
                "lists {} images but {} holds {count}",
                index.len(),
                images_path.display()
            ),
        ));
    }
    let mut class_names: Vec<String> = Vec::new();
    let mut class_alphabet = Vec::new();
    let mut alphabets: Vec<String> = Vec::new();
    let mut labels = Vec::with_capacity(count);
    for (row, entry) in index.iter().enumerate() {
        if entry.label != row / DRAWERS {
            return Err(invalid(
                &index_path,
                format!(
                    "row {row} has label {}; the files put 20 drawers per character, so label row / 20 = {}",
                    entry.label,
                    row / DRAWERS
                ),
            ));
        }
        if entry.label == class_names.len() {
            let alphabet = match alphabets.iter().position(|a| *a == entry.alphabet) {
                Some(a) => a,
                None => {
                    alphabets.push(entry.alphabet.clone());
                    alphabets.len() - 1
                }
            };
            class_alphabet.push(alphabet);
            class_names.push(format!("{}/{}", entry.alphabet, entry.character));
        }
        labels.push(entry.label as ClassId);
    }
    let (w, h) = (prep.width as u32, prep.height as u32);
    // Images are resized in parallel; the collected order is the files' order.
    let resized: Vec<Vec<u8>> = array
        .data
        .par_chunks_exact(rows * cols)
        .map(|raw| {
            let inverted: Vec<u8> = raw.iter().map(|&v| 255 - v).collect();
            let image = GrayImage::from_raw(cols as u32, rows as u32, inverted)
                .ok_or_else(|| invalid(&images_path, "an image of the wrong size".into()))?;
            Ok(if (cols, rows) == (prep.width, prep.height) {
                image.into_raw()
            } else {
                image::imageops::resize(&image, w, h, FilterType::Triangle).into_raw()
            })
        })
        .collect::<Result<_, DataError>>()?;
    let pixels = resized.concat();
    tracing::info!(
        set = set.stem(),
        images = count,
        characters = class_names.len(),
        alphabets = alphabets.len(),
        "loaded Omniglot"
    );
    Ok(OmniglotData {
        images: ImageSet {
            images: pixels,
            labels,
            rows: prep.height,
            cols: prep.width,
            num_classes: class_names.len(),
        },
        class_names,
        class_alphabet,
        alphabets,
    })
}

fn invalid(path: &Path, reason: String) -> DataError {
    DataError::Folder {
        path: path.to_path_buf(),
        reason,
    }
}

#[derive(Debug)]
struct IndexRow {
    label: usize,
    alphabet: String,
    character: String,
}

fn read_index(path: &PathBuf) -> Result<Vec<IndexRow>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
        if fields.len() < 6 {
            return Err(invalid(
                path,
                format!("line {}: {} fields; expected 7", n + 1, fields.len()),
            ));
        }
        let label = fields[1].parse().map_err(|_| {
            invalid(
                path,
                format!("line {}: label {:?} is not a number", n + 1, fields[1]),
            )
        })?;
        rows.push(IndexRow {
            label,
            alphabet: fields[4].to_string(),
            character: fields[5].to_string(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> PathBuf {
        std::env::var_os("SIAMESE_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
            .join(OMNIGLOT)
    }

    #[test]
    fn real_omniglot_sets() {
        let prep = ImagePrep::new(28, 28);
        let bg = load_omniglot(&shared(), OmniglotSet::Background, &prep).unwrap();
        // 964 characters of 30 alphabets, 20 drawers each (the data README's figures).
        assert_eq!(bg.images.len(), 964 * 20);
        assert_eq!(bg.class_names.len(), 964);
        assert_eq!(bg.alphabets.len(), 30);
        assert_eq!(bg.class_names[0], "Arcadian/character01");
        assert_eq!(bg.images.labels[19], 0);
        assert_eq!(bg.images.labels[20], 1);
        // Inverted: the background (white paper) is black now, so the corners are 0.
        let first = bg.images.image(0);
        assert_eq!(first[0], 0);
        assert!(first.iter().any(|&v| v > 100), "no ink after inversion");
        let ev = load_omniglot(&shared(), OmniglotSet::Evaluation, &prep).unwrap();
        assert_eq!((ev.class_names.len(), ev.alphabets.len()), (659, 20));
        assert_eq!(ev.images.len(), 659 * 20);
    }

    #[test]
    fn missing_files_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_omniglot(dir.path(), OmniglotSet::Background, &ImagePrep::new(28, 28))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("images_background-images-idx3-ubyte.gz") && e.contains("--data-dir"),
            "{e}"
        );
    }
}
