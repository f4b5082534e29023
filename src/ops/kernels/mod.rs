//! CPU kernels of the chapter's CNN on plain `f32` slices, in NHWC layout: a convolution fused
//! with bias and ReLU, the same followed by a 2x2 max-pool, and their backward passes. The
//! convolutions are im2col + GEMM on the `gemm` crate.
//!
//! Parallelism: a batch is cut into chunks of a fixed number of images ([`CHUNK_IMAGES`]) that
//! rayon's global pool (the one burn's `flex` backend uses) runs side by side; each chunk calls
//! `gemm` single-threaded and works in per-thread buffers that are reused from step to step.
//! Because the chunking does not depend on the thread count, every sum is taken in the same order
//! however many threads run: results are bit-for-bit reproducible.

mod conv;
mod pool;

use std::cell::RefCell;
use std::thread::LocalKey;

pub use conv::{conv_relu_backward, conv_relu_forward};
pub use pool::{PoolIndex, conv_relu_pool_backward, conv_relu_pool_forward};

/// Images per parallel chunk.
pub const CHUNK_IMAGES: usize = 8;

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

    /// Length of one unrolled patch: kernel_h x kernel_w x channels.
    pub fn patch(&self) -> usize {
        self.channels * self.kernel_h * self.kernel_w
    }

    pub(crate) fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub(crate) fn out_image_len(&self) -> usize {
        self.pixels() * self.filters
    }
}

thread_local! {
    /// Unrolled patches of one chunk.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A chunk's convolution output, or its gradient.
    static CONV: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on the first `len` values of this thread's `buffer`, grown as needed. The values are
/// whatever the last user left: `f` must write before it reads.
fn with_buffer<R>(
    buffer: &'static LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    buffer.with(|cell| {
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
