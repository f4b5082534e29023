//! Flags shared by the commands that use a trained model.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use siamese::backend::{BackendKind, init_threads};
use siamese::data::{DownloadOptions, ImagePrep};
use siamese::infer::{DataOptions, TrainedModel};

/// Which model to load and where it runs.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The run folder of a finished `siamese train` (it holds model.json and the weights).
    #[arg(long, value_name = "RUN")]
    pub model: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Where a model runs and how it takes images.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// Compute backend: flex (CPU), cuda or wgpu (the last two need those cargo features).
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// CPU threads for the compute pool [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Invert user images before use: for a dark object on a light background, since the
    /// Fashion-MNIST and MNIST models learnt light objects on black.
    #[arg(long)]
    pub invert: bool,
}

impl ModelArgs {
    /// Size the thread pool, pick the device and load the model.
    pub fn open(&self) -> anyhow::Result<TrainedModel> {
        self.device.open(&self.model)
    }

    /// Whether user images are to be inverted.
    pub fn invert(&self) -> bool {
        self.device.invert
    }
}

impl DeviceArgs {
    /// Size the thread pool, pick the device and load the model in `run`.
    pub fn open(&self, run: &Path) -> anyhow::Result<TrainedModel> {
        let backend = BackendKind::parse(&self.backend).map_err(anyhow::Error::msg)?;
        init_threads(self.threads).map_err(anyhow::Error::msg)?;
        let device = backend.device().map_err(anyhow::Error::msg)?;
        TrainedModel::open(run, &device)
            .with_context(|| format!("loading the model in {}", run.display()))
    }
}

/// Where evaluation data comes from.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Folder holding the dataset's files, instead of the one the run used.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Never download dataset files; fail if they are missing.
    #[arg(long)]
    pub no_download: bool,
}

impl DataArgs {
    /// The library's form, with `invert` from the model flags and the seed of the draws.
    pub fn options(&self, invert: bool, seed: u64) -> DataOptions {
        DataOptions {
            data_dir: self.data_dir.clone(),
            download: DownloadOptions {
                allow_download: !self.no_download,
                ..DownloadOptions::default()
            },
            seed,
            invert,
            run_folder: None,
        }
    }

    /// How `model` takes inputs named on the command line: its image preparation, and the
    /// data options that find dataset splits (the run's own folder among them).
    pub fn for_inputs(&self, model: &TrainedModel, invert: bool) -> (ImagePrep, DataOptions) {
        (
            model.image_prep(invert),
            self.options(invert, 0).with_run_folder(model),
        )
    }
}
