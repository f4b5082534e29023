//! Training: the chapter's experiment and its run folder.

mod batch;
mod config;
mod plot;
mod run;

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use thiserror::Error;
use tracing::info;

pub use batch::{PairBatcher, image_tensor};
pub use config::TrainConfig;
pub use plot::{loss_plot, sample_image};
pub use run::{
    EpochMetrics, MODEL_META, MODEL_WEIGHTS, Metrics, ModelMeta, Progress, RunDir, load_checkpoint,
    load_weights, read_json, save_checkpoint, save_weights, write_json,
};

use crate::data::{
    DataError, DatasetSpec, DownloadOptions, ImagePrep, ImageSet, Split, ensure_files, load_folder,
    load_split, resolve_data_dir,
};
use crate::eval::{contrastive_loss_value, pair_accuracy};
use crate::infer::pair_distances;
use crate::loss::contrastive_loss;
use crate::model::SiameseNet;
use crate::rng::{Stream, stream_rng};
use crate::sampling::{PairSet, SamplingError, chapter_split, create_pairs};

/// Errors of a training run.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The data could not be found or read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Pairs could not be formed.
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    /// A file of the run folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Weights, optimiser state or metadata could not be saved or loaded.
    #[error("{0}")]
    Record(String),
    /// `--resume` was asked of a folder that cannot be resumed.
    #[error("cannot resume: {0}")]
    Resume(String),
}

/// How a run is carried out (as opposed to what it computes, which is [`TrainConfig`]).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The run folder.
    pub out: PathBuf,
    /// Continue the run in `out` from its latest checkpoint.
    pub resume: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Whether missing dataset files may be downloaded.
    pub download: DownloadOptions,
    /// Device training runs on (an autodiff device is made from it).
    pub device: Device,
    /// Stop after this many epochs in this process (for tests of resume); `None` = run to the end.
    pub stop_after: Option<usize>,
}

/// The result of a finished run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The run folder.
    pub run: RunDir,
    /// Everything `metrics.json` holds.
    pub metrics: Metrics,
    /// Whether all configured epochs are done (false when stopped early by `stop_after`).
    pub finished: bool,
}

/// The data a run trains and tests on, built from the configuration alone.
#[derive(Debug)]
pub struct ChapterData {
    /// The training split's images.
    pub images: ImageSet,
    /// Class names by label.
    pub class_names: Vec<String>,
    /// Pairs trained on.
    pub fit: PairSet,
    /// Pairs held out for validation (the unshuffled tail).
    pub validation: PairSet,
    /// The chapter's test pairs (from the training split's last 20% per class).
    pub test: PairSet,
}

