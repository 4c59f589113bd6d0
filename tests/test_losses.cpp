#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "distillery/losses.h"

namespace F = distillery::functional;
using distillery::KDLossOptions;

namespace {

class KDLossTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
  torch::TensorOptions f64 = torch::TensorOptions().dtype(torch::kFloat64);
};

// The objective written straight from the formula with explicit loops (DESIGN.md, "The math").
double naive_kd_loss(const torch::Tensor& z, const torch::Tensor& v, const torch::Tensor& y,
                     double T, double alpha) {
  const auto B = z.size(0), C = z.size(1);
  auto zc = z.accessor<double, 2>();
  auto vc = v.accessor<double, 2>();
  auto yc = y.accessor<int64_t, 1>();
  double soft = 0, hard = 0;
  for (int64_t b = 0; b < B; ++b) {
    double zs = 0, vs = 0, z1 = 0;
    for (int64_t i = 0; i < C; ++i) {
      zs += std::exp(zc[b][i] / T);
      vs += std::exp(vc[b][i] / T);
      z1 += std::exp(zc[b][i]);
    }
    for (int64_t i = 0; i < C; ++i) {
      const double p = std::exp(vc[b][i] / T) / vs;
      const double q = std::exp(zc[b][i] / T) / zs;
      soft += p * (std::log(p) - std::log(q));
    }
    hard += -std::log(std::exp(zc[b][yc[b]]) / z1);
  }
  return alpha * T * T * soft / B + (1 - alpha) * hard / B;
}

TEST_F(KDLossTest, SoftmaxTMatchesDefinition) {
  const auto z = torch::tensor({{1.0, 2.0, 3.0}}, f64);
  const auto p = F::softmax_t(z, 2.0);
  const double e1 = std::exp(0.5), e2 = std::exp(1.0), e3 = std::exp(1.5);
  EXPECT_NEAR(p[0][0].item<double>(), e1 / (e1 + e2 + e3), 1e-15);
  EXPECT_NEAR(p[0][2].item<double>(), e3 / (e1 + e2 + e3), 1e-15);
  EXPECT_NEAR(p.sum().item<double>(), 1.0, 1e-15);
}

TEST_F(KDLossTest, MatchesNaiveReference) {
  for (double T : {0.5, 1.0, 3.0, 20.0}) {
    for (double alpha : {0.0, 0.3, 0.9, 1.0}) {
      const auto z = torch::randn({6, 7}, f64) * 3;
      const auto v = torch::randn({6, 7}, f64) * 3;
      const auto y = torch::randint(0, 7, {6}, torch::kInt64);
      const double got =
          F::kd_loss(z, v, y, KDLossOptions().temperature(T).alpha(alpha)).item<double>();
      EXPECT_NEAR(got, naive_kd_loss(z, v, y, T, alpha), 1e-10) << "T=" << T << " alpha=" << alpha;
    }
  }
}

TEST_F(KDLossTest, MatchesPyTorchGoldenValues) {
  std::ifstream in(std::string(DISTILLERY_GOLDEN_DIR) + "/kd_loss.json");
  ASSERT_TRUE(in) << "missing tests/golden/kd_loss.json";
  const auto golden = nlohmann::json::parse(in);
  ASSERT_EQ(golden.at("cases").size(), 5u);
  for (const auto& c : golden.at("cases")) {
    auto to_tensor = [&](const nlohmann::json& rows) {
      std::vector<double> flat;
      for (const auto& row : rows) for (double x : row) flat.push_back(x);
      return torch::tensor(flat, f64).view({static_cast<int64_t>(rows.size()), -1});
    };
    auto z = to_tensor(c.at("student_logits")).requires_grad_();
    const auto v = to_tensor(c.at("teacher_logits"));
    const auto y = torch::tensor(c.at("targets").get<std::vector<int64_t>>(), torch::kInt64);
    const auto options = KDLossOptions()
                             .temperature(c.at("temperature").get<double>())
                             .alpha(c.at("alpha").get<double>());
    const auto loss = F::kd_loss(z, v, y, options);
    loss.backward();
    EXPECT_NEAR(loss.item<double>(), c.at("loss").get<double>(), 1e-12);
    EXPECT_NEAR(F::soft_target_loss(z, v, options.temperature()).item<double>(),
                c.at("soft").get<double>(), 1e-12);
    EXPECT_TRUE(torch::allclose(z.grad(), to_tensor(c.at("grad_student_logits")), 1e-10, 1e-12));
  }
}

