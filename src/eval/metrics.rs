//! Verification metrics: plain functions of distances and labels.
//!
//! Conventions: label 1 = same, 0 = different; a distance is a distance (smaller = more alike);
//! a pair is predicted "same" when its distance is strictly below the threshold. A metric that
//! has no value on the given pairs (precision when nothing is predicted "same", AUC with one
//! class) is [`Metric::Undefined`] with the reason, never NaN.

use serde::Serialize;

/// A metric's value, or why it has none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Metric {
    /// The value.
    Value(f64),
    /// The metric is undefined on these pairs.
    Undefined {
        /// Why.
        undefined: String,
    },
}

impl Metric {
    fn undefined(reason: impl Into<String>) -> Self {
        Metric::Undefined {
            undefined: reason.into(),
        }
    }

    fn ratio(numerator: usize, denominator: usize, reason: &str) -> Self {
        if denominator == 0 {
            Metric::undefined(reason)
        } else {
            Metric::Value(numerator as f64 / denominator as f64)
        }
    }

    /// The value, if defined.
    pub fn value(&self) -> Option<f64> {
        match self {
            Metric::Value(v) => Some(*v),
            Metric::Undefined { .. } => None,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Metric::Value(v) => write!(f, "{v:.4}"),
            Metric::Undefined { undefined } => write!(f, "undefined ({undefined})"),
        }
    }
}

/// Counts of a verification at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Confusion {
    /// Same pairs predicted same.
    pub true_same: usize,
    /// Different pairs predicted same.
    pub false_same: usize,
    /// Same pairs predicted different.
    pub false_different: usize,
    /// Different pairs predicted different.
    pub true_different: usize,
}

impl Confusion {
    /// Count `distances` against `labels` with "same" meaning `distance < threshold`.
    pub fn at(distances: &[f32], labels: &[u8], threshold: f32) -> Self {
        let mut c = Confusion::default();
        for (&d, &y) in distances.iter().zip(labels) {
            match (y == 1, d < threshold) {
                (true, true) => c.true_same += 1,
                (false, true) => c.false_same += 1,
                (true, false) => c.false_different += 1,
                (false, false) => c.true_different += 1,
            }
        }
        c
    }

    /// All pairs.
    pub fn total(&self) -> usize {
        self.true_same + self.false_same + self.false_different + self.true_different
    }

    /// Share of pairs predicted right.
    pub fn accuracy(&self) -> Metric {
        Metric::ratio(
            self.true_same + self.true_different,
            self.total(),
            "there are no pairs",
        )
    }

    /// Of the pairs predicted same, the share that are same.
    pub fn precision(&self) -> Metric {
        Metric::ratio(
            self.true_same,
            self.true_same + self.false_same,
            "no pair was predicted same",
        )
    }

    /// Of the same pairs, the share predicted same.
    pub fn recall(&self) -> Metric {
        Metric::ratio(
            self.true_same,
            self.true_same + self.false_different,
            "there are no same pairs",
        )
    }

    /// `2 TP / (2 TP + FP + FN)`, the harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self) -> Metric {
        Metric::ratio(
            2 * self.true_same,
            2 * self.true_same + self.false_same + self.false_different,
            "there are no same pairs and none was predicted same",
        )
    }
}

/// One point of a ROC curve: "same" predicted for distances up to a cut.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// Largest distance predicted "same" at this point (`-inf` for the start of the curve).
    pub distance: f64,
    /// Share of different pairs predicted same.
    pub false_positive_rate: f64,
    /// Share of same pairs predicted same.
    pub true_positive_rate: f64,
}

/// Why a curve or rank metric cannot be computed, if it cannot.
fn rank_problem(distances: &[f32], labels: &[u8]) -> Option<String> {
    if distances.len() != labels.len() {
        return Some(format!(
            "{} distances but {} labels",
            distances.len(),
            labels.len()
        ));
    }
    if let Some(i) = distances.iter().position(|d| !d.is_finite()) {
        return Some(format!("distance {i} is {}", distances[i]));
    }
    if let Some(i) = labels.iter().position(|&y| y > 1) {
        return Some(format!("label {i} is {}, not 0 or 1", labels[i]));
    }
    let same = labels.iter().filter(|&&y| y == 1).count();
    if same == 0 {
        return Some("there are no same pairs".into());
    }
    if same == labels.len() {
        return Some("there are no different pairs".into());
    }
    None
}

