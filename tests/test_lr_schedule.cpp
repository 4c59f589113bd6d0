// The CIFAR recipe's optimiser settings (trainer.h): the "multistep" learning-rate schedule,
// which decays after given epoch counts (150, 180, 210 of 240 epochs), and classical momentum.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "distillery/models.h"
#include "distillery/trainer.h"
#include "test_util.h"
#include "trainer_fixture.h"

namespace {

using distillery::test::TrainerTest;

TEST_F(TrainerTest, MultistepDecaysAfterEachMilestoneEpoch) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  const auto result = distillery::train_supervised(
      model, train,
      distillery::TrainOptions().trainer(
          options.epochs(5).optimizer(distillery::Optimizer::kSgd).learning_rate(0.5)
              .lr_schedule(distillery::LrSchedule::kMultiStep).lr_milestones({1, 3})
              .lr_gamma(0.1)));
  // EpochMetrics::learning_rate is the rate at the end of the epoch, after its last step: 0.05
  // once 1 epoch is done (epochs 2 and 3 train at it), 0.005 once 3 are done (epochs 4 and 5).
  std::vector<double> rates;
  for (const auto& epoch : result.history) rates.push_back(epoch.learning_rate);
  ASSERT_EQ(rates.size(), 5u);
  EXPECT_DOUBLE_EQ(rates[0], 0.5 * 0.1);
  EXPECT_DOUBLE_EQ(rates[1], 0.5 * 0.1);
  EXPECT_DOUBLE_EQ(rates[2], 0.5 * 0.1 * 0.1);
  EXPECT_DOUBLE_EQ(rates[3], 0.5 * 0.1 * 0.1);
  EXPECT_DOUBLE_EQ(rates[4], 0.5 * 0.1 * 0.1);
}

TEST_F(TrainerTest, NesterovFalseIsClassicalMomentum) {
  const auto weights_after = [&](double momentum, bool nesterov) {
    torch::manual_seed(3);
    auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
    distillery::train_supervised(
        model, train,
        distillery::TrainOptions().trainer(options.epochs(2).optimizer(distillery::Optimizer::kSgd)
                                               .learning_rate(0.1).momentum(momentum)
                                               .nesterov(nesterov)));
    return torch::cat({model->parameters()[0].flatten(), model->parameters()[1].flatten()});
  };
  // Without momentum the flag changes nothing; with it, the two updates differ.
  EXPECT_TRUE(torch::equal(weights_after(0.0, true), weights_after(0.0, false)));
  EXPECT_FALSE(torch::allclose(weights_after(0.9, true), weights_after(0.9, false)));
}

TEST(LrSchedule, MilestonesAreCheckedBeforeTraining) {
  const auto error = [](const distillery::TrainerOptions& o) {
    return distillery::test::error_of_type<c10::Error>([&] { distillery::validate(o); });
  };
  const auto multistep = [](const std::vector<int64_t>& milestones) {
    return distillery::TrainerOptions().lr_schedule(distillery::LrSchedule::kMultiStep)
        .lr_milestones(milestones);
  };
  EXPECT_EQ(error(multistep({})),
            "lr_schedule \"multistep\" needs lr_milestones (e.g. [150, 180, 210])");
  EXPECT_EQ(error(multistep({150, 150})),
            "lr_milestones must be strictly increasing, got [150, 150]");
  EXPECT_EQ(error(multistep({0, 5})), "lr_milestones entries must be >= 1, got 0");
  EXPECT_EQ(error(multistep({150, 180, 210})), "<no error>");
}

}  // namespace
