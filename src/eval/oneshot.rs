//! One-shot N-way evaluation: a query image and N candidates, one per class, exactly one of the
//! query's class; the model is right when that candidate is the nearest.

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use serde::Serialize;

/// One episode, as indices into an image set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Episode {
    /// The query image.
    pub query: usize,
    /// One image per drawn class, in random order.
    pub candidates: Vec<usize>,
    /// Position in `candidates` of the one of the query's class.
    pub target: usize,
}

/// The outcome of a set of episodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OneShotResult {
    /// Candidates per episode.
    pub ways: usize,
    /// Episodes scored.
    pub episodes: usize,
    /// Episodes whose nearest candidate was the right one.
    pub correct: usize,
    /// `correct / episodes`.
    pub accuracy: f64,
    /// 95% Wilson score interval of the accuracy.
    pub ci95: (f64, f64),
    /// Accuracy of guessing: `1 / ways`.
    pub chance: f64,
}

/// The classes among `0..classes` that `usable` accepts, when `ways` of them (at least 2) can
/// make an episode; otherwise the reason, saying what a usable class needs (`needs`).
fn usable_classes(
    ways: usize,
    classes: usize,
    usable: impl Fn(usize) -> bool,
    needs: &str,
) -> Result<Vec<usize>, String> {
    if ways < 2 {
        return Err(format!("--one-shot must be at least 2 (ways), got {ways}"));
    }
    let found: Vec<usize> = (0..classes).filter(|&c| usable(c)).collect();
    if found.len() < ways {
        return Err(format!(
            "{ways}-way episodes need {ways} classes {needs}, but only {} are available; \
             choose a smaller N or a larger class pool",
            found.len()
        ));
    }
    Ok(found)
}

/// Draw `episodes` N-way episodes from `per_class` (the image indices of each class). Each
/// episode draws `ways` distinct classes, the query's class among those with two images or
/// more, the query and its match as two distinct images of that class, one image of each other
/// class, and shuffles the candidates.
///
/// Refuses, rather than shrinks, an N larger than the classes can supply.
pub fn draw_episodes<R: Rng>(
    per_class: &[Vec<usize>],
    ways: usize,
    episodes: usize,
    rng: &mut R,
) -> Result<Vec<Episode>, String> {
    let usable = usable_classes(
        ways,
        per_class.len(),
        |c| !per_class[c].is_empty(),
        "with images",
    )?;
    if !usable.iter().any(|&c| per_class[c].len() >= 2) {
        return Err("no class has two images, so no query can have a match".into());
    }
    let mut out = Vec::with_capacity(episodes);
    while out.len() < episodes {
        let mut classes = usable.clone();
        let (chosen, _) = classes.partial_shuffle(rng, ways);
        let eligible: Vec<usize> = (0..ways)
            .filter(|&i| per_class[chosen[i]].len() >= 2)
            .collect();
        if eligible.is_empty() {
            // Only singleton classes drawn: no query possible from these; draw again.
            continue;
        }
        let target_slot = eligible[rng.random_range(0..eligible.len())];
        let mut candidates = Vec::with_capacity(ways);
        let mut query = 0;
        for (slot, &class) in chosen.iter().enumerate() {
            let images = &per_class[class];
            if slot == target_slot {
                let mut two = images.clone();
                let (picked, _) = two.partial_shuffle(rng, 2);
                query = picked[0];
                candidates.push(picked[1]);
            } else {
                candidates.push(images[rng.random_range(0..images.len())]);
            }
        }
        // Shuffle the candidates, tracking where the match goes.
        let mut order: Vec<usize> = (0..ways).collect();
        order.shuffle(rng);
        let target = order.iter().position(|&o| o == target_slot).unwrap_or(0);
        let candidates = order.iter().map(|&o| candidates[o]).collect();
        out.push(Episode {
            query,
            candidates,
            target,
        });
    }
    Ok(out)
}

/// [`draw_episodes`] within groups of classes (Omniglot's alphabets): each episode first draws
/// a group, uniformly among those with at least `ways` classes, then draws its classes, query
/// and candidates from that group alone. `groups` lists, per group, positions in `per_class`.
pub fn draw_episodes_grouped<R: Rng>(
    per_class: &[Vec<usize>],
    groups: &[Vec<usize>],
    ways: usize,
    episodes: usize,
    rng: &mut R,
) -> Result<Vec<Episode>, String> {
    let eligible: Vec<&Vec<usize>> = groups
        .iter()
        .filter(|g| g.iter().filter(|&&c| !per_class[c].is_empty()).count() >= ways)
        .collect();
    if eligible.is_empty() {
        let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
        return Err(format!(
            "{ways}-way episodes within a group need a group of {ways} classes; the largest has \
             {largest}"
        ));
    }
    let mut out = Vec::with_capacity(episodes);
    for _ in 0..episodes {
        let group = eligible[rng.random_range(0..eligible.len())];
        let sub: Vec<Vec<usize>> = group.iter().map(|&c| per_class[c].clone()).collect();
        out.extend(draw_episodes(&sub, ways, 1, rng)?);
    }
    Ok(out)
}

