// The omitted-class bias shift (Hinton et al. 2015, §3) on any model: the output layer is the
// last torch::nn::Linear in named_modules() order, or given explicitly.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "distillery/bias_correction.h"
#include "distillery/models.h"
#include "test_util.h"

namespace {

std::string error_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<c10::Error>(f);
}

// A classifier as users write them: a body of its own holding a hidden Linear, and a head
// nested one level down (classifier.fc), registered after the body.
struct BodyImpl : torch::nn::Module {
  BodyImpl() : hidden(register_module("hidden", torch::nn::Linear(4, 6))) {}
  torch::Tensor forward(const torch::Tensor& x) { return torch::relu(hidden(x.flatten(1))); }
  torch::nn::Linear hidden;
};
TORCH_MODULE(Body);

struct ClassifierImpl : torch::nn::Module {
  ClassifierImpl() : fc(register_module("fc", torch::nn::Linear(6, 3))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc(x); }
  torch::nn::Linear fc;
};
TORCH_MODULE(Classifier);

struct NetImpl : torch::nn::Module {
  NetImpl()
      : body(register_module("body", Body())),
        classifier(register_module("classifier", Classifier())) {}
  torch::Tensor forward(const torch::Tensor& x) { return classifier(body(x)); }
  Body body;
  Classifier classifier;
};
TORCH_MODULE(Net);

TEST(ShiftClassBias, FindsTheNestedHeadOfACustomModel) {
  torch::manual_seed(0);
  Net net;
  const auto hidden_bias = net->body->hidden->bias.clone();
  const auto head_bias = net->classifier->fc->bias.clone();
  distillery::shift_class_bias(net, 1, 2.5);
  // Only entry 1 of the head's bias moves, by exactly 2.5 (float32: b + 2.5 rounded once).
  auto expected = head_bias.clone();
  expected[1] += 2.5;
  EXPECT_TRUE(torch::equal(net->classifier->fc->bias, expected));
  EXPECT_TRUE(torch::equal(net->body->hidden->bias, hidden_bias));
}

TEST(ShiftClassBias, FindsTheLastLinearOfASequential) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({5}), {1, 2, 2}, 4);
  const auto x = torch::randn({3, 1, 2, 2});
  torch::NoGradGuard no_grad;
  const auto before = model->forward(x);
  distillery::shift_class_bias(model, 3, -1.5);
  const auto change = model->forward(x) - before;  // [3, 4]: -1.5 in column 3 only
  EXPECT_TRUE(torch::allclose(change, torch::tensor({0.0, 0.0, 0.0, -1.5}).expand({3, 4}),
                              0.0, 1e-6));
}

TEST(ShiftClassBias, TakesTheOutputLayerExplicitly) {
  // A model that registers a Linear after its output layer: the rule would pick `projection`,
  // so the output layer is passed by hand.
  struct WithProjectionImpl : torch::nn::Module {
    WithProjectionImpl()
        : head(register_module("head", torch::nn::Linear(4, 3))),
          projection(register_module("projection", torch::nn::Linear(4, 2))) {}
    torch::Tensor forward(const torch::Tensor& x) { return head(x.flatten(1)); }
    torch::nn::Linear head, projection;
  };
  const auto model = std::make_shared<WithProjectionImpl>();
  const auto head_bias = model->head->bias.clone();
  const auto projection_bias = model->projection->bias.clone();
  distillery::shift_class_bias(*model->head, 0, 1.0);
  auto expected = head_bias.clone();
  expected[0] += 1.0;
  EXPECT_TRUE(torch::equal(model->head->bias, expected));
  EXPECT_TRUE(torch::equal(model->projection->bias, projection_bias));
  // And the rule itself: the last one registered.
  distillery::shift_class_bias(model, 1, 4.0);
  expected = projection_bias.clone();
  expected[1] += 4.0;
  EXPECT_TRUE(torch::equal(model->projection->bias, expected));
}

TEST(ShiftClassBias, ErrorsSayWhatIsMissing) {
  torch::nn::Sequential convolutional(torch::nn::Conv2d(1, 2, 3), torch::nn::Flatten());
  EXPECT_EQ(error_of([&] { distillery::shift_class_bias(convolutional, 0, 1.0); }),
            "shift_class_bias: the model has no torch::nn::Linear with a bias; pass its output "
            "layer explicitly");
  torch::nn::Sequential unbiased(torch::nn::Flatten(), torch::nn::Linear(4, 5),
                                 torch::nn::Linear(torch::nn::LinearOptions(5, 3).bias(false)));
  EXPECT_EQ(error_of([&] { distillery::shift_class_bias(unbiased, 0, 1.0); }),
            "shift_class_bias: the model's last torch::nn::Linear ('2') has no bias; pass its "
            "output layer explicitly");
  torch::nn::Linear bare(torch::nn::LinearOptions(5, 3).bias(false));
  EXPECT_EQ(error_of([&] { distillery::shift_class_bias(bare, 0, 1.0); }),
            "shift_class_bias: the model's last torch::nn::Linear (the model itself) has no "
            "bias; pass its output layer explicitly");
  EXPECT_EQ(error_of([&] { distillery::shift_class_bias(*bare, 0, 1.0); }),
            "shift_class_bias: the output layer has no bias");
  Net net;
  EXPECT_EQ(error_of([&] { distillery::shift_class_bias(net, 3, 1.0); }),
            "shift_class_bias: class index 3 is outside [0, 3) (the output layer's out_features)");
  EXPECT_EQ(error_of([&] { distillery::shift_class_bias(*net->classifier->fc, -1, 1.0); }),
            "shift_class_bias: class index -1 is outside [0, 3) (the output layer's out_features)");
}

TEST(ShiftClassBias, ANonFiniteDeltaIsRefused) {
  torch::nn::Linear head(3, 2);
  try {
    distillery::shift_class_bias(*head, 0, std::numeric_limits<double>::quiet_NaN());
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "shift_class_bias: delta must be finite, got nan");
  }
}

}  // namespace
