// Size and cost of any module (model_size.h): every count is checked against a hand count
// written next to it, on user-defined nested modules as well as on Sequentials.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <tuple>

#include "distillery/model.h"
#include "distillery/model_size.h"
#include "distillery/models.h"
#include "test_util.h"

using distillery::InputShape;

namespace {

std::string error_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<c10::Error>(f);
}

// A residual block as users write them: conv 3x3 (no bias) -> BatchNorm -> + skip -> ReLU.
struct ResidualBlockImpl : torch::nn::Module {
  explicit ResidualBlockImpl(int64_t channels)
      : conv(register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                             channels, channels, 3).padding(1).bias(false)))),
        norm(register_module("norm", torch::nn::BatchNorm2d(channels))) {}
  torch::Tensor forward(const torch::Tensor& x) { return torch::relu(norm(conv(x)) + x); }
  torch::nn::Conv2d conv;
  torch::nn::BatchNorm2d norm;
};
TORCH_MODULE(ResidualBlock);

// Stem conv 1 -> 4 (3x3, bias), two residual blocks, global average pooling, Linear head 4 -> 10.
struct ResidualNetImpl : torch::nn::Module {
  ResidualNetImpl()
      : stem(register_module("stem",
                             torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)))),
        first(register_module("first", ResidualBlock(4))),
        second(register_module("second", ResidualBlock(4))),
        head(register_module("head", torch::nn::Linear(4, 10))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = second(first(torch::relu(stem(x))));
    return head(torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1));
  }
  torch::nn::Conv2d stem;
  ResidualBlock first, second;
  torch::nn::Linear head;
};
TORCH_MODULE(ResidualNet);

TEST(ModelSize, NestedResidualNetworkMatchesAHandCount) {
  ResidualNet net;
  // On a 1 x 8 x 8 image ("same" padding keeps 8 x 8 throughout):
  //   stem:   4 * 8 * 8 = 256 outputs, each 1 * 3 * 3 = 9 multiply-adds     ->  2304
  //   blocks: 4 * 8 * 8 = 256 outputs, each 4 * 3 * 3 = 36, twice           -> 18432
  //   head:   10 outputs, each 4                                           ->    40
  // BatchNorm, the skip additions, ReLU and the pooling count 0.
  EXPECT_EQ(distillery::count_multiply_adds(net, {1, 8, 8}), 2304 + 2 * 9216 + 40);
  // Parameters: stem 4 * 9 + 4 = 40; each block 4 * 4 * 9 (conv, no bias) + 4 + 4 (BatchNorm
  // weight and bias) = 152; head 4 * 10 + 10 = 50. The running statistics are buffers.
  EXPECT_EQ(distillery::count_parameters(*net), 40 + 2 * 152 + 50);
}

TEST(ModelSize, CountingRunsInEvalModeAndRestoresEachModulesMode) {
  ResidualNet net;
  net->train();
  net->second->eval();  // a mixed tree: one block frozen in eval mode
  const auto running_var = net->first->norm->running_var.clone();
  distillery::count_multiply_adds(net, {1, 8, 8});
  EXPECT_TRUE(net->is_training());
  EXPECT_TRUE(net->first->is_training());
  EXPECT_TRUE(net->first->norm->is_training());
  EXPECT_FALSE(net->second->is_training());
  EXPECT_FALSE(net->second->norm->is_training());
  // In training mode the probe would have moved the running variance (0.9 * 1 + 0.1 * 0).
  EXPECT_TRUE(torch::equal(net->first->norm->running_var, running_var));
  EXPECT_EQ(net->first->norm->num_batches_tracked.item<int64_t>(), 0);
}

TEST(ModelSize, GroupedAndDepthwiseConvolutionsCountInChannelsPerGroup) {
  // 4 -> 8 channels in 2 groups, 3x3, padding 1 on 4 x 6 x 6: 8 * 6 * 6 = 288 outputs, each
  // (4 / 2) * 3 * 3 = 18 multiply-adds.
  torch::nn::Conv2d grouped(torch::nn::Conv2dOptions(4, 8, 3).padding(1).groups(2));
  EXPECT_EQ(distillery::count_multiply_adds(grouped, {4, 6, 6}), 288 * 18);
  // Depthwise 4 -> 4, groups 4, stride 2, padding 1 on 4 x 6 x 6: 4 * 3 * 3 = 36 outputs, each
  // 1 * 3 * 3 = 9.
  torch::nn::Conv2d depthwise(torch::nn::Conv2dOptions(4, 4, 3).stride(2).padding(1).groups(4));
  EXPECT_EQ(distillery::count_multiply_adds(depthwise, {4, 6, 6}), 36 * 9);
  EXPECT_EQ(distillery::count_parameters(*depthwise), 4 * 1 * 9 + 4);
}

// Conv1d over the flattened rows of the image: [1, C, H, W] -> [1, C, H * W].
struct SignalNetImpl : torch::nn::Module {
  SignalNetImpl() : conv(register_module("conv", torch::nn::Conv1d(2, 3, 3))) {}
  torch::Tensor forward(const torch::Tensor& x) { return conv(x.flatten(2)).flatten(1); }
  torch::nn::Conv1d conv;
};
TORCH_MODULE(SignalNet);

TEST(ModelSize, Conv1dAndTransposedConvolution) {
  // 2 channels of length 1 * 10, kernel 3, no padding: 3 * 8 = 24 outputs, each 2 * 3 = 6.
  SignalNet signal;
  EXPECT_EQ(distillery::count_multiply_adds(signal, {2, 1, 10}), 24 * 6);
  // Transposed 2 -> 3, kernel 2, stride 2 on 2 x 3 x 3: each of the 18 input elements is
  // spread over 3 * 2 * 2 = 12 outputs (the same as 3 * 6 * 6 = 108 outputs, each from 2).
  torch::nn::ConvTranspose2d up(torch::nn::ConvTranspose2dOptions(2, 3, 2).stride(2));
  EXPECT_EQ(distillery::count_multiply_adds(up, {2, 3, 3}), 18 * 12);
}

