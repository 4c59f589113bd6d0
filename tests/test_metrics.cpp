#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <vector>

#include "distillery/metrics.h"
#include "test_util.h"

namespace {

// Logits [N, 2] whose argmax is wrong on the first `errors` of `examples` examples (label 0).
distillery::EvalResult scored(int64_t examples, int64_t errors) {
  auto logits = torch::zeros({examples, 2});
  logits.index_put_({torch::indexing::Slice(0, errors), 1}, 1.0);
  logits.index_put_({torch::indexing::Slice(errors, examples), 0}, 1.0);
  return distillery::evaluate_logits(logits, torch::zeros({examples}, torch::kInt64));
}

TEST(Metrics, AccuracyPrintsWithoutFloatNoise) {
  // The case: 126 errors of 300; 1 - 126 / 300 would give 0.5800000000000001.
  const auto r = scored(300, 126);
  EXPECT_EQ(r.errors, 126);
  EXPECT_EQ(nlohmann::json(r.accuracy).dump(), "0.58");
  // Every k / 100 has a short decimal form, and results.json must show exactly that.
  for (int64_t errors = 0; errors <= 100; ++errors) {
    const auto text = nlohmann::json(scored(100, errors).accuracy).dump();
    EXPECT_LE(text.size(), 4u) << errors << " errors give " << text;
  }
  EXPECT_EQ(nlohmann::json(scored(100, 7).accuracy).dump(), "0.93");
  EXPECT_EQ(nlohmann::json(scored(100, 0).accuracy).dump(), "1.0");
}

std::string error_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<c10::Error>(f);
}

TEST(Metrics, NllAndErrorsAreComputedByHandOnThreeExamples) {
  // Three examples, three classes; row i holds logits z_i, label y_i:
  //   z_0 = (2, 1, 0), y_0 = 0: argmax 0, right
  //   z_1 = (1, 3, 0), y_1 = 2: argmax 1, wrong (an error of class 2)
  //   z_2 = (0, 2, 1), y_2 = 1: argmax 1, right
  const auto logits = torch::tensor({{2.0f, 1.0f, 0.0f}, {1.0f, 3.0f, 0.0f}, {0.0f, 2.0f, 1.0f}});
  const auto labels = torch::tensor({0, 2, 1}, torch::kInt64);
  // -log softmax(z_i)[y_i] = log(sum_j exp(z_ij)) - z_i,y_i:
  //   row 0: log(e^2 + e^1 + e^0) - 2 = log(11.107) - 2 = 0.40761
  //   row 1: log(e^1 + e^3 + e^0) - 0 = log(23.804)     = 3.16984
  //   row 2: log(e^0 + e^2 + e^1) - 2 = row 0           = 0.40761
  const double row0 = std::log(std::exp(2.0) + std::exp(1.0) + 1.0) - 2.0;
  const double row1 = std::log(std::exp(1.0) + std::exp(3.0) + 1.0) - 0.0;
  const double row2 = std::log(1.0 + std::exp(2.0) + std::exp(1.0)) - 2.0;
  const double nll = (row0 + row1 + row2) / 3.0;  // 1.32835 nats per example
  const auto r = distillery::evaluate_logits(logits, labels);
  EXPECT_EQ(r.examples, 3);
  EXPECT_EQ(r.errors, 1);
  EXPECT_EQ(r.accuracy, 2.0 / 3.0);
  EXPECT_NEAR(r.nll, nll, 1e-12);
  EXPECT_NEAR(r.nll, 1.32835, 1e-5);
  EXPECT_EQ(r.errors_per_class, (std::vector<int64_t>{0, 0, 1}));
}

