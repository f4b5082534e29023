//! Evaluation: metrics as plain functions of distances and labels (1 = same, 0 = different),
//! one-shot episodes, and the figures of an evaluation.

pub mod metrics;
pub mod oneshot;
pub mod plot;

pub use metrics::{
    Confusion, Criterion, EqualErrorRate, Metric, RocPoint, best_threshold, contrastive_loss_value,
    equal_error_rate, pair_accuracy, roc_auc, roc_curve,
};
pub use oneshot::{
    Episode, OneShotResult, draw_cross_episodes, draw_episodes, draw_episodes_grouped,
    score_episodes, wilson_interval,
};