/// Cross-modal episodes: the query from `queries` (per class: e.g. recordings), the `ways`
/// candidates from `candidates` (per class: e.g. images), one per drawn class, exactly one of
/// the query's class. Classes take part when they have a query and a candidate.
pub fn draw_cross_episodes<R: Rng>(
    queries: &[Vec<usize>],
    candidates: &[Vec<usize>],
    ways: usize,
    episodes: usize,
    rng: &mut R,
) -> Result<Vec<Episode>, String> {
    let usable = usable_classes(
        ways,
        queries.len().min(candidates.len()),
        |c| !queries[c].is_empty() && !candidates[c].is_empty(),
        "with a query and a candidate",
    )?;
    let mut out = Vec::with_capacity(episodes);
    for _ in 0..episodes {
        let mut classes = usable.clone();
        let (chosen, _) = classes.partial_shuffle(rng, ways);
        let target = rng.random_range(0..ways);
        let pick = |list: &Vec<usize>, rng: &mut R| list[rng.random_range(0..list.len())];
        let query = pick(&queries[chosen[target]], rng);
        let candidates = chosen.iter().map(|&c| pick(&candidates[c], rng)).collect();
        out.push(Episode {
            query,
            candidates,
            target,
        });
    }
    Ok(out)
}

/// Score `episodes` with `distance(a, b)` between two images: the prediction is the nearest
/// candidate, a tie between nearest candidates broken uniformly at random.
pub fn score_episodes<R: Rng>(
    episodes: &[Episode],
    mut distance: impl FnMut(usize, usize) -> f32,
    rng: &mut R,
) -> OneShotResult {
    let ways = episodes.first().map_or(0, |e| e.candidates.len());
    let mut correct = 0;
    for e in episodes {
        let d: Vec<f32> = e.candidates.iter().map(|&c| distance(e.query, c)).collect();
        let best = d.iter().copied().fold(f32::INFINITY, f32::min);
        let nearest: Vec<usize> = (0..d.len()).filter(|&i| d[i] == best).collect();
        let pick = match nearest.len() {
            0 => None,
            1 => Some(nearest[0]),
            n => Some(nearest[rng.random_range(0..n)]),
        };
        if pick == Some(e.target) {
            correct += 1;
        }
    }
    let n = episodes.len();
    OneShotResult {
        ways,
        episodes: n,
        correct,
        accuracy: if n == 0 {
            f64::NAN
        } else {
            correct as f64 / n as f64
        },
        ci95: wilson_interval(correct, n),
        chance: if ways == 0 {
            f64::NAN
        } else {
            1.0 / ways as f64
        },
    }
}

