//! A trained model rebuilt from its run folder.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use crate::data::{DataError, ImagePrep, ImageSet};
use crate::model::SiameseNet;
use crate::sampling::PairSet;
use crate::train::{
    MODEL_META, ModelMeta, PairBatcher, RunDir, TrainError, load_weights, read_json,
};

/// The format tag `model.json` files of this version carry.
pub const MODEL_FORMAT: &str = "siamese-model/1";

/// Errors of loading or using a trained model.
#[derive(Debug, Error)]
pub enum InferError {
    /// The folder holds no finished model.
    #[error(
        "{} holds no trained model: {MODEL_META} is missing (is it a run folder, and did its training finish? \
         an unfinished run continues with `siamese train --resume`)",
        .0.display()
    )]
    NotARun(PathBuf),
    /// The metadata or weights could not be read or do not fit.
    #[error("{0}")]
    Model(String),
    /// The data to evaluate on could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A request the model or the data cannot satisfy.
    #[error("{0}")]
    Invalid(String),
}

impl From<TrainError> for InferError {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Data(d) => InferError::Data(d),
            // Settings come from the run's model.json here, not from flags of this command.
            TrainError::Config(msg) | TrainError::Resume(msg) => InferError::Model(format!(
                "the run's training settings (model.json) do not rebuild its data: {msg}"
            )),
            other => InferError::Model(other.to_string()),
        }
    }
}

/// A trained Siamese model with its metadata, on a device without autodiff.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// What `model.json` says.
    pub meta: ModelMeta,
    /// The network.
    pub net: SiameseNet,
    /// The run folder it came from.
    pub run: RunDir,
    device: Device,
}

impl TrainedModel {
    /// Load the model of the run folder `run`: `model.json` first (its format, architecture and
    /// sizes), then the weights, which must match the architecture parameter for parameter.
    /// Nothing is half-loaded: any mismatch is an error naming the parameter.
    pub fn open(run: &Path, device: &Device) -> Result<Self, InferError> {
        let dir = RunDir::new(run);
        let meta_path = dir.file(MODEL_META);
        if !run.exists() {
            return Err(InferError::Invalid(format!(
                "--model {}: no such folder",
                run.display()
            )));
        }
        if !run.is_dir() {
            return Err(InferError::Invalid(format!(
                "--model {}: a file; --model takes the run folder that `siamese train` wrote",
                run.display()
            )));
        }
        if !meta_path.is_file() {
            return Err(InferError::NotARun(run.to_path_buf()));
        }
        let meta: ModelMeta = read_json(&meta_path)?;
        if meta.format != MODEL_FORMAT {
            return Err(InferError::Model(format!(
                "{}: format {:?} is not one this version reads ({MODEL_FORMAT:?})",
                meta_path.display(),
                meta.format
            )));
        }
        crate::backend::flush_denormals();
        meta.model
            .validate()
            .map_err(|e| InferError::Model(format!("{}: model: {e}", meta_path.display())))?;
        if !(meta.threshold.is_finite() && meta.threshold > 0.0) {
            return Err(InferError::Model(format!(
                "{}: threshold {} must be a positive distance",
                meta_path.display(),
                meta.threshold
            )));
        }
        // The weights live in the run folder: a bare file name, never a path out of it.
        let plain_name = Path::new(&meta.weights)
            .file_name()
            .is_some_and(|n| n == std::ffi::OsStr::new(&meta.weights));
        if !plain_name || meta.weights.starts_with('.') {
            return Err(InferError::Model(format!(
                "{}: weights {:?} must be a file name inside the run folder",
                meta_path.display(),
                meta.weights
            )));
        }
        let device = device.clone().without_autodiff();
        // The initial values are overwritten by the load; any seed will do.
        let blank = SiameseNet::init(&meta.model, &device, &mut ChaCha8Rng::seed_from_u64(0));
        let weights = dir.file(&meta.weights);
        let net = load_weights(blank, &weights)?;
        if let Some((name, _, _)) = net
            .parameters()
            .into_iter()
            .find(|(_, _, values)| values.iter().any(|v| !v.is_finite()))
        {
            return Err(InferError::Model(format!(
                "{}: parameter {name} holds NaN or infinite values; the model is unusable (did \
                 its training diverge?)",
                weights.display()
            )));
        }
        Ok(Self {
            meta,
            net,
            run: dir,
            device,
        })
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The distance below which a pair is called "same".
    pub fn threshold(&self) -> f32 {
        self.meta.threshold
    }

    /// Embedding size.
    pub fn embedding_dim(&self) -> usize {
        self.meta.model.embedding_dim
    }

    /// Embeddings of `count` images given as 8-bit pixels (`count x height x width`, the model's
    /// input size), scaled to [0, 1] as in training, computed `batch` images at a time.
    /// Returns `count x embedding_dim` values, row by row. A pseudo-Siamese network embeds
    /// them through its image branch.
    pub fn embed(&self, pixels: &[u8], count: usize, batch: usize) -> Result<Vec<f32>, InferError> {
        self.embed_through(pixels, count, batch, false)
    }

    /// A pseudo-Siamese network's embeddings of `count` recordings given as their 8-bit
    /// log-mel images ([`recording_image`](super::recording_image)), through its recordings'
    /// branch, into the space its images are embedded in. An error for other networks.
    pub fn embed_recordings(
        &self,
        pixels: &[u8],
        count: usize,
        batch: usize,
    ) -> Result<Vec<f32>, InferError> {
        if !self.net.is_pseudo() {
            return Err(InferError::Invalid(format!(
                "{}: only a pseudo-Siamese network (--arch pseudo) embeds recordings",
                self.run.root().display()
            )));
        }
        self.embed_through(pixels, count, batch, true)
    }

    fn embed_through(
        &self,
        pixels: &[u8],
        count: usize,
        batch: usize,
        left: bool,
    ) -> Result<Vec<f32>, InferError> {
        self.check_embeds()?;
        let input = &self.meta.model.input;
        let size = input.channels * input.height * input.width;
        if pixels.len() != count * size {
            return Err(InferError::Invalid(format!(
                "{} pixel values for {count} images; the model takes {}x{}x{} images",
                pixels.len(),
                input.channels,
                input.height,
                input.width
            )));
        }
        let mut out = Vec::with_capacity(count * self.embedding_dim());
        for chunk in pixels.chunks(batch.max(1) * size) {
            let n = chunk.len() / size;
            let values: Vec<f32> = chunk.iter().map(|&v| f32::from(v) / 255.0).collect();
            let x = Tensor::<4>::from_data(
                TensorData::new(values, [n, input.channels, input.height, input.width]),
                &self.device,
            );
            let e = if left {
                self.net.embed_left(x)
            } else {
                self.net.embed(x)
            };
            out.extend(
                e.into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| InferError::Model(format!("{e:?}")))?,
            );
        }
        Ok(out)
    }

