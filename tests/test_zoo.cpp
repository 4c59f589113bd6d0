// The CIFAR model zoo (zoo/zoo.h and the family headers): parameter counts and multiply-adds
// equal to those of the reference definitions (RepDistiller's models/, measured with PyTorch:
// parameters summed over model.parameters(), multiply-adds by forward hooks on Conv2d
// (output numel x weight[0].numel()) and Linear (output numel x in_features) on a zero
// 3 x 32 x 32 image), logits shapes, batch-norm train/eval behaviour and 1-channel 28 x 28 input.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "distillery/zoo/mobilenet_v2.h"
#include "distillery/zoo/resnet.h"
#include "distillery/zoo/shufflenet_v2.h"
#include "distillery/zoo/vgg.h"
#include "distillery/zoo/wide_resnet.h"
#include "distillery/zoo/zoo.h"
#include "test_util.h"

using distillery::InputShape;
using distillery::zoo::build_zoo_model;

namespace {

struct Reference {
  std::string name;
  int64_t parameters;     // at 100 classes, 3 input channels
  int64_t multiply_adds;  // per 3 x 32 x 32 image at 100 classes
  int64_t stem_weights;   // weights of the first convolution per input channel
  int64_t features;       // inputs of the Linear head
};

const std::vector<Reference>& references() {
  static const std::vector<Reference> table{
      {"resnet8", 83892, 12507392, 16 * 9, 64},
      {"resnet20", 278324, 40818944, 16 * 9, 64},
      {"resnet32", 472756, 69130496, 16 * 9, 64},
      {"resnet56", 861620, 125753600, 16 * 9, 64},
      {"resnet110", 1736564, 253155584, 16 * 9, 64},
      {"resnet8x4", 1233540, 177071104, 32 * 9, 256},
      {"resnet32x4", 7433860, 1083040768, 32 * 9, 256},
      {"wrn_16_2", 703284, 101118464, 16 * 9, 128},
      {"wrn_40_1", 569780, 83286272, 16 * 9, 64},
      {"wrn_40_2", 2255156, 327610880, 16 * 9, 128},
      {"mobilenetv2", 812836, 6523648, 16 * 9, 1280},
      {"shufflev2", 1355528, 44504448, 24, 1024},
      {"vgg8", 3965028, 96192512, 64 * 9, 512},
      {"vgg13", 9462180, 284936192, 64 * 9, 512},
  };
  return table;
}

class Zoo : public ::testing::TestWithParam<Reference> {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_P(Zoo, ParametersAndMultiplyAddsEqualTheReferenceAt100Classes) {
  const auto& ref = GetParam();
  const InputShape cifar{3, 32, 32};
  auto model = build_zoo_model(ref.name, cifar, 100);
  EXPECT_EQ(distillery::count_parameters(model.module()), ref.parameters);
  EXPECT_EQ(distillery::count_multiply_adds(model, cifar), ref.multiply_adds);
  EXPECT_TRUE(model->is_training());  // restored by count_multiply_adds
}

TEST_P(Zoo, MapsImagesToLogitsWithBatchNormInTrainingAndFixedStatisticsInEval) {
  const auto& ref = GetParam();
  auto model = build_zoo_model(ref.name, {3, 32, 32}, 100);
  const auto x = torch::randn({2, 3, 32, 32});
  // In training, batch statistics: the running statistics of every BatchNorm move.
  std::vector<std::pair<std::string, torch::Tensor>> means;
  for (const auto& item : model->named_buffers()) {
    const auto& key = item.key();
    if (key.size() > 12 && key.compare(key.size() - 12, 12, "running_mean") == 0) {
      means.emplace_back(key, item.value().clone());
    }
  }
  ASSERT_FALSE(means.empty());
  const auto train_logits = model(x);
  EXPECT_EQ(train_logits.sizes(), (std::vector<int64_t>{2, 100}));
  const auto buffers = model->named_buffers();
  for (const auto& [key, before] : means) EXPECT_FALSE(torch::equal(before, buffers[key])) << key;
  model->eval();
  torch::NoGradGuard no_grad;
  const auto eval_logits = model(x);
  EXPECT_EQ(eval_logits.sizes(), (std::vector<int64_t>{2, 100}));
  EXPECT_TRUE(torch::isfinite(eval_logits).all().item<bool>());
  // In eval mode an image's logits do not depend on its batch.
  EXPECT_TRUE(torch::allclose(model(x.slice(0, 0, 1)), eval_logits.slice(0, 0, 1), 1e-4, 1e-5));
  EXPECT_FALSE(torch::allclose(train_logits, eval_logits, 1e-4, 1e-5));
}

TEST_P(Zoo, TakesOneChannel28x28ImagesThroughItsStem) {
  const auto& ref = GetParam();
  auto model = build_zoo_model(ref.name, {1, 28, 28}, 10);
  // Two input channels fewer in the stem, 90 classes fewer in the head.
  EXPECT_EQ(distillery::count_parameters(model.module()),
            ref.parameters - 2 * ref.stem_weights - 90 * (ref.features + 1));
  model->eval();
  torch::NoGradGuard no_grad;
  const auto logits = model(torch::rand({2, 1, 28, 28}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_GT(distillery::count_multiply_adds(model, {1, 28, 28}), 0);
}

INSTANTIATE_TEST_SUITE_P(Models, Zoo, ::testing::ValuesIn(references()),
                         [](const ::testing::TestParamInfo<Reference>& info) {
                           return info.param.name;
                         });

TEST(ZooRegistry, ListsEveryModelOfTheIssueAndRefusesUnknownNames) {
  std::vector<std::string> expected;
  for (const auto& ref : references()) expected.push_back(ref.name);
  EXPECT_EQ(distillery::zoo::zoo_model_names(), expected);
  EXPECT_EQ(distillery::test::error_of_type<std::invalid_argument>(
                [] { build_zoo_model("resnet18", {3, 32, 32}, 10); }),
            "unknown zoo model 'resnet18' (known: resnet8, resnet20, resnet32, resnet56, "
            "resnet110, resnet8x4, resnet32x4, wrn_16_2, wrn_40_1, wrn_40_2, mobilenetv2, "
            "shufflev2, vgg8, vgg13)");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [] { build_zoo_model("vgg8", {1, 7, 7}, 10); }),
            "vgg8 needs images of at least 8 x 8 pixels (three 2 x 2 poolings), got 7x7");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [] { build_zoo_model("resnet8", {3, 32, 32}, 0); }),
            "resnet8: num_classes must be positive, got 0");
}

