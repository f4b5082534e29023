//! Turning pair indices into input tensors.

use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use crate::data::{Affine, ImageSet};
use crate::sampling::PairSet;

/// Append image `index` of `images` to `pixels` as floats in [0, 1], distorted at random when
/// `distort` holds a generator.
fn push_image(
    images: &ImageSet,
    index: usize,
    distort: Option<&mut ChaCha8Rng>,
    pixels: &mut Vec<f32>,
) {
    let image = images.image(index);
    match distort {
        Some(rng) => {
            Affine::random(rng, images.rows.max(images.cols)).apply(
                image,
                images.rows,
                images.cols,
                pixels,
            );
        }
        None => pixels.extend(image.iter().map(|&v| f32::from(v) / 255.0)),
    }
}

/// Builds the stacked input of a batch of pairs: the left images, then the right images, as
/// `[2 * batch, channels, height, width]` floats scaled to [0, 1], plus the labels.
#[derive(Debug)]
pub struct PairBatcher<'a> {
    images: &'a ImageSet,
    pixels: Vec<f32>,
    labels: Vec<f32>,
}

impl<'a> PairBatcher<'a> {
    /// A batcher over `images`.
    pub fn new(images: &'a ImageSet) -> Self {
        Self {
            images,
            pixels: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// The tensors for the pairs `order[..]` of `pairs` (indices into the pair set).
    pub fn batch(
        &mut self,
        pairs: &PairSet,
        order: &[usize],
        device: &Device,
    ) -> (Tensor<4>, Tensor<1>) {
        self.batch_distorted(pairs, order, None, device)
    }

    /// [`PairBatcher::batch`], each image distorted at random when `distort` holds a generator.
    pub fn batch_distorted(
        &mut self,
        pairs: &PairSet,
        order: &[usize],
        mut distort: Option<&mut ChaCha8Rng>,
        device: &Device,
    ) -> (Tensor<4>, Tensor<1>) {
        let (rows, cols) = (self.images.rows, self.images.cols);
        let n = order.len();
        self.pixels.clear();
        self.pixels.reserve(2 * n * rows * cols);
        self.labels.clear();
        for side in [&pairs.left, &pairs.right] {
            for &p in order {
                push_image(
                    self.images,
                    side[p] as usize,
                    distort.as_deref_mut(),
                    &mut self.pixels,
                );
            }
        }
        self.labels
            .extend(order.iter().map(|&p| f32::from(pairs.labels[p])));
        let x = Tensor::from_data(
            TensorData::new(std::mem::take(&mut self.pixels), [2 * n, 1, rows, cols]),
            device,
        );
        let y = Tensor::from_data(TensorData::new(self.labels.clone(), [n]), device);
        (x, y)
    }
}

/// Images `indices` of `images` as a `[n, 1, rows, cols]` tensor scaled to [0, 1].
pub fn image_tensor(images: &ImageSet, indices: &[usize], device: &Device) -> Tensor<4> {
    image_tensor_distorted(images, indices, None, device)
}

/// [`image_tensor`], each image distorted at random when `distort` holds a generator.
pub fn image_tensor_distorted(
    images: &ImageSet,
    indices: &[usize],
    mut distort: Option<&mut ChaCha8Rng>,
    device: &Device,
) -> Tensor<4> {
    let (rows, cols) = (images.rows, images.cols);
    let mut pixels = Vec::with_capacity(indices.len() * rows * cols);
    for &i in indices {
        push_image(images, i, distort.as_deref_mut(), &mut pixels);
    }
    Tensor::from_data(
        TensorData::new(pixels, [indices.len(), 1, rows, cols]),
        device,
    )
}
