//! The convolution followed by ReLU and a 2x2, stride-2 max-pool, in one pass per chunk: the
//! full-size convolution output and its gradient live only in a per-thread buffer, never in
//! memory-wide tensors (for the chapter's first layer that spares about 100 MB of memory traffic
//! per training step).

use rayon::prelude::*;

use super::conv::{conv_backward, conv_bias_relu_chunk, weight_to_patch_order};
use super::{CHUNK_IMAGES, CONV, ConvShape, with_buffer};

/// For each pooled value, which input of its 2x2 window was the maximum: 0 top-left, 1
/// top-right, 2 bottom-left, 3 bottom-right.
pub type PoolIndex = Vec<u8>;

impl ConvShape {
    /// Height after the 2x2 pool (an odd last row is dropped).
    pub fn pooled_h(&self) -> usize {
        self.out_h() / 2
    }

    /// Width after the 2x2 pool (an odd last column is dropped).
    pub fn pooled_w(&self) -> usize {
        self.out_w() / 2
    }

    pub(crate) fn pooled_image_len(&self) -> usize {
        self.pooled_h() * self.pooled_w() * self.filters
    }
}

/// The first maximum of a window's values `[top-left, top-right, bottom-left, bottom-right]` and
/// its position, as `>` comparisons in that order choose it (a tie goes to the earlier value, as
/// in burn's max-pool).
#[inline(always)]
fn first_max(v: [f32; 4]) -> (f32, u8) {
    let (m01, i01) = if v[1] > v[0] { (v[1], 1) } else { (v[0], 0) };
    let (m012, i012) = if v[2] > m01 { (v[2], 2) } else { (m01, i01) };
    if v[3] > m012 { (v[3], 3) } else { (m012, i012) }
}

/// `max_pool2x2(relu(conv(x, weight) + bias))` with the position of each maximum: `x` is
/// `[batch, height, width, channels]`, `weight` `[filters, channels, kernel_h, kernel_w]`,
/// `bias` `[filters]`; the result is `[batch, pooled_h, pooled_w, filters]`.
pub fn conv_relu_pool_forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    s: &ConvShape,
) -> (Vec<f32>, PoolIndex) {
    let weight = weight_to_patch_order(weight, s);
    let pooled = s.pooled_image_len();
    let mut out = vec![0.0f32; s.batch * pooled];
    let mut index = vec![0u8; out.len()];
    if pooled == 0 {
        return (out, index);
    }
    out.par_chunks_mut(CHUNK_IMAGES * pooled)
        .zip(index.par_chunks_mut(CHUNK_IMAGES * pooled))
        .zip(x.par_chunks(CHUNK_IMAGES * s.image_len()))
        .for_each(|((out, index), x)| {
            let images = x.len() / s.image_len();
            with_buffer(&CONV, images * s.out_image_len(), |conv| {
                conv_bias_relu_chunk(x, &weight, bias, s, conv);
                pool_chunk(conv, s, out, index);
            });
        });
    (out, index)
}

/// Pool the convolution outputs `conv` of a chunk's images into `out`, recording `index`.
fn pool_chunk(conv: &[f32], s: &ConvShape, out: &mut [f32], index: &mut [u8]) {
    let f = s.filters;
    let (row, pooled_row) = (s.out_w() * f, s.pooled_w() * f);
    let images = conv
        .chunks_exact(s.out_image_len())
        .zip(out.chunks_exact_mut(s.pooled_image_len()))
        .zip(index.chunks_exact_mut(s.pooled_image_len()));
    for ((conv, out), index) in images {
        let rows = conv
            .chunks_exact(2 * row)
            .zip(out.chunks_exact_mut(pooled_row))
            .zip(index.chunks_exact_mut(pooled_row));
        for ((rows, out), index) in rows {
            let (top, bottom) = rows.split_at(row);
            let windows = out.chunks_exact_mut(f).zip(index.chunks_exact_mut(f));
            for (px, (out, index)) in windows.enumerate() {
                let window = 2 * px * f..(2 * px + 2) * f;
                let (t0, t1) = top[window.clone()].split_at(f);
                let (b0, b1) = bottom[window].split_at(f);
                let inputs = t0.iter().zip(t1).zip(b0).zip(b1);
                for ((o, k), (((&v0, &v1), &v2), &v3)) in out.iter_mut().zip(index).zip(inputs) {
                    (*o, *k) = first_max([v0, v1, v2, v3]);
                }
            }
        }
    }
}

/// Gradients of [`conv_relu_pool_forward`] given its input `x`, `weight`, its output `out`, the
/// recorded `index` and the gradient `grad` of the output: `(dx, dweight, dbias)`, `dx` only
/// when `need_dx`. Each pooled gradient goes to its window's maximum, and on through the ReLU
/// where that maximum is positive.
pub fn conv_relu_pool_backward(
    x: &[f32],
    weight: &[f32],
    (out, index): (&[f32], &[u8]),
    grad: &[f32],
    s: &ConvShape,
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let f = s.filters;
    let (row, pooled_row) = (s.out_w() * f, s.pooled_w() * f);
    let pooled = s.pooled_image_len();
    let odd = s.out_h() % 2 == 1 || s.out_w() % 2 == 1;
    conv_backward(x, weight, s, need_dx, |chunk, dy| {
        if odd || pooled == 0 {
            // The dropped last row or column gets no gradient.
            dy.fill(0.0);
        }
        if pooled == 0 {
            return;
        }
        let start = chunk * CHUNK_IMAGES * pooled;
        let len = dy.len() / s.out_image_len() * pooled;
        let (out, index, grad) = (
            &out[start..start + len],
            &index[start..start + len],
            &grad[start..start + len],
        );
        let images = dy
            .chunks_exact_mut(s.out_image_len())
            .zip(out.chunks_exact(pooled))
            .zip(index.chunks_exact(pooled))
            .zip(grad.chunks_exact(pooled));
        for (((dy, out), index), grad) in images {
            let rows = dy
                .chunks_exact_mut(2 * row)
                .zip(out.chunks_exact(pooled_row))
                .zip(index.chunks_exact(pooled_row))
                .zip(grad.chunks_exact(pooled_row));
            for (((rows, out), index), grad) in rows {
                let (top, bottom) = rows.split_at_mut(row);
                for px in 0..s.pooled_w() {
                    let window = 2 * px * f..(2 * px + 2) * f;
                    let (d0, d1) = top[window.clone()].split_at_mut(f);
                    let (d2, d3) = bottom[window].split_at_mut(f);
                    let values = px * f..(px + 1) * f;
                    let pooled = out[values.clone()]
                        .iter()
                        .zip(&index[values.clone()])
                        .zip(&grad[values]);
                    let targets = d0.iter_mut().zip(d1).zip(d2).zip(d3);
                    for (((&o, &k), &g), (((d0, d1), d2), d3)) in pooled.zip(targets) {
                        let g = if o > 0.0 { g } else { 0.0 };
                        *d0 = if k == 0 { g } else { 0.0 };
                        *d1 = if k == 1 { g } else { 0.0 };
                        *d2 = if k == 2 { g } else { 0.0 };
                        *d3 = if k == 3 { g } else { 0.0 };
                    }
                }
            }
        }
    })
}
