//! The chapter's pair protocol (SPEC.md section 5, steps 2-4).

use rand::{Rng, RngExt};
use thiserror::Error;

use crate::data::ClassId;

/// Errors of the pair samplers.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SamplingError {
    /// Fewer than two classes were asked for: no negative pair can be formed.
    #[error("at least two classes are needed to form negative pairs; got {0:?}")]
    TooFewClasses(Vec<ClassId>),
    /// A class appears twice in the class list.
    #[error("class {0} is listed twice in --classes")]
    DuplicateClass(ClassId),
    /// A requested class has no images at all.
    #[error("class {class} has no images in {what}")]
    EmptyClass {
        /// The class label.
        class: ClassId,
        /// Which data was searched.
        what: String,
    },
    /// Classes with fewer than two images cannot supply an anchor with a positive.
    #[error(
        "classes {0:?} have fewer than two images, so they cannot supply an anchor with a \
         positive; drop them from --classes or add images"
    )]
    NoPositive(Vec<ClassId>),
    /// A P x K batch shape the data cannot fill.
    #[error(
        "a batch of {p} classes x {k} images needs P >= 2, K >= 2 and P <= the {classes} classes \
         available (--classes-per-batch, --images-per-class)"
    )]
    BadBatchShape {
        /// Classes per batch.
        p: usize,
        /// Images per class.
        k: usize,
        /// Classes available.
        classes: usize,
    },
    /// Class groups for a P x K sampler that do not match its classes.
    #[error("{groups} class groups given for {classes} classes")]
    GroupCount {
        /// Groups given.
        groups: usize,
        /// Classes of the sampler.
        classes: usize,
    },
    /// After the 80/20 split a side has fewer than two images per class, so no pair exists.
    #[error(
        "only {per_class} images per class are available (the smallest class, {class}, limits it); \
         the 80/20 split needs at least 10 so that both sides hold two images per class"
    )]
    TooFewImages {
        /// Images per class available.
        per_class: usize,
        /// The limiting class.
        class: ClassId,
    },
}

/// Pairs of example indices with binary labels: 1 = same class, 0 = different.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairSet {
    /// Index of the first image of each pair.
    pub left: Vec<u32>,
    /// Index of the second image of each pair.
    pub right: Vec<u32>,
    /// 1 when both images share a class, 0 otherwise.
    pub labels: Vec<u8>,
}

impl PairSet {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Split into the first `at` pairs and the rest, keeping order (Keras's `validation_split`).
    pub fn split_at(&self, at: usize) -> (PairSet, PairSet) {
        let at = at.min(self.len());
        (
            PairSet {
                left: self.left[..at].to_vec(),
                right: self.right[..at].to_vec(),
                labels: self.labels[..at].to_vec(),
            },
            PairSet {
                left: self.left[at..].to_vec(),
                right: self.right[at..].to_vec(),
                labels: self.labels[at..].to_vec(),
            },
        )
    }

    /// Number of "same" pairs.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&l| l == 1).count()
    }
}

/// The chapter's per-class index lists: training part and test part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapterSplit {
    /// The classes, in the order used for pair creation.
    pub classes: Vec<ClassId>,
    /// Images per class used (`n`, the smallest class count, capped by the limit).
    pub per_class: usize,
    /// Per class, the indices of its first 80%.
    pub train: Vec<Vec<u32>>,
    /// Per class, the indices of its last 20%.
    pub test: Vec<Vec<u32>>,
}

