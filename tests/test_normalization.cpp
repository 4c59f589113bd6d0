// uint8 pixels in memory, normalised per batch (data/dataset.h): Normalization, normalize_pixels,
// Dataset::inputs, and the consumers that refuse raw pixels.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/metrics.h"
#include "distillery/soft_targets.h"
#include "test_util.h"

namespace dd = distillery::data;

namespace {

std::string invalid_argument_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<std::invalid_argument>(f);
}

dd::Dataset pixel_set(const dd::Normalization& normalization) {
  dd::Dataset set;
  set.images = torch::arange(0, 2 * 3 * 2 * 2, torch::kInt64).mul(10).to(torch::kUInt8)
                   .view({2, 3, 2, 2});  // pixels 0, 10, ..., 230
  set.labels = torch::tensor({0, 1}, torch::kInt64);
  set.num_classes = 2;
  set.normalization = normalization;
  return set;
}

TEST(Normalization, OneValueIsBitForBitTheInPlaceFloatOperations) {
  const auto pixels = torch::randint(0, 256, {4, 1, 5, 5}, torch::kInt64).to(torch::kUInt8);
  const auto expected = pixels.to(torch::kFloat32).div_(255.0).sub_(0.2860).div_(0.3530);
  EXPECT_TRUE(torch::equal(dd::normalize_pixels(pixels, {0.2860, 0.3530}), expected));
}

TEST(Normalization, PerChannelValuesMatchTheFormula) {
  const dd::Normalization norm({0.5, 0.25, 0.0}, {0.5, 0.125, 1.0});
  const auto set = pixel_set(norm);
  const auto x = set.inputs(set.images);
  ASSERT_EQ(x.scalar_type(), torch::kFloat32);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, 2, 2}));
  // Example 1, channel 2, pixel (1, 1) is number 12 + 8 + 3 = 23, value 230.
  EXPECT_FLOAT_EQ(x[1][2][1][1].item<float>(), (230.0f / 255.0f - 0.0f) / 1.0f);
  // Example 0, channel 1, pixel (0, 1) is number 5, value 50.
  EXPECT_FLOAT_EQ(x[0][1][0][1].item<float>(), (50.0f / 255.0f - 0.25f) / 0.125f);
  // Example 0, channel 0, pixel (0, 0): value 0.
  EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), (0.0f - 0.5f) / 0.5f);
  // means()/stds() spread one value over the channels and keep per-channel ones.
  EXPECT_EQ(dd::Normalization(0.1, 0.2).means(3), (std::vector<double>{0.1, 0.1, 0.1}));
  EXPECT_EQ(norm.stds(3), (std::vector<double>{0.5, 0.125, 1.0}));
}

TEST(Normalization, BadValuesAreRefusedWithTheChannelNamed) {
  EXPECT_EQ(invalid_argument_of([] { dd::Normalization({0.5, 0.5}, {1.0, 1.0}).check(3); }),
            "a normalization of 2 means and 2 standard deviations for 3 channel(s): give one "
            "value of each, or one per channel");
  EXPECT_EQ(invalid_argument_of([] { dd::Normalization({0.5}, {1.0, 1.0, 1.0}).check(3); }),
            "a normalization of 1 means and 3 standard deviations for 3 channel(s): give one "
            "value of each, or one per channel");
  EXPECT_EQ(invalid_argument_of([] { dd::Normalization({0.5, 0.5, 0.5}, {1, 1, 0}).check(3); }),
            "normalization std must be finite and > 0, got 0 (channel 2)");
  EXPECT_EQ(invalid_argument_of([] { dd::Normalization(0.5, -1).check(1); }),
            "normalization std must be finite and > 0, got -1");
  EXPECT_EQ(invalid_argument_of([] {
              dd::Normalization(std::numeric_limits<double>::quiet_NaN(), 1).check(1);
            }),
            "normalization mean must be finite, got nan");
  EXPECT_EQ(invalid_argument_of([] { dd::Normalization().check(1); }),
            "a normalization of 0 means and 0 standard deviations for 1 channel(s): give one "
            "value of each, or one per channel");
  // The loader checks before it reads anything.
  distillery::test::TempDir dir;
  EXPECT_EQ(invalid_argument_of([&] {
              dd::load_mnist_format(dir.path(), dd::Split::kTrain, {0.5, 0.0});
            }),
            "normalization std must be finite and > 0, got 0");
}

TEST(Normalization, InputsOfFloatImagesAreTheImagesAndPixelsWithoutANormalizationAreScaled) {
  dd::Dataset floats;
  floats.images = torch::randn({3, 1, 2, 2});
  const auto rows = floats.images.narrow(0, 1, 2);
  EXPECT_TRUE(floats.inputs(rows).is_same(rows));
  EXPECT_FALSE(floats.holds_pixels());
  auto raw = pixel_set({0.0, 1.0});
  raw.normalization.reset();
  EXPECT_FLOAT_EQ(raw.inputs(0, 1)[0][1][0][1].item<float>(), 50.0f / 255.0f);
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] { raw.inputs(1, 2); }),
            "examples [1, 3) are outside the data set of 2");
  dd::Dataset ints;
  ints.images = torch::zeros({1, 1, 2, 2}, torch::kInt32);
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] { ints.inputs(0, 1); }),
            "data set images must be uint8 pixels or floating-point model inputs, got Int");
}

TEST(Normalization, ConsumersNormaliseEachBatchAndRefuseRawPixelTensors) {
  const auto set = pixel_set(dd::Normalization({0.5, 0.25, 0.0}, {0.5, 0.125, 1.0}));
  // A "model" that returns the mean of each example's inputs for two classes.
  const distillery::LogitsFunction mean_logits = [](const torch::Tensor& x) {
    const auto m = x.flatten(1).mean(1, /*keepdim=*/true);
    return torch::cat({m, -m}, 1);
  };
  const auto logits = distillery::compute_logits(mean_logits, set, /*batch_size=*/1);
  const auto expected = mean_logits(set.inputs(set.images));
  EXPECT_TRUE(torch::allclose(logits, expected));
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] {
              distillery::compute_logits(mean_logits, set.images);
            }),
            "compute_logits got uint8 pixels [2, 3, 2, 2], not model inputs: pass the data set "
            "(compute_logits(model, set)), which normalises each batch, or set.inputs(rows)");
  // Stored soft targets go stale when the normalisation changes, not only the pixels.
  auto other = set;
  other.normalization = dd::Normalization(0.5, 0.5);
  EXPECT_NE(distillery::fingerprint_transfer_set(set), distillery::fingerprint_transfer_set(other));
  EXPECT_EQ(distillery::fingerprint_transfer_set(set),
            distillery::fingerprint_transfer_set(pixel_set(*set.normalization)));
}

}  // namespace