TEST(Metrics, ErrorsPerClassCountEachTrueClass) {
  // Labels 0 0 1 2 2 3, predictions 1 0 1 0 1 3: class 0 has one error, class 2 two.
  const auto labels = torch::tensor({0, 0, 1, 2, 2, 3}, torch::kInt64);
  const auto predicted = torch::tensor({1, 0, 1, 0, 1, 3}, torch::kInt64);
  const auto logits = torch::one_hot(predicted, 4).to(torch::kFloat32) * 5.0;
  const auto r = distillery::evaluate_logits(logits, labels);
  EXPECT_EQ(r.errors, 3);
  EXPECT_EQ(r.errors_per_class, (std::vector<int64_t>{1, 0, 2, 0}));
  EXPECT_EQ(r.accuracy, 0.5);
  // Right rows: -log(e^5 / (e^5 + 3)); wrong rows: -log(1 / (e^5 + 3)).
  const double right = std::log(std::exp(5.0) + 3.0) - 5.0, wrong = std::log(std::exp(5.0) + 3.0);
  EXPECT_NEAR(r.nll, (3 * right + 3 * wrong) / 6.0, 1e-12);
}

TEST(Metrics, BadShapesAreRefused) {
  EXPECT_EQ(error_of([] {
              distillery::evaluate_logits(torch::zeros({2, 3}), torch::zeros({3}, torch::kInt64));
            }),
            "evaluate_logits needs logits [N, C] and labels [N] with N > 0, got [2, 3] and [3]");
  EXPECT_EQ(error_of([] {
              distillery::evaluate_logits(torch::zeros({0, 3}), torch::zeros({0}, torch::kInt64));
            }),
            "evaluate_logits needs logits [N, C] and labels [N] with N > 0, got [0, 3] and [0]");
}

TEST(Metrics, EvaluateOverBatchesEqualsEvaluateLogitsOfTheWholeSet) {
  torch::manual_seed(4);
  distillery::data::Dataset set;
  set.images = torch::randn({10, 1, 1, 3});
  set.labels = torch::randint(3, {10}, torch::kInt64);
  set.num_classes = 3;
  // A row-wise logits function (its value for an image does not depend on the batch).
  const auto logits_of = [](const torch::Tensor& x) { return x.flatten(1) * 1.5 - 0.25; };
  std::vector<int64_t> batch_sizes;
  const auto counted = [&](const torch::Tensor& x) {
    batch_sizes.push_back(x.size(0));
    EXPECT_FALSE(torch::GradMode::is_enabled());
    return logits_of(x);
  };
  const auto batched = distillery::evaluate(counted, set, 3);
  EXPECT_EQ(batch_sizes, (std::vector<int64_t>{3, 3, 3, 1}));
  const auto whole = distillery::evaluate_logits(logits_of(set.images), set.labels);
  EXPECT_EQ(batched.examples, 10);
  EXPECT_EQ(batched.errors, whole.errors);
  EXPECT_EQ(batched.accuracy, whole.accuracy);
  EXPECT_EQ(batched.nll, whole.nll);
  EXPECT_EQ(batched.errors_per_class, whole.errors_per_class);
  // And whole itself against the definition.
  const auto log_p = torch::log_softmax(logits_of(set.images).to(torch::kFloat64), 1);
  EXPECT_NEAR(whole.nll, -log_p.gather(1, set.labels.unsqueeze(1)).mean().item<double>(), 1e-12);
  EXPECT_EQ(whole.errors,
            logits_of(set.images).argmax(1).ne(set.labels).sum().item<int64_t>());
}

TEST(Metrics, EvaluateRefusesUnlabeledSetsAndMismatchedClassCounts) {
  distillery::data::Dataset set;
  set.images = torch::zeros({4, 1, 1, 3});
  set.num_classes = 3;
  const auto identity = [](const torch::Tensor& x) { return x.flatten(1); };
  EXPECT_EQ(error_of([&] { distillery::evaluate(identity, set); }),
            "evaluate needs a labeled data set");
  set.labels = torch::zeros({4}, torch::kInt64);
  set.num_classes = 5;
  EXPECT_EQ(error_of([&] { distillery::evaluate(identity, set); }),
            "model produces logits of shape [4, 3] but the data set has 5 classes");
}

}  // namespace
