//! Augmentation: new classes made from old ones, and random affine distortions of training
//! images.

use rand::{Rng, RngExt};

use super::{ClassId, ImageSet};

/// An affine distortion of an image about its centre: `p' = R(theta) * S * D * p + shift`,
/// with `R` the rotation, `S = [[1, shear_x], [shear_y, 1]]` and `D = diag(scale_x, scale_y)`,
/// in (column, row) pixel coordinates centred on the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Rotation, radians (positive turns clockwise as displayed, rows growing downwards).
    pub theta: f32,
    /// Shear (x, y).
    pub shear: [f32; 2],
    /// Scale (x, y).
    pub scale: [f32; 2],
    /// Translation (x, y) in pixels.
    pub shift: [f32; 2],
}

impl Affine {
    /// The distortion that changes nothing.
    pub const IDENTITY: Affine = Affine {
        theta: 0.0,
        shear: [0.0, 0.0],
        scale: [1.0, 1.0],
        shift: [0.0, 0.0],
    };

    /// A random distortion as Koch, Zemel and Salakhutdinov (2015) drew them for Omniglot:
    /// rotation in [-10, 10] degrees, shears in [-0.3, 0.3], scales in [0.8, 1.2] and shifts
    /// in [-2, 2] pixels of their 105-pixel images (here scaled to `side`), each of the seven
    /// drawn uniformly with probability 1/2 and left at the identity otherwise.
    pub fn random<R: Rng>(rng: &mut R, side: usize) -> Self {
        let mut draw = |low: f32, high: f32, identity: f32| {
            if rng.random_bool(0.5) {
                rng.random_range(low..=high)
            } else {
                identity
            }
        };
        let max_shift = 2.0 * side as f32 / 105.0;
        let limit = 10f32.to_radians();
        Affine {
            theta: draw(-limit, limit, 0.0),
            shear: [draw(-0.3, 0.3, 0.0), draw(-0.3, 0.3, 0.0)],
            scale: [draw(0.8, 1.2, 1.0), draw(0.8, 1.2, 1.0)],
            shift: [
                draw(-max_shift, max_shift, 0.0),
                draw(-max_shift, max_shift, 0.0),
            ],
        }
    }

    /// The linear part `R * S * D` as rows.
    fn matrix(&self) -> [[f32; 2]; 2] {
        let (sin, cos) = self.theta.sin_cos();
        let [hx, hy] = self.shear;
        let [dx, dy] = self.scale;
        // S * D
        let sd = [[dx, hx * dy], [hy * dx, dy]];
        [
            [
                cos * sd[0][0] - sin * sd[1][0],
                cos * sd[0][1] - sin * sd[1][1],
            ],
            [
                sin * sd[0][0] + cos * sd[1][0],
                sin * sd[0][1] + cos * sd[1][1],
            ],
        ]
    }

    /// Append the `rows x cols` image `src` (0-255), distorted, to `out` as floats in [0, 1].
    /// Each output pixel samples the source bilinearly at its inverse image; the source is 0
    /// (Omniglot's background after inversion) outside its borders. A distortion that cannot
    /// be inverted (zero scale) gives a blank image.
    pub fn apply(&self, src: &[u8], rows: usize, cols: usize, out: &mut Vec<f32>) {
        let [[a, b], [c, d]] = self.matrix();
        let det = a * d - b * c;
        if det.abs() < 1e-6 {
            out.extend(std::iter::repeat_n(0.0, rows * cols));
            return;
        }
        let inv = [[d / det, -b / det], [-c / det, a / det]];
        let (cx, cy) = ((cols as f32 - 1.0) / 2.0, (rows as f32 - 1.0) / 2.0);
        let pixel = |r: isize, c: isize| -> f32 {
            if r < 0 || c < 0 || r >= rows as isize || c >= cols as isize {
                0.0
            } else {
                f32::from(src[r as usize * cols + c as usize])
            }
        };
        for r in 0..rows {
            for c in 0..cols {
                let qx = c as f32 - cx - self.shift[0];
                let qy = r as f32 - cy - self.shift[1];
                let sx = inv[0][0] * qx + inv[0][1] * qy + cx;
                let sy = inv[1][0] * qx + inv[1][1] * qy + cy;
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                let (x0, y0) = (x0 as isize, y0 as isize);
                let top = pixel(y0, x0) * (1.0 - fx) + pixel(y0, x0 + 1) * fx;
                let bottom = pixel(y0 + 1, x0) * (1.0 - fx) + pixel(y0 + 1, x0 + 1) * fx;
                out.push((top * (1.0 - fy) + bottom * fy) / 255.0);
            }
        }
    }
}

