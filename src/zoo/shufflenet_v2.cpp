#include "distillery/zoo/shufflenet_v2.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/types.h>

#include "layers.h"

namespace distillery {
namespace zoo {

using detail::conv_options;

ShuffleBlockImpl::ShuffleBlockImpl(int64_t channels) : channels_(channels) {
  TORCH_CHECK(channels > 0 && channels % 2 == 0,
              "ShuffleBlock channels must be positive and even, got ", channels);
  reset();
}

void ShuffleBlockImpl::reset() {
  const int64_t half = channels_ / 2;
  conv1 = register_module("conv1", torch::nn::Conv2d(conv_options(half, half, 1)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(half));
  conv2 = register_module("conv2", torch::nn::Conv2d(conv_options(half, half, 3, 1, half)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(half));
  conv3 = register_module("conv3", torch::nn::Conv2d(conv_options(half, half, 1)));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(half));
}

torch::Tensor ShuffleBlockImpl::forward(const torch::Tensor& x) {
  const int64_t half = x.size(1) / 2;
  using torch::indexing::Slice;
  const auto kept = x.index({Slice(), Slice(0, half)});
  auto out = torch::relu(bn1(conv1(x.index({Slice(), Slice(half)}))));
  out = bn2(conv2(out));
  out = torch::relu(bn3(conv3(out)));
  return torch::channel_shuffle(torch::cat({kept, out}, 1), 2);
}

ShuffleDownBlockImpl::ShuffleDownBlockImpl(int64_t in_channels, int64_t out_channels)
    : in_channels_(in_channels), out_channels_(out_channels) {
  TORCH_CHECK(in_channels > 0, "ShuffleDownBlock in_channels must be positive, got ", in_channels);
  TORCH_CHECK(out_channels > 0 && out_channels % 2 == 0,
              "ShuffleDownBlock out_channels must be positive and even, got ", out_channels);
  reset();
}

void ShuffleDownBlockImpl::reset() {
  const int64_t in = in_channels_, mid = out_channels_ / 2;
  conv1 = register_module("conv1", torch::nn::Conv2d(conv_options(in, in, 3, 2, in)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(in));
  conv2 = register_module("conv2", torch::nn::Conv2d(conv_options(in, mid, 1)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(mid));
  conv3 = register_module("conv3", torch::nn::Conv2d(conv_options(in, mid, 1)));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(mid));
  conv4 = register_module("conv4", torch::nn::Conv2d(conv_options(mid, mid, 3, 2, mid)));
  bn4 = register_module("bn4", torch::nn::BatchNorm2d(mid));
  conv5 = register_module("conv5", torch::nn::Conv2d(conv_options(mid, mid, 1)));
  bn5 = register_module("bn5", torch::nn::BatchNorm2d(mid));
}

torch::Tensor ShuffleDownBlockImpl::forward(const torch::Tensor& x) {
  auto left = bn1(conv1(x));
  left = torch::relu(bn2(conv2(left)));
  auto right = torch::relu(bn3(conv3(x)));
  right = bn4(conv4(right));
  right = torch::relu(bn5(conv5(right)));
  return torch::channel_shuffle(torch::cat({left, right}, 1), 2);
}

ShuffleNetV2Impl::ShuffleNetV2Impl(ShuffleNetV2Options options_) : options(std::move(options_)) {
  const auto& channels = options.channels();
  TORCH_CHECK(channels.size() == 4, "ShuffleNetV2 channels must have 4 entries (three stages "
              "and the last convolution, e.g. {116, 232, 464, 1024}), got ", channels.size());
  for (size_t i = 0; i < 4; ++i) {
    TORCH_CHECK(channels[i] > 0 && (i == 3 || channels[i] % 2 == 0), "ShuffleNetV2 channels must "
                "be positive (the stages' even), got ", channels[i]);
  }
  TORCH_CHECK(options.blocks().size() == 3, "ShuffleNetV2 blocks must have 3 entries, got ",
              options.blocks().size());
  for (const auto n : options.blocks()) {
    TORCH_CHECK(n >= 0, "ShuffleNetV2 blocks must be >= 0, got ", n);
  }
  TORCH_CHECK(options.input_channels() > 0, "ShuffleNetV2 input_channels must be positive, got ",
              options.input_channels());
  TORCH_CHECK(options.num_classes() > 0, "ShuffleNetV2 num_classes must be positive, got ",
              options.num_classes());
  reset();
}

void ShuffleNetV2Impl::reset() {
  const auto& channels = options.channels();
  conv1 = register_module("conv1",
                          torch::nn::Conv2d(conv_options(options.input_channels(), 24, 1)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(24));
  int64_t in = 24;
  auto stage = [&](size_t i) {
    torch::nn::Sequential layer(ShuffleDownBlock(in, channels[i]));
    for (int64_t b = 0; b < options.blocks()[i]; ++b) layer->push_back(ShuffleBlock(channels[i]));
    in = channels[i];
    return layer;
  };
  layer1 = register_module("layer1", stage(0));
  layer2 = register_module("layer2", stage(1));
  layer3 = register_module("layer3", stage(2));
  conv2 = register_module("conv2", torch::nn::Conv2d(conv_options(in, channels[3], 1)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(channels[3]));
  linear = register_module("linear", torch::nn::Linear(channels[3], options.num_classes()));
}

torch::Tensor ShuffleNetV2Impl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = layer3->forward(layer2->forward(layer1->forward(out)));
  out = torch::relu(bn2(conv2(out)));
  out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);  // [B, last]
  return linear(out);
}

}  // namespace zoo
}  // namespace distillery
