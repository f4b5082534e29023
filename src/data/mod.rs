//! Datasets: reading IDX files, locating and downloading MNIST-style data.
//!
//! - [`idx`]: the IDX file format (raw or gzip-compressed).
//! - [`mnist`]: Fashion-MNIST and MNIST — file tables, data folders, loading a split.
//! - [`download`]: fetching missing files from mirrors with MD5 verification.
//! - [`error`]: [`DataError`], the typed error of this module.

pub mod download;
pub mod error;
pub mod idx;
pub mod mnist;

pub use download::{DownloadOptions, ensure_files_with, md5_file};
pub use error::DataError;
pub use idx::{IDX_TYPE_U8, IdxArray, parse_idx, read_idx};
pub use mnist::{
    IMAGES_MAGIC, IdxDataset, ImageSet, LABELS_MAGIC, Split, TEST_IMAGES, TEST_LABELS,
    TRAIN_IMAGES, TRAIN_LABELS, ensure_files, load_split, resolve_data_dir,
};
