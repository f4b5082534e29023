//! Two other encoders: a deeper CNN with batch normalisation, and a small MLP.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::init::glorot_uniform;
use crate::ops;

/// Filters of every block of [`DeepCnn`].
pub const DEEP_FILTERS: usize = 64;

/// Blocks of [`DeepCnn`].
pub const DEEP_BLOCKS: usize = 3;

/// The side of the feature map a [`DeepCnn`] leaves from an input side `side`: each block is a
/// 3x3 valid convolution then a 2x2 max-pool, `s -> (s - 2) / 2`. `None` when it runs out.
pub fn deep_output_side(side: usize) -> Option<usize> {
    (0..DEEP_BLOCKS).try_fold(side, |s, _| (s >= 4).then(|| (s - 2) / 2))
}

/// One block: 3x3 convolution (valid), ReLU, 2x2 max-pool, batch normalisation.
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// The convolution.
    pub conv: Conv2d,
    /// Batch normalisation of the pooled maps.
    pub norm: BatchNorm,
}

/// A deeper CNN: three blocks of 64 filters (3x3 convolution, ReLU, 2x2 max-pool, batch
/// normalisation), flattened, then a dense layer to the embedding with no activation (so
/// embeddings may be negative). On 28x28 input the maps go 26 -> 13 -> 11 -> 5 -> 3 -> 1.
#[derive(Module, Debug)]
pub struct DeepCnn {
    /// The convolution blocks.
    pub blocks: Vec<ConvBlock>,
    /// The 2x2 max-pool of the standard path.
    pub pool: MaxPool2d,
    /// Features to embedding.
    pub dense: Linear,
}

impl DeepCnn {
    /// Build it for `channels x height x width` input, Glorot-uniform kernels, zero biases.
    pub fn init<R: Rng>(
        channels: usize,
        height: usize,
        width: usize,
        embedding_dim: usize,
        device: &Device,
        rng: &mut R,
    ) -> Self {
        let mut blocks = Vec::with_capacity(DEEP_BLOCKS);
        let mut in_channels = channels;
        for _ in 0..DEEP_BLOCKS {
            let mut conv = Conv2dConfig::new([in_channels, DEEP_FILTERS], [3, 3])
                .with_initializer(Initializer::Zeros)
                .init(device);
            conv.weight = Param::from_tensor(glorot_uniform(
                [DEEP_FILTERS, in_channels, 3, 3],
                in_channels * 9,
                DEEP_FILTERS * 9,
                rng,
                device,
            ));
            blocks.push(ConvBlock {
                conv,
                norm: BatchNormConfig::new(DEEP_FILTERS).init(device),
            });
            in_channels = DEEP_FILTERS;
        }
        let (h, w) = (
            deep_output_side(height).unwrap_or(1),
            deep_output_side(width).unwrap_or(1),
        );
        let flat = DEEP_FILTERS * h * w;
        let mut dense = LinearConfig::new(flat, embedding_dim)
            .with_initializer(Initializer::Zeros)
            .init(device);
        dense.weight = Param::from_tensor(glorot_uniform(
            [flat, embedding_dim],
            flat,
            embedding_dim,
            rng,
            device,
        ));
        Self {
            blocks,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            dense,
        }
    }