/// 95% Wilson score interval for `successes` out of `trials` (z = 1.959964). `(0, 1)` for no
/// trials.
pub fn wilson_interval(successes: usize, trials: usize) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = trials as f64;
    let p = successes as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn classes() -> Vec<Vec<usize>> {
        // Class c holds images 10c .. 10c + 4.
        (0..5).map(|c| (10 * c..10 * c + 5).collect()).collect()
    }

    #[test]
    fn episodes_are_valid() {
        let per_class = classes();
        let class_of = |i: usize| i / 10;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let episodes = draw_episodes(&per_class, 4, 500, &mut rng).unwrap();
        assert_eq!(episodes.len(), 500);
        let mut target_positions = [0usize; 4];
        for e in &episodes {
            assert_eq!(e.candidates.len(), 4);
            let classes: Vec<usize> = e.candidates.iter().map(|&c| class_of(c)).collect();
            let mut distinct = classes.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 4, "candidate classes repeat: {classes:?}");
            assert_eq!(classes[e.target], class_of(e.query));
            assert_eq!(
                classes.iter().filter(|&&c| c == class_of(e.query)).count(),
                1
            );
            assert_ne!(
                e.candidates[e.target], e.query,
                "the match is the query itself"
            );
            target_positions[e.target] += 1;
        }
        // The right candidate's position is uniform: each of 4 slots about 125 of 500 times.
        assert!(
            target_positions.iter().all(|&n| (90..160).contains(&n)),
            "{target_positions:?}"
        );
    }

    #[test]
    fn grouped_episodes_stay_within_one_group() {
        // Six classes of three images (class c holds images 10c..10c+2) in two groups of
        // three classes, and a third group too small for 3-way episodes.
        let per_class: Vec<Vec<usize>> = (0..7).map(|c| (10 * c..10 * c + 3).collect()).collect();
        let groups = vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]];
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let drawn = draw_episodes_grouped(&per_class, &groups, 3, 300, &mut rng).unwrap();
        let group_of = |image: usize| {
            groups
                .iter()
                .position(|g| g.contains(&(image / 10)))
                .unwrap()
        };
        let mut seen = [0usize; 3];
        for e in &drawn {
            let g = group_of(e.query);
            seen[g] += 1;
            assert!(e.candidates.iter().all(|&c| group_of(c) == g), "{e:?}");
            assert_eq!(e.candidates[e.target] / 10, e.query / 10);
            assert_ne!(e.candidates[e.target], e.query);
        }
        // Both eligible groups are drawn; the one-class group never is.
        assert!(seen[0] > 100 && seen[1] > 100 && seen[2] == 0, "{seen:?}");
        let e = draw_episodes_grouped(&per_class, &groups, 4, 10, &mut rng).unwrap_err();
        assert!(e.contains("largest has 3"), "{e}");
    }

    #[test]
    fn too_many_ways_is_refused_not_shrunk() {
        let err = draw_episodes(&classes(), 6, 10, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
        assert!(
            err.contains("need 6 classes") && err.contains("only 5"),
            "{err}"
        );
        assert!(draw_episodes(&classes(), 1, 10, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
        let singletons = vec![vec![0], vec![1], vec![2]];
        assert!(draw_episodes(&singletons, 2, 10, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
    }

    #[test]
    fn scoring_by_hand_and_ties_at_random() {
        let episodes = vec![
            Episode {
                query: 0,
                candidates: vec![1, 2],
                target: 0,
            },
            Episode {
                query: 0,
                candidates: vec![3, 4],
                target: 1,
            },
        ];
        // Episode 1: d(0,1) = 1 < d(0,2) = 2 -> right. Episode 2: nearest is 3 -> wrong.
        let d = |_: usize, c: usize| c as f32;
        let r = score_episodes(&episodes, d, &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!((r.correct, r.episodes, r.ways), (1, 2, 2));
        assert_eq!(r.accuracy, 0.5);
        assert_eq!(r.chance, 0.5);
        // All candidates tied: the pick is random, so about half of 2000 episodes are right,
        // never all of them (a "first wins" rule would give 100% here).
        let tied: Vec<Episode> = (0..2000)
            .map(|_| Episode {
                query: 0,
                candidates: vec![1, 2],
                target: 0,
            })
            .collect();
        let r = score_episodes(&tied, |_, _| 1.0, &mut ChaCha8Rng::seed_from_u64(1));
        assert!((900..1100).contains(&r.correct), "{}", r.correct);
    }

    #[test]
    fn wilson_by_hand() {
        // p = 0.5, n = 100, z = 1.96: centre 0.5, half-width
        // 1.96 * sqrt(0.0025 + 0.96^2/40000... ) / (1 + 0.0384) = 0.0962; (0.4038, 0.5962).
        let (lo, hi) = wilson_interval(50, 100);
        assert!(
            (lo - 0.4038).abs() < 1e-3 && (hi - 0.5962).abs() < 1e-3,
            "{lo} {hi}"
        );
        // 0 of 10: lower bound 0, upper 0.2775.
        let (lo, hi) = wilson_interval(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3, "{hi}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    fn cross_episodes_take_the_query_from_one_side_and_candidates_from_the_other() {
        // Queries of class c: 100c..100c+2; candidates: 1000 + 10c .. +3; class 3 has no
        // candidate, so it never takes part.
        let queries: Vec<Vec<usize>> = (0..4).map(|c| (100 * c..100 * c + 3).collect()).collect();
        let mut candidates: Vec<Vec<usize>> = (0..4)
            .map(|c| (1000 + 10 * c..1000 + 10 * c + 4).collect())
            .collect();
        candidates[3].clear();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let episodes = draw_cross_episodes(&queries, &candidates, 3, 200, &mut rng).unwrap();
        for e in &episodes {
            let class = e.query / 100;
            assert!(class < 3 && e.query % 100 < 3);
            let classes: Vec<usize> = e.candidates.iter().map(|&c| (c - 1000) / 10).collect();
            assert_eq!(classes[e.target], class);
            let mut sorted = classes.clone();
            sorted.sort();
            assert_eq!(sorted, vec![0, 1, 2], "one candidate per class");
        }
        // Every target position occurs.
        for slot in 0..3 {
            assert!(episodes.iter().any(|e| e.target == slot));
        }
        let err = draw_cross_episodes(&queries, &candidates, 4, 1, &mut rng).unwrap_err();
        assert!(
            err.contains("need 4 classes with a query and a candidate") && err.contains("only 3"),
            "{err}"
        );
        let err = draw_cross_episodes(&queries, &candidates, 1, 1, &mut rng).unwrap_err();
        assert!(err.contains("at least 2"), "{err}");
    }
}
