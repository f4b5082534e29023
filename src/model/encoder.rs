//! The chapter's convolutional encoder (SPEC.md section 5, step 5).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::init::glorot_uniform;

/// Sizes of the chapter's CNN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapterCnnConfig {
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Embedding size (the dense layer's width).
    pub embedding_dim: usize,
}

impl ChapterCnnConfig {
    /// Filters of the first and second convolutions.
    const FILTERS: [usize; 2] = [32, 64];
    /// Kernel sizes of the first and second convolutions.
    const KERNELS: [usize; 2] = [7, 3];

    /// Number of features entering the dense layer.
    pub fn flat_features(&self) -> usize {
        let h1 = self.height - Self::KERNELS[0] + 1;
        let w1 = self.width - Self::KERNELS[0] + 1;
        let (h2, w2) = (h1 / 2 - Self::KERNELS[1] + 1, w1 / 2 - Self::KERNELS[1] + 1);
        Self::FILTERS[1] * h2 * w2
    }

    /// Build the encoder with Glorot-uniform kernels and zero biases, drawn from `rng`.
    pub fn init<R: Rng>(&self, device: &Device, rng: &mut R) -> ChapterCnn {
        let [f1, f2] = Self::FILTERS;
        let [k1, k2] = Self::KERNELS;
        let zeros = Initializer::Zeros;
        let mut conv1 = Conv2dConfig::new([self.channels, f1], [k1, k1])
            .with_initializer(zeros.clone())
            .init(device);
        conv1.weight = Param::from_tensor(glorot_uniform(
            [f1, self.channels, k1, k1],
            self.channels * k1 * k1,
            f1 * k1 * k1,
            rng,
            device,
        ));
        let mut conv2 = Conv2dConfig::new([f1, f2], [k2, k2])
            .with_initializer(zeros.clone())
            .init(device);
        conv2.weight = Param::from_tensor(glorot_uniform(
            [f2, f1, k2, k2],
            f1 * k2 * k2,
            f2 * k2 * k2,
            rng,
            device,
        ));
        let flat = self.flat_features();
        let mut dense = LinearConfig::new(flat, self.embedding_dim)
            .with_initializer(zeros)
            .init(device);
        dense.weight = Param::from_tensor(glorot_uniform(
            [flat, self.embedding_dim],
            flat,
            self.embedding_dim,
            rng,
            device,
        ));
        ChapterCnn {
            conv1,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            conv2,
            dense,
        }
    }
}

/// Conv 32@7x7 + ReLU, max-pool 2x2, conv 64@3x3 + ReLU, flatten, dense + ReLU.
#[derive(Module, Debug)]
pub struct ChapterCnn {
    /// First convolution.
    pub conv1: Conv2d,
    /// The 2x2 max-pool.
    pub pool: MaxPool2d,
    /// Second convolution.
    pub conv2: Conv2d,
    /// The dense layer that gives the embedding.
    pub dense: Linear,
}

impl ChapterCnn {
    /// Embeddings `[batch, embedding_dim]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv1.forward(images));
        let x = self.pool.forward(x);
        let x = relu(self.conv2.forward(x));
        let x: Tensor<2> = x.flatten(1, 3);
        relu(self.dense.forward(x))
    }

    /// The weight penalty the chapter adds to the loss: `l2 * sum(w^2)` over every kernel and
    /// `l1 * sum(|b|)` over every bias, each parameter counted once.
    pub fn penalty(&self, l2: f32, l1: f32) -> Tensor<1> {
        let kernels = self.conv1.weight.val().square().sum()
            + self.conv2.weight.val().square().sum()
            + self.dense.weight.val().square().sum();
        let mut biases = Vec::new();
        for bias in [&self.conv1.bias, &self.conv2.bias, &self.dense.bias]
            .into_iter()
            .flatten()
        {
            biases.push(bias.val().abs().sum());
        }
        let biases = biases
            .into_iter()
            .reduce(|a, b| a + b)
            .unwrap_or_else(|| kernels.zeros_like());
        kernels.mul_scalar(l2) + biases.mul_scalar(l1)
    }
}
