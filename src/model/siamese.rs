//! The Siamese head: one encoder, shared by both inputs, and the Euclidean distance.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::config::{ModelConfig, TWO_CHANNEL};
use super::encoders::Encoder;
use super::init::glorot_uniform;
use crate::loss::euclidean_distance;

/// Two inputs through one shared encoder, judged by the distance of their embeddings. The
/// triplet network is the same network with a third input.
///
/// With a `head`, it is instead the 2-channel network of Zagoruyko and Komodakis (2015): the
/// two images of a pair are stacked as the two channels of one input, the encoder (built for
/// two channels) and a dense layer to one output give the logit of "same". It judges pairs
/// only: a single image has no embedding. Its distance-like score is `1 - p(same)`.
#[derive(Module, Debug)]
pub struct SiameseNet {
    /// The shared encoder (for the 2-channel network: the one encoder of the stacked pair).
    pub encoder: Encoder,
    /// Whether embeddings are scaled to unit length.
    pub normalize: bool,
    /// The 2-channel network's output layer (embedding -> logit of "same").
    pub head: Option<Linear>,
    /// The pseudo-Siamese network's left encoder (its own weights, its own kind of input);
    /// `encoder` is then the right one.
    pub left: Option<Encoder>,
}

impl SiameseNet {
    /// Build the model `config` describes, initialised from `rng`.
    pub fn init<R: Rng>(config: &ModelConfig, device: &Device, rng: &mut R) -> Self {
        let two_channel = config.architecture == TWO_CHANNEL;
        let channels = config.input.channels * if two_channel { 2 } else { 1 };
        let encoder = Encoder::init(
            config.encoder,
            (channels, config.input.height, config.input.width),
            config.embedding_dim,
            device,
            rng,
        );
        let head = two_channel.then(|| {
            let mut head = LinearConfig::new(config.embedding_dim, 1)
                .with_initializer(Initializer::Zeros)
                .init(device);
            head.weight = Param::from_tensor(glorot_uniform(
                [config.embedding_dim, 1],
                config.embedding_dim,
                1,
                rng,
                device,
            ));
            head
        });
        // The right encoder is drawn first, so a pseudo-Siamese network's right branch starts
        // as the Siamese network of the same seed would.
        let left = config.left.as_ref().map(|branch| {
            Encoder::init(
                branch.encoder,
                (
                    branch.input.channels,
                    branch.input.height,
                    branch.input.width,
                ),
                config.embedding_dim,
                device,
                rng,
            )
        });
        Self {
            encoder,
            normalize: config.normalize,
            head,
            left,
        }
    }

    /// Whether this is the pseudo-Siamese network (two unshared encoders).
    pub fn is_pseudo(&self) -> bool {
        self.left.is_some()
    }

    /// Whether this is the 2-channel network (pairs in, no embeddings).
    pub fn is_two_channel(&self) -> bool {
        self.head.is_some()
    }

    /// The 2-channel network's logits of "same" for `batch` pairs given, like
    /// [`Self::pair_distances`], as the `batch` left images followed by the `batch` right ones.
    ///
    /// # Panics
    /// On a Siamese network (no head): a programming error.
    pub fn pair_logits(&self, stacked: Tensor<4>, batch: usize) -> Tensor<1> {
        let head = self
            .head
            .as_ref()
            .expect("pair_logits needs the 2-channel head");
        let [_, channels, height, width] = stacked.dims();
        // [2n, c, h, w] -> [2, n, c, h, w] -> [n, 2, c, h, w] -> [n, 2c, h, w]: channel 0 is
        // the left image, channel 1 the right one.
        let pairs = stacked
            .reshape([2, batch, channels * height * width])
            .swap_dims(0, 1)
            .reshape([batch, 2 * channels, height, width]);
        let features = self.encoder.forward(pairs);
        head.forward(features).squeeze_dim(1)
    }

    /// The weight penalty the chapter adds to the loss, over every kernel and bias (the
    /// 2-channel head's included).
    pub fn penalty(&self, l2: f32, l1: f32) -> Tensor<1> {
        let mut encoder = self.encoder.penalty(l2, l1);
        if let Some(left) = &self.left {
            encoder = encoder + left.penalty(l2, l1);
        }
        match &self.head {
            Some(head) => {
                let mut p = encoder + head.weight.val().square().sum().mul_scalar(l2);
                if let Some(b) = &head.bias {
                    p = p + b.val().abs().sum().mul_scalar(l1);
                }
                p
            }
            None => encoder,
        }
    }

