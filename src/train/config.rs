//! The whole configuration of a training run; saved in the run folder.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::ModelConfig;
use crate::optim::KerasRmsPropConfig;

/// Everything that defines a training run. The defaults are the chapter's experiment
/// (SPEC.md section 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Dataset: "fashion-mnist", "mnist", or "folder:PATH" (one sub-folder of images per class).
    pub dataset: String,
    /// Folder holding the dataset's files, when the user named one.
    pub data_dir: Option<PathBuf>,
    /// The classes pairs are drawn from, in order; empty means every class of the dataset.
    pub classes: Vec<u8>,
    /// At most this many images per class (quick runs); `None` = the protocol's full size.
    pub limit: Option<usize>,
    /// Passes over the training pairs.
    pub epochs: usize,
    /// Pairs per step.
    pub batch_size: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// RMSprop settings.
    pub optimizer: KerasRmsPropConfig,
    /// Contrastive-loss margin.
    pub margin: f32,
    /// The seed every random stream derives from.
    pub seed: u64,
    /// Share of the training pairs held out (from the end, unshuffled) for validation.
    pub validation_split: f64,
    /// Distance below which a pair is called "same".
    pub threshold: f32,
    /// The model.
    pub model: ModelConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: "fashion-mnist".to_string(),
            data_dir: None,
            classes: vec![0, 1, 2, 4, 5, 9],
            limit: None,
            epochs: 13,
            batch_size: 128,
            learning_rate: 1e-3,
            optimizer: KerasRmsPropConfig::default(),
            margin: 1.0,
            seed: 0,
            validation_split: 0.25,
            threshold: 0.5,
            model: ModelConfig::chapter(),
        }
    }
}

impl TrainConfig {
    /// Check every number before any work starts; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "--lr must be a positive number, got {}",
                self.learning_rate
            ));
        }
        if !(self.margin.is_finite() && self.margin > 0.0) {
            return Err(format!(
                "--margin must be a positive number, got {}",
                self.margin
            ));
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(format!(
                "validation split must be in [0, 1), got {}",
                self.validation_split
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!(
                "threshold must be a positive distance, got {}",
                self.threshold
            ));
        }
        crate::data::DatasetSpec::parse(&self.dataset).map_err(|e| format!("--dataset: {e}"))?;
        if self.limit == Some(0) {
            return Err("--limit must be at least 1".into());
        }
        Ok(())
    }
}
