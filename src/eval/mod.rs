//! Metrics: plain functions of distances and labels (1 = same, 0 = different).

/// Share of pairs judged right when "same" means `distance < threshold`. `NaN` for no pairs.
pub fn pair_accuracy(distances: &[f32], labels: &[u8], threshold: f32) -> f64 {
    if distances.is_empty() {
        return f64::NAN;
    }
    let right = distances
        .iter()
        .zip(labels)
        .filter(|&(&d, &y)| (d < threshold) == (y == 1))
        .count();
    right as f64 / distances.len() as f64
}

/// The contrastive loss `mean(y d^2 + (1 - y) max(margin - d, 0)^2)`, in f64.
pub fn contrastive_loss_value(distances: &[f32], labels: &[u8], margin: f32) -> f64 {
    if distances.is_empty() {
        return f64::NAN;
    }
    let margin = f64::from(margin);
    let total: f64 = distances
        .iter()
        .zip(labels)
        .map(|(&d, &y)| {
            let d = f64::from(d);
            if y == 1 {
                d * d
            } else {
                (margin - d).max(0.0).powi(2)
            }
        })
        .sum();
    total / distances.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_by_hand() {
        // Threshold 0.5: 0.2/same right, 0.7/same wrong, 0.5/different right (not < 0.5),
        // 0.1/different wrong. 2 of 4.
        assert_eq!(
            pair_accuracy(&[0.2, 0.7, 0.5, 0.1], &[1, 1, 0, 0], 0.5),
            0.5
        );
        assert!(pair_accuracy(&[], &[], 0.5).is_nan());
    }

    #[test]
    fn contrastive_value_by_hand() {
        // Same values as the tensor version's test: 0.2925.
        let v = contrastive_loss_value(&[0.2, 0.2, 1.5, 0.7], &[1, 0, 0, 1], 1.0);
        assert!((v - 0.2925).abs() < 1e-6, "{v}");
    }
}