// A forward that returns the logits and the features they came from.
struct TwoOutputsImpl : torch::nn::Module {
  TwoOutputsImpl() : head(register_module("head", torch::nn::Linear(6, 5))) {}
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    const auto features = x.flatten(1);
    return {head(features), features};
  }
  torch::nn::Linear head;
};
TORCH_MODULE(TwoOutputs);

// One Linear applied twice: its cost counts twice, its parameters once.
struct SharedLayerImpl : torch::nn::Module {
  SharedLayerImpl() : layer(register_module("layer", torch::nn::Linear(4, 4))) {}
  torch::Tensor forward(const torch::Tensor& x) { return layer(torch::relu(layer(x.flatten(1)))); }
  torch::nn::Linear layer;
};
TORCH_MODULE(SharedLayer);

TEST(ModelSize, LogitsFromAndALayerUsedTwice) {
  TwoOutputs two;
  const auto model =
      distillery::logits_from(two, [](const auto& out) { return std::get<0>(out); });
  EXPECT_EQ(distillery::count_multiply_adds(model, {1, 2, 3}), 5 * 6);  // 5 outputs of 6 inputs
  SharedLayer shared;
  EXPECT_EQ(distillery::count_multiply_adds(shared, {1, 2, 2}), 2 * (4 * 4));
  EXPECT_EQ(distillery::count_parameters(*shared), 4 * 4 + 4);
}

TEST(ModelSize, TiedParametersCountOnce) {
  struct TiedImpl : torch::nn::Module {
    TiedImpl() : layer(torch::nn::Linear(3, 3)) {
      register_module("encoder", layer);
      register_module("decoder", layer);  // the same module under a second name
    }
    torch::nn::Linear layer;
  };
  const auto tied = std::make_shared<TiedImpl>();
  ASSERT_EQ(tied->parameters().size(), 4u);  // listed under both names
  EXPECT_EQ(distillery::count_parameters(*tied), 3 * 3 + 3);
}

TEST(ModelSize, ElementWiseNormalisationAndPoolingCountZero) {
  torch::nn::Sequential net(torch::nn::BatchNorm2d(3), torch::nn::ReLU(), torch::nn::MaxPool2d(2),
                            distillery::MaxPool2x2(), torch::nn::Dropout(0.5),
                            torch::nn::Flatten());
  EXPECT_EQ(distillery::count_multiply_adds(net, {3, 8, 8}), 0);
  EXPECT_EQ(distillery::count_parameters(*net), 3 + 3);
}

TEST(ModelSize, MatrixProductsCountTheInnerDimension) {
  // x [1, 12] viewed as [3, 4]; times w [4, 5]: 3 * 5 outputs, each 4 multiply-adds; then
  // baddbmm of [1, 3, 5] x [1, 5, 2]: 6 outputs, each 5.
  struct ProductsImpl : torch::nn::Module {
    ProductsImpl() {
      w = register_parameter("w", torch::randn({4, 5}));
      v = register_parameter("v", torch::randn({1, 5, 2}));
    }
    torch::Tensor forward(const torch::Tensor& x) {
      const auto product = torch::mm(x.view({3, 4}), w);  // [3, 5]
      return torch::baddbmm(torch::zeros({1, 3, 2}), product.unsqueeze(0), v).flatten(1);
    }
    torch::Tensor w, v;
  };
  EXPECT_EQ(distillery::count_multiply_adds(std::make_shared<ProductsImpl>(), {1, 3, 4}),
            3 * 5 * 4 + 6 * 5);
}

// A recurrent layer hides its matrix products inside one operator.
struct RecurrentImpl : torch::nn::Module {
  RecurrentImpl() : lstm(register_module("lstm", torch::nn::LSTM(4, 3))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    // [1, C, H, W] -> sequence of length 1, batch C, H * W features.
    return std::get<0>(lstm(x.flatten(2))).flatten(1);
  }
  torch::nn::LSTM lstm;
};
TORCH_MODULE(Recurrent);

TEST(ModelSize, AnOperatorHidingMatrixProductsIsRefusedByName) {
  Recurrent recurrent;
  EXPECT_EQ(error_of([&] { distillery::count_multiply_adds(recurrent, {2, 2, 2}); }),
            "count_multiply_adds: cannot count the multiply-adds of aten::lstm; its matrix "
            "products are hidden inside one operator (count that part of the model by hand)");
  EXPECT_TRUE(recurrent->is_training());  // the mode is restored on error too
}

TEST(ModelSize, AForwardThatFailsOnTheProbeImageNamesItsShape) {
  torch::nn::Sequential net(torch::nn::Flatten(), torch::nn::Linear(784, 10));
  const auto message = error_of([&] { distillery::count_multiply_adds(net, {3, 8, 8}); });
  EXPECT_EQ(message.rfind("count_multiply_adds: could not trace the model's forward on a "
                          "[1, 3, 8, 8] image: ",
                          0),
            0u)
      << message;
  EXPECT_EQ(error_of([&] { distillery::count_multiply_adds(net, {0, 8, 8}); }),
            "count_multiply_adds: the input shape must be positive, got [0, 8, 8]");
  // The tracer was left: another count works.
  EXPECT_EQ(distillery::count_multiply_adds(net, {1, 28, 28}), 784 * 10);
}

}  // namespace
