// The models of examples/custom_model.h, written as a user writes them (structs with blocks, not
// a Sequential): their size and cost against counts made by hand, and one step of distillation
// through the public API.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "custom_model.h"
#include "distillery/model_size.h"
#include "distillery/soft_targets.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"

namespace {

const distillery::InputShape kImage{1, 28, 28};

TEST(CustomModel, TheResidualStudentHasTheHandCountedParametersAndMultiplyAdds) {
  custom::TinyResNet student;
  // Parameters: a convolution has out * in * k * k weights (no bias here), a BatchNorm 2 per
  // channel, the head 16 * 10 + 10.
  const int64_t stem = 8 * 1 * 9 + 2 * 8;                                  // 88
  const int64_t block1 = 2 * (8 * 8 * 9 + 2 * 8);                          // 1184
  const int64_t block2 = 16 * 8 * 9 + 2 * 16 + 16 * 16 * 9 + 2 * 16 +      // the two 3x3
                         16 * 8 * 1 + 2 * 16;                              // the 1x1 skip: 3680
  const int64_t head = 16 * 10 + 10;                                       // 170
  EXPECT_EQ(distillery::count_parameters(*student), stem + block1 + block2 + head);
  EXPECT_EQ(stem + block1 + block2 + head, 5122);
  // Multiply-adds: each output element of a convolution costs in * k * k; BatchNorm, ReLU, the
  // skip addition and the average pooling count 0; the head 16 * 10.
  const int64_t at28 = 8 * 28 * 28, at14 = 16 * 14 * 14;
  const int64_t macs = at28 * (1 * 9) +                      // stem
                       2 * at28 * (8 * 9) +                  // block1
                       at14 * (8 * 9) + at14 * (16 * 9) +    // block2's 3x3 convolutions
                       at14 * 8 +                            // its 1x1 skip
                       16 * 10;                              // head
  EXPECT_EQ(distillery::count_multiply_adds(student, kImage), macs);
  EXPECT_EQ(macs, 1662240);
}

TEST(CustomModel, TheTeacherHasTheHandCountedParametersAndMultiplyAdds) {
  custom::ConvTeacher teacher;
  const int64_t parameters = (32 * 9 + 32) + (64 * 32 * 9 + 64) + (64 * 7 * 7 * 128 + 128) +
                             (128 * 10 + 10);
  EXPECT_EQ(distillery::count_parameters(*teacher), parameters);
  const int64_t macs = 32 * 28 * 28 * 9 + 64 * 14 * 14 * (32 * 9) + 64 * 7 * 7 * 128 + 128 * 10;
  EXPECT_EQ(distillery::count_multiply_adds(teacher, kImage), macs);
  EXPECT_EQ(parameters, 421642);
  EXPECT_EQ(macs, 4241152);
}

TEST(CustomModel, TheStudentLearnsFromStoredSoftTargetsOfTheTeacher) {
  torch::manual_seed(0);
  distillery::data::Dataset set{torch::randn({64, 1, 28, 28}), torch::randint(10, {64}), 10};
  custom::ConvTeacher teacher_net;
  distillery::Teacher teacher(teacher_net);
  const auto soft_targets = distillery::compute_soft_targets(teacher, set, 32);
  custom::TinyResNet student;
  const auto run = distillery::distill(
      student, soft_targets, set,
      distillery::DistillOptions()
          .trainer(distillery::TrainerOptions().epochs(3).batch_size(16).learning_rate(1e-2))
          .loss(distillery::KDLossOptions().temperature(4.0).alpha(1.0)));
  ASSERT_EQ(run.history.size(), 3u);
  EXPECT_LT(run.history.back().train_loss, run.history.front().train_loss);
  EXPECT_FALSE(student->is_training());
}

}  // namespace
