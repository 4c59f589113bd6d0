// trainer.h's options objects: evaluation as a callback, one door for any module, no hidden
// global state, and the name tables of TrainerOptions' enums.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "distillery/callbacks.h"
#include "distillery/metrics.h"
#include "distillery/models.h"
#include "distillery/soft_targets.h"
#include "distillery/trainer.h"
#include "trainer_fixture.h"

namespace {

using distillery::test::ThreadCount;
using distillery::test::TrainerTest;

TEST(TrainerOptionsNames, EachEnumHasOneNameTableUsedBothWays) {
  EXPECT_EQ(distillery::optimizer_names().name(distillery::Optimizer::kSgd), "sgd");
  EXPECT_EQ(distillery::optimizer_names().parse("adam", "optimizer"), distillery::Optimizer::kAdam);
  EXPECT_EQ(distillery::lr_schedule_names().choices(),
            "\"constant\", \"cosine\", \"step\" or \"multistep\"");
  try {
    distillery::optimizer_names().parse("adagrad", "optimizer");
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "optimizer must be \"adam\" or \"sgd\", got \"adagrad\"");
  }
  EXPECT_EQ(distillery::parse_device("cuda:1"), torch::Device("cuda:1"));
  try {
    distillery::parse_device("mps");
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"mps\"");
  }
}


// A model of one's own, not a Sequential: a residual block between two Linear layers.
struct ResidualMlpImpl : torch::nn::Module {
  torch::nn::Linear in{nullptr}, hidden{nullptr}, head{nullptr};
  ResidualMlpImpl() {
    in = register_module("in", torch::nn::Linear(2, 16));
    hidden = register_module("hidden", torch::nn::Linear(16, 16));
    head = register_module("head", torch::nn::Linear(16, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto h = torch::relu(in(x.flatten(1)));
    return head(h + torch::relu(hidden(h)));
  }
};
TORCH_MODULE(ResidualMlp);

// Returns (logits, features), as a model that serves later methods might.
struct TwoOutputsImpl : torch::nn::Module {
  torch::nn::Linear body{nullptr}, head{nullptr};
  TwoOutputsImpl() {
    body = register_module("body", torch::nn::Linear(2, 8));
    head = register_module("head", torch::nn::Linear(8, 4));
  }
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    const auto features = torch::relu(body(x.flatten(1)));
    return {head(features), features};
  }
};
TORCH_MODULE(TwoOutputs);

TEST_F(TrainerTest, AModelOfOnesOwnIsTrainedAndDistilledThroughTheSameDoor) {
  ResidualMlp teacher_net;
  const auto teacher_run = distillery::train_supervised(teacher_net, train, with_test(options));
  EXPECT_GE(teacher_run.evaluation("test").accuracy, 0.95);
  EXPECT_FALSE(teacher_net->is_training());
  distillery::Teacher teacher(teacher_net);
  TwoOutputs student;
  const auto run = distillery::distill(
      distillery::logits_from(student, [](const auto& out) { return std::get<0>(out); }), teacher,
      train, distillery::DistillOptions().trainer(options).evaluate_on("test", test));
  EXPECT_GE(run.evaluation("test").accuracy, 0.95);
}

TEST_F(TrainerTest, WithoutAnEvaluationNoneIsMadeAndAskingForOneSaysHowToAdd) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  const auto result =
      distillery::train_supervised(model, train, distillery::TrainOptions().trainer(options.epochs(1)));
  ASSERT_EQ(result.history.size(), 1u);
  EXPECT_TRUE(result.history[0].evaluations.empty());
  try {
    result.evaluation("test");
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "no evaluation named \"test\" after the last epoch; add one with "
                       "evaluate_on(\"test\", dataset) or an Evaluate callback");
  }
}

// Sees the evaluations when the epoch ends, whatever its place among the callbacks.
struct SeenEvaluations : distillery::Callback {
  std::vector<std::string> names;
  void on_epoch_end(const distillery::EpochMetrics& m) override {
    for (const auto& [name, result] : m.evaluations) names.push_back(name);
  }
};

