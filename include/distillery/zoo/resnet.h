#pragma once
/// @file zoo/resnet.h
/// The CIFAR ResNets of He et al. 2016 (§4.2: a 3 x 3 stem, three stages of 6n + 2 layers' basic
/// blocks at 32 x 32, 16 x 16 and 8 x 8, global average pooling, a Linear head) as the
/// knowledge-distillation literature benchmarks them (RepDistiller / mdistiller: resnet8, 20,
/// 32, 56, 110 with filters 16-16-32-64, resnet8x4 and resnet32x4 with 32-64-128-256). The
/// submodules are named as there (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`,
/// `fc`), so that a state dict saved from those definitions loads with `load_state_dict`.
/// Example:
///     zoo::ResNet net(zoo::ResNetOptions().depth(8).filters({32, 64, 128, 256}).num_classes(100));
///     auto logits = net->forward(images);  // [B, 3, 32, 32] -> [B, 100]

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace distillery {
namespace zoo {

/// Options of a CIFAR ResNet.
struct ResNetOptions {
  /// Number of weighted layers, 6n + 2 (8, 20, 32, 56, 110): n basic blocks per stage.
  TORCH_ARG(int64_t, depth) = 20;
  /// Channels of the stem and of the three stages, 4 positive entries ({16, 16, 32, 64}; the
  /// "x4" nets of the literature use {32, 64, 128, 256}).
  TORCH_ARG(std::vector<int64_t>, filters) = std::vector<int64_t>{16, 16, 32, 64};
  /// Channels of the input images (3 for CIFAR, 1 for Fashion-MNIST).
  TORCH_ARG(int64_t, input_channels) = 3;
  /// Number of output classes.
  TORCH_ARG(int64_t, num_classes) = 10;
};

/// A basic residual block: `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, two 3 x 3
/// convolutions without bias; the shortcut is the identity, or a strided 1 x 1 convolution and
/// BatchNorm (`downsample`) where the stride or the channel count changes.
class ResNetBlockImpl : public torch::nn::Cloneable<ResNetBlockImpl> {
 public:
  /// `in_channels` to `out_channels` channels, the first convolution with `stride` (1 or 2).
  /// Throws c10::Error on non-positive channels or a stride other than 1 or 2.
  ResNetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride);
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, in, H, W]` float; returns `[B, out, ceil(H / stride), ceil(W / stride)]`.
  torch::Tensor forward(const torch::Tensor& x);

  /// Submodules, under the reference's names.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  /// Empty (null) when the shortcut is the identity.
  torch::nn::Sequential downsample{nullptr};

 private:
  int64_t in_channels_, out_channels_, stride_;
};
TORCH_MODULE(ResNetBlock);

/// A CIFAR ResNet: `[B, input_channels, H, W]` float images to `[B, num_classes]` logits, for
/// any H, W >= 1 (the global average pooling does not assume 32 x 32; 28 x 28 Fashion-MNIST
/// images give 7 x 7 maps before it). Weights initialised as the reference: convolutions
/// Kaiming-normal (fan out, ReLU gain), BatchNorm 1 and 0, the head LibTorch's default.
class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  /// Throws c10::Error if the depth is not 6n + 2 with n >= 1, `filters` does not have 4
  /// positive entries, or the channel or class count is not positive.
  explicit ResNetImpl(ResNetOptions options = {});
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, input_channels, H, W]` float; returns `[B, num_classes]` logits.
  torch::Tensor forward(torch::Tensor x);

  /// The options it was built with.
  ResNetOptions options;
  /// Submodules, under the reference's names.
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  /// The three stages of n blocks each.
  torch::nn::ModuleList layer1{nullptr}, layer2{nullptr}, layer3{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace zoo
}  // namespace distillery
