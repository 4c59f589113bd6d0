#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "distillery/json_fields.h"
#include "distillery/models.h"
#include "test_util.h"

using distillery::InputShape;

namespace {

// A minimal spec for every registered architecture (defaults for the rest).
nlohmann::json spec_for(const std::string& name) { return {{"architecture", name}}; }

TEST(Models, EveryRegisteredArchitectureMapsImagesToLogits) {
  const auto names = distillery::list_models();
  EXPECT_EQ(names, (std::vector<std::string>{"convnet", "mlp"}));
  for (const auto& name : names) {
    torch::manual_seed(0);
    auto model = distillery::build_model(spec_for(name), InputShape{1, 28, 28}, 7);
    model->eval();
    const auto out = model->forward(torch::randn({3, 1, 28, 28}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 7})) << name;
    EXPECT_GT(distillery::count_parameters(*model), 0) << name;
    EXPECT_GT(distillery::count_multiply_adds(model, InputShape{1, 28, 28}), 0) << name;
  }
}

TEST(Models, MlpSizeAndCostFollowTheLayerWidths) {
  auto mlp = distillery::make_mlp(distillery::MLPOptions().hidden({800, 800}), {}, 10);
  // 784*800+800 + 800*800+800 + 800*10+10
  EXPECT_EQ(distillery::count_parameters(*mlp), 1276810);
  EXPECT_EQ(distillery::count_multiply_adds(mlp, {}), 784 * 800 + 800 * 800 + 800 * 10);
}

TEST(Models, ConvNetCostCountsEveryOutputElement) {
  auto net = distillery::make_convnet(
      distillery::ConvNetOptions().channels({4}).kernel_size(3).hidden({}).batch_norm(false).dropout(0),
      {1, 8, 8}, 2);
  // conv: 4 channels * 8*8 outputs * (1*3*3); head: (4*4*4) * 2.
  EXPECT_EQ(distillery::count_multiply_adds(net, {1, 8, 8}), 4 * 64 * 9 + 64 * 2);
  EXPECT_EQ(distillery::count_parameters(*net), 4 * 9 + 4 + 64 * 2 + 2);
}

TEST(Models, UnknownArchitectureAndKeysAreConfigErrors) {
  try {
    distillery::build_model({{"architecture", "resnet9000"}}, {}, 10, "student.model");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "student.model.architecture: unknown architecture 'resnet9000' "
                           "(known: convnet, mlp)");
  }
  try {
    distillery::build_model({{"architecture", "mlp"}, {"hiden", {10}}}, {}, 10, "student.model");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "student.model.hiden: unknown key (known keys here: dropout, hidden)");
  }
  try {
    distillery::build_model({{"architecture", "mlp"}, {"hidden", "800"}}, {}, 10, "m");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "m.hidden: expected an array of integers, got string (\"800\")");
  }
}

TEST(Models, SaveAndLoadRoundTripsWeightsBuffersAndArchitecture) {
  distillery::test::TempDir dir;
  torch::manual_seed(3);
  const nlohmann::json spec = {{"architecture", "convnet"}, {"channels", {4, 8}}, {"hidden", {16}}};
  auto model = distillery::build_model(spec, {}, 10);
  model->train();
  model->forward(torch::randn({8, 1, 28, 28}));  // moves the BatchNorm running statistics
  model->eval();
  const auto x = torch::randn({5, 1, 28, 28});
  const auto expected = model->forward(x);
  distillery::save_model(dir.file("m.pt"), model, spec, {}, 10);
  auto loaded = distillery::load_model(dir.file("m.pt"));
  EXPECT_EQ(loaded.spec, spec);
  EXPECT_EQ(loaded.num_classes, 10);
  EXPECT_TRUE(torch::equal(loaded.model->forward(x), expected));
}

TEST(Models, LoadingGarbageNamesTheFile) {
  distillery::test::TempDir dir;
  distillery::test::write_bytes(dir.file("junk.pt"), {1, 2, 3, 4});
  try {
    distillery::load_model(dir.file("junk.pt"));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir.file("junk.pt") + ": cannot load model archive", 0), 0u)
        << e.what();
  }
}

TEST(Models, AbsurdWidthsAreRefusedBeforeAllocating) {
  try {
    distillery::make_mlp(distillery::MLPOptions().hidden({1000000000000}), {}, 10);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "MLP hidden width must be in [1, 65536], got 1000000000000");
  }
}

}  // namespace

TEST(Models, MaxPool2x2WithoutGradGivesTheValuesOfMaxPool2d) {
  torch::manual_seed(5);
  distillery::MaxPool2x2 pool;
  for (const auto& shape : {std::vector<int64_t>{3, 4, 28, 28}, std::vector<int64_t>{2, 3, 7, 9},
                            std::vector<int64_t>{1, 1, 2, 3}}) {
    auto x = torch::randn(shape);
    x.view(-1)[1] = std::numeric_limits<float>::quiet_NaN();  // NaN propagates, as in max_pool2d
    x.view(-1)[x.numel() - 1] = -std::numeric_limits<float>::infinity();
    torch::NoGradGuard no_grad;
    const auto fast = pool->forward(x), reference = torch::max_pool2d(x, 2);
    ASSERT_EQ(fast.sizes(), reference.sizes());
    EXPECT_TRUE(torch::equal(fast.isnan(), reference.isnan()));
    EXPECT_TRUE(torch::equal(fast.nan_to_num(0), reference.nan_to_num(0)));
    EXPECT_TRUE(std::isnan(fast[0][0][0][0].item<float>()));
  }
}

TEST(Models, MaxPool2x2WithGradRoutesTheGradientLikeMaxPool2d) {
  torch::manual_seed(6);
  distillery::MaxPool2x2 pool;
  const auto x = torch::randn({2, 3, 6, 5}).requires_grad_(true);
  const auto weights = torch::randn({2, 3, 3, 2});
  (pool->forward(x) * weights).sum().backward();
  const auto ours = x.grad().clone();
  x.mutable_grad().zero_();
  (torch::max_pool2d(x, 2) * weights).sum().backward();
  EXPECT_TRUE(torch::equal(ours, x.grad()));
  try {
    pool->forward(torch::zeros({1, 1, 1, 4}));
    FAIL() << "1 x 4 input accepted";
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "MaxPool2x2 needs [B, C, H, W] input with H, W >= 2, got shape [1, 1, 1, 4]");
  }
}
