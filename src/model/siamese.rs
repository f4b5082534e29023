//! The Siamese head: one encoder, shared by both inputs, and the Euclidean distance.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::config::{EncoderKind, ModelConfig};
use super::encoder::{ChapterCnn, ChapterCnnConfig};
use crate::loss::euclidean_distance;

/// Two inputs through one shared encoder, judged by the distance of their embeddings. The
/// triplet network is the same network with a third input; both use it.
#[derive(Module, Debug)]
pub struct SiameseNet {
    /// The shared encoder.
    pub encoder: ChapterCnn,
    /// Whether embeddings are scaled to unit length.
    pub normalize: bool,
}

impl SiameseNet {
    /// Build the model `config` describes, initialised from `rng`.
    pub fn init<R: Rng>(config: &ModelConfig, device: &Device, rng: &mut R) -> Self {
        let encoder = match config.encoder {
            EncoderKind::ChapterCnn => ChapterCnnConfig {
                channels: config.input.channels,
                height: config.input.height,
                width: config.input.width,
                embedding_dim: config.embedding_dim,
            }
            .init(device, rng),
        };
        Self {
            encoder,
            normalize: config.normalize,
        }
    }

    /// Embeddings of a batch of images, scaled to unit length when the model says so.
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        let e = self.encoder.forward(images);
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
    pub fn pair_distances(&self, stacked: Tensor<4>, batch: usize, epsilon: f32) -> Tensor<1> {
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
