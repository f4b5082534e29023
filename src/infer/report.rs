//! Evaluations of a trained model: pair metrics, threshold calibration, one-shot episodes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::model::{InferError, TrainedModel};
use super::sets::{DataOptions, PairSource, build_pair_set, class_pool, eval_rng};
use crate::eval::plot::{distance_histograms, roc_plot};
use crate::eval::{
    Confusion, Criterion, Metric, OneShotResult, best_threshold, draw_cross_episodes,
    draw_episodes, draw_episodes_grouped, equal_error_rate, roc_auc, roc_curve, score_episodes,
};
use crate::sampling::PairSet;
use crate::train::run_data;

/// How an evaluation runs.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Where its data comes from.
    pub data: DataOptions,
    /// Pairs per batch (training's validation and test use 512).
    pub batch: usize,
    /// Folder for the figures; `None` draws none.
    pub figures: Option<PathBuf>,
}

/// The threshold an evaluation used and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdChoice {
    /// The distance below which a pair is called "same".
    pub value: f32,
    /// Where it came from (the model's metadata says).
    pub source: String,
}

/// Everything measured on one pair set.
#[derive(Debug, Clone, Serialize)]
pub struct PairSetReport {
    /// The pair set.
    pub name: String,
    /// How its pairs were built.
    pub description: String,
    /// Pairs scored.
    pub pairs: usize,
    /// Pairs labelled same.
    pub same: usize,
    /// Pairs labelled different.
    pub different: usize,
    /// The threshold the verdicts used.
    pub threshold: ThresholdChoice,
    /// Counts at the threshold.
    pub confusion: Confusion,
    /// Share of pairs judged right.
    pub accuracy: Metric,
    /// Of the pairs called same, the share that are.
    pub precision: Metric,
    /// Of the same pairs, the share called same.
    pub recall: Metric,
    /// F1 of the "same" class.
    pub f1: Metric,
    /// ROC AUC (smaller distance = more alike; ties count one half).
    pub roc_auc: Metric,
    /// Equal error rate, interpolated on the ROC curve.
    pub equal_error_rate: Metric,
    /// Distance of the ROC point nearest the equal-error crossing.
    pub equal_error_distance: Option<f64>,
    /// Mean distance of the same pairs.
    pub mean_distance_same: Metric,
    /// Mean distance of the different pairs.
    pub mean_distance_different: Metric,
    /// The figures drawn.
    pub figures: Vec<PathBuf>,
    /// Seconds to build the set, score it and draw the figures.
    pub seconds: f64,
}