TEST(ZooFamilies, OptionsAreCheckedWithMessagesNamingThem) {
  using namespace distillery::zoo;
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [] { ResNet(ResNetOptions().depth(21)); }),
            "ResNet depth must be 6n + 2 with n >= 1 (8, 20, 32, 56, 110), got 21");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [] { WideResNet(WideResNetOptions().depth(18)); }),
            "WideResNet depth must be 6n + 4 with n >= 1 (16, 40), got 18");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [] { MobileNetV2(MobileNetV2Options().width(0.05)); }),
            "MobileNetV2 width 0.05 leaves the first stage without channels (int(16 * width) = "
            "0); use >= 0.0625");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [] { ShuffleNetV2(ShuffleNetV2Options().channels({116, 231, 464, 1024})); }),
            "ShuffleNetV2 channels must be positive (the stages' even), got 231");
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [] { VGG(VGGOptions().blocks({{64}, {128}})); }),
            "VGG needs 5 blocks of convolutions, got 2");
}

TEST(ZooFamilies, MobileNetV2WidthScalesTheChannelsAsTheReference) {
  using namespace distillery::zoo;
  // Width 1: stem 32, stages 16 ... 320, 1280 last channels; the reference's
  // mobilenetv2_T_w(6, 1.0, 100) has 2,353,060 parameters.
  MobileNetV2 full(MobileNetV2Options().width(1.0).num_classes(100));
  EXPECT_EQ(distillery::count_parameters(*full), 2353060);
  EXPECT_EQ(full->conv1->ptr(0)->as<torch::nn::Conv2dImpl>()->weight.size(0), 32);
}

