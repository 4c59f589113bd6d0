#include "distillery/zoo/wide_resnet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/pooling.h>

#include "layers.h"

namespace distillery {
namespace zoo {

WideResNetBlockImpl::WideResNetBlockImpl(int64_t in_channels, int64_t out_channels,
                                         int64_t stride, double dropout)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride), dropout_(dropout) {
  TORCH_CHECK(in_channels > 0 && out_channels > 0,
              "WideResNetBlock channel counts must be positive, got ", in_channels, " and ",
              out_channels);
  TORCH_CHECK(stride == 1 || stride == 2, "WideResNetBlock stride must be 1 or 2, got ", stride);
  TORCH_CHECK(stride == 1 || in_channels != out_channels,
              "WideResNetBlock: a stride of 2 needs a change of channels (the identity shortcut "
              "cannot be strided), got ", in_channels, " -> ", out_channels);
  TORCH_CHECK(dropout >= 0.0 && dropout < 1.0, "dropout must be in [0, 1), got ", dropout);
  reset();
}

void WideResNetBlockImpl::reset() {
  using detail::conv_options;
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(in_channels_));
  conv1 = register_module("conv1", torch::nn::Conv2d(conv_options(in_channels_, out_channels_, 3,
                                                                  stride_)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out_channels_));
  conv2 = register_module("conv2", torch::nn::Conv2d(conv_options(out_channels_, out_channels_, 3)));
  shortcut = nullptr;
  if (in_channels_ != out_channels_) {
    // The reference's name, so that its state dicts load.
    shortcut = register_module(
        "convShortcut", torch::nn::Conv2d(conv_options(in_channels_, out_channels_, 1, stride_)));
  }
}

torch::Tensor WideResNetBlockImpl::forward(const torch::Tensor& x) {
  const auto activated = torch::relu(bn1(x));
  auto out = torch::relu(bn2(conv1(activated)));
  if (dropout_ > 0) out = torch::dropout(out, dropout_, is_training());
  out = conv2(out);
  return (shortcut ? shortcut(activated) : x) + out;
}

WideResNetGroupImpl::WideResNetGroupImpl(int64_t blocks, int64_t in_channels,
                                         int64_t out_channels, int64_t stride, double dropout)
    : blocks_(blocks), in_channels_(in_channels), out_channels_(out_channels), stride_(stride),
      dropout_(dropout) {
  TORCH_CHECK(blocks >= 1, "WideResNetGroup needs at least one block, got ", blocks);
  reset();
}

void WideResNetGroupImpl::reset() {
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < blocks_; ++i) {
    list->push_back(WideResNetBlock(i == 0 ? in_channels_ : out_channels_, out_channels_,
                                    i == 0 ? stride_ : 1, dropout_));
  }
  layer = register_module("layer", list);
}

torch::Tensor WideResNetGroupImpl::forward(torch::Tensor x) {
  for (const auto& block : *layer) x = block->as<WideResNetBlockImpl>()->forward(x);
  return x;
}

WideResNetImpl::WideResNetImpl(WideResNetOptions options_) : options(std::move(options_)) {
  const auto depth = options.depth();
  TORCH_CHECK(depth >= 10 && (depth - 4) % 6 == 0,
              "WideResNet depth must be 6n + 4 with n >= 1 (16, 40), got ", depth);
  TORCH_CHECK(options.widen_factor() > 0, "WideResNet widen_factor must be positive, got ",
              options.widen_factor());
  TORCH_CHECK(options.input_channels() > 0, "WideResNet input_channels must be positive, got ",
              options.input_channels());
  TORCH_CHECK(options.num_classes() > 0, "WideResNet num_classes must be positive, got ",
              options.num_classes());
  TORCH_CHECK(options.dropout() >= 0.0 && options.dropout() < 1.0,
              "dropout must be in [0, 1), got ", options.dropout());
  reset();
}

void WideResNetImpl::reset() {
  const int64_t n = (options.depth() - 4) / 6, k = options.widen_factor();
  const double p = options.dropout();
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(detail::conv_options(options.input_channels(), 16, 3)));
  block1 = register_module("block1", WideResNetGroup(n, 16, 16 * k, 1, p));
  block2 = register_module("block2", WideResNetGroup(n, 16 * k, 32 * k, 2, p));
  block3 = register_module("block3", WideResNetGroup(n, 32 * k, 64 * k, 2, p));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(64 * k));
  fc = register_module("fc", torch::nn::Linear(64 * k, options.num_classes()));
  detail::initialise(*this, /*linear_std=*/0.0);
}

torch::Tensor WideResNetImpl::forward(const torch::Tensor& x) {
  auto out = block3(block2(block1(conv1(x))));
  out = torch::relu(bn1(out));
  out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);  // [B, 64k]
  return fc(out);
}

}  // namespace zoo
}  // namespace distillery
