#pragma once
/// @file zoo/vgg.h
/// VGG nets with BatchNorm (Simonyan & Zisserman 2015) in the CIFAR form the
/// knowledge-distillation literature benchmarks (RepDistiller / mdistiller "vgg8" and "vgg13":
/// five blocks of 3 x 3 convolutions, 2 x 2 max-pooling after the first three, no fully
/// connected layers but one Linear head after global average pooling). Submodules are named as
/// there (`block0.0`, `block0.1`, `block1.3`, `classifier`), so that their state dicts load
/// with `load_state_dict`.
/// Example: `zoo::VGG net(zoo::VGGOptions().blocks(zoo::vgg13_blocks()).num_classes(100));`

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "distillery/models.h"  // MaxPool2x2

namespace distillery {
namespace zoo {

/// The convolutions of vgg8, block by block: {{64}, {128}, {256}, {512}, {512}}.
std::vector<std::vector<int64_t>> vgg8_blocks();
/// The convolutions of vgg13: {{64, 64}, {128, 128}, {256, 256}, {512, 512}, {512, 512}}.
std::vector<std::vector<int64_t>> vgg13_blocks();

/// Options of a CIFAR VGG.
struct VGGOptions {
  /// Output channels of the 3 x 3 convolutions of each of the 5 blocks (each block at least
  /// one); `vgg8_blocks()` by default.
  TORCH_ARG(std::vector<std::vector<int64_t>>, blocks) = vgg8_blocks();
  /// Whether each convolution is followed by BatchNorm2d (true in the literature's "vgg8" and
  /// "vgg13", the reference's vgg8_bn and vgg13_bn).
  TORCH_ARG(bool, batch_norm) = true;
  /// Channels of the input images (3 for CIFAR, 1 for Fashion-MNIST).
  TORCH_ARG(int64_t, input_channels) = 3;
  /// Number of output classes.
  TORCH_ARG(int64_t, num_classes) = 10;
};

/// A CIFAR VGG: `[B, input_channels, H, W]` float images to `[B, num_classes]` logits. Each
/// block is convolution (with bias), [BatchNorm], ReLU, ..., its last ReLU applied in forward;
/// max-pooling follows blocks 0, 1 and 2 (and block 3 for 64-pixel-high inputs, as the
/// reference); global average pooling follows block 4, so H, W >= 8 of any size work (28 x 28
/// gives 3 x 3 maps before it). Weights initialised as the reference: convolutions
/// normal(0, sqrt(2 / (9 * out))) with bias 0, BatchNorm 1 and 0, the head normal(0, 0.01)
/// with bias 0.
class VGGImpl : public torch::nn::Cloneable<VGGImpl> {
 public:
  /// Throws c10::Error unless there are 5 non-empty blocks of positive channel counts, and the
  /// input channel and class counts are positive.
  explicit VGGImpl(VGGOptions options = {});
  /// (Re)builds the submodules with fresh weights (the constructor and `clone()` call it).
  void reset() override;
  /// `x`: `[B, input_channels, H, W]` float with H, W >= 8; returns `[B, num_classes]` logits.
  /// Throws c10::Error from the pooling on smaller images.
  torch::Tensor forward(torch::Tensor x);

  /// The options it was built with.
  VGGOptions options;
  /// The five blocks `block0` ... `block4`.
  std::vector<torch::nn::Sequential> blocks;
  /// The pooling after blocks 0 to 3 (no parameters).
  std::vector<MaxPool2x2> pools;
  /// Submodules, under the reference's names.
  torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(VGG);

}  // namespace zoo
}  // namespace distillery
