#pragma once
/// @file zoo/wide_resnet.h
/// Wide residual networks (Zagoruyko & Komodakis 2016, WRN-d-k: depth d = 6n + 4, widening
/// factor k; pre-activation blocks, a 3 x 3 stem, three groups at 16k, 32k and 64k channels,
/// BatchNorm + ReLU, global average pooling, a Linear head) as the knowledge-distillation
/// literature benchmarks them on CIFAR (RepDistiller / mdistiller: wrn_16_2, wrn_40_1,
/// wrn_40_2). Submodules are named as there (`conv1`, `block1.layer.0.bn1`,
/// `block2.layer.0.convShortcut`, `bn1`, `fc`), so that their state dicts load with
/// `load_state_dict`.
/// Example: `zoo::WideResNet net(zoo::WideResNetOptions().depth(40).widen_factor(2));`

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace distillery {
namespace zoo {

/// Options of a wide residual network WRN-depth-widen_factor.
struct WideResNetOptions {
  /// Number of weighted layers, 6n + 4 (16, 40): n blocks per group.
  TORCH_ARG(int64_t, depth) = 16;
  /// Widening factor k: the groups have 16k, 32k and 64k channels.
  TORCH_ARG(int64_t, widen_factor) = 2;
  /// Dropout probability between the two convolutions of each block, in [0, 1) (0 in the
  /// literature's CIFAR distillation benchmarks).
  TORCH_ARG(double, dropout) = 0.0;
  /// Channels of the input images (3 for CIFAR, 1 for Fashion-MNIST).
  TORCH_ARG(int64_t, input_channels) = 3;
  /// Number of output classes.
  TORCH_ARG(int64_t, num_classes) = 10;
};

/// A pre-activation block: `conv2(dropout(relu(bn2(conv1(relu(bn1(x))))))) + shortcut`, where
/// the shortcut is `x`, or where the channel count changes a strided 1 x 1 convolution
/// (`convShortcut`) of `relu(bn1(x))`.
class WideResNetBlockImpl : public torch::nn::Cloneable<WideResNetBlockImpl> {
 public:
  /// `in_channels` to `out_channels` channels, the first convolution (and the shortcut) with
  /// `stride`; `dropout` in [0, 1). Throws c10::Error on non-positive channels, a stride other
  /// than 1 or 2, a stride of 2 without a change of channels, or dropout outside [0, 1).
  WideResNetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride, double dropout);
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, in, H, W]` float; returns `[B, out, ceil(H / stride), ceil(W / stride)]`.
  torch::Tensor forward(const torch::Tensor& x);

  /// Submodules, under the reference's names.
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  /// Null when the shortcut is the identity (same channels).
  torch::nn::Conv2d shortcut{nullptr};

 private:
  int64_t in_channels_, out_channels_, stride_;
  double dropout_;
};
TORCH_MODULE(WideResNetBlock);

/// A group of blocks at one resolution (the reference's "NetworkBlock"): its blocks are the
/// submodule list `layer`.
class WideResNetGroupImpl : public torch::nn::Cloneable<WideResNetGroupImpl> {
 public:
  /// `blocks` blocks, the first from `in_channels` with `stride`, the rest at `out_channels`.
  /// Throws c10::Error as WideResNetBlockImpl, or if `blocks` < 1.
  WideResNetGroupImpl(int64_t blocks, int64_t in_channels, int64_t out_channels, int64_t stride,
                      double dropout);
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, in, H, W]` float; returns `[B, out, ceil(H / stride), ceil(W / stride)]`.
  torch::Tensor forward(torch::Tensor x);

  /// Submodules, under the reference's names.
  torch::nn::ModuleList layer{nullptr};

 private:
  int64_t blocks_, in_channels_, out_channels_, stride_;
  double dropout_;
};
TORCH_MODULE(WideResNetGroup);

/// A wide residual network: `[B, input_channels, H, W]` float images to `[B, num_classes]`
/// logits, for any H, W >= 1 (global average pooling). Weights initialised as the reference:
/// convolutions normal(0, sqrt(2 / (9 * out_channels))), BatchNorm 1 and 0, the head's bias 0.
class WideResNetImpl : public torch::nn::Cloneable<WideResNetImpl> {
 public:
  /// Throws c10::Error if the depth is not 6n + 4 with n >= 1, or the widening factor, channel
  /// or class count is not positive, or dropout is outside [0, 1).
  explicit WideResNetImpl(WideResNetOptions options = {});
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, input_channels, H, W]` float; returns `[B, num_classes]` logits.
  torch::Tensor forward(const torch::Tensor& x);

  /// The options it was built with.
  WideResNetOptions options;
  /// Submodules, under the reference's names.
  torch::nn::Conv2d conv1{nullptr};
  WideResNetGroup block1{nullptr}, block2{nullptr}, block3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(WideResNet);

}  // namespace zoo
}  // namespace distillery
