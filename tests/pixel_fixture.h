#pragma once
// The augmentation tests' data and model: a small set of random uint8 pixels, and a linear model
// that keeps a copy of every batch it sees.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "distillery/data/dataset.h"

namespace distillery::test {

// `n` random 1x4x4 uint8 images, labels alternating 0 and 1, normalised by (0.5, 0.25).
inline data::Dataset random_pixels(int64_t n) {
  data::Dataset set;
  set.images = torch::randint(0, 256, {n, 1, 4, 4}, torch::kInt64).to(torch::kUInt8);
  set.labels = torch::arange(n, torch::kInt64).remainder(2);
  set.num_classes = 2;
  set.normalization = data::Normalization(0.5, 0.25);
  return set;
}

// A linear model from 1x4x4 inputs to two classes that keeps a copy of every batch it sees.
struct RecorderImpl : torch::nn::Module {
  RecorderImpl() : linear(register_module("linear", torch::nn::Linear(16, 2))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    seen.push_back(x.detach().clone());
    return linear(x.flatten(1));
  }
  torch::nn::Linear linear;
  std::vector<torch::Tensor> seen;
};
TORCH_MODULE(Recorder);

}  // namespace distillery::test
