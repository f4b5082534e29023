//! Triplet samplers: offline triplets drawn from class lists, and class-balanced P x K batches
//! for online mining.

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

use super::SamplingError;
use crate::data::ClassId;

/// Triplets of example indices: an anchor, a positive of its class (another image) and a
/// negative of another class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TripletSet {
    /// Anchors.
    pub anchor: Vec<u32>,
    /// Positives, each of its anchor's class and a different image.
    pub positive: Vec<u32>,
    /// Negatives, each of another class than its anchor.
    pub negative: Vec<u32>,
}

impl TripletSet {
    /// Number of triplets.
    pub fn len(&self) -> usize {
        self.anchor.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.anchor.is_empty()
    }
}

/// Check that every class of `per_class` can supply an anchor with a positive (two images) and
/// that there are two classes at least; the error names the classes that fall short.
pub fn check_triplet_classes(
    per_class: &[Vec<u32>],
    classes: &[ClassId],
) -> Result<(), SamplingError> {
    if per_class.len() < 2 {
        return Err(SamplingError::TooFewClasses(classes.to_vec()));
    }
    let short: Vec<ClassId> = per_class
        .iter()
        .zip(classes)
        .filter(|(images, _)| images.len() < 2)
        .map(|(_, &c)| c)
        .collect();
    if !short.is_empty() {
        return Err(SamplingError::NoPositive(short));
    }
    Ok(())
}

/// The chapter's offline triplets: for every image of every class (in order) as the anchor, a
/// positive drawn uniformly among the other images of its class and a negative drawn uniformly
/// from a class drawn uniformly among the others. One triplet per image.
pub fn offline_triplets<R: Rng>(
    per_class: &[Vec<u32>],
    classes: &[ClassId],
    rng: &mut R,
) -> Result<TripletSet, SamplingError> {
    check_triplet_classes(per_class, classes)?;
    let k = per_class.len();
    let mut out = TripletSet::default();
    for (c, images) in per_class.iter().enumerate() {
        for (i, &anchor) in images.iter().enumerate() {
            // Another image of the class: an offset 1..len-1 from the anchor's position.
            let j = (i + rng.random_range(1..images.len())) % images.len();
            let other = (c + rng.random_range(1..k)) % k;
            let negatives = &per_class[other];
            out.anchor.push(anchor);
            out.positive.push(images[j]);
            out.negative
                .push(negatives[rng.random_range(0..negatives.len())]);
        }
    }
    Ok(out)
}

/// Class-balanced batches for online mining: each batch holds `p` classes drawn without
/// replacement and `k` images of each, drawn without replacement (with replacement from a
/// class smaller than `k`). Every batch therefore has `k - 1` positives per anchor and
/// `(p - 1) k` negatives, so every anchor is in a valid triplet.
///
/// With groups ([`PkSampler::with_groups`]), a batch's classes come from one group where it can:
/// see [`PkSampler::batch`].
#[derive(Debug, Clone)]
pub struct PkSampler {
    per_class: Vec<Vec<u32>>,
    p: usize,
    k: usize,
    /// Per class slot, its group; empty when batches draw from all classes alike.
    slot_group: Vec<usize>,
    /// Per group, its class slots in order.
    groups: Vec<Vec<usize>>,
}

impl PkSampler {
    /// A sampler over `per_class` (the indices of each class of `classes`).
    pub fn new(
        per_class: Vec<Vec<u32>>,
        classes: &[ClassId],
        p: usize,
        k: usize,
    ) -> Result<Self, SamplingError> {
        check_triplet_classes(&per_class, classes)?;
        if p < 2 || k < 2 || p > per_class.len() {
            return Err(SamplingError::BadBatchShape {
                p,
                k,
                classes: per_class.len(),
            });
        }
        Ok(Self {
            per_class,
            p,
            k,
            slot_group: Vec::new(),
            groups: Vec::new(),
        })
    }

    /// Draw each batch's classes from one group (e.g. one Omniglot alphabet), so that its
    /// negatives are the hard ones a within-group test meets. `slot_group[i]` is the group of
    /// the sampler's `i`-th class; groups are numbered from 0 and may be sparse.
    pub fn with_groups(mut self, slot_group: Vec<usize>) -> Result<Self, SamplingError> {
        if slot_group.len() != self.per_class.len() {
            return Err(SamplingError::GroupCount {
                groups: slot_group.len(),
                classes: self.per_class.len(),
            });
        }
        let count = slot_group.iter().max().map_or(0, |&g| g + 1);
        let mut groups = vec![Vec::new(); count];
        for (slot, &g) in slot_group.iter().enumerate() {
            groups[g].push(slot);
        }
        groups.retain(|g| !g.is_empty());
        // Renumber so that `groups[slot_group[slot]]` holds `slot`.
        let mut renumbered = vec![0; slot_group.len()];
        for (g, slots) in groups.iter().enumerate() {
            for &slot in slots {
                renumbered[slot] = g;
            }
        }
        self.slot_group = renumbered;
        self.groups = groups;
        Ok(self)
    }

