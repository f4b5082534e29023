//! Weight initialisation from the run's own seeded generator (not burn's global one), so a
//! seed fixes the initial weights whatever else the process has drawn.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, RngExt};

/// Glorot (Xavier) uniform: values drawn from U(-l, l) with `l = sqrt(6 / (fan_in + fan_out))`,
/// as Keras's `glorot_uniform` (for a convolution kernel, fan_in = in_channels x kh x kw and
/// fan_out = out_channels x kh x kw).
pub fn glorot_uniform<const D: usize, R: Rng>(
    shape: [usize; D],
    fan_in: usize,
    fan_out: usize,
    rng: &mut R,
    device: &Device,
) -> Tensor<D> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-limit..limit)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}
