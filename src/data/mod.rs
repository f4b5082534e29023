//! Datasets: reading IDX files, locating and downloading MNIST-style data.
//!
//! - [`idx`]: the IDX file format (raw or gzip-compressed).
//! - [`mnist`]: Fashion-MNIST and MNIST — file tables, data folders, loading a split.
//! - [`download`]: fetching missing files from mirrors with MD5 verification.
//! - [`image`], [`folder`], [`pairs_csv`]: image files, labelled image folders and pairs files.
//! - [`error`]: [`DataError`], the typed error of this module.

pub mod audio;
pub mod augment;
pub mod download;
pub mod error;
pub mod folder;
pub mod fsdd;
pub mod idx;
pub mod image;
pub mod mnist;
pub mod omniglot;
pub mod pairs_csv;

pub use augment::{Affine, with_rotated_classes};
pub use download::{DownloadOptions, ensure_files_with, md5_file, md5_hex};
pub use error::DataError;
pub use folder::{FolderSet, load_folder};
pub use fsdd::{AudioImageSet, Digits, FSDD, Takes, cross_pairs, load_fsdd, load_spoken_mnist};
pub use idx::{IDX_TYPE_U8, IdxArray, parse_idx, read_idx};
pub use image::{ImagePrep, files_under, image_files, load_image, load_image_bytes};
pub use mnist::{
    ClassId, IMAGES_MAGIC, IdxDataset, ImageSet, LABELS_MAGIC, Split, TEST_IMAGES, TEST_LABELS,
    TRAIN_IMAGES, TRAIN_LABELS, ensure_files, ensure_split, load_split, resolve_data_dir,
    resolve_named_dir,
};
pub use omniglot::{OMNIGLOT, OmniglotData, OmniglotSet, load_omniglot};
pub use pairs_csv::{PairsFile, read_pairs_csv};

/// Which dataset a run uses, as `--dataset` spells it: `fashion-mnist`, `mnist`, or
/// `omniglot`, or `folder:PATH` (an image folder with one sub-folder per class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetSpec {
    /// One of the IDX datasets.
    Idx(IdxDataset),
    /// An image folder.
    Folder(std::path::PathBuf),
    /// Omniglot: trains on the background set; one-shot tests use the evaluation set.
    Omniglot,
    /// Spoken digits (FSDD) against handwritten ones (MNIST), for the pseudo-Siamese network.
    SpokenMnist,
}

/// `--dataset` of the spoken-digit / MNIST pairs.
pub const SPOKEN_MNIST: &str = "fsdd-mnist";

impl DatasetSpec {
    /// Parse `--dataset`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("folder:") {
            if path.is_empty() {
                return Err("--dataset folder: needs a path, as in folder:photos/".into());
            }
            return Ok(DatasetSpec::Folder(path.into()));
        }
        if text == omniglot::OMNIGLOT {
            return Ok(DatasetSpec::Omniglot);
        }
        if text == SPOKEN_MNIST {
            return Ok(DatasetSpec::SpokenMnist);
        }
        IdxDataset::ALL
            .into_iter()
            .find(|d| d.name() == text)
            .map(DatasetSpec::Idx)
            .ok_or_else(|| {
                format!(
                    "unknown dataset {text:?}; expected fashion-mnist, mnist, omniglot, \
                     {SPOKEN_MNIST} or folder:PATH"
                )
            })
    }
}