/// Every class of `set` three more times, rotated by 90, 180 and 270 degrees clockwise, as new
/// classes (Vinyals et al. (2016) and Snell et al. (2017) train on Omniglot this way: a rotated
/// character is a character no one drew). Class `c` of `n` gives classes `c + n`, `c + 2n` and
/// `c + 3n`; images keep their order within each block of `len()` images. Names get the suffix
/// " rot90", " rot180", " rot270".
///
/// Errors, naming the sizes, when the images are not square or the classes would not fit a
/// [`ClassId`].
pub fn with_rotated_classes(
    set: &ImageSet,
    names: &[String],
) -> Result<(ImageSet, Vec<String>), String> {
    let (rows, cols) = (set.rows, set.cols);
    if rows != cols {
        return Err(format!(
            "rotated classes need square images; these are {rows}x{cols}"
        ));
    }
    let n = set.num_classes;
    if 4 * n > usize::from(ClassId::MAX) + 1 {
        return Err(format!(
            "{n} classes, four times over, exceed the {} classes this version supports",
            usize::from(ClassId::MAX) + 1
        ));
    }
    let side = rows;
    let size = side * side;
    let mut images = Vec::with_capacity(4 * set.images.len());
    let mut labels = Vec::with_capacity(4 * set.len());
    images.extend_from_slice(&set.images);
    labels.extend_from_slice(&set.labels);
    for turn in 1..4 {
        for (i, &label) in set.labels.iter().enumerate() {
            let src = set.image(i);
            images.extend((0..size).map(|k| {
                let (r, c) = (k / side, k % side);
                // The pixel that lands on (r, c) after `turn` clockwise quarter turns.
                let (sr, sc) = match turn {
                    1 => (side - 1 - c, r),
                    2 => (side - 1 - r, side - 1 - c),
                    _ => (c, side - 1 - r),
                };
                src[sr * side + sc]
            }));
            labels.push(label + (turn * n) as ClassId);
        }
    }
    let mut all_names = names.to_vec();
    for suffix in [" rot90", " rot180", " rot270"] {
        all_names.extend(names.iter().map(|name| format!("{name}{suffix}")));
    }
    Ok((
        ImageSet {
            images,
            labels,
            rows,
            cols,
            num_classes: 4 * n,
        },
        all_names,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 image turned by hand:
    /// ```text
    /// 1 2 3      7 4 1      9 8 7      3 6 9
    /// 4 5 6  ->  8 5 2  ->  6 5 4  ->  2 5 8
    /// 7 8 9      9 6 3      3 2 1      1 4 7
    ///            (90)       (180)      (270)
    /// ```
    #[test]
    fn quarter_turns_match_hand_rotations() {
        let set = ImageSet {
            images: (1..=9).collect(),
            labels: vec![0],
            rows: 3,
            cols: 3,
            num_classes: 2,
        };
        let names = vec!["a".to_string(), "b".to_string()];
        let (out, out_names) = with_rotated_classes(&set, &names).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out.num_classes, 8);
        assert_eq!(out.labels, vec![0, 2, 4, 6]);
        assert_eq!(out.image(0), &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(out.image(1), &[7, 4, 1, 8, 5, 2, 9, 6, 3]);
        assert_eq!(out.image(2), &[9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(out.image(3), &[3, 6, 9, 2, 5, 8, 1, 4, 7]);
        assert_eq!(
            out_names,
            [
                "a", "b", "a rot90", "b rot90", "a rot180", "b rot180", "a rot270", "b rot270"
            ]
        );
    }

    fn distort(affine: Affine, src: &[u8], side: usize) -> Vec<f32> {
        let mut out = Vec::new();
        affine.apply(src, side, side, &mut out);
        out
    }

    #[test]
    fn identity_and_integer_shifts_move_pixels_as_by_hand() {
        let src: Vec<u8> = (1..=9).map(|v| v * 25).collect();
        let scaled: Vec<f32> = src.iter().map(|&v| f32::from(v) / 255.0).collect();
        assert_eq!(distort(Affine::IDENTITY, &src, 3), scaled);
        // One pixel right and one down: the first row and column become background.
        let shifted = distort(
            Affine {
                shift: [1.0, 1.0],
                ..Affine::IDENTITY
            },
            &src,
            3,
        );
        let by_hand = [0, 0, 0, 0, 25, 50, 0, 100, 125];
        let by_hand: Vec<f32> = by_hand.iter().map(|&v| v as f32 / 255.0).collect();
        assert_eq!(shifted, by_hand);
        // Half a pixel right: each pixel is the mean of itself and its left neighbour.
        let half = distort(
            Affine {
                shift: [0.5, 0.0],
                ..Affine::IDENTITY
            },
            &src,
            3,
        );
        let expected = [12.5, 37.5, 62.5, 50.0, 112.5, 137.5, 87.5, 187.5, 212.5];
        for (h, e) in half.iter().zip(expected) {
            assert!((h * 255.0 - e).abs() < 1e-4, "{half:?}");
        }
    }

    #[test]
    fn a_quarter_turn_matches_the_rotated_class() {
        let src: Vec<u8> = (1..=25).collect();
        let set = ImageSet {
            images: src.clone(),
            labels: vec![0],
            rows: 5,
            cols: 5,
            num_classes: 1,
        };
        let (rotated, _) = with_rotated_classes(&set, &["a".into()]).unwrap();
        let turned = distort(
            Affine {
                theta: std::f32::consts::FRAC_PI_2,
                ..Affine::IDENTITY
            },
            &src,
            5,
        );
        for (t, &r) in turned.iter().zip(rotated.image(1)) {
            assert!((t * 255.0 - f32::from(r)).abs() < 1e-3, "{turned:?}");
        }
    }

    #[test]
    fn scaling_and_shear_map_as_computed() {
        // 5x5 with a single lit pixel one right of the centre (row 2, column 3).
        let mut src = vec![0u8; 25];
        src[2 * 5 + 3] = 255;
        // Doubled in x: the pixel lands two right of the centre (column 4), and column 3 now
        // samples the source halfway between columns 2 and 3.
        let wide = distort(
            Affine {
                scale: [2.0, 1.0],
                ..Affine::IDENTITY
            },
            &src,
            5,
        );
        assert!((wide[2 * 5 + 4] - 1.0).abs() < 1e-6);
        assert!((wide[2 * 5 + 3] - 0.5).abs() < 1e-6);
        assert_eq!(wide.iter().filter(|&&v| v > 0.0).count(), 2);
        // Shear y by 1: (x, y) -> (x, y + x), so the pixel at x = +1 moves one row down.
        let sheared = distort(
            Affine {
                shear: [0.0, 1.0],
                ..Affine::IDENTITY
            },
            &src,
            5,
        );
        assert!((sheared[3 * 5 + 3] - 1.0).abs() < 1e-6, "{sheared:?}");
        assert_eq!(sheared.iter().filter(|&&v| v > 0.0).count(), 1);
    }

    #[test]
    fn random_distortions_stay_in_their_ranges() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let draws: Vec<Affine> = (0..2000).map(|_| Affine::random(&mut rng, 105)).collect();
        let mut again = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        assert_eq!(draws[0], Affine::random(&mut again, 105));
        for a in &draws {
            assert!(a.theta.abs() <= 10f32.to_radians() + 1e-6);
            assert!(a.shear.iter().all(|h| h.abs() <= 0.3));
            assert!(a.scale.iter().all(|s| (0.8..=1.2).contains(s)));
            assert!(a.shift.iter().all(|t| t.abs() <= 2.0));
        }
        // Each component is left at the identity about half the time.
        let kept = draws.iter().filter(|a| a.theta == 0.0).count();
        assert!((900..1100).contains(&kept), "{kept}");
        let kept = draws.iter().filter(|a| a.scale[1] == 1.0).count();
        assert!((900..1100).contains(&kept), "{kept}");
        // Shifts scale with the image: at 21 pixels at most 0.4.
        let small = Affine::random(&mut rng, 21);
        assert!(small.shift.iter().all(|t| t.abs() <= 0.4 + 1e-6));
    }

    #[test]
    fn refuses_non_square_images() {
        let set = ImageSet {
            images: vec![0; 6],
            labels: vec![0],
            rows: 2,
            cols: 3,
            num_classes: 1,
        };
        let err = with_rotated_classes(&set, &["a".into()]).unwrap_err();
        assert!(err.contains("2x3"), "{err}");
    }
}
