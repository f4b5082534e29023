//! Models: encoders map one input to an embedding; heads say how inputs meet.

mod config;
mod deep;
mod encoder;
mod encoders;
mod init;
mod lstm;
mod siamese;

pub use config::{
    Branch, EncoderKind, InputSpec, ModelConfig, ONE_MINUS_P_SAME, PSEUDO, TWO_CHANNEL,
};
pub use deep::{DeepCnn, Mlp, deep_output_side};
pub use encoder::{ChapterCnn, ChapterCnnConfig};
pub use encoders::Encoder;
pub use init::glorot_uniform;
pub use lstm::{LSTM_HIDDEN, LstmEncoder};
pub use siamese::SiameseNet;
