// One row of the throughput comparison with the plain PyTorch loop of
// bench/reference/perf_reference.py; bench/perf.sh runs both, row by row, each in its own process
// (so that each has its own peak memory), and writes the table into bench/RESULTS.md.
//
//   bench_perf <row> <student> <fashion-mnist dir> [repeats=3] [limit=0] [batch=128] [prefetch=0]
//     row      teacher (the teacher pass over the transfer set, as `distillery soft-targets`),
//              hard (student on hard labels), online (distillation, teacher run on every batch),
//              stored (distillation from stored teacher logits), or matmul (the machine's
//              float32 matrix-multiply rate);
//     student  demo (configs/fashion_mnist.json's MLP 784-400-400-10) or tiny (MLP 784-8-10);
//     limit    use only the first N training images (0 = all 60,000);
//     prefetch 1 trains with TrainerOptions::prefetch (one intra-op thread fewer, plus the
//              thread that gathers the next batch).
//
// Prints one JSON object: the median samples per second of `repeats` timed passes after one
// untimed warm-up pass, the peak resident memory of the process, the share of the training
// steps' time spent obtaining batches (TrainResult::data_seconds), and for the teacher pass its
// multiply-add count and rate.
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/app/model_specs.h"
#include "distillery/models.h"
#include "distillery/soft_targets.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"
#include "distillery/runtime.h"
#include "results_file.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports KiB
}

const nlohmann::json kTeacher = {{"architecture", "convnet"}, {"channels", {32, 64}},
                                 {"kernel_size", 3},          {"hidden", {512}},
                                 {"dropout", 0.3},            {"batch_norm", true}};

nlohmann::json student_spec(const std::string& name) {
  if (name == "demo") return {{"architecture", "mlp"}, {"hidden", {400, 400}}, {"dropout", 0.0}};
  if (name == "tiny") return {{"architecture", "mlp"}, {"hidden", {8}}, {"dropout", 0.0}};
  throw std::invalid_argument("student must be demo or tiny, got " + name);
}

// Float32 multiply-adds per second of an n x n by n x n product, the median of `repeats`.
double matmul_rate(int64_t n, int repeats) {
  const auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto c = torch::mm(a, b);  // warm-up
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    for (int i = 0; i < 10; ++i) torch::mm_out(c, a, b);
    rates.push_back(10.0 * n * n * n / seconds_since(start));
  }
  return bench::median(rates);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: bench_perf <teacher|hard|online|stored|online-augmented|views-K|matmul> "
                 "<demo|tiny> "
                 "<fashion-mnist dir> [repeats=3] [limit=0] [batch=128] [prefetch=0]\n");
    return 2;
  }
  const std::string row = argv[1], student_name = argv[2];
  const int repeats = argc > 4 ? std::stoi(argv[4]) : 3;
  const int64_t limit = argc > 5 ? std::stoll(argv[5]) : 0;
  const int64_t batch = argc > 6 ? std::stoll(argv[6]) : 128;
  const std::string prefetch_flag = argc > 7 ? argv[7] : "0";
  if (prefetch_flag != "0" && prefetch_flag != "1") {
    throw std::invalid_argument("prefetch must be 0 or 1, got " + prefetch_flag);
  }
  const bool prefetch = prefetch_flag == "1";
  torch::NoGradGuard outside_training;  // as the command-line tool: grad only inside fit()
  nlohmann::json out = {{"impl", "distillery"}, {"row", row}, {"student", student_name},
                        {"threads", torch::get_num_threads()}, {"prefetch", prefetch}};
  if (row == "matmul") {
    out["multiply_adds_per_second"] = matmul_rate(1024, repeats);
    out["peak_rss_mib"] = peak_rss_mib();
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  auto train = distillery::data::load_mnist_format(argv[3], distillery::data::Split::kTrain);
  if (limit > 0 && limit < train.size()) {
    // Copies, so that the full set's memory is released as on the PyTorch side.
    train.images = train.images.narrow(0, 0, limit).clone();
    train.labels = train.labels.narrow(0, 0, limit).clone();
  }
  distillery::retain_freed_memory();  // as the distillery program does: after loading the data
  const distillery::InputShape input{1, 28, 28};
  torch::manual_seed(0);
  auto teacher_net = distillery::build_model(kTeacher, input, 10);
  teacher_net->eval();
  distillery::Teacher teacher(teacher_net);

  std::vector<double> seconds;
  if (row == "teacher") {
    for (int r = 0; r <= repeats; ++r) {
      const auto start = Clock::now();
      const auto targets = distillery::compute_soft_targets(teacher, train, batch);
      if (r > 0) seconds.push_back(seconds_since(start));
    }
    const auto macs = distillery::count_multiply_adds(teacher_net, input);
    out["multiply_adds_per_sample"] = macs;
    out["multiply_adds_per_second"] = macs * train.size() / bench::median(seconds);
  } else {
    auto student = distillery::build_model(student_spec(student_name), input, 10);
    const auto options =
        distillery::TrainerOptions().epochs(1).batch_size(batch).seed(1).prefetch(prefetch)
            .reseed(true);
    const auto hard = distillery::TrainOptions().trainer(options).phase(row);
    const auto soft = distillery::DistillOptions().trainer(options).phase(row)
                          .loss(distillery::KDLossOptions().temperature(2.0).alpha(0.5));
    // The augmented rows (issue 15): crop with 2 pixels of padding and flips, the teacher online
    // on every augmented batch, or stored for K views ("views-K") and replayed.
    const auto augmentation = distillery::data::AugmentationOptions().crop_padding(2)
                                  .horizontal_flip(true);
    const auto augmented = distillery::DistillOptions(soft).trainer(
        distillery::TrainerOptions(options).augmentation(augmentation));
    const int64_t views = row.rfind("views-", 0) == 0 ? std::stoll(row.substr(6)) : 0;
    distillery::SoftTargets stored;
    const auto soft_targets_start = Clock::now();
    if (row == "stored") stored = distillery::compute_soft_targets(teacher, train, batch);
    if (views > 0) {
      stored = distillery::compute_view_soft_targets(teacher, train, views, augmentation, 0, batch);
    }
    if (row == "stored" || views > 0) out["soft_targets_seconds"] = seconds_since(soft_targets_start);
    double data_seconds = 0;
    for (int r = 0; r <= repeats; ++r) {
      distillery::TrainResult result;
      if (row == "hard") {
        result = distillery::train_supervised(student, train, hard);
      } else if (row == "online") {
        result = distillery::distill(student, teacher, train, soft);
      } else if (row == "stored") {
        result = distillery::distill(student, stored, train, soft);
      } else if (row == "online-augmented") {
        result = distillery::distill(student, teacher, train, augmented);
      } else if (views > 0) {
        result = distillery::distill(student, stored, train, augmented);
      } else {
        throw std::invalid_argument("row must be teacher, hard, online, stored, online-augmented, "
                                    "views-K or matmul, got " + row);
      }
      if (r > 0) seconds.push_back(result.train_seconds);
      if (r > 0) data_seconds += result.data_seconds;
    }
    out["parameters"] = distillery::count_parameters(student.module());
    double total = 0;
    for (double s : seconds) total += s;
    out["data_share"] = data_seconds / total;
  }
  out["samples"] = train.size();
  out["seconds"] = seconds;
  out["samples_per_second"] = train.size() / bench::median(seconds);
  out["peak_rss_mib"] = peak_rss_mib();
  std::printf("%s\n", out.dump().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
