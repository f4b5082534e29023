//! The run folder: what a training run leaves behind, and its checkpoints.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::config::TrainConfig;
use crate::io::{with_atomic_path, write_atomic};
use crate::model::{ModelConfig, SiameseNet};

/// Name of the metadata file that describes a trained model.
pub const MODEL_META: &str = "model.json";
/// Name of the trained weights (burn's burnpack format).
pub const MODEL_WEIGHTS: &str = "model.bpk";

/// The files of a run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run folder at `root` (not created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a file in the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The training configuration, written when the run starts.
    pub fn config_path(&self) -> PathBuf {
        self.file("config.json")
    }

    fn checkpoints(&self) -> PathBuf {
        self.file("checkpoints")
    }
}

/// One epoch's figures, as `metrics.json` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// One-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's pairs (contrastive + weight penalty).
    pub loss: f64,
    /// Validation loss (contrastive + weight penalty). NaN where there is none (no validation
    /// data, or NCA): written as `null`, read back as NaN.
    #[serde(deserialize_with = "nan_if_null")]
    pub val_loss: f64,
    /// Share of validation pairs right at the threshold (for a triplet network, at the
    /// validation-best threshold, since its distances have no fixed scale). NaN (`null`)
    /// without validation data.
    #[serde(deserialize_with = "nan_if_null")]
    pub val_accuracy: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    /// Seconds of the training loop (data path and steps; validation excluded).
    pub train_seconds: f64,
    /// Seconds spent in training steps alone (forward, backward, update).
    pub step_seconds: f64,
    /// Training items (pairs, triplets or images, as the run trains on) per second over the
    /// epoch.
    pub pairs_per_second: f64,
    /// Online mining: batches that held no valid triplet (loss 0, no update).
    #[serde(default)]
    pub empty_batches: usize,
}

/// A figure that JSON holds as `null` when it was NaN (serde_json writes non-finite numbers
/// as `null`), so that a checkpoint's metrics read back as they were written.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// `metrics.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Per-epoch history.
    pub epochs: Vec<EpochMetrics>,
    /// Pair accuracy on the chapter's test pairs at the threshold, a fraction in 0..1.
    pub test_accuracy: Option<f64>,
    /// Number of test pairs scored.
    pub test_pairs: usize,
    /// Number of items (pairs, triplets or images) one epoch trains on.
    pub train_pairs: usize,
    /// Number of validation pairs.
    pub validation_pairs: usize,
    /// Peak resident memory of the process in MiB, where the OS reports it.
    pub peak_rss_mib: Option<f64>,
}

/// `model.json`: what `evaluate`, `compare` and `embed` need to rebuild and score the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Format tag of this file.
    pub format: String,
    /// The architecture, input shape and normalisation, embedding size, distance.
    pub model: ModelConfig,
    /// Distance below which a pair is called "same".
    pub threshold: f32,
    /// Where the threshold came from.
    pub threshold_source: String,
    /// The contrastive margin trained with.
    pub margin: f32,
    /// The label convention.
    pub label_convention: String,
    /// The weights file, relative to the run folder.
    pub weights: String,
    /// Class names of the training dataset, by label.
    pub class_names: Vec<String>,
    /// The whole training configuration.
    pub train: TrainConfig,
    /// The dataset folder training read (absolute), so that evaluation finds it again.
    #[serde(default)]
    pub data_dir_used: Option<PathBuf>,
    /// The tool version that wrote the file.
    pub written_by: String,
}

impl ModelMeta {
    /// Metadata for a model trained with `config`.
    pub fn new(config: &TrainConfig, class_names: Vec<String>) -> Self {
        Self {
            format: "siamese-model/1".to_string(),
            model: config.model.clone(),
            threshold: config.threshold,
            threshold_source: format!("set in training (--threshold {})", config.threshold),
            margin: config.margin,
            label_convention: "1 = same, 0 = different; distances: smaller = more alike"
                .to_string(),
            weights: MODEL_WEIGHTS.to_string(),
            class_names,
            train: config.clone(),
            data_dir_used: None,
            written_by: format!("siamese {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Serialise `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| TrainError::Record(e.to_string()))?;
    write_atomic(path, text.as_bytes()).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        error: source,
    })
}

/// Read JSON from `path`, naming the file on failure.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TrainError> {
    let text = fs::read_to_string(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        error: source,
    })?;
    serde_json::from_str(&text).map_err(|e| {
        TrainError::Record(format!(
            "{} is not a valid file of its kind: {e}",
            path.display()
        ))
    })
}

/// Save the model's weights to `path` atomically.
pub fn save_weights(model: &SiameseNet, path: &Path) -> Result<(), TrainError> {
    with_atomic_path(
        path,
        |tmp| {
            model
                .clone()
                .into_record()
                .save(tmp)
                .map_err(|e| TrainError::Record(format!("cannot write {}: {e}", path.display())))
        },
        |source| TrainError::Io {
            path: path.to_path_buf(),
            error: source,
        },
    )
}

