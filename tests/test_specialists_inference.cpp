// KL-minimising combination of a generalist and its specialists (Hinton et al. 2015, §5).

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distillery/specialists/inference.h"
#include "distillery/specialists/specialist.h"

namespace ds = distillery::specialists;

namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

torch::Tensor random_log_probs(int64_t rows, int64_t columns, double scale = 3.0) {
  return torch::log_softmax(torch::randn({rows, columns}, kF64) * scale, 1);
}

std::vector<torch::Tensor> random_specialists(int64_t rows, const ds::ClassSubsets& subsets) {
  std::vector<torch::Tensor> out;
  for (const auto& s : subsets) out.push_back(random_log_probs(rows, static_cast<int64_t>(s.size()) + 1));
  return out;
}

const std::vector<ds::CombineMethod> kMethods = {ds::CombineMethod::kMultiplicative,
                                                 ds::CombineMethod::kGradient};

TEST(ActiveSpecialists, AreThoseWhoseSubsetHoldsATopNClass) {
  const auto lp = torch::log(torch::tensor({{0.5, 0.3, 0.1, 0.1}, {0.1, 0.1, 0.2, 0.6}}, kF64));
  const ds::ClassSubsets subsets = {{0, 2}, {1}, {3}};
  EXPECT_TRUE(torch::equal(ds::active_specialists(lp, subsets, 1),
                           torch::tensor({{true, false, false}, {false, false, true}})));
  EXPECT_TRUE(torch::equal(ds::active_specialists(lp, subsets, 2),
                           torch::tensor({{true, true, false}, {true, false, true}})));
  EXPECT_THROW(ds::active_specialists(lp, subsets, 5), c10::Error);
}

TEST(CombineSpecialists, WithNoActiveSpecialistIsExactlyTheGeneralist) {
  torch::manual_seed(0);
  // Top class 9 for every case; no subset holds 9.
  auto logits = torch::randn({20, 10}, kF64);
  logits.select(1, 9).fill_(10.0);
  const auto lp = torch::log_softmax(logits, 1);
  const ds::ClassSubsets subsets = {{0, 2, 4}, {5, 7}};
  for (const auto method : kMethods) {
    const auto c = ds::combine_specialists(lp, random_specialists(20, subsets), subsets,
                                           ds::CombineOptions().method(method));
    EXPECT_TRUE(torch::equal(c.probabilities, lp.exp()));
    EXPECT_FALSE(c.active.any().item<bool>());
    EXPECT_TRUE(torch::equal(c.iterations, torch::zeros({20}, torch::kInt64)));
  }
}

TEST(CombineSpecialists, ASpecialistThatAgreesWithTheGeneralistChangesNothing) {
  torch::manual_seed(1);
  const auto lp = random_log_probs(50, 10);
  const ds::ClassSubsets subsets = {{0, 1, 2, 3, 4}, {5, 6, 7, 8}};
  std::vector<torch::Tensor> agreeing;
  for (const auto& s : subsets) agreeing.push_back(ds::reduce_log_probabilities(lp, s));
  for (const auto method : kMethods) {
    const auto c = ds::combine_specialists(lp, agreeing, subsets, ds::CombineOptions().method(method));
    EXPECT_GT(c.active.any(1).sum().item<int64_t>(), 30);  // most cases have a specialist
    EXPECT_TRUE(torch::allclose(c.probabilities, lp.exp(), 0, 1e-5));
  }
}

// F over a grid of the 3-class simplex, refined around the best point twice.
torch::Tensor brute_force_minimum(const torch::Tensor& lp, const std::vector<torch::Tensor>& spec,
                                  const ds::ClassSubsets& subsets, const torch::Tensor& active) {
  double lo0 = 0, hi0 = 1, lo1 = 0, hi1 = 1, step = 0.004;
  torch::Tensor best;
  for (int round = 0; round < 3; ++round) {
    const auto a = torch::arange(lo0, hi0 + step / 2, step, kF64).clamp(1e-9, 1 - 1e-9);
    const auto b = torch::arange(lo1, hi1 + step / 2, step, kF64).clamp(1e-9, 1 - 1e-9);
    const auto grid = torch::meshgrid({a, b}, "ij");
    auto q0 = grid[0].flatten(), q1 = grid[1].flatten();
    const auto keep = (q0 + q1) < 1 - 1e-9;
    q0 = q0.index({keep});
    q1 = q1.index({keep});
    const auto q = torch::stack({q0, q1, 1 - q0 - q1}, 1);
    const auto n = q.size(0);
    std::vector<torch::Tensor> spec_n;
    for (const auto& s : spec) spec_n.push_back(s.expand({n, s.size(1)}));
    const auto f = ds::combination_objective(q.log(), lp.expand({n, 3}), spec_n, subsets,
                                             active.expand({n, active.size(1)}));
    best = q[f.argmin().item<int64_t>()];
    const double c0 = best[0].item<double>(), c1 = best[1].item<double>();
    lo0 = std::max(0.0, c0 - 5 * step);
    hi0 = std::min(1.0, c0 + 5 * step);
    lo1 = std::max(0.0, c1 - 5 * step);
    hi1 = std::min(1.0, c1 + 5 * step);
    step /= 10;
  }
  return best;
}

