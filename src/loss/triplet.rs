//! Triplet loss, offline and with online mining from a batch's distance matrix.
//!
//! Distances are plain Euclidean distances (not squared), with the same epsilon floor as the
//! Siamese head: `d(x, y) = sqrt(max(|x - y|^2, epsilon))`. The loss of a triplet (anchor `a`,
//! positive `p` of its class, negative `n` of another class) is
//! `max(d(a, p) - d(a, n) + margin, 0)`: zero once the negative is at least `margin` further
//! from the anchor than the positive.
//!
//! Online mining works on the `[B, B]` matrix of distances between a batch's embeddings, so its
//! memory grows with the square of the batch size, never the cube: the miners below look at
//! the distances on the CPU (a detached copy) and return a weight matrix `W` and a constant `c`
//! with `loss = (sum(W * D) + c) / count`. The weights are the number of active triplets each
//! distance enters, with a sign, so the loss and its gradient are exactly those of the chosen
//! triplets.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How triplets are formed from a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mining {
    /// Every valid triplet of the batch; the loss is the mean over those with a positive loss
    /// (the "batch all" of Hermans, Beyer and Leibe, 2017).
    BatchAll,
    /// Per anchor, its farthest positive and its nearest negative; the loss is the mean over
    /// anchors that have both ("batch hard", same paper).
    BatchHard,
    /// Per positive pair `(a, p)`, the nearest negative farther than `p` ("semi-hard", Schroff,
    /// Kalenichenko and Philbin, 2015); when no negative is farther than `p`, the farthest
    /// negative. The loss is the mean over positive pairs that have a negative.
    SemiHard,
    /// No triplets: neighbourhood component analysis on the batch (Goldberger, Roweis, Hinton
    /// and Salakhutdinov, 2005). Each image's neighbours are weighted by a softmax of
    /// `-d^2 / temperature` over every other image of the batch; the loss is the mean over
    /// images with a positive of `-log` (the weight on their own class). Every distance of the
    /// batch gets a gradient; no margin. See [`nca_loss`].
    Nca,
}

impl Mining {
    /// Parse the command line's spelling.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "batch-all" => Ok(Mining::BatchAll),
            "batch-hard" => Ok(Mining::BatchHard),
            "semi-hard" => Ok(Mining::SemiHard),
            "nca" => Ok(Mining::Nca),
            _ => Err(format!(
                "unknown mining {text:?}; expected batch-all, batch-hard, semi-hard or nca"
            )),
        }
    }

    /// The command line's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Mining::BatchAll => "batch-all",
            Mining::BatchHard => "batch-hard",
            Mining::SemiHard => "semi-hard",
            Mining::Nca => "nca",
        }
    }
}

/// The triplets a miner chose, as weights on the distance matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Mined {
    /// Batch size.
    pub size: usize,
    /// `size x size` weights on the distances, row-major: +1 for each chosen triplet a distance
    /// is the anchor-positive distance of, -1 for each it is the anchor-negative distance of.
    pub weights: Vec<f32>,
    /// `margin` times the number of active triplets.
    pub constant: f32,
    /// The denominator of the mean (see [`Mining`]); 0 when the batch has no valid triplet.
    pub count: usize,
    /// Valid triplets in the batch (anchor and positive of one class, distinct images, a
    /// negative of another class).
    pub valid: usize,
    /// Chosen triplets with a positive loss.
    pub active: usize,
}

impl Mined {
    /// The loss value these weights give on `distances` (a check on the tensor form, and the
    /// value when no gradient is wanted).
    pub fn loss_value(&self, distances: &[f32]) -> f32 {
        if self.count == 0 {
            return 0.0;
        }
        let sum: f32 = self.weights.iter().zip(distances).map(|(w, d)| w * d).sum();
        (sum + self.constant) / self.count as f32
    }
}

