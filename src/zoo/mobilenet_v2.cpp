#include "distillery/zoo/mobilenet_v2.h"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <array>

#include "layers.h"

namespace distillery {
namespace zoo {
namespace {

using detail::conv_options;

// Convolution, BatchNorm, ReLU (the reference's conv_bn and conv_1x1_bn).
torch::nn::Sequential conv_norm_relu(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Sequential(torch::nn::Conv2d(conv_options(in, out, kernel, stride)),
                               torch::nn::BatchNorm2d(out), torch::nn::ReLU());
}

// The stages of the paper's Table 2: expansion t (0 for "the option"), channels c, repeats n,
// stride s.
struct Stage {
  int64_t expansion, channels, repeats, stride;
};
constexpr std::array<Stage, 7> kStages{{{1, 16, 1, 1},
                                        {0, 24, 2, 1},
                                        {0, 32, 3, 2},
                                        {0, 64, 4, 2},
                                        {0, 96, 3, 1},
                                        {0, 160, 3, 2},
                                        {0, 320, 1, 1}}};

// int(c * width) as the reference computes it (truncation).
int64_t scaled(int64_t channels, double width) {
  return static_cast<int64_t>(static_cast<double>(channels) * width);
}

}  // namespace

InvertedResidualImpl::InvertedResidualImpl(int64_t in_channels, int64_t out_channels,
                                           int64_t stride, int64_t expansion)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride),
      expansion_(expansion) {
  TORCH_CHECK(in_channels > 0 && out_channels > 0,
              "InvertedResidual channel counts must be positive, got ", in_channels, " and ",
              out_channels);
  TORCH_CHECK(expansion > 0, "InvertedResidual expansion must be positive, got ", expansion);
  TORCH_CHECK(stride == 1 || stride == 2, "InvertedResidual stride must be 1 or 2, got ", stride);
  reset();
}

void InvertedResidualImpl::reset() {
  const int64_t hidden = in_channels_ * expansion_;
  conv = register_module(
      "conv", torch::nn::Sequential(
                  torch::nn::Conv2d(conv_options(in_channels_, hidden, 1)),
                  torch::nn::BatchNorm2d(hidden), torch::nn::ReLU(),
                  torch::nn::Conv2d(conv_options(hidden, hidden, 3, stride_, /*groups=*/hidden)),
                  torch::nn::BatchNorm2d(hidden), torch::nn::ReLU(),
                  torch::nn::Conv2d(conv_options(hidden, out_channels_, 1)),
                  torch::nn::BatchNorm2d(out_channels_)));
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  auto out = conv->forward(x);
  if (stride_ == 1 && in_channels_ == out_channels_) out = out + x;
  return out;
}

MobileNetV2Impl::MobileNetV2Impl(MobileNetV2Options options_) : options(std::move(options_)) {
  const double width = options.width();
  TORCH_CHECK(width > 0.0 && width <= 16.0, "MobileNetV2 width must be in (0, 16], got ", width);
  TORCH_CHECK(scaled(16, width) > 0, "MobileNetV2 width ", width,
              " leaves the first stage without channels (int(16 * width) = 0); use >= 0.0625");
  TORCH_CHECK(options.expansion() > 0, "MobileNetV2 expansion must be positive, got ",
              options.expansion());
  TORCH_CHECK(options.input_channels() > 0, "MobileNetV2 input_channels must be positive, got ",
              options.input_channels());
  TORCH_CHECK(options.num_classes() > 0, "MobileNetV2 num_classes must be positive, got ",
              options.num_classes());
  reset();
}

void MobileNetV2Impl::reset() {
  const double width = options.width();
  int64_t channels = scaled(32, width);
  conv1 = register_module("conv1", conv_norm_relu(options.input_channels(), channels, 3, 2));
  torch::nn::ModuleList stages;
  for (const auto& stage : kStages) {
    const int64_t out = scaled(stage.channels, width);
    const int64_t t = stage.expansion > 0 ? stage.expansion : options.expansion();
    torch::nn::Sequential layers;
    for (int64_t i = 0; i < stage.repeats; ++i) {
      layers->push_back(InvertedResidual(channels, out, i == 0 ? stage.stride : 1, t));
      channels = out;
    }
    stages->push_back(layers);
  }
  blocks = register_module("blocks", stages);
  const int64_t last = width > 1.0 ? scaled(1280, width) : 1280;
  conv2 = register_module("conv2", conv_norm_relu(channels, last, 1, 1));
  classifier = register_module(
      "classifier", torch::nn::Sequential(torch::nn::Linear(last, options.num_classes())));
  detail::initialise(*this, /*linear_std=*/0.01);
}

torch::Tensor MobileNetV2Impl::forward(const torch::Tensor& x) {
  auto out = conv1->forward(x);
  for (const auto& stage : *blocks) out = stage->as<torch::nn::SequentialImpl>()->forward(out);
  out = conv2->forward(out);
  out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);  // [B, last]
  return classifier->forward(out);
}

}  // namespace zoo
}  // namespace distillery