    /// Images per batch: `p * k`.
    pub fn batch_size(&self) -> usize {
        self.p * self.k
    }

    /// Batches that make one epoch: enough to draw about every image once.
    pub fn batches_per_epoch(&self) -> usize {
        let images: usize = self.per_class.iter().map(Vec::len).sum();
        images.div_ceil(self.batch_size()).max(1)
    }

    /// One epoch of batches: per batch the image indices and their class positions (0-based
    /// in the class list), classes grouped.
    pub fn epoch<R: Rng>(&self, rng: &mut R) -> Vec<(Vec<u32>, Vec<u32>)> {
        (0..self.batches_per_epoch())
            .map(|_| self.batch(rng))
            .collect()
    }

    /// One batch: image indices and their class positions.
    ///
    /// Without groups its `p` classes are drawn uniformly without replacement. With groups, a
    /// class drawn uniformly picks the group (so a group is chosen in proportion to its
    /// classes); `min(p, group size)` classes are drawn from that group without replacement,
    /// and any places left from the other groups' classes.
    pub fn batch<R: Rng>(&self, rng: &mut R) -> (Vec<u32>, Vec<u32>) {
        let chosen = self.batch_classes(rng);
        let mut images = Vec::with_capacity(self.batch_size());
        let mut labels = Vec::with_capacity(self.batch_size());
        for &c in chosen.iter() {
            let pool = &self.per_class[c];
            if pool.len() >= self.k {
                let mut copy = pool.clone();
                let (picked, _) = copy.partial_shuffle(rng, self.k);
                images.extend_from_slice(picked);
            } else {
                images.extend((0..self.k).map(|_| pool[rng.random_range(0..pool.len())]));
            }
            labels.extend(std::iter::repeat_n(c as u32, self.k));
        }
        (images, labels)
    }

