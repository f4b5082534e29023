//! Our own CPU operations for the chapter's CNN, added to burn through its backend-extension
//! mechanism: a convolution fused with bias and ReLU, and the same followed by a 2x2 max-pool,
//! both in NHWC layout, with their backward passes. burn's autodiff records them like any other
//! op.
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

    /// `max_pool2x2(relu(conv(x, weight) + bias))`: the convolution of
    /// [`SiameseOps::conv2d_nhwc_relu`], then a 2x2 max-pool with stride 2, giving
    /// `[batch, (height - kernel_h + 1) / 2, (width - kernel_w + 1) / 2, filters]`.
    fn conv2d_nhwc_relu_pool2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
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

    /// Where each maximum of a pooled output came from, kept for the backward pass.
    type PoolIndex: Clone + Send + std::fmt::Debug + 'static;

    /// [`SiameseOps::conv2d_nhwc_relu_pool2x2`], also returning the position of each maximum.
    fn conv2d_nhwc_relu_pool2x2_indexed(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, Self::PoolIndex);

    /// Gradients `(dx, dweight, dbias)` of [`SiameseOps::conv2d_nhwc_relu_pool2x2`] from its
    /// inputs, its output with the positions of the maxima, and the output's gradient; `dx` only
    /// when `need_dx`.
    fn conv2d_nhwc_relu_pool2x2_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: (FloatTensor<Self>, Self::PoolIndex),
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
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
    check_conv_shapes(&x, &weight, &bias, "conv2d_nhwc_relu");
    Tensor::from_dispatch(Dispatch::conv2d_nhwc_relu(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// `max_pool2x2(relu(conv(x, weight) + bias))` on NHWC input; see
/// [`SiameseOps::conv2d_nhwc_relu_pool2x2`].
///
/// # Panics
/// If the shapes do not fit together (a programming error, not bad user input).
pub fn conv2d_nhwc_relu_pool2x2(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    check_conv_shapes(&x, &weight, &bias, "conv2d_nhwc_relu_pool2x2");
    Tensor::from_dispatch(Dispatch::conv2d_nhwc_relu_pool2x2(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

fn check_conv_shapes(x: &Tensor<4>, weight: &Tensor<4>, bias: &Tensor<1>, op: &str) {
    let [_, h, w, c] = x.dims();
    let [f, wc, kh, kw] = weight.dims();
    assert_eq!(c, wc, "{op}: input has {c} channels, weight expects {wc}");
    assert!(
        kh <= h && kw <= w,
        "{op}: kernel {kh}x{kw} larger than input {h}x{w}"
    );
    assert_eq!(bias.dims(), [f], "{op}: bias must have {f} values");
}

#[cfg(test)]
mod tests;
