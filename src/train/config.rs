//! The whole configuration of a training run; saved in the run folder.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::loss::triplet::{Mining, check_margin};
use crate::model::ModelConfig;
use crate::optim::KerasRmsPropConfig;

/// What a run trains: how inputs meet and which loss judges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Pairs through one shared encoder, Euclidean distance, contrastive loss (the chapter).
    #[default]
    Siamese,
    /// Anchor, positive and negative through one shared encoder, triplet loss.
    Triplet,
    /// Both images of a pair as two channels of one input, a logit of "same", binary
    /// cross-entropy (Zagoruyko and Komodakis, 2015).
    TwoChannel,
    /// Pairs of two kinds of input through two encoders that share no weights (a spoken digit
    /// and a handwritten one), Euclidean distance, contrastive loss.
    Pseudo,
}

impl Arch {
    /// Parse `--arch`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "siamese" => Ok(Arch::Siamese),
            "triplet" => Ok(Arch::Triplet),
            "two-channel" => Ok(Arch::TwoChannel),
            "pseudo" => Ok(Arch::Pseudo),
            _ => Err(format!(
                "unknown architecture {text:?}; expected siamese, triplet, two-channel or pseudo"
            )),
        }
    }

    /// The name `--arch` and `model.json` use.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Siamese => "siamese",
            Arch::Triplet => "triplet",
            Arch::TwoChannel => crate::model::TWO_CHANNEL,
            Arch::Pseudo => crate::model::PSEUDO,
        }
    }
}

fn default_classes_per_batch() -> usize {
    6
}

fn default_images_per_class() -> usize {
    16
}

fn default_temperature() -> f32 {
    0.1
}

/// Everything that defines a training run. The defaults are the chapter's experiment
/// (SPEC.md section 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The architecture (`siamese` unless the file says otherwise).
    #[serde(default)]
    pub arch: Arch,
    /// Triplet runs: online mining from P x K batches, or `None` for offline triplets.
    #[serde(default)]
    pub mining: Option<Mining>,
    /// Online mining: classes per batch (P).
    #[serde(default = "default_classes_per_batch")]
    pub classes_per_batch: usize,
    /// Online mining: images per class in a batch (K).
    #[serde(default = "default_images_per_class")]
    pub images_per_class: usize,
    /// Dataset: "fashion-mnist", "mnist", or "folder:PATH" (one sub-folder of images per class).
    pub dataset: String,
    /// Folder holding the dataset's files, when the user named one.
    pub data_dir: Option<PathBuf>,
    /// The classes pairs are drawn from, in order; empty means every class of the dataset.
    pub classes: Vec<crate::data::ClassId>,
    /// At most this many images per class (quick runs); `None` = the protocol's full size.
    pub limit: Option<usize>,
    /// Passes over the training data.
    pub epochs: usize,
    /// Pairs (or offline triplets) per step; online mining uses P x K images instead.
    pub batch_size: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// RMSprop settings.
    pub optimizer: KerasRmsPropConfig,
    /// The loss's margin (contrastive, or triplet).
    pub margin: f32,
    /// NCA (`--mining nca`): the softmax temperature on squared distances.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Add every training class three more times, rotated by 90, 180 and 270 degrees, as new
    /// classes (Omniglot's usual augmentation).
    #[serde(default)]
    pub rotate_classes: bool,
    /// Online mining on Omniglot: draw each batch's classes from one alphabet (a rotation of
    /// an alphabet counts as an alphabet of its own), so that its negatives are the
    /// look-alikes a within-alphabet one-shot episode holds.
    #[serde(default)]
    pub alphabet_batches: bool,
    /// Distort every training image at random each time it is drawn (rotation, shear, scale,
    /// shift; [`crate::data::Affine::random`]).
    #[serde(default)]
    pub distort: bool,
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
            arch: Arch::Siamese,
            mining: None,
            classes_per_batch: default_classes_per_batch(),
            images_per_class: default_images_per_class(),
            dataset: "fashion-mnist".to_string(),
            data_dir: None,
            classes: vec![0, 1, 2, 4, 5, 9],
            limit: None,
            epochs: 13,
            batch_size: 128,
            learning_rate: 1e-3,
            optimizer: KerasRmsPropConfig::default(),
            margin: 1.0,
            temperature: default_temperature(),
            rotate_classes: false,
            alphabet_batches: false,
            distort: false,
            seed: 0,
            validation_split: 0.25,
            threshold: 0.5,
            model: ModelConfig::chapter(),
        }
    }
}

impl TrainConfig {
    /// Whether the run's threshold is calibrated on its validation pairs at the end of training
    /// rather than taken from `threshold`: a triplet network, and a Siamese network on another
    /// encoder than the chapter's, whose distances have no fixed scale. (The chapter's 0.5
    /// belongs to the chapter's encoder; the 2-channel network's 0.5 is p(same) = 0.5.)
    pub fn calibrates_threshold(&self) -> bool {
        match self.arch {
            Arch::Triplet => true,
            Arch::Siamese => self.model.encoder != crate::model::EncoderKind::ChapterCnn,
            Arch::TwoChannel => false,
            Arch::Pseudo => true,
        }
    }

    /// The recordings' encoder of a pseudo-Siamese run unless `--audio-encoder` says otherwise.
    /// The LSTM: on the held-out speakers it reached 0.920 pair accuracy and 0.809 10-way
    /// one-shot against the chapter CNN's 0.865 and 0.679 (seed 0, 20 epochs, measured).
    pub const PSEUDO_AUDIO_ENCODER: crate::model::EncoderKind = crate::model::EncoderKind::Lstm;

