#include "distillery/zoo/vgg.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <string>

#include "layers.h"

namespace distillery {
namespace zoo {

std::vector<std::vector<int64_t>> vgg8_blocks() { return {{64}, {128}, {256}, {512}, {512}}; }

std::vector<std::vector<int64_t>> vgg13_blocks() {
  return {{64, 64}, {128, 128}, {256, 256}, {512, 512}, {512, 512}};
}

VGGImpl::VGGImpl(VGGOptions options_) : options(std::move(options_)) {
  TORCH_CHECK(options.blocks().size() == 5, "VGG needs 5 blocks of convolutions, got ",
              options.blocks().size());
  for (const auto& block : options.blocks()) {
    TORCH_CHECK(!block.empty(), "VGG: every block needs at least one convolution");
    for (const auto c : block) TORCH_CHECK(c > 0, "VGG channel counts must be positive, got ", c);
  }
  TORCH_CHECK(options.input_channels() > 0, "VGG input_channels must be positive, got ",
              options.input_channels());
  TORCH_CHECK(options.num_classes() > 0, "VGG num_classes must be positive, got ",
              options.num_classes());
  reset();
}

void VGGImpl::reset() {
  blocks.clear();
  pools.clear();
  int64_t channels = options.input_channels();
  for (size_t b = 0; b < options.blocks().size(); ++b) {
    torch::nn::Sequential block;
    const auto& widths = options.blocks()[b];
    for (size_t i = 0; i < widths.size(); ++i) {
      block->push_back(torch::nn::Conv2d(
          detail::conv_options(channels, widths[i], 3, 1, 1, /*bias=*/true)));
      if (options.batch_norm()) block->push_back(torch::nn::BatchNorm2d(widths[i]));
      // The block's last ReLU is applied in forward (the reference's features before it).
      if (i + 1 < widths.size()) block->push_back(torch::nn::ReLU());
      channels = widths[i];
    }
    blocks.push_back(register_module("block" + std::to_string(b), block));
  }
  for (int p = 0; p < 4; ++p) {
    pools.push_back(register_module("pool" + std::to_string(p), MaxPool2x2()));
  }
  classifier = register_module("classifier", torch::nn::Linear(channels, options.num_classes()));
  detail::initialise(*this, /*linear_std=*/0.01);
}

torch::Tensor VGGImpl::forward(torch::Tensor x) {
  const auto height = x.size(2);
  for (size_t b = 0; b < blocks.size(); ++b) {
    x = torch::relu(blocks[b]->forward(x));
    if (b < 3 || (b == 3 && height == 64)) x = pools[b]->forward(x);
  }
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // [B, C]
  return classifier(x);
}

}  // namespace zoo
}  // namespace distillery
