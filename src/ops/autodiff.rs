//! The extension under burn's autodiff: records each op with a backward step that calls the
//! inner backend's [`SiameseKernels`].

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

use super::{SiameseKernels, SiameseOps};

/// Backward step of the fused convolution.
#[derive(Debug)]
struct ConvReluBackward;

impl<B: SiameseKernels> Backward<B, 3> for ConvReluBackward {
    /// The input and weight (as checkpointed nodes) and the op's output, whose sign gives the
    /// ReLU's gradient.
    type State = (NodeId, NodeId, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, output) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);

        let (dx, dweight, dbias) =
            B::conv2d_nhwc_relu_backward(x, weight, output, grad, node_x.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, dweight);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, dbias);
        }
    }
}

/// Backward step of the fused convolution and max-pool.
#[derive(Debug)]
struct ConvReluPoolBackward;

impl<B: SiameseKernels> Backward<B, 3> for ConvReluPoolBackward {
    /// The input and weight (as checkpointed nodes), the op's output and where each maximum
    /// came from.
    type State = (NodeId, NodeId, FloatTensor<B>, B::PoolIndex);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, output, index) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);

        let (dx, dweight, dbias) = B::conv2d_nhwc_relu_pool2x2_backward(
            x,
            weight,
            (output, index),
            grad,
            node_x.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, dweight);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, dbias);
        }
    }
}

impl<B: SiameseKernels, C: CheckpointStrategy> SiameseOps for Autodiff<B, C> {
    fn conv2d_nhwc_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match ConvReluBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let output = B::conv2d_nhwc_relu(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                );
                prep.finish((x_state, weight_state, output.clone()), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_nhwc_relu(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }

    fn conv2d_nhwc_relu_pool2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match ConvReluPoolBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let (output, index) = B::conv2d_nhwc_relu_pool2x2_indexed(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                );
                prep.finish((x_state, weight_state, output.clone(), index), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_nhwc_relu_pool2x2(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }
}
