//! CPU kernels of the chapter's CNN on plain `f32` slices, in NHWC layout: a convolution with
//! bias and ReLU (im2col + GEMM on the `gemm` crate), its backward pass, and a 2x2 max-pool.
//!
//! Parallelism: a batch is cut into chunks of a fixed number of images ([`CHUNK_IMAGES`]) that
//! rayon's global pool (the one burn's `flex` backend uses) runs side by side; each chunk calls
//! `gemm` single-threaded. Because the chunking does not depend on the thread count, every sum is
//! taken in the same order however many threads run: results are bit-for-bit reproducible.

use std::cell::RefCell;

use rayon::prelude::*;

/// Images per parallel chunk.
pub const CHUNK_IMAGES: usize = 32;

/// The shape of a valid (unpadded), stride-1 convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Images in the batch.
    pub batch: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Input channels.
    pub channels: usize,
    /// Output channels (filters).
    pub filters: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
}

impl ConvShape {
    /// Output height.
    pub fn out_h(&self) -> usize {
        self.height - self.kernel_h + 1
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        self.width - self.kernel_w + 1
    }

    /// Output pixels per image.
    pub fn pixels(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// Length of one unrolled patch: channels x kernel_h x kernel_w, in that order (the order
    /// of burn's `[filters, channels, kernel_h, kernel_w]` weight).
    pub fn patch(&self) -> usize {
        self.channels * self.kernel_h * self.kernel_w
    }

    fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    fn out_image_len(&self) -> usize {
        self.pixels() * self.filters
    }
}

thread_local! {
    /// Per-thread unrolled-patch buffer, reused across calls so a step does not page-fault.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLS.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// `c = a * b` (or `c += a * b` when `accumulate`), for row-major `c` (`m x n`) and `a` (`m x k`)
/// and `b` (`k x n`) given by their row and column strides. Single-threaded.
#[allow(clippy::too_many_arguments)]
fn sgemm(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Every index the kernel may touch lies inside the slices: this is what makes the raw
    // pointer call below sound.
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(c.len() >= m * n, "gemm: output too short");
    if k > 0 {
        assert!(a.len() > last(m, k, a_rs, a_cs), "gemm: lhs too short");
        assert!(b.len() > last(k, n, b_rs, b_cs), "gemm: rhs too short");
    } else if !accumulate {
        c[..m * n].fill(0.0);
        return;
    }
    // SAFETY: the asserts above keep every access within `a`, `b` and `c`; `c` does not alias
    // `a` or `b` (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Unroll `images` NHWC images into `rows = images x pixels` rows of `patch` values.
fn im2col(x: &[f32], s: &ConvShape, images: usize, cols: &mut [f32]) {
    let (ow, patch) = (s.out_w(), s.patch());
    let mut row = 0;
    for img in 0..images {
        let base = img * s.image_len();
        for oy in 0..s.out_h() {
            for ox in 0..ow {
                let dst = &mut cols[row * patch..(row + 1) * patch];
                let mut i = 0;
                for c in 0..s.channels {
                    for ky in 0..s.kernel_h {
                        let start = base + ((oy + ky) * s.width + ox) * s.channels + c;
                        for kx in 0..s.kernel_w {
                            dst[i] = x[start + kx * s.channels];
                            i += 1;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// The transpose of [`im2col`]: `patch` rows of `images x pixels` values each.
fn im2col_transposed(x: &[f32], s: &ConvShape, images: usize, cols_t: &mut [f32]) {
    let rows = images * s.pixels();
    let (oh, ow) = (s.out_h(), s.out_w());
    for c in 0..s.channels {
        for ky in 0..s.kernel_h {
            for kx in 0..s.kernel_w {
                let k = (c * s.kernel_h + ky) * s.kernel_w + kx;
                let dst = &mut cols_t[k * rows..(k + 1) * rows];
                let mut j = 0;
                for img in 0..images {
                    let base = img * s.image_len() + c;
                    for oy in 0..oh {
                        let start = base + ((oy + ky) * s.width + kx) * s.channels;
                        for ox in 0..ow {
                            dst[j] = x[start + ox * s.channels];
                            j += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Add unrolled patch gradients back onto the NHWC input gradient (the adjoint of [`im2col`]).
fn col2im_add(dcols: &[f32], s: &ConvShape, images: usize, dx: &mut [f32]) {
    let patch = s.patch();
    let mut row = 0;
    for img in 0..images {
        let base = img * s.image_len();
        for oy in 0..s.out_h() {
            for ox in 0..s.out_w() {
                let src = &dcols[row * patch..(row + 1) * patch];
                let mut i = 0;
                for c in 0..s.channels {
                    for ky in 0..s.kernel_h {
                        let start = base + ((oy + ky) * s.width + ox) * s.channels + c;
                        for kx in 0..s.kernel_w {
                            dx[start + kx * s.channels] += src[i];
                            i += 1;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// `relu(conv(x, weight) + bias)`: `x` is `[batch, height, width, channels]`, `weight`
/// `[filters, channels, kernel_h, kernel_w]`, `bias` `[filters]`; the result is
/// `[batch, out_h, out_w, filters]`.
pub fn conv_relu_forward(x: &[f32], weight: &[f32], bias: &[f32], s: &ConvShape) -> Vec<f32> {
    let (pixels, patch, filters) = (s.pixels(), s.patch(), s.filters);
    let mut out = vec![0.0f32; s.batch * s.out_image_len()];
    out.par_chunks_mut(CHUNK_IMAGES * s.out_image_len())
        .zip(x.par_chunks(CHUNK_IMAGES * s.image_len()))
        .for_each(|(out, x)| {
            let images = x.len() / s.image_len();
            let rows = images * pixels;
            with_cols(rows * patch, |cols| {
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
        });
    out
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
    let (pixels, patch, filters) = (s.pixels(), s.patch(), s.filters);
    let chunk_out = CHUNK_IMAGES * s.out_image_len();
    let chunk_in = CHUNK_IMAGES * s.image_len();
    // The ReLU's gradient: pass where the output is positive.
    let masked: Vec<f32> = out
        .par_iter()
        .zip(grad)
        .map(|(&o, &g)| if o > 0.0 { g } else { 0.0 })
        .collect();

    // Per chunk: dweight^T partial [patch x filters] = cols^T [patch x rows] * dy [rows x filters],
    // and the bias partial; summed over chunks in chunk order below.
    let partials: Vec<(Vec<f32>, Vec<f32>)> = masked
        .par_chunks(chunk_out)
        .zip(x.par_chunks(chunk_in))
        .map(|(dy, x)| {
            let images = x.len() / s.image_len();
            let rows = images * pixels;
            let mut dw_t = vec![0.0f32; patch * filters];
            with_cols(rows * patch, |cols_t| {
                im2col_transposed(x, s, images, cols_t);
                sgemm(
                    (patch, filters, rows),
                    cols_t,
                    (rows, 1),
                    dy,
                    (filters, 1),
                    &mut dw_t,
                    false,
                );
            });
            let mut db = vec![0.0f32; filters];
            for row in dy.chunks_exact(filters) {
                for (acc, v) in db.iter_mut().zip(row) {
                    *acc += v;
                }
            }
            (dw_t, db)
        })
        .collect();
    let mut dweight = vec![0.0f32; filters * patch];
    let mut dbias = vec![0.0f32; filters];
    for (dw_t, db) in &partials {
        for k in 0..patch {
            for f in 0..filters {
                dweight[f * patch + k] += dw_t[k * filters + f];
            }
        }
        for (acc, v) in dbias.iter_mut().zip(db) {
            *acc += v;
        }
    }

    let dx = need_dx.then(|| {
        let mut dx = vec![0.0f32; s.batch * s.image_len()];
        dx.par_chunks_mut(chunk_in)
            .zip(masked.par_chunks(chunk_out))
            .for_each(|(dx, dy)| {
                let images = dx.len() / s.image_len();
                let rows = images * pixels;
                with_cols(rows * patch, |dcols| {
                    // dcols [rows x patch] = dy [rows x filters] * weight [filters x patch]
                    sgemm(
                        (rows, patch, filters),
                        dy,
                        (filters, 1),
                        weight,
                        (patch, 1),
                        dcols,
                        false,
                    );
                    col2im_add(dcols, s, images, dx);
                });
            });
        dx
    });
    (dx, dweight, dbias)
}

/// The shape of a 2x2, stride-2 max-pool over NHWC input (odd edges are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolShape {
    /// Images.
    pub batch: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Channels.
    pub channels: usize,
}

impl PoolShape {
    fn out_h(&self) -> usize {
        self.height / 2
    }

    fn out_w(&self) -> usize {
        self.width / 2
    }

    fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    fn out_image_len(&self) -> usize {
        self.out_h() * self.out_w() * self.channels
    }

    /// Offsets, within one image, of the four inputs of output `(oy, ox)` at channel 0, in the
    /// order ties are broken (the first maximum wins).
    fn window(&self, oy: usize, ox: usize) -> [usize; 4] {
        let at = |y: usize, x: usize| (y * self.width + x) * self.channels;
        let (y, x) = (2 * oy, 2 * ox);
        [at(y, x), at(y, x + 1), at(y + 1, x), at(y + 1, x + 1)]
    }
}

/// 2x2 max-pool, stride 2: `[batch, height, width, channels]` -> `[batch, height/2, width/2,
/// channels]`.
pub fn max_pool2x2_forward(x: &[f32], s: &PoolShape) -> Vec<f32> {
    let mut out = vec![0.0f32; s.batch * s.out_image_len()];
    out.par_chunks_mut(s.out_image_len())
        .zip(x.par_chunks(s.image_len()))
        .for_each(|(out, x)| {
            for oy in 0..s.out_h() {
                for ox in 0..s.out_w() {
                    let w = s.window(oy, ox);
                    let dst = (oy * s.out_w() + ox) * s.channels;
                    for c in 0..s.channels {
                        let mut best = x[w[0] + c];
                        for &o in &w[1..] {
                            if x[o + c] > best {
                                best = x[o + c];
                            }
                        }
                        out[dst + c] = best;
                    }
                }
            }
        });
    out
}

/// Gradient of [`max_pool2x2_forward`]: each output gradient goes to the input that was the
/// window's (first) maximum.
pub fn max_pool2x2_backward(x: &[f32], grad: &[f32], s: &PoolShape) -> Vec<f32> {
    let mut dx = vec![0.0f32; s.batch * s.image_len()];
    dx.par_chunks_mut(s.image_len())
        .zip(x.par_chunks(s.image_len()))
        .zip(grad.par_chunks(s.out_image_len()))
        .for_each(|((dx, x), grad)| {
            for oy in 0..s.out_h() {
                for ox in 0..s.out_w() {
                    let w = s.window(oy, ox);
                    let src = (oy * s.out_w() + ox) * s.channels;
                    for c in 0..s.channels {
                        let mut arg = w[0];
                        for &o in &w[1..] {
                            if x[o + c] > x[arg + c] {
                                arg = o;
                            }
                        }
                        dx[arg + c] += grad[src + c];
                    }
                }
            }
        });
    dx
}
