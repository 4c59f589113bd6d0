#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "distillery/metrics.h"

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

}  // namespace
