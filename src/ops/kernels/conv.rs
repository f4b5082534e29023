//! The convolution: im2col + GEMM forward with bias and ReLU, and the backward pass shared with
//! the pooled variant.

use rayon::prelude::*;

use super::{CHUNK_IMAGES, COLS, CONV, ConvShape, sgemm, with_buffer};

/// The weight `[filters, channels, kernel_h, kernel_w]` rearranged as `[filters, patch]` with the
/// patch in (kernel row, kernel column, channel) order, the order [`im2col`] unrolls NHWC input.
pub(super) fn weight_to_patch_order(weight: &[f32], s: &ConvShape) -> Vec<f32> {
    let (kh, kw, c) = (s.kernel_h, s.kernel_w, s.channels);
    let mut out = vec![0.0f32; s.filters * s.patch()];
    for (dst, src) in out
        .chunks_exact_mut(s.patch())
        .zip(weight.chunks_exact(s.patch()))
    {
        for ch in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    dst[(ky * kw + kx) * c + ch] = src[(ch * kh + ky) * kw + kx];
                }
            }
        }
    }
    out
}

/// Unroll `images` NHWC images into `images x pixels` rows of `patch` values in (kernel row,
/// kernel column, channel) order: each kernel row of a patch is one contiguous run of the input.
pub(super) fn im2col(x: &[f32], s: &ConvShape, images: usize, cols: &mut [f32]) {
    let run = s.kernel_w * s.channels;
    let mut rows = cols.chunks_exact_mut(s.patch());
    for img in 0..images {
        let base = img * s.image_len();
        for oy in 0..s.out_h() {
            for ox in 0..s.out_w() {
                let Some(dst) = rows.next() else { return };
                for (ky, dst) in dst.chunks_exact_mut(run).enumerate() {
                    let start = base + ((oy + ky) * s.width + ox) * s.channels;
                    copy_run(dst, &x[start..start + run]);
                }
            }
        }
    }
}

