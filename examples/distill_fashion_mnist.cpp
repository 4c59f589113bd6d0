// Distil a ConvNet teacher into a small MLP student on Fashion-MNIST, calling the library
// directly (no JSON): the pattern to copy into your own C++ training code.
//
//   distill_fashion_mnist [data_dir] [epochs] [train_limit]
//
// data_dir defaults to /usr/share/datasets/fashion-mnist (Debian: dataset-fashion-mnist),
// epochs to 3, train_limit to 0 (all 60,000 training images).

#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <string>

#include "distillery/callbacks.h"
#include "distillery/data/dataset.h"
#include "distillery/losses.h"
#include "distillery/models.h"
#include "distillery/runtime.h"
#include "distillery/soft_targets.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"

int main(int argc, char** argv) try {
  namespace dd = distillery::data;
  const std::string data_dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const int64_t epochs = argc > 2 ? std::stoll(argv[2]) : 3;
  const int64_t train_limit = argc > 3 ? std::stoll(argv[3]) : 0;

  // 1. Data: whole splits in memory, normalised.
  const auto train = dd::load_mnist_format(data_dir, dd::Split::kTrain,
                                           dd::kFashionMnistNormalization,
                                           /*labels_optional=*/false, train_limit);
  const auto test = dd::load_mnist_format(data_dir, dd::Split::kTest);
  distillery::retain_freed_memory();  // after loading the data (runtime.h)
  const distillery::InputShape input{1, 28, 28};

  // 2. Teacher: a ConvNet trained on hard labels.
  torch::manual_seed(0);
  auto teacher_net = distillery::make_convnet(distillery::ConvNetOptions(), input, 10);
  const auto options = distillery::TrainerOptions().epochs(epochs).batch_size(128).reseed(true);
  const auto teacher_run = distillery::train_supervised(
      teacher_net, train,
      distillery::TrainOptions().trainer(options).phase("teacher").evaluate_on("test", test));

  // 3. Soft targets: the frozen teacher runs once over the transfer set.
  distillery::Teacher teacher(teacher_net);
  const auto soft_targets = distillery::compute_soft_targets(teacher, train);

  // 4. Student: a small MLP distilled from those soft targets at T = 2.
  torch::manual_seed(0);
  auto student = distillery::make_mlp(distillery::MLPOptions().hidden({400, 400}), input, 10);
  const auto student_run = distillery::distill(
      student, soft_targets, train,
      distillery::DistillOptions().trainer(options)
          .loss(distillery::KDLossOptions().temperature(2.0).alpha(0.5))
          .phase("student").evaluate_on("test", test));

  std::printf("teacher: %lld test errors, %lld parameters\n",
              static_cast<long long>(teacher_run.evaluation("test").errors),
              static_cast<long long>(distillery::count_parameters(*teacher_net)));
  std::printf("student: %lld test errors, %lld parameters\n",
              static_cast<long long>(student_run.evaluation("test").errors),
              static_cast<long long>(distillery::count_parameters(*student)));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
