//! The run's figures: the loss curve and the first training image.

use std::path::Path;

use plotters::prelude::*;

use crate::figure::{BLUE, FONT, ORANGE, draw_png};

/// Draw training and validation loss per epoch to a PNG at `path` (written atomically).
pub fn loss_plot(path: &Path, loss: &[f64], val_loss: &[f64]) -> Result<(), String> {
    draw_png(path, (800, 560), |root| {
        let all = loss
            .iter()
            .chain(val_loss)
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.08).max(1e-3);
        let epochs = loss.len().max(val_loss.len()).max(1);
        let mut chart = ChartBuilder::on(root)
            .caption("Contrastive loss per epoch", (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.5f64..epochs as f64 + 0.5, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 18))
            .x_labels(epochs.min(20))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        let series = |values: &[f64]| -> Vec<(f64, f64)> {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| ((i + 1) as f64, *v))
                .collect()
        };
        let (blue, orange) = (BLUE, ORANGE);
        chart
            .draw_series(LineSeries::new(series(loss), blue.stroke_width(2)))?
            .label("training loss")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2))
            });
        chart.draw_series(
            series(loss)
                .into_iter()
                .map(|p| Circle::new(p, 3, blue.filled())),
        )?;
        if !val_loss.is_empty() {
            chart
                .draw_series(LineSeries::new(series(val_loss), orange.stroke_width(2)))?
                .label("validation loss")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(2))
                });
            chart.draw_series(
                series(val_loss)
                    .into_iter()
                    .map(|p| Circle::new(p, 3, orange.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Save a grey image, scaled up `scale` times, as the chapter shows it (matplotlib's `binary`
/// colour map: 0 white, 255 black).
pub fn sample_image(
    path: &Path,
    pixels: &[u8],
    rows: usize,
    cols: usize,
    scale: usize,
) -> Result<(), String> {
    let (w, h) = ((cols * scale) as u32, (rows * scale) as u32);
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        let v = pixels[(y as usize / scale) * cols + x as usize / scale];
        image::Luma([255 - v])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| format!("cannot encode {}: {e}", path.display()))?;
    crate::io::write_atomic(path, &bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_real_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let loss = dir.path().join("loss.png");
        loss_plot(&loss, &[0.27, 0.11, 0.105], &[0.115, 0.104, 0.103]).unwrap();
        let img = image::open(&loss).unwrap();
        assert_eq!((img.width(), img.height()), (800, 560));
        // Not a blank canvas: the curves and labels put dark pixels on it.
        let grey = img.to_luma8();
        let dark = grey.pixels().filter(|p| p.0[0] < 100).count();
        assert!(dark > 1000, "only {dark} dark pixels");

        let sample = dir.path().join("sample.png");
        let pixels: Vec<u8> = (0..28 * 28).map(|i| (i % 256) as u8).collect();
        sample_image(&sample, &pixels, 28, 28, 4).unwrap();
        let img = image::open(&sample).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (112, 112));
        assert_eq!(
            img.get_pixel(0, 0).0[0],
            255,
            "pixel value 0 is drawn white"
        );
        assert_eq!(img.get_pixel(4, 0).0[0], 254);
    }
}
