//! The extension on burn's `flex` CPU backend: tensors in, slices to the kernels, tensors out.

use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

use super::kernels::{self, ConvShape, PoolIndex};
use super::{SiameseKernels, SiameseOps};

fn values(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("the fast path runs on contiguous f32 tensors")
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn conv_shape(x: &FlexTensor, weight: &FlexTensor) -> ConvShape {
    let xs = x.shape();
    let ws = weight.shape();
    ConvShape {
        batch: xs[0],
        height: xs[1],
        width: xs[2],
        channels: xs[3],
        filters: ws[0],
        kernel_h: ws[2],
        kernel_w: ws[3],
    }
}

/// The gradients of a convolution as tensors.
fn gradients(
    s: &ConvShape,
    dx: Option<Vec<f32>>,
    dw: Vec<f32>,
    db: Vec<f32>,
) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
    let dx = dx.map(|dx| tensor(dx, [s.batch, s.height, s.width, s.channels]));
    let dw = tensor(dw, [s.filters, s.channels, s.kernel_h, s.kernel_w]);
    let db = FlexTensor::from_data(TensorData::new(db, [s.filters]));
    (dx, dw, db)
}

impl SiameseOps for Flex {
    fn conv2d_nhwc_relu(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let s = conv_shape(&x, &weight);
        let out = kernels::conv_relu_forward(slice(&x), slice(&weight), slice(&bias), &s);
        tensor(out, [s.batch, s.out_h(), s.out_w(), s.filters])
    }

    fn conv2d_nhwc_relu_pool2x2(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        Self::conv2d_nhwc_relu_pool2x2_indexed(x, weight, bias).0
    }
}

impl SiameseKernels for Flex {
    fn conv2d_nhwc_relu_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output: FlexTensor,
        grad: FlexTensor,
        need_dx: bool,
    ) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
        let (x, weight, output, grad) =
            (values(&x), values(&weight), values(&output), values(&grad));
        let s = conv_shape(&x, &weight);
        let (dx, dw, db) = kernels::conv_relu_backward(
            slice(&x),
            slice(&weight),
            slice(&output),
            slice(&grad),
            &s,
            need_dx,
        );
        gradients(&s, dx, dw, db)
    }

    type PoolIndex = Arc<PoolIndex>;

    fn conv2d_nhwc_relu_pool2x2_indexed(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
    ) -> (FlexTensor, Arc<PoolIndex>) {
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let s = conv_shape(&x, &weight);
        let (out, index) =
            kernels::conv_relu_pool_forward(slice(&x), slice(&weight), slice(&bias), &s);
        let shape = [s.batch, s.pooled_h(), s.pooled_w(), s.filters];
        (tensor(out, shape), Arc::new(index))
    }

    fn conv2d_nhwc_relu_pool2x2_backward(
        x: FlexTensor,
        weight: FlexTensor,
        (output, index): (FlexTensor, Arc<PoolIndex>),
        grad: FlexTensor,
        need_dx: bool,
    ) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
        let (x, weight, output, grad) =
            (values(&x), values(&weight), values(&output), values(&grad));
        let s = conv_shape(&x, &weight);
        let (dx, dw, db) = kernels::conv_relu_pool_backward(
            slice(&x),
            slice(&weight),
            (slice(&output), &index),
            slice(&grad),
            &s,
            need_dx,
        );
        gradients(&s, dx, dw, db)
    }
}
