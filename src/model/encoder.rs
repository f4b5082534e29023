//! The chapter's convolutional encoder (SPEC.md section 5, step 5).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::init::glorot_uniform;
use crate::ops;

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
    ///
    /// On burn's `flex` CPU backend this runs our fused kernels ([`crate::ops`]); elsewhere
    /// burn's own ops. Both compute the same function: the feature map is flattened in
    /// height, width, channel order (as Keras does), so weights move between them unchanged.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        if ops::fast_path_available(&images.device()) {
            self.forward_fast(images)
        } else {
            self.forward_standard(images)
        }
    }

    /// [`Self::forward`] with burn's own ops only.
    pub(crate) fn forward_standard(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv1.forward(images));
        let x = self.pool.forward(x);
        let x = relu(self.conv2.forward(x));
        let x: Tensor<2> = x.permute([0, 2, 3, 1]).flatten(1, 3);
        relu(self.dense.forward(x))
    }

    /// [`Self::forward`] with our fused NHWC kernels (burn's `flex` backend only).
    pub(crate) fn forward_fast(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, channels, height, width] = images.dims();
        let x = if channels == 1 {
            images.reshape([batch, height, width, 1])
        } else {
            images.permute([0, 2, 3, 1])
        };
        let x = ops::conv2d_nhwc_relu_pool2x2(x, self.conv1.weight.val(), conv_bias(&self.conv1));
        let x = ops::conv2d_nhwc_relu(x, self.conv2.weight.val(), conv_bias(&self.conv2));
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

/// A convolution's bias, or zeros when it has none.
fn conv_bias(conv: &Conv2d) -> Tensor<1> {
    match &conv.bias {
        Some(bias) => bias.val(),
        None => {
            let filters = conv.weight.dims()[0];
            Tensor::zeros([filters], &conv.weight.device())
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::ChapterCnnConfig;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let a: Vec<f32> = a.into_data().try_into_vec().unwrap();
        let b: Vec<f32> = b.into_data().try_into_vec().unwrap();
        a.iter()
            .zip(&b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    /// The fused fast path and burn's own ops give the same embeddings and the same weight
    /// gradients (to float rounding: the sums run in another order), so the flatten order and
    /// every layer agree.
    #[test]
    fn fast_path_matches_standard_path() {
        let device = Device::flex().autodiff();
        let config = ChapterCnnConfig {
            channels: 1,
            height: 28,
            width: 28,
            embedding_dim: 16,
        };
        let model = config.init(&device, &mut ChaCha8Rng::seed_from_u64(7));
        let images = Tensor::<4>::random([6, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
        let fast = model.forward_fast(images.clone());
        let standard = model.forward_standard(images);
        let scale: f32 = standard.clone().abs().max().into_scalar();
        assert!(
            scale > 0.0,
            "the embeddings must not be all zero for the check to mean anything"
        );
        assert!(max_abs_diff(fast.clone(), standard.clone()) <= 1e-5 * scale.max(1.0));

        let g_fast = fast.sum().backward();
        let g_std = standard.sum().backward();
        let pairs = [
            (
                model.conv1.weight.grad(&g_fast),
                model.conv1.weight.grad(&g_std),
            ),
            (
                model.conv2.weight.grad(&g_fast),
                model.conv2.weight.grad(&g_std),
            ),
        ];
        for (i, (a, b)) in pairs.into_iter().enumerate() {
            let (a, b) = (a.unwrap(), b.unwrap());
            let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-3);
            assert!(
                max_abs_diff(a, b) <= 1e-4 * scale,
                "conv{} weight gradient differs",
                i + 1
            );
        }
        let (a, b) = (
            model.dense.weight.grad(&g_fast),
            model.dense.weight.grad(&g_std),
        );
        assert!(max_abs_diff(a.unwrap(), b.unwrap()) <= 1e-4);
    }
}
