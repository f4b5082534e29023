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

impl KerasRmsProp {
    /// The update of [`Optimizer::step`] in one pass over the weights, gradients and velocities,
    /// in place and on rayon's pool, for CPU tensors. It performs exactly the float operations
    /// of the tensor form, in the same order, so the results are identical bit for bit; it
    /// only saves the eight intermediate tensors that form allocates and walks.
    fn step_fused<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<VelocityState<D>>,
    ) -> (Tensor<D>, Option<VelocityState<D>>) {
        use rayon::prelude::*;
        let KerasRmsPropConfig { rho, epsilon } = self.config;
        let (device, shape) = (tensor.device(), tensor.shape());
        let values = |t: Tensor<D>| -> Vec<f32> {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("converted to f32 just before")
        };
        let mut w = values(tensor);
        let g = values(grad);
        // Keras starts the velocity at zero: rho * 0 + fresh is fresh exactly.
        let mut v = match state {
            Some(state) => values(state.velocity),
            None => vec![0.0f32; w.len()],
        };
        let (decay, lr) = (1.0 - rho, lr as f32);
        const CHUNK: usize = 1 << 14;
        w.par_chunks_mut(CHUNK)
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|((w, v), g)| {
                for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                    *v = *v * rho + g * g * decay;
                    *w -= g / (*v + epsilon).sqrt() * lr;
                }
            });
        let tensor = |values: Vec<f32>| {
            Tensor::from_data(
                burn::tensor::TensorData::new(values, shape.clone()),
                &device,
            )
        };
        let velocity = tensor(v);
        (tensor(w), Some(VelocityState { velocity }))
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
        if crate::ops::fast_path_available(&tensor.device()) {
            return self.step_fused(lr, tensor, grad, state);
        }
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
    /// The fused CPU update and the tensor form give the same bits, over several steps with
    /// values spread over many magnitudes.
    #[test]
    fn fused_update_equals_the_tensor_form_bit_for_bit() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 40_000;
        let mut draw = |scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| rng.random_range(-1.0f32..1.0) * scale.powi(rng.random_range(-6..3)))
                .collect()
        };
        let opt = KerasRmsProp {
            config: KerasRmsPropConfig::default(),
        };
        let device = Device::flex();
        let t = |v: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [n]), &device);
        let w0 = draw(10.0);
        let (mut wf, mut sf) = (t(&w0), None);
        let (mut wt, mut st): (Tensor<1>, Option<VelocityState<1>>) = (t(&w0), None);
        for _ in 0..3 {
            let g = draw(10.0);
            (wf, sf) = opt.step_fused(1e-3, wf, t(&g), sf);
            // The tensor form, as `step` runs it on a device without the fast path.
            let KerasRmsPropConfig { rho, epsilon } = opt.config;
            let fresh = t(&g).square().mul_scalar(1.0 - rho);
            let velocity = match st {
                Some(s) => s.velocity.mul_scalar(rho) + fresh,
                None => fresh,
            };
            let step = t(&g)
                .div(velocity.clone().add_scalar(epsilon).sqrt())
                .mul_scalar(1e-3);
            wt = wt - step;
            st = Some(VelocityState { velocity });
            let bits = |x: Tensor<1>| -> Vec<u32> {
                let v: Vec<f32> = x.into_data().try_into_vec().unwrap();
                v.iter().map(|f| f.to_bits()).collect()
            };
            assert_eq!(bits(wf.clone()), bits(wt.clone()), "weights differ");
            assert_eq!(
                bits(sf.clone().unwrap().velocity),
                bits(st.clone().unwrap().velocity),
                "velocities differ"
            );
        }
    }

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
