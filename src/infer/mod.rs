//! Using a trained model: loading a run folder, embedding images, distances of pairs, and the
//! evaluations built on them.

mod embed;
mod model;
mod report;
mod sets;

pub use embed::{
    EmbedFormat, EmbedInputs, Embedded, embed_sources, encode_embeddings, gather_inputs,
    gather_recordings, is_wav, recording_image, recording_image_from_bytes, rows_file,
};
pub use model::{InferError, TrainedModel, pair_distances};
pub use report::{
    EvalOptions, OneShotReport, PairSetReport, ThresholdChoice, calibrate, evaluate_pairs, one_shot,
};
pub use sets::{ClassPool, DataOptions, PairSetData, PairSource, build_pair_set, class_pool};