/// Load weights from `path` into `model` (which fixes the architecture and shapes).
pub fn load_weights(model: SiameseNet, path: &Path) -> Result<SiameseNet, TrainError> {
    if !path.is_file() {
        return Err(TrainError::Record(format!(
            "weights file {} does not exist",
            path.display()
        )));
    }
    let record = ModuleRecord::load(path)
        .map_err(|e| TrainError::Record(format!("cannot read weights {}: {e}", path.display())))?;
    model.try_load_record(record).map_err(|e| {
        TrainError::Record(format!(
            "weights {} do not fit the model: {e}",
            path.display()
        ))
    })
}

/// What a checkpoint holds besides the weights and optimiser state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Metrics of the completed epochs.
    pub metrics: Metrics,
    /// The absolute folder the data was read from, so that `--resume` finds it again when
    /// neither `--data-dir` nor `SIAMESE_DATA` names it (absent in older checkpoints).
    #[serde(default)]
    pub data_dir_used: Option<PathBuf>,
}

/// The data folder the run's latest checkpoint recorded, if any.
pub fn recorded_data_dir(run: &RunDir) -> Option<PathBuf> {
    let name = fs::read_to_string(run.checkpoints().join("latest")).ok()?;
    let progress: Progress =
        read_json(&run.checkpoints().join(name.trim()).join("progress.json")).ok()?;
    progress.data_dir_used
}

/// Write the checkpoint of `progress.epochs_done` epochs. A checkpoint is a folder written under
/// a temporary name and renamed into place; `checkpoints/latest` then names it (written
/// atomically), and older checkpoints are removed. A crash at any point leaves the previous
/// checkpoint usable.
pub fn save_checkpoint(
    run: &RunDir,
    model: &SiameseNet,
    optim: &ModuleOptimizer,
    progress: &Progress,
) -> Result<(), TrainError> {
    let dir = run.checkpoints();
    fs::create_dir_all(&dir).map_err(|source| TrainError::Io {
        path: dir.clone(),
        error: source,
    })?;
    let name = format!("epoch-{:04}", progress.epochs_done);
    let final_dir = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Io {
            path,
            error: source,
        }
    };
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    model
        .clone()
        .into_record()
        .save(tmp.join("model.bpk"))
        .map_err(|e| TrainError::Record(format!("checkpoint model: {e}")))?;
    optim
        .save(tmp.join("optim.bpk"))
        .map_err(|e| TrainError::Record(format!("checkpoint optimiser: {e}")))?;
    write_json(&tmp.join("progress.json"), progress)?;
    if let Ok(f) = fs::File::open(&tmp) {
        let _ = f.sync_all();
    }
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;
    write_atomic(&dir.join("latest"), name.as_bytes()).map_err(io(&dir.join("latest")))?;
    for entry in fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if entry_name.starts_with("epoch-") && entry_name != name {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Load the latest checkpoint of `run` into `model` and `optim`. `Ok(None)` when the run has
/// no checkpoint yet.
pub fn load_checkpoint(
    run: &RunDir,
    model: SiameseNet,
    optim: ModuleOptimizer,
) -> Result<Option<(SiameseNet, ModuleOptimizer, Progress)>, TrainError> {
    let latest = run.checkpoints().join("latest");
    if !latest.exists() {
        return Ok(None);
    }
    let name = fs::read_to_string(&latest).map_err(|source| TrainError::Io {
        path: latest.clone(),
        error: source,
    })?;
    let dir = run.checkpoints().join(name.trim());
    let progress: Progress = read_json(&dir.join("progress.json"))?;
    let model = load_weights(model, &dir.join("model.bpk"))?;
    let optim = optim
        .load(dir.join("optim.bpk"))
        .map_err(|e| TrainError::Record(format!("checkpoint optimiser {}: {e}", dir.display())))?;
    Ok(Some((model, optim, progress)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run without validation figures (NCA, `--validation-split 0`) writes them as `null`;
    /// its checkpoints must read back, or `--resume` fails.
    #[test]
    fn missing_validation_figures_survive_a_round_trip() {
        let epoch = EpochMetrics {
            epoch: 1,
            loss: 0.5,
            val_loss: f64::NAN,
            val_accuracy: f64::NAN,
            seconds: 1.0,
            train_seconds: 0.9,
            step_seconds: 0.8,
            pairs_per_second: 100.0,
            empty_batches: 0,
        };
        let text = serde_json::to_string(&epoch).unwrap();
        assert!(text.contains("\"val_loss\":null"), "{text}");
        let back: EpochMetrics = serde_json::from_str(&text).unwrap();
        assert!(back.val_loss.is_nan() && back.val_accuracy.is_nan());
        assert_eq!(back.loss, 0.5);
        let figures: EpochMetrics = serde_json::from_str(&text.replace("null", "0.25")).unwrap();
        assert_eq!((figures.val_loss, figures.val_accuracy), (0.25, 0.25));
    }
}
