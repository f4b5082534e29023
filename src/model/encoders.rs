//! The encoder a head sits on, chosen with `--encoder`.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::config::EncoderKind;
use super::deep::{DeepCnn, Mlp};
use super::encoder::{ChapterCnn, ChapterCnnConfig};
use super::lstm::LstmEncoder;

/// One of the encoders; each maps `[batch, channels, height, width]` images to
/// `[batch, embedding_dim]` embeddings.
// One encoder exists per model, so the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Encoder {
    /// The chapter's CNN.
    Chapter(ChapterCnn),
    /// The deeper CNN with batch normalisation.
    Deep(DeepCnn),
    /// The small MLP.
    Mlp(Mlp),
    /// The LSTM over the input's columns.
    Lstm(LstmEncoder),
}

impl Encoder {
    /// Build the encoder `kind` for `channels x height x width` input.
    pub fn init<R: Rng>(
        kind: EncoderKind,
        (channels, height, width): (usize, usize, usize),
        embedding_dim: usize,
        device: &Device,
        rng: &mut R,
    ) -> Self {
        match kind {
            EncoderKind::ChapterCnn => Encoder::Chapter(
                ChapterCnnConfig {
                    channels,
                    height,
                    width,
                    embedding_dim,
                }
                .init(device, rng),
            ),
            EncoderKind::DeepCnn => Encoder::Deep(DeepCnn::init(
                channels,
                height,
                width,
                embedding_dim,
                device,
                rng,
            )),
            EncoderKind::Mlp => Encoder::Mlp(Mlp::init(
                channels * height * width,
                embedding_dim,
                device,
                rng,
            )),
            EncoderKind::Lstm => Encoder::Lstm(LstmEncoder::init(
                channels,
                height,
                embedding_dim,
                device,
                rng,
            )),
        }
    }

    /// Embeddings of a batch of images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Encoder::Chapter(e) => e.forward(images),
            Encoder::Deep(e) => e.forward(images),
            Encoder::Mlp(e) => e.forward(images),
            Encoder::Lstm(e) => e.forward(images),
        }
    }

    /// The chapter's weight penalty over this encoder's kernels and biases.
    pub fn penalty(&self, l2: f32, l1: f32) -> Tensor<1> {
        match self {
            Encoder::Chapter(e) => e.penalty(l2, l1),
            Encoder::Deep(e) => e.penalty(l2, l1),
            Encoder::Mlp(e) => e.penalty(l2, l1),
            Encoder::Lstm(e) => e.penalty(l2, l1),
        }
    }
}
