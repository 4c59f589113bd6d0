#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distillery/losses.h"
#include "distillery/models.h"
#include "distillery/teacher.h"

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
  const nlohmann::json spec = {{"architecture", "convnet"}, {"channels", {4, 8}}, {"hidden", {16}}};
  auto teacher_net = distillery::build_model(spec, {}, 10);
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

}  // namespace
