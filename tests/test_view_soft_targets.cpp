// Soft targets that survive augmentation (soft_targets.h): the teacher's logits on K stored
// views of each example, the views' parameters replayed for the student, and the version-2 file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "distillery/data/augmentation.h"
#include "distillery/data/sampler.h"
#include "distillery/soft_targets.h"
#include "distillery/trainer.h"
#include "pixel_fixture.h"
#include "test_util.h"

namespace dd = distillery::data;

namespace {

using distillery::test::Recorder;
using distillery::test::random_pixels;

const auto kAugmentation =
    dd::AugmentationOptions().crop_padding(1).horizontal_flip(true).erasing_size(2);

TEST(ViewSoftTargets, AStoredViewsLogitsAreTheTeachersOnTheReplayedView) {
  torch::manual_seed(0);
  const auto set = random_pixels(10);
  Recorder net;
  distillery::Teacher teacher(net);
  const auto st = distillery::compute_view_soft_targets(teacher, set, 3, kAugmentation, 11, 4);
  ASSERT_EQ(st.member_logits.sizes(), (std::vector<int64_t>{1, 30, 2}));
  ASSERT_EQ(st.view_parameters.sizes(), (std::vector<int64_t>{3, 10, 5}));
  EXPECT_EQ(st.views(), 3);
  EXPECT_EQ(st.size(), 10);
  // The views differ from each other (other crops or flips for most examples).
  EXPECT_FALSE(torch::equal(st.view_parameters[0], st.view_parameters[1]));
  torch::NoGradGuard no_grad;
  for (int64_t k = 0; k < 3; ++k) {
    for (int64_t i = 0; i < 10; ++i) {
      const auto replayed = dd::augmented_inputs(set, set.images.narrow(0, i, 1),
                                                 st.view_parameters[k].narrow(0, i, 1),
                                                 kAugmentation);
      EXPECT_TRUE(torch::allclose(net->forward(replayed)[0], st.member_logits[0][k * 10 + i],
                                  1e-6, 1e-6))
          << "view " << k << " of example " << i;
    }
  }
  // The same seed draws the same views.
  const auto again = distillery::compute_view_soft_targets(teacher, set, 3, kAugmentation, 11, 7);
  EXPECT_TRUE(torch::equal(again.view_parameters, st.view_parameters));
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] {
              distillery::compute_view_soft_targets(teacher, set, 2, dd::AugmentationOptions(), 1);
            }),
            "soft targets of augmented views need an augmentation (crop, flip or erasing); "
            "without one, compute_soft_targets stores the one view");
}

TEST(ViewSoftTargets, TheFileKeepsTheViewsTheirParametersAndTheAugmentation) {
  torch::manual_seed(1);
  const auto set = random_pixels(6);
  Recorder net;
  distillery::Teacher teacher(net);
  const auto augmentation = dd::AugmentationOptions().crop_padding(1).erasing_size(2)
                                .erasing_probability(0.25);
  const auto st = distillery::compute_view_soft_targets(teacher, set, 4, augmentation, 3);
  distillery::test::TempDir dir;
  const auto path = dir.file("views.bin");
  distillery::save_soft_targets(path, st);
  // Header, logits [1, 4 * 6, 2], the 32-byte augmentation record, parameters [4, 6, 5].
  EXPECT_EQ(std::filesystem::file_size(path), 72u + 24u * 2u * 4u + 32u + 4u * 6u * 5u * 8u);
  const auto loaded = distillery::load_soft_targets(path);
  EXPECT_TRUE(torch::equal(loaded.member_logits, st.member_logits));
  EXPECT_TRUE(torch::equal(loaded.view_parameters, st.view_parameters));
  EXPECT_EQ(loaded.views(), 4);
  EXPECT_EQ(loaded.size(), 6);
  EXPECT_EQ(loaded.augmentation.crop_padding(), 1);
  EXPECT_FALSE(loaded.augmentation.horizontal_flip());
  EXPECT_EQ(loaded.augmentation.erasing_size(), 2);
  EXPECT_EQ(loaded.augmentation.erasing_probability(), 0.25);
  EXPECT_EQ(loaded.transfer_fingerprint, distillery::fingerprint_transfer_set(set));
  // A changed view parameter is damage, caught by the payload checksum.
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-3, std::ios::end);
    file.put('\x7f');
  }
  EXPECT_EQ(distillery::test::runtime_error_of([&] { distillery::load_soft_targets(path); }),
            path + ": damaged (payload checksum mismatch)");
}

