//! Class augmentation: new classes made from old ones.

use super::{ClassId, ImageSet};

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
