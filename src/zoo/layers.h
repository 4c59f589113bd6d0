#pragma once
// Helpers shared by the zoo's sources (private): convolution options and the reference
// definitions' weight initialisations.

#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <cstdint>

namespace distillery {
namespace zoo {
namespace detail {

// A square convolution with "same" padding for odd kernels, without bias unless asked.
inline torch::nn::Conv2dOptions conv_options(int64_t in, int64_t out, int64_t kernel,
                                             int64_t stride = 1, int64_t groups = 1,
                                             bool bias = false) {
  return torch::nn::Conv2dOptions(in, out, kernel)
      .stride(stride)
      .padding(kernel / 2)
      .groups(groups)
      .bias(bias);
}

// Convolutions normal(0, sqrt(2 / (k * k * out_channels))) (Kaiming, fan out, ReLU gain) with
// zero biases; BatchNorm weight 1, bias 0; Linear layers normal(0, linear_std) with zero bias
// when linear_std > 0, zero bias only when linear_std == 0, LibTorch's default when < 0.
inline void initialise(torch::nn::Module& root, double linear_std) {
  torch::NoGradGuard no_grad;
  for (const auto& module : root.modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2dImpl>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* norm = module->as<torch::nn::BatchNorm2dImpl>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    } else if (auto* linear = module->as<torch::nn::LinearImpl>()) {
      if (linear_std > 0) linear->weight.normal_(0.0, linear_std);
      if (linear_std >= 0) linear->bias.zero_();
    }
  }
}

}  // namespace detail
}  // namespace zoo
}  // namespace distillery