    fn batch_classes<R: Rng>(&self, rng: &mut R) -> Vec<usize> {
        let n = self.per_class.len();
        if self.groups.is_empty() {
            let mut classes: Vec<usize> = (0..n).collect();
            return classes.partial_shuffle(rng, self.p).0.to_vec();
        }
        let group = self.slot_group[rng.random_range(0..n)];
        let mut within = self.groups[group].clone();
        let take = self.p.min(within.len());
        let mut chosen = within.partial_shuffle(rng, take).0.to_vec();
        if take < self.p {
            let mut others: Vec<usize> = (0..n).filter(|&c| self.slot_group[c] != group).collect();
            chosen.extend_from_slice(others.partial_shuffle(rng, self.p - take).0);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn classes_of(per_class: &[Vec<u32>]) -> impl Fn(u32) -> usize + '_ {
        move |i| per_class.iter().position(|c| c.contains(&i)).unwrap()
    }

    #[test]
    fn offline_triplets_are_valid_and_deterministic() {
        let per_class: Vec<Vec<u32>> = (0..4).map(|c| (c * 10..c * 10 + 5).collect()).collect();
        let classes = [0, 1, 2, 3];
        let a = offline_triplets(&per_class, &classes, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        let b = offline_triplets(&per_class, &classes, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 20);
        let class = classes_of(&per_class);
        for i in 0..a.len() {
            assert_ne!(a.anchor[i], a.positive[i], "positive is the anchor itself");
            assert_eq!(class(a.anchor[i]), class(a.positive[i]));
            assert_ne!(class(a.anchor[i]), class(a.negative[i]));
        }
        // Every image is an anchor once, in class order.
        assert_eq!(a.anchor, per_class.concat());
        let c = offline_triplets(&per_class, &classes, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        assert_ne!(a, c, "another seed draws other triplets");
    }

    #[test]
    fn classes_that_cannot_supply_a_positive_are_named() {
        let per_class = vec![vec![1, 2], vec![3], vec![], vec![4, 5]];
        let e = offline_triplets(&per_class, &[0, 7, 8, 9], &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap_err();
        assert_eq!(e, SamplingError::NoPositive(vec![7, 8]));
        assert!(e.to_string().contains("[7, 8]"), "{e}");
        let e = PkSampler::new(vec![vec![1, 2]], &[4], 2, 2).unwrap_err();
        assert_eq!(e, SamplingError::TooFewClasses(vec![4]));
    }

    #[test]
    fn pk_batches_always_hold_valid_triplets() {
        // Classes of 7, 3 (smaller than k: drawn with replacement) and 12 images.
        let per_class = vec![(0..7).collect(), (100..103).collect(), (200..212).collect()];
        let sampler = PkSampler::new(per_class.clone(), &[0, 1, 2], 2, 4).unwrap();
        assert_eq!(sampler.batch_size(), 8);
        assert_eq!(sampler.batches_per_epoch(), 22usize.div_ceil(8));
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let class = classes_of(&per_class);
        for _ in 0..200 {
            let (images, labels) = sampler.batch(&mut rng);
            assert_eq!(images.len(), 8);
            // Two classes, four images each, labels matching the images' classes.
            for (i, l) in images.iter().zip(&labels) {
                assert_eq!(class(*i), *l as usize);
            }
            assert_ne!(labels[0], labels[4]);
            assert!(labels[..4].iter().all(|&l| l == labels[0]));
            // Without replacement where the class is large enough.
            for group in images.chunks(4) {
                if per_class[class(group[0])].len() >= 4 {
                    let mut g = group.to_vec();
                    g.sort();
                    g.dedup();
                    assert_eq!(g.len(), 4, "{group:?}");
                }
            }
            // Every anchor has a positive (another slot of its class) and a negative: valid
            // triplets exist for every anchor.
            let d = vec![1.0f32; 64];
            let mined = crate::loss::triplet::mine(
                &d,
                &labels,
                0.5,
                crate::loss::triplet::Mining::BatchHard,
            );
            assert_eq!(mined.count, 8);
        }
    }

    #[test]
    fn pk_shapes_are_checked() {
        let per_class = vec![vec![1, 2], vec![3, 4]];
        for (p, k) in [(3, 2), (1, 2), (2, 1)] {
            let e = PkSampler::new(per_class.clone(), &[0, 1], p, k).unwrap_err();
            assert!(
                matches!(e, SamplingError::BadBatchShape { .. }),
                "{p} {k}: {e}"
            );
        }
    }

    #[test]
    fn grouped_batches_draw_their_classes_from_one_group() {
        // Six classes of 4 images in groups numbered 5, 5, 5, 9, 9, 2 (sparse on purpose).
        let per_class: Vec<Vec<u32>> = (0..6).map(|c| (c * 10..c * 10 + 4).collect()).collect();
        let groups = vec![5, 5, 5, 9, 9, 2];
        let group_of = |slot: u32| groups[slot as usize];
        let sampler = PkSampler::new(per_class.clone(), &[0, 1, 2, 3, 4, 5], 2, 2)
            .unwrap()
            .with_groups(groups.clone())
            .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut batches_of = std::collections::HashMap::new();
        for _ in 0..600 {
            let (_, labels) = sampler.batch(&mut rng);
            let (a, b) = (labels[0], labels[2]);
            assert_ne!(a, b);
            if group_of(a) == 2 || group_of(b) == 2 {
                // Group 2 has one class: the other place is filled from another group.
                assert_ne!(group_of(a), group_of(b));
            } else {
                assert_eq!(group_of(a), group_of(b), "{labels:?}");
            }
            let key = if group_of(a) == 2 || group_of(b) == 2 {
                2
            } else {
                group_of(a)
            };
            *batches_of.entry(key).or_insert(0usize) += 1;
        }
        // A group is picked in proportion to its classes: 3/6, 2/6 and 1/6 of the batches
        // (groups 5 and 9 fill both places themselves, so group 2 is never a filler here).
        let share = |g| batches_of[&g] as f64 / 600.0;
        assert!((share(5) - 0.5).abs() < 0.06, "{batches_of:?}");
        assert!((share(9) - 1.0 / 3.0).abs() < 0.06, "{batches_of:?}");
        assert!((share(2) - 1.0 / 6.0).abs() < 0.06, "{batches_of:?}");

        // P larger than every group: the whole group, then others.
        let wide = PkSampler::new(per_class.clone(), &[0, 1, 2, 3, 4, 5], 4, 2)
            .unwrap()
            .with_groups(groups.clone())
            .unwrap();
        for _ in 0..100 {
            let (_, labels) = wide.batch(&mut rng);
            let mut classes: Vec<u32> = labels.chunks(2).map(|c| c[0]).collect();
            let first = group_of(classes[0]);
            let members = groups.iter().filter(|&&g| g == first).count();
            assert!(classes[..members].iter().all(|&c| group_of(c) == first));
            assert!(classes[members..].iter().all(|&c| group_of(c) != first));
            classes.sort();
            classes.dedup();
            assert_eq!(classes.len(), 4, "classes drawn without replacement");
        }

        let e = PkSampler::new(per_class, &[0, 1, 2, 3, 4, 5], 2, 2)
            .unwrap()
            .with_groups(vec![0, 1])
            .unwrap_err();
        assert_eq!(e.to_string(), "2 class groups given for 6 classes");
    }
}