/// The ROC curve of `distances` (smaller = more alike): one point per distinct distance, from
/// (0, 0) to (1, 1). Undefined with fewer than one pair of each label.
pub fn roc_curve(distances: &[f32], labels: &[u8]) -> Result<Vec<RocPoint>, String> {
    if let Some(problem) = rank_problem(distances, labels) {
        return Err(problem);
    }
    let mut order: Vec<usize> = (0..distances.len()).collect();
    order.sort_by(|&a, &b| distances[a].total_cmp(&distances[b]));
    let same = labels.iter().filter(|&&y| y == 1).count() as f64;
    let different = labels.len() as f64 - same;
    let mut points = vec![RocPoint {
        distance: f64::NEG_INFINITY,
        false_positive_rate: 0.0,
        true_positive_rate: 0.0,
    }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let d = distances[order[i]];
        // A group of equal distances moves together: a threshold cannot split it.
        while i < order.len() && distances[order[i]] == d {
            if labels[order[i]] == 1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(RocPoint {
            distance: f64::from(d),
            false_positive_rate: fp as f64 / different,
            true_positive_rate: tp as f64 / same,
        });
    }
    Ok(points)
}

/// ROC AUC: the probability that a random same pair is closer than a random different pair,
/// ties counting one half (the Mann-Whitney U statistic over the number of pairs of pairs).
pub fn roc_auc(distances: &[f32], labels: &[u8]) -> Metric {
    if let Some(problem) = rank_problem(distances, labels) {
        return Metric::undefined(problem);
    }
    let mut order: Vec<usize> = (0..distances.len()).collect();
    // Descending distance = ascending similarity, so rank 1 is the least alike.
    order.sort_by(|&a, &b| distances[b].total_cmp(&distances[a]));
    let mut same_rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && distances[order[j]] == distances[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        let same_in_group = order[i..j].iter().filter(|&&k| labels[k] == 1).count();
        same_rank_sum += mean_rank * same_in_group as f64;
        i = j;
    }
    let same = labels.iter().filter(|&&y| y == 1).count() as f64;
    let different = labels.len() as f64 - same;
    let u = same_rank_sum - same * (same + 1.0) / 2.0;
    Metric::Value(u / (same * different))
}

/// The equal error rate: where the false-accept rate (different pairs called same) equals the
/// false-reject rate (same pairs called different), found by linear interpolation along the ROC
/// curve, with the distance of the curve point nearest to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EqualErrorRate {
    /// The rate.
    pub rate: f64,
    /// Distance of the ROC point nearest the crossing; "same" for distances up to it.
    pub distance: f64,
}

/// See [`EqualErrorRate`]. Undefined with fewer than one pair of each label.
pub fn equal_error_rate(distances: &[f32], labels: &[u8]) -> Result<EqualErrorRate, String> {
    let curve = roc_curve(distances, labels)?;
    // gap = FRR - FAR = (1 - TPR) - FPR falls from 1 at the start to -1 at the end.
    let gap = |p: &RocPoint| (1.0 - p.true_positive_rate) - p.false_positive_rate;
    for w in curve.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (ga, gb) = (gap(a), gap(b));
        if ga >= 0.0 && gb <= 0.0 {
            let t = if ga == gb { 0.0 } else { ga / (ga - gb) };
            let far = a.false_positive_rate + t * (b.false_positive_rate - a.false_positive_rate);
            let nearest = if t <= 0.5 { a } else { b };
            // The start point has no distance; the first real point stands for it.
            let distance = if nearest.distance.is_finite() {
                nearest.distance
            } else {
                b.distance
            };
            return Ok(EqualErrorRate {
                rate: far,
                distance,
            });
        }
    }
    Err("the ROC curve never crosses the equal-error line".into())
}

/// What a calibrated threshold maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// F1 of the "same" class.
    F1,
    /// Accuracy.
    Accuracy,
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Criterion::F1 => "F1",
            Criterion::Accuracy => "accuracy",
        })
    }
}

/// The threshold that maximises `criterion` on these pairs, and the value it reaches. Candidates
/// are the midpoints between consecutive distinct distances (and one below the smallest and
/// above the largest); ties go to the smallest threshold. Meant for validation pairs only: a
/// threshold fitted on the pairs being scored flatters the score.
pub fn best_threshold(
    distances: &[f32],
    labels: &[u8],
    criterion: Criterion,
) -> Result<(f32, f64), String> {
    let curve = roc_curve(distances, labels)?;
    let same = labels.iter().filter(|&&y| y == 1).count() as f64;
    let different = labels.len() as f64 - same;
    let mut sorted: Vec<f32> = distances.to_vec();
    sorted.sort_by(f32::total_cmp);
    sorted.dedup();
    let mut best: Option<(f32, f64)> = None;
    for (k, point) in curve.iter().enumerate() {
        // Point k predicts "same" for the k smallest distinct distances: a threshold between
        // the k-th and the (k+1)-th does that with the strict `<`.
        let threshold = match (k.checked_sub(1).map(|i| sorted[i]), sorted.get(k)) {
            (None, Some(&first)) => first - first.abs().max(1.0) * 1e-3,
            // Adjacent floats have no midpoint: `hi` itself then separates them.
            (Some(lo), Some(&hi)) => Some(lo + (hi - lo) / 2.0)
                .filter(|&mid| mid > lo)
                .unwrap_or(hi),
            (Some(last), None) => last + last.abs().max(1.0) * 1e-3,
            (None, None) => continue,
        };
        let tp = point.true_positive_rate * same;
        let fp = point.false_positive_rate * different;
        let value = match criterion {
            Criterion::Accuracy => (tp + (different - fp)) / (same + different),
            Criterion::F1 => 2.0 * tp / (2.0 * tp + fp + (same - tp)),
        };
        if best.is_none_or(|(_, v)| value > v) {
            best = Some((threshold, value));
        }
    }
    best.ok_or_else(|| "there are no pairs".to_string())
}

/// Share of pairs judged right when "same" means `distance < threshold`. `NaN` for no pairs.
pub fn pair_accuracy(distances: &[f32], labels: &[u8], threshold: f32) -> f64 {
    Confusion::at(distances, labels, threshold)
        .accuracy()
        .value()
        .unwrap_or(f64::NAN)
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
mod tests;