    /// The defaults of a pseudo-Siamese run: spoken digits of four FSDD speakers (left, a
    /// 28x28 log-mel image into the `audio` encoder) against MNIST digits (right, the chapter's
    /// CNN), contrastive loss with the chapter's margin and optimiser but no weight penalties,
    /// 20 epochs; the threshold is calibrated on the validation pairs.
    pub fn pseudo(audio: crate::model::EncoderKind) -> Self {
        let mut config = Self {
            arch: Arch::Pseudo,
            dataset: crate::data::SPOKEN_MNIST.to_string(),
            classes: Vec::new(),
            epochs: 20,
            ..Self::default()
        };
        // Without this the chapter's penalties (0.01) drive every embedding to zero here:
        // validation accuracy 0.51 after 3 epochs, against 0.91 after 5 without (measured).
        config.model.kernel_l2 = 0.0;
        config.model.bias_l1 = 0.0;
        config.model.architecture = Arch::Pseudo.name().to_string();
        config.model.left = Some(crate::model::Branch {
            modality: "spoken digit (mono WAV at 8 kHz) as a log-mel image: 28 mel bands x 28 \
                       frames of 256 samples every 192, dB relative to the clip's peak, floored \
                       at -80 dB, scaled to 0..255; the longer clips' loudest 28 frames, the \
                       shorter ones padded with silence on the left"
                .to_string(),
            encoder: audio,
            input: config.model.input.clone(),
        });
        config
    }

    /// The defaults of a 2-channel run: the chapter's data, pairs, encoder (on two channels)
    /// and optimiser, binary cross-entropy, "same" when p(same) > 0.5 (a score `1 - p(same)`
    /// below the threshold 0.5).
    pub fn two_channel() -> Self {
        let mut config = Self {
            arch: Arch::TwoChannel,
            ..Self::default()
        };
        config.model.architecture = Arch::TwoChannel.name().to_string();
        config.model.distance = crate::model::ONE_MINUS_P_SAME.to_string();
        config
    }

    /// The defaults of a triplet run: the chapter's data, encoder and optimiser, L2-normalised
    /// embeddings and a margin of 0.2 (FaceNet's). Batch-hard mining starts at a learning rate
    /// of 1e-4: at the chapter's 1e-3 its hardest triplets collapsed every embedding to one
    /// point within two epochs here (loss stuck at the margin, validation accuracy 0.5), while
    /// 1e-4 learns steadily.
    pub fn triplet(mining: Option<Mining>) -> Self {
        let mut config = Self {
            arch: Arch::Triplet,
            mining,
            margin: 0.2,
            ..Self::default()
        };
        if mining == Some(Mining::BatchHard) {
            config.learning_rate = 1e-4;
        }
        config.model.architecture = Arch::Triplet.name().to_string();
        config.model.normalize = true;
        config
    }

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
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!(
                "--temperature must be a finite positive number, got {}",
                self.temperature
            ));
        }
        self.model.validate().map_err(|e| format!("model: {e}"))?;
        if self.arch == Arch::Triplet {
            check_margin(self.margin, self.model.max_distance())?;
        } else if self.mining.is_some() {
            return Err("--mining applies to --arch triplet only".into());
        }
        if self.model.architecture != self.arch.name() {
            return Err(format!(
                "model architecture {:?} does not match --arch {}",
                self.model.architecture,
                self.arch.name()
            ));
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(format!(
                "--validation-split must be in [0, 1), got {}",
                self.validation_split
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!(
                "--threshold must be a positive distance, got {}",
                self.threshold
            ));
        }
        let spec = crate::data::DatasetSpec::parse(&self.dataset)
            .map_err(|e| format!("--dataset: {e}"))?;
        let cross_modal = spec == crate::data::DatasetSpec::SpokenMnist;
        if cross_modal != (self.arch == Arch::Pseudo) {
            return Err(format!(
                "--arch pseudo goes with --dataset {0} (recordings against images), and {0} \
                 with --arch pseudo; got --arch {1} and --dataset {2}",
                crate::data::SPOKEN_MNIST,
                self.arch.name(),
                self.dataset
            ));
        }
        if self.alphabet_batches
            && (self.mining.is_none() || spec != crate::data::DatasetSpec::Omniglot)
        {
            return Err(
                "--alphabet-batches applies to --dataset omniglot with online mining \
                 (--arch triplet --mining batch-all, batch-hard, semi-hard or nca)"
                    .into(),
            );
        }
        if self.distort && cross_modal {
            return Err(
                "--distort is not built for --arch pseudo: its affine distortions would also \
                 turn the recordings' spectrograms, whose axes are time and pitch"
                    .into(),
            );
        }
        if self.rotate_classes && cross_modal {
            return Err("--rotate-classes does not apply to recordings".into());
        }
        if cross_modal && self.validation_split != 0.0 && self.validation_split != 0.25 {
            return Err(format!(
                "--validation-split {}: {} holds out takes 5-9 of the training speakers for \
                 validation; 0 fits them too, and no other share applies",
                self.validation_split,
                crate::data::SPOKEN_MNIST
            ));
        }
        if self.limit == Some(0) {
            return Err("--limit must be at least 1".into());
        }
        Ok(())
    }
}
