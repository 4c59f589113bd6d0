#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "distillery/losses.h"
#include "test_util.h"

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
    EXPECT_NEAR(F::soft_target_loss(z, v, distillery::SoftTargetLossOptions().temperature(options.temperature())).item<double>(),
                c.at("soft").get<double>(), 1e-12);
    EXPECT_TRUE(torch::allclose(z.grad(), to_tensor(c.at("grad_student_logits")), 1e-10, 1e-12));
  }
}

TEST_F(KDLossTest, ZeroWhenStudentAgreesWithTeacher) {
  for (double T : {0.5, 1.0, 4.0, 20.0}) {
    const auto z = torch::randn({16, 10}, f64) * 5;
    EXPECT_NEAR(F::soft_target_loss(z, z.clone(), distillery::SoftTargetLossOptions().temperature(T)).item<double>(), 0.0, 1e-12) << "T=" << T;
    // Shifting a whole row leaves the distribution, hence the loss, unchanged.
    EXPECT_NEAR(F::soft_target_loss(z, z + 7.5, distillery::SoftTargetLossOptions().temperature(T)).item<double>(), 0.0, 1e-10) << "T=" << T;
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
  F::soft_target_loss(z, v, distillery::SoftTargetLossOptions().temperature(2.0)).backward();
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
  return distillery::test::error_of_type<c10::Error>(f);
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

using distillery::LogitMatchingOptions;
using distillery::SoftTargetLossOptions;

TEST_F(KDLossTest, NeverNegativeOverAThousandRandomCases) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  for (int trial = 0; trial < 1000; ++trial) {
    const auto B = torch::randint(1, 9, {1}, gen).item<int64_t>();
    const auto C = torch::randint(2, 20, {1}, gen).item<int64_t>();
    const double T = std::exp(torch::empty({1}).uniform_(std::log(0.1), std::log(100.0), gen).item<double>());
    const auto scale = torch::empty({1}).uniform_(0.0, 10.0, gen).item<double>();
    const auto z = torch::randn({B, C}, gen, torch::kFloat32) * scale;
    const auto near = trial % 2 == 0;  // half the cases: student close to the teacher
    const auto v = near ? z + 1e-4 * torch::randn({B, C}, gen, torch::kFloat32)
                        : torch::randn({B, C}, gen, torch::kFloat32) * scale;
    const auto y = torch::randint(0, C, {B}, gen, torch::kInt64);
    const auto per_sample =
        F::kd_loss(z, v, y, KDLossOptions().temperature(T).alpha(0.5).reduction(torch::kNone));
    ASSERT_GE(per_sample.min().item<double>(), 0.0) << "trial " << trial << " T=" << T;
    ASSERT_GE(F::soft_target_loss(z, v, SoftTargetLossOptions().temperature(T)).item<double>(), 0.0)
        << "trial " << trial;
  }
}

TEST_F(KDLossTest, ShiftingOneSamplesLogitsChangesNeitherLossNorGradient) {
  const auto options = KDLossOptions().temperature(3.0).alpha(0.6);
  const auto v = torch::randn({4, 6}, f64);
  const auto y = torch::tensor({1, 0, 5, 2}, torch::kInt64);
  auto z = torch::randn({4, 6}, f64).requires_grad_();
  const auto loss = F::kd_loss(z, v, y, options);
  const auto grad = torch::autograd::grad({loss}, {z})[0];
  const auto shift = torch::zeros({4, 1}, f64).index_put_({2}, 12.5);  // only sample 2
  auto z2 = (z.detach() + shift).requires_grad_();
  const auto loss_student = F::kd_loss(z2, v, y, options);
  const auto grad_student = torch::autograd::grad({loss_student}, {z2})[0];
  const auto loss_teacher = F::kd_loss(z, v - shift, y, options);
  const auto grad_teacher = torch::autograd::grad({loss_teacher}, {z})[0];
  EXPECT_NEAR(loss_student.item<double>(), loss.item<double>(), 1e-12);
  EXPECT_NEAR(loss_teacher.item<double>(), loss.item<double>(), 1e-12);
  EXPECT_TRUE(torch::allclose(grad_student, grad, 0, 1e-12));
  EXPECT_TRUE(torch::allclose(grad_teacher, grad, 0, 1e-12));
}

TEST_F(KDLossTest, SoftGradientEqualsAlphaTTimesQMinusPOverBToOneEMinusTen) {
  for (double T : {0.5, 1.0, 4.0, 20.0}) {
    const double alpha = 0.7;
    const int64_t B = 7;
    auto z = (torch::randn({B, 9}, f64) * 2).requires_grad_();
    const auto v = torch::randn({B, 9}, f64) * 2;
    // The soft part alone, weighted by alpha: kd_loss with alpha = 1 scaled by alpha.
    const auto loss = alpha * F::kd_loss(z, v, torch::zeros({B}, torch::kInt64),
                                         KDLossOptions().temperature(T).alpha(1.0));
    const auto grad = torch::autograd::grad({loss}, {z})[0];
    const auto expected = alpha * T * (F::softmax_t(z.detach(), T) - F::softmax_t(v, T)) / B;
    EXPECT_LE((grad - expected).abs().max().item<double>(), 1e-10) << "T=" << T;
  }
}

TEST_F(KDLossTest, TSquaredKeepsTheSoftGradientNormWithinTenPercent) {
  const auto z0 = torch::randn({8, 10}, f64), v = torch::randn({8, 10}, f64);
  std::vector<double> scaled, unscaled;
  for (double T = 1; T <= 32; T *= 2) {
    auto z = z0.clone().requires_grad_();
    const auto loss = F::soft_target_loss(z, v, SoftTargetLossOptions().temperature(T));
    const auto norm = torch::autograd::grad({loss}, {z})[0].norm().item<double>();
    scaled.push_back(norm);
    unscaled.push_back(norm / (T * T));  // what the gradient would be without the T^2 factor
  }
  const auto [lo, hi] = std::minmax_element(scaled.begin(), scaled.end());
  EXPECT_LE(*hi / *lo, 1.10);
  const auto [ulo, uhi] = std::minmax_element(unscaled.begin(), unscaled.end());
  EXPECT_GE(*uhi / *ulo, 30.0);  // without T^2 it would shrink roughly as 1/T
}

TEST_F(KDLossTest, HighTemperatureLimitIsLogitMatchingOnCentredLogits) {
  const int64_t C = 10;
  const auto z = torch::randn({5, C}, f64), v = torch::randn({5, C}, f64);
  const double soft =
      F::soft_target_loss(z, v, SoftTargetLossOptions().temperature(1000)).item<double>();
  const auto zc = z - z.mean(1, true), vc = v - v.mean(1, true);
  const double limit = ((zc - vc).square().sum(1) / (2.0 * C)).mean().item<double>();
  EXPECT_NEAR(soft / limit, 1.0, 1e-3);
  // logit_matching on centred logits is C times that limit.
  EXPECT_NEAR(F::logit_matching(zc, vc).item<double>(), C * limit, 1e-12);
}

TEST_F(KDLossTest, VeryLowTemperatureStaysFinite) {
  auto z = (torch::randn({4, 30}) * 30).requires_grad_();
  const auto v = torch::randn({4, 30}) * 30;
  const auto y = torch::randint(0, 30, {4}, torch::kInt64);
  const auto loss = F::kd_loss(z, v, y, KDLossOptions().temperature(0.05).alpha(0.5));
  loss.backward();
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_TRUE(torch::isfinite(z.grad()).all().item<bool>());
}

TEST_F(KDLossTest, FiftyThousandIdenticalBfloat16ClassesGiveNearZeroLoss) {
  const auto z = torch::randn({2, 50000}).to(torch::kBFloat16);
  const auto soft = F::soft_target_loss(z, z.clone(), SoftTargetLossOptions().temperature(4));
  EXPECT_EQ(soft.scalar_type(), torch::kFloat32);
  EXPECT_LT(soft.item<double>(), 1e-4);
  const auto y = torch::zeros({2}, torch::kInt64);
  EXPECT_LT(F::kd_loss(z, z.clone(), y, KDLossOptions().alpha(1.0)).item<double>(), 1e-4);
}

TEST_F(KDLossTest, HalfPrecisionIsComputedInFloat32) {
  const auto z = torch::randn({3, 5}), v = torch::randn({3, 5});
  const auto y = torch::tensor({0, 1, 4}, torch::kInt64);
  const auto half = F::kd_loss(z.to(torch::kHalf), v.to(torch::kHalf), y);
  const auto reference = F::kd_loss(z.to(torch::kHalf).to(torch::kFloat32),
                                    v.to(torch::kHalf).to(torch::kFloat32), y);
  EXPECT_EQ(half.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(half.item<float>(), reference.item<float>());
}

TEST_F(KDLossTest, ReductionsAreMeanSumAndPerSample) {
  const auto z = torch::randn({6, 4}, f64), v = torch::randn({6, 4}, f64);
  const auto y = torch::randint(0, 4, {6}, torch::kInt64);
  const auto o = KDLossOptions().temperature(2.0).alpha(0.3);
  const auto none = F::kd_loss(z, v, y, KDLossOptions(o).reduction(torch::kNone));
  ASSERT_EQ(none.sizes(), (std::vector<int64_t>{6}));
  EXPECT_NEAR(F::kd_loss(z, v, y, o).item<double>(), none.mean().item<double>(), 1e-14);
  EXPECT_NEAR(F::kd_loss(z, v, y, KDLossOptions(o).reduction(torch::kSum)).item<double>(),
              none.sum().item<double>(), 1e-13);
  // Each per-sample value is the naive formula for that sample alone.
  for (int64_t b = 0; b < 6; ++b) {
    EXPECT_NEAR(none[b].item<double>(),
                naive_kd_loss(z.narrow(0, b, 1), v.narrow(0, b, 1), y.narrow(0, b, 1), 2.0, 0.3),
                1e-12);
  }
  const auto lm = F::logit_matching(z, v, LogitMatchingOptions().reduction(torch::kNone));
  EXPECT_TRUE(torch::allclose(lm, 0.5 * (z - v).square().sum(1)));
  EXPECT_NEAR(F::logit_matching(z, v, LogitMatchingOptions().reduction(torch::kSum)).item<double>(),
              lm.sum().item<double>(), 1e-12);
}

TEST_F(KDLossTest, ProbabilityInputMatchesLogitInputAndRejectsBadRows) {
  const double T = 3.0;
  const auto z = torch::randn({4, 5}, f64), v = torch::randn({4, 5}, f64);
  const auto o = SoftTargetLossOptions().temperature(T);
  EXPECT_NEAR(F::soft_target_loss_from_probabilities(z, F::softmax_t(v, T), o).item<double>(),
              F::soft_target_loss(z, v, o).item<double>(), 1e-12);
  // Exact zeros are allowed: they contribute nothing.
  const auto one_hot = torch::tensor({{0.0, 1.0, 0.0}}, f64);
  EXPECT_NEAR(F::soft_target_loss_from_probabilities(torch::zeros({1, 3}, f64), one_hot,
                                                     SoftTargetLossOptions().temperature(1))
                  .item<double>(),
              std::log(3.0), 1e-12);
  auto bad = F::softmax_t(v, T);
  bad[2][0] += 0.01;
  EXPECT_EQ(error_of([&] { F::soft_target_loss_from_probabilities(z, bad, o); }),
            "teacher_probabilities row 2 sums to " + std::to_string(1.01).substr(0, 4) +
                ", not 1 (tolerance 1e-4)");
  EXPECT_EQ(error_of([&] {
              F::soft_target_loss_from_probabilities(
                  torch::zeros({1, 2}, f64), torch::tensor({{1.5, -0.5}}, f64), o);
            }),
            "teacher_probabilities must be >= 0, got -0.5");
}

TEST_F(KDLossTest, ModulesPrintAndForward) {
  distillery::SoftTargetLoss soft(SoftTargetLossOptions().temperature(8));
  distillery::LogitMatching matching;
  const auto z = torch::randn({2, 3}, f64), v = torch::randn({2, 3}, f64);
  EXPECT_DOUBLE_EQ(soft(z, v).item<double>(),
                   F::soft_target_loss(z, v, SoftTargetLossOptions().temperature(8)).item<double>());
  EXPECT_DOUBLE_EQ(matching(z, v).item<double>(), F::logit_matching(z, v).item<double>());
  std::ostringstream a, b;
  soft->pretty_print(a);
  matching->pretty_print(b);
  EXPECT_EQ(a.str(), "distillery::SoftTargetLoss(temperature=8)");
  EXPECT_EQ(b.str(), "distillery::LogitMatching()");
}

}  // namespace

TEST(KDLossRows, ATeacherLogitOfMinusInfinityContributesNothing) {
  // p = 0 for the class with logit -inf: its KL term is 0 (not 0 * -inf = NaN), so the loss
  // equals the loss over the other classes' KL terms plus the (unchanged) hard term.
  const auto z = torch::tensor({{0.3, -1.2, 2.0}}, torch::kFloat64);
  const auto v = torch::tensor({{1.0, -std::numeric_limits<double>::infinity(), 0.5}}, torch::kFloat64);
  const auto y = torch::tensor({2}, torch::kInt64);
  const double T = 2.0, alpha = 0.5;
  const auto log_q = torch::log_softmax(z / T, 1), log_p = torch::log_softmax(v / T, 1);
  const auto p = log_p.exp();
  const double kl = (p[0][0] * (log_p[0][0] - log_q[0][0]) +
                     p[0][2] * (log_p[0][2] - log_q[0][2])).item<double>();
  const double hard = -torch::log_softmax(z, 1)[0][2].item<double>();
  const double loss =
      F::kd_loss(z, v, y, KDLossOptions().temperature(T).alpha(alpha)).item<double>();
  EXPECT_NEAR(loss, alpha * T * T * kl + (1 - alpha) * hard, 1e-14);
}

TEST(KDLossRows, ManyClassesTakeTheTensorPathWithTheSameResult) {
  // Above 64 classes the loss comes from tensor ops instead of the row loop: same value and
  // gradient as the formula.
  torch::manual_seed(11);
  for (const int64_t C : {64, 65, 300}) {
    const auto z = torch::randn({5, C}, torch::kFloat64).requires_grad_(true);
    const auto v = torch::randn({5, C}, torch::kFloat64);
    const auto y = torch::randint(0, C, {5}, torch::kInt64);
    const double T = 3.0, alpha = 0.7;
    F::kd_loss(z, v, y, KDLossOptions().temperature(T).alpha(alpha)).backward();
    const auto q = torch::softmax(z.detach() / T, 1), p = torch::softmax(v / T, 1);
    const auto s = torch::softmax(z.detach(), 1);
    const auto expected =
        (alpha * T * (q - p) + (1 - alpha) * (s - torch::one_hot(y, C).to(torch::kFloat64))) / 5;
    EXPECT_TRUE(torch::allclose(z.grad(), expected, 1e-12, 1e-14)) << "C = " << C;
  }
}
