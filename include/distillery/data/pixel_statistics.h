#pragma once
/// @file data/pixel_statistics.h
/// The per-channel normalisation of a set of uint8 images, for data sets that come without
/// standard constants (a folder of images, NumPy arrays).

#include <torch/types.h>

#include "distillery/data/dataset.h"

namespace distillery::data {

/// The per-channel mean and standard deviation of `pixels` (`[N, C, H, W]` uint8, CPU) scaled
/// to [0, 1], over all images and positions: `mean[c] = sum x / M`, `std[c] = sqrt(sum x^2 / M
/// - mean[c]^2)` (the population standard deviation; the sums are exact integers accumulated
/// over chunks of images, so no float copy of the whole set is made). A channel whose pixels
/// are all equal (std 0) gets std 1, so that the result always passes `Normalization::check`.
/// Throws c10::Error if `pixels` is not 4-D uint8 on the CPU or holds no image.
/// Example: `set.normalization = measure_normalization(set.images);`.
Normalization measure_normalization(const torch::Tensor& pixels);

}  // namespace distillery::data
