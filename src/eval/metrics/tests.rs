//! Every metric against values worked out by hand (in the comments) on small lists.

use super::*;

fn value(m: Metric) -> f64 {
    m.value()
        .unwrap_or_else(|| panic!("expected a value, got {m}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn confusion_and_its_rates() {
    // Threshold 0.5, "same" iff d < 0.5:
    // 0.2/same -> TP; 0.7/same -> FN; 0.5/different -> TN (not < 0.5); 0.1/different -> FP.
    let c = Confusion::at(&[0.2, 0.7, 0.5, 0.1], &[1, 1, 0, 0], 0.5);
    assert_eq!(
        c,
        Confusion {
            true_same: 1,
            false_same: 1,
            false_different: 1,
            true_different: 1
        }
    );
    assert!(close(value(c.accuracy()), 0.5));
    assert!(close(value(c.precision()), 0.5));
    assert!(close(value(c.recall()), 0.5));
    // 2 TP / (2 TP + FP + FN) = 2 / 4.
    assert!(close(value(c.f1()), 0.5));
    assert_eq!(
        pair_accuracy(&[0.2, 0.7, 0.5, 0.1], &[1, 1, 0, 0], 0.5),
        0.5
    );
    assert!(pair_accuracy(&[], &[], 0.5).is_nan());
}

#[test]
fn nothing_predicted_same_leaves_precision_undefined() {
    // Threshold below every distance: TP 0, FP 0, FN 2, TN 2.
    let c = Confusion::at(&[0.2, 0.7, 0.5, 0.1], &[1, 1, 0, 0], 0.05);
    assert!(
        matches!(c.precision(), Metric::Undefined { undefined } if undefined.contains("predicted same"))
    );
    assert_eq!(c.recall(), Metric::Value(0.0));
    // 0 / (0 + 0 + 2): defined, and 0.
    assert_eq!(c.f1(), Metric::Value(0.0));
    assert!(close(value(c.accuracy()), 0.5));
    // No pairs at all: nothing is defined.
    let empty = Confusion::at(&[], &[], 0.5);
    for m in [
        empty.accuracy(),
        empty.precision(),
        empty.recall(),
        empty.f1(),
    ] {
        assert!(m.value().is_none(), "{m}");
    }
}

#[test]
fn undefined_metrics_serialise_with_their_reason_not_nan() {
    let c = Confusion::at(&[0.9], &[1], 0.5);
    let json = serde_json::to_string(&c.precision()).unwrap();
    assert_eq!(json, r#"{"undefined":"no pair was predicted same"}"#);
    assert_eq!(serde_json::to_string(&Metric::Value(0.25)).unwrap(), "0.25");
}

/// AUC by brute force over every (same, different) pair of pairs, on similarities (larger =
/// more alike): the definition, written independently of the rank formula.
fn brute_force_auc_of_similarities(similarities: &[f64], labels: &[u8]) -> f64 {
    let (mut wins, mut total) = (0.0, 0.0);
    for (i, &si) in similarities.iter().enumerate() {
        for (j, &sj) in similarities.iter().enumerate() {
            if labels[i] == 1 && labels[j] == 0 {
                total += 1.0;
                if si > sj {
                    wins += 1.0;
                } else if si == sj {
                    wins += 0.5;
                }
            }
        }
    }
    wins / total
}

#[test]
fn auc_by_hand_with_ties() {
    // Same pairs at 0.2 and 0.5, different at 0.2 and 0.9. Of the four (same, different)
    // comparisons: 0.2 vs 0.2 tie (1/2), 0.2 vs 0.9 (1), 0.5 vs 0.2 (0), 0.5 vs 0.9 (1):
    // 2.5 / 4 = 0.625.
    let d = [0.2f32, 0.2, 0.5, 0.9];
    let y = [1u8, 0, 1, 0];
    assert!(close(value(roc_auc(&d, &y)), 0.625));
    // Perfectly separated: 1; perfectly inverted: 0.
    assert_eq!(
        roc_auc(&[0.1, 0.35, 0.4, 0.8], &[1, 1, 0, 0]),
        Metric::Value(1.0)
    );
    assert_eq!(
        roc_auc(&[0.1, 0.35, 0.4, 0.8], &[0, 0, 1, 1]),
        Metric::Value(0.0)
    );
}

#[test]
fn auc_from_distances_equals_auc_from_similarities() {
    // A fixed pseudo-random list with many ties (distances on a coarse grid).
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let d: Vec<f32> = (0..300).map(|_| (next() % 40) as f32 / 20.0).collect();
    let y: Vec<u8> = d
        .iter()
        .map(|&v| u8::from((next() % 100) as f32 / 100.0 > v / 2.0))
        .collect();
    for similarity in [
        |d: f32| -f64::from(d),
        |d: f32| (-f64::from(d)).exp(),
        |d: f32| 1.0 / (1.0 + f64::from(d)),
    ] {
        let s: Vec<f64> = d.iter().map(|&v| similarity(v)).collect();
        let reference = brute_force_auc_of_similarities(&s, &y);
        let got = value(roc_auc(&d, &y));
        assert!((got - reference).abs() < 1e-12, "{got} vs {reference}");
    }
}

#[test]
fn auc_and_curve_are_undefined_with_one_class() {
    let m = roc_auc(&[0.1, 0.2], &[1, 1]);
    assert!(
        matches!(&m, Metric::Undefined { undefined } if undefined.contains("no different")),
        "{m}"
    );
    let m = roc_auc(&[0.1, 0.2], &[0, 0]);
    assert!(
        matches!(&m, Metric::Undefined { undefined } if undefined.contains("no same")),
        "{m}"
    );
    assert!(roc_curve(&[0.1], &[1]).is_err());
    assert!(equal_error_rate(&[0.1], &[0]).is_err());
    let m = roc_auc(&[0.1, f32::NAN], &[1, 0]);
    assert!(
        m.value().is_none(),
        "a NaN distance must not give a number: {m}"
    );
}

#[test]
fn roc_curve_by_hand_and_its_area_is_the_auc() {
    // Distances 0.2 (one same, one different, tied), 0.5 (same), 0.9 (different).
    let curve = roc_curve(&[0.2, 0.2, 0.5, 0.9], &[1, 0, 1, 0]).unwrap();
    let points: Vec<(f64, f64)> = curve
        .iter()
        .map(|p| (p.false_positive_rate, p.true_positive_rate))
        .collect();
    assert_eq!(points, vec![(0.0, 0.0), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]);
    // Trapezoids: 0.5 * 0.25 + 0 + 0.5 * 1 = 0.625, the AUC above.
    let area: f64 = curve
        .windows(2)
        .map(|w| {
            (w[1].false_positive_rate - w[0].false_positive_rate)
                * (w[0].true_positive_rate + w[1].true_positive_rate)
                / 2.0
        })
        .sum();
    assert!(close(area, 0.625));
}

#[test]
fn equal_error_rate_by_hand() {
    // Separated: 0.1, 0.2 same; 0.3, 0.4 different. FAR = FRR = 0 with "same" up to 0.2.
    let e = equal_error_rate(&[0.1, 0.2, 0.3, 0.4], &[1, 1, 0, 0]).unwrap();
    assert_eq!(e.rate, 0.0);
    assert_eq!(e.distance, f64::from(0.2f32));
    // 0.1 same, 0.2 different, 0.3 same, 0.4 different: up to 0.1 FAR 0 / FRR 0.5; up to 0.2
    // FAR 0.5 / FRR 0.5: the rates meet at 0.5 there.
    let e = equal_error_rate(&[0.1, 0.3, 0.2, 0.4], &[1, 1, 0, 0]).unwrap();
    assert!(close(e.rate, 0.5));
    assert_eq!(e.distance, f64::from(0.2f32));
    // Four same and four different with FAR falling and FRR rising linearly: 0.1 0.2 0.3 same
    // and 0.25 0.35 0.45 0.55 different with 0.5 same. Sorted: s .1, s .2, d .25, s .3,
    // d .35, d .45, s .5, d .55. After .2: FAR 0, FRR .5; after .25: FAR .25, FRR .5; after .3:
    // FAR .25, FRR .25 -> crossing exactly there, EER 0.25 at distance 0.3.
    let e = equal_error_rate(
        &[0.1, 0.2, 0.3, 0.5, 0.25, 0.35, 0.45, 0.55],
        &[1, 1, 1, 1, 0, 0, 0, 0],
    )
    .unwrap();
    assert!(close(e.rate, 0.25), "{e:?}");
    assert_eq!(e.distance, f64::from(0.3f32));
}

#[test]
fn best_threshold_by_hand() {
    // Separable: any cut between 0.35 and 0.4 is perfect; the midpoint is 0.375.
    let (t, v) =
        best_threshold(&[0.1, 0.35, 0.4, 0.8], &[1, 1, 0, 0], Criterion::Accuracy).unwrap();
    assert!((t - 0.375).abs() < 1e-6 && v == 1.0, "{t} {v}");
    // 0.1 same, 0.2 different, 0.3 same. Accuracy: below 0.1 -> 1/3; at 0.15 -> 2/3;
    // at 0.25 -> 1/3; above 0.3 -> 2/3. The first best, 0.15, wins.
    let (t, v) = best_threshold(&[0.1, 0.2, 0.3], &[1, 0, 1], Criterion::Accuracy).unwrap();
    assert!((t - 0.15).abs() < 1e-6 && close(v, 2.0 / 3.0), "{t} {v}");
    // F1: at 0.15 -> 2/3 (TP 1, FN 1); above 0.3 -> 4/5 (TP 2, FP 1): everything "same".
    let (t, v) = best_threshold(&[0.1, 0.2, 0.3], &[1, 0, 1], Criterion::F1).unwrap();
    assert!(t > 0.3 && close(v, 0.8), "{t} {v}");
    // The threshold really scores what it claims, with the strict "<".
    let c = Confusion::at(&[0.1, 0.2, 0.3], &[1, 0, 1], t);
    assert!(close(value(c.f1()), 0.8));
    assert!(best_threshold(&[0.1, 0.2], &[1, 1], Criterion::F1).is_err());
}

#[test]
fn contrastive_value_by_hand() {
    // same 0.2 -> 0.04; different 0.2 -> 0.64; different 1.5 -> 0; same 0.7 -> 0.49.
    // Mean = 1.17 / 4 = 0.2925.
    let v = contrastive_loss_value(&[0.2, 0.2, 1.5, 0.7], &[1, 0, 0, 1], 1.0);
    assert!((v - 0.2925).abs() < 1e-6, "{v}");
}