TEST_F(TrainerTest, EveryCallbackSeesEveryEvaluationWhateverItsOrder) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  auto seen = std::make_shared<SeenEvaluations>();
  const auto result = distillery::train_supervised(
      model, train,
      distillery::TrainOptions().trainer(options.epochs(1)).callbacks({seen})
          .evaluate_on("validation", train).evaluate_on("test", test));
  EXPECT_EQ(seen->names, (std::vector<std::string>{"test", "validation"}));
  EXPECT_EQ(result.evaluation("validation").examples, 800);
  EXPECT_EQ(result.evaluation("test").examples, 400);
  // The evaluation equals one made afterwards on the trained model.
  const auto again = distillery::evaluate(model, test);
  EXPECT_EQ(again.errors, result.evaluation("test").errors);
  EXPECT_DOUBLE_EQ(again.nll, result.evaluation("test").nll);
}

TEST_F(TrainerTest, AnUnlabeledEvaluationSetIsRefusedBeforeTraining) {
  auto unlabeled = test;
  unlabeled.labels = torch::Tensor();
  try {
    distillery::TrainOptions().evaluate_on("test", unlabeled);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "test: the set to evaluate must be labeled");
  }
}

TEST_F(TrainerTest, TheThreadCountIsPutBackAndTheGlobalGeneratorLeftAloneUnlessAsked) {
  torch::set_num_threads(1);
  auto count = std::make_shared<ThreadCount>();
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  torch::manual_seed(42);
  distillery::train_supervised(
      model, train,
      distillery::TrainOptions().trainer(options.epochs(1).threads(2).reseed(false))
          .callbacks({count}));
  const auto after_training = torch::rand({3});
  torch::manual_seed(42);
  EXPECT_TRUE(torch::equal(after_training, torch::rand({3})));  // neither reseeded nor drawn
  EXPECT_EQ(count->during, 2);
  EXPECT_EQ(torch::get_num_threads(), 1);  // put back
  // reseed: the phase starts from torch::manual_seed(seed).
  distillery::train_supervised(
      model, train, distillery::TrainOptions().trainer(options.epochs(1).seed(7).reseed(true)));
  const auto reseeded = torch::rand({3});
  torch::manual_seed(7);
  EXPECT_TRUE(torch::equal(reseeded, torch::rand({3})));
}

TEST_F(TrainerTest, DistillPassesTheTemperatureAndLeavesTheTeacherAsItWas) {
  torch::manual_seed(3);
  auto a = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  auto b = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  // An arithmetic ensemble built at T = 1: its mean at T = 4 differs from its mean at T = 1.
  auto ensemble = distillery::make_ensemble({distillery::Teacher(a), distillery::Teacher(b)},
                                            distillery::EnsembleMode::kArithmetic, 1.0);
  const auto x = test.images.narrow(0, 0, 5);
  ASSERT_FALSE(torch::allclose(ensemble->logits(x, 4.0), ensemble->forward(x)));
  const auto loss = distillery::KDLossOptions().temperature(4.0).alpha(1.0);
  const auto o = distillery::DistillOptions().trainer(options.epochs(2).threads(1)).loss(loss);
  auto run = [&](bool online) {
    torch::manual_seed(9);
    auto student = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
    if (online) {
      distillery::distill(student, ensemble, train, o);
    } else {
      // Stored soft targets combine the members at the loss's T (SoftTargets::logits).
      distillery::distill(student, distillery::compute_soft_targets(ensemble, train), train, o);
    }
    return student;
  };
  auto online = run(true), stored = run(false);
  for (std::size_t i = 0; i < online->parameters().size(); ++i) {
    EXPECT_TRUE(torch::allclose(online->parameters()[i], stored->parameters()[i], 1e-5, 1e-6))
        << i;
  }
  EXPECT_DOUBLE_EQ(ensemble->temperature(), 1.0);  // passed to it, never set on it
}

