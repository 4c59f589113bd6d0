// Per-batch augmentation (data/augmentation.h) and the trainer's use of it: hand-computed crops,
// flips and erased squares, reproducible draws, and the teacher online seeing the student's view.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "distillery/data/augmentation.h"
#include "distillery/data/dataset.h"
#include "distillery/trainer.h"
#include "pixel_fixture.h"
#include "test_util.h"

namespace dd = distillery::data;

namespace {

// One parameter row: crop offsets, flip, erasing centre.
torch::Tensor row(int64_t top, int64_t left, int64_t flip, int64_t erase_row = -1,
                  int64_t erase_column = -1) {
  return torch::tensor({top, left, flip, erase_row, erase_column}, torch::kInt64).view({1, 5});
}

// [1, 1, 3, 3] uint8 with values 1..9.
torch::Tensor three_by_three() {
  return torch::arange(1, 10, torch::kInt64).to(torch::kUInt8).view({1, 1, 3, 3});
}

std::vector<int64_t> values(const torch::Tensor& t) {
  const auto flat = t.to(torch::kInt64).flatten().contiguous();
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

TEST(Augmentation, CropOffsetsCutThePaddedImageAndFlipMirrors) {
  const auto crop = dd::AugmentationOptions().crop_padding(1);
  // Offset (1, 1) is the image itself; (0, 0) moves it down-right with black (0) fill.
  EXPECT_EQ(values(dd::crop_and_flip(three_by_three(), row(1, 1, 0), crop)),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(values(dd::crop_and_flip(three_by_three(), row(0, 0, 0), crop)),
            (std::vector<int64_t>{0, 0, 0, 0, 1, 2, 0, 4, 5}));
  EXPECT_EQ(values(dd::crop_and_flip(three_by_three(), row(2, 1, 0), crop)),
            (std::vector<int64_t>{4, 5, 6, 7, 8, 9, 0, 0, 0}));
  const auto both = dd::AugmentationOptions().crop_padding(1).horizontal_flip(true);
  EXPECT_EQ(values(dd::crop_and_flip(three_by_three(), row(1, 2, 1), both)),
            (std::vector<int64_t>{0, 3, 2, 0, 6, 5, 0, 9, 8}));
  EXPECT_EQ(dd::crop_and_flip(three_by_three(), row(1, 1, 0), both).scalar_type(), torch::kUInt8);
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] {
              dd::crop_and_flip(three_by_three(), row(3, 1, 0), crop);
            }),
            "crop offsets must be in [0, 2] for crop_padding 1");
}

