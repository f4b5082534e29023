//! Image files brought to a model's input the way its training data was prepared: one grey
//! channel, the model's height and width, 8-bit values (scaled to [0, 1] later, as the training
//! pixels are).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageReader};

use super::DataError;

/// File extensions treated as images (compared without case).
pub const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"];

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`].
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// How an image file becomes model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePrep {
    /// Target width in pixels.
    pub width: usize,
    /// Target height in pixels.
    pub height: usize,
    /// Turn a dark object on a light background into a light object on black (as Fashion-MNIST
    /// and MNIST are stored): `v -> 255 - v` after the conversion to grey.
    pub invert: bool,
}

impl ImagePrep {
    /// Grey images of `width x height`, not inverted.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            invert: false,
        }
    }
}

/// Decode `path` (PNG, JPEG, BMP, GIF, TIFF or WebP, told apart by content) and bring it to
/// `prep`: grey by the luma of its colours, transparency composited onto the background (black
/// for light-on-dark input, white for input that is inverted), resized to the target size with
/// a triangle (bilinear) filter when its size differs, then inverted if asked.
pub fn load_image(path: &Path, prep: &ImagePrep) -> Result<Vec<u8>, DataError> {
    let reader = ImageReader::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoded = reader.decode().map_err(|e| DataError::Image {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(prepare(&decoded, prep))
}

/// [`load_image`] of an image file's bytes, its format told by its content; `name` names it
/// in errors.
/// `max_side` refuses an image wider or taller than that many pixels before it is unpacked.
pub fn load_image_bytes(
    name: &Path,
    bytes: &[u8],
    prep: &ImagePrep,
    max_side: Option<u32>,
) -> Result<Vec<u8>, DataError> {
    let bad = |reason: String| DataError::Image {
        path: name.to_path_buf(),
        reason,
    };
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    if let Some(side) = max_side {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(side);
        limits.max_image_height = Some(side);
        reader.limits(limits);
    }
    let decoded = reader.decode().map_err(|e| bad(e.to_string()))?;
    Ok(prepare(&decoded, prep))
}

/// [`load_image`] for an image already decoded.
pub fn prepare(image: &DynamicImage, prep: &ImagePrep) -> Vec<u8> {
    let background: u16 = if prep.invert { 255 } else { 0 };
    let grey_alpha = image.to_luma_alpha8();
    let (w, h) = grey_alpha.dimensions();
    let grey = GrayImage::from_fn(w, h, |x, y| {
        let [v, a] = grey_alpha.get_pixel(x, y).0;
        let (v, a) = (u16::from(v), u16::from(a));
        // Rounded v * a + background * (1 - a), in 8-bit fixed point.
        image::Luma([((v * a + background * (255 - a) + 127) / 255) as u8])
    });
    let (tw, th) = (prep.width as u32, prep.height as u32);
    let grey = if (w, h) == (tw, th) {
        grey
    } else {
        image::imageops::resize(&grey, tw, th, FilterType::Triangle)
    };
    let mut pixels = grey.into_raw();
    if prep.invert {
        for v in &mut pixels {
            *v = 255 - *v;
        }
    }
    pixels
}

/// Every image file under `root` (itself when it is a file), walking sub-folders, sorted by
/// path; hidden entries (names starting with `.`) and files without an image extension are
/// skipped and counted.
pub fn image_files(root: &Path) -> Result<(Vec<PathBuf>, Skipped), DataError> {
    files_under(root, has_image_extension)
}

/// Every file under `root` that `keep` accepts (`root` itself when it is a file), walking
/// sub-folders, sorted by path; hidden entries (names starting with `.`) and files `keep`
/// refuses are skipped and counted (the latter as `not_images`).
pub fn files_under(
    root: &Path,
    keep: impl Fn(&Path) -> bool,
) -> Result<(Vec<PathBuf>, Skipped), DataError> {
    let mut skipped = Skipped::default();
    let mut files = Vec::new();
    if root.is_file() {
        files.push(root.to_path_buf());
        return Ok((files, skipped));
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in read_dir_sorted(&dir)? {
            if is_hidden(&entry) {
                skipped.hidden += 1;
            } else if entry.is_dir() {
                stack.push(entry);
            } else if keep(&entry) {
                files.push(entry);
            } else {
                skipped.not_images += 1;
            }
        }
    }
    files.sort();
    Ok((files, skipped))
}

/// What a folder walk left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Hidden files and folders.
    pub hidden: usize,
    /// Files without an image extension.
    pub not_images: usize,
}

pub(crate) fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The entries of `dir`, sorted by name.
pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        entries.push(entry.map_err(|e| DataError::io(dir, e))?.path());
    }
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    /// Bytes of a PNG decode as the file would, and a side over the limit is refused before
    /// the image is unpacked.
    #[test]
    fn image_bytes_and_their_size_limit() {
        let img = GrayImage::from_fn(8, 8, |x, y| image::Luma([(x * 30 + y) as u8]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let prep = ImagePrep {
            height: 8,
            width: 8,
            invert: false,
        };
        let pixels = load_image_bytes(Path::new("x"), &png, &prep, Some(8)).unwrap();
        assert_eq!(pixels, img.into_raw());
        let err = load_image_bytes(Path::new("x"), &png, &prep, Some(7))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x") && err.to_lowercase().contains("limit"),
            "{err}"
        );
        let err = load_image_bytes(Path::new("notes"), b"hello", &prep, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("notes"), "{err}");
    }

    fn save(dir: &Path, name: &str, image: &DynamicImage) -> PathBuf {
        let path = dir.join(name);
        image.save(&path).unwrap();
        path
    }

    #[test]
    fn grey_rgb_and_rgba_become_the_same_grey_input() {
        let dir = tempfile::tempdir().unwrap();
        let prep = ImagePrep::new(2, 1);
        // A 2x1 grey image: 10, 200.
        let grey = DynamicImage::ImageLuma8(GrayImage::from_raw(2, 1, vec![10, 200]).unwrap());
        let path = save(dir.path(), "g.png", &grey);
        assert_eq!(load_image(&path, &prep).unwrap(), vec![10, 200]);
        // The same greys as RGB (r = g = b): luma is the grey value.
        let rgb = DynamicImage::ImageRgb8(grey.to_rgb8());
        let path = save(dir.path(), "c.bmp", &rgb);
        assert_eq!(load_image(&path, &prep).unwrap(), vec![10, 200]);
        // RGBA with the second pixel half transparent over the black background:
        // 200 * 128 / 255 = 100.4 -> 100.
        let rgba = RgbaImage::from_raw(2, 1, vec![10, 10, 10, 255, 200, 200, 200, 128]).unwrap();
        let path = save(dir.path(), "a.png", &DynamicImage::ImageRgba8(rgba));
        assert_eq!(load_image(&path, &prep).unwrap(), vec![10, 100]);
    }

    #[test]
    fn inversion_and_resizing() {
        let dir = tempfile::tempdir().unwrap();
        // A 4x4 white image with a black 2x2 block top-left (a dark object on light ground).
        let img = GrayImage::from_fn(4, 4, |x, y| {
            image::Luma([if x < 2 && y < 2 { 0 } else { 255 }])
        });
        let path = save(dir.path(), "photo.png", &DynamicImage::ImageLuma8(img));
        let prep = ImagePrep {
            width: 2,
            height: 2,
            invert: true,
        };
        // Halved with an antialiasing filter, which blends across the 2x2 blocks: the object's
        // corner is the brightest after inversion, its two neighbours alike (the image is
        // symmetric about the diagonal) and the far corner darkest.
        let out = load_image(&path, &prep).unwrap();
        assert!(out[0] > 128 && out[0] > out[1], "{out:?}");
        assert!(
            out[1] == out[2] && out[2] > out[3] && out[3] < 128,
            "{out:?}"
        );
        // A uniform light image stays uniform, and inverted becomes uniformly dark: 255 - 230.
        let light = GrayImage::from_pixel(5, 3, image::Luma([230]));
        let path = save(dir.path(), "light.png", &DynamicImage::ImageLuma8(light));
        assert_eq!(load_image(&path, &prep).unwrap(), vec![25; 4]);
        // A transparent pixel of an inverted image is background: white, then black.
        let rgba = RgbaImage::from_pixel(1, 1, Rgba([0, 0, 0, 0]));
        let path = save(dir.path(), "t.png", &DynamicImage::ImageRgba8(rgba));
        let prep = ImagePrep {
            width: 1,
            height: 1,
            invert: true,
        };
        assert_eq!(load_image(&path, &prep).unwrap(), vec![0]);
    }

    #[test]
    fn unreadable_images_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.png");
        std::fs::write(&path, b"<html>not an image</html>").unwrap();
        let err = load_image(&path, &ImagePrep::new(28, 28)).unwrap_err();
        assert!(matches!(err, DataError::Image { .. }), "{err}");
        assert!(err.to_string().contains("broken.png"), "{err}");
        let missing = dir.path().join("missing.png");
        let err = load_image(&missing, &ImagePrep::new(28, 28)).unwrap_err();
        assert!(err.to_string().contains("missing.png"), "{err}");
    }

    #[test]
    fn walking_a_folder_skips_hidden_and_non_images() {
        let dir = tempfile::tempdir().unwrap();
        let img = DynamicImage::ImageLuma8(GrayImage::new(3, 3));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        save(dir.path(), "b.png", &img);
        save(
            &dir.path().join("sub"),
            "a.jpg",
            &DynamicImage::ImageRgb8(img.to_rgb8()),
        );
        save(dir.path(), ".hidden.png", &img);
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let (files, skipped) = image_files(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["b.png", "sub/a.jpg"]);
        assert_eq!(
            skipped,
            Skipped {
                hidden: 1,
                not_images: 1
            }
        );
    }
}
