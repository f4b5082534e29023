//! Image folders as datasets: one sub-folder per class, named after it.

use std::path::{Path, PathBuf};

use super::image::{
    ImagePrep, Skipped, has_image_extension, is_hidden, load_image, read_dir_sorted,
};
use super::{ClassId, DataError, ImageSet};

/// A labelled image folder, loaded and brought to one input size.
#[derive(Debug, Clone)]
pub struct FolderSet {
    /// The images, labelled by class index (the sub-folders in name order).
    pub images: ImageSet,
    /// Class names (the sub-folder names), by label.
    pub class_names: Vec<String>,
    /// The file of each image.
    pub paths: Vec<PathBuf>,
    /// What was left out.
    pub skipped: Skipped,
    /// Files directly in the root folder, outside any class folder (left out).
    pub loose_files: usize,
}

/// Load the image folder `root`: each non-hidden sub-folder is a class; its image files (not
/// its sub-folders) are the class's images. Hidden entries and non-image files are skipped and
/// counted; an image that cannot be decoded is an error naming it. At least two classes with at
/// least `min_per_class` images each are required, and classes that fall short are named.
pub fn load_folder(
    root: &Path,
    prep: &ImagePrep,
    min_per_class: usize,
) -> Result<FolderSet, DataError> {
    let folder_error = |reason: String| DataError::Folder {
        path: root.to_path_buf(),
        reason,
    };
    if !root.is_dir() {
        return Err(folder_error(
            "does not exist or is not a folder; expected one sub-folder of images per class".into(),
        ));
    }
    let mut skipped = Skipped::default();
    let mut loose_files = 0;
    let mut classes: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for entry in read_dir_sorted(root)? {
        if is_hidden(&entry) {
            skipped.hidden += 1;
            continue;
        }
        if !entry.is_dir() {
            loose_files += 1;
            continue;
        }
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files = Vec::new();
        for file in read_dir_sorted(&entry)? {
            if is_hidden(&file) {
                skipped.hidden += 1;
            } else if file.is_file() && has_image_extension(&file) {
                files.push(file);
            } else {
                skipped.not_images += 1;
            }
        }
        classes.push((name, files));
    }
    if classes.len() < 2 {
        return Err(folder_error(format!(
            "has {} class folder(s); at least two are needed",
            classes.len()
        )));
    }
    if classes.len() > usize::from(ClassId::MAX) + 1 {
        return Err(folder_error(format!(
            "has {} class folders; at most 65536 are supported",
            classes.len()
        )));
    }
    let short: Vec<String> = classes
        .iter()
        .filter(|(_, files)| files.len() < min_per_class)
        .map(|(name, files)| format!("{name:?} ({} image(s))", files.len()))
        .collect();
    if !short.is_empty() {
        return Err(folder_error(format!(
            "every class needs at least {min_per_class} images; too few in {}",
            short.join(", ")
        )));
    }
    let total: usize = classes.iter().map(|(_, f)| f.len()).sum();
    let mut images = Vec::with_capacity(total * prep.width * prep.height);
    let mut labels = Vec::with_capacity(total);
    let mut paths = Vec::with_capacity(total);
    for (label, (_, files)) in classes.iter().enumerate() {
        for file in files {
            images.extend(load_image(file, prep)?);
            labels.push(label as ClassId);
            paths.push(file.clone());
        }
    }
    if skipped.hidden + skipped.not_images + loose_files > 0 {
        tracing::info!(
            folder = %root.display(),
            hidden = skipped.hidden,
            not_images = skipped.not_images,
            outside_class_folders = loose_files,
            "skipped entries"
        );
    }
    Ok(FolderSet {
        images: ImageSet {
            images,
            labels,
            rows: prep.height,
            cols: prep.width,
            num_classes: classes.len(),
        },
        class_names: classes.into_iter().map(|(name, _)| name).collect(),
        paths,
        skipped,
        loose_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, GrayImage};

    fn make(root: &Path, class: &str, n: usize, value: u8) {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            let img = GrayImage::from_pixel(4, 4, image::Luma([value]));
            DynamicImage::ImageLuma8(img)
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }

    #[test]
    fn classes_are_sub_folders_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), "shirts", 3, 200);
        make(dir.path(), "boots", 2, 50);
        std::fs::write(dir.path().join("boots").join("README.txt"), "x").unwrap();
        std::fs::write(dir.path().join("shirts").join(".DS_Store"), "x").unwrap();
        std::fs::write(dir.path().join("loose.png"), "x").unwrap();
        let set = load_folder(dir.path(), &ImagePrep::new(2, 2), 2).unwrap();
        assert_eq!(set.class_names, vec!["boots", "shirts"]);
        assert_eq!(set.images.labels, vec![0, 0, 1, 1, 1]);
        assert_eq!((set.images.rows, set.images.cols), (2, 2));
        // A uniform image stays uniform when resized.
        assert_eq!(set.images.image(0), &[50, 50, 50, 50]);
        assert_eq!(set.images.image(4), &[200, 200, 200, 200]);
        assert_eq!(
            set.skipped,
            Skipped {
                hidden: 1,
                not_images: 1
            }
        );
        assert_eq!(set.loose_files, 1);
    }

    #[test]
    fn bad_folders_are_refused_with_names() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load_folder(&dir.path().join("nope"), &ImagePrep::new(2, 2), 2).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
        make(dir.path(), "only", 3, 1);
        let one = load_folder(dir.path(), &ImagePrep::new(2, 2), 2).unwrap_err();
        assert!(one.to_string().contains("at least two"), "{one}");
        make(dir.path(), "single", 1, 1);
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let small = load_folder(dir.path(), &ImagePrep::new(2, 2), 2).unwrap_err();
        let text = small.to_string();
        assert!(
            text.contains("\"single\" (1 image(s))") && text.contains("\"empty\" (0 image(s))"),
            "{text}"
        );
        assert!(!text.contains("\"only\""), "{text}");
    }

    #[test]
    fn an_unreadable_image_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), "a", 2, 1);
        make(dir.path(), "b", 2, 1);
        std::fs::write(dir.path().join("b").join("bad.jpg"), b"not a jpeg").unwrap();
        let err = load_folder(dir.path(), &ImagePrep::new(2, 2), 2).unwrap_err();
        assert!(err.to_string().contains("bad.jpg"), "{err}");
    }
}