TEST(Augmentation, ErasingZeroesASquareClippedAtTheBorders) {
  const auto ones = torch::ones({1, 2, 4, 4});
  const auto two = dd::AugmentationOptions().erasing_size(2);
  // Centre (2, 1), side 2: rows [1, 3), columns [0, 2), in both channels.
  const auto erased = dd::erase(ones, row(1, 1, 0, 2, 1), two);
  EXPECT_EQ(values(erased[0][1]),
            (std::vector<int64_t>{1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1}));
  EXPECT_TRUE(torch::equal(erased[0][0], erased[0][1]));
  // Side 3 at the corner (0, 0): rows and columns [-1, 2) clipped to [0, 2).
  EXPECT_EQ(values(dd::erase(ones, row(1, 1, 0, 0, 0), dd::AugmentationOptions().erasing_size(3))[0][0]),
            (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  // No centre, no erasing.
  EXPECT_TRUE(torch::equal(dd::erase(ones, row(1, 1, 0), two), ones));
}

TEST(Augmentation, DrawsAreInRangeAndRepeatPerSeedAndEpoch) {
  const auto options = dd::AugmentationOptions().crop_padding(4).horizontal_flip(true)
                           .erasing_size(8).erasing_probability(0.5);
  auto a = dd::epoch_generator(7, 3), b = dd::epoch_generator(7, 3), c = dd::epoch_generator(7, 4);
  const auto p = dd::sample_augmentation(4000, 32, 32, options, a);
  EXPECT_TRUE(torch::equal(p, dd::sample_augmentation(4000, 32, 32, options, b)));
  EXPECT_FALSE(torch::equal(p, dd::sample_augmentation(4000, 32, 32, options, c)));
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{4000, 5}));
  EXPECT_EQ(p.select(1, 0).min().item<int64_t>(), 0);
  EXPECT_EQ(p.select(1, 0).max().item<int64_t>(), 8);
  EXPECT_EQ(p.select(1, 1).max().item<int64_t>(), 8);
  EXPECT_EQ(p.select(1, 2).max().item<int64_t>(), 1);
  // Erasing with probability 1/2: about half the rows have a centre in the image.
  const auto erased = p.select(1, 3).ge(0);
  EXPECT_NEAR(erased.to(torch::kFloat64).mean().item<double>(), 0.5, 0.04);
  EXPECT_TRUE(torch::equal(erased, p.select(1, 4).ge(0)));
  EXPECT_EQ(p.select(1, 3).max().item<int64_t>(), 31);
  // Off: the identity row.
  auto g = dd::epoch_generator(0, 1);
  EXPECT_TRUE(torch::equal(dd::sample_augmentation(2, 8, 8, dd::AugmentationOptions(), g),
                           torch::cat({row(0, 0, 0), row(0, 0, 0)})));
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] {
              dd::sample_augmentation(2, 8, 8, dd::AugmentationOptions().crop_padding(8), g);
            }),
            "crop_padding must be in [0, image size), got 8 for 8x8 images");
}

using distillery::test::Recorder;
using distillery::test::random_pixels;

TEST(Augmentation, TheTeacherOnlineSeesTheStudentsViewAndRunsRepeat) {
  torch::manual_seed(0);
  const auto set = random_pixels(24);
  const auto trainer = distillery::TrainerOptions().epochs(2).batch_size(8).seed(5).augmentation(
      dd::AugmentationOptions().crop_padding(1).horizontal_flip(true).erasing_size(2));
  const auto options = distillery::DistillOptions().trainer(trainer).phase("student");
  Recorder student, teacher_net, again;
  distillery::Teacher teacher(teacher_net);
  distillery::distill(student, teacher, set, options);
  // One probe each before training, then 3 batches per epoch.
  ASSERT_EQ(student->seen.size(), 1u + 6u);
  ASSERT_EQ(teacher_net->seen.size(), 1u + 6u);
  for (std::size_t i = 1; i < student->seen.size(); ++i) {
    EXPECT_TRUE(torch::equal(student->seen[i], teacher_net->seen[i])) << "batch " << i;
  }
  // Augmented: some inputs differ from the plain normalised rows; erasing makes exact zeros.
  const auto all = torch::cat(std::vector<torch::Tensor>(student->seen.begin() + 1, student->seen.end()));
  EXPECT_GT(all.eq(0).sum().item<int64_t>(), 0);
  // The same seed gives the same views in a second run.
  distillery::train_supervised(again, set, distillery::TrainOptions().trainer(trainer));
  for (std::size_t i = 1; i < again->seen.size(); ++i) {
    EXPECT_TRUE(torch::equal(again->seen[i], student->seen[i])) << "batch " << i;
  }
  EXPECT_EQ(distillery::describe_augmentation(trainer),
            "crop_padding = 1, horizontal_flip, erasing_size = 2");
  EXPECT_EQ(distillery::describe_augmentation(
                distillery::TrainerOptions().jitter_pixels(2).augmentation(
                    dd::AugmentationOptions().erasing_size(8).erasing_probability(0.5))),
            "jitter_pixels = 2, erasing_size = 8 (probability 0.5)");
  EXPECT_EQ(distillery::describe_augmentation(distillery::TrainerOptions()), "");
}

}  // namespace
