// Distil a CIFAR zoo teacher into a zoo student with the CIFAR recipe of the distillation
// literature (SGD 0.05 with momentum 0.9, weight decay 5e-4, the rate times 0.1 at 62.5 %, 75 %
// and 87.5 % of the epochs, batch 64, crop with 4 pixels of padding and flips), calling the
// library directly. The teacher's logits are stored for 4 augmented views of each image and
// replayed for the student (soft targets that survive augmentation), instead of running the
// teacher on every batch.
//
//   distill_cifar <data_dir> [cifar10|cifar100] [epochs] [train_limit] [teacher] [student]
//
// data_dir holds the CIFAR binary files (`scripts/fetch_data.sh cifar100 data/cifar100`);
// defaults: cifar100, 240 epochs, all 50,000 training images, resnet56 -> resnet20. The last
// 5,000 training images are the validation split; the test split is reported once, at the end.

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>

#include "distillery/data/cifar.h"
#include "distillery/metrics.h"
#include "distillery/model_size.h"
#include "distillery/runtime.h"
#include "distillery/soft_targets.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"
#include "distillery/zoo/zoo.h"

int main(int argc, char** argv) try {
  namespace dd = distillery::data;
  if (argc < 2) {
    std::fprintf(stderr, "usage: distill_cifar <data_dir> [cifar10|cifar100] [epochs] "
                         "[train_limit] [teacher] [student]\n");
    return 2;
  }
  const std::string data_dir = argv[1], dataset = argc > 2 ? argv[2] : "cifar100";
  const int64_t epochs = argc > 3 ? std::stoll(argv[3]) : 240;
  const int64_t train_limit = argc > 4 ? std::stoll(argv[4]) : 0;
  const std::string teacher_name = argc > 5 ? argv[5] : "resnet56";
  const std::string student_name = argc > 6 ? argv[6] : "resnet20";

  // 1. Data: uint8 pixels in memory, normalised per batch; a validation split held out.
  const auto load = [&](dd::Split split, int64_t limit) {
    return dataset == "cifar10" ? dd::load_cifar10(data_dir, split, dd::kCifar10Normalization, limit)
                                : dd::load_cifar100(data_dir, split, dd::CifarLabels::kFine,
                                                    dd::kCifar100Normalization, limit);
  };
  const auto all = load(dd::Split::kTrain, train_limit);
  const auto test = load(dd::Split::kTest, 0);
  distillery::retain_freed_memory();  // after loading the data (runtime.h)
  const int64_t validation_size = std::min<int64_t>(5000, all.size() / 10);
  const auto train = all.head(all.size() - validation_size);
  const auto validation = all.slice(all.size() - validation_size, validation_size);
  const distillery::InputShape input{3, all.images.size(2), all.images.size(3)};
  const auto classes = all.num_classes;

  // 2. The recipe, for teacher and student alike: 150, 180, 210 of 240 epochs (increasing, >= 1).
  const int64_t m1 = std::max<int64_t>(1, epochs * 5 / 8);
  const int64_t m2 = std::max(m1 + 1, epochs * 3 / 4), m3 = std::max(m2 + 1, epochs * 7 / 8);
  const auto recipe =
      distillery::TrainerOptions().epochs(epochs).batch_size(64)
          .optimizer(distillery::Optimizer::kSgd).learning_rate(0.05).momentum(0.9)
          .nesterov(false).weight_decay(5e-4).lr_schedule(distillery::LrSchedule::kMultiStep)
          .lr_milestones({m1, m2, m3})
          .augmentation(dd::AugmentationOptions().crop_padding(4).horizontal_flip(true))
          .seed(0).reseed(true);

  // 3. The teacher, trained on the hard labels.
  torch::manual_seed(0);
  auto teacher_net = distillery::zoo::build_zoo_model(teacher_name, input, classes);
  distillery::train_supervised(teacher_net, train,
                               distillery::TrainOptions().trainer(recipe).phase("teacher")
                                   .evaluate_on("validation", validation));

  // 4. Soft targets of 4 augmented views of each image, drawn with the recipe's augmentation.
  distillery::Teacher teacher(teacher_net);
  const auto views = distillery::compute_view_soft_targets(teacher, train, 4,
                                                           recipe.augmentation(), 0, 256);

  // 5. The student, distilled at T = 4 (alpha 0.9) with the stored views replayed.
  torch::manual_seed(1);
  auto student = distillery::zoo::build_zoo_model(student_name, input, classes);
  const auto run = distillery::distill(
      student, views, train,
      distillery::DistillOptions().trainer(recipe)
          .loss(distillery::KDLossOptions().temperature(4.0).alpha(0.9))
          .phase("student").evaluate_on("validation", validation));

  // 6. The last epoch's validation accuracy, and the test set once.
  const auto teacher_test = distillery::evaluate(teacher_net, test);
  const auto student_test = distillery::evaluate(student, test);
  std::printf("teacher %s: %lld parameters, test accuracy %.4f\n", teacher_name.c_str(),
              static_cast<long long>(distillery::count_parameters(teacher_net.module())),
              teacher_test.accuracy);
  std::printf("student %s: %lld parameters, validation accuracy %.4f, test accuracy %.4f\n",
              student_name.c_str(),
              static_cast<long long>(distillery::count_parameters(student.module())),
              run.evaluation("validation").accuracy, student_test.accuracy);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
