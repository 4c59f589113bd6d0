#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "distillery/losses.h"
#include "distillery/models.h"
#include "distillery/teacher.h"
#include "test_util.h"

namespace {

// An owner module holding a teacher and a student, as a user's distiller would.
struct OwnerImpl : torch::nn::Module {
  OwnerImpl(torch::nn::Sequential teacher_net, torch::nn::Sequential student_net)
      : teacher(register_module("teacher", distillery::Teacher(teacher_net))),
        student(register_module("student", student_net)) {}
  distillery::Teacher teacher;
  torch::nn::Sequential student;
};
TORCH_MODULE(Owner);

std::vector<torch::Tensor> state_of(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
  for (const auto& b : m.buffers()) out.push_back(b.clone());
  return out;
}

TEST(Teacher, StaysFrozenThroughDistillationSteps) {
  torch::manual_seed(0);
  auto teacher_net = distillery::make_convnet(
      distillery::ConvNetOptions().channels({4, 8}).hidden({16}), {}, 10);
  teacher_net->train();
  teacher_net->forward(torch::randn({16, 1, 28, 28}));  // non-trivial BatchNorm statistics
  const auto before = state_of(*teacher_net);
  ASSERT_FALSE(teacher_net->buffers().empty());

  auto student_net = distillery::make_mlp(distillery::MLPOptions().hidden({32}), {}, 10);
  Owner owner(teacher_net, student_net);
  owner->train();  // must not put the teacher in training mode
  EXPECT_FALSE(owner->teacher->is_training());
  EXPECT_FALSE(teacher_net->is_training());
  EXPECT_TRUE(owner->student->is_training());

  // The owner's parameters are the student's only: an optimiser never sees the teacher's.
  EXPECT_EQ(owner->parameters().size(), student_net->parameters().size());
  for (const auto& p : teacher_net->parameters()) EXPECT_FALSE(p.requires_grad());

  torch::optim::SGD optimizer(owner->parameters(), torch::optim::SGDOptions(0.1));
  for (int step = 0; step < 5; ++step) {
    const auto x = torch::randn({16, 1, 28, 28});
    const auto y = torch::randint(0, 10, {16}, torch::kInt64);
    const auto v = owner->teacher(x);
    EXPECT_FALSE(v.requires_grad());
    const auto loss = distillery::functional::kd_loss(owner->student->forward(x), v, y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  const auto after = state_of(*teacher_net);
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(torch::equal(before[i], after[i])) << "tensor " << i << " changed";
  }
}

TEST(Teacher, OutputsAreThoseOfTheWrappedModelInEvalMode) {
  torch::manual_seed(1);
  auto net = distillery::make_mlp(distillery::MLPOptions().hidden({8}).dropout(0.5), {1, 4, 4}, 3);
  distillery::Teacher teacher(net);
  const auto x = torch::randn({2, 1, 4, 4});
  net->eval();
  torch::NoGradGuard guard;
  EXPECT_TRUE(torch::equal(teacher(x), net->forward(x)));
  EXPECT_TRUE(torch::equal(teacher(x), teacher(x)));  // dropout off: deterministic
}

TEST(Ensemble, ArithmeticAndGeometricMeansMatchThePaperExample) {
  // Members [10, 0, 0] and [0, 0, 0] at T = 1.
  const auto members = torch::tensor({{{10.0, 0.0, 0.0}}, {{0.0, 0.0, 0.0}}}, torch::kFloat64);
  const auto arithmetic = torch::softmax(
      distillery::combine_member_logits(members, distillery::EnsembleMode::kArithmetic, 1.0), -1);
  const auto geometric = torch::softmax(
      distillery::combine_member_logits(members, distillery::EnsembleMode::kGeometric, 1.0), -1);
  const auto e10 = std::exp(10.0), e5 = std::exp(5.0);
  const double a0 = 0.5 * (e10 / (e10 + 2) + 1.0 / 3), a1 = 0.5 * (1 / (e10 + 2) + 1.0 / 3);
  EXPECT_NEAR(arithmetic[0][0].item<double>(), a0, 1e-12);
  EXPECT_NEAR(arithmetic[0][1].item<double>(), a1, 1e-12);
  EXPECT_NEAR(arithmetic[0][0].item<double>(), 0.6667, 1e-4);  // exactly 0.666621...
  EXPECT_NEAR(arithmetic[0][2].item<double>(), 0.1667, 5e-5);
  EXPECT_NEAR(geometric[0][0].item<double>(), e5 / (e5 + 2), 1e-12);
  EXPECT_NEAR(geometric[0][0].item<double>(), 0.9867, 5e-5);
  EXPECT_NEAR(geometric[0][1].item<double>(), 0.0066, 5e-5);
}

TEST(Ensemble, ArithmeticMeanIsFormedAtTheGivenTemperature) {
  const auto members = torch::randn({3, 4, 5}, torch::kFloat64) * 3;
  const double T = 4.0;
  const auto combined =
      distillery::combine_member_logits(members, distillery::EnsembleMode::kArithmetic, T);
  const auto expected = torch::softmax(members / T, -1).mean(0);
  EXPECT_TRUE(torch::allclose(torch::softmax(combined / T, -1), expected, 0, 1e-12));
}

TEST(Ensemble, TeacherOfTwoModulesCombinesTheirLogits) {
  torch::manual_seed(2);
  auto a = distillery::make_mlp(distillery::MLPOptions().hidden({4}), {1, 2, 2}, 3);
  auto b = distillery::make_mlp(distillery::MLPOptions().hidden({4}), {1, 2, 2}, 3);
  auto ensemble = distillery::make_ensemble({distillery::Teacher(a), distillery::Teacher(b)},
                                            distillery::EnsembleMode::kGeometric, 1.0);
  const auto x = torch::randn({5, 1, 2, 2});
  torch::NoGradGuard guard;
  EXPECT_EQ(ensemble->num_members(), 2);
  EXPECT_TRUE(torch::allclose(ensemble(x), 0.5 * (a->forward(x) + b->forward(x))));
  EXPECT_EQ(ensemble->member_logits(x).sizes(), (std::vector<int64_t>{2, 5, 3}));
  EXPECT_TRUE(ensemble->parameters().empty());
}

TEST(Teacher, FingerprintFollowsTheWeights) {
  torch::manual_seed(3);
  auto net = distillery::make_mlp(distillery::MLPOptions().hidden({4}), {1, 2, 2}, 3);
  distillery::Teacher teacher(net);
  const auto before = teacher->fingerprint();
  EXPECT_EQ(before, distillery::Teacher(net)->fingerprint());
  {
    torch::NoGradGuard guard;
    net->parameters()[0][0][0].add_(1e-3);
  }
  EXPECT_NE(teacher->fingerprint(), before);
}

std::string fixture(const std::string& name) {
  return std::string(DISTILLERY_FIXTURE_DIR) + "/" + name;
}

// The input make_fixtures.py used: x[n, 0, i, j] = sin(0.01 * (n * 784 + i * 28 + j)).
torch::Tensor fixture_input() {
  return torch::sin(0.01 * torch::arange(4 * 784, torch::kFloat64)).to(torch::kFloat32).view({4, 1, 28, 28});
}

torch::Tensor fixture_logits() {
  std::ifstream in(fixture("fixtures.json"));
  const auto json = nlohmann::json::parse(in);
  std::vector<float> flat;
  for (const auto& row : json.at("logits")) for (float x : row) flat.push_back(x);
  return torch::tensor(flat).view({4, 10});
}

TEST(TorchScriptTeacher, ReproducesPyTorchLogitsAndStaysFrozen) {
  auto teacher = distillery::load_torchscript_teacher(fixture("teacher_mlp.ts"));
  teacher->train();
  const auto logits = teacher(fixture_input());
  EXPECT_FALSE(logits.requires_grad());
  EXPECT_TRUE(torch::allclose(logits, fixture_logits(), 1e-5, 1e-6));
  EXPECT_TRUE(teacher->parameters().empty());
}

TEST(TorchScriptTeacher, CountsItsParameters) {
  auto scripted = distillery::load_torchscript_teacher(fixture("teacher_mlp.ts"));
  EXPECT_EQ(scripted->parameter_count(), 784 * 8 + 8 + 8 * 10 + 10);
  auto net = distillery::make_mlp(distillery::MLPOptions().hidden({3}), {1, 28, 28}, 10);
  distillery::Teacher module_teacher(net);
  EXPECT_EQ(module_teacher->parameter_count(), distillery::count_parameters(*net));
  const auto ensemble = distillery::make_ensemble({scripted, module_teacher},
                                                  distillery::EnsembleMode::kArithmetic, 1.0);
  EXPECT_EQ(ensemble->parameter_count(), 6370 + distillery::count_parameters(*net));
}

TEST(TorchScriptTeacher, ReturningATupleIsNamedAsTheTeachersFault) {
  auto teacher = distillery::load_torchscript_teacher(fixture("teacher_tuple.ts"));
  EXPECT_EQ(distillery::test::runtime_error_of([&] { teacher(torch::zeros({2, 1, 28, 28})); }),
            fixture("teacher_tuple.ts") +
                ": the TorchScript teacher returns a tuple; its forward must return the logits "
                "tensor [B, C] (return only the logits)");
}

// The core says what the file is (the kind travels with the error); which config key takes it
// is the application layer's to say (tests/test_cli_models.cpp).
TEST(TorchScriptTeacher, FilesOfOtherKindsSayWhatTheyAre) {
  distillery::test::TempDir dir;
  auto net = distillery::make_mlp(distillery::MLPOptions().hidden({3}), {1, 28, 28}, 10);
  distillery::ModelRecord record;
  record.input = {1, 28, 28};
  record.num_classes = 10;
  distillery::save_model(dir.file("m.pt"), net, record);
  auto kind_error_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const distillery::ModelFileKindError& e) {
      return std::make_pair(std::string(e.what()), e.kind());
    }
    return std::make_pair(std::string("<no error>"), distillery::ModelFileKind::kOther);
  };
  using distillery::ModelFileKind;
  EXPECT_EQ(kind_error_of([&] { distillery::load_torchscript_teacher(dir.file("m.pt")); }),
            std::make_pair(dir.file("m.pt") + ": this is a model file written by distillery, not "
                                              "TorchScript",
                           ModelFileKind::kDistilleryModel));
  EXPECT_EQ(
      kind_error_of([&] { distillery::load_torchscript_teacher(fixture("state_dict_plain.pt")); }),
      std::make_pair(fixture("state_dict_plain.pt") +
                         ": this is a PyTorch state dict or other torch.save file, not TorchScript",
                     ModelFileKind::kPickle));
}

TEST(TorchScriptTeacher, MissingFileNamesThePath) {
  try {
    distillery::load_torchscript_teacher("/nonexistent/teacher.ts");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("/nonexistent/teacher.ts: cannot load TorchScript teacher: ", 0), 0u)
        << e.what();
  }
}

}  // namespace
