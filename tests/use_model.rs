//! `evaluate`, `compare` and `embed` on a model trained here on a subset of the real
//! Fashion-MNIST, through the `siamese` binary as a user runs it.
//!
//! The data root is `$SIAMESE_DATA`, else `../shared/data` beside the repository.

mod common;

use common::{data_root, http, start_server, stop_server};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use burn::tensor::Device;
use siamese::data::{DownloadOptions, IdxDataset, Split, load_split};
use siamese::train::{Metrics, TrainConfig, TrainOptions, read_json, train};

fn fashion_dir() -> PathBuf {
    data_root().join("fashion-mnist")
}

/// One small model for every test of this file: 2 epochs on 300 images per class.
fn trained_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let config = TrainConfig {
            data_dir: Some(fashion_dir()),
            limit: Some(300),
            epochs: 2,
            ..TrainConfig::default()
        };
        let options = TrainOptions {
            out: run.clone(),
            resume: false,
            progress: false,
            download: DownloadOptions {
                allow_download: false,
                ..DownloadOptions::default()
            },
            device: Device::flex(),
            stop_after: None,
        };
        train(&config, &options).unwrap();
        (dir, run)
    })
    .1
}

/// A copy of the trained run that a test may change (calibration rewrites model.json).
fn run_copy(into: &Path) -> PathBuf {
    let dest = into.join("run-copy");
    std::fs::create_dir_all(&dest).unwrap();
    for name in ["model.json", "model.bpk", "config.json"] {
        std::fs::copy(trained_run().join(name), dest.join(name)).unwrap();
    }
    dest
}

