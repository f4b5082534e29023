//! Each custom op against burn's own op on random shapes: values and gradients.

use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{conv2d_nhwc_relu, max_pool2x2_nhwc};

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

fn reference_pool(x: Tensor<4>) -> Tensor<4> {
    let pool = MaxPool2dConfig::new([2, 2]).init();
    nchw_to_nhwc(pool.forward(nhwc_to_nchw(x)))
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

#[test]
fn conv_forward_matches_burn() {
    let device = Device::flex();
    for [n, h, w, c, f, kh, kw] in conv_cases() {
        let x = Tensor::<4>::random([n, h, w, c], Distribution::Uniform(-1.0, 1.0), &device);
        let weight = Tensor::<4>::random([f, c, kh, kw], Distribution::Uniform(-0.5, 0.5), &device);
        let bias = Tensor::<1>::random([f], Distribution::Uniform(-0.2, 0.2), &device);
        let got = conv2d_nhwc_relu(x.clone(), weight.clone(), bias.clone());
        let diff = rel_diff(got, reference_conv(x, weight, bias));
        assert!(
            diff < 1e-5,
            "shape {:?}: relative difference {diff}",
            [n, h, w, c, f, kh, kw]
        );
    }
}

#[test]
fn conv_gradients_match_burn() {
    let device = Device::flex().autodiff();
    for (case, [n, h, w, c, f, kh, kw]) in conv_cases().into_iter().enumerate() {
        let x = Tensor::<4>::random([n, h, w, c], Distribution::Uniform(-1.0, 1.0), &device);
        let weight = Tensor::<4>::random([f, c, kh, kw], Distribution::Uniform(-0.5, 0.5), &device);
        let bias = Tensor::<1>::random([f], Distribution::Uniform(-0.2, 0.2), &device);
        let out_shape = [n, h - kh + 1, w - kw + 1, f];
        let probe = Tensor::<4>::random(out_shape, Distribution::Uniform(-1.0, 1.0), &device);
        // The first layer's input needs no gradient: check that path too.
        let track_x = case % 2 == 0;
        let grads_of = |custom: bool| {
            let x = if track_x {
                x.clone().require_grad()
            } else {
                x.clone()
            };
            let weight = weight.clone().require_grad();
            let bias = bias.clone().require_grad();
            let out = if custom {
                conv2d_nhwc_relu(x.clone(), weight.clone(), bias.clone())
            } else {
                reference_conv(x.clone(), weight.clone(), bias.clone())
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
            assert!(
                rel_diff(dx, rdx) < 1e-5,
                "case {case}: input gradient differs"
            );
        }
        assert!(
            rel_diff(dw, rdw) < 1e-5,
            "case {case}: weight gradient differs"
        );
        assert!(
            rel_diff(db, rdb) < 1e-5,
            "case {case}: bias gradient differs"
        );
    }
}

#[test]
fn pool_matches_burn_values_and_gradients() {
    let device = Device::flex().autodiff();
    for [n, h, w, c] in [[1, 2, 2, 1], [3, 5, 7, 4], [70, 6, 4, 3], [4, 22, 22, 32]] {
        let x = Tensor::<4>::random([n, h, w, c], Distribution::Uniform(-1.0, 1.0), &device)
            .require_grad();
        let probe = Tensor::<4>::random(
            [n, h / 2, w / 2, c],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let got = max_pool2x2_nhwc(x.clone());
        let want = reference_pool(x.clone());
        assert_eq!(
            rel_diff(got.clone(), want.clone()),
            0.0,
            "pool values {:?}",
            [n, h, w, c]
        );
        let g = x.grad(&(got * probe.clone()).sum().backward()).unwrap();
        let rg = x.grad(&(want * probe).sum().backward()).unwrap();
        assert_eq!(rel_diff(g, rg), 0.0, "pool gradient {:?}", [n, h, w, c]);
    }
}

#[test]
fn pool_and_conv_by_hand() {
    let device = Device::flex();
    // One 2x2 window per channel: channel 0 holds 1, 4, 3, 2 -> 4; channel 1 holds -1, -4, -3,
    // -2 -> -1.
    let x = Tensor::<1>::from_floats([1.0, -1.0, 4.0, -4.0, 3.0, -3.0, 2.0, -2.0], &device)
        .reshape([1, 2, 2, 2]);
    let out: Vec<f32> = max_pool2x2_nhwc(x).into_data().try_into_vec().unwrap();
    assert_eq!(out, vec![4.0, -1.0]);
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
}