TEST(ViewSoftTargets, DistillationShowsTheStudentAStoredViewOfEachExample) {
  torch::manual_seed(2);
  const auto set = random_pixels(12);
  Recorder net;
  distillery::Teacher teacher(net);
  const auto st = distillery::compute_view_soft_targets(teacher, set, 2, kAugmentation, 5);
  const auto trainer =
      distillery::TrainerOptions().epochs(2).batch_size(4).seed(9).augmentation(kAugmentation);
  Recorder student;
  distillery::distill(student, st, set, distillery::DistillOptions().trainer(trainer));
  ASSERT_EQ(student->seen.size(), 1u + 6u);  // the probe, then 3 batches per epoch
  // The batches in the sampler's order; each row is one of its example's two stored views.
  dd::BatchSampler order(12, 4, /*shuffle=*/true, 9);
  std::size_t step = 1;
  int64_t shown_second_view = 0;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    order.reset(epoch);
    while (auto indices = order.next()) {
      const auto& batch = student->seen.at(step++);
      for (int64_t j = 0; j < indices->size(0); ++j) {
        const auto i = (*indices)[j].item<int64_t>();
        std::vector<bool> is_view;
        for (int64_t k = 0; k < 2; ++k) {
          const auto view = dd::augmented_inputs(set, set.images.narrow(0, i, 1),
                                                 st.view_parameters[k].narrow(0, i, 1),
                                                 kAugmentation);
          is_view.push_back(torch::equal(batch[j], view[0]));
        }
        EXPECT_TRUE(is_view[0] || is_view[1]) << "example " << i << " in step " << step - 1;
        if (is_view[1] && !is_view[0]) ++shown_second_view;
      }
    }
  }
  EXPECT_GT(shown_second_view, 0);  // the view is drawn, not always the first
}

TEST(ViewSoftTargets, StoredViewsMustMatchTheTrainingsAugmentation) {
  const auto set = random_pixels(8);
  Recorder net, student;
  distillery::Teacher teacher(net);
  const auto st = distillery::compute_view_soft_targets(teacher, set, 2, kAugmentation, 5);
  const auto with = [&](const dd::AugmentationOptions& a, int64_t jitter) {
    return distillery::test::runtime_error_of([&] {
      distillery::distill(student, st, set,
                          distillery::DistillOptions().phase("student").trainer(
                              distillery::TrainerOptions().epochs(1).augmentation(a)
                                  .jitter_pixels(jitter)));
    });
  };
  EXPECT_EQ(with(dd::AugmentationOptions().crop_padding(2), 0),
            "student: the stored views were drawn with crop_padding = 1, horizontal_flip, "
            "erasing_size = 2 but the training asks for crop_padding = 2; compute the views "
            "again with the training's augmentation, or train with theirs");
  EXPECT_EQ(with(dd::AugmentationOptions(), 0),
            "student: the stored views were drawn with crop_padding = 1, horizontal_flip, "
            "erasing_size = 2 but the training asks for no augmentation; compute the views "
            "again with the training's augmentation, or train with theirs");
  EXPECT_EQ(with(kAugmentation, 1),
            "student: the stored views were drawn with crop_padding = 1, horizontal_flip, "
            "erasing_size = 2 but the training asks for jitter_pixels = 1, crop_padding = 1, "
            "horizontal_flip, erasing_size = 2; compute the views again with the training's "
            "augmentation, or train with theirs");
}

}  // namespace