/// Load the dataset and build the chapter's pairs for `config`.
pub fn chapter_data(
    config: &TrainConfig,
    download: &DownloadOptions,
) -> Result<ChapterData, TrainError> {
    let (images, class_names, name) =
        match DatasetSpec::parse(&config.dataset).map_err(TrainError::Config)? {
            DatasetSpec::Idx(dataset) => {
                let dir = resolve_data_dir(dataset, config.data_dir.as_deref());
                ensure_files(dataset, &dir, download)?;
                let images = load_split(dataset, &dir, Split::Train)?;
                let names = dataset
                    .class_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                (images, names, dataset.name().to_string())
            }
            DatasetSpec::Folder(dir) => {
                let input = &config.model.input;
                let prep = ImagePrep::new(input.width, input.height);
                // The 80/20 split needs two images per class on each side.
                let set = load_folder(&dir, &prep, 10)?;
                (set.images, set.class_names, dir.display().to_string())
            }
        };
    if let Some(&bad) = config
        .classes
        .iter()
        .find(|&&c| usize::from(c) >= images.num_classes)
    {
        return Err(TrainError::Config(format!(
            "--classes: class {bad} does not exist; {name} has classes 0..{}",
            images.num_classes - 1
        )));
    }
    // An empty class list means every class of the dataset.
    let classes: Vec<u8> = if config.classes.is_empty() {
        (0..images.num_classes as u8).collect()
    } else {
        config.classes.clone()
    };
    let split = chapter_split(&images.labels, &classes, config.limit)?;
    let mut rng = stream_rng(config.seed, Stream::Pairs);
    let train = create_pairs(&split.train, &mut rng);
    let test = create_pairs(&split.test, &mut rng);
    let n_fit = (train.len() as f64 * (1.0 - config.validation_split)).floor() as usize;
    let (fit, validation) = train.split_at(n_fit);
    if fit.is_empty() {
        return Err(TrainError::Config(
            "no training pairs left after the validation hold-out".into(),
        ));
    }
    Ok(ChapterData {
        images,
        class_names,
        fit,
        validation,
        test,
    })
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`); `None` elsewhere.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Run (or resume) the experiment `config` describes, writing the run folder `options.out`.
pub fn train(config: &TrainConfig, options: &TrainOptions) -> Result<TrainOutcome, TrainError> {
    config.validate().map_err(TrainError::Config)?;
    crate::backend::flush_denormals();
    let run = RunDir::new(&options.out);
    std::fs::create_dir_all(run.root()).map_err(|source| TrainError::Io {
        path: run.root().to_path_buf(),
        source,
    })?;
    let data = chapter_data(config, &options.download)?;
    info!(
        "pairs: {} training ({} fit + {} validation), {} test; classes {:?}",
        data.fit.len() + data.validation.len(),
        data.fit.len(),
        data.validation.len(),
        data.test.len(),
        config.classes
    );

    let device = options.device.clone().autodiff();
    let model = SiameseNet::init(
        &config.model,
        &device,
        &mut stream_rng(config.seed, Stream::Init),
    );
    let optim = config.optimizer.init();
    let fresh = Progress {
        epochs_done: 0,
        metrics: Metrics {
            train_pairs: data.fit.len(),
            validation_pairs: data.validation.len(),
            test_pairs: data.test.len(),
            ..Metrics::default()
        },
    };
    let (mut model, mut optim, mut progress) = if options.resume {
        match load_checkpoint(&run, model.clone(), optim.clone())? {
            Some(state) => {
                info!(
                    "resuming {} after epoch {}",
                    run.root().display(),
                    state.2.epochs_done
                );
                state
            }
            None => {
                info!(
                    "{} has no checkpoint yet; starting from epoch 1",
                    run.root().display()
                );
                (model, optim, fresh)
            }
        }
    } else {
        (model, optim, fresh)
    };
    write_json(&run.config_path(), config)?;
    let first = data.images.image(0);
    sample_image(
        &run.file("sample.png"),
        first,
        data.images.rows,
        data.images.cols,
        10,
    )
    .map_err(TrainError::Record)?;

    let eps = config.model.distance_epsilon;
    let (l2, l1) = (config.model.kernel_l2, config.model.bias_l1);
    let mut batcher = PairBatcher::new(&data.images);
    let steps_per_epoch = data.fit.len().div_ceil(config.batch_size);
    let mut epochs_this_process = 0;
    while progress.epochs_done < config.epochs {
        if options.stop_after.is_some_and(|n| epochs_this_process >= n) {
            break;
        }
        let epoch = progress.epochs_done;
        let started = Instant::now();
        let mut order: Vec<usize> = (0..data.fit.len()).collect();
        order.shuffle(&mut stream_rng(config.seed, Stream::Shuffle { epoch }));
        let bar = if options.progress {
            ProgressBar::new(steps_per_epoch as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} steps, {per_sec}, eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, config.epochs));
        let mut loss_sum = 0.0f64;
        let mut step_seconds = 0.0f64;
        for (step, chunk) in order.chunks(config.batch_size).enumerate() {
            let (x, y) = batcher.batch(&data.fit, chunk, &device);
            let step_start = Instant::now();
            let distances = model.pair_distances(x, chunk.len(), eps);
            let loss =
                contrastive_loss(distances, y, config.margin) + model.encoder.penalty(l2, l1);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
            let value: f32 = loss.into_scalar();
            step_seconds += step_start.elapsed().as_secs_f64();
            loss_sum += f64::from(value) * chunk.len() as f64;
            if step % 8 == 0 {
                bar.set_message(format!(
                    "loss {:.4}",
                    loss_sum / ((step * config.batch_size + chunk.len()) as f64)
                ));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();
        let penalty: f32 = model.valid().encoder.penalty(l2, l1).into_scalar();
        let (val_loss, val_accuracy) = if data.validation.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            let d = pair_distances(&model, &data.images, &data.validation, eps, 512, &device);
            (
                contrastive_loss_value(&d, &data.validation.labels, config.margin)
                    + f64::from(penalty),
                pair_accuracy(&d, &data.validation.labels, config.threshold),
            )
        };
        let seconds = started.elapsed().as_secs_f64();
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            loss: loss_sum / data.fit.len() as f64,
            val_loss,
            val_accuracy,
            seconds,
            train_seconds,
            step_seconds,
            pairs_per_second: data.fit.len() as f64 / train_seconds,
        };
        info!(
            "epoch {}/{}: loss {:.4}, val_loss {:.4}, val_accuracy {:.4}, {:.1} s ({:.1} s in steps, {:.0} pairs/s)",
            metrics.epoch,
            config.epochs,
            metrics.loss,
            metrics.val_loss,
            metrics.val_accuracy,
            metrics.seconds,
            metrics.step_seconds,
            metrics.pairs_per_second
        );
        progress.metrics.epochs.push(metrics);
        progress.epochs_done += 1;
        epochs_this_process += 1;
        save_checkpoint(&run, &model, &optim, &progress)?;
    }

    let losses: Vec<f64> = progress.metrics.epochs.iter().map(|e| e.loss).collect();
    let val_losses: Vec<f64> = progress
        .metrics
        .epochs
        .iter()
        .map(|e| e.val_loss)
        .filter(|v| v.is_finite())
        .collect();
    loss_plot(&run.file("loss.png"), &losses, &val_losses).map_err(TrainError::Record)?;
    let finished = progress.epochs_done >= config.epochs;
    let mut metrics = progress.metrics.clone();
    if finished {
        let d = pair_distances(&model, &data.images, &data.test, eps, 512, &device);
        metrics.test_accuracy = Some(pair_accuracy(&d, &data.test.labels, config.threshold));
        save_weights(&model, &run.file(MODEL_WEIGHTS))?;
        write_json(
            &run.file(MODEL_META),
            &ModelMeta::new(config, data.class_names.clone()),
        )?;
    }
    metrics.peak_rss_mib = peak_rss_mib();
    write_json(&run.file("metrics.json"), &metrics)?;
    Ok(TrainOutcome {
        run,
        metrics,
        finished,
    })
}
