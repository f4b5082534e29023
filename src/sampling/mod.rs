//! Samplers: turn labelled examples into the pairs (and later triplets) a model trains on.
//!
//! Samplers own randomness: each takes a generator derived from the run seed
//! ([`crate::rng::stream_rng`]) and nothing else.

mod pairs;
mod triplets;

pub use pairs::{ChapterSplit, PairSet, SamplingError, chapter_split, create_pairs};
pub use triplets::{PkSampler, TripletSet, check_triplet_classes, offline_triplets};
