//! Each custom op against burn's own op on random shapes: values and gradients.

use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{conv2d_nhwc_relu, conv2d_nhwc_relu_pool2x2};

/// Largest absolute difference, relative to the largest magnitude of `reference` (at least 1).
fn rel_diff<const D: usize>(got: Tensor<D>, reference: Tensor<D>) -> f32 {
    assert_eq!(got.dims(), reference.dims());
    let got: Vec<f32> = got.into_data().try_into_vec().unwrap();
    let want: Vec<f32> = reference.into_data().try_into_vec().unwrap();
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    got.iter()
        .zip(&want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

fn nhwc_to_nchw(x: Tensor<4>) -> Tensor<4> {
    x.permute([0, 3, 1, 2])
}

fn nchw_to_nhwc(x: Tensor<4>) -> Tensor<4> {
    x.permute([0, 2, 3, 1])
}

/// burn's convolution + bias + ReLU on the same NHWC tensors.
fn reference_conv(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let [f, c, kh, kw] = weight.dims();
    let mut conv = Conv2dConfig::new([c, f], [kh, kw]).init(&x.device());
    conv.weight = Param::from_tensor(weight);
    conv.bias = Some(Param::from_tensor(bias));
    nchw_to_nhwc(relu(conv.forward(nhwc_to_nchw(x))))
}

/// burn's convolution + bias + ReLU + 2x2 max-pool on the same NHWC tensors.
fn reference_conv_pool(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let pool = MaxPool2dConfig::new([2, 2]).init();
    let conv = reference_conv(x, weight, bias);
    nchw_to_nhwc(pool.forward(nhwc_to_nchw(conv)))
}

/// Random shapes `(batch, height, width, channels, filters, kernel_h, kernel_w)`: small ones,
/// one that crosses the parallel chunk size, and the chapter's two layers.
fn conv_cases() -> Vec<[usize; 7]> {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut cases: Vec<[usize; 7]> = (0..4)
        .map(|_| {
            let kh = rng.random_range(1..4);
            let kw = rng.random_range(1..4);
            [
                rng.random_range(1..5),
                rng.random_range(kh..9),
                rng.random_range(kw..9),
                rng.random_range(1..4),
                rng.random_range(1..6),
                kh,
                kw,
            ]
        })
        .collect();
    cases.push([70, 6, 5, 2, 3, 3, 3]);
    cases.push([5, 28, 28, 1, 32, 7, 7]);
    cases.push([5, 11, 11, 32, 64, 3, 3]);
    cases
}

/// Which op a test exercises: the convolution alone, or followed by the max-pool.
#[derive(Debug, Clone, Copy)]
enum Op {
    Conv,
    ConvPool,
}

impl Op {
    fn custom(self, x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
        match self {
            Op::Conv => conv2d_nhwc_relu(x, weight, bias),
            Op::ConvPool => conv2d_nhwc_relu_pool2x2(x, weight, bias),
        }
    }

    fn reference(self, x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
        match self {
            Op::Conv => reference_conv(x, weight, bias),
            Op::ConvPool => reference_conv_pool(x, weight, bias),
        }
    }

    /// Whether the op is defined for `case` (a pool needs a 2x2 convolution output).
    fn fits(self, [_, h, w, _, _, kh, kw]: [usize; 7]) -> bool {
        matches!(self, Op::Conv) || (h - kh + 1 >= 2 && w - kw + 1 >= 2)
    }

    fn out_shape(self, [n, h, w, _, f, kh, kw]: [usize; 7]) -> [usize; 4] {
        let (oh, ow) = (h - kh + 1, w - kw + 1);
        match self {
            Op::Conv => [n, oh, ow, f],
            Op::ConvPool => [n, oh / 2, ow / 2, f],
        }
    }
}

#[test]
fn forward_matches_burn() {
    let device = Device::flex();
    for op in [Op::Conv, Op::ConvPool] {
        for case in conv_cases().into_iter().filter(|&case| op.fits(case)) {
            let [n, h, w, c, f, kh, kw] = case;
            let x = Tensor::<4>::random([n, h, w, c], Distribution::Uniform(-1.0, 1.0), &device);
            let weight =
                Tensor::<4>::random([f, c, kh, kw], Distribution::Uniform(-0.5, 0.5), &device);
            let bias = Tensor::<1>::random([f], Distribution::Uniform(-0.2, 0.2), &device);
            let got = op.custom(x.clone(), weight.clone(), bias.clone());
            assert_eq!(got.dims(), op.out_shape(case), "{op:?} {case:?}");
            let diff = rel_diff(got, op.reference(x, weight, bias));
            assert!(diff < 1e-5, "{op:?} {case:?}: relative difference {diff}");
        }
    }
}

#[test]
fn gradients_match_burn() {
    let device = Device::flex().autodiff();
    for op in [Op::Conv, Op::ConvPool] {
        let cases = conv_cases().into_iter().filter(|&case| op.fits(case));
        for (i, case) in cases.enumerate() {
            let [n, h, w, c, f, kh, kw] = case;
            let x = Tensor::<4>::random([n, h, w, c], Distribution::Uniform(-1.0, 1.0), &device);
            let weight =
                Tensor::<4>::random([f, c, kh, kw], Distribution::Uniform(-0.5, 0.5), &device);
            let bias = Tensor::<1>::random([f], Distribution::Uniform(-0.2, 0.2), &device);
            let probe = Tensor::<4>::random(
                op.out_shape(case),
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            // The first layer's input needs no gradient: check that path too.
            let track_x = i % 2 == 0;
            let grads_of = |custom: bool| {
                let x = if track_x {
                    x.clone().require_grad()
                } else {
                    x.clone()
                };
                let weight = weight.clone().require_grad();
                let bias = bias.clone().require_grad();
                let out = if custom {
                    op.custom(x.clone(), weight.clone(), bias.clone())
                } else {
                    op.reference(x.clone(), weight.clone(), bias.clone())
                };
                let grads = (out * probe.clone()).sum().backward();
                (
                    x.grad(&grads),
                    weight.grad(&grads).unwrap(),
                    bias.grad(&grads).unwrap(),
                )
            };
            let (dx, dw, db) = grads_of(true);
            let (rdx, rdw, rdb) = grads_of(false);
            assert_eq!(dx.is_some(), track_x);
            if let (Some(dx), Some(rdx)) = (dx, rdx) {
                let diff = rel_diff(dx, rdx);
                assert!(
                    diff < 1e-5,
                    "{op:?} {case:?}: input gradient differs by {diff}"
                );
            }
            let diff = rel_diff(dw, rdw);
            assert!(
                diff < 1e-5,
                "{op:?} {case:?}: weight gradient differs by {diff}"
            );
            let diff = rel_diff(db, rdb);
            assert!(
                diff < 1e-5,
                "{op:?} {case:?}: bias gradient differs by {diff}"
            );
        }
    }
}

/// Ties inside a pooling window go to the first maximum, as in burn: a constant image gives
/// four equal values per window, and only the top-left one may receive the gradient.
#[test]
fn pool_ties_go_to_the_first_maximum() {
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::ones([1, 4, 4, 1], &device).require_grad();
    // A 1x1 kernel of weight 2 and bias 0: every convolution output is 2.
    let weight = Tensor::<4>::full([1, 1, 1, 1], 2.0, &device).require_grad();
    let bias = Tensor::<1>::zeros([1], &device).require_grad();
    let out = conv2d_nhwc_relu_pool2x2(x.clone(), weight, bias);
    let values: Vec<f32> = out.clone().into_data().try_into_vec().unwrap();
    assert_eq!(values, vec![2.0; 4]);
    let dx: Vec<f32> = x
        .grad(&out.sum().backward())
        .unwrap()
        .into_data()
        .try_into_vec()
        .unwrap();
    // d out / d x = weight (2) at each window's top-left input, 0 elsewhere.
    #[rustfmt::skip]
    let expected = vec![
        2.0, 0.0, 2.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
        2.0, 0.0, 2.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(dx, expected);
}

#[test]
fn conv_and_pool_by_hand() {
    let device = Device::flex();
    // A 2x2 kernel of ones over a 3x3 image 1..9 plus bias -20: window sums 12, 16, 24, 28.
    let x = Tensor::<1>::from_floats([1., 2., 3., 4., 5., 6., 7., 8., 9.], &device)
        .reshape([1, 3, 3, 1]);
    let weight = Tensor::<4>::ones([1, 1, 2, 2], &device);
    let bias = Tensor::<1>::from_floats([-20.0], &device);
    let out: Vec<f32> = conv2d_nhwc_relu(x, weight, bias)
        .into_data()
        .try_into_vec()
        .unwrap();
    assert_eq!(out, vec![0.0, 0.0, 4.0, 8.0]);
    // Pooled, the one 2x2 window of those outputs gives its maximum, 8.
    let x = Tensor::<1>::from_floats([1., 2., 3., 4., 5., 6., 7., 8., 9.], &device)
        .reshape([1, 3, 3, 1]);
    let weight = Tensor::<4>::ones([1, 1, 2, 2], &device);
    let out: Vec<f32> = conv2d_nhwc_relu_pool2x2(x, weight, Tensor::from_floats([-20.0], &device))
        .into_data()
        .try_into_vec()
        .unwrap();
    assert_eq!(out, vec![8.0]);
}
