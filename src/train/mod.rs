//! Training: the chapter's experiment (and the triplet network on the same data), and the run
//! folder it leaves.

mod batch;
mod config;
mod data;
mod fit;
mod plot;
mod run;

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use thiserror::Error;
use tracing::info;

pub use batch::{PairBatcher, image_tensor};
pub use config::{Arch, TrainConfig};
pub use data::{ChapterData, FitPlan, PAIRS_PER_RECORDING, RunData, chapter_data, run_data};
pub use plot::{loss_plot, sample_image};
pub use run::{
    EpochMetrics, MODEL_META, MODEL_WEIGHTS, Metrics, ModelMeta, Progress, RunDir, load_checkpoint,
    load_weights, read_json, save_checkpoint, save_weights, write_json,
};

use crate::data::{DataError, DownloadOptions};
use crate::eval::pair_accuracy;
use crate::model::SiameseNet;
use crate::rng::{Stream, stream_rng};
use crate::sampling::SamplingError;

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
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, not repeated as a cause).
        error: std::io::Error,
    },
    /// Weights, optimiser state or metadata could not be saved or loaded.
    #[error("{0}")]
    Record(String),
    /// The loss stopped being a finite number: the weights are lost.
    #[error(
        "training diverged: the loss became {value} at epoch {epoch}, step {step}; the \
         checkpoint of the last finished epoch is kept. Try a smaller --lr"
    )]
    Diverged {
        /// One-based epoch.
        epoch: usize,
        /// One-based step within the epoch.
        step: usize,
        /// The loss value.
        value: f32,
    },
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

/// The threshold a finished run stores, and where it came from: the configured one (the
/// chapter's 0.5) unless [`TrainConfig::calibrates_threshold`], then the accuracy-best cut on
/// the validation pairs (never on the test pairs).
fn final_threshold(
    model: &SiameseNet,
    data: &RunData,
    config: &TrainConfig,
    device: &Device,
) -> Result<(f32, String), TrainError> {
    if !config.calibrates_threshold() {
        return Ok((
            config.threshold,
            format!("set in training (--threshold {})", config.threshold),
        ));
    }
    match fit::validate(model, data, config, device)? {
        Some(v) => Ok((
            v.threshold,
            format!(
                "calibrated at the end of training: the accuracy-best cut on the run's {} \
                 validation pairs (accuracy {:.4} there)",
                data.validation.len(),
                v.accuracy
            ),
        )),
        None => Ok((
            config.threshold,
            format!(
                "set in training (--threshold {}); no validation pairs to calibrate on",
                config.threshold
            ),
        )),
    }
}

/// The absolute folder an IDX dataset was read from.
fn data_dir_used(config: &TrainConfig) -> Option<PathBuf> {
    match crate::data::DatasetSpec::parse(&config.dataset) {
        Ok(crate::data::DatasetSpec::Omniglot) => std::fs::canonicalize(
            crate::data::resolve_named_dir(crate::data::OMNIGLOT, config.data_dir.as_deref()),
        )
        .ok(),
        Ok(crate::data::DatasetSpec::SpokenMnist) => std::fs::canonicalize(
            crate::data::resolve_named_dir(crate::data::FSDD, config.data_dir.as_deref()),
        )
        .ok(),
        Ok(crate::data::DatasetSpec::Idx(dataset)) => {
            let dir = crate::data::resolve_data_dir(dataset, config.data_dir.as_deref());
            std::fs::canonicalize(dir).ok()
        }
        _ => None,
    }
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
        error: source,
    })?;
    // A resumed run reads the folder it read before, unless told otherwise.
    let mut data_config = config.clone();
    if options.resume
        && config.data_dir.is_none()
        && let Some(dir) = run::recorded_data_dir(&run).filter(|d| d.is_dir())
    {
        info!("reading the data from {}, as the run did", dir.display());
        data_config.data_dir = Some(dir);
    }
    let data = run_data(&data_config, &options.download)?;
    info!(
        "{}: {} items per epoch ({} steps), {} validation pairs, {} test pairs; {}",
        config.arch.name(),
        data.fit_items,
        fit::steps_per_epoch(&data.fit, config.batch_size),
        data.validation.len(),
        data.test.len(),
        if data.classes.len() <= 12 {
            format!("classes {:?}", data.classes)
        } else {
            format!("{} classes", data.classes.len())
        }
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
            train_pairs: data.fit_items,
            validation_pairs: data.validation.len(),
            test_pairs: data.test.len(),
            ..Metrics::default()
        },
        data_dir_used: data_dir_used(&data_config),
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

    let steps_per_epoch = fit::steps_per_epoch(&data.fit, config.batch_size);
    let mut epochs_this_process = 0;
    while progress.epochs_done < config.epochs {
        if options.stop_after.is_some_and(|n| epochs_this_process >= n) {
            break;
        }
        let epoch = progress.epochs_done;
        let started = Instant::now();
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
        let (trained, fitted) =
            fit::fit_epoch(model, &mut optim, &data, config, epoch, &device, &bar)?;
        model = trained;
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();
        let validation = fit::validate(&model, &data, config, &device)?;
        let seconds = started.elapsed().as_secs_f64();
        if fitted.empty_batches > 0 {
            info!(
                "{} of {} batches had no valid triplet (loss 0, no update from them)",
                fitted.empty_batches, fitted.steps
            );
        }
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            loss: fitted.loss_sum / fitted.items.max(1) as f64,
            val_loss: validation.map_or(f64::NAN, |v| v.loss),
            val_accuracy: validation.map_or(f64::NAN, |v| v.accuracy),
            seconds,
            train_seconds,
            step_seconds: fitted.step_seconds,
            pairs_per_second: fitted.items as f64 / train_seconds,
            empty_batches: fitted.empty_batches,
        };
        // No figure (no validation data, or NCA's loss) reads "n/a", not NaN.
        let figure = |v: f64| {
            if v.is_finite() {
                format!("{v:.4}")
            } else {
                "n/a".to_string()
            }
        };
        info!(
            "epoch {}/{}: loss {:.4}, val_loss {}, val_accuracy {}, {:.1} s ({:.1} s in steps, {:.0} {}/s)",
            metrics.epoch,
            config.epochs,
            metrics.loss,
            figure(metrics.val_loss),
            figure(metrics.val_accuracy),
            metrics.seconds,
            metrics.step_seconds,
            metrics.pairs_per_second,
            data.fit.item_name()
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
        let (threshold, source) = final_threshold(&model, &data, config, &device)?;
        let d = fit::distances(&model, &data.images, &data.test, config, &device);
        metrics.test_accuracy = Some(pair_accuracy(&d, &data.test.labels, threshold));
        save_weights(&model, &run.file(MODEL_WEIGHTS))?;
        let mut meta = ModelMeta::new(config, data.class_names.clone());
        meta.threshold = threshold;
        meta.threshold_source = source;
        meta.data_dir_used = data_dir_used(&data_config);
        write_json(&run.file(MODEL_META), &meta)?;
    }
    metrics.peak_rss_mib = peak_rss_mib();
    write_json(&run.file("metrics.json"), &metrics)?;
    Ok(TrainOutcome {
        run,
        metrics,
        finished,
    })
}
