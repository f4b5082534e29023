//! One training step of the chapter's model against Keras: the same weights and the same pairs
//! give the same loss, penalty, gradients and RMSprop update.
//!
//! The reference numbers come from this script (TF 2.21, Keras 3.15, run on ../shared/data):
//!
//! ```text
//! import numpy as np, tensorflow as tf, keras
//! from keras import layers, regularizers, ops, backend as K
//! # x, y: the Fashion-MNIST training split as float32 / 255 and labels
//! reg = dict(kernel_regularizer=regularizers.l2(0.01), bias_regularizer=regularizers.l1(0.01))
//! inp = keras.Input((28, 28, 1))
//! h = layers.Conv2D(32, 7, activation="relu", **reg)(inp)
//! h = layers.MaxPooling2D()(h)
//! h = layers.Conv2D(64, 3, activation="relu", **reg)(h)
//! h = layers.Dense(128, activation="relu", **reg)(layers.Flatten()(h))
//! net = keras.Model(inp, h)
//! def fill(shape, scale, phase):
//!     n = int(np.prod(shape))
//!     return (scale * np.sin(0.7 * np.arange(n) + phase)).astype("float32").reshape(shape)
//! net.set_weights([fill((7, 7, 1, 32), 0.08, 0.1), fill((32,), 0.01, 0.2),
//!                  fill((3, 3, 32, 64), 0.04, 0.3), fill((64,), 0.01, 0.4),
//!                  fill((5184, 128), 0.02, 0.5), fill((128,), 0.01, 0.6)])
//! left, right = np.arange(0, 64), np.arange(64, 128)
//! lab = (y[left] == y[right]).astype("float32")
//! with tf.GradientTape() as tape:
//!     ea, eb = net(x[left][..., None]), net(x[right][..., None])
//!     d = ops.sqrt(ops.maximum(ops.sum(ops.square(ea - eb), axis=1), K.epsilon()))
//!     data = ops.mean(lab * ops.square(d) + (1 - lab) * ops.square(ops.maximum(1 - d, 0)))
//!     pen = tf.add_n(net.losses)
//!     loss = data + pen
//! g = tape.gradient(loss, net.trainable_variables)
//! keras.optimizers.RMSprop().apply_gradients(zip(g, net.trainable_variables))
//! ```
//!
//! It printed: 7 same pairs; data loss 0.7743690013885498; penalty 1.5389395952224731;
//! gradient norms 2.0802571773529053, 0.4453665614128113, 5.072161674499512,
//! 2.144587993621826, 0.8565840721130371, 0.47603505849838257 (conv1 kernel and bias, conv2
//! kernel and bias, dense kernel and bias); gradient entries conv1[3,4,0,5] 0.002765156328678131,
//! conv2[1,2,7,9] -0.0006955815479159355, dense[100,3] -0.0022850139066576958,
//! dense bias[17] -0.045498475432395935; after the step conv1[3,4,0,5] -0.07901562750339508,
//! dense[100,3] 0.010014323517680168, dense bias[17] 0.002498295158147812,
//! conv2 bias[7] -0.005160472355782986.

mod common;

use common::data_root;

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use siamese::data::{IdxDataset, Split, load_split};
use siamese::loss::contrastive_loss;
use siamese::model::{Encoder, ModelConfig, SiameseNet};
use siamese::optim::KerasRmsPropConfig;

/// The script's `fill`, in f32 as numpy computes it (the sine in f64, then rounded).
fn fill(n: usize, scale: f64, phase: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (scale * (0.7 * i as f64 + phase).sin()) as f32)
        .collect()
}

/// Index of Keras's kernel element `[y, x, i, o]` in burn's `[o, i, y, x]` layout.
fn burn_index(shape: [usize; 4], [y, x, i, o]: [usize; 4]) -> usize {
    let [kh, kw, ci, _] = shape;
    ((o * ci + i) * kh + y) * kw + x
}

