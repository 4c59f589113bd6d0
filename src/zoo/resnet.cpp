#include "distillery/zoo/resnet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>

#include "layers.h"

namespace distillery {
namespace zoo {

ResNetBlockImpl::ResNetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride) {
  TORCH_CHECK(in_channels > 0 && out_channels > 0,
              "ResNetBlock channel counts must be positive, got ", in_channels, " and ",
              out_channels);
  TORCH_CHECK(stride == 1 || stride == 2, "ResNetBlock stride must be 1 or 2, got ", stride);
  reset();
}

void ResNetBlockImpl::reset() {
  using detail::conv_options;
  conv1 = register_module("conv1", torch::nn::Conv2d(conv_options(in_channels_, out_channels_, 3,
                                                                  stride_)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(out_channels_));
  conv2 = register_module("conv2", torch::nn::Conv2d(conv_options(out_channels_, out_channels_, 3)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out_channels_));
  downsample = nullptr;
  if (stride_ != 1 || in_channels_ != out_channels_) {
    downsample = register_module(
        "downsample",
        torch::nn::Sequential(torch::nn::Conv2d(conv_options(in_channels_, out_channels_, 1, stride_)),
                              torch::nn::BatchNorm2d(out_channels_)));
  }
}

torch::Tensor ResNetBlockImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  out = out + (downsample ? downsample->forward(x) : x);
  return torch::relu(out);
}

ResNetImpl::ResNetImpl(ResNetOptions options_) : options(std::move(options_)) {
  const auto depth = options.depth();
  TORCH_CHECK(depth >= 8 && (depth - 2) % 6 == 0,
              "ResNet depth must be 6n + 2 with n >= 1 (8, 20, 32, 56, 110), got ", depth);
  TORCH_CHECK(options.filters().size() == 4, "ResNet filters must have 4 entries (stem and three "
              "stages, e.g. {16, 16, 32, 64}), got ", options.filters().size());
  for (const auto f : options.filters()) {
    TORCH_CHECK(f > 0, "ResNet filters must be positive, got ", f);
  }
  TORCH_CHECK(options.input_channels() > 0, "ResNet input_channels must be positive, got ",
              options.input_channels());
  TORCH_CHECK(options.num_classes() > 0, "ResNet num_classes must be positive, got ",
              options.num_classes());
  reset();
}

void ResNetImpl::reset() {
  const auto& filters = options.filters();
  const int64_t blocks = (options.depth() - 2) / 6;
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(detail::conv_options(options.input_channels(), filters[0], 3)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(filters[0]));
  int64_t channels = filters[0];
  auto stage = [&](int64_t out, int64_t stride) {
    torch::nn::ModuleList layer;
    for (int64_t i = 0; i < blocks; ++i) {
      layer->push_back(ResNetBlock(channels, out, i == 0 ? stride : 1));
      channels = out;
    }
    return layer;
  };
  layer1 = register_module("layer1", stage(filters[1], 1));
  layer2 = register_module("layer2", stage(filters[2], 2));
  layer3 = register_module("layer3", stage(filters[3], 2));
  fc = register_module("fc", torch::nn::Linear(channels, options.num_classes()));
  detail::initialise(*this, /*linear_std=*/-1.0);
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = torch::relu(bn1(conv1(x)));
  for (const auto& layer : {layer1, layer2, layer3}) {
    for (const auto& block : *layer) x = block->as<ResNetBlockImpl>()->forward(x);
  }
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // [B, C]
  return fc(x);
}

}  // namespace zoo
}  // namespace distillery