/// Add unrolled patch gradients back onto the NHWC input gradient (the adjoint of [`im2col`]).
fn col2im_add(dcols: &[f32], s: &ConvShape, images: usize, dx: &mut [f32]) {
    let run = s.kernel_w * s.channels;
    let mut rows = dcols.chunks_exact(s.patch());
    for img in 0..images {
        let base = img * s.image_len();
        for oy in 0..s.out_h() {
            for ox in 0..s.out_w() {
                let Some(src) = rows.next() else { return };
                for (ky, src) in src.chunks_exact(run).enumerate() {
                    let start = base + ((oy + ky) * s.width + ox) * s.channels;
                    for (d, v) in dx[start..start + run].iter_mut().zip(src) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// Copy a kernel row's run of values. The chapter's first layer has runs of 7 values, where a
/// copy of known length (a few vector moves) beats both an element loop and a `memcpy` call.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    fn fixed<const N: usize>(dst: &mut [f32], src: &[f32]) {
        dst[..N].copy_from_slice(&src[..N]);
    }
    match dst.len() {
        3 => fixed::<3>(dst, src),
        5 => fixed::<5>(dst, src),
        7 => fixed::<7>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// `relu(conv(x, weight) + bias)`: `x` is `[batch, height, width, channels]`, `weight`
/// `[filters, channels, kernel_h, kernel_w]`, `bias` `[filters]`; the result is
/// `[batch, out_h, out_w, filters]`.
pub fn conv_relu_forward(x: &[f32], weight: &[f32], bias: &[f32], s: &ConvShape) -> Vec<f32> {
    let weight = weight_to_patch_order(weight, s);
    let mut out = vec![0.0f32; s.batch * s.out_image_len()];
    out.par_chunks_mut(CHUNK_IMAGES * s.out_image_len())
        .zip(x.par_chunks(CHUNK_IMAGES * s.image_len()))
        .for_each(|(out, x)| conv_bias_relu_chunk(x, &weight, bias, s, out));
    out
}

/// `relu(conv(x, weight) + bias)` for the images of one chunk, into `out`; `weight` in patch
/// order ([`weight_to_patch_order`]).
pub(super) fn conv_bias_relu_chunk(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    s: &ConvShape,
    out: &mut [f32],
) {
    let (patch, filters) = (s.patch(), s.filters);
    let images = x.len() / s.image_len();
    let rows = images * s.pixels();
    with_buffer(&COLS, rows * patch, |cols| {
        im2col(x, s, images, cols);
        // out[rows x filters] = cols[rows x patch] * weight^T[patch x filters]
        sgemm(
            (rows, filters, patch),
            cols,
            (patch, 1),
            weight,
            (1, patch),
            out,
            false,
        );
    });
    for row in out.chunks_exact_mut(filters) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v = (*v + b).max(0.0);
        }
    }
}

/// Gradients of [`conv_relu_forward`] given its input `x`, `weight`, its output `out` and the
/// gradient `grad` of the output: `(dx, dweight, dbias)`, `dx` only when `need_dx`.
pub fn conv_relu_backward(
    x: &[f32],
    weight: &[f32],
    out: &[f32],
    grad: &[f32],
    s: &ConvShape,
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let chunk = CHUNK_IMAGES * s.out_image_len();
    conv_backward(x, weight, s, need_dx, |index, dy| {
        let start = index * chunk;
        let (out, grad) = (
            &out[start..start + dy.len()],
            &grad[start..start + dy.len()],
        );
        // The ReLU's gradient: pass where the output is positive.
        for ((d, &o), &g) in dy.iter_mut().zip(out).zip(grad) {
            *d = if o > 0.0 { g } else { 0.0 };
        }
    })
}

/// The backward pass of a convolution with bias, given the gradient of its pre-activation output:
/// `fill_dy(chunk, dy)` writes that gradient for the images of chunk number `chunk` into `dy`
/// (`[images x out_h x out_w, filters]`). Returns `(dx, dweight, dbias)`, `dx` only when
/// `need_dx`.
pub(super) fn conv_backward(
    x: &[f32],
    weight: &[f32],
    s: &ConvShape,
    need_dx: bool,
    fill_dy: impl Fn(usize, &mut [f32]) + Sync,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (patch, filters) = (s.patch(), s.filters);
    let chunk_in = CHUNK_IMAGES * s.image_len();
    let weight = weight_to_patch_order(weight, s);
    let mut dx = need_dx.then(|| vec![0.0f32; s.batch * s.image_len()]);
    let chunk = |(index, x): (usize, &[f32]), dx: Option<&mut [f32]>| {
        let images = x.len() / s.image_len();
        let rows = images * s.pixels();
        let mut dw_t = vec![0.0f32; patch * filters];
        let mut db = vec![0.0f32; filters];
        with_buffer(&CONV, rows * filters, |dy| {
            fill_dy(index, dy);
            for row in dy.chunks_exact(filters) {
                for (acc, v) in db.iter_mut().zip(row) {
                    *acc += v;
                }
            }
            with_buffer(&COLS, rows * patch, |cols| {
                im2col(x, s, images, cols);
                // dweight^T [patch x filters] = cols^T [patch x rows] * dy [rows x filters]
                sgemm(
                    (patch, filters, rows),
                    cols,
                    (1, patch),
                    dy,
                    (filters, 1),
                    &mut dw_t,
                    false,
                );
                if let Some(dx) = dx {
                    // dcols [rows x patch] = dy [rows x filters] * weight [filters x patch]
                    sgemm(
                        (rows, patch, filters),
                        dy,
                        (filters, 1),
                        &weight,
                        (patch, 1),
                        cols,
                        false,
                    );
                    col2im_add(cols, s, images, dx);
                }
            });
        });
        (dw_t, db)
    };
    let chunks = x.par_chunks(chunk_in).enumerate();
    // Per-chunk partial sums, added in chunk order below so the result does not depend on the
    // number of threads.
    let partials: Vec<(Vec<f32>, Vec<f32>)> = match dx.as_mut() {
        Some(dx) => chunks
            .zip(dx.par_chunks_mut(chunk_in))
            .map(|(inputs, dx)| chunk(inputs, Some(dx)))
            .collect(),
        None => chunks.map(|inputs| chunk(inputs, None)).collect(),
    };
    let mut dweight_t = vec![0.0f32; patch * filters];
    let mut dbias = vec![0.0f32; filters];
    for (dw_t, db) in &partials {
        for (acc, v) in dweight_t.iter_mut().zip(dw_t) {
            *acc += v;
        }
        for (acc, v) in dbias.iter_mut().zip(db) {
            *acc += v;
        }
    }
    // Back from [patch x filters] in (kernel row, kernel column, channel) order to burn's
    // [filters, channels, kernel_h, kernel_w].
    let (kh, kw, c) = (s.kernel_h, s.kernel_w, s.channels);
    let mut dweight = vec![0.0f32; filters * patch];
    for f in 0..filters {
        for ch in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    let k = (ky * kw + kx) * c + ch;
                    dweight[((f * c + ch) * kh + ky) * kw + kx] = dweight_t[k * filters + f];
                }
            }
        }
    }
    (dx, dweight, dbias)
}
