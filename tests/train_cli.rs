//! `siamese train` refusing what it must refuse, as a user meets it on the command line: bad
//! settings, bad data, a diverging run, and `--overwrite` on what is not a run.

mod common;

use common::{data_root, http, start_server, stop_server};

use std::path::Path;
use std::process::{Command, Output};

fn siamese(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siamese"))
        .args(args)
        .arg("--quiet")
        .current_dir(dir)
        .env("SIAMESE_DATA", data_root())
        .output()
        .unwrap()
}

fn expect_error(dir: &Path, args: &[&str], needle: &str) -> String {
    let o = siamese(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

/// An IDX file (raw, not compressed: the reader tells them apart by content).
fn idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn overwrite_never_deletes_what_is_not_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.txt"), "years of work").unwrap();
    // A bad setting is refused before anything is touched.
    expect_error(
        dir.path(),
        &["train", "--out", "precious", "--overwrite", "--epochs", "0"],
        "--epochs must be at least 1",
    );
    assert!(precious.join("thesis.txt").is_file());
    // A folder without a run is never deleted.
    expect_error(
        dir.path(),
        &[
            "train",
            "--out",
            "precious",
            "--overwrite",
            "--limit",
            "20",
            "--epochs",
            "1",
        ],
        "is not a run folder",
    );
    assert!(precious.join("thesis.txt").is_file());
    // A run replaced by one that fails on its data comes back untouched.
    let o = siamese(
        dir.path(),
        &["train", "--out", "run", "--limit", "20", "--epochs", "1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let weights = std::fs::read(dir.path().join("run/model.bpk")).unwrap();
    let err = expect_error(
        dir.path(),
        &[
            "train",
            "--out",
            "run",
            "--overwrite",
            "--classes",
            "0,1,10",
            "--limit",
            "20",
        ],
        "class 10 does not exist",
    );
    assert!(err.contains("left as it was"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("run/model.bpk")).unwrap(),
        weights
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("replaced"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn failed_runs_leave_no_folders_and_bad_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let fashion = data_root().join("fashion-mnist");
    let fashion = fashion.to_str().unwrap();
    expect_error(
        dir.path(),
        &[
            "train",
            "--data-dir",
            fashion,
            "--classes",
            "0,99",
            "--limit",
            "20",
        ],
        "class 99 does not exist",
    );
    assert!(!dir.path().join("runs").join("fashion-mnist-seed0").exists());
    expect_error(
        dir.path(),
        &["train", "--lr", "-1"],
        "--lr must be a positive number",
    );
    expect_error(dir.path(), &["train", "--threshold", "nan"], "--threshold");
    expect_error(
        dir.path(),
        &["train", "--threads", "100000"],
        "more than 4 per core",
    );
    expect_error(
        dir.path(),
        &["train", "--arch", "triplet", "--margin", "1.5"],
        "can never be met",
    );
    expect_error(
        dir.path(),
        &["train", "--mining", "batch-hard"],
        "--arch triplet",
    );
    // The data root instead of the dataset's folder.
    expect_error(
        dir.path(),
        &[
            "train",
            "--data-dir",
            data_root().to_str().unwrap(),
            "--no-download",
        ],
        "names the dataset's own folder",
    );
    // Fashion-MNIST's files presented as MNIST.
    expect_error(
        dir.path(),
        &[
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            fashion,
            "--limit",
            "20",
        ],
        "is fashion-mnist's file",
    );
    assert!(
        !dir.path().join("runs").exists()
            || std::fs::read_dir(dir.path().join("runs"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn images_of_another_size_are_refused_not_crashed_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("odd");
    std::fs::create_dir(&data).unwrap();
    // 100 images of 14 x 56 (as many bytes as 28 x 28), labels 0..9 in turn.
    let n = 100u32;
    idx(
        &data.join("train-images-idx3-ubyte.gz"),
        &[n, 14, 56],
        &vec![7u8; (n * 14 * 56) as usize],
    );
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    idx(&data.join("train-labels-idx1-ubyte.gz"), &[n], &labels);
    idx(
        &data.join("t10k-images-idx3-ubyte.gz"),
        &[n, 14, 56],
        &vec![7u8; (n * 14 * 56) as usize],
    );
    idx(&data.join("t10k-labels-idx1-ubyte.gz"), &[n], &labels);
    expect_error(
        dir.path(),
        &[
            "train",
            "--data-dir",
            data.to_str().unwrap(),
            "--no-download",
            "--epochs",
            "1",
        ],
        "the images are 14x56; the model takes 28x28",
    );
}

#[test]
fn a_diverging_run_stops_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = expect_error(
        dir.path(),
        &[
            "train", "--lr", "1e10", "--limit", "20", "--epochs", "2", "--out", "r",
        ],
        "training diverged",
    );
    assert!(err.contains("smaller --lr"), "{err}");
    // No model was written that could give verdicts.
    assert!(!dir.path().join("r").join("model.json").exists());
}

#[test]
fn a_run_is_evaluated_from_the_data_it_was_trained_on_without_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let o = siamese(
        dir.path(),
        &["train", "--limit", "60", "--epochs", "1", "--out", "r"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // No SIAMESE_DATA, and a home whose cache holds nothing: the folder model.json recorded
    // is used.
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let without_data = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_siamese"))
            .args(args)
            .arg("--no-download")
            .current_dir(dir.path())
            .env_remove("SIAMESE_DATA")
            .env_remove("XDG_CACHE_HOME")
            .env("HOME", &home)
            .output()
            .unwrap()
    };
    let o = without_data(&[
        "evaluate",
        "--model",
        "r",
        "--pairs",
        "test",
        "--no-figures",
        "--quiet",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("pairs 11988"), "{out}");
    // compare and embed find the run's dataset splits the same way.
    let model = ["--model", "r"];
    let compare = [
        &["compare"][..],
        &model,
        &["fashion-mnist:test#0", "fashion-mnist:test#1"],
    ];
    let embed = [
        &["embed"][..],
        &model,
        &["fashion-mnist:test#2", "--output", "e.csv"],
    ];
    for args in [compare.concat(), embed.concat()] {
        let o = without_data(&args);
        // compare exits 0 (same) or 1 (different); 2 would be an error.
        assert!(
            matches!(o.status.code(), Some(0 | 1)) && !o.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let rows = std::fs::read_to_string(dir.path().join("e.csv")).unwrap();
    assert!(rows.contains("fashion-mnist:test#2"), "{rows}");
    // A run stopped before its last epoch (here: one asked for a second epoch afterwards)
    // resumes from the folder its checkpoint recorded.
    let config_path = dir.path().join("r/config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert!(config["data_dir"].is_null());
    config["epochs"] = 2.into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    let o = without_data(&["train", "--resume", "r", "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/metrics.json")).unwrap())
            .unwrap();
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 2);
}

#[test]
fn a_two_channel_model_compares_and_evaluates_but_refuses_to_embed() {
    let dir = tempfile::tempdir().unwrap();
    let o = siamese(
        dir.path(),
        &[
            "train",
            "--arch",
            "two-channel",
            "--limit",
            "60",
            "--epochs",
            "1",
            "--out",
            "tc",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    expect_error(
        dir.path(),
        &["embed", "--model", "tc", "fashion-mnist:test#0"],
        "a 2-channel network judges pairs",
    );
    let o = siamese(
        dir.path(),
        &[
            "compare",
            "--model",
            "tc",
            "fashion-mnist:test#0",
            "fashion-mnist:test#1",
            "--json",
        ],
    );
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = v["distance"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&d),
        "1 - p(same) is a probability's complement: {d}"
    );
    assert_eq!(o.status.code(), Some(if d < 0.5 { 0 } else { 1 }));
    let o = siamese(
        dir.path(),
        &[
            "evaluate",
            "--model",
            "tc",
            "--one-shot",
            "4",
            "--episodes",
            "50",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["one_shot"][0]["result"]["episodes"], 50);
}

#[test]
fn omniglot_trains_and_is_tested_one_shot_within_alphabets() {
    let dir = tempfile::tempdir().unwrap();
    // 10 drawings per character (8 to train, 2 to test), one epoch: the path, not a score.
    let o = siamese(
        dir.path(),
        &[
            "train",
            "--dataset",
            "omniglot",
            "--limit",
            "10",
            "--epochs",
            "1",
            "--out",
            "om",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = siamese(
        dir.path(),
        &[
            "evaluate",
            "--model",
            "om",
            "--one-shot",
            "20",
            "--one-shot-classes",
            "alphabet",
            "--episodes",
            "50",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["one_shot"][0]["result"];
    assert_eq!(
        (r["ways"].as_u64(), r["episodes"].as_u64()),
        (Some(20), Some(50))
    );
    assert_eq!(v["one_shot"][0]["classes"].as_array().unwrap().len(), 659);
    // Omniglot has no "test" split of the trained characters.
    expect_error(
        dir.path(),
        &["evaluate", "--model", "om", "--pairs", "test"],
        "--pairs unseen",
    );
    // So "all" means the two sets it has.
    let o = siamese(
        dir.path(),
        &[
            "evaluate",
            "--model",
            "om",
            "--pairs",
            "all",
            "--no-figures",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = all["pair_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["seed-test", "unseen"]);
    expect_error(
        dir.path(),
        &[
            "evaluate",
            "--model",
            "om",
            "--one-shot",
            "60",
            "--one-shot-classes",
            "alphabet",
        ],
        "largest has 47",
    );
    // Its characters can be embedded and compared by name: image 25 of the evaluation set
    // is the second character's sixth drawing (20 drawings a character, in order).
    let o = siamese(
        dir.path(),
        &[
            "embed",
            "--model",
            "om",
            "omniglot:evaluation#25",
            "-o",
            "-",
            "--format",
            "jsonl",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let row: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(row["source"], "omniglot:evaluation#25");
    assert_eq!(row["label"], v["one_shot"][0]["classes"][1]);
    assert_eq!(row["embedding"].as_array().unwrap().len(), 128);
    let o = siamese(
        dir.path(),
        &[
            "compare",
            "--model",
            "om",
            "omniglot:background#0",
            "omniglot:background#0",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "an image is the same as itself");
}

#[test]
fn a_pseudo_siamese_model_matches_recordings_with_images() {
    let dir = tempfile::tempdir().unwrap();
    let o = siamese(
        dir.path(),
        &[
            "train", "--arch", "pseudo", "--limit", "20", "--epochs", "1", "--out", "ps",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = siamese(
        dir.path(),
        &[
            "evaluate",
            "--model",
            "ps",
            "--pairs",
            "test,unseen",
            "--one-shot",
            "10",
            "--one-shot-classes",
            "unseen",
            "--episodes",
            "40",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sets = v["pair_sets"].as_array().unwrap();
    // Seen speakers: 4 x 10 digits x 5 takes; unseen: 2 x 10 x 50; 10 partners each.
    assert_eq!(sets[0]["pairs"], 2000);
    assert_eq!(sets[1]["pairs"], 10_000);
    assert_eq!(v["one_shot"][0]["result"]["ways"], 10);
    // A recording against an image.
    let wav = data_root().join("fsdd/recordings/3_theo_7.wav");
    let o = siamese(
        dir.path(),
        &[
            "compare",
            "--model",
            "ps",
            wav.to_str().unwrap(),
            "mnist:test#0",
            "--json",
        ],
    );
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let distance = v["distance"].as_f64().unwrap();
    assert!(distance >= 0.0);
    // embed puts the recording (through its branch) and the image (through the other) in one
    // space: their distance there is the one compare judged.
    let o = siamese(
        dir.path(),
        &[
            "embed",
            "--model",
            "ps",
            "mnist:test#0",
            wav.to_str().unwrap(),
            "--output",
            "e.jsonl",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("e.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    // Recordings come first; a file given directly has no folder label.
    assert_eq!(rows[0]["label"], "");
    assert!(
        rows[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("3_theo_7.wav")
    );
    assert_eq!(rows[1]["source"], "mnist:test#0");
    let e = |i: usize| -> Vec<f64> {
        rows[i]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (e(0), e(1));
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(
        (d - distance).abs() < 1e-4,
        "embed {d} against compare {distance}"
    );
    // The image may come first.
    let o = siamese(
        dir.path(),
        &[
            "compare",
            "--model",
            "ps",
            "mnist:test#0",
            wav.to_str().unwrap(),
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["distance"].as_f64().unwrap(), distance);
    // Without SIAMESE_DATA or a cache, MNIST is found beside the FSDD folder training read.
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_siamese"))
        .args(["compare", "--model", "ps", "--no-download", "--json"])
        .args([wav.to_str().unwrap(), "mnist:test#0"])
        .current_dir(dir.path())
        .env_remove("SIAMESE_DATA")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["distance"].as_f64().unwrap(), distance);
    // A pairs file of recordings and images, in either order on a line: both lines are the
    // pair compare judged (MNIST test image 0, saved as a PNG), so their mean distance is
    // compare's distance (to f32 rounding of the mean).
    let mnist = siamese::data::load_split(
        siamese::data::IdxDataset::Mnist,
        &data_root().join("mnist"),
        siamese::data::Split::Test,
    )
    .unwrap();
    image::GrayImage::from_raw(28, 28, mnist.image(0).to_vec())
        .unwrap()
        .save(dir.path().join("seven.png"))
        .unwrap();
    let w = wav.to_str().unwrap();
    std::fs::write(
        dir.path().join("pairs.csv"),
        format!("left,right,label\n{w},seven.png,1\nseven.png,{w},1\n{w},{w},0\n"),
    )
    .unwrap();
    expect_error(
        dir.path(),
        &["evaluate", "--model", "ps", "--pairs", "csv:pairs.csv"],
        "pair 3",
    );
    std::fs::write(
        dir.path().join("pairs.csv"),
        format!("left,right,label\n{w},seven.png,1\nseven.png,{w},1\n"),
    )
    .unwrap();
    let o = siamese(
        dir.path(),
        &[
            "evaluate",
            "--model",
            "ps",
            "--pairs",
            "csv:pairs.csv",
            "--no-figures",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let set = &report["pair_sets"][0];
    assert_eq!(set["pairs"], 2);
    let mean = set["mean_distance_same"].as_f64().unwrap();
    assert!((mean - distance).abs() < 1e-5, "{mean} against {distance}");
    // Searched, a recording is matched only with the index's images and an image only with
    // its recordings: the one pair, at compare's distance.
    let o = siamese(
        dir.path(),
        &[
            "index",
            "--model",
            "ps",
            w,
            "seven.png",
            "-o",
            "g.safetensors",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (query, other) in [(w, "seven.png"), ("seven.png", w)] {
        let o = siamese(
            dir.path(),
            &[
                "search",
                "--index",
                "g.safetensors",
                query,
                "-k",
                "5",
                "--json",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let found = v["queries"][0]["neighbours"].as_array().unwrap();
        assert_eq!(found.len(), 1, "{query}: {found:?}");
        let expected = std::fs::canonicalize(dir.path().join(other)).unwrap();
        assert_eq!(found[0]["source"].as_str(), expected.to_str());
        let d = found[0]["distance"].as_f64().unwrap();
        assert!((d - distance).abs() < 1e-4, "{d} against {distance}");
    }
    // The service takes the recording's and the image's bytes, in either order, to the same
    // distance; two images are refused.
    let (server, addr) = start_server(dir.path(), &["--model", "ps"]);
    let b64 = |p: &Path| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap())
    };
    let (clip, seven) = (b64(&wav), b64(&dir.path().join("seven.png")));
    for (a, b) in [(&clip, &seven), (&seven, &clip)] {
        let (status, answer) = http(
            &addr,
            "POST",
            "/compare",
            &format!(r#"{{"a": "{a}", "b": "{b}"}}"#),
        );
        assert_eq!(status, 200, "{answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let d = answer["distance"].as_f64().unwrap();
        assert!((d - distance).abs() < 1e-5, "{d} against {distance}");
    }
    let (status, answer) = http(
        &addr,
        "POST",
        "/compare",
        &format!(r#"{{"a": "{seven}", "b": "{seven}"}}"#),
    );
    assert_eq!(status, 400);
    assert!(
        answer.contains("compares a recording with an image"),
        "{answer}"
    );
    stop_server(server);
    expect_error(
        dir.path(),
        &["embed", "--model", "ps", "no-such.wav"],
        "no-such.wav: no such file",
    );
    // Two images do not fit this model.
    expect_error(
        dir.path(),
        &["compare", "--model", "ps", "mnist:test#0", "mnist:test#1"],
        "neither mnist:test#0 nor mnist:test#1 is a recording",
    );
    // A folder named like a recording is a folder: its image is embedded, not dropped.
    let folder = dir.path().join("takes.wav");
    std::fs::create_dir(&folder).unwrap();
    image::GrayImage::from_raw(28, 28, vec![128; 784])
        .unwrap()
        .save(folder.join("grey.png"))
        .unwrap();
    let o = siamese(
        dir.path(),
        &[
            "embed",
            "--model",
            "ps",
            "takes.wav",
            "-o",
            "-",
            "--format",
            "jsonl",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("grey.png"), "{}", rows[0]);
    expect_error(
        dir.path(),
        &["evaluate", "--model", "ps", "--pairs", "folder:."],
        "image-only pair sets",
    );
    // The dataset and the architecture go together.
    expect_error(
        dir.path(),
        &[
            "train",
            "--arch",
            "pseudo",
            "--dataset",
            "mnist",
            "--out",
            "x",
        ],
        "--arch pseudo goes with --dataset fsdd-mnist",
    );
    expect_error(
        dir.path(),
        &["train", "--audio-encoder", "lstm", "--out", "x"],
        "--audio-encoder applies to --arch pseudo",
    );
}

#[test]
fn an_image_folder_run_is_recorded_by_its_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    // Four classes of ten 28x28 images each, told apart by their brightness.
    for class in 0..4u8 {
        let folder = dir.path().join("shapes").join(format!("c{class}"));
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..10u8 {
            image::GrayImage::from_fn(28, 28, |x, y| {
                image::Luma([class * 60 + ((x + y) as u8 + i) % 8])
            })
            .save(folder.join(format!("{i}.png")))
            .unwrap();
        }
    }
    let o = siamese(
        dir.path(),
        &[
            "train",
            "--dataset",
            "folder:shapes",
            "--epochs",
            "1",
            "--out",
            "r",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/config.json")).unwrap())
            .unwrap();
    let absolute = std::fs::canonicalize(dir.path().join("shapes")).unwrap();
    assert_eq!(
        config["dataset"].as_str().unwrap(),
        format!("folder:{}", absolute.display())
    );
    // So it is scored from another working directory.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = siamese(
        &elsewhere,
        &[
            "evaluate",
            "--model",
            "../r",
            "--pairs",
            "all",
            "--no-figures",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("seed-test"));
}

/// Ctrl-C after an epoch has ended: exit status 130 and the command that goes on.
#[cfg(unix)]
#[test]
fn an_interrupted_run_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_siamese"))
        .args([
            "train", "--limit", "20", "--epochs", "100000", "--out", "r", "--quiet",
        ])
        .current_dir(dir.path())
        .env("SIAMESE_DATA", data_root())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let latest = dir.path().join("r/checkpoints/latest");
    let started = std::time::Instant::now();
    while !latest.is_file() {
        assert!(
            started.elapsed().as_secs() < 120,
            "no checkpoint after 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("siamese train --resume r"), "{err}");
    assert!(latest.is_file());
}