TEST_F(KDLossTest, ZeroWhenStudentAgreesWithTeacher) {
  for (double T : {0.5, 1.0, 4.0, 20.0}) {
    const auto z = torch::randn({16, 10}, f64) * 5;
    EXPECT_NEAR(F::soft_target_loss(z, z.clone(), T).item<double>(), 0.0, 1e-12) << "T=" << T;
    // Shifting a whole row leaves the distribution, hence the loss, unchanged.
    EXPECT_NEAR(F::soft_target_loss(z, z + 7.5, T).item<double>(), 0.0, 1e-10) << "T=" << T;
  }
}

TEST_F(KDLossTest, GradientIsAlphaTTimesQMinusPOverB) {
  const double T = 3.0, alpha = 0.8;
  const int64_t B = 5;
  auto z = (torch::randn({B, 4}, f64) * 2).requires_grad_();
  const auto v = torch::randn({B, 4}, f64) * 2;
  const auto y = torch::randint(0, 4, {B}, torch::kInt64);
  // alpha = 1 isolates the soft term.
  F::kd_loss(z, v, y, KDLossOptions().temperature(T).alpha(1.0)).backward();
  const auto q = F::softmax_t(z.detach(), T), p = F::softmax_t(v, T);
  EXPECT_TRUE(torch::allclose(z.grad(), T * (q - p) / B, 0, 1e-12));
  // With the hard term: alpha*T*(q-p)/B + (1-alpha)*(softmax(z) - onehot(y))/B.
  z.mutable_grad().zero_();
  F::kd_loss(z, v, y, KDLossOptions().temperature(T).alpha(alpha)).backward();
  const auto onehot = torch::one_hot(y, 4).to(torch::kFloat64);
  const auto expected =
      alpha * T * (q - p) / B + (1 - alpha) * (torch::softmax(z.detach(), 1) - onehot) / B;
  EXPECT_TRUE(torch::allclose(z.grad(), expected, 0, 1e-12));
}

TEST_F(KDLossTest, NoGradientFlowsIntoTeacherLogits) {
  auto z = torch::randn({3, 4}, f64).requires_grad_();
  auto v = torch::randn({3, 4}, f64).requires_grad_();
  F::soft_target_loss(z, v, 2.0).backward();
  EXPECT_FALSE(v.grad().defined());
}

TEST_F(KDLossTest, ModuleMatchesFunction) {
  distillery::KDLoss loss(KDLossOptions().temperature(2.0).alpha(0.25));
  const auto z = torch::randn({4, 3}, f64), v = torch::randn({4, 3}, f64);
  const auto y = torch::tensor({0, 1, 2, 1}, torch::kInt64);
  EXPECT_DOUBLE_EQ(loss(z, v, y).item<double>(),
                   F::kd_loss(z, v, y, KDLossOptions().temperature(2.0).alpha(0.25)).item<double>());
  std::ostringstream s;
  loss->pretty_print(s);
  EXPECT_EQ(s.str(), "distillery::KDLoss(temperature=2, alpha=0.25)");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.msg();
  }
  return "<no error>";
}

TEST_F(KDLossTest, RejectsBadArgumentsWithClearMessages) {
  const auto z = torch::zeros({2, 3}), v = torch::zeros({2, 3});
  const auto y = torch::tensor({0, 2}, torch::kInt64);
  EXPECT_EQ(error_of([&] { F::kd_loss(z, v, y, KDLossOptions().temperature(0)); }),
            "temperature must be finite and > 0, got 0");
  EXPECT_EQ(error_of([&] { F::kd_loss(z, v, y, KDLossOptions().temperature(NAN)); }),
            "temperature must be finite and > 0, got nan");
  EXPECT_EQ(error_of([&] { F::kd_loss(z, v, y, KDLossOptions().alpha(1.5)); }),
            "alpha must be in [0, 1], got 1.5");
  EXPECT_EQ(error_of([&] { F::kd_loss(z, torch::zeros({2, 4}), y); }),
            "student_logits and teacher_logits must have the same shape, got student [2, 3] "
            "and teacher [2, 4]");
  EXPECT_EQ(error_of([&] { F::kd_loss(z, v, torch::tensor({0, 3}, torch::kInt64)); }),
            "targets must be class indices in [0, 3), got values in [0, 3]");
  EXPECT_EQ(error_of([&] { F::kd_loss(z, v, torch::tensor({0, 1}, torch::kInt32)); }),
            "targets must be int64, got Int");
}

}  // namespace
