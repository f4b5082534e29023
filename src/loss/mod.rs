//! Distances and losses.
//!
//! Label convention: 1 = same, 0 = different. Distances are distances: smaller = more alike.

pub mod triplet;

use burn::tensor::Tensor;

/// Row-wise Euclidean distance `sqrt(max(sum((a - b)^2), epsilon))` of two `[n, d]` tensors.
///
/// The floor keeps the square root, and its gradient, finite when both rows are equal (the
/// chapter floors at Keras's `epsilon()`, 1e-7).
pub fn euclidean_distance(a: Tensor<2>, b: Tensor<2>, epsilon: f32) -> Tensor<1> {
    let squared: Tensor<1> = (a - b).square().sum_dim(1).squeeze_dim(1);
    squared.clamp_min(epsilon).sqrt()
}

/// Contrastive loss, mean over the batch: `y * d^2 + (1 - y) * max(margin - d, 0)^2`, with
/// `labels` 1 for a same pair and 0 for a different one (as floats).
pub fn contrastive_loss(distances: Tensor<1>, labels: Tensor<1>, margin: f32) -> Tensor<1> {
    let same = labels.clone() * distances.clone().square();
    let gap = distances.neg().add_scalar(margin).clamp_min(0.0);
    let different = labels.neg().add_scalar(1.0) * gap.square();
    (same + different).mean()
}

/// Binary cross-entropy of logits `z` against labels `y` (1 = same), mean over the batch, in
/// the stable form `max(z, 0) - z y + ln(1 + exp(-|z|))` (the same value as
/// `-y ln(sigmoid(z)) - (1 - y) ln(1 - sigmoid(z))`, without overflow).
pub fn bce_with_logits(logits: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    let positive = logits.clone().clamp_min(0.0);
    let soft = logits.clone().abs().neg().exp().add_scalar(1.0).log();
    (positive - logits * labels + soft).mean()
}

/// The binary cross-entropy a 2-channel network scores on pairs, from its distance-like
/// scores `d = 1 - p(same)` (probabilities kept within [1e-7, 1 - 1e-7], as Keras does), in
/// f64. `NaN` for no pairs.
pub fn bce_value(dissimilarities: &[f32], labels: &[u8]) -> f64 {
    if dissimilarities.is_empty() {
        return f64::NAN;
    }
    let total: f64 = dissimilarities
        .iter()
        .zip(labels)
        .map(|(&d, &y)| {
            let p = (1.0 - f64::from(d)).clamp(1e-7, 1.0 - 1e-7);
            if y == 1 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    total / dissimilarities.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn device() -> Device {
        Device::flex().autodiff()
    }

    fn vec1(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn bce_matches_hand_values() {
        // z = 0, y = 1: ln 2 = 0.693147; z = 2, y = 0: 2 + ln(1 + e^-2) = 2.126928;
        // z = -30, y = 0: ln(1 + e^-30) = 9.4e-14 (no overflow). Mean 0.940025.
        let dev = Device::flex();
        let z = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 2.0, -30.0], [3]), &dev);
        let y = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0], [3]), &dev);
        let v: f32 = bce_with_logits(z, y).into_scalar();
        assert!((v - 0.940_025).abs() < 1e-5, "{v}");
        // From distance-like scores: p(same) = 0.5 and 1 - 1/(1 + e^-2) = 0.880797 give the
        // first two terms; p = 1 for a different pair is clamped to 1 - 1e-7: -ln(1e-7) = 16.118.
        let d = [0.5f32, 1.0 - 0.880_797, 0.0];
        let v = bce_value(&d, &[1, 0, 0]);
        assert!(
            (v - (std::f64::consts::LN_2 + 2.126_928 + 16.118_096) / 3.0).abs() < 1e-4,
            "{v}"
        );
    }

    #[test]
    fn distance_matches_hand_values() {
        let dev = device();
        let a = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0, 1.0, 2.0], [2, 2]), &dev);
        let b = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0, 1.0, 2.0], [2, 2]), &dev);
        let d = vec1(euclidean_distance(a, b, 1e-7));
        // |(0,0)-(3,4)| = 5; identical rows hit the floor: sqrt(1e-7) = 3.1623e-4.
        assert!((d[0] - 5.0).abs() < 1e-6, "{d:?}");
        assert!((d[1] - 1e-7f32.sqrt()).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn contrastive_loss_matches_hand_values() {
        let dev = device();
        let d = Tensor::<1>::from_data(TensorData::new(vec![0.2f32, 0.2, 1.5, 0.7], [4]), &dev);
        let y = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [4]), &dev);
        // same 0.2 -> 0.04; different 0.2 -> (1-0.2)^2 = 0.64; different 1.5 -> 0;
        // same 0.7 -> 0.49. Mean = (0.04 + 0.64 + 0 + 0.49) / 4 = 0.2925.
        let loss = vec1(contrastive_loss(d, y, 1.0))[0];
        assert!((loss - 0.2925).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn identical_inputs_give_finite_loss_and_gradients() {
        let dev = device();
        let a = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0, 2.0], [1, 3]), &dev)
            .require_grad();
        let b = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0, 2.0], [1, 3]), &dev)
            .require_grad();
        for label in [1.0f32, 0.0] {
            let y = Tensor::<1>::from_data(TensorData::new(vec![label], [1]), &dev);
            let d = euclidean_distance(a.clone(), b.clone(), 1e-7);
            let loss = contrastive_loss(d, y, 1.0);
            let value = vec1(loss.clone())[0];
            let expected = if label == 1.0 {
                1e-7
            } else {
                (1.0 - 1e-7f32.sqrt()).powi(2)
            };
            assert!(
                (value - expected).abs() < 1e-6,
                "label {label}: {value} vs {expected}"
            );
            let grads = loss.backward();
            for t in [&a, &b] {
                let g = t.grad(&grads).expect("gradient");
                let g: Vec<f32> = g.into_data().try_into_vec().unwrap();
                assert!(g.iter().all(|v| v.is_finite()), "non-finite gradient {g:?}");
                // Below the floor the distance is constant, so the gradient is exactly zero.
                assert!(
                    g.iter().all(|v| *v == 0.0),
                    "gradient through the floor: {g:?}"
                );
            }
        }
    }

    #[test]
    fn gradient_of_distance_is_the_unit_difference() {
        // d = |a - b|; dd/da = (a - b) / d. For a = (3, 4), b = 0: (0.6, 0.8).
        let dev = device();
        let a =
            Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &dev).require_grad();
        let b = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0], [1, 2]), &dev);
        let grads = euclidean_distance(a.clone(), b, 1e-7).sum().backward();
        let g: Vec<f32> = a.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
        assert!(
            (g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6,
            "{g:?}"
        );
    }
}