/// Choose triplets from a batch: `distances` is the row-major `B x B` distance matrix of the
/// batch's embeddings, `labels` their classes. [`Mining::Nca`] chooses no triplet (its loss,
/// [`nca_loss`], uses every pair); only the count of valid triplets is filled in.
pub fn mine(distances: &[f32], labels: &[u32], margin: f32, mining: Mining) -> Mined {
    let b = labels.len();
    assert_eq!(distances.len(), b * b, "distance matrix is not {b} x {b}");
    let d = |i: usize, j: usize| distances[i * b + j];
    let mut out = Mined {
        size: b,
        weights: vec![0.0; b * b],
        constant: 0.0,
        count: 0,
        valid: 0,
        active: 0,
    };
    let positives = |a: usize| (0..b).filter(move |&p| p != a && labels[p] == labels[a]);
    let negatives = |a: usize| (0..b).filter(move |&n| labels[n] != labels[a]);
    let take = |out: &mut Mined, a: usize, p: usize, n: usize| {
        if d(a, p) - d(a, n) + margin > 0.0 {
            out.weights[a * b + p] += 1.0;
            out.weights[a * b + n] -= 1.0;
            out.constant += margin;
            out.active += 1;
        }
    };
    for a in 0..b {
        let n_pos = positives(a).count();
        let n_neg = negatives(a).count();
        out.valid += n_pos * n_neg;
        if n_pos == 0 || n_neg == 0 {
            continue;
        }
        match mining {
            Mining::BatchAll => {
                for p in positives(a) {
                    for n in negatives(a) {
                        take(&mut out, a, p, n);
                    }
                }
            }
            Mining::BatchHard => {
                // Ties go to the first index, so the choice is deterministic.
                let p = positives(a)
                    .reduce(|x, y| if d(a, y) > d(a, x) { y } else { x })
                    .unwrap_or(a);
                let n = negatives(a)
                    .reduce(|x, y| if d(a, y) < d(a, x) { y } else { x })
                    .unwrap_or(a);
                take(&mut out, a, p, n);
                out.count += 1;
            }
            Mining::SemiHard => {
                for p in positives(a) {
                    let farther = negatives(a)
                        .filter(|&n| d(a, n) > d(a, p))
                        .reduce(|x, y| if d(a, y) < d(a, x) { y } else { x });
                    let n = farther.or_else(|| {
                        negatives(a).reduce(|x, y| if d(a, y) > d(a, x) { y } else { x })
                    });
                    if let Some(n) = n {
                        take(&mut out, a, p, n);
                        out.count += 1;
                    }
                }
            }
            Mining::Nca => {}
        }
    }
    if mining == Mining::BatchAll {
        out.count = out.active;
    }
    out
}

/// Pairwise distances `[B, B]` of the rows of `embeddings` `[B, D]`:
/// `sqrt(max(|x_i|^2 + |x_j|^2 - 2 x_i . x_j, epsilon))`, memory quadratic in `B`.
pub fn pairwise_distances(embeddings: Tensor<2>, epsilon: f32) -> Tensor<2> {
    let [b, _] = embeddings.dims();
    let norms = embeddings.clone().square().sum_dim(1); // [B, 1]
    let gram = embeddings.clone().matmul(embeddings.transpose()); // [B, B]
    let squared = norms.clone().expand([b, b]) + norms.transpose().expand([b, b]) - gram * 2.0;
    squared.clamp_min(epsilon).sqrt()
}

/// The mined triplet loss of a batch: mines on a detached copy of the distances, then applies
/// the weights to the tracked distances so that the gradient flows through the chosen
/// triplets only. A batch without an active triplet gives exactly 0 with zero gradients.
pub fn mined_triplet_loss(
    embeddings: Tensor<2>,
    labels: &[u32],
    margin: f32,
    epsilon: f32,
    mining: Mining,
) -> (Tensor<1>, Mined) {
    let distances = pairwise_distances(embeddings, epsilon);
    let values: Vec<f32> = distances
        .clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("converted to f32 just before");
    let mined = mine(&values, labels, margin, mining);
    let b = mined.size;
    let weights = Tensor::<2>::from_data(
        TensorData::new(mined.weights.clone(), [b, b]),
        &distances.device(),
    );
    let sum = (distances * weights).sum();
    let loss = if mined.count == 0 {
        sum
    } else {
        sum.add_scalar(mined.constant)
            .div_scalar(mined.count as f32)
    };
    (loss, mined)
}