TEST_F(TrainerTest, SettingTheCallbacksAfterEvaluateOnKeepsTheEvaluation) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  auto seen = std::make_shared<SeenEvaluations>();
  const auto result = distillery::train_supervised(
      model, train,
      distillery::TrainOptions().trainer(options.epochs(1)).evaluate_on("test", test)
          .callbacks({seen}));
  EXPECT_EQ(result.evaluation("test").examples, 400);
  EXPECT_EQ(seen->names, (std::vector<std::string>{"test"}));
}

// Yields no batch at all.
struct EmptySampler : distillery::data::Sampler {
  void reset(int64_t) override {}
  std::optional<torch::Tensor> next() override { return std::nullopt; }
  int64_t batches_per_epoch() const override { return 0; }
};

TEST_F(TrainerTest, BadInputsAreNamedBeforeOrInsteadOfANanLoss) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  EmptySampler empty;
  auto objective = [](const torch::Tensor& logits, const torch::Tensor&, const torch::Tensor&) {
    return logits.sum();
  };
  try {
    distillery::train_with_objective(model, train, empty, objective,
                                     distillery::TrainOptions().trainer(options.epochs(1)));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "train: the sampler gave no batch in epoch 1 (an empty training set "
                           "or sampler)");
  }
  distillery::Teacher teacher(model);
  auto flat = distillery::Model(model.ptr(), [model](const torch::Tensor& x) mutable {
    return model->forward(x).sum(1);  // [B]: not logits
  });
  try {
    distillery::distill(flat, teacher, train, distillery::DistillOptions().trainer(options));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "the student's logits must be [B, C], got shape [1]");
  }
  try {
    distillery::validate(distillery::TrainerOptions().optimizer(distillery::Optimizer(5)));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "optimizer must be \"adam\" or \"sgd\", got the value 5");
  }
  for (const char* device : {"cuda:00", "cuda:-1", "gpu"}) {
    try {
      distillery::parse_device(device);
      FAIL() << device;
    } catch (const c10::Error& e) {
      EXPECT_EQ(e.msg(), std::string("device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"") +
                             device + "\"");
    }
  }
}

TEST_F(TrainerTest, UnlabeledDistillationKeepsTheLossReduction) {
  auto unlabeled = train;
  unlabeled.labels = torch::Tensor();
  auto teacher_net = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
  distillery::Teacher teacher(teacher_net);
  auto first_loss = [&](distillery::Reduction reduction) {
    torch::manual_seed(2);
    auto student = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 4);
    const auto loss = distillery::KDLossOptions().temperature(2.0).alpha(1.0).reduction(reduction);
    // One batch of 32 and a tiny rate: the epoch's loss is the first step's.
    return distillery::distill(student, teacher, distillery::data::Dataset(unlabeled).head(32),
                               distillery::DistillOptions().loss(loss).trainer(
                                   options.epochs(1).learning_rate(1e-12)))
        .history[0].train_loss;
  };
  EXPECT_NEAR(first_loss(torch::kSum), 32 * first_loss(torch::kMean), 1e-4);
  try {
    first_loss(torch::kNone);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "the loss's reduction must be mean or sum to train on it, got none");
  }
}

TEST_F(TrainerTest, EvaluateAndComputeLogitsTakeAHolderOfOnesOwn) {
  ResidualMlp net;
  const auto by_holder = distillery::evaluate(net, test);
  const auto by_function =
      distillery::evaluate([&](const torch::Tensor& x) { return net->forward(x); }, test);
  EXPECT_EQ(by_holder.errors, by_function.errors);
  EXPECT_TRUE(torch::equal(distillery::compute_logits(net, test.images),
                           distillery::compute_logits(distillery::Model(net), test.images)));
}

TEST_F(TrainerTest, AModelWithTheWrongClassCountIsRefusedBeforeTraining) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), input, 5);
  try {
    distillery::train_supervised(model, train, distillery::TrainOptions().trainer(options));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "the model's logits have shape [1, 5] but the training set has 4 classes; "
                       "the model must output [B, 4]");
  }
}

}  // namespace
