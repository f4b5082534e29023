//! An LSTM encoder: an image (or a spectrogram) read column by column as a sequence.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig, Lstm, LstmConfig};
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::init::glorot_uniform;

/// Hidden units of [`LstmEncoder`].
pub const LSTM_HIDDEN: usize = 128;

/// One LSTM layer of [`LSTM_HIDDEN`] units over the columns of the input (a spectrogram's
/// frames: each step sees one column, `channels x height` values), its last hidden state, then
/// a dense layer to the embedding with no activation.
///
/// Initialised as Keras initialises an LSTM, except the recurrent kernels: Glorot-uniform
/// input kernels, zero biases but 1 on the forget gate (Keras's `unit_forget_bias`), and
/// Glorot-uniform recurrent kernels where Keras uses orthogonal ones.
#[derive(Module, Debug)]
pub struct LstmEncoder {
    /// The recurrent layer (batch first).
    pub lstm: Lstm,
    /// Last hidden state to embedding.
    pub dense: Linear,
}

impl LstmEncoder {
    /// Build it for `channels x height x width` input (a sequence of `width` steps).
    pub fn init<R: Rng>(
        channels: usize,
        height: usize,
        embedding_dim: usize,
        device: &Device,
        rng: &mut R,
    ) -> Self {
        let d_input = channels * height;
        let mut lstm = LstmConfig::new(d_input, LSTM_HIDDEN, true)
            .with_initializer(Initializer::Zeros)
            .init(device);
        let mut gates = vec![
            &mut lstm.input_gate,
            &mut lstm.output_gate,
            &mut lstm.cell_gate,
        ];
        let mut forget = lstm.forget_gate.take();
        if let Some(f) = forget.as_mut() {
            gates.push(f);
        }
        for gate in gates {
            gate.input_transform.weight = Param::from_tensor(glorot_uniform(
                [d_input, LSTM_HIDDEN],
                d_input,
                LSTM_HIDDEN,
                rng,
                device,
            ));
            gate.hidden_transform.weight = Param::from_tensor(glorot_uniform(
                [LSTM_HIDDEN, LSTM_HIDDEN],
                LSTM_HIDDEN,
                LSTM_HIDDEN,
                rng,
                device,
            ));
        }
        if let Some(f) = forget.as_mut()
            && let Some(bias) = f.input_transform.bias.as_mut()
        {
            *bias = Param::from_tensor(Tensor::ones([LSTM_HIDDEN], device));
        }
        lstm.forget_gate = forget;
        let mut dense = LinearConfig::new(LSTM_HIDDEN, embedding_dim)
            .with_initializer(Initializer::Zeros)
            .init(device);
        dense.weight = Param::from_tensor(glorot_uniform(
            [LSTM_HIDDEN, embedding_dim],
            LSTM_HIDDEN,
            embedding_dim,
            rng,
            device,
        ));
        Self { lstm, dense }
    }

    /// Embeddings `[batch, embedding_dim]` of `[batch, channels, height, width]` input.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, channels, height, width] = images.dims();
        // [b, c, h, w] -> [b, c*h, w] -> [b, w, c*h]: one step per column.
        let steps = images
            .reshape([batch, channels * height, width])
            .swap_dims(1, 2);
        let (_, state) = self.lstm.forward(steps, None);
        self.dense.forward(state.hidden)
    }

    /// The chapter's weight penalty over every kernel (input, recurrent, dense) and bias.
    pub fn penalty(&self, l2: f32, l1: f32) -> Tensor<1> {
        let mut linears: Vec<&Linear> = vec![&self.dense];
        for gate in [
            Some(&self.lstm.input_gate),
            self.lstm.forget_gate.as_ref(),
            Some(&self.lstm.output_gate),
            Some(&self.lstm.cell_gate),
        ]
        .into_iter()
        .flatten()
        {
            linears.push(&gate.input_transform);
            linears.push(&gate.hidden_transform);
        }
        let device = self.dense.weight.device();
        let mut kernels = Tensor::<1>::zeros([1], &device);
        let mut biases = Tensor::<1>::zeros([1], &device);
        for l in linears {
            kernels = kernels + l.weight.val().square().sum();
            if let Some(b) = &l.bias {
                biases = biases + b.val().abs().sum();
            }
        }
        kernels.mul_scalar(l2) + biases.mul_scalar(l1)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor, TensorData};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The encoder reads columns in order (a reversed sequence gives another embedding), its
    /// output has the embedding's shape, and its forget gate starts open (bias 1).
    #[test]
    fn reads_columns_as_steps() {
        let device = Device::flex();
        let enc = LstmEncoder::init(1, 4, 8, &device, &mut ChaCha8Rng::seed_from_u64(3));
        let x = Tensor::<4>::random([2, 1, 4, 5], Distribution::Uniform(0.0, 1.0), &device);
        let e = enc.forward(x.clone());
        assert_eq!(e.dims(), [2, 8]);
        let reversed = x.flip([3]);
        let diff: f32 = (enc.forward(reversed) - e).abs().max().into_scalar();
        assert!(diff > 1e-4, "column order must matter");
        let forget = enc.lstm.forget_gate.as_ref().unwrap();
        let b: Vec<f32> = forget
            .input_transform
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_into_vec()
            .unwrap();
        assert!(b.iter().all(|&v| v == 1.0));
        // A one-column input is one LSTM step; with zero input and zero state every gate's
        // pre-activation is its bias: i = o = sigmoid(0) = 0.5, g = tanh(0) = 0, so c = 0 and
        // h = 0, and the embedding is the dense layer's bias: zero.
        let zero = Tensor::<4>::from_data(TensorData::new(vec![0.0f32; 4], [1, 1, 4, 1]), &device);
        let e: Vec<f32> = enc.forward(zero).into_data().try_into_vec().unwrap();
        assert!(e.iter().all(|&v| v.abs() < 1e-7), "{e:?}");
    }
}