/// A Keras kernel `[kh, kw, in, out]` rearranged as burn's `[out, in, kh, kw]`.
fn kernel(values: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
    let [kh, kw, ci, co] = shape;
    let mut out = vec![0.0; values.len()];
    for y in 0..kh {
        for x in 0..kw {
            for i in 0..ci {
                for o in 0..co {
                    out[burn_index(shape, [y, x, i, o])] = values[((y * kw + x) * ci + i) * co + o];
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [co, ci, kh, kw]), device)
}

fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec().unwrap()
}

fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// Within `tol` of the Keras value. Float32 sums over 64 pairs in another order differ by
/// about 1e-7 of the summed magnitudes; a wrong formula differs by orders more.
fn close_to(got: f64, want: f64, what: &str, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, Keras {want}");
}

/// Relative agreement, for losses and norms.
fn close(got: f64, want: f64, what: &str) {
    close_to(got, want, what, 2e-5 * want.abs());
}

#[test]
fn one_step_matches_keras() {
    let device = Device::flex().autodiff();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let mut net = SiameseNet::init(&ModelConfig::chapter(), &device, &mut rng);
    let (c1, c2) = ([7, 7, 1, 32], [3, 3, 32, 64]);
    let bias = |v: Vec<f32>| {
        let n = v.len();
        Some(Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(v, [n]),
            &device,
        )))
    };
    let Encoder::Chapter(e) = &mut net.encoder else {
        unreachable!("the chapter's model has the chapter's encoder")
    };
    e.conv1.weight = Param::from_tensor(kernel(&fill(7 * 7 * 32, 0.08, 0.1), c1, &device));
    e.conv1.bias = bias(fill(32, 0.01, 0.2));
    e.conv2.weight = Param::from_tensor(kernel(&fill(9 * 32 * 64, 0.04, 0.3), c2, &device));
    e.conv2.bias = bias(fill(64, 0.01, 0.4));
    e.dense.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(fill(5184 * 128, 0.02, 0.5), [5184, 128]),
        &device,
    ));
    e.dense.bias = bias(fill(128, 0.01, 0.6));

    let set = load_split(
        IdxDataset::FashionMnist,
        &data_root().join("fashion-mnist"),
        Split::Train,
    )
    .unwrap();
    let mut pixels = Vec::new();
    for i in 0..128 {
        pixels.extend(set.image(i).iter().map(|&v| f32::from(v) / 255.0));
    }
    let labels: Vec<f32> = (0..64)
        .map(|i| f32::from(u8::from(set.labels[i] == set.labels[64 + i])))
        .collect();
    assert_eq!(labels.iter().sum::<f32>(), 7.0, "the script's 7 same pairs");
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [128, 1, 28, 28]), &device);
    let y = Tensor::<1>::from_data(TensorData::new(labels, [64]), &device);

    let data = contrastive_loss(net.pair_distances(x, 64, 1e-7), y, 1.0);
    let penalty = net.encoder.penalty(0.01, 0.01);
    close(
        f64::from(data.clone().into_scalar::<f32>()),
        0.7743690013885498,
        "data loss",
    );
    close(
        f64::from(penalty.clone().into_scalar::<f32>()),
        1.5389395952224731,
        "penalty",
    );
    let grads = (data + penalty).backward();
    let Encoder::Chapter(e) = &net.encoder else {
        unreachable!("the chapter's model has the chapter's encoder")
    };
    let g4 = |p: &Param<Tensor<4>>| vec_of(p.val().grad(&grads).unwrap());
    let g1 = |p: &Option<Param<Tensor<1>>>| vec_of(p.as_ref().unwrap().val().grad(&grads).unwrap());
    let gd = vec_of(e.dense.weight.val().grad(&grads).unwrap());
    let all = [
        g4(&e.conv1.weight),
        g1(&e.conv1.bias),
        g4(&e.conv2.weight),
        g1(&e.conv2.bias),
        gd.clone(),
        g1(&e.dense.bias),
    ];
    let want = [
        2.0802571773529053,
        0.4453665614128113,
        5.072161674499512,
        2.144587993621826,
        0.8565840721130371,
        0.47603505849838257,
    ];
    for (k, (g, w)) in all.iter().zip(want).enumerate() {
        close(norm(g), w, &format!("gradient norm of parameter {k}"));
    }
    close_to(
        f64::from(all[0][burn_index(c1, [3, 4, 0, 5])]),
        0.002765156328678131,
        "conv1 grad",
        1e-6,
    );
    close_to(
        f64::from(all[2][burn_index(c2, [1, 2, 7, 9])]),
        -0.0006955815479159355,
        "conv2 grad",
        1e-6,
    );
    close_to(
        f64::from(gd[100 * 128 + 3]),
        -0.0022850139066576958,
        "dense grad",
        1e-6,
    );
    close_to(
        f64::from(all[5][17]),
        -0.045498475432395935,
        "dense bias grad",
        1e-6,
    );

    let mut optim = KerasRmsPropConfig::default().init();
    let grads = GradientsParams::from_grads(grads, &net);
    let net = optim.step(1e-3, net, grads);
    let Encoder::Chapter(e) = &net.encoder else {
        unreachable!("the chapter's model has the chapter's encoder")
    };
    close_to(
        f64::from(vec_of(e.conv1.weight.val())[burn_index(c1, [3, 4, 0, 5])]),
        -0.07901562750339508,
        "conv1 after",
        1e-7,
    );
    close_to(
        f64::from(vec_of(e.dense.weight.val())[100 * 128 + 3]),
        0.010014323517680168,
        "dense after",
        1e-7,
    );
    close_to(
        f64::from(vec_of(e.dense.bias.as_ref().unwrap().val())[17]),
        0.002498295158147812,
        "dense bias after",
        1e-7,
    );
    close_to(
        f64::from(vec_of(e.conv2.bias.as_ref().unwrap().val())[7]),
        -0.005160472355782986,
        "conv2 bias after",
        1e-7,
    );
}
