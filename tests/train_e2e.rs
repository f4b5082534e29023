//! End-to-end training on a subset of the real Fashion-MNIST: learning, determinism, resume.
//!
//! The data root is `$SIAMESE_DATA`, else `../shared/data` beside the repository.

mod common;

use common::data_root;

use std::path::PathBuf;

use burn::tensor::Device;
use siamese::data::DownloadOptions;
use siamese::model::SiameseNet;
use siamese::rng::{Stream, stream_rng};
use siamese::train::{
    MODEL_WEIGHTS, Metrics, TrainConfig, TrainOptions, load_weights, read_json, train,
};

fn config(limit: usize, epochs: usize) -> TrainConfig {
    TrainConfig {
        data_dir: Some(data_root().join("fashion-mnist")),
        limit: Some(limit),
        epochs,
        ..TrainConfig::default()
    }
}

fn options(out: PathBuf) -> TrainOptions {
    TrainOptions {
        out,
        resume: false,
        progress: false,
        download: DownloadOptions {
            allow_download: false,
            ..DownloadOptions::default()
        },
        device: Device::flex(),
        stop_after: None,
    }
}

fn weights(run: &std::path::Path, config: &TrainConfig) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let device = Device::flex();
    let blank = SiameseNet::init(&config.model, &device, &mut stream_rng(999, Stream::Init));
    load_weights(blank, &run.join(MODEL_WEIGHTS))
        .unwrap()
        .parameters()
}

/// Evaluation settings of these tests: no download, evaluation seed 0, training's batch size.
fn eval_options() -> siamese::infer::EvalOptions {
    siamese::infer::EvalOptions {
        data: siamese::infer::DataOptions {
            data_dir: None,
            download: DownloadOptions {
                allow_download: false,
                ..DownloadOptions::default()
            },
            seed: 0,
            invert: false,
            run_folder: None,
        },
        batch: 512,
        figures: None,
    }
}

#[test]
fn short_training_learns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(400, 4);
    let outcome = train(&cfg, &options(dir.path().join("run"))).unwrap();
    let m = &outcome.metrics;
    // 6 classes x (320 - 1) x 2 training pairs; 75% of them fit, 25% validate.
    assert_eq!(m.train_pairs + m.validation_pairs, 6 * 319 * 2);
    assert_eq!(m.train_pairs, 2871);
    assert_eq!(m.test_pairs, 6 * 79 * 2);
    let first = m.epochs.first().unwrap().loss;
    let last = m.epochs.last().unwrap().loss;
    assert!(last < first * 0.8, "loss did not fall: {first} -> {last}");
    let acc = m.test_accuracy.unwrap();
    // Chance is 0.5 (balanced pairs); a few epochs on 400 images per class reach well above.
    assert!(
        acc > 0.75,
        "test accuracy {acc} is not clearly above chance"
    );
    // Everything the run folder must hold.
    for name in [
        "model.bpk",
        "model.json",
        "config.json",
        "metrics.json",
        "loss.png",
        "sample.png",
    ] {
        assert!(outcome.run.file(name).is_file(), "{name} missing");
    }
    let on_disk: Metrics = read_json(&outcome.run.file("metrics.json")).unwrap();
    assert_eq!(on_disk.epochs.len(), 4);
    assert_eq!(on_disk.test_accuracy, m.test_accuracy);
}

