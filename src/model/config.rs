//! The serialisable description of a model: everything `evaluate`, `compare` and `embed` need
//! to rebuild it from a run folder.

use serde::{Deserialize, Serialize};

/// The architecture name of the 2-channel network.
pub const TWO_CHANNEL: &str = "two-channel";

/// The architecture name of the pseudo-Siamese network (two unshared encoders).
pub const PSEUDO: &str = "pseudo";

/// The distance-like score of the 2-channel network.
pub const ONE_MINUS_P_SAME: &str = "1 - p(same)";

/// The shape and scaling of one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Channels (1 for grey images).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// How raw 8-bit pixels become model input, e.g. "x / 255 (float32, 0..1)".
    pub normalisation: String,
    /// Whether the data has a light object on a black background (as Fashion-MNIST).
    pub light_on_dark: bool,
}

/// Which encoder sits under the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// The chapter's CNN: conv 32@7x7, max-pool 2x2, conv 64@3x3, dense 128, all ReLU.
    ChapterCnn,
    /// Three blocks of conv 64@3x3, ReLU, max-pool 2x2, batch norm; dense to the embedding.
    DeepCnn,
    /// Dense 512 with ReLU, dense to the embedding.
    Mlp,
    /// An LSTM of 128 units over the input's columns (a spectrogram's frames), its last
    /// hidden state through a dense layer to the embedding.
    Lstm,
}

impl EncoderKind {
    /// The name `--encoder` and `model.json` use.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::ChapterCnn => "chapter-cnn",
            EncoderKind::DeepCnn => "deep-cnn",
            EncoderKind::Mlp => "mlp",
            EncoderKind::Lstm => "lstm",
        }
    }

    /// Parse `--encoder`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "chapter-cnn" => Ok(EncoderKind::ChapterCnn),
            "deep-cnn" => Ok(EncoderKind::DeepCnn),
            "mlp" => Ok(EncoderKind::Mlp),
            "lstm" => Ok(EncoderKind::Lstm),
            _ => Err(format!(
                "unknown encoder {text:?}; expected chapter-cnn, deep-cnn, mlp or lstm"
            )),
        }
    }
}

/// A model's architecture and the numbers that define how it is scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The head: "siamese" or "triplet" (both: one shared encoder, Euclidean distance between
    /// embeddings), or "two-channel" (both images as channels of one input, a logit of "same").
    pub architecture: String,
    /// The encoder.
    pub encoder: EncoderKind,
    /// The input the encoder takes.
    pub input: InputSpec,
    /// Embedding size.
    pub embedding_dim: usize,
    /// Distance between embeddings ("euclidean"), or the 2-channel network's score
    /// ("1 - p(same)").
    pub distance: String,
    /// The floor on the squared distance before the square root.
    pub distance_epsilon: f32,
    /// L2 penalty on every kernel (`l2 * sum(w^2)`).
    pub kernel_l2: f32,
    /// L1 penalty on every bias (`l1 * sum(|b|)`).
    pub bias_l1: f32,
    /// Whether embeddings are scaled to unit length (triplet runs).
    #[serde(default)]
    pub normalize: bool,
    /// The pseudo-Siamese network's left branch (the recordings), which shares no weights
    /// with the right one (`encoder` on `input`); `None` for every other architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Branch>,
}

/// One branch of a pseudo-Siamese network: its own encoder on its own kind of input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    /// What the branch reads, e.g. "spoken digit (8 kHz WAV) as a log-mel image".
    pub modality: String,
    /// The encoder.
    pub encoder: EncoderKind,
    /// Its input.
    pub input: InputSpec,
}

impl ModelConfig {
    /// The chapter's model on 28x28 grey images.
    pub fn chapter() -> Self {
        Self {
            architecture: "siamese".to_string(),
            encoder: EncoderKind::ChapterCnn,
            input: InputSpec {
                channels: 1,
                height: 28,
                width: 28,
                normalisation: "x / 255 as float32, in [0, 1]".to_string(),
                light_on_dark: true,
            },
            embedding_dim: 128,
            distance: "euclidean".to_string(),
            distance_epsilon: 1e-7,
            kernel_l2: 0.01,
            bias_l1: 0.01,
            normalize: false,
            left: None,
        }
    }

