use burn::tensor::{Device, Tensor, TensorData};

use super::*;

/// One-dimensional embeddings 0, 1, 1.5 and 4 with labels 0, 0, 1, 1: the distances are
/// d01 = 1, d02 = 1.5, d03 = 4, d12 = 0.5, d13 = 3, d23 = 2.5 (margin 1 below).
const POINTS: [f32; 4] = [0.0, 1.0, 1.5, 4.0];
const LABELS: [u32; 4] = [0, 0, 1, 1];

fn matrix(points: &[f32]) -> Vec<f32> {
    let mut out = Vec::new();
    for &x in points {
        for &y in points {
            out.push((x - y).abs());
        }
    }
    out
}

#[test]
fn batch_all_by_hand() {
    // Valid triplets: each anchor has 1 positive and 2 negatives: 8. Active (loss > 0):
    // (0,1,2) 1 - 1.5 + 1 = 0.5; (1,0,2) 1 - 0.5 + 1 = 1.5; (2,3,0) 2.5 - 1.5 + 1 = 2;
    // (2,3,1) 2.5 - 0.5 + 1 = 3; (3,2,1) 2.5 - 3 + 1 = 0.5. Mean over the 5 active: 1.5.
    let d = matrix(&POINTS);
    let m = mine(&d, &LABELS, 1.0, Mining::BatchAll);
    assert_eq!((m.valid, m.active, m.count), (8, 5, 5));
    assert!(
        (m.loss_value(&d) - 1.5).abs() < 1e-6,
        "{}",
        m.loss_value(&d)
    );
    // Anchor 2 enters twice as the anchor of positive 3, and once against each negative.
    assert_eq!(m.weights[2 * 4 + 3], 2.0);
    assert_eq!(m.weights[2 * 4], -1.0);
    assert_eq!(m.weights[2 * 4 + 1], -1.0);
}

#[test]
fn batch_hard_by_hand() {
    // Anchor 0: farthest positive 1 (1), nearest negative 2 (1.5): 0.5. Anchor 1: 0 (1) and
    // 2 (0.5): 1.5. Anchor 2: 3 (2.5) and 1 (0.5): 3. Anchor 3: 2 (2.5) and 1 (3): 0.5.
    // Mean over 4 anchors: 5.5 / 4 = 1.375.
    let d = matrix(&POINTS);
    let m = mine(&d, &LABELS, 1.0, Mining::BatchHard);
    assert_eq!((m.count, m.active), (4, 4));
    assert!((m.loss_value(&d) - 1.375).abs() < 1e-6);
    assert_eq!(
        m.weights[2 * 4 + 1],
        -1.0,
        "anchor 2's hardest negative is 1"
    );
    assert_eq!(m.weights[2 * 4], 0.0);
}

#[test]
fn semi_hard_by_hand() {
    // (0,1): negatives farther than 1 are 2 (1.5) and 3 (4): nearest is 2: 0.5.
    // (1,0): farther than 1 is only 3 (3): 1 - 3 + 1 < 0: 0.
    // (2,3): no negative farther than 2.5 (1.5, 0.5): the farthest, 0 (1.5): 2.
    // (3,2): farther than 2.5 are 0 (4) and 1 (3): nearest is 1: 0.5.
    // Mean over the 4 positive pairs: 3 / 4 = 0.75.
    let d = matrix(&POINTS);
    let m = mine(&d, &LABELS, 1.0, Mining::SemiHard);
    assert_eq!((m.count, m.active), (4, 3));
    assert!((m.loss_value(&d) - 0.75).abs() < 1e-6);
}

#[test]
fn semi_hard_on_a_hand_built_matrix() {
    // Anchor 0 with positive 1 at 0.4; negatives 2, 3, 4 at 0.3 (hard), 0.6 and 0.5
    // (semi-hard: farther than the positive, within the margin). The semi-hard choice is the
    // nearest of those farther than 0.4: negative 4 (0.5), not 2 (closer but harder) nor 3.
    #[rustfmt::skip]
    let d = vec![
        0.0, 0.4, 0.3, 0.6, 0.5,
        0.4, 0.0, 9.0, 9.0, 9.0,
        0.3, 9.0, 0.0, 9.0, 9.0,
        0.6, 9.0, 9.0, 0.0, 9.0,
        0.5, 9.0, 9.0, 9.0, 0.0,
    ];
    let labels = [7, 7, 1, 2, 3];
    let m = mine(&d, &labels, 1.0, Mining::SemiHard);
    assert_eq!(m.weights[4], -1.0, "row 0: {:?}", &m.weights[..5]);
    assert_eq!(m.weights[2], 0.0);
    assert_eq!(m.weights[3], 0.0);
    // Anchor 1's only negatives are at 9: farther than 0.4, so the nearest of them (the first,
    // 2) with loss 0.4 - 9 + 1 < 0: not active.
    assert_eq!((m.count, m.active), (2, 1));
}

