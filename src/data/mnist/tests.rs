//! Tests for dataset loading, including the real Fashion-MNIST and MNIST files.

use super::super::download::tests::{md5_hex, serve};
use super::super::idx::tests::{gzip, idx_bytes};
use super::*;

/// Root holding `fashion-mnist/` and `mnist/`: `$SIAMESE_DATA`, else
/// `../shared/data` next to the crate. Panics if absent: never skipped.
fn test_data_root() -> PathBuf {
    let root = std::env::var_os("SIAMESE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        root.is_dir(),
        "test data root {} does not exist; set SIAMESE_DATA to the folder holding \
         fashion-mnist/ and mnist/",
        root.display()
    );
    root
}

/// The four gzip files of a tiny dataset with 3x2 images and the given labels.
fn tiny_files(train_labels: &[u8], test_labels: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let imgs = |n: usize| {
        let px: Vec<u8> = (0..n * 6).map(|i| (i * 37 % 256) as u8).collect();
        gzip(&idx_bytes(8, &[n as u32, 3, 2], &px))
    };
    let lbls = |l: &[u8]| gzip(&idx_bytes(8, &[l.len() as u32], l));
    vec![
        (TRAIN_IMAGES, imgs(train_labels.len())),
        (TRAIN_LABELS, lbls(train_labels)),
        (TEST_IMAGES, imgs(test_labels.len())),
        (TEST_LABELS, lbls(test_labels)),
    ]
}

