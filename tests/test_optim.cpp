#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

#include "distillery/optim.h"

namespace {

// Trains two copies of one small network on the same batches, one with torch::optim::Adam and
// one with FusedAdam, changing the learning rate every step; returns the largest relative
// difference (per tensor, the norm of the difference over the norm) of the final weights.
double divergence(torch::Dtype dtype, double weight_decay, bool amsgrad) {
  torch::manual_seed(3);
  torch::nn::Sequential a(torch::nn::Linear(6, 5), torch::nn::Tanh(), torch::nn::Linear(5, 3));
  a->to(dtype);
  torch::nn::Sequential b(torch::nn::Linear(6, 5), torch::nn::Tanh(), torch::nn::Linear(5, 3));
  b->to(dtype);
  {
    torch::NoGradGuard no_grad;
    const auto pa = a->parameters(), pb = b->parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) pb[i].copy_(pa[i]);
  }
  const auto options =
      torch::optim::AdamOptions(1e-2).weight_decay(weight_decay).amsgrad(amsgrad);
  torch::optim::Adam reference(a->parameters(), options);
  distillery::FusedAdam fused(b->parameters(), options);
  for (int step = 0; step < 30; ++step) {
    const auto x = torch::randn({8, 6}, torch::TensorOptions(dtype));
    const auto y = torch::randint(0, 3, {8}, torch::kInt64);
    for (auto* pair : {static_cast<torch::optim::Optimizer*>(&reference),
                       static_cast<torch::optim::Optimizer*>(&fused)}) {
      pair->param_groups()[0].options().set_lr(1e-2 / (1 + step));
    }
    reference.zero_grad();
    torch::cross_entropy_loss(a->forward(x), y).backward();
    reference.step();
    fused.zero_grad();
    torch::cross_entropy_loss(b->forward(x), y).backward();
    fused.step();
  }
  double worst = 0;
  const auto pa = a->parameters(), pb = b->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    worst = std::max(worst, ((pa[i] - pb[i]).norm() / pa[i].norm()).item<double>());
  }
  return worst;
}

TEST(FusedAdam, FirstStepMovesEachWeightByTheLearningRateTimesTheSignOfItsGradient) {
  // Step 1 of Adam: m = (1 - b1) g, v = (1 - b2) g^2; bias-corrected m / sqrt(v) = g / |g|, so
  // w1 = w0 - lr * g / (|g| + eps).
  auto w = torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64).requires_grad_(true);
  distillery::FusedAdam adam({w}, torch::optim::AdamOptions(0.1).eps(1e-8));
  const auto g = torch::tensor({3.0, -0.25, 1e-3}, torch::kFloat64);
  (w * g).sum().backward();
  adam.step();
  const auto expected = torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64) -
                        0.1 * g / (g.abs() + 1e-8);
  EXPECT_TRUE(torch::allclose(w.detach(), expected, 1e-12, 1e-14)) << w << expected;
}

TEST(FusedAdam, AgreesWithLibTorchAdamInFloat64) {
  EXPECT_LT(divergence(torch::kFloat64, 0.0, false), 1e-12);
  EXPECT_LT(divergence(torch::kFloat64, 1e-2, false), 1e-12);
  EXPECT_LT(divergence(torch::kFloat64, 0.0, true), 1e-12);
}

TEST(FusedAdam, AgreesWithLibTorchAdamInFloat32ToRounding) {
  EXPECT_LT(divergence(torch::kFloat32, 1e-2, false), 1e-5);
}

TEST(FusedAdam, SkipsParametersWithoutAGradient) {
  auto used = torch::ones({2}).requires_grad_(true);
  auto unused = torch::ones({2}).requires_grad_(true);
  distillery::FusedAdam adam({used, unused}, torch::optim::AdamOptions(0.5));
  used.sum().backward();
  adam.step();
  EXPECT_TRUE(torch::allclose(used.detach(), torch::full({2}, 0.5), 1e-6, 1e-6)) << used;
  EXPECT_TRUE(torch::equal(unused.detach(), torch::ones({2})));
}

TEST(FusedAdam, AGradientInAnotherLayoutUpdatesTheRightElements) {
  // A column-major gradient for a row-major parameter: the fused kernel walks raw memory, so
  // the gradient must be brought into the parameter's layout first.
  auto w = torch::zeros({2, 3}, torch::kFloat64).requires_grad_(true);
  distillery::FusedAdam adam({w}, torch::optim::AdamOptions(0.1));
  const auto g = torch::tensor({{1.0, 2.0, 3.0}, {-1.0, -2.0, -3.0}}, torch::kFloat64);
  w.mutable_grad() = g.t().contiguous().t();  // same values, strides {1, 2}
  adam.step();
  EXPECT_TRUE(torch::allclose(w.detach(), -0.1 * g.sign(), 1e-6, 1e-12)) << w;  // |g| / (|g| + eps)
}

TEST(FusedAdam, RefusesAGradientOfAnotherShapeAndAParameterThatChangedShape) {
  auto w = torch::zeros({4}).requires_grad_(true);
  distillery::FusedAdam adam({w}, torch::optim::AdamOptions(0.1));
  w.mutable_grad() = torch::ones({2});
  try {
    adam.step();
    FAIL() << "a [2] gradient for a [4] parameter accepted";
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "FusedAdam: a gradient of shape [2] (Float) for a parameter of shape [4] "
                       "(Float)");
  }
  w.mutable_grad() = torch::ones({4});
  adam.step();
  {
    torch::NoGradGuard no_grad;
    w.set_data(torch::zeros({6}));
  }
  w.mutable_grad() = torch::ones({6});
  try {
    adam.step();
    FAIL() << "a parameter that changed shape kept its old moments";
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "FusedAdam: a parameter changed its shape, layout or dtype after its "
                       "first step (now [6], Float); create a new optimiser");
  }
}

TEST(FusedAdam, RefusesBadOptionsAndStateSerialisation) {
  auto w = torch::ones({2}).requires_grad_(true);
  try {
    distillery::FusedAdam({w}, torch::optim::AdamOptions(0.1).betas({0.9, 1.0}));
    FAIL() << "betas (0.9, 1) accepted";
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "Adam: betas must be in [0, 1), got (0.9, 1)");
  }
  distillery::FusedAdam adam({w});
  torch::serialize::OutputArchive archive;
  try {
    adam.save(archive);
    FAIL() << "save accepted";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "FusedAdam: saving the optimiser state is not supported");
  }
}

}  // namespace