#[test]
fn same_seed_same_weights_and_resume_matches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(60, 3);
    // Two uninterrupted runs.
    let a = train(&cfg, &options(dir.path().join("a"))).unwrap();
    let b = train(&cfg, &options(dir.path().join("b"))).unwrap();
    assert_eq!(
        a.metrics
            .epochs
            .iter()
            .map(|e| e.loss.to_bits())
            .collect::<Vec<_>>(),
        b.metrics
            .epochs
            .iter()
            .map(|e| e.loss.to_bits())
            .collect::<Vec<_>>()
    );
    let wa = weights(&dir.path().join("a"), &cfg);
    assert_eq!(
        wa,
        weights(&dir.path().join("b"), &cfg),
        "same seed gave different weights"
    );

    // An interrupted run: one epoch, stop, then resume to the end.
    let first_of = |out: std::path::PathBuf| {
        let mut first = options(out);
        first.stop_after = Some(1);
        first
    };
    let partial = train(&cfg, &first_of(dir.path().join("c"))).unwrap();
    assert!(!partial.finished);
    assert!(!dir.path().join("c").join(MODEL_WEIGHTS).exists());
    let mut resume = options(dir.path().join("c"));
    resume.resume = true;
    let resumed = train(&cfg, &resume).unwrap();
    assert!(resumed.finished);
    assert_eq!(resumed.metrics.epochs.len(), 3);
    assert_eq!(
        wa,
        weights(&dir.path().join("c"), &cfg),
        "resumed run ended with other weights"
    );
    assert_eq!(resumed.metrics.test_accuracy, a.metrics.test_accuracy);

    // A run without validation figures (`val_loss` and `val_accuracy` null in its
    // checkpoints) resumes too.
    let bare = TrainConfig {
        validation_split: 0.0,
        epochs: 2,
        ..cfg.clone()
    };
    let partial = train(&bare, &first_of(dir.path().join("e"))).unwrap();
    assert!(!partial.finished && partial.metrics.epochs[0].val_loss.is_nan());
    let mut resume = options(dir.path().join("e"));
    resume.resume = true;
    let resumed = train(&bare, &resume).unwrap();
    assert!(resumed.finished);
    assert_eq!(resumed.metrics.epochs.len(), 2);

    // Another seed gives other weights.
    let other = TrainConfig {
        seed: 1,
        ..cfg.clone()
    };
    train(&other, &options(dir.path().join("d"))).unwrap();
    assert_ne!(wa, weights(&dir.path().join("d"), &other));
}

#[test]
fn distorted_training_is_reproducible_and_not_plain_training() {
    let dir = tempfile::tempdir().unwrap();
    let distorted = TrainConfig {
        distort: true,
        ..config(60, 1)
    };
    let run = |cfg: &TrainConfig, name: &str| {
        train(cfg, &options(dir.path().join(name))).unwrap();
        weights(&dir.path().join(name), cfg)
    };
    let a = run(&distorted, "a");
    assert_eq!(a, run(&distorted, "b"), "same seed, other distortions");
    assert_ne!(a, run(&config(60, 1), "c"), "--distort changed nothing");
}

#[test]
fn each_triplet_mode_learns() {
    use siamese::loss::triplet::Mining;
    use siamese::train::ModelMeta;
    let dir = tempfile::tempdir().unwrap();
    for mining in [
        None,
        Some(Mining::BatchAll),
        Some(Mining::BatchHard),
        Some(Mining::SemiHard),
    ] {
        let cfg = TrainConfig {
            data_dir: Some(data_root().join("fashion-mnist")),
            limit: Some(300),
            epochs: 3,
            ..TrainConfig::triplet(mining)
        };
        let name = format!("{mining:?}");
        let outcome = train(&cfg, &options(dir.path().join(&name))).unwrap();
        let m = &outcome.metrics;
        let (first, last) = (m.epochs[0].loss, m.epochs[2].loss);
        assert!(
            last < first * 0.95,
            "{name}: loss did not fall: {first} -> {last}"
        );
        // Validation loss (triplet loss on held-out triplets, plus the penalty) falls too.
        assert!(
            m.epochs[2].val_loss < m.epochs[0].val_loss,
            "{name}: {:?}",
            m.epochs
        );
        // Balanced pairs: chance is 0.5.
        let acc = m.test_accuracy.unwrap();
        assert!(
            acc > 0.75,
            "{name}: test accuracy {acc} is not clearly above chance"
        );
        let meta: ModelMeta = read_json(&outcome.run.file("model.json")).unwrap();
        assert_eq!(meta.model.architecture, "triplet");
        assert!(meta.model.normalize);
        assert!(
            meta.threshold_source.contains("validation pairs"),
            "{}",
            meta.threshold_source
        );
        assert!(meta.threshold > 0.0 && meta.threshold < 2f32.sqrt());
        // Online mining never met a batch without a valid triplet: P x K batches always hold
        // positives and negatives.
        assert!(m.epochs.iter().all(|e| e.empty_batches == 0));
    }
}