    /// Check that the numbers make a model this version can build and score; the message names
    /// the field.
    pub fn validate(&self) -> Result<(), String> {
        if !["siamese", "triplet", TWO_CHANNEL, PSEUDO].contains(&self.architecture.as_str()) {
            return Err(format!(
                "architecture {:?} is not one this version builds (siamese, triplet, \
                 {TWO_CHANNEL}, {PSEUDO})",
                self.architecture
            ));
        }
        match (&self.left, self.architecture == PSEUDO) {
            (None, true) => {
                return Err("a pseudo-Siamese model needs its left branch (\"left\")".into());
            }
            (Some(_), false) => {
                return Err(format!(
                    "a left branch belongs to a pseudo-Siamese model, not to {:?}",
                    self.architecture
                ));
            }
            (Some(left), true) => {
                // Known gap: both branches' inputs travel in one tensor, so they must have one
                // shape; different shapes would need two input tensors through training.
                let (l, r) = (&left.input, &self.input);
                if (l.channels, l.height, l.width) != (r.channels, r.height, r.width) {
                    return Err(format!(
                        "the left input is {}x{}x{} and the right {}x{}x{}; this version needs \
                         both branches' inputs to have one shape",
                        l.channels, l.height, l.width, r.channels, r.height, r.width
                    ));
                }
                Self::check_input(left.encoder, l)?;
            }
            (None, false) => {}
        }
        let distance = if self.architecture == TWO_CHANNEL {
            ONE_MINUS_P_SAME
        } else {
            "euclidean"
        };
        if self.distance != distance {
            return Err(format!(
                "distance {:?} does not go with architecture {:?} (expected {distance:?})",
                self.distance, self.architecture
            ));
        }
        if self.architecture == TWO_CHANNEL && self.normalize {
            return Err("a 2-channel network has no embeddings to normalise".into());
        }
        Self::check_input(self.encoder, &self.input)?;
        if self.embedding_dim == 0 || self.embedding_dim > 65_536 {
            return Err(format!(
                "embedding_dim {} must be between 1 and 65536",
                self.embedding_dim
            ));
        }
        if !(self.distance_epsilon > 0.0 && self.distance_epsilon <= 1e-2) {
            return Err(format!(
                "distance_epsilon {} must be a small positive floor, in (0, 0.01]",
                self.distance_epsilon
            ));
        }
        for (name, v) in [("kernel_l2", self.kernel_l2), ("bias_l1", self.bias_l1)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} {v} must be a finite number >= 0"));
            }
        }
        Ok(())
    }

    /// Check that `input` suits `encoder`; the message names both.
    fn check_input(encoder: EncoderKind, i: &InputSpec) -> Result<(), String> {
        // The chapter's CNN: conv 7x7, pool 2x2, conv 3x3: (side - 6) / 2 - 2 must leave at
        // least one pixel; the deeper CNN's three blocks need 22; the MLP and LSTM any size.
        let min_side = match encoder {
            EncoderKind::ChapterCnn => 12,
            EncoderKind::DeepCnn => 22,
            EncoderKind::Mlp | EncoderKind::Lstm => 1,
        };
        if i.channels == 0 || i.height < min_side || i.width < min_side {
            return Err(format!(
                "input {}x{}x{} (channels x height x width) is too small for the {} encoder, \
                 which needs at least 1 channel and {min_side}x{min_side} pixels",
                i.channels,
                i.height,
                i.width,
                encoder.name()
            ));
        }
        if i.height > 4096 || i.width > 4096 || i.channels > 64 {
            return Err(format!(
                "input {}x{}x{} is larger than this version supports (4096 pixels a side, 64 \
                 channels)",
                i.channels, i.height, i.width
            ));
        }
        Ok(())
    }

    /// The largest distance two embeddings can be apart, when bounded: with unit-length
    /// embeddings 2, or `sqrt(2)` for the chapter's encoder, whose ReLU output is non-negative
    /// (two unit vectors with no negative component are at most at a right angle).
    pub fn max_distance(&self) -> Option<f32> {
        if !self.normalize {
            return None;
        }
        match self.encoder {
            EncoderKind::ChapterCnn => Some(2f32.sqrt()),
            // A final dense layer without activation: embeddings may point anywhere.
            EncoderKind::DeepCnn | EncoderKind::Mlp | EncoderKind::Lstm => Some(2.0),
        }
    }
}