fn mean_of(distances: &[f32], labels: &[u8], label: u8) -> Metric {
    let values: Vec<f64> = distances
        .iter()
        .zip(labels)
        .filter(|&(_, &y)| y == label)
        .map(|(&d, _)| f64::from(d))
        .collect();
    if values.is_empty() {
        Metric::Undefined {
            undefined: format!("there are no pairs labelled {label}"),
        }
    } else {
        Metric::Value(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// A file-name-safe form of a pair set's name.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.chars().take(60).collect()
}

/// Score `model` on the pair set `source` at the model's threshold.
pub fn evaluate_pairs(
    model: &TrainedModel,
    source: &PairSource,
    opts: &EvalOptions,
) -> Result<PairSetReport, InferError> {
    let started = Instant::now();
    let set = build_pair_set(model, source, &opts.data)?;
    let distances = model.pair_distances(&set.images, &set.pairs, opts.batch)?;
    let labels = &set.pairs.labels;
    let threshold = model.threshold();
    let confusion = Confusion::at(&distances, labels, threshold);
    let (equal_error_rate, equal_error_distance) = match equal_error_rate(&distances, labels) {
        Ok(e) => (Metric::Value(e.rate), Some(e.distance)),
        Err(reason) => (Metric::Undefined { undefined: reason }, None),
    };
    let auc = roc_auc(&distances, labels);
    let mut figures = Vec::new();
    if let Some(dir) = &opts.figures {
        std::fs::create_dir_all(dir).map_err(|e| crate::data::DataError::io(dir, e))?;
        let hist = dir.join(format!("{}-distances.png", slug(&set.name)));
        let title = format!("{}: distances of {} pairs", set.name, set.pairs.len());
        distance_histograms(&hist, &title, &distances, labels, threshold)
            .map_err(InferError::Model)?;
        figures.push(hist);
        if let (Ok(curve), Some(auc)) = (roc_curve(&distances, labels), auc.value()) {
            let roc = dir.join(format!("{}-roc.png", slug(&set.name)));
            roc_plot(&roc, &format!("{}: ROC", set.name), &curve, auc)
                .map_err(InferError::Model)?;
            figures.push(roc);
        }
    }
    let same = set.pairs.positives();
    Ok(PairSetReport {
        name: set.name,
        description: set.description,
        pairs: set.pairs.len(),
        same,
        different: set.pairs.len() - same,
        threshold: ThresholdChoice {
            value: threshold,
            source: model.meta.threshold_source.clone(),
        },
        confusion,
        accuracy: confusion.accuracy(),
        precision: confusion.precision(),
        recall: confusion.recall(),
        f1: confusion.f1(),
        roc_auc: auc,
        equal_error_rate,
        equal_error_distance,
        mean_distance_same: mean_of(&distances, labels, 1),
        mean_distance_different: mean_of(&distances, labels, 0),
        figures,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Fit the threshold that maximises `criterion` on the run's *validation* pairs (never on the
/// pairs an evaluation scores), store it in the model's metadata (`model.json`, rewritten
/// atomically) and return it with the value reached and the number of pairs used.
pub fn calibrate(
    model: &mut TrainedModel,
    criterion: Criterion,
    opts: &EvalOptions,
) -> Result<(f32, f64, usize), InferError> {
    let mut config = model.meta.train.clone();
    config.data_dir = super::sets::evaluation_data_dir(model, &opts.data);
    // The run's own validation pairs: the chapter's for a Siamese run, held-out images for a
    // triplet run.
    let data = run_data(&config, &opts.data.download)?;
    if data.validation.is_empty() {
        return Err(InferError::Invalid(
            "the run held out no validation pairs (validation_split 0), so there is nothing to \
             calibrate on without fitting the threshold on the pairs being scored"
                .into(),
        ));
    }
    let distances = model.pair_distances(&data.images, &data.validation, opts.batch)?;
    let (threshold, value) = best_threshold(&distances, &data.validation.labels, criterion)
        .map_err(|e| {
            InferError::Invalid(format!("cannot calibrate on the validation pairs: {e}"))
        })?;
    let n = data.validation.len();
    model.meta.threshold = threshold;
    model.meta.threshold_source = format!(
        "calibrated: the {criterion}-best cut on the run's {n} validation pairs ({criterion} {value:.4} there)"
    );
    model.save_meta()?;
    Ok((threshold, value, n))
}

/// One-shot figures of a model.
#[derive(Debug, Clone, Serialize)]
pub struct OneShotReport {
    /// The class pool.
    pub pool: String,
    /// Its class names.
    pub classes: Vec<String>,
    /// The outcome.
    pub result: OneShotResult,
    /// Seconds to draw, embed and score.
    pub seconds: f64,
}

/// `ways`-way one-shot accuracy over `episodes` episodes drawn from the class pool `pool`
/// (see [`class_pool`]).
pub fn one_shot(
    model: &TrainedModel,
    pool: &str,
    ways: usize,
    episodes: usize,
    opts: &EvalOptions,
) -> Result<OneShotReport, InferError> {
    let started = Instant::now();
    let pool_data = class_pool(model, pool, &opts.data)?;
    let mut rng = eval_rng(opts.data.seed, 10);
    let drawn = match (&pool_data.groups, &pool_data.candidates) {
        (_, Some(candidates)) => {
            draw_cross_episodes(&pool_data.per_class, candidates, ways, episodes, &mut rng)
        }
        (Some(groups), None) => {
            draw_episodes_grouped(&pool_data.per_class, groups, ways, episodes, &mut rng)
        }
        (None, None) => draw_episodes(&pool_data.per_class, ways, episodes, &mut rng),
    }
    .map_err(|e| InferError::Invalid(format!("one-shot on {}: {e}", pool_data.description)))?;
    let images = &pool_data.images;
    let result = if model.net.is_two_channel() || model.net.is_pseudo() {
        // A 2-channel network scores each (query, candidate) pair as one input; a
        // pseudo-Siamese network needs the query through its left branch and the candidates
        // through its right one, which pair scoring does.
        let mut pairs = PairSet::default();
        for e in &drawn {
            for &c in &e.candidates {
                pairs.left.push(e.query as u32);
                pairs.right.push(c as u32);
                pairs.labels.push(0);
            }
        }
        let d = model.pair_distances(images, &pairs, opts.batch)?;
        let score: HashMap<(usize, usize), f32> = pairs
            .left
            .iter()
            .zip(&pairs.right)
            .zip(&d)
            .map(|((&q, &c), &v)| ((q as usize, c as usize), v))
            .collect();
        score_episodes(
            &drawn,
            |a, b| score[&(a, b)],
            &mut eval_rng(opts.data.seed, 11),
        )
    } else {
        // Embed each image the episodes use once.
        let mut slot: HashMap<usize, usize> = HashMap::new();
        let mut order = Vec::new();
        for e in &drawn {
            for &i in std::iter::once(&e.query).chain(&e.candidates) {
                slot.entry(i).or_insert_with(|| {
                    order.push(i);
                    order.len() - 1
                });
            }
        }
        let mut pixels = Vec::with_capacity(order.len() * images.rows * images.cols);
        for &i in &order {
            pixels.extend_from_slice(images.image(i));
        }
        let embeddings = model.embed(&pixels, order.len(), 1024)?;
        let dim = model.embedding_dim();
        let row = |i: usize| &embeddings[slot[&i] * dim..(slot[&i] + 1) * dim];
        score_episodes(
            &drawn,
            |a, b| model.embedding_distance(row(a), row(b)),
            &mut eval_rng(opts.data.seed, 11),
        )
    };
    Ok(OneShotReport {
        pool: pool_data.description,
        classes: pool_data.class_names,
        result,
        seconds: started.elapsed().as_secs_f64(),
    })
}
