// The distillery side of the parity check against the plain PyTorch loop in
// bench/reference/distill_reference.py (issue: "numerically the same"). Distils the demo's
// student (a 400-400 MLP, no dropout) for one epoch of `steps` batches of 128 on the first
// steps * 128 Fashion-MNIST training images, from stored teacher logits, with Adam and the
// cosine schedule, and writes into <out_dir>:
//   init.pt          the student's initial weights (a dict name -> tensor, torch.load-able)
//   order.pt         the epoch's batch order, [steps * 128] int64
//   teacher.pt       the stored teacher logits, [steps * 128, 10] float32
//   final.pt         the student's weights after the last step
//   losses.json      the objective of every step, and the settings
// The teacher is a seeded, untrained ConvNet: parity needs fixed logits, not good ones.
//
// With dtype "float64" the student, the images and the teacher logits are in double precision.
//
//   parity_dump <fashion-mnist dir> <out_dir> [steps=200] [seed=0] [float32|float64]

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "distillery/data/dataset.h"
#include "distillery/data/sampler.h"
#include "distillery/app/model_specs.h"
#include "distillery/models.h"
#include "distillery/soft_targets.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"
#include "distillery/runtime.h"

namespace {

void save_state(torch::nn::Module& model, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& item : model.named_parameters()) dict.insert(item.key(), item.value().detach().clone());
  const auto bytes = torch::pickle_save(dict);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void save_tensor(const torch::Tensor& t, const std::string& path) {
  const auto bytes = torch::pickle_save(t);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class LossRecorder : public distillery::Callback {
 public:
  void on_batch_end(const distillery::BatchProgress& p) override {
    losses.push_back(p.loss.item<double>());
  }
  std::vector<double> losses;
};

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr, "usage: parity_dump <fashion-mnist dir> <out_dir> [steps] [seed]\n");
    return 2;
  }
  const std::string out = argv[2];
  const int64_t steps = argc > 3 ? std::stoll(argv[3]) : 200;
  const uint64_t seed = argc > 4 ? std::stoull(argv[4]) : 0;
  const std::string dtype_name = argc > 5 ? argv[5] : "float32";
  if (dtype_name != "float32" && dtype_name != "float64") {
    std::fprintf(stderr, "dtype must be float32 or float64, got %s\n", dtype_name.c_str());
    return 2;
  }
  const auto dtype = dtype_name == "float64" ? torch::kFloat64 : torch::kFloat32;
  const int64_t batch = 128;
  std::filesystem::create_directories(out);
  auto train = distillery::data::load_mnist_format(argv[1], distillery::data::Split::kTrain)
                   .head(steps * batch);
  auto test = distillery::data::load_mnist_format(argv[1], distillery::data::Split::kTest).head(1000);
  distillery::retain_freed_memory();  // as the distillery program does: after loading the data
  const distillery::InputShape input{1, 28, 28};

  torch::manual_seed(seed + 1);
  auto teacher_net = distillery::build_model(
      {{"architecture", "convnet"}, {"channels", {8, 16}}, {"hidden", {64}}}, input, 10);
  teacher_net->eval();
  distillery::Teacher teacher(teacher_net);
  auto targets = distillery::compute_soft_targets(teacher, train, 1000, torch::kCPU);
  targets.member_logits = targets.member_logits.to(dtype);
  train.images = train.inputs(train.images).to(dtype);  // normalised model inputs
  test.images = test.inputs(test.images).to(dtype);

  const nlohmann::json spec = {{"architecture", "mlp"}, {"hidden", {400, 400}}, {"dropout", 0.0}};
  torch::manual_seed(seed);
  auto student = distillery::build_model(spec, input, 10);
  student->to(dtype);
  save_state(student.module(), out + "/init.pt");
  distillery::data::BatchSampler sampler(train.size(), batch, /*shuffle=*/true, seed);
  sampler.reset(0);  // the order the trainer's first epoch uses
  std::vector<torch::Tensor> order;
  while (auto idx = sampler.next()) order.push_back(*idx);
  save_tensor(torch::cat(order), out + "/order.pt");
  save_tensor(targets.member_logits[0].contiguous(), out + "/teacher.pt");

  const auto options = distillery::TrainerOptions().epochs(1).batch_size(batch).learning_rate(1e-3)
                           .optimizer(distillery::Optimizer::kAdam)
                           .lr_schedule(distillery::LrSchedule::kCosine).seed(seed).reseed(true);
  const auto loss = distillery::KDLossOptions().temperature(2.0).alpha(0.5);
  auto recorder = std::make_shared<LossRecorder>();
  distillery::distill(student, targets, train,
                      distillery::DistillOptions().trainer(options).loss(loss).phase("parity")
                          .callbacks({recorder}).evaluate_on("test", test));
  save_state(student.module(), out + "/final.pt");
  const nlohmann::json record = {{"losses", recorder->losses}, {"steps", steps},
                                 {"batch_size", batch},        {"learning_rate", 1e-3},
                                 {"temperature", 2.0},         {"alpha", 0.5},
                                 {"seed", seed},               {"dtype", dtype_name}};
  std::ofstream(out + "/losses.json") << record.dump(1) << "\n";
  std::printf("%zu steps, first loss %.6f, last loss %.6f -> %s\n", recorder->losses.size(),
              recorder->losses.front(), recorder->losses.back(), out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
