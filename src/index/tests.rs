use super::*;

fn model() -> IndexedModel {
    IndexedModel {
        run: PathBuf::from("/runs/r"),
        weights_md5: "0123456789abcdef0123456789abcdef".into(),
    }
}

/// Five points of the plane: (0,0), (3,4), (1,0), (0,1), (6,8).
fn plane() -> EmbeddingIndex {
    let names = |p: &str| (0..5).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    EmbeddingIndex::new(
        model(),
        2,
        vec![0.0, 0.0, 3.0, 4.0, 1.0, 0.0, 0.0, 1.0, 6.0, 8.0],
        names("p"),
        names("c"),
    )
    .unwrap()
}

fn rows_and_distances(found: &[Neighbour]) -> Vec<(usize, f32)> {
    found.iter().map(|n| (n.row, n.distance)).collect()
}

#[test]
fn nearest_rows_by_hand() {
    let index = plane();
    // From the origin: 0, 5, 1, 1, 10; the two at 1 in row order.
    let found = index.nearest(&[0.0, 0.0], 3).unwrap();
    assert_eq!(rows_and_distances(&found), [(0, 0.0), (2, 1.0), (3, 1.0)]);
    // More than it holds: all five, nearest first.
    let found = index.nearest(&[0.0, 0.0], 10).unwrap();
    assert_eq!(
        rows_and_distances(&found),
        [(0, 0.0), (2, 1.0), (3, 1.0), (1, 5.0), (4, 10.0)]
    );
    // From (3,0): 3, 4, 2, sqrt(10), sqrt(73).
    let found = index.nearest(&[3.0, 0.0], 5).unwrap();
    let rows: Vec<usize> = found.iter().map(|n| n.row).collect();
    assert_eq!(rows, [2, 0, 3, 1, 4]);
    assert!((found[2].distance - 10f32.sqrt()).abs() < 1e-6);
    assert!((found[4].distance - 73f32.sqrt()).abs() < 1e-5);
    assert!(index.nearest(&[0.0, 0.0], 0).unwrap().is_empty());
    // Many queries at once give the same answers.
    let each = index.nearest_each(&[0.0, 0.0, 3.0, 0.0], 5).unwrap();
    assert_eq!(each[0], index.nearest(&[0.0, 0.0], 5).unwrap());
    assert_eq!(each[1], found);
}

#[test]
fn parts_that_do_not_fit_are_refused() {
    let index = plane();
    let err = index.nearest(&[0.0, 0.0, 0.0], 1).unwrap_err().to_string();
    assert!(err.contains("3 values") && err.contains("2-value"), "{err}");
    let one = || vec!["a".to_string()];
    let err = EmbeddingIndex::new(model(), 2, vec![1.0, 2.0, 3.0], one(), one())
        .unwrap_err()
        .to_string();
    assert!(err.contains("rows of 2"), "{err}");
    let err = EmbeddingIndex::new(model(), 1, vec![1.0, 2.0], one(), one())
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 embeddings but 1 sources"), "{err}");
    let err = EmbeddingIndex::new(model(), 2, vec![1.0, f32::NAN], one(), one())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("embedding of a") && err.contains("NaN"),
        "{err}"
    );
}

#[test]
fn file_round_trip_and_bad_files() {
    let index = plane();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gallery.index");
    index.write(&path).unwrap();
    let back = EmbeddingIndex::read(&path).unwrap();
    assert_eq!(back, index);
    assert_eq!((back.source(4), back.label(4)), ("p4", "c4"));
    assert_eq!(back.vector(1), [3.0, 4.0]);

    // Cut short, not a safetensors file, another format tag: each named as not an index.
    let bytes = std::fs::read(&path).unwrap();
    for (name, content) in [
        ("cut.index", bytes[..bytes.len() - 3].to_vec()),
        ("text.index", b"hello".to_vec()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let err = EmbeddingIndex::read(&p).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("not a siamese index file"),
            "{err}"
        );
    }
    let view = TensorView::new(Dtype::F32, vec![1, 1], &[0, 0, 0, 0]).unwrap();
    let other = safetensors::tensor::serialize(
        [(TENSOR, view)],
        Some(HashMap::from([("format".to_string(), "x/9".to_string())])),
    )
    .unwrap();
    let err = EmbeddingIndex::from_bytes(Path::new("o.index"), &other)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"x/9\""), "{err}");
    let err = EmbeddingIndex::read(&dir.path().join("none.index"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("none.index"), "{err}");
}

#[test]
fn distances_over_simd_lanes_and_the_tail() {
    // 10 values: one lane group of 8 and a tail of 2. |(1..=10) - 0|^2 = 385, and
    // |(1..=10) - (1..=10 shifted by 0.5)|^2 = 10 * 0.25 = 2.5.
    let a: Vec<f32> = (1..=10).map(|v| v as f32).collect();
    let b: Vec<f32> = a.iter().map(|v| v + 0.5).collect();
    assert_eq!(squared_distance(&a, &[0.0; 10]), 385.0);
    assert_eq!(squared_distance(&a, &b), 2.5);
    let one = |s: &str| vec![s.to_string()];
    let index = EmbeddingIndex::new(model(), 10, vec![0.0; 10], one("zero"), one("")).unwrap();
    let found = index.nearest(&a, 1).unwrap();
    assert_eq!(found[0].distance, 385f32.sqrt());
}

#[test]
fn searching_part_of_the_rows_and_recordings_kept_in_the_file() {
    // The first two rows are recordings; from the origin, among rows 2..5: 1, 1, 10.
    let index = plane().with_recordings(2).unwrap();
    let found = index.nearest_within(&[0.0, 0.0], 5, 2..5).unwrap();
    assert_eq!(rows_and_distances(&found), [(2, 1.0), (3, 1.0), (4, 10.0)]);
    let found = index.nearest_within(&[0.0, 0.0], 5, 0..2).unwrap();
    assert_eq!(rows_and_distances(&found), [(0, 0.0), (1, 5.0)]);
    assert!(index.nearest_within(&[0.0, 0.0], 1, 3..6).is_err());
    assert!(plane().with_recordings(6).is_err());
    let back =
        EmbeddingIndex::from_bytes(Path::new("r.index"), &index.to_bytes().unwrap()).unwrap();
    assert_eq!(back.recordings(), 2);
    assert_eq!(back, index);
    // Files are stored by absolute path, dataset names as they are.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.png");
    std::fs::write(&file, b"").unwrap();
    let absolute = std::fs::canonicalize(&file).unwrap();
    let dotted = dir.path().join(".").join("x.png");
    assert_eq!(
        canonical_source(dotted.to_str().unwrap()),
        absolute.to_str().unwrap()
    );
    assert_eq!(
        canonical_source(&format!("{}#3", dotted.display())),
        format!("{}#3", absolute.display())
    );
    assert_eq!(
        canonical_source("fashion-mnist:test#3"),
        "fashion-mnist:test#3"
    );
}

#[test]
fn rows_a_query_may_be_matched_with() {
    let index = plane().with_recordings(2).unwrap();
    assert_eq!(index.rows_for(false, true), 0..5);
    assert_eq!(index.rows_for(false, false), 0..5);
    assert_eq!(index.rows_for(true, true), 2..5);
    assert_eq!(index.rows_for(true, false), 0..2);
}
