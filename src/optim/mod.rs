//! Optimisers written against burn's `Optimizer` trait.

mod keras_rmsprop;

pub use keras_rmsprop::{KerasRmsProp, KerasRmsPropConfig};
