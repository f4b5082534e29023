//! Our own CPU operations for the chapter's CNN, added to burn through its backend-extension
//! mechanism: a convolution fused with bias and ReLU, and a 2x2 max-pool, both in NHWC layout,
//! with their backward passes. burn's autodiff records them like any other op.
//!
//! They run on burn's `flex` CPU backend (and its autodiff wrapper). On any other backend the
//! model uses burn's own ops instead ([`fast_path_available`]).

mod autodiff;
mod flex;
pub mod kernels;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, backend_extension};
use burn::tensor::{Device, Tensor};

/// The extension: what a backend must offer to run the fast path.
#[backend_extension(Autodiff, Flex)]
pub trait SiameseOps: burn::backend::Backend {
    /// `relu(conv(x, weight) + bias)`, valid padding, stride 1.
    ///
    /// Shapes: `x` `[batch, height, width, channels]`, `weight`
    /// `[filters, channels, kernel_h, kernel_w]`, `bias` `[filters]` ->
    /// `[batch, height - kernel_h + 1, width - kernel_w + 1, filters]`.
    fn conv2d_nhwc_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// 2x2 max-pool with stride 2: `[batch, h, w, c]` -> `[batch, h / 2, w / 2, c]`.
    fn max_pool2x2_nhwc(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The backward kernels the autodiff implementation calls on the inner backend.
pub trait SiameseKernels: SiameseOps {
    /// Gradients `(dx, dweight, dbias)` of [`SiameseOps::conv2d_nhwc_relu`] from its inputs, its
    /// output and the output's gradient; `dx` only when `need_dx`.
    fn conv2d_nhwc_relu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );

    /// Gradient of [`SiameseOps::max_pool2x2_nhwc`] from its input and the output's gradient.
    fn max_pool2x2_nhwc_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Whether tensors on `device` can take the fast path (burn's `flex` CPU backend, with or
/// without autodiff).
pub fn fast_path_available(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

/// `relu(conv(x, weight) + bias)` on NHWC input; see [`SiameseOps::conv2d_nhwc_relu`].
///
/// # Panics
/// If the shapes do not fit together (a programming error, not bad user input).
pub fn conv2d_nhwc_relu(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let [_, h, w, c] = x.dims();
    let [f, wc, kh, kw] = weight.dims();
    assert_eq!(
        c, wc,
        "conv2d_nhwc_relu: input has {c} channels, weight expects {wc}"
    );
    assert!(
        kh <= h && kw <= w,
        "conv2d_nhwc_relu: kernel {kh}x{kw} larger than input {h}x{w}"
    );
    assert_eq!(
        bias.dims(),
        [f],
        "conv2d_nhwc_relu: bias must have {f} values"
    );
    Tensor::from_dispatch(Dispatch::conv2d_nhwc_relu(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// 2x2 stride-2 max-pool on NHWC input; see [`SiameseOps::max_pool2x2_nhwc`].
pub fn max_pool2x2_nhwc(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::max_pool2x2_nhwc(x.into_dispatch()))
}

#[cfg(test)]
mod tests;