    /// Embeddings `[batch, embedding_dim]` of images `[batch, channels, height, width]`. On
    /// burn's `flex` backend each block's convolution, ReLU and pool run as one of our fused
    /// kernels (NHWC), the normalisation as burn's; elsewhere burn's ops throughout. The map
    /// is flattened in height, width, channel order either way.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        if ops::fast_path_available(&images.device()) {
            self.forward_fast(images)
        } else {
            self.forward_standard(images)
        }
    }

    /// [`Self::forward`] with our fused kernels (burn's `flex` backend only).
    pub(crate) fn forward_fast(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images.permute([0, 2, 3, 1]);
        for block in &self.blocks {
            let bias = block
                .conv
                .bias
                .as_ref()
                .map(|b| b.val())
                .unwrap_or_else(|| Tensor::zeros([DEEP_FILTERS], &block.conv.weight.device()));
            x = ops::conv2d_nhwc_relu_pool2x2(x, block.conv.weight.val(), bias);
            // Batch norm over the channel axis, which burn's layer expects second.
            x = block
                .norm
                .forward(x.permute([0, 3, 1, 2]))
                .permute([0, 2, 3, 1]);
        }
        self.dense.forward(x.flatten(1, 3))
    }

    /// [`Self::forward`] with burn's own ops only.
    pub(crate) fn forward_standard(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for block in &self.blocks {
            x = block
                .norm
                .forward(self.pool.forward(relu(block.conv.forward(x))));
        }
        let x: Tensor<2> = x.permute([0, 2, 3, 1]).flatten(1, 3);
        self.dense.forward(x)
    }

    /// `l2 * sum(w^2)` over every kernel and `l1 * sum(|b|)` over every bias (batch-norm
    /// scales and shifts are not penalised).
    pub fn penalty(&self, l2: f32, l1: f32) -> Tensor<1> {
        let mut kernels = self.dense.weight.val().square().sum();
        let mut biases: Option<Tensor<1>> = self.dense.bias.as_ref().map(|b| b.val().abs().sum());
        for block in &self.blocks {
            kernels = kernels + block.conv.weight.val().square().sum();
            if let Some(b) = &block.conv.bias {
                let s = b.val().abs().sum();
                biases = Some(match biases {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
        let biases = biases.unwrap_or_else(|| kernels.zeros_like());
        kernels.mul_scalar(l2) + biases.mul_scalar(l1)
    }
}

/// A small MLP: the image flattened, a dense layer of 512 with ReLU, a dense layer to the
/// embedding with no activation.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Pixels to the hidden layer.
    pub hidden: Linear,
    /// Hidden layer to embedding.
    pub out: Linear,
}

/// Width of [`Mlp`]'s hidden layer.
pub const MLP_HIDDEN: usize = 512;

impl Mlp {
    /// Build it for `inputs` values per image, Glorot-uniform kernels, zero biases.
    pub fn init<R: Rng>(inputs: usize, embedding_dim: usize, device: &Device, rng: &mut R) -> Self {
        let layer = |i: usize, o: usize, rng: &mut R| {
            let mut l = LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device);
            l.weight = Param::from_tensor(glorot_uniform([i, o], i, o, rng, device));
            l
        };
        let hidden = layer(inputs, MLP_HIDDEN, rng);
        let out = layer(MLP_HIDDEN, embedding_dim, rng);
        Self { hidden, out }
    }

    /// Embeddings `[batch, embedding_dim]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x: Tensor<2> = images.permute([0, 2, 3, 1]).flatten(1, 3);
        self.out.forward(relu(self.hidden.forward(x)))
    }

    /// `l2 * sum(w^2)` over both kernels and `l1 * sum(|b|)` over both biases.
    pub fn penalty(&self, l2: f32, l1: f32) -> Tensor<1> {
        let kernels =
            self.hidden.weight.val().square().sum() + self.out.weight.val().square().sum();
        let mut biases = kernels.zeros_like();
        for b in [&self.hidden.bias, &self.out.bias].into_iter().flatten() {
            biases = biases + b.val().abs().sum();
        }
        kernels.mul_scalar(l2) + biases.mul_scalar(l1)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn output_sides_by_hand() {
        // 28 -> 26 -> 13 -> 11 -> 5 -> 3 -> 1; 105 -> 103 -> 51 -> 49 -> 24 -> 22 -> 11.
        assert_eq!(deep_output_side(28), Some(1));
        assert_eq!(deep_output_side(105), Some(11));
        assert_eq!(deep_output_side(22), Some(1));
        assert_eq!(deep_output_side(21), None);
    }

    /// The fused path on `flex` and burn's own ops compute the same embeddings, in inference
    /// (running statistics) and in training (batch statistics).
    #[test]
    fn fast_path_matches_standard_path() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            let net = DeepCnn::init(1, 28, 28, 16, &device, &mut ChaCha8Rng::seed_from_u64(2));
            let x = Tensor::<4>::random([5, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
            let fast: Vec<f32> = net
                .forward_fast(x.clone())
                .into_data()
                .try_into_vec()
                .unwrap();
            let standard: Vec<f32> = net.forward_standard(x).into_data().try_into_vec().unwrap();
            assert_eq!(fast.len(), 5 * 16);
            for (a, b) in fast.iter().zip(&standard) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn mlp_shapes_and_penalty_by_hand() {
        let device = Device::flex();
        let net = Mlp::init(4, 2, &device, &mut ChaCha8Rng::seed_from_u64(0));
        let x = Tensor::<4>::ones([3, 1, 2, 2], &device);
        assert_eq!(net.forward(x).dims(), [3, 2]);
        // Zero biases: the penalty is l2 times the sum of squared kernel values.
        let w: f32 = net.hidden.weight.val().square().sum().into_scalar::<f32>()
            + net.out.weight.val().square().sum().into_scalar::<f32>();
        let p: f32 = net.penalty(0.5, 3.0).into_scalar();
        assert!((p - 0.5 * w).abs() < 1e-5, "{p} vs {}", 0.5 * w);
    }
}