/// The NCA loss of a batch ([`Mining::Nca`]) and the number of images it averages over
/// (those with another image of their class in the batch).
///
/// With `s_ij = -|e_i - e_j|^2 / temperature` over `j != i`, the loss of image `i` is
/// `logsumexp_{j != i} s_ij - logsumexp_{j != i, y_j = y_i} s_ij`, i.e. `-log` of the softmax
/// weight on its own class; each log-sum-exp is taken after subtracting the row's (detached)
/// maximum, so it neither overflows nor underflows. Squared distances, unlike the triplet
/// loss's plain ones. A batch in which no image has a positive gives exactly 0 with zero
/// gradients; a batch of one class gives 0 too (all the weight is on the own class).
pub fn nca_loss(embeddings: Tensor<2>, labels: &[u32], temperature: f32) -> (Tensor<1>, usize) {
    let b = labels.len();
    let device = embeddings.device();
    let norms = embeddings.clone().square().sum_dim(1); // [B, 1]
    let gram = embeddings.clone().matmul(embeddings.transpose());
    let squared = (norms.clone().expand([b, b]) + norms.transpose().expand([b, b]) - gram * 2.0)
        .clamp_min(0.0);
    let logits = squared.mul_scalar(-1.0 / temperature);
    // Additive masks: 0 where a neighbour counts, a large negative number where it does not.
    // Logits are at least -4 / temperature for unit embeddings; the mask sends exp() to 0.
    const OFF: f32 = -1e30;
    let mut others = vec![0.0f32; b * b];
    let mut positives = vec![OFF; b * b];
    let mut anchor = vec![0.0f32; b];
    for i in 0..b {
        others[i * b + i] = OFF;
        for j in 0..b {
            if j != i && labels[j] == labels[i] {
                positives[i * b + j] = 0.0;
                anchor[i] = 1.0;
            }
        }
    }
    let count = anchor.iter().filter(|&&a| a > 0.0).count();
    let mask = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [b, b]), &device);
    let lse = |x: Tensor<2>| -> Tensor<2> {
        let m = x.clone().max_dim(1).detach();
        (x - m.clone().expand([b, b])).exp().sum_dim(1).log() + m
    };
    // Rows without a positive have a log-sum-exp of OFF-scale numbers there: finite, and
    // multiplied by 0 below.
    let all = lse(logits.clone() + mask(others));
    let pos = lse(logits + mask(positives));
    let weights = Tensor::<2>::from_data(TensorData::new(anchor, [b, 1]), &device);
    let sum = ((all - pos) * weights).sum();
    let loss = if count == 0 {
        sum
    } else {
        sum.div_scalar(count as f32)
    };
    (loss, count)
}

/// Triplet loss of explicit triplets: mean of `max(d(a, p) - d(a, n) + margin, 0)` over the
/// rows of `anchor`, `positive` and `negative` (each `[N, D]`).
pub fn triplet_loss(
    anchor: Tensor<2>,
    positive: Tensor<2>,
    negative: Tensor<2>,
    margin: f32,
    epsilon: f32,
) -> Tensor<1> {
    let ap = super::euclidean_distance(anchor.clone(), positive, epsilon);
    let an = super::euclidean_distance(anchor, negative, epsilon);
    (ap - an).add_scalar(margin).clamp_min(0.0).mean()
}

/// Refuse a margin that can never be met. `max_distance` is the largest distance two
/// embeddings can be apart, when bounded: 2 for L2-normalised embeddings, `sqrt(2)` when they
/// are also non-negative (a ReLU before the normalisation, as the chapter's encoder has).
/// `d(a, n) - d(a, p)` never exceeds it, so a margin at or above it can never be met. Any
/// margin must be positive.
pub fn check_margin(margin: f32, max_distance: Option<f32>) -> Result<(), String> {
    if !(margin.is_finite() && margin > 0.0) {
        return Err(format!(
            "--margin must be a positive distance, got {margin}"
        ));
    }
    if let Some(max) = max_distance
        && margin >= max
    {
        return Err(format!(
            "--margin {margin} can never be met: these embeddings are at most {max:.4} apart, \
             so d(anchor, negative) - d(anchor, positive) <= {max:.4}; use a smaller margin \
             (e.g. 0.2)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