#[test]
fn two_channel_network_learns() {
    use siamese::train::ModelMeta;
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        data_dir: Some(data_root().join("fashion-mnist")),
        limit: Some(300),
        epochs: 3,
        ..TrainConfig::two_channel()
    };
    let outcome = train(&cfg, &options(dir.path().join("tc"))).unwrap();
    let m = &outcome.metrics;
    let (first, last) = (m.epochs[0].loss, m.epochs[2].loss);
    assert!(last < first * 0.8, "loss did not fall: {first} -> {last}");
    let acc = m.test_accuracy.unwrap();
    assert!(
        acc > 0.65,
        "test accuracy {acc} is not clearly above chance (0.5)"
    );
    let meta: ModelMeta = read_json(&outcome.run.file("model.json")).unwrap();
    assert_eq!(meta.model.architecture, "two-channel");
    assert_eq!(meta.model.distance, "1 - p(same)");
}

#[test]
fn other_encoders_learn_under_each_head() {
    use siamese::infer::{PairSource, TrainedModel, evaluate_pairs};
    use siamese::model::EncoderKind;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (TrainConfig::default(), EncoderKind::Mlp),
        (TrainConfig::default(), EncoderKind::DeepCnn),
        (TrainConfig::triplet(None), EncoderKind::DeepCnn),
        (TrainConfig::two_channel(), EncoderKind::Mlp),
    ];
    for (k, (base, encoder)) in cases.into_iter().enumerate() {
        let mut cfg = TrainConfig {
            data_dir: Some(data_root().join("fashion-mnist")),
            limit: Some(300),
            epochs: 3,
            ..base
        };
        cfg.model.encoder = encoder;
        let name = format!("{} on {}", cfg.arch.name(), encoder.name());
        let outcome = train(&cfg, &options(dir.path().join(k.to_string()))).unwrap();
        let m = &outcome.metrics;
        let (first, last) = (m.epochs[0].loss, m.epochs[2].loss);
        assert!(last < first, "{name}: loss did not fall: {first} -> {last}");
        // Ranking, not the fixed threshold, says whether it learnt: a contrastive head on an
        // encoder without a final ReLU has distances of another scale than the chapter's 0.5.
        let model = TrainedModel::open(outcome.run.root(), &Device::flex()).unwrap();
        let opts = eval_options();
        let report = evaluate_pairs(&model, &PairSource::SeedTest, &opts).unwrap();
        let auc = report.roc_auc.value().unwrap();
        assert!(
            auc > 0.8,
            "{name}: ROC AUC {auc} on the test pairs is not clearly above 0.5"
        );
    }
}

#[test]
fn pseudo_siamese_network_learns_on_either_audio_encoder() {
    use siamese::infer::{PairSource, TrainedModel, evaluate_pairs};
    use siamese::model::EncoderKind;
    let dir = tempfile::tempdir().unwrap();
    for audio in [EncoderKind::ChapterCnn, EncoderKind::Lstm] {
        let cfg = TrainConfig {
            data_dir: Some(data_root().join("fsdd")),
            limit: Some(160),
            epochs: 3,
            ..TrainConfig::pseudo(audio)
        };
        let name = format!("pseudo with {} audio", audio.name());
        let outcome = train(&cfg, &options(dir.path().join(audio.name()))).unwrap();
        let m = &outcome.metrics;
        let (first, last) = (m.epochs[0].loss, m.epochs[2].loss);
        assert!(last < first, "{name}: loss did not fall: {first} -> {last}");
        // 160 recordings a digit (all 4 training speakers' takes 10-49), 5 + 5 MNIST partners
        // each.
        assert_eq!(m.train_pairs, 16_000, "{name}");
        let model = TrainedModel::open(outcome.run.root(), &Device::flex()).unwrap();
        assert!(model.net.is_pseudo());
        let opts = eval_options();
        // Voices never heard in training against handwriting never seen.
        let report = evaluate_pairs(&model, &PairSource::Unseen, &opts).unwrap();
        assert_eq!(
            report.pairs, 10_000,
            "{name}: 1,000 recordings x 10 partners"
        );
        let auc = report.roc_auc.value().unwrap();
        assert!(
            auc > 0.75,
            "{name}: ROC AUC {auc} on unseen speakers is not clearly above 0.5"
        );
    }
}