    /// Distances of `pairs` of `images`, computed as in training ([`pair_distances`]); an
    /// error if any is not finite.
    pub fn pair_distances(
        &self,
        images: &ImageSet,
        pairs: &PairSet,
        batch: usize,
    ) -> Result<Vec<f32>, InferError> {
        let d = pair_distances(
            &self.net,
            images,
            pairs,
            self.meta.model.distance_epsilon,
            batch,
            &self.device,
        );
        let bad = d.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(InferError::Model(format!(
                "{}: {bad} of {} distances are not finite; the model is unusable",
                self.run.root().display(),
                d.len()
            )));
        }
        Ok(d)
    }

    /// The Euclidean distance of two embeddings with the model's epsilon floor, as the model's
    /// own distance computes it.
    pub fn embedding_distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let squared: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        // `f32::max` would turn a NaN into the floor: keep it NaN, so it cannot pass as "same".
        if squared.is_nan() {
            return f32::NAN;
        }
        squared.max(self.meta.model.distance_epsilon).sqrt()
    }

    /// The distance (for a 2-channel network, `1 - p(same)`) of image `a` and image `b`, each
    /// given as 8-bit pixels of the model's input size.
    pub fn compare_pixels(&self, a: &[u8], b: &[u8]) -> Result<f32, InferError> {
        let input = &self.meta.model.input;
        let mut images = a.to_vec();
        images.extend_from_slice(b);
        let set = ImageSet {
            labels: vec![0, 0],
            images,
            rows: input.height,
            cols: input.width,
            num_classes: 1,
        };
        let pair = PairSet {
            left: vec![0],
            right: vec![1],
            labels: vec![0],
        };
        Ok(self.pair_distances(&set, &pair, 1)?[0])
    }

    /// Whether the model has embeddings of single images; the error says why not (a 2-channel
    /// network judges pairs only).
    pub fn check_embeds(&self) -> Result<(), InferError> {
        if self.net.is_two_channel() {
            return Err(InferError::Invalid(format!(
                "{}: a 2-channel network judges pairs of images stacked as one input, so a \
                 single image has no embedding; use compare or evaluate with it",
                self.run.root().display()
            )));
        }
        Ok(())
    }

    /// How image files become this model's input: grey, its height and width, inverted when
    /// asked (see [`crate::data::load_image`]).
    pub fn image_prep(&self, invert: bool) -> ImagePrep {
        let input = &self.meta.model.input;
        ImagePrep {
            width: input.width,
            height: input.height,
            invert,
        }
    }

    /// Rewrite `model.json` (atomically) with the current metadata.
    pub fn save_meta(&self) -> Result<(), InferError> {
        crate::train::write_json(&self.run.file(MODEL_META), &self.meta)?;
        Ok(())
    }
}

/// Distances of `pairs` under `model`, computed without autodiff in batches of `batch` pairs:
/// both images of a batch's pairs go through the encoder together, as in training. Training's
/// validation and test figures come from this function, so an evaluation of the same pairs with
/// the same batch size reproduces them exactly.
pub fn pair_distances(
    model: &SiameseNet,
    images: &ImageSet,
    pairs: &PairSet,
    epsilon: f32,
    batch: usize,
    device: &Device,
) -> Vec<f32> {
    let device = device.clone().without_autodiff();
    let model = model.valid();
    let mut batcher = PairBatcher::new(images);
    let mut out = Vec::with_capacity(pairs.len());
    let order: Vec<usize> = (0..pairs.len()).collect();
    for chunk in order.chunks(batch.max(1)) {
        let (x, _) = batcher.batch(pairs, chunk, &device);
        let d = model.pair_distances(x, chunk.len(), epsilon);
        out.extend(d.into_data().try_into_vec::<f32>().unwrap_or_default());
    }
    out
}
