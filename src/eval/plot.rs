//! The figures of an evaluation: the distance histograms of same and different pairs with the
//! threshold marked, and the ROC curve.

use std::path::Path;

use plotters::prelude::*;

use super::metrics::RocPoint;
use crate::figure::{BLUE, FONT, ORANGE, draw_png};

/// Bins of the distance histograms.
const BINS: usize = 60;

/// Counts of `values` in `bins` equal bins over `[lo, hi]` (the last bin closed).
fn histogram(values: impl Iterator<Item = f32>, lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0usize; bins];
    let width = (hi - lo) / bins as f64;
    for v in values {
        let bin = ((f64::from(v) - lo) / width).floor();
        if bin.is_finite() && bin >= 0.0 {
            counts[(bin as usize).min(bins - 1)] += 1;
        }
    }
    counts
}

/// Two histograms of `distances`, same pairs and different pairs, with a vertical line at
/// `threshold`, as a PNG at `path`.
pub fn distance_histograms(
    path: &Path,
    title: &str,
    distances: &[f32],
    labels: &[u8],
    threshold: f32,
) -> Result<(), String> {
    let finite = distances.iter().copied().filter(|d| d.is_finite());
    let hi = finite
        .fold(f64::from(threshold), |m, d| m.max(f64::from(d)))
        .max(1e-6)
        * 1.02;
    let of_label = |label: u8| {
        distances
            .iter()
            .zip(labels)
            .filter(move |&(_, &y)| y == label)
            .map(|(&d, _)| d)
    };
    let same = histogram(of_label(1), 0.0, hi, BINS);
    let different = histogram(of_label(0), 0.0, hi, BINS);
    let top = same
        .iter()
        .chain(&different)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.08;
    let width = hi / BINS as f64;
    draw_png(path, (800, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..hi, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("distance between embeddings")
            .y_desc("pairs")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        for (counts, colour, name) in [
            (&same, BLUE, "same pairs (label 1)"),
            (&different, ORANGE, "different pairs (label 0)"),
        ] {
            chart
                .draw_series(counts.iter().enumerate().map(|(i, &n)| {
                    let x0 = i as f64 * width;
                    Rectangle::new(
                        [(x0, 0.0), (x0 + width, n as f64)],
                        colour.mix(0.45).filled(),
                    )
                }))?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled())
                });
        }
        let t = f64::from(threshold);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(t, 0.0), (t, top)],
                BLACK.stroke_width(2),
            )))?
            .label(format!("threshold {threshold:.3}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    })
}

/// The ROC curve (false-positive rate against true-positive rate) as a PNG at `path`.
pub fn roc_plot(path: &Path, title: &str, curve: &[RocPoint], auc: f64) -> Result<(), String> {
    draw_png(path, (600, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("false-positive rate (different pairs called same)")
            .y_desc("true-positive rate (same pairs called same)")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            BLACK.mix(0.3).stroke_width(1),
        ))?;
        chart
            .draw_series(LineSeries::new(
                curve
                    .iter()
                    .map(|p| (p.false_positive_rate, p.true_positive_rate)),
                BLUE.stroke_width(2),
            ))?
            .label(format!("ROC, AUC {auc:.4}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_by_hand() {
        // [0, 1] in 4 bins of 0.25: 0.1 -> 0, 0.3 -> 1, 0.5 -> 2, 1.0 -> 3 (closed end).
        let h = histogram([0.1f32, 0.3, 0.5, 1.0, 0.2].into_iter(), 0.0, 1.0, 4);
        assert_eq!(h, vec![2, 1, 1, 1]);
    }

    #[test]
    fn figures_are_real_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let hist = dir.path().join("hist.png");
        let d = [0.1f32, 0.2, 0.3, 0.9, 1.1, 0.4];
        let y = [1u8, 1, 1, 0, 0, 0];
        distance_histograms(&hist, "test pairs", &d, &y, 0.5).unwrap();
        let img = image::open(&hist).unwrap();
        assert_eq!((img.width(), img.height()), (800, 520));
        let curve = crate::eval::roc_curve(&d, &y).unwrap();
        let roc = dir.path().join("roc.png");
        roc_plot(&roc, "test pairs", &curve, 0.89).unwrap();
        let grey = image::open(&roc).unwrap().to_luma8();
        let dark = grey.pixels().filter(|p| p.0[0] < 100).count();
        assert!(dark > 500, "only {dark} dark pixels");
    }
}
