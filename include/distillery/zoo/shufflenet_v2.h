#pragma once
/// @file zoo/shufflenet_v2.h
/// ShuffleNetV2 (Ma et al. 2018: channel split, depthwise 3 x 3 convolutions, channel shuffle)
/// in the CIFAR form the knowledge-distillation literature benchmarks (RepDistiller /
/// mdistiller "ShuffleV2", net size 1: a 1 x 1 stem of 24 channels without pooling, stages of
/// 116, 232 and 464 channels with 3, 7 and 3 basic blocks after each down-sampling block, a
/// 1 x 1 convolution to 1024, global average pooling). Submodules are named as there (`conv1`,
/// `bn1`, `layer1.0.conv4`, `layer2.3.bn3`, `conv2`, `bn2`, `linear`), so that their state
/// dicts load with `load_state_dict`.
/// Example: `zoo::ShuffleNetV2 net(zoo::ShuffleNetV2Options().num_classes(100));`

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace distillery {
namespace zoo {

/// Options of a CIFAR ShuffleNetV2.
struct ShuffleNetV2Options {
  /// Channels of the three stages and of the last 1 x 1 convolution, 4 positive entries, the
  /// stages' even ({116, 232, 464, 1024} for net size 1; {48, 96, 192, 1024} for 0.5).
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{116, 232, 464, 1024};
  /// Basic blocks after the down-sampling block of each stage, 3 entries >= 0.
  TORCH_ARG(std::vector<int64_t>, blocks) = std::vector<int64_t>{3, 7, 3};
  /// Channels of the input images (3 for CIFAR, 1 for Fashion-MNIST).
  TORCH_ARG(int64_t, input_channels) = 3;
  /// Number of output classes.
  TORCH_ARG(int64_t, num_classes) = 10;
};

/// The basic block: the input's channels are split in halves; the second goes through 1 x 1,
/// BatchNorm, ReLU, depthwise 3 x 3, BatchNorm, 1 x 1, BatchNorm, ReLU; the halves are
/// concatenated (the first unchanged) and shuffled in two groups (`torch::channel_shuffle`:
/// `[B, C, H, W]` viewed as `[B, 2, C / 2, H, W]`, transposed and flattened back).
class ShuffleBlockImpl : public torch::nn::Cloneable<ShuffleBlockImpl> {
 public:
  /// Throws c10::Error unless `channels` is positive and even.
  explicit ShuffleBlockImpl(int64_t channels);
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, channels, H, W]` float; returns the same shape.
  torch::Tensor forward(const torch::Tensor& x);

  /// Submodules, under the reference's names.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};

 private:
  int64_t channels_;
};
TORCH_MODULE(ShuffleBlock);

/// The down-sampling block: two branches with stride 2, each to `out / 2` channels (left:
/// depthwise 3 x 3, BatchNorm, 1 x 1, BatchNorm, ReLU; right: 1 x 1, BatchNorm, ReLU,
/// depthwise 3 x 3, BatchNorm, 1 x 1, BatchNorm, ReLU), concatenated and shuffled.
class ShuffleDownBlockImpl : public torch::nn::Cloneable<ShuffleDownBlockImpl> {
 public:
  /// Throws c10::Error unless `in_channels` is positive and `out_channels` positive and even.
  ShuffleDownBlockImpl(int64_t in_channels, int64_t out_channels);
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, in, H, W]` float; returns `[B, out, ceil(H / 2), ceil(W / 2)]`.
  torch::Tensor forward(const torch::Tensor& x);

  /// Submodules, under the reference's names.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr},
      conv5{nullptr};
  /// Submodules, under the reference's names.
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr}, bn4{nullptr}, bn5{nullptr};

 private:
  int64_t in_channels_, out_channels_;
};
TORCH_MODULE(ShuffleDownBlock);

/// A CIFAR ShuffleNetV2: `[B, input_channels, H, W]` float images to `[B, num_classes]` logits,
/// for any H, W >= 1 (global average pooling; 32 x 32 gives 4 x 4 maps before it). Weights:
/// LibTorch's default initialisation, as the reference.
class ShuffleNetV2Impl : public torch::nn::Cloneable<ShuffleNetV2Impl> {
 public:
  /// Throws c10::Error if `channels` or `blocks` has the wrong length or a bad entry, or the
  /// channel or class count is not positive.
  explicit ShuffleNetV2Impl(ShuffleNetV2Options options = {});
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, input_channels, H, W]` float; returns `[B, num_classes]` logits.
  torch::Tensor forward(const torch::Tensor& x);

  /// The options it was built with.
  ShuffleNetV2Options options;
  /// Submodules, under the reference's names.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  /// The three stages: a ShuffleDownBlock, then ShuffleBlocks.
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr};
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(ShuffleNetV2);

}  // namespace zoo
}  // namespace distillery
