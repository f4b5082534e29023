//! One epoch of training and its validation, for each way of forming batches.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use indicatif::ProgressBar;
use rand::seq::SliceRandom;

use super::batch::{PairBatcher, image_tensor_distorted};
use super::data::{FitPlan, RunData};
use super::{Arch, TrainConfig, TrainError};
use crate::data::ImageSet;
use crate::eval::{Criterion, best_threshold, contrastive_loss_value, pair_accuracy};
use crate::infer::pair_distances;
use crate::loss::triplet::{Mining, mined_triplet_loss, nca_loss, triplet_loss};
use crate::loss::{bce_value, bce_with_logits, contrastive_loss};
use crate::model::SiameseNet;
use crate::rng::{Stream, stream_rng};
use crate::sampling::{PairSet, TripletSet, offline_triplets};

/// What one epoch of fitting measured.
#[derive(Debug, Clone, Default)]
pub(super) struct EpochFit {
    /// Sum over steps of the loss times the step's items.
    pub loss_sum: f64,
    /// Items (pairs, triplets or images) trained on.
    pub items: usize,
    /// Seconds spent in steps (forward, backward, update).
    pub step_seconds: f64,
    /// Online mining: batches without a valid triplet (their loss and gradients are zero).
    pub empty_batches: usize,
    /// Steps taken.
    pub steps: usize,
}

/// Steps an epoch of `plan` takes with batches of `batch_size`.
pub(super) fn steps_per_epoch(plan: &FitPlan, batch_size: usize) -> usize {
    match plan {
        FitPlan::Pairs(pairs) => pairs.len().div_ceil(batch_size),
        FitPlan::Triplets { per_class, .. } => per_class
            .iter()
            .map(Vec::len)
            .sum::<usize>()
            .div_ceil(batch_size),
        FitPlan::Online(sampler) => sampler.batches_per_epoch(),
    }
}

/// The stream the epoch draws its order, triplets or batches from.
fn epoch_rng(config: &TrainConfig, epoch: usize) -> rand_chacha::ChaCha8Rng {
    stream_rng(config.seed, Stream::Shuffle { epoch })
}

/// Train `model` for one epoch (number `epoch`, from 0) of `data`'s plan.
#[allow(clippy::too_many_arguments)]
pub(super) fn fit_epoch(
    mut model: SiameseNet,
    optim: &mut ModuleOptimizer,
    data: &RunData,
    config: &TrainConfig,
    epoch: usize,
    device: &Device,
    bar: &ProgressBar,
) -> Result<(SiameseNet, EpochFit), TrainError> {
    let eps = config.model.distance_epsilon;
    let (l2, l1) = (config.model.kernel_l2, config.model.bias_l1);
    let mut rng = epoch_rng(config, epoch);
    let mut distort_rng = config
        .distort
        .then(|| stream_rng(config.seed, Stream::Distort { epoch }));
    let mut fit = EpochFit::default();
    // One optimisation step on `loss`, with the chapter's weight penalty added.
    let mut step = |model: SiameseNet,
                    loss: Tensor<1>,
                    items: usize,
                    fit: &mut EpochFit,
                    started: Instant|
     -> Result<SiameseNet, TrainError> {
        let loss = loss + model.penalty(l2, l1);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = optim.step(config.learning_rate, model, grads);
        let value: f32 = loss.into_scalar();
        if !value.is_finite() {
            return Err(TrainError::Diverged {
                epoch: epoch + 1,
                step: fit.steps + 1,
                value,
            });
        }
        fit.step_seconds += started.elapsed().as_secs_f64();
        fit.loss_sum += f64::from(value) * items as f64;
        fit.items += items;
        fit.steps += 1;
        bar.inc(1);
        if fit.steps % 8 == 1 {
            bar.set_message(format!("loss {:.4}", fit.loss_sum / fit.items as f64));
        }
        Ok(model)
    };
    match &data.fit {
        FitPlan::Pairs(pairs) => {
            let mut order: Vec<usize> = (0..pairs.len()).collect();
            order.shuffle(&mut rng);
            let mut batcher = PairBatcher::new(&data.images);
            for chunk in order.chunks(config.batch_size) {
                let (x, y) = batcher.batch_distorted(pairs, chunk, distort_rng.as_mut(), device);
                let started = Instant::now();
                let loss = if config.arch == Arch::TwoChannel {
                    bce_with_logits(model.pair_logits(x, chunk.len()), y)
                } else {
                    contrastive_loss(model.pair_distances(x, chunk.len(), eps), y, config.margin)
                };
                model = step(model, loss, chunk.len(), &mut fit, started)?;
            }
        }
        FitPlan::Triplets { per_class, classes } => {
            let triplets = offline_triplets(per_class, classes, &mut rng)?;
            let mut order: Vec<usize> = (0..triplets.len()).collect();
            order.shuffle(&mut rng);
            for chunk in order.chunks(config.batch_size) {
                let n = chunk.len();
                let x =
                    triplet_tensor(&data.images, &triplets, chunk, distort_rng.as_mut(), device);
                let started = Instant::now();
                let e = model.embed(x);
                let loss = triplet_loss(
                    e.clone().narrow(0, 0, n),
                    e.clone().narrow(0, n, n),
                    e.narrow(0, 2 * n, n),
                    config.margin,
                    eps,
                );
                model = step(model, loss, n, &mut fit, started)?;
            }
        }
        FitPlan::Online(sampler) => {
            let mining = config
                .mining
                .ok_or_else(|| TrainError::Config("online batches without --mining".into()))?;
            for (images, labels) in sampler.epoch(&mut rng) {
                let indices: Vec<usize> = images.iter().map(|&i| i as usize).collect();
                let x =
                    image_tensor_distorted(&data.images, &indices, distort_rng.as_mut(), device);
                let started = Instant::now();
                let e = model.embed(x);
                let (loss, count) = if mining == Mining::Nca {
                    nca_loss(e, &labels, config.temperature)
                } else {
                    let (loss, mined) = mined_triplet_loss(e, &labels, config.margin, eps, mining);
                    (loss, mined.count)
                };
                if count == 0 {
                    fit.empty_batches += 1;
                }
                model = step(model, loss, images.len(), &mut fit, started)?;
            }
        }
    }
    Ok((model, fit))
}