/// Steps 2-3 of the protocol: per class the indices of its images in dataset order, `n` = the
/// smallest class count (capped by `limit`), the first 80% of each class's first `n` indices
/// for training pairs and the rest for test pairs.
pub fn chapter_split(
    labels: &[ClassId],
    classes: &[ClassId],
    limit: Option<usize>,
) -> Result<ChapterSplit, SamplingError> {
    if classes.len() < 2 {
        return Err(SamplingError::TooFewClasses(classes.to_vec()));
    }
    for (i, c) in classes.iter().enumerate() {
        if classes[..i].contains(c) {
            return Err(SamplingError::DuplicateClass(*c));
        }
    }
    let mut per_class_indices: Vec<Vec<u32>> = classes.iter().map(|_| Vec::new()).collect();
    for (index, label) in labels.iter().enumerate() {
        if let Some(slot) = classes.iter().position(|c| c == label) {
            per_class_indices[slot].push(index as u32);
        }
    }
    let (smallest_slot, smallest) = per_class_indices
        .iter()
        .enumerate()
        .map(|(slot, v)| (slot, v.len()))
        .min_by_key(|&(_, len)| len)
        .unwrap_or((0, 0));
    if smallest == 0 {
        return Err(SamplingError::EmptyClass {
            class: classes[smallest_slot],
            what: "the training split".to_string(),
        });
    }
    let n = limit.map_or(smallest, |l| l.min(smallest));
    // Integer form of the chapter's int(n * 0.8).
    let n_train = n * 4 / 5;
    if n_train < 2 || n - n_train < 2 {
        return Err(SamplingError::TooFewImages {
            per_class: n,
            class: classes[smallest_slot],
        });
    }
    let train = per_class_indices
        .iter()
        .map(|v| v[..n_train].to_vec())
        .collect();
    let test = per_class_indices
        .iter()
        .map(|v| v[n_train..n].to_vec())
        .collect();
    Ok(ChapterSplit {
        classes: classes.to_vec(),
        per_class: n,
        train,
        test,
    })
}

