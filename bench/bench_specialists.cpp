// Test cases per second of the specialists' KL-minimising combination (Hinton et al. 2015, §5):
// all cases at once (`combine_specialists` on a batch, with per-case masks) against a loop
// that combines one case at a time, in the same run, on the same synthetic outputs of a
// generalist and 3 specialists over 10 classes with top-1 activation. Both answers are
// compared. Writes its section of the Markdown file given as the argument.
//
//   bench_specialists <RESULTS.md> [cases=10000] [loop_cases=1000] [repeats=5]

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "distillery/specialists/inference.h"
#include "distillery/runtime.h"
#include "results_file.h"

namespace ds = distillery::specialists;

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double seconds_of(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  distillery::retain_freed_memory();  // as the distillery program does
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_specialists <RESULTS.md> [cases] [loop_cases] [repeats]\n");
    return 2;
  }
  const int64_t cases = argc > 2 ? std::stoll(argv[2]) : 10000;
  const int64_t loop_cases = std::min<int64_t>(argc > 3 ? std::stoll(argv[3]) : 1000, cases);
  const int repeats = argc > 4 ? std::stoi(argv[4]) : 5;
  const ds::ClassSubsets subsets = {{0, 2, 4, 6}, {1, 3}, {5, 7, 9}};
  torch::manual_seed(0);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  // Outputs like a trained net's: confident, but not one-hot.
  const auto generalist = torch::log_softmax(torch::randn({cases, 10}, f32) * 3, 1);
  std::vector<torch::Tensor> specialists;
  for (const auto& s : subsets) {
    specialists.push_back(
        torch::log_softmax(torch::randn({cases, static_cast<int64_t>(s.size()) + 1}, f32) * 3, 1));
  }

  std::ostringstream md;
  md << "## Specialists: batched KL-minimising combination\n\n"
     << "Made by `bench/run.sh` (`build/bench_specialists bench/RESULTS.md " << cases << " "
     << loop_cases << " " << repeats << "`) on a machine with "
     << std::thread::hardware_concurrency() << " hardware threads, LibTorch " << TORCH_VERSION
     << ", " << torch::get_num_threads() << " intra-op threads.\n\n"
     << "10 classes, 3 specialists (subsets {0,2,4,6}, {1,3}, {5,7,9}), top-1, tolerance 1e-7 on "
     << "|dF/dz|, float64; synthetic log-probabilities (softmax of 3 x standard normal logits). "
     << "Batched: all " << cases << " cases in one call; loop: one call per case over the first "
     << loop_cases << ". Median of " << repeats << " runs.\n\n"
     << "| method | batched cases/s | one-at-a-time cases/s | speed-up | max abs difference of q | "
        "mean iterations |\n| --- | --- | --- | --- | --- | --- |\n";
  for (const auto method : {ds::CombineMethod::kMultiplicative, ds::CombineMethod::kGradient}) {
    const auto options = ds::CombineOptions().method(method).max_iterations(1000);
    std::vector<double> batched_s, loop_s;
    ds::Combination batched;
    torch::Tensor looped;
    for (int r = 0; r < repeats; ++r) {
      batched_s.push_back(seconds_of(
          [&] { batched = ds::combine_specialists(generalist, specialists, subsets, options); }));
      loop_s.push_back(seconds_of([&] {
        std::vector<torch::Tensor> rows;
        for (int64_t i = 0; i < loop_cases; ++i) {
          std::vector<torch::Tensor> one;
          for (const auto& s : specialists) one.push_back(s.narrow(0, i, 1));
          rows.push_back(
              ds::combine_specialists(generalist.narrow(0, i, 1), one, subsets, options).probabilities);
        }
        looped = torch::cat(rows);
      }));
    }
    const double batched_rate = cases / bench::median(batched_s);
    const double loop_rate = loop_cases / bench::median(loop_s);
    const double difference =
        (batched.probabilities.narrow(0, 0, loop_cases) - looped).abs().max().item<double>();
    const auto active = batched.active.any(1);
    const double iterations =
        batched.iterations.index({active}).to(torch::kFloat64).mean().item<double>();
    char row[300];
    std::snprintf(row, sizeof row, "| %s | %.0f | %.0f | %.1f | %.1e | %.1f |\n",
                  method == ds::CombineMethod::kGradient ? "gradient" : "multiplicative (default)",
                  batched_rate, loop_rate, batched_rate / loop_rate, difference, iterations);
    md << row;
  }
  md << "\nThe batched solver runs as many whole-batch steps as its slowest case needs "
        "(converged cases are masked, not removed); the loop pays LibTorch's per-call overhead "
        "for every case.\n";
  bench::write_section(argv[1], "bench_specialists", md.str());
  std::printf("%s", md.str().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
