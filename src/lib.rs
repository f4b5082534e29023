//! siamese: train, evaluate and serve Siamese and metric-learning networks.
//!
//! The data flows one way: [`data`] loads datasets, [`sampling`] forms pairs, [`model`] holds
//! encoders and heads, [`loss`] scores them, [`train`] runs the experiment and writes the run
//! folder, and [`eval`] turns distances and labels into metrics.
//!
//! Label convention everywhere: 1 = same, 0 = different. Distances are distances (smaller =
//! more alike).

#![warn(missing_docs)]

pub mod backend;
pub mod bench;
pub mod data;
pub mod eval;
pub mod figure;
pub mod index;
pub mod infer;
pub mod io;
pub mod loss;
pub mod model;
pub mod ops;
pub mod optim;
pub mod rng;
pub mod sampling;
pub mod serve;
pub mod train;