#[test]
fn batches_without_valid_triplets_give_zero() {
    for labels in [[0u32, 1, 2, 3], [5, 5, 5, 5]] {
        let d = matrix(&POINTS);
        for mining in [Mining::BatchAll, Mining::BatchHard, Mining::SemiHard] {
            let m = mine(&d, &labels, 1.0, mining);
            assert_eq!(
                (m.valid, m.count, m.active),
                (0, 0, 0),
                "{labels:?} {mining:?}"
            );
            assert!(m.weights.iter().all(|&w| w == 0.0));
            assert_eq!(m.loss_value(&d), 0.0);
        }
    }
}

fn embeddings(device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(POINTS.to_vec(), [4, 1]), device).require_grad()
}

#[test]
fn tensor_loss_and_gradient_match_hand_values() {
    let device = Device::flex().autodiff();
    let e = embeddings(&device);
    let (loss, mined) = mined_triplet_loss(e.clone(), &LABELS, 1.0, 1e-7, Mining::BatchHard);
    let value: f32 = loss.clone().into_scalar();
    assert!((value - 1.375).abs() < 1e-5, "{value}");
    assert_eq!(mined.count, 4);
    // d(a, b) = |x_a - x_b| in one dimension, so each chosen triplet (a, p, n) adds
    // sign(x_a - x_p) - sign(x_a - x_n) to x_a's gradient, minus sign(x_a - x_p) to x_p's and
    // plus sign(x_a - x_n) to x_n's, all over 4. Triplets: (0,1,2), (1,0,2), (2,3,1), (3,2,1).
    // x0: from (0,1,2): -1 - (-1) = 0; as p of (1,0,2): -sign(1 - 0) = -1  -> -1
    // x1: as p of (0,1,2): -sign(0 - 1) = +1; (1,0,2): 1 - (-1) = 2; n of (2,3,1): sign(1.5-1) = 1;
    //     n of (3,2,1): sign(4 - 1) = 1                                  -> 5
    // x2: n of (0,1,2): sign(0 - 1.5) = -1; n of (1,0,2): sign(1 - 1.5) = -1;
    //     (2,3,1): -1 - 1 = -2; p of (3,2,1): -sign(4 - 1.5) = -1        -> -5
    // x3: p of (2,3,1): -sign(1.5 - 4) = 1; (3,2,1): 1 - 1 = 0           -> 1
    let grads = loss.backward();
    let g: Vec<f32> = e.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
    let want = [-0.25f32, 1.25, -1.25, 0.25];
    for (got, want) in g.iter().zip(want) {
        assert!((got - want).abs() < 1e-4, "{g:?}");
    }
}

#[test]
fn no_valid_triplet_means_zero_loss_and_zero_gradient() {
    let device = Device::flex().autodiff();
    let e = embeddings(&device);
    let (loss, mined) = mined_triplet_loss(e.clone(), &[0, 1, 2, 3], 1.0, 1e-7, Mining::BatchAll);
    assert_eq!(mined.count, 0);
    let value: f32 = loss.clone().into_scalar();
    assert_eq!(value, 0.0);
    let grads = loss.backward();
    let g: Vec<f32> = e.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
    assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
}

#[test]
fn pairwise_distances_by_hand() {
    let device = Device::flex();
    let e = Tensor::<2>::from_data(
        TensorData::new(vec![0.0f32, 0.0, 3.0, 4.0], [2, 2]),
        &device,
    );
    let d: Vec<f32> = pairwise_distances(e, 1e-7)
        .into_data()
        .try_into_vec()
        .unwrap();
    let floor = 1e-7f32.sqrt();
    assert!(
        (d[0] - floor).abs() < 1e-6 && (d[3] - floor).abs() < 1e-6,
        "{d:?}"
    );
    assert!(
        (d[1] - 5.0).abs() < 1e-5 && (d[2] - 5.0).abs() < 1e-5,
        "{d:?}"
    );
}

#[test]
fn explicit_triplets_by_hand() {
    // (0; 1, 1.5): 1 - 1.5 + 1 = 0.5; (4; 1.5, 0): 2.5 - 4 + 1 < 0 -> 0. Mean 0.25.
    let device = Device::flex();
    let t = |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [2, 1]), &device);
    let loss = triplet_loss(t([0.0, 4.0]), t([1.0, 1.5]), t([1.5, 0.0]), 1.0, 1e-7);
    let value: f32 = loss.into_scalar();
    assert!((value - 0.25).abs() < 1e-6, "{value}");
}