TEST(ZooFamilies, ResNetStateDictKeysAreThoseOfTheReference) {
  // The keys of RepDistiller's resnet8(num_classes=100).state_dict(), in its order, so that a
  // checkpoint saved from it loads with load_state_dict (parameters and buffers by name).
  std::vector<std::string> reference{
      "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
      "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer1.0.bn1.weight",
      "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
      "layer1.0.bn1.num_batches_tracked", "layer1.0.conv2.weight", "layer1.0.bn2.weight",
      "layer1.0.bn2.bias", "layer1.0.bn2.running_mean", "layer1.0.bn2.running_var",
      "layer1.0.bn2.num_batches_tracked", "layer2.0.conv1.weight", "layer2.0.bn1.weight",
      "layer2.0.bn1.bias", "layer2.0.bn1.running_mean", "layer2.0.bn1.running_var",
      "layer2.0.bn1.num_batches_tracked", "layer2.0.conv2.weight", "layer2.0.bn2.weight",
      "layer2.0.bn2.bias", "layer2.0.bn2.running_mean", "layer2.0.bn2.running_var",
      "layer2.0.bn2.num_batches_tracked", "layer2.0.downsample.0.weight",
      "layer2.0.downsample.1.weight", "layer2.0.downsample.1.bias",
      "layer2.0.downsample.1.running_mean", "layer2.0.downsample.1.running_var",
      "layer2.0.downsample.1.num_batches_tracked", "layer3.0.conv1.weight",
      "layer3.0.bn1.weight", "layer3.0.bn1.bias", "layer3.0.bn1.running_mean",
      "layer3.0.bn1.running_var", "layer3.0.bn1.num_batches_tracked", "layer3.0.conv2.weight",
      "layer3.0.bn2.weight", "layer3.0.bn2.bias", "layer3.0.bn2.running_mean",
      "layer3.0.bn2.running_var", "layer3.0.bn2.num_batches_tracked",
      "layer3.0.downsample.0.weight", "layer3.0.downsample.1.weight",
      "layer3.0.downsample.1.bias", "layer3.0.downsample.1.running_mean",
      "layer3.0.downsample.1.running_var", "layer3.0.downsample.1.num_batches_tracked",
      "fc.weight", "fc.bias"
  };
  auto model = build_zoo_model("resnet8", {3, 32, 32}, 100);
  std::vector<std::string> ours;
  for (const auto& item : model->named_parameters()) ours.push_back(item.key());
  for (const auto& item : model->named_buffers()) ours.push_back(item.key());
  std::sort(ours.begin(), ours.end());
  std::sort(reference.begin(), reference.end());
  EXPECT_EQ(ours, reference);
  const auto parameters = model->named_parameters();
  EXPECT_EQ(parameters["layer2.0.downsample.0.weight"].sizes(),
            (std::vector<int64_t>{32, 16, 1, 1}));
  EXPECT_EQ(parameters["fc.weight"].sizes(), (std::vector<int64_t>{100, 64}));
}

// clone() (Cloneable) rebuilds the submodules and copies the weights and buffers: the copy
// computes the same logits and owns its parameters.
template <typename Holder, typename Options>
void expect_clone_is_independent(const Options& options) {
  torch::manual_seed(2);
  Holder net(options);
  net->eval();
  const auto x = torch::randn({2, 1, 28, 28});
  auto copy = std::dynamic_pointer_cast<typename Holder::ContainedType>(net->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(torch::equal(copy->forward(x), net->forward(x)));
  const auto ours = net->parameters(), theirs = copy->parameters();
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_NE(ours[i].data_ptr(), theirs[i].data_ptr()) << i;
  }
}

TEST(ZooFamilies, EachFamilyClonesIntoAnIndependentCopy) {
  using namespace distillery::zoo;
  expect_clone_is_independent<ResNet>(ResNetOptions().depth(8).input_channels(1));
  expect_clone_is_independent<WideResNet>(WideResNetOptions().depth(10).input_channels(1));
  expect_clone_is_independent<MobileNetV2>(MobileNetV2Options().width(0.25).input_channels(1));
  expect_clone_is_independent<ShuffleNetV2>(
      ShuffleNetV2Options().channels({8, 16, 32, 64}).blocks({1, 1, 1}).input_channels(1));
  expect_clone_is_independent<VGG>(
      VGGOptions().blocks({{4}, {8}, {8}, {16}, {16}}).input_channels(1));
}

}  // namespace