fn siamese(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siamese"))
        .args(args)
        .env("SIAMESE_DATA", data_root())
        .arg("--quiet")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Save test image `i` of Fashion-MNIST as a grey PNG at `path`.
fn save_test_png(i: usize, path: &Path) -> Vec<u8> {
    let set = load_split(IdxDataset::FashionMnist, &fashion_dir(), Split::Test).unwrap();
    let pixels = set.image(i).to_vec();
    image::GrayImage::from_raw(28, 28, pixels.clone())
        .unwrap()
        .save(path)
        .unwrap();
    pixels
}

#[test]
fn evaluate_reproduces_the_training_figure_and_counts_the_pairs() {
    let run = trained_run();
    let metrics: Metrics = read_json(&run.join("metrics.json")).unwrap();
    let run_s = run.to_str().unwrap();
    let report = json(&siamese(&[
        "evaluate",
        "--model",
        run_s,
        "--pairs",
        "all",
        "--no-figures",
        "--json",
    ]));
    let sets = report["pair_sets"].as_array().unwrap();
    assert_eq!(sets.len(), 3);
    // seed-test: the very pairs training scored, in the same batches, so the same accuracy.
    assert_eq!(sets[0]["name"], "seed-test");
    assert_eq!(
        sets[0]["accuracy"].as_f64().unwrap(),
        metrics.test_accuracy.unwrap()
    );
    // limit 300: the last 20% (60) per class of 6 classes: 6 x 59 x 2 pairs.
    assert_eq!(sets[0]["pairs"], 6 * 59 * 2);
    // The official test split has 1,000 images per class: 6 x 999 x 2 and 4 x 999 x 2 pairs,
    // the counts of the anchors' extra evaluations (11,988 and 7,992; RESULTS.md).
    assert_eq!(sets[1]["pairs"], 11_988);
    assert_eq!(sets[2]["pairs"], 7_992);
    for set in sets {
        assert_eq!(set["same"], set["different"]);
        let c = &set["confusion"];
        let total: u64 = [
            "true_same",
            "false_same",
            "false_different",
            "true_different",
        ]
        .iter()
        .map(|k| c[k].as_u64().unwrap())
        .sum();
        assert_eq!(total, set["pairs"].as_u64().unwrap());
        let auc = set["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.5 && auc <= 1.0, "AUC {auc}");
        assert_eq!(set["threshold"]["value"], 0.5);
    }
}

#[test]
fn one_shot_refuses_more_ways_than_unseen_classes() {
    let run = trained_run().to_str().unwrap();
    let ok = json(&siamese(&[
        "evaluate",
        "--model",
        run,
        "--one-shot",
        "4",
        "--episodes",
        "200",
        "--json",
    ]));
    let shot = &ok["one_shot"][0]["result"];
    assert_eq!(shot["ways"], 4);
    assert_eq!(shot["episodes"], 200);
    assert_eq!(shot["chance"], 0.25);
    let o = siamese(&["evaluate", "--model", run, "--one-shot", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("5-way episodes need 5 classes") && stderr(&o).contains("only 4"),
        "{}",
        stderr(&o)
    );
    // A list with a failing entry still prints the figures of the others (the same 4-way
    // result as above: same evaluation seed), then fails naming the entry.
    let o = siamese(&[
        "evaluate",
        "--model",
        run,
        "--one-shot",
        "5,4",
        "--episodes",
        "200",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let partial: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(partial["one_shot"].as_array().unwrap().len(), 1);
    assert_eq!(
        partial["one_shot"][0]["result"],
        ok["one_shot"][0]["result"]
    );
    assert!(
        stderr(&o).contains("--one-shot 5: ") && stderr(&o).contains("only 4"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn calibration_uses_validation_pairs_and_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_copy(dir.path());
    let run_s = run.to_str().unwrap();
    let report = json(&siamese(&[
        "evaluate",
        "--model",
        run_s,
        "--calibrate",
        "accuracy",
        "--no-figures",
        "--json",
    ]));
    let cal = &report["calibration"];
    // limit 300: 6 x 239 x 2 training pairs, the last 25% of them (rounded up) validate.
    assert_eq!(cal["validation_pairs"], 717);
    let threshold = cal["threshold"]["value"].as_f64().unwrap();
    assert_eq!(report["pair_sets"][0]["threshold"]["value"], threshold);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).unwrap()).unwrap();
    assert_eq!(meta["threshold"].as_f64().unwrap(), threshold);
    assert!(
        meta["threshold_source"]
            .as_str()
            .unwrap()
            .contains("717 validation pairs")
    );
    let bad = siamese(&["evaluate", "--model", run_s, "--calibrate", "auc"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--calibrate"), "{}", stderr(&bad));
}

#[test]
fn compare_an_image_with_itself_and_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run().to_str().unwrap();
    // Test images 0 and 1 are an ankle boot (9) and a pullover (2).
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    save_test_png(0, &a);
    save_test_png(1, &b);
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    let same = siamese(&["compare", "--model", run, a_s, a_s, "--json"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let v = json(&same);
    // The distance floor: sqrt(1e-7).
    assert!(v["distance"].as_f64().unwrap() < 1e-3, "{v}");
    assert_eq!(v["same"], true);
    // A PNG of a dataset image and the dataset image itself are the same input.
    let o = siamese(&["compare", "--model", run, a_s, "fashion-mnist:test#0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let other = siamese(&["compare", "--model", run, a_s, b_s, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    let d = v["distance"].as_f64().unwrap();
    assert_eq!(other.status.code(), Some(if d < 0.5 { 0 } else { 1 }));
    assert_eq!(v["same"], d < 0.5);
    assert!(d > 1e-3);
}

#[test]
fn embed_writes_npy_with_sources_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run().to_str().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir_all(imgs.join("boots")).unwrap();
    save_test_png(0, &imgs.join("boots/first.png"));
    std::fs::write(imgs.join("notes.txt"), "not an image").unwrap();
    std::fs::write(imgs.join(".hidden.png"), "hidden").unwrap();
    let out = dir.path().join("e.npy");
    let o = siamese(&[
        "embed",
        "--model",
        run,
        imgs.to_str().unwrap(),
        "fashion-mnist:test#0",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[2, 128]);
    let values: Vec<f32> = npy.into_vec().unwrap();
    // The PNG and the dataset image give the same embedding.
    assert_eq!(values[..128], values[128..]);
    let rows = std::fs::read_to_string(dir.path().join("e.rows.tsv")).unwrap();
    let lines: Vec<&str> = rows.lines().collect();
    assert_eq!(lines[0], "row\tsource\tlabel");
    assert!(lines[1].ends_with("first.png\tboots"), "{}", lines[1]);
    assert_eq!(lines[2], "1\tfashion-mnist:test#0\tAnkle boot");
    assert_eq!(lines.len(), 3);

    let csv = siamese(&["embed", "--model", run, "fashion-mnist:test#3", "-o", "-"]);
    let text = stdout(&csv);
    let mut csv_lines = text.lines();
    assert!(csv_lines.next().unwrap().starts_with("source,label,e0,e1,"));
    let row = csv_lines.next().unwrap();
    assert_eq!(row.split(',').count(), 2 + 128);
    assert!(csv_lines.next().is_none());
}

#[test]
fn bad_inputs_get_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run().to_str().unwrap();
    let expect_error = |args: &[&str], needle: &str| {
        let o = siamese(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: expected {needle:?} in {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    };
    // Not a run folder.
    let empty = dir.path().to_str().unwrap();
    expect_error(&["evaluate", "--model", empty], "model.json is missing");
    std::fs::create_dir_all(dir.path().join("small")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    // Truncated weights.
    let broken = run_copy(dir.path());
    let weights = broken.join("model.bpk");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    expect_error(
        &["evaluate", "--model", broken.to_str().unwrap()],
        "model.bpk",
    );
    // An image that is not one.
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, "<html>not a png</html>").unwrap();
    let fake_s = fake.to_str().unwrap();
    expect_error(&["compare", "--model", run, fake_s, fake_s], "fake.png");
    // A missing input.
    expect_error(
        &["embed", "--model", run, "no/such/file.png"],
        "no/such/file.png: no such file",
    );
    // A recording, for a model of images.
    expect_error(
        &["embed", "--model", run, "clip.wav"],
        "clip.wav: a recording; only a pseudo-Siamese model",
    );
    expect_error(
        &[
            "compare",
            "--model",
            run,
            "clip.wav",
            "fashion-mnist:test#0",
        ],
        "clip.wav: a recording; only a pseudo-Siamese model",
    );
    // An index past the end.
    expect_error(
        &[
            "compare",
            "--model",
            run,
            "fashion-mnist:test#10000",
            "fashion-mnist:test#0",
        ],
        "no image 10000",
    );
    // A pairs file with a bad label.
    let pairs = dir.path().join("pairs.csv");
    let png = dir.path().join("x.png");
    save_test_png(2, &png);
    std::fs::write(&pairs, "x.png,x.png,1\nx.png,x.png,yes\n").unwrap();
    let spec = format!("csv:{}", pairs.display());
    expect_error(&["evaluate", "--model", run, "--pairs", &spec], "line 2");
    // A model.json whose input cannot feed the network.
    let small = run_copy(&dir.path().join("small"));
    let meta_path = small.join("model.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(
        &meta_path,
        meta.replacen("\"height\": 28", "\"height\": 5", 1),
    )
    .unwrap();
    expect_error(
        &["evaluate", "--model", small.to_str().unwrap()],
        "too small for the chapter-cnn encoder",
    );
    // Weights named outside the run folder.
    let outside = run_copy(&dir.path().join("outside"));
    let meta_path = outside.join("model.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(&meta_path, meta.replace("\"model.bpk\"", "\"/etc/passwd\"")).unwrap();
    expect_error(
        &["evaluate", "--model", outside.to_str().unwrap()],
        "must be a file name inside the run folder",
    );
    // Bad image numbers, and outputs that cannot be written or do not say their format.
    expect_error(
        &["compare", "--model", run, "fashion-mnist:test#abc", "x"],
        "not an image number",
    );
    let e_npy = dir.path().join("e.npy");
    expect_error(
        &[
            "embed",
            "--model",
            run,
            "fashion-mnist:test#0",
            "-o",
            e_npy.to_str().unwrap(),
            "--format",
            "csv",
        ],
        "does not match the output's extension",
    );
    let e_txt = dir.path().join("e.txt");
    expect_error(
        &[
            "embed",
            "--model",
            run,
            "fashion-mnist:test#0",
            "-o",
            e_txt.to_str().unwrap(),
        ],
        "cannot tell the format",
    );
    let nowhere = dir.path().join("no/such/dir/e.npy");
    expect_error(
        &[
            "embed",
            "--model",
            run,
            "fashion-mnist:test#0",
            "-o",
            nowhere.to_str().unwrap(),
        ],
        "does not exist",
    );
    expect_error(&["evaluate", "--model", "no/such/run"], "no such folder");
    // A pair set that does not exist.
    expect_error(
        &["evaluate", "--model", run, "--pairs", "tset"],
        "unknown pair set",
    );
}

#[test]
fn evaluate_a_pairs_file_in_either_label_convention() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run().to_str().unwrap();
    for (i, name) in ["a.png", "b.png", "c.png"].iter().enumerate() {
        save_test_png(i, &dir.path().join(name));
    }
    // Test images 0, 1, 2: ankle boot, pullover, trouser. Same pairs are image-with-itself.
    let same_first = dir.path().join("same.csv");
    std::fs::write(
        &same_first,
        "left,right,same\na.png,a.png,1\na.png,b.png,0\nb.png,c.png,0\nc.png,c.png,1\n",
    )
    .unwrap();
    let diff_first = dir.path().join("diff.csv");
    std::fs::write(
        &diff_first,
        "left,right,different\na.png,a.png,0\na.png,b.png,1\nb.png,c.png,1\nc.png,c.png,0\n",
    )
    .unwrap();
    let mut reports = Vec::new();
    for file in [&same_first, &diff_first] {
        let spec = format!("csv:{}", file.display());
        let r = json(&siamese(&[
            "evaluate",
            "--model",
            run,
            "--pairs",
            &spec,
            "--no-figures",
            "--json",
        ]));
        reports.push(r["pair_sets"][0].clone());
    }
    for r in &reports {
        assert_eq!(r["pairs"], 4);
        assert_eq!(r["same"], 2);
        // The two same pairs are at the distance floor, so they rank first: AUC 1.
        assert_eq!(r["roc_auc"], 1.0);
    }
    assert_eq!(reports[0]["confusion"], reports[1]["confusion"]);
}

#[test]
fn index_and_search_find_the_nearest_images() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run().to_str().unwrap();
    // A gallery of two classes: a/ holds test images 0 and 1, b/ test image 2.
    let gallery = dir.path().join("gallery");
    for (class, i) in [("a", 0), ("a", 1), ("b", 2)] {
        std::fs::create_dir_all(gallery.join(class)).unwrap();
        save_test_png(i, &gallery.join(class).join(format!("{i}.png")));
    }
    let index = dir.path().join("g.safetensors");
    let index_s = index.to_str().unwrap();
    let o = siamese(&[
        "index",
        "--model",
        run,
        gallery.to_str().unwrap(),
        "-o",
        index_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 embeddings of 128 values"),
        "{}",
        stdout(&o)
    );
    let query = gallery.join("a/0.png");
    let query_s = query.to_str().unwrap();
    // The query itself is in the gallery: it comes first, at distance 0 (up to the rounding
    // of embedding it in a batch of 3 against a batch of 1).
    let v = json(&siamese(&[
        "search", "--index", index_s, query_s, "-k", "3", "--json",
    ]));
    let found = v["queries"][0]["neighbours"].as_array().unwrap();
    assert_eq!(found.len(), 3);
    // Sources are stored by absolute path.
    let absolute = std::fs::canonicalize(&query).unwrap();
    assert_eq!(found[0]["source"].as_str(), absolute.to_str());
    assert!(
        found[0]["distance"].as_f64().unwrap() < 1e-5,
        "{}",
        found[0]
    );
    // Queries found in a class's sub-folder carry its label. With --skip-self each image finds
    // the other two, each at the distance compare gives: for a/0 and a/1 one of the two is of
    // their class (precision@2 1/2 whichever comes first), for b/2 neither (0).
    // (The gallery is named another way here: the query is still found to be itself.)
    let v = json(&siamese(&[
        "search",
        "--index",
        index_s,
        gallery.join(".").to_str().unwrap(),
        "-k",
        "2",
        "--skip-self",
        "--json",
    ]));
    let queries = v["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 3);
    let mut nearest_right = 0.0;
    for q in queries {
        let found = q["neighbours"].as_array().unwrap();
        assert_eq!(found.len(), 2);
        let itself = std::fs::canonicalize(q["source"].as_str().unwrap()).unwrap();
        assert!(
            found
                .iter()
                .all(|n| n["source"].as_str() != itself.to_str())
        );
        assert!(found[0]["distance"].as_f64() <= found[1]["distance"].as_f64());
        if found[0]["label"] == q["label"] {
            nearest_right += 1.0;
        }
        for n in found {
            // compare exits 0 (same) or 1 (different).
            let o = siamese(&[
                "compare",
                "--model",
                run,
                q["source"].as_str().unwrap(),
                n["source"].as_str().unwrap(),
                "--json",
            ]);
            assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
            let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let (d, c) = (
                n["distance"].as_f64().unwrap(),
                c["distance"].as_f64().unwrap(),
            );
            assert!((d - c).abs() < 1e-4, "search {d} against compare {c}");
        }
    }
    assert_eq!(v["labelled_queries"], 3);
    let precision = v["precision_at_k"].as_f64().unwrap();
    assert!((precision - 1.0 / 3.0).abs() < 1e-12, "{precision}");
    let accuracy = v["nearest_neighbour_accuracy"].as_f64().unwrap();
    assert!((accuracy - nearest_right / 3.0).abs() < 1e-12, "{accuracy}");

    // Only an index is replaced: another file in the way is left alone, and stdout is no
    // place for one.
    let o = siamese(&["index", "--model", run, query_s, "-o", query_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not a siamese index"),
        "{}",
        stderr(&o)
    );
    assert!(image::open(&query).is_ok(), "the image is untouched");
    let o = siamese(&["index", "--model", run, query_s, "-o", "-"]);
    assert_eq!(o.status.code(), Some(2));
    // An index made with other weights is refused, naming the remedy.
    let built = siamese::index::EmbeddingIndex::read(&index).unwrap();
    let mut other = built.model().clone();
    other.weights_md5 = "00000000000000000000000000000000".into();
    let rows = built.len();
    let changed = siamese::index::EmbeddingIndex::new(
        other,
        built.dim(),
        (0..rows).flat_map(|r| built.vector(r).to_vec()).collect(),
        (0..rows).map(|r| built.source(r).to_string()).collect(),
        (0..rows).map(|r| built.label(r).to_string()).collect(),
    )
    .unwrap();
    let stale = dir.path().join("stale.safetensors");
    changed.write(&stale).unwrap();
    let o = siamese(&["search", "--index", stale.to_str().unwrap(), query_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("rebuild the index"), "{}", stderr(&o));
    // Not an index at all.
    let o = siamese(&["search", "--index", query_s, query_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("0.png: not a siamese index file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn serve_answers_compare_embed_and_search_over_http() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run().to_str().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    save_test_png(0, &a);
    save_test_png(1, &b);
    let index = dir.path().join("g.safetensors");
    let o = siamese(&[
        "index",
        "--model",
        run,
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        index.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (server, addr) = start_server(
        Path::new("."),
        &["--model", run, "--index", index.to_str().unwrap()],
    );
    let b64 =
        |p: &Path| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    let value = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };

    let (status, health) = http(&addr, "GET", "/health", "");
    assert_eq!(status, 200);
    assert_eq!(value(&health)["index_rows"], 2);
    // The distance compare gives on the command line.
    let cli = siamese(&[
        "compare",
        "--model",
        run,
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
    ]);
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let request = format!(r#"{{"a": "{}", "b": "{}"}}"#, b64(&a), b64(&b));
    let (status, answer) = http(&addr, "POST", "/compare", &request);
    assert_eq!(status, 200, "{answer}");
    let answer = value(&answer);
    assert_eq!(answer["distance"], cli["distance"]);
    assert_eq!(answer["same"], cli["same"]);
    // Two embeddings in one batch, as far apart as compare says.
    let request = format!(r#"{{"inputs": ["{}", "{}"]}}"#, b64(&a), b64(&b));
    let (status, answer) = http(&addr, "POST", "/embed", &request);
    assert_eq!(status, 200, "{answer}");
    let rows: Vec<Vec<f64>> = value(&answer)["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!((rows.len(), rows[0].len()), (2, 128));
    let apart: f64 = rows[0]
        .iter()
        .zip(&rows[1])
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let cli_distance = cli["distance"].as_f64().unwrap();
    assert!(
        (apart - cli_distance).abs() < 1e-4,
        "{apart} against {cli_distance}"
    );
    // Its own image is the nearest row of the index.
    let request = format!(r#"{{"input": "{}", "k": 1}}"#, b64(&b));
    let (status, answer) = http(&addr, "POST", "/search", &request);
    assert_eq!(status, 200, "{answer}");
    let nearest = &value(&answer)["neighbours"][0];
    assert_eq!(nearest["row"], 1);
    assert!(nearest["distance"].as_f64().unwrap() < 1e-5, "{nearest}");
    // Bad requests: 400 with the reason as JSON, naming the field.
    let (status, answer) = http(&addr, "POST", "/compare", r#"{"a": "%%", "b": "x"}"#);
    assert_eq!(status, 400);
    assert!(
        value(&answer)["error"]
            .as_str()
            .unwrap()
            .starts_with("a: not base64")
    );
    let (status, answer) = http(&addr, "POST", "/search", "not json");
    assert_eq!(status, 400);
    assert!(
        value(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("expected")
    );
    // Unknown routes and wrong methods answer in JSON too.
    let (status, answer) = http(&addr, "GET", "/nowhere", "");
    assert_eq!(status, 404);
    assert!(
        value(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("/compare")
    );
    let (status, answer) = http(&addr, "GET", "/compare", "");
    assert_eq!(status, 405);
    assert!(value(&answer)["error"].as_str().unwrap().contains("POST"));
    // Ctrl-C stops it cleanly.
    stop_server(server);
}
