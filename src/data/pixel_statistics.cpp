#include "distillery/data/pixel_statistics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace distillery::data {

Normalization measure_normalization(const torch::Tensor& pixels) {
  TORCH_CHECK(pixels.dim() == 4 && pixels.scalar_type() == torch::kUInt8 && pixels.is_cpu(),
              "measure_normalization needs uint8 CPU pixels [N, C, H, W], got ",
              pixels.scalar_type(), " ", pixels.sizes(), " on ", pixels.device());
  TORCH_CHECK(pixels.numel() > 0, "measure_normalization needs at least one pixel, got ",
              pixels.sizes());
  constexpr int64_t kChunk = 1024;
  const int64_t channels = pixels.size(1);
  // Exact integer sums (255^2 x 2^40 pixels still fit in int64), so that a constant channel
  // is recognised exactly below.
  auto sum = torch::zeros({channels}, torch::kInt64);
  auto sum_of_squares = torch::zeros({channels}, torch::kInt64);
  for (int64_t start = 0; start < pixels.size(0); start += kChunk) {
    const auto chunk = pixels.narrow(0, start, std::min(kChunk, pixels.size(0) - start))
                           .to(torch::kInt64);  // [n, C, H, W]
    sum += chunk.sum({0, 2, 3});
    sum_of_squares += chunk.square().sum({0, 2, 3});
  }
  const int64_t count = pixels.numel() / channels;
  std::vector<double> mean(channels), std(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const auto s1 = sum[c].item<int64_t>();
    const auto s2 = sum_of_squares[c].item<int64_t>();
    // count^2 * variance * 255^2, exactly.
    const __int128 scaled = static_cast<__int128>(count) * s2 - static_cast<__int128>(s1) * s1;
    mean[c] = static_cast<double>(s1) / static_cast<double>(count) / 255.0;
    std[c] = scaled == 0 ? 1.0
                         : std::sqrt(static_cast<double>(scaled)) / static_cast<double>(count) / 255.0;
  }
  return Normalization(mean, std);
}

}  // namespace distillery::data
