//! RMSprop as Keras defines it: `v = rho * v + (1 - rho) * g^2; w -= lr * g / sqrt(v + eps)`.
//!
//! burn's own `RmsProp` adds epsilon outside the root (PyTorch's form); the chapter's model was
//! trained with the Keras form, so this one implements burn's [`Optimizer`] trait with it and
//! plugs into burn's `ModuleOptimizer` (state saving included).

use burn::optim::{LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Settings of [`KerasRmsProp`] (Keras's defaults: rho 0.9, epsilon 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KerasRmsPropConfig {
    /// Decay of the running mean of squared gradients.
    pub rho: f32,
    /// Added to the running mean inside the square root.
    pub epsilon: f32,
}

impl Default for KerasRmsPropConfig {
    fn default() -> Self {
        Self {
            rho: 0.9,
            epsilon: 1e-7,
        }
    }
}

impl KerasRmsPropConfig {
    /// A module optimiser applying this update to every parameter.
    pub fn init(&self) -> ModuleOptimizer {
        ModuleOptimizer::from(KerasRmsProp { config: *self })
    }
}

/// The Keras RMSprop update (see the module docs).
#[derive(Debug, Clone)]
pub struct KerasRmsProp {
    config: KerasRmsPropConfig,
}

/// Per-parameter state: the running mean of squared gradients.
#[derive(Clone)]
pub struct VelocityState<const D: usize> {
    /// Running mean of the squared gradient.
    pub velocity: Tensor<D>,
}

impl<const D: usize> RecordState for VelocityState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "velocity", self.velocity.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let data = src.take_tensor(prefix, "velocity")?;
        Some(Self {
            velocity: Tensor::from_data(data, device),
        })
    }
}

impl Optimizer for KerasRmsProp {
    type State<const D: usize> = VelocityState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let KerasRmsPropConfig { rho, epsilon } = self.config;
        let fresh = grad.clone().square().mul_scalar(1.0 - rho);
        // Keras starts the velocity at zero, so the first step is (1 - rho) * g^2.
        let velocity = match state {
            Some(state) => state.velocity.mul_scalar(rho) + fresh,
            None => fresh,
        };
        let step = grad
            .div(velocity.clone().add_scalar(epsilon).sqrt())
            .mul_scalar(lr);
        (tensor - step, Some(VelocityState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        VelocityState {
            velocity: state.velocity.to_device(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, Param};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::TensorData;

    /// Two Keras RMSprop steps on a 1x2 linear layer (no bias), checked against this reference,
    /// written out by hand in Python (the same arithmetic as keras.optimizers.RMSprop):
    ///
    /// ```text
    /// w = [0.5, -0.25]; x = [1.0, 2.0]; loss = (x @ w)^2  -> g = 2 (x @ w) x
    /// v = 0
    /// for _ in range(2):
    ///     s = x[0]*w[0] + x[1]*w[1]; g = [2*s*x[0], 2*s*x[1]]
    ///     v = [0.9*v_i + 0.1*g_i**2 for ...]; w = [w_i - 1e-3*g_i/sqrt(v_i + 1e-7) for ...]
    /// ```
    /// Step 1: s = 0, g = 0, v = 0 -> w unchanged. So the test starts from w = [0.5, 0.25]
    /// instead: s = 1.0, g = [2, 4], v = [0.4, 1.6],
    /// w = [0.5 - 1e-3 * 2 / sqrt(0.4000001), 0.25 - 1e-3 * 4 / sqrt(1.6000001)]
    ///   = [0.49683772, 0.24683772];
    /// step 2: s = 0.99051317, g = [1.98102634, 3.96205267], v = [0.75244653, 3.00978614],
    /// w = [0.49683772 - 1e-3 * 1.98102634 / sqrt(0.75244663), 0.24683772 - 1e-3 * 3.96205267 / sqrt(3.00978624)]
    ///   = [0.49455395, 0.24455395] (Python prints 0.49455395255960566, 0.24455395214932502).
    #[test]
    fn matches_the_keras_update_by_hand() {
        let device = Device::flex().autodiff();
        let mut linear: Linear = LinearConfig::new(2, 1).with_bias(false).init(&device);
        linear.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.5f32, 0.25], [2, 1]),
            &device,
        ));
        let mut optim = KerasRmsPropConfig::default().init();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2]), &device);
        let expected = [[0.496_837_7f32, 0.246_837_7], [0.494_553_95, 0.244_553_95]];
        for want in expected {
            let loss = linear.forward(x.clone()).square().sum();
            let grads = GradientsParams::from_grads(loss.backward(), &linear);
            linear = optim.step(1e-3, linear, grads);
            let w: Vec<f32> = linear.weight.val().into_data().try_into_vec().unwrap();
            for (got, want) in w.iter().zip(want) {
                assert!((got - want).abs() < 1e-6, "got {w:?}, want {want:?}");
            }
        }
        assert_eq!(linear.num_params(), 2);
    }
}