/// Step 4 of the protocol. For each class `d` (in order) and each position `i` but the last:
/// the positive pair `(d[i], d[i+1])` labelled 1, then the negative pair `(d[i], o[i])`
/// labelled 0, where `o` is the class at a uniformly drawn offset 1..k-1 from `d` (k classes).
/// Pairs therefore alternate positive/negative and are exactly balanced.
///
/// Every class list must hold the same number of indices (as the chapter's array does).
pub fn create_pairs<R: Rng>(per_class: &[Vec<u32>], rng: &mut R) -> PairSet {
    let k = per_class.len();
    let len = per_class.iter().map(Vec::len).min().unwrap_or(0);
    let count = k * len.saturating_sub(1) * 2;
    let mut pairs = PairSet {
        left: Vec::with_capacity(count),
        right: Vec::with_capacity(count),
        labels: Vec::with_capacity(count),
    };
    if k < 2 {
        return pairs;
    }
    for d in 0..k {
        for i in 0..len.saturating_sub(1) {
            pairs.left.push(per_class[d][i]);
            pairs.right.push(per_class[d][i + 1]);
            pairs.labels.push(1);
            let offset = rng.random_range(1..k);
            let other = (d + offset) % k;
            pairs.left.push(per_class[d][i]);
            pairs.right.push(per_class[other][i]);
            pairs.labels.push(0);
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream_rng};

    fn labels_cycle(n_per_class: usize, classes: ClassId) -> Vec<ClassId> {
        (0..n_per_class * classes as usize)
            .map(|i| (i % classes as usize) as ClassId)
            .collect()
    }

    #[test]
    fn chapter_counts_on_full_size_layout() {
        // 10 classes of 6,000 images, as Fashion-MNIST's training split.
        let labels = labels_cycle(6000, 10);
        let split = chapter_split(&labels, &[0, 1, 2, 4, 5, 9], None).unwrap();
        assert_eq!(split.per_class, 6000);
        assert!(split.train.iter().all(|v| v.len() == 4800));
        assert!(split.test.iter().all(|v| v.len() == 1200));
        let mut rng = stream_rng(0, Stream::Pairs);
        let train = create_pairs(&split.train, &mut rng);
        let test = create_pairs(&split.test, &mut rng);
        // 6 x 4,799 x 2 and 6 x 1,199 x 2 (SPEC.md section 5, step 4).
        assert_eq!(train.len(), 57_588);
        assert_eq!(test.len(), 14_388);
        assert_eq!(train.positives(), 28_794);
        // First 80% of class 0's indices: 0, 10, 20, ...; the test part starts at index 48,000.
        assert_eq!(&split.train[0][..3], &[0, 10, 20]);
        assert_eq!(split.test[0][0], 48_000);
    }

    #[test]
    fn pairs_alternate_and_respect_labels() {
        let labels = labels_cycle(50, 4);
        let split = chapter_split(&labels, &[3, 0, 1], None).unwrap();
        let pairs = create_pairs(&split.train, &mut stream_rng(3, Stream::Pairs));
        assert_eq!(pairs.len(), 3 * 39 * 2);
        for i in 0..pairs.len() {
            let (a, b) = (pairs.left[i] as usize, pairs.right[i] as usize);
            assert_eq!(pairs.labels[i], if i % 2 == 0 { 1 } else { 0 }, "pair {i}");
            if pairs.labels[i] == 1 {
                assert_eq!(labels[a], labels[b], "positive pair {i} mixes classes");
            } else {
                assert_ne!(labels[a], labels[b], "negative pair {i} is same-class");
            }
            // Only the requested classes appear.
            assert!([3, 0, 1].contains(&labels[a]) && [3, 0, 1].contains(&labels[b]));
        }
        // Pairs are grouped by anchor class in the order given.
        assert_eq!(labels[pairs.left[0] as usize], 3);
        assert_eq!(labels[pairs.left[pairs.len() - 1] as usize], 1);
    }

    #[test]
    fn pair_creation_is_deterministic_under_a_seed() {
        let labels = labels_cycle(100, 6);
        let split = chapter_split(&labels, &[0, 1, 2, 3, 4, 5], None).unwrap();
        let a = create_pairs(&split.train, &mut stream_rng(11, Stream::Pairs));
        let b = create_pairs(&split.train, &mut stream_rng(11, Stream::Pairs));
        let c = create_pairs(&split.train, &mut stream_rng(12, Stream::Pairs));
        assert_eq!(a, b);
        assert_ne!(a.right, c.right, "another seed should draw other negatives");
        assert_eq!(
            a.left, c.left,
            "positives and anchors do not depend on the seed"
        );
    }

    #[test]
    fn negatives_cover_every_other_class() {
        let labels = labels_cycle(500, 3);
        let split = chapter_split(&labels, &[0, 1, 2], None).unwrap();
        let pairs = create_pairs(&split.train, &mut stream_rng(5, Stream::Pairs));
        let mut seen = [[0usize; 3]; 3];
        for i in (1..pairs.len()).step_by(2) {
            seen[labels[pairs.left[i] as usize] as usize]
                [labels[pairs.right[i] as usize] as usize] += 1;
        }
        for (a, row) in seen.iter().enumerate() {
            for (b, &count) in row.iter().enumerate() {
                if a != b {
                    // 399 negatives per anchor class, split between two partners: ~200 each.
                    assert!(count > 150, "class {a} -> {b} drawn only {count} times");
                } else {
                    assert_eq!(count, 0);
                }
            }
        }
    }

    #[test]
    fn limit_caps_images_per_class() {
        let labels = labels_cycle(6000, 10);
        let split = chapter_split(&labels, &[0, 1], Some(100)).unwrap();
        assert_eq!(split.per_class, 100);
        assert_eq!(split.train[0].len(), 80);
        assert_eq!(split.test[1].len(), 20);
        assert_eq!(
            create_pairs(&split.train, &mut stream_rng(0, Stream::Pairs)).len(),
            2 * 79 * 2
        );
    }

    #[test]
    fn bad_class_lists_are_refused() {
        let labels = labels_cycle(100, 3);
        assert_eq!(
            chapter_split(&labels, &[1], None),
            Err(SamplingError::TooFewClasses(vec![1]))
        );
        assert_eq!(
            chapter_split(&labels, &[1, 1], None),
            Err(SamplingError::DuplicateClass(1))
        );
        assert!(matches!(
            chapter_split(&labels, &[0, 7], None),
            Err(SamplingError::EmptyClass { class: 7, .. })
        ));
        assert!(matches!(
            chapter_split(&labels, &[0, 1], Some(5)),
            Err(SamplingError::TooFewImages { per_class: 5, .. })
        ));
    }

    #[test]
    fn split_at_keeps_order() {
        let labels = labels_cycle(20, 2);
        let split = chapter_split(&labels, &[0, 1], None).unwrap();
        let pairs = create_pairs(&split.train, &mut stream_rng(0, Stream::Pairs));
        let cut = pairs.len() * 3 / 4;
        let (fit, val) = pairs.split_at(cut);
        assert_eq!(fit.len() + val.len(), pairs.len());
        assert_eq!(val.left[0], pairs.left[cut]);
        assert_eq!(fit.labels[..], pairs.labels[..cut]);
    }
}
