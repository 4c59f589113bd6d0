// How long gathering one training batch of random rows must take on this machine, whatever the
// code: the floor under the "batch share of a step" column of bench/RESULTS.md.
//
//   bench_gather <fashion-mnist dir> [batch=128] [trials=200]
//
// Each trial first writes a 64 MiB buffer (so the data set is out of the caches, as it is in an
// epoch that visits 60,000 rows in random order), then times one of, for `batch` random rows:
//   touch_uint8   reading one byte of every 64-byte cache line of the rows stored as uint8
//                 (784 B a row): no copy, no conversion; nothing that gathers them is faster;
//   touch_float   the same for the rows stored as float32 (3136 B a row), as distillery holds them;
//   index_select  torch::index_select of the float32 rows, what the trainer does.
// Prints one JSON object with the median microseconds of each.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/runtime.h"
#include "results_file.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
int64_t touch_rows(const torch::Tensor& set, const torch::Tensor& rows) {
  const auto* base = reinterpret_cast<const uint8_t*>(set.data_ptr<T>());
  const int64_t row_bytes = set.numel() / set.size(0) * static_cast<int64_t>(sizeof(T));
  const int64_t* index = rows.data_ptr<int64_t>();
  int64_t sum = 0;
  for (int64_t r = 0; r < rows.numel(); ++r) {
    for (int64_t byte = 0; byte < row_bytes; byte += 64) sum += base[index[r] * row_bytes + byte];
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_gather <fashion-mnist dir> [batch=128] [trials=200]\n");
    return 2;
  }
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 128;
  const int trials = argc > 3 ? std::stoi(argv[3]) : 200;
  namespace data = distillery::data;
  const auto train = data::load_mnist_format(argv[1], data::Split::kTrain);
  distillery::retain_freed_memory();  // after loading the data
  const auto& pixels = train.images;  // uint8, as loaded
  const auto inputs = data::empty_huge_pages(train.images.sizes());  // the same rows as float32
  inputs.copy_(train.inputs(train.images));
  auto evict = torch::zeros({int64_t{64} << 20}, torch::kUInt8);
  std::vector<double> touch_uint8, touch_float, index_select;
  int64_t sink = 0;
  auto time_one = [&](std::vector<double>& into, auto&& work) {
    evict.add_(1);
    const auto rows = torch::randint(0, train.size(), {batch}, torch::kInt64);
    const auto start = Clock::now();
    sink += work(rows);
    into.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  };
  for (int t = 0; t < trials; ++t) {
    time_one(touch_uint8, [&](const torch::Tensor& r) { return touch_rows<uint8_t>(pixels, r); });
    time_one(touch_float, [&](const torch::Tensor& r) { return touch_rows<float>(inputs, r); });
    time_one(index_select, [&](const torch::Tensor& r) {
      return inputs.index_select(0, r).numel();
    });
  }
  nlohmann::json out;
  out["batch"] = batch;
  out["trials"] = trials;
  out["threads"] = torch::get_num_threads();
  out["touch_uint8_us"] = bench::median(touch_uint8);
  out["touch_float_us"] = bench::median(touch_float);
  out["index_select_us"] = bench::median(index_select);
  out["checksum"] = sink;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
