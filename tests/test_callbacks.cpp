#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <cmath>
#include <sstream>
#include <vector>

#include "distillery/callbacks.h"
#include "test_util.h"

namespace {

TEST(MetricsJsonl, AppendsOneCompleteObjectPerEpoch) {
  distillery::test::TempDir dir;
  distillery::MetricsJsonl metrics(dir.file("sub/metrics.jsonl"));
  distillery::EpochMetrics m;
  m.phase = "teacher";
  m.epochs = 2;
  m.evaluations["test"].errors = 12;
  m.evaluations["test"].examples = 100;
  m.evaluations["test"].accuracy = 0.88;
  m.seconds = 2.0;
  m.data_seconds = 0.25;
  for (int epoch = 1; epoch <= 2; ++epoch) {
    m.epoch = epoch;
    m.train_loss = 1.0 / epoch;
    metrics.on_epoch_end(m);
  }
  std::istringstream lines(distillery::test::slurp(dir.file("sub/metrics.jsonl")));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    ++count;
    EXPECT_EQ(j.at("phase"), "teacher");
    EXPECT_EQ(j.at("epoch"), count);
    EXPECT_DOUBLE_EQ(j.at("train_loss").get<double>(), 1.0 / count);
    EXPECT_EQ(j.at("test_errors"), 12);
    EXPECT_DOUBLE_EQ(j.at("seconds").get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(j.at("data_seconds").get<double>(), 0.25);
  }
  EXPECT_EQ(count, 2);
}

TEST(MetricsJsonl, TimingsAreWrittenWithoutFloatNoise) {
  distillery::test::TempDir dir;
  distillery::MetricsJsonl metrics(dir.file("metrics.jsonl"));
  distillery::EpochMetrics m;
  m.seconds = 0.07219031599999998;
  m.data_seconds = 0.0025236820000000006;
  m.samples_per_second = 41550.270913456;
  metrics.on_epoch_end(m);
  const auto line = distillery::test::slurp(dir.file("metrics.jsonl"));
  EXPECT_NE(line.find("\"seconds\":0.07219,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"data_seconds\":0.002524,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"samples_per_second\":41550.3,"), std::string::npos) << line;
}

TEST(MetricsJsonl, WritesEachEvaluationUnderItsName) {
  distillery::test::TempDir dir;
  distillery::MetricsJsonl metrics(dir.file("metrics.jsonl"));
  distillery::EpochMetrics m;
  m.evaluations["validation"].errors = 3;
  m.evaluations["validation"].examples = 50;
  metrics.on_epoch_end(m);
  const auto j = nlohmann::json::parse(distillery::test::slurp(dir.file("metrics.jsonl")));
  EXPECT_EQ(j.at("validation_errors"), 3);
  EXPECT_EQ(j.at("validation_examples"), 50);
  EXPECT_FALSE(j.contains("test_errors"));  // no test set, no test columns
}

TEST(Evaluate, AddsTheResultOfTheModelOnItsSetUnderItsName) {
  // Logits that put class 0 first for every image: the labels 0, 1, 0 give one error.
  torch::nn::Linear head(2, 2);
  {
    torch::NoGradGuard no_grad;
    head->weight.zero_();
    head->bias.copy_(torch::tensor({1.0f, 0.0f}));
  }
  distillery::data::Dataset set{torch::zeros({3, 1, 1, 2}), torch::tensor({0, 1, 0}), 2};
  distillery::Evaluate evaluate("heldout", set);
  distillery::TrainContext context;
  context.model = distillery::Model(head.ptr(), [head](const torch::Tensor& x) mutable {
    return head(x.flatten(1));
  });
  evaluate.on_train_begin(context);
  distillery::EpochMetrics m;
  evaluate.on_evaluate(m);
  const auto& e = m.evaluations.at("heldout");
  EXPECT_EQ(e.examples, 3);
  EXPECT_EQ(e.errors, 1);
  EXPECT_EQ(e.errors_per_class, (std::vector<int64_t>{0, 1}));
  // NLL: -log softmax([1, 0]) = log(1 + e^-1) for label 0, 1 + log(1 + e^-1) for label 1.
  EXPECT_NEAR(e.nll, std::log1p(std::exp(-1.0)) + 1.0 / 3.0, 1e-6);
}

}  // namespace