TEST(CombineSpecialists, MatchesABruteForceSearchOverTheThreeClassSimplex) {
  torch::manual_seed(2);
  const std::vector<ds::ClassSubsets> cases = {{{0, 1}}, {{0}, {1}}, {{0, 2}}};
  for (const auto& subsets : cases) {
    for (int trial = 0; trial < 3; ++trial) {
      auto logits = torch::randn({1, 3}, kF64);
      logits[0][0] += 2.0;  // class 0 on top: every subset holding 0 is active
      const auto lp = torch::log_softmax(logits, 1);
      const auto spec = random_specialists(1, subsets);
      const auto active = ds::active_specialists(lp, subsets, 1);
      const auto expected = brute_force_minimum(lp, spec, subsets, active);
      for (const auto method : kMethods) {
        const auto c = ds::combine_specialists(lp, spec, subsets,
                                               ds::CombineOptions().method(method).max_iterations(5000));
        EXPECT_TRUE(c.converged.all().item<bool>());
        EXPECT_TRUE(torch::allclose(c.probabilities[0], expected, 0, 1e-3))
            << "subsets " << subsets.size() << " trial " << trial << ": " << c.probabilities[0]
            << " vs brute force " << expected;
      }
    }
  }
}

TEST(CombineSpecialists, TheObjectiveNeverIncreasesAndBothMethodsAgree) {
  torch::manual_seed(3);
  const int64_t cases = 400;
  const auto lp = random_log_probs(cases, 10);
  const ds::ClassSubsets subsets = {{0, 2, 4, 6}, {1, 3}, {5, 7, 9}};
  const auto spec = random_specialists(cases, subsets);
  std::vector<torch::Tensor> solutions;
  for (const auto method : kMethods) {
    const auto c = ds::combine_specialists(
        lp, spec, subsets,
        ds::CombineOptions().method(method).record_objective(true).max_iterations(3000).top_n(2));
    const auto& h = c.objective_history;  // [I + 1, B]
    ASSERT_GE(h.size(0), 2);
    const auto increase = (h.narrow(0, 1, h.size(0) - 1) - h.narrow(0, 0, h.size(0) - 1)).max();
    EXPECT_LE(increase.item<double>(), 1e-12);
    // It did minimise: the final F is below F at the start, log p_g, for every active case.
    const auto active_rows = c.active.any(1);
    EXPECT_TRUE(torch::all((h[-1] <= h[0] + 1e-15).index({active_rows})).item<bool>());
    EXPECT_TRUE(c.converged.all().item<bool>())
        << "method " << static_cast<int>(method) << ": " << c.converged.logical_not().sum().item<int64_t>()
        << " not converged, max iterations " << c.iterations.max().item<int64_t>();
    EXPECT_TRUE(torch::allclose(c.probabilities.sum(1), torch::ones({cases}, kF64), 0, 1e-12));
    // The recorded objective is F at the returned q.
    EXPECT_TRUE(torch::allclose(
        ds::combination_objective(c.probabilities.log(), lp, spec, subsets, c.active), h[-1], 1e-9,
        1e-12));
    solutions.push_back(c.probabilities);
  }
  EXPECT_TRUE(torch::allclose(solutions[0], solutions[1], 0, 1e-5));
}

TEST(CombineSpecialists, RejectsMismatchedShapes) {
  const auto lp = random_log_probs(4, 10);
  const ds::ClassSubsets subsets = {{0, 1}};
  EXPECT_THROW(ds::combine_specialists(lp, {random_log_probs(4, 2)}, subsets), c10::Error);
  EXPECT_THROW(ds::combine_specialists(lp, {}, subsets), c10::Error);
  EXPECT_THROW(ds::combine_specialists(lp, {random_log_probs(3, 3)}, subsets), c10::Error);
  EXPECT_THROW(ds::combine_specialists(lp, {random_log_probs(4, 3)}, subsets,
                                       ds::CombineOptions().tolerance(0)),
               c10::Error);
}

}  // namespace
