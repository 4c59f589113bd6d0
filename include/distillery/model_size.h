#pragma once
/// @file model_size.h
/// How big a model is (parameter scalars) and what one image costs it (multiply-adds of one
/// forward pass), for any LibTorch module: the zoo's Sequentials and a user's own nested
/// modules alike. Hinton et al. 2015 distil "a cumbersome model" into one that is cheap to
/// deploy; these two numbers say how much cheaper it is.

#include <torch/nn/module.h>

#include <cstdint>

#include "distillery/model.h"

namespace distillery {

/// Shape of one input image, `[channels, height, width]` (1 x 28 x 28 for MNIST).
struct InputShape {
  int64_t channels = 1;  ///< C, colour channels (1 for grey images)
  int64_t height = 28;   ///< H, in pixels
  int64_t width = 28;    ///< W, in pixels
};

/// Number of parameter scalars of `module` and all its submodules, however deeply nested
/// (frozen parameters included; buffers such as BatchNorm's running statistics excluded). A
/// tensor registered under two names (tied weights) counts once.
/// Example: `count_parameters(*torch::nn::Linear(784, 10))` is 784 * 10 + 10 = 7850.
/// Never throws.
int64_t count_parameters(const torch::nn::Module& module);

/// Multiply-adds of one forward pass of `model` for one image of shape `input`.
///
/// The forward is run once on a zero image `[1, C, H, W]` under LibTorch's JIT tracer (in
/// eval mode and without autograd; the module's train/eval mode is restored afterwards), so
/// any module is counted, however its submodules are nested or called: a residual block's
/// skip connection, a layer used twice (counted twice), a forward reached through
/// `logits_from`. The operators of the traced graph are counted from their concrete shapes:
/// - convolutions (Conv1d / 2d / 3d, grouped and depthwise included): output elements x
///   (in_channels / groups) x kernel size, i.e. output numel x prod(weight.sizes()[1:]);
/// - transposed convolutions: input numel x prod(weight.sizes()[1:]);
/// - Linear: output numel x in_features;
/// - matrix products (matmul, mm, bmm, addmm, baddbmm, addbmm, addmv, mv, dot, vdot): output
///   numel x the inner dimension.
///
/// Everything else counts 0: element-wise operators (activations, additions, scaling),
/// BatchNorm (in eval mode an affine map that folds into the preceding convolution), pooling,
/// dropout, reshapes and copies. So a model's count is that of its matrix products, the usual
/// "MACs" of model zoos.
///
/// Example: `count_multiply_adds(make_mlp(MLPOptions().hidden({800}), {}, 10), {})` is
/// 784 * 800 + 800 * 10.
///
/// Throws c10::Error naming the operator, "count_multiply_adds: cannot count the
/// multiply-adds of aten::lstm; ...", for an operator that hides matrix products the count
/// cannot see (recurrent layers, fused attention, einsum, tensordot, bilinear, embedding_bag
/// with per-sample weights, and any other operator whose name speaks of a convolution or a
/// matrix product), rather than counting it as 0; and c10::Error starting "count_multiply_adds:
/// could not trace the model's forward on a [1, C, H, W] image: " when the forward fails on
/// such an image or cannot be traced (e.g. it uses a tensor that requires grad but is neither
/// a parameter nor a buffer of the module).
int64_t count_multiply_adds(const Model& model, InputShape input);

}  // namespace distillery
