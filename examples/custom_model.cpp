// Distil a teacher of one's own into a student of one's own (a small residual network) through
// the public API: any LibTorch module with `Tensor forward(Tensor)` goes through the same door as
// the model zoo's (include/distillery/model.h). The teacher runs once over the transfer set; its
// soft targets are stored in a file, read back, checked against the teacher and the data, and
// the student learns from them (Hinton et al. 2015, §2).
//
//   custom_model [data_dir] [epochs] [train_limit] [out_dir]
//
// data_dir defaults to /usr/share/datasets/fashion-mnist (Debian: dataset-fashion-mnist),
// epochs to 2, train_limit to 0 (all 60,000 training images), out_dir to the working directory
// (it receives soft_targets.bin and student.pt, the student's state dict, which Python reads
// with torch.load).

#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <string>

#include "custom_model.h"
#include "distillery/distillery.h"

namespace {

void print_model(const char* role, const distillery::TrainResult& run,
                 const distillery::Model& model) {
  const distillery::InputShape input{1, 28, 28};
  std::printf("%s: %lld test errors, %lld parameters, %lld multiply-adds per image\n", role,
              static_cast<long long>(run.evaluation("test").errors),
              static_cast<long long>(distillery::count_parameters(model.module())),
              static_cast<long long>(distillery::count_multiply_adds(model, input)));
}

}  // namespace

int main(int argc, char** argv) try {
  namespace dd = distillery::data;
  const std::string data_dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const int64_t epochs = argc > 2 ? std::stoll(argv[2]) : 2;
  const int64_t train_limit = argc > 3 ? std::stoll(argv[3]) : 0;
  const std::string out_dir = argc > 4 ? argv[4] : ".";

  // 1. Data: the training split is the transfer set; the test split is evaluated each epoch.
  const auto train = dd::load_mnist_format(data_dir, dd::Split::kTrain,
                                           dd::kFashionMnistNormalization,
                                           /*labels_optional=*/false, train_limit);
  const auto test = dd::load_mnist_format(data_dir, dd::Split::kTest,
                                          dd::kFashionMnistNormalization,
                                          /*labels_optional=*/false, train_limit);
  distillery::retain_freed_memory();  // after loading the data (runtime.h)
  const auto trainer = distillery::TrainerOptions().epochs(epochs).batch_size(128).seed(0)
                           .reseed(true);

  // 2. The teacher: a module of one's own, trained on the hard labels.
  custom::ConvTeacher teacher_net;
  const auto teacher_run = distillery::train_supervised(
      teacher_net, train,
      distillery::TrainOptions().trainer(trainer).phase("teacher").evaluate_on("test", test));
  print_model("teacher", teacher_run, teacher_net);

  // 3. Its soft targets, computed once, stored, and read back as a later run would.
  distillery::Teacher teacher(teacher_net);
  const std::string soft_targets_path = out_dir + "/soft_targets.bin";
  distillery::save_soft_targets(soft_targets_path,
                                distillery::compute_soft_targets(teacher, train, 256));
  const auto soft_targets = distillery::load_soft_targets(soft_targets_path);
  distillery::check_soft_targets(soft_targets, soft_targets_path, teacher->fingerprint(),
                                 distillery::fingerprint_transfer_set(train));

  // 4. The student, a residual network of one's own, distilled from them at T = 4.
  custom::TinyResNet student;
  const auto student_run = distillery::distill(
      student, soft_targets, train,
      distillery::DistillOptions().trainer(trainer)
          .loss(distillery::KDLossOptions().temperature(4.0).alpha(0.9))
          .phase("student").evaluate_on("test", test));
  print_model("student", student_run, student);
  distillery::save_state_dict(out_dir + "/student.pt", *student);
  return 0;
} catch (const c10::Error& e) {  // LibTorch's errors, without their C++ backtrace
  std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
  return 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
