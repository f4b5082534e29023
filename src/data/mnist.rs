//! Image classification datasets stored in the MNIST IDX layout
//! (Fashion-MNIST and MNIST): file names, checksums, mirrors, data folder
//! resolution and loading of a train or test split.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use super::download::{DownloadOptions, ensure_files_with};
use super::error::DataError;
use super::idx::{IdxArray, read_idx};

/// Training images file name, shared by all datasets in this layout.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte.gz";
/// Training labels file name.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte.gz";
/// Test images file name.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte.gz";
/// Test labels file name.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte.gz";

/// IDX magic number of an unsigned-byte image file (3 dimensions).
pub const IMAGES_MAGIC: u32 = 2051;
/// IDX magic number of an unsigned-byte label file (1 dimension).
pub const LABELS_MAGIC: u32 = 2049;

/// A dataset distributed as four gzip-compressed IDX files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdxDataset {
    /// Zalando's Fashion-MNIST: 28x28 grey images of 10 clothing classes.
    FashionMnist,
    /// The classic MNIST handwritten digits.
    Mnist,
}

impl IdxDataset {
    /// Every dataset, in a fixed order.
    pub const ALL: [IdxDataset; 2] = [IdxDataset::FashionMnist, IdxDataset::Mnist];

    /// Short name, also the name of the dataset's sub-folder under a data root.
    pub fn name(self) -> &'static str {
        match self {
            IdxDataset::FashionMnist => "fashion-mnist",
            IdxDataset::Mnist => "mnist",
        }
    }

    /// Human-readable class names, indexed by label.
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            IdxDataset::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            IdxDataset::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
        }
    }

    /// Number of classes (labels are `0..num_classes()`).
    pub fn num_classes(self) -> usize {
        self.class_names().len()
    }

    /// The four files as `(file name, published MD5 of the .gz file)`.
    pub fn files(self) -> [(&'static str, &'static str); 4] {
        match self {
            IdxDataset::FashionMnist => [
                (TRAIN_IMAGES, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                (TRAIN_LABELS, "25c81989df183df01b3e8a0aad5dffbe"),
                (TEST_IMAGES, "bef4ecab320f06d8554ea6380940ec79"),
                (TEST_LABELS, "bb300cfdad3c16e7a12a480ee83cd310"),
            ],
            IdxDataset::Mnist => [
                (TRAIN_IMAGES, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                (TRAIN_LABELS, "d53e105ee54ea40749a09fcbcd1e9432"),
                (TEST_IMAGES, "9fb629c4189551a2d022fa330f9573f3"),
                (TEST_LABELS, "ec29112dd5afa0611ce80d1b7f02629c"),
            ],
        }
    }

    /// Public mirror base URLs, tried in order; a file's URL is base + file name.
    pub fn mirrors(self) -> &'static [&'static str] {
        match self {
            IdxDataset::FashionMnist => {
                &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
            }
            IdxDataset::Mnist => &[
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ],
        }
    }
}

/// Which half of a dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training split (`train-*` files).
    Train,
    /// The test split (`t10k-*` files).
    Test,
}

impl Split {
    /// File name of this split's images.
    pub fn images_file(self) -> &'static str {
        match self {
            Split::Train => TRAIN_IMAGES,
            Split::Test => TEST_IMAGES,
        }
    }

    /// File name of this split's labels.
    pub fn labels_file(self) -> &'static str {
        match self {
            Split::Train => TRAIN_LABELS,
            Split::Test => TEST_LABELS,
        }
    }
}

/// A class label: an index into a dataset's classes (Omniglot has 964 in its background set).
pub type ClassId = u16;

/// A loaded split: grey-scale images with one class label each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// All images, row-major, `len() * rows * cols` bytes with values 0..=255.
    pub images: Vec<u8>,
    /// One class label per image, each `< num_classes`.
    pub labels: Vec<ClassId>,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// Number of classes of the dataset.
    pub num_classes: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image `i` (`rows * cols` bytes, row-major).
    ///
    /// # Panics
    /// If `i >= self.len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.rows * self.cols;
        &self.images[i * size..(i + 1) * size]
    }
}

/// Loads one split of `dataset` from `dir`, the folder holding its four files.
///
/// The image file must be 3-D (magic 2051) and the label file 1-D (magic
/// 2049); both must hold the same number of items and every label must be a
/// valid class index. Errors name the offending file.
pub fn load_split(dataset: IdxDataset, dir: &Path, split: Split) -> Result<ImageSet, DataError> {
    let images_path = dir.join(split.images_file());
    let labels_path = dir.join(split.labels_file());
    let images = read_required(dir, split.images_file())?;
    check_rank(&images, &images_path, 3, IMAGES_MAGIC, "images")?;
    let labels = read_required(dir, split.labels_file())?;
    check_rank(&labels, &labels_path, 1, LABELS_MAGIC, "labels")?;

    let (n_images, n_labels) = (images.dims[0], labels.dims[0]);
    if n_images != n_labels {
        return Err(DataError::ImageLabelCountMismatch {
            images: images_path,
            labels: labels_path,
            n_images,
            n_labels,
        });
    }
    let num_classes = dataset.num_classes();
    if let Some((index, &label)) = labels
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= num_classes)
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path,
            index,
            label,
            num_classes,
        });
    }
    tracing::info!(
        dataset = dataset.name(),
        split = ?split,
        images = n_images,
        rows = images.dims[1],
        cols = images.dims[2],
        "loaded"
    );
    Ok(ImageSet {
        rows: images.dims[1],
        cols: images.dims[2],
        images: images.data,
        labels: labels.data.into_iter().map(ClassId::from).collect(),
        num_classes,
    })
}