    /// Embeddings of a batch of images, scaled to unit length when the model says so. For the
    /// pseudo-Siamese network: through the right branch (see [`Self::embed_left`]).
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        self.scale(self.encoder.forward(images))
    }

    /// The pseudo-Siamese network's embeddings of left-branch input; for any other network
    /// the same as [`Self::embed`] (its branches are one).
    pub fn embed_left(&self, inputs: Tensor<4>) -> Tensor<2> {
        match &self.left {
            Some(left) => self.scale(left.forward(inputs)),
            None => self.embed(inputs),
        }
    }

    fn scale(&self, e: Tensor<2>) -> Tensor<2> {
        if self.normalize {
            // An all-zero embedding (possible after a ReLU) stays zero instead of dividing
            // by zero.
            let norm = e.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
            e / norm
        } else {
            e
        }
    }

    /// Distances of `batch` pairs given as one tensor holding the `batch` left images followed
    /// by the `batch` right images: one encoder pass serves both branches, so the shared weights
    /// collect the gradients of both.
    ///
    /// For the 2-channel network: `1 - p(same)`, a distance-like score (smaller = more alike)
    /// in [0, 1].
    pub fn pair_distances(&self, stacked: Tensor<4>, batch: usize, epsilon: f32) -> Tensor<1> {
        if self.is_two_channel() {
            return sigmoid(self.pair_logits(stacked, batch))
                .neg()
                .add_scalar(1.0);
        }
        if self.is_pseudo() {
            let left = self.embed_left(stacked.clone().narrow(0, 0, batch));
            let right = self.embed(stacked.narrow(0, batch, batch));
            return euclidean_distance(left, right, epsilon);
        }
        let embeddings = self.embed(stacked);
        let left = embeddings.clone().narrow(0, 0, batch);
        let right = embeddings.narrow(0, batch, batch);
        euclidean_distance(left, right, epsilon)
    }
}

/// Collects every float parameter with its dotted path, in module order.
#[derive(Default)]
struct ParamCollector {
    path: Vec<String>,
    out: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl burn::module::ModuleVisitor for ParamCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let value = param.val();
        let shape = value.dims().to_vec();
        let data = value.into_data().try_into_vec::<f32>().unwrap_or_default();
        self.out.push((self.path.join("."), shape, data));
    }
}

impl SiameseNet {
    /// Every parameter as (dotted path, shape, values), in module order.
    pub fn parameters(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let mut collector = ParamCollector::default();
        self.visit(&mut collector);
        collector.out
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn two_channel_config() -> ModelConfig {
        let mut c = ModelConfig::chapter();
        c.architecture = TWO_CHANNEL.into();
        c.distance = super::super::config::ONE_MINUS_P_SAME.into();
        c
    }

    /// The stacked batch (left images, then right images) becomes, pair by pair, the left image
    /// as channel 0 and the right image as channel 1 of one input.
    #[test]
    fn two_channel_pairs_stack_left_then_right() {
        let device = Device::flex();
        let net = SiameseNet::init(
            &two_channel_config(),
            &device,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        assert!(net.is_two_channel());
        let n = 3;
        let stacked =
            Tensor::<4>::random([2 * n, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
        let logits: Vec<f32> = net
            .pair_logits(stacked.clone(), n)
            .into_data()
            .try_into_vec()
            .unwrap();
        let left = stacked.clone().narrow(0, 0, n);
        let right = stacked.clone().narrow(0, n, n);
        let by_hand = |a: Tensor<4>, b: Tensor<4>| -> Vec<f32> {
            let x = Tensor::cat(vec![a, b], 1);
            let head = net.head.as_ref().unwrap();
            head.forward(net.encoder.forward(x))
                .into_data()
                .try_into_vec()
                .unwrap()
        };
        let want = by_hand(left.clone(), right.clone());
        for (g, w) in logits.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{logits:?} vs {want:?}");
        }
        // The channel order matters: swapped pairs give other logits.
        let swapped = by_hand(right, left);
        assert!(
            logits
                .iter()
                .zip(&swapped)
                .any(|(a, b)| (a - b).abs() > 1e-4)
        );
        // The distance-like score is 1 - sigmoid(logit), in (0, 1).
        let d: Vec<f32> = net
            .pair_distances(stacked, n, 1e-7)
            .into_data()
            .try_into_vec()
            .unwrap();
        for (d, z) in d.iter().zip(&logits) {
            assert!((d - (1.0 - 1.0 / (1.0 + (-z).exp()))).abs() < 1e-6);
        }
    }
}