fn write_all(dir: &Path, files: &[(&str, Vec<u8>)]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn dataset_metadata() {
    let f = IdxDataset::FashionMnist;
    assert_eq!(f.name(), "fashion-mnist");
    assert_eq!(f.class_names()[0], "T-shirt/top");
    assert_eq!(f.class_names()[9], "Ankle boot");
    assert_eq!(IdxDataset::Mnist.class_names()[7], "7");
    for d in IdxDataset::ALL {
        assert_eq!(d.num_classes(), 10);
        let names: Vec<_> = d.files().iter().map(|f| f.0).collect();
        assert_eq!(
            names,
            [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
        );
        assert!(d.mirrors().iter().all(|m| m.ends_with('/')));
    }
    assert_eq!(Split::Test.images_file(), "t10k-images-idx3-ubyte.gz");
}

#[test]
fn data_dir_resolution_order() {
    let ds = IdxDataset::Mnist.name();
    let os = |s: &str| Some(OsString::from(s));
    let explicit = Path::new("/my/files");
    let got = resolve_from(ds, Some(explicit), os("/d"), os("/x"), os("/h"));
    assert_eq!(got, explicit);
    let got = resolve_from(ds, None, os("/d"), os("/x"), os("/h"));
    assert_eq!(got, Path::new("/d/mnist"));
    let got = resolve_from(ds, None, os(""), os("/x"), os("/h"));
    assert_eq!(got, Path::new("/x/siamese/mnist"));
    let got = resolve_from(
        IdxDataset::FashionMnist.name(),
        None,
        None,
        os("rel"),
        os("/h"),
    );
    assert_eq!(got, Path::new("/h/.cache/siamese/fashion-mnist"));
}

#[test]
fn real_fashion_mnist_splits() {
    let dir = test_data_root().join("fashion-mnist");
    let train = load_split(IdxDataset::FashionMnist, &dir, Split::Train).unwrap();
    assert_eq!((train.len(), train.rows, train.cols), (60_000, 28, 28));
    assert_eq!(train.images.len(), 60_000 * 28 * 28);
    let mut per_class = [0usize; 10];
    for &l in &train.labels {
        per_class[usize::from(l)] += 1;
    }
    assert_eq!(per_class, [6_000; 10]);
    // Label byte at offset 8 of the decompressed label file is 0x09
    // (checked with `zcat train-labels-idx1-ubyte.gz | xxd`).
    assert_eq!(train.labels[0], 9);
    assert_eq!(IdxDataset::FashionMnist.class_names()[9], "Ankle boot");
    // Pixel sum of the first image, computed independently with Python's gzip.
    let sum: u32 = train.image(0).iter().map(|&p| u32::from(p)).sum();
    assert_eq!(sum, 76_247);

    let test = load_split(IdxDataset::FashionMnist, &dir, Split::Test).unwrap();
    assert_eq!((test.len(), test.rows, test.cols), (10_000, 28, 28));
    assert_eq!(test.labels[..3], [9, 2, 1]);
    let sum: u32 = test.image(0).iter().map(|&p| u32::from(p)).sum();
    assert_eq!(sum, 33_456);
}

#[test]
fn real_mnist_train_split() {
    let dir = test_data_root().join("mnist");
    let train = load_split(IdxDataset::Mnist, &dir, Split::Train).unwrap();
    assert_eq!((train.len(), train.rows, train.cols), (60_000, 28, 28));
    assert_eq!(train.labels[..4], [5, 0, 4, 1]);
}

#[test]
fn real_files_match_published_md5s() {
    let root = test_data_root();
    let opts = DownloadOptions {
        allow_download: false,
        mirrors: None,
        verify_existing: true,
    };
    for ds in IdxDataset::ALL {
        ensure_files(ds, &root.join(ds.name()), &opts).unwrap();
    }
}

/// A folder holding only the real MNIST test split serves work on the test split (offline),
/// while the whole dataset is refused naming the missing training images; MNIST's test
/// images where Fashion-MNIST's are expected are refused, naming the file.
#[test]
fn test_split_alone_is_enough_for_the_test_split() {
    let root = test_data_root();
    let dir = tempfile::tempdir().unwrap();
    for name in [TEST_IMAGES, TEST_LABELS] {
        std::fs::copy(root.join("mnist").join(name), dir.path().join(name)).unwrap();
    }
    let offline = DownloadOptions {
        allow_download: false,
        mirrors: None,
        verify_existing: true,
    };
    ensure_split(IdxDataset::Mnist, dir.path(), Split::Test, &offline).unwrap();
    let test = load_split(IdxDataset::Mnist, dir.path(), Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    let err = ensure_files(IdxDataset::Mnist, dir.path(), &offline)
        .unwrap_err()
        .to_string();
    assert!(err.contains(TRAIN_IMAGES), "{err}");
    let err = ensure_split(IdxDataset::FashionMnist, dir.path(), Split::Test, &offline)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(TEST_IMAGES) && err.contains("bef4ecab320f06d8554ea6380940ec79"),
        "{err}"
    );
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = tiny_files(&[1, 2, 3], &[4]);
    files[1].1 = gzip(&idx_bytes(8, &[2], &[1, 2]));
    write_all(dir.path(), &files);
    match load_split(IdxDataset::Mnist, dir.path(), Split::Train) {
        Err(DataError::ImageLabelCountMismatch {
            images,
            labels,
            n_images,
            n_labels,
        }) => {
            assert_eq!(images, dir.path().join(TRAIN_IMAGES));
            assert_eq!(labels, dir.path().join(TRAIN_LABELS));
            assert_eq!((n_images, n_labels), (3, 2));
        }
        other => panic!("expected ImageLabelCountMismatch, got {other:?}"),
    }
}

#[test]
fn label_outside_classes() {
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &tiny_files(&[0, 9], &[3, 10, 2]));
    assert!(load_split(IdxDataset::FashionMnist, dir.path(), Split::Train).is_ok());
    match load_split(IdxDataset::FashionMnist, dir.path(), Split::Test) {
        Err(DataError::LabelOutOfRange {
            path,
            index,
            label,
            num_classes,
        }) => {
            assert_eq!(path, dir.path().join(TEST_LABELS));
            assert_eq!((index, label, num_classes), (1, 10, 10));
        }
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
}

#[test]
fn wrong_rank_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = tiny_files(&[1, 2], &[3]);
    files[1].1 = files[0].1.clone(); // images saved under the labels name
    write_all(dir.path(), &files);
    match load_split(IdxDataset::Mnist, dir.path(), Split::Train) {
        Err(DataError::BadMagic { path, found, .. }) => {
            assert_eq!((path, found), (dir.path().join(TRAIN_LABELS), IMAGES_MAGIC));
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
    std::fs::remove_file(dir.path().join(TEST_IMAGES)).unwrap();
    match load_split(IdxDataset::Mnist, dir.path(), Split::Test) {
        Err(DataError::Missing { dir: d, file, .. }) => {
            assert_eq!((d.as_path(), file.as_str()), (dir.path(), TEST_IMAGES));
        }
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[test]
fn download_lands_verified_and_loads() {
    let files = tiny_files(&[7, 0, 3, 9], &[5, 5]);
    let table: Vec<(&str, String)> = files.iter().map(|(n, b)| (*n, md5_hex(b))).collect();
    let table: Vec<(&str, &str)> = table.iter().map(|(n, m)| (*n, m.as_str())).collect();
    let routes = files
        .iter()
        .map(|(n, b)| (format!("/ds/{n}"), 200, b.clone()))
        .collect();
    let (base, server) = serve(routes, 4);
    let opts = DownloadOptions {
        mirrors: Some(vec![format!("{base}/ds/")]),
        ..DownloadOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("fresh"); // created on demand
    ensure_files_with(&target, &table, &[], &opts).unwrap();
    assert_eq!(server.join().unwrap().len(), 4);
    let mut present: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    let mut want: Vec<_> = files.iter().map(|f| f.0.to_string()).collect();
    want.sort();
    assert_eq!(present, want, "no temporary files may remain");
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(target.join(name)).unwrap(), bytes);
    }
    let train = load_split(IdxDataset::Mnist, &target, Split::Train).unwrap();
    assert_eq!((train.len(), train.rows, train.cols), (4, 3, 2));
    assert_eq!(train.labels, [7, 0, 3, 9]);
    assert_eq!(train.image(1), [222, 3, 40, 77, 114, 151]);
    // Everything present now: no request is made (the server has exited).
    let offline = DownloadOptions {
        allow_download: false,
        verify_existing: true,
        ..opts
    };
    ensure_files_with(&target, &table, &[], &offline).unwrap();
}
