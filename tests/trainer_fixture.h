#pragma once
// The trainer tests' data and fixture: four Gaussian blobs in 2-D and a small MLP's settings.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "distillery/data/dataset.h"
#include "distillery/models.h"
#include "distillery/trainer.h"

namespace distillery::test {

namespace dd = distillery::data;

// Four Gaussian blobs in 2-D, shaped as 1x1x2 "images", one class per blob.
inline dd::Dataset blobs(int64_t per_class, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto centres = torch::tensor({{2.0, 2.0}, {-2.0, 2.0}, {-2.0, -2.0}, {2.0, -2.0}});
  const auto labels = torch::arange(4, torch::kInt64).repeat_interleave(per_class);  // [4n]
  const auto points = centres.index_select(0, labels) +
                      0.7 * torch::randn({4 * per_class, 2}, gen, torch::kFloat32);
  dd::Dataset set;
  set.images = points.view({-1, 1, 1, 2});
  set.labels = labels;
  set.num_classes = 4;
  return set;
}

// Records the intra-op thread count seen during the steps and after evaluation.
struct ThreadCount : distillery::Callback {
  int during = 0, after = 0;
  void on_batch_end(const distillery::BatchProgress&) override {
    during = torch::get_num_threads();
  }
  void on_epoch_end(const distillery::EpochMetrics&) override {
    after = torch::get_num_threads();
  }
};

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
  dd::Dataset train = blobs(200, 1), test = blobs(100, 2);
  distillery::InputShape input{1, 1, 2};
  distillery::TrainerOptions options = distillery::TrainerOptions()
                                           .epochs(15).batch_size(32).learning_rate(0.01)
                                           .threads(1).reseed(true);
  // Trains on `train`, evaluating on `test` after each epoch.
  distillery::TrainOptions with_test(const distillery::TrainerOptions& o,
                                     const std::string& phase = "train") const {
    return distillery::TrainOptions().trainer(o).phase(phase).evaluate_on("test", test);
  }
};

}  // namespace distillery::test