/// Reads `dir/file`, turning "not found" into [`DataError::Missing`].
fn read_required(dir: &Path, file: &str) -> Result<IdxArray, DataError> {
    match read_idx(&dir.join(file)) {
        Err(DataError::Io { error, .. }) if error.kind() == io::ErrorKind::NotFound => {
            Err(DataError::Missing {
                dir: dir.to_path_buf(),
                file: file.to_string(),
                hint: "expected the dataset's four IDX .gz files in this folder; pass \
                       --data-dir <folder> pointing to a folder that holds them, or allow \
                       downloads"
                    .into(),
            })
        }
        other => other,
    }
}

fn check_rank(
    array: &IdxArray,
    path: &Path,
    rank: usize,
    magic: u32,
    what: &str,
) -> Result<(), DataError> {
    if array.dims.len() == rank {
        return Ok(());
    }
    Err(DataError::BadMagic {
        path: path.to_path_buf(),
        found: array.magic(),
        expected: format!("{magic} ({magic:#010x}: unsigned-byte {what} with {rank} dimension(s))"),
    })
}

/// The folder holding `dataset`'s files.
///
/// `explicit` (the user's `--data-dir`) wins; otherwise `$SIAMESE_DATA/<name>`
/// when that variable is set; otherwise the per-user cache
/// `$XDG_CACHE_HOME/siamese/<name>` or `$HOME/.cache/siamese/<name>`.
pub fn resolve_data_dir(dataset: IdxDataset, explicit: Option<&Path>) -> PathBuf {
    resolve_named_dir(dataset.name(), explicit)
}

/// [`resolve_data_dir`] for a dataset known by its folder name.
pub fn resolve_named_dir(name: &str, explicit: Option<&Path>) -> PathBuf {
    resolve_from(
        name,
        explicit,
        std::env::var_os("SIAMESE_DATA"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

fn resolve_from(
    name: &str,
    explicit: Option<&Path>,
    siamese_data: Option<OsString>,
    xdg_cache: Option<OsString>,
    home: Option<OsString>,
) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    let set = |v: Option<OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(root) = set(siamese_data) {
        return root.join(name);
    }
    // The XDG spec says relative values are to be ignored.
    let cache = set(xdg_cache)
        .filter(|p| p.is_absolute())
        .or_else(|| set(home).map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("siamese").join(name)
}

/// Makes sure `dir` holds `dataset`'s four files, downloading missing ones
/// from its mirrors (or `opts.mirrors`) with MD5 verification.
/// See [`ensure_files_with`] for the details.
pub fn ensure_files(
    dataset: IdxDataset,
    dir: &Path,
    opts: &DownloadOptions,
) -> Result<(), DataError> {
    ensure(dataset, dir, &dataset.files(), opts)
}

/// [`ensure_files`] for the two files of one split only (images and labels), for work that
/// reads only that split, such as scoring the test split.
pub fn ensure_split(
    dataset: IdxDataset,
    dir: &Path,
    split: Split,
    opts: &DownloadOptions,
) -> Result<(), DataError> {
    let files: Vec<(&str, &str)> = dataset
        .files()
        .into_iter()
        .filter(|(name, _)| *name == split.images_file() || *name == split.labels_file())
        .collect();
    ensure(dataset, dir, &files, opts)
}

fn ensure(
    dataset: IdxDataset,
    dir: &Path,
    files: &[(&'static str, &'static str)],
    opts: &DownloadOptions,
) -> Result<(), DataError> {
    let holds_all = |d: &Path| files.iter().all(|(name, _)| d.join(name).is_file());
    // A common slip: naming the data root (which holds one folder per dataset) instead of
    // the dataset's own folder.
    let nested = dir.join(dataset.name());
    if !holds_all(dir) && holds_all(&nested) {
        return Err(DataError::Missing {
            dir: dir.to_path_buf(),
            file: files[0].0.to_string(),
            hint: format!(
                "{} holds them: --data-dir names the dataset's own folder (SIAMESE_DATA names \
                 the folder above it)",
                nested.display()
            ),
        });
    }
    ensure_files_with(dir, files, dataset.mirrors(), opts)?;
    check_identity(dataset, dir, files[0].0)
}

/// Compare an images file (`images`, one of `dataset.files()`) against the published MD5s: a
/// file of the other dataset
/// (Fashion-MNIST where MNIST is asked for, say) is an error; any other mismatch (a
/// re-compressed copy, say) is logged, and the data used as it is, since its content is
/// checked when it is parsed.
fn check_identity(dataset: IdxDataset, dir: &Path, images: &str) -> Result<(), DataError> {
    let path = dir.join(images);
    let found = super::md5_file(&path)?;
    let md5_of = |d: IdxDataset| {
        d.files()
            .into_iter()
            .find(|(name, _)| *name == images)
            .map_or("", |(_, md5)| md5)
    };
    if found.eq_ignore_ascii_case(md5_of(dataset)) {
        return Ok(());
    }
    match IdxDataset::ALL
        .into_iter()
        .find(|&d| d != dataset && found.eq_ignore_ascii_case(md5_of(d)))
    {
        Some(other) => {
            return Err(DataError::WrongDataset {
                path,
                found: other.name().to_string(),
                expected: dataset.name().to_string(),
            });
        }
        None => tracing::info!(
            "{} does not match {}'s published MD5 (a re-compressed or changed copy?); using it \
             as it is",
            path.display(),
            dataset.name()
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