#[test]
fn margins_that_cannot_be_met_are_refused() {
    assert!(check_margin(0.2, Some(2.0)).is_ok());
    assert!(check_margin(5.0, None).is_ok());
    let e = check_margin(2.0, Some(2.0)).unwrap_err();
    assert!(
        e.contains("never be met") && e.contains("at most 2.0000 apart"),
        "{e}"
    );
    // Non-negative unit vectors are at most sqrt(2) apart: a margin of 1.5 cannot be met.
    assert!(check_margin(1.5, Some(2f32.sqrt())).is_err());
    assert!(check_margin(0.0, None).is_err());
    assert!(check_margin(f32::NAN, None).is_err());
}

/// Reference NCA loss in f64, straight from the definition (for the finite differences).
fn nca_reference(points: &[f64], labels: &[u32], temperature: f64) -> f64 {
    let b = points.len();
    let mut total = 0.0;
    let mut count = 0;
    for i in 0..b {
        let (mut all, mut pos) = (0.0, 0.0);
        for j in (0..b).filter(|&j| j != i) {
            let w = (-(points[i] - points[j]).powi(2) / temperature).exp();
            all += w;
            if labels[j] == labels[i] {
                pos += w;
            }
        }
        if pos > 0.0 {
            total += all.ln() - pos.ln();
            count += 1;
        }
    }
    total / count.max(1) as f64
}

fn nca_of(points: &[f32], labels: &[u32], temperature: f32) -> (f32, usize, Vec<f32>) {
    let device = Device::flex().autodiff();
    let e = Tensor::<2>::from_data(TensorData::new(points.to_vec(), [points.len(), 1]), &device)
        .require_grad();
    let (loss, count) = nca_loss(e.clone(), labels, temperature);
    let grads = loss.backward();
    let g: Vec<f32> = e.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
    (loss.into_scalar(), count, g)
}

#[test]
fn nca_by_hand() {
    // Squared distances of POINTS: d01 1, d02 2.25, d03 16, d12 0.25, d13 9, d23 6.25. With
    // temperature 1 (numpy, from the definition):
    //   i=0: log(e^-1 + e^-2.25 + e^-16) + 1          = 0.2519293191
    //   i=1: log(e^-1 + e^-0.25 + e^-9) + 1           = 1.1369786239
    //   i=2: log(e^-2.25 + e^-0.25 + e^-6.25) + 6.25  = 6.1291089088
    //   i=3: log(e^-16 + e^-9 + e^-6.25) + 6.25       = 0.0620223794
    //   mean 1.8950098078; with temperature 0.5: 3.4506343603.
    let (loss, count, _) = nca_of(&POINTS, &LABELS, 1.0);
    assert_eq!(count, 4);
    assert!((loss - 1.895_009_8).abs() < 1e-5, "{loss}");
    let (loss, _, _) = nca_of(&POINTS, &LABELS, 0.5);
    assert!((loss - 3.450_634_4).abs() < 1e-5, "{loss}");
}

#[test]
fn nca_gradient_matches_finite_differences() {
    let points = [0.3f32, -0.2, 0.9, 0.1, -0.7];
    let labels = [0, 1, 0, 1, 2];
    let (loss, count, grad) = nca_of(&points, &labels, 0.5);
    // Image 4 is alone in its class: it is not averaged over, but it is everyone's negative.
    assert_eq!(count, 4);
    let p64: Vec<f64> = points.iter().map(|&p| f64::from(p)).collect();
    assert!((f64::from(loss) - nca_reference(&p64, &labels, 0.5)).abs() < 1e-5);
    let h = 1e-5;
    for k in 0..points.len() {
        let (mut up, mut down) = (p64.clone(), p64.clone());
        up[k] += h;
        down[k] -= h;
        let numeric =
            (nca_reference(&up, &labels, 0.5) - nca_reference(&down, &labels, 0.5)) / (2.0 * h);
        assert!(
            (f64::from(grad[k]) - numeric).abs() < 1e-3,
            "d loss / d e{k}: autodiff {} vs numeric {numeric}",
            grad[k]
        );
    }
    assert!(grad[4].abs() > 1e-4, "the lone image must still be pushed");
}

#[test]
fn nca_without_positives_is_zero_with_zero_gradients() {
    let (loss, count, grad) = nca_of(&POINTS, &[0, 1, 2, 3], 1.0);
    assert_eq!((loss, count), (0.0, 0));
    assert!(grad.iter().all(|&g| g == 0.0), "{grad:?}");
    // One class only: every image's weight is all on its own class.
    let (loss, count, grad) = nca_of(&POINTS, &[5, 5, 5, 5], 1.0);
    assert_eq!((loss, count), (0.0, 4));
    assert!(grad.iter().all(|&g| g.abs() < 1e-6), "{grad:?}");
}
