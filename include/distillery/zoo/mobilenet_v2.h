#pragma once
/// @file zoo/mobilenet_v2.h
/// MobileNetV2 (Sandler et al. 2018: inverted residual blocks with linear bottlenecks and
/// depthwise 3 x 3 convolutions, a width multiplier) in the CIFAR form the
/// knowledge-distillation literature benchmarks (RepDistiller / mdistiller "MobileNetV2":
/// width 0.5, expansion 6, a stride-2 stem, 1280 final channels, global average pooling).
/// Submodules are named as there (`conv1.0`, `blocks.1.0.conv.3`, `conv2.1`, `classifier.0`),
/// so that their state dicts load with `load_state_dict`.
/// Example: `zoo::MobileNetV2 net(zoo::MobileNetV2Options().width(0.5).num_classes(100));`

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace distillery {
namespace zoo {

/// Options of a CIFAR MobileNetV2.
struct MobileNetV2Options {
  /// Width multiplier: each layer has `int(c * width)` of the c channels of the full net (the
  /// stem 32, the stages 16, 24, 32, 64, 96, 160, 320); the last 1 x 1 convolution keeps 1280
  /// channels up to width 1 and has `int(1280 * width)` above. In (0, 16]; 0.5 in the literature.
  TORCH_ARG(double, width) = 0.5;
  /// Expansion ratio t of the inverted residual blocks after the first stage (whose t is 1).
  TORCH_ARG(int64_t, expansion) = 6;
  /// Channels of the input images (3 for CIFAR, 1 for Fashion-MNIST).
  TORCH_ARG(int64_t, input_channels) = 3;
  /// Number of output classes.
  TORCH_ARG(int64_t, num_classes) = 10;
};

/// An inverted residual block: 1 x 1 expansion to `in * expansion` channels, BatchNorm, ReLU;
/// depthwise 3 x 3 with `stride`, BatchNorm, ReLU; 1 x 1 projection to `out`, BatchNorm (the
/// Sequential `conv`); plus `x` when the stride is 1 and `in == out`.
class InvertedResidualImpl : public torch::nn::Cloneable<InvertedResidualImpl> {
 public:
  /// Throws c10::Error on non-positive channels or expansion, or a stride other than 1 or 2.
  InvertedResidualImpl(int64_t in_channels, int64_t out_channels, int64_t stride,
                       int64_t expansion);
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, in, H, W]` float; returns `[B, out, ceil(H / stride), ceil(W / stride)]`.
  torch::Tensor forward(const torch::Tensor& x);

  /// Submodules, under the reference's names.
  torch::nn::Sequential conv{nullptr};

 private:
  int64_t in_channels_, out_channels_, stride_, expansion_;
};
TORCH_MODULE(InvertedResidual);

/// A CIFAR MobileNetV2: `[B, input_channels, H, W]` float images to `[B, num_classes]` logits,
/// for any H, W >= 1 (32 x 32 gives 2 x 2 maps before the global average pooling, 28 x 28
/// too). Weights initialised as the reference: convolutions normal(0, sqrt(2 / (k * k * out))),
/// BatchNorm 1 and 0, the head normal(0, 0.01) with bias 0.
class MobileNetV2Impl : public torch::nn::Cloneable<MobileNetV2Impl> {
 public:
  /// Throws c10::Error if the width is outside (0, 16] or leaves a layer without channels, or
  /// the expansion, channel or class count is not positive.
  explicit MobileNetV2Impl(MobileNetV2Options options = {});
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, input_channels, H, W]` float; returns `[B, num_classes]` logits.
  torch::Tensor forward(const torch::Tensor& x);

  /// The options it was built with.
  MobileNetV2Options options;
  /// Stem: 3 x 3 convolution with stride 2, BatchNorm, ReLU.
  torch::nn::Sequential conv1{nullptr};
  /// Seven stages (Sequentials of InvertedResidual).
  torch::nn::ModuleList blocks{nullptr};
  /// 1 x 1 convolution to the last channels, BatchNorm, ReLU.
  torch::nn::Sequential conv2{nullptr};
  /// The Linear head (one layer).
  torch::nn::Sequential classifier{nullptr};
};
TORCH_MODULE(MobileNetV2);

}  // namespace zoo
}  // namespace distillery