/// The `[3n, 1, h, w]` input of the triplets `chunk`: anchors, then positives, then negatives.
fn triplet_tensor(
    images: &ImageSet,
    t: &TripletSet,
    chunk: &[usize],
    distort: Option<&mut rand_chacha::ChaCha8Rng>,
    device: &Device,
) -> Tensor<4> {
    let indices: Vec<usize> = [&t.anchor, &t.positive, &t.negative]
        .iter()
        .flat_map(|side| chunk.iter().map(|&i| side[i] as usize))
        .collect();
    image_tensor_distorted(images, &indices, distort, device)
}

/// Validation figures of one epoch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Validation {
    /// Loss on the validation data, weight penalty included.
    pub loss: f64,
    /// Pair accuracy on the validation pairs: at the configured threshold for the chapter's
    /// Siamese network and the 2-channel network; at the validation-best threshold where
    /// distances have no fixed scale ([`TrainConfig::calibrates_threshold`]).
    pub accuracy: f64,
    /// That threshold.
    pub threshold: f32,
}

/// Distances of `pairs` without autodiff, in batches of 512 pairs as training's figures use.
pub(super) fn distances(
    model: &SiameseNet,
    images: &ImageSet,
    pairs: &PairSet,
    config: &TrainConfig,
    device: &Device,
) -> Vec<f32> {
    pair_distances(
        model,
        images,
        pairs,
        config.model.distance_epsilon,
        512,
        device,
    )
}

/// Score `model` on the validation data; `None` without validation pairs.
pub(super) fn validate(
    model: &SiameseNet,
    data: &RunData,
    config: &TrainConfig,
    device: &Device,
) -> Result<Option<Validation>, TrainError> {
    if data.validation.is_empty() {
        return Ok(None);
    }
    let (l2, l1) = (config.model.kernel_l2, config.model.bias_l1);
    let penalty: f32 = model.valid().penalty(l2, l1).into_scalar();
    let d = distances(model, &data.images, &data.validation, config, device);
    let labels = &data.validation.labels;
    let best = || {
        best_threshold(&d, labels, Criterion::Accuracy)
            .map_err(|e| TrainError::Config(format!("validation pairs: {e}")))
    };
    let validation = match config.arch {
        Arch::Siamese | Arch::Pseudo if config.calibrates_threshold() => {
            let (threshold, accuracy) = best()?;
            Validation {
                loss: contrastive_loss_value(&d, labels, config.margin) + f64::from(penalty),
                accuracy,
                threshold,
            }
        }
        Arch::Siamese | Arch::Pseudo => Validation {
            loss: contrastive_loss_value(&d, labels, config.margin) + f64::from(penalty),
            accuracy: pair_accuracy(&d, labels, config.threshold),
            threshold: config.threshold,
        },
        // `d` is 1 - p(same) here.
        Arch::TwoChannel => Validation {
            loss: bce_value(&d, labels) + f64::from(penalty),
            accuracy: pair_accuracy(&d, labels, config.threshold),
            threshold: config.threshold,
        },
        Arch::Triplet => {
            let (threshold, accuracy) = best()?;
            // NCA has no triplet loss to compare with: its validation loss is left undefined
            // rather than reported as another loss than the one trained.
            let loss = match &data.validation_triplets {
                Some(t) if config.mining != Some(Mining::Nca) => {
                    triplet_loss_value(model, &data.images, t, config, device)
                }
                _ => f64::NAN,
            };
            Validation {
                loss: loss + f64::from(penalty),
                accuracy,
                threshold,
            }
        }
    };
    Ok(Some(validation))
}

/// Mean triplet loss of `triplets` without autodiff.
fn triplet_loss_value(
    model: &SiameseNet,
    images: &ImageSet,
    triplets: &TripletSet,
    config: &TrainConfig,
    device: &Device,
) -> f64 {
    let side = |other: &Vec<u32>| PairSet {
        left: triplets.anchor.clone(),
        right: other.clone(),
        labels: vec![0; triplets.len()],
    };
    let ap = distances(model, images, &side(&triplets.positive), config, device);
    let an = distances(model, images, &side(&triplets.negative), config, device);
    let sum: f64 = ap
        .iter()
        .zip(&an)
        .map(|(&p, &n)| f64::from((p - n + config.margin).max(0.0)))
        .sum();
    sum / triplets.len().max(1) as f64
}
