// The footprint of a model on a device, LibTorch's side (bench/deploy.sh): the model file and
// its ONNX export (export.h) written, and LibTorch's single-image latency and batch-64
// throughput on one thread, as on a phone core. onnxruntime's side is
// bench/deploy/bench_onnxruntime.py on the ONNX file written here.
//
//   bench_deploy <out_dir> <name> <model.pt | zoo:<architecture>:<C>x<H>x<W>:<classes>>
//                [latency_runs=200] [batch_runs=20]
//
// A zoo model is built with its initial weights (the timings do not depend on them) and saved,
// so that both files exist. Prints one JSON object: name, parameters, multiply_adds, pt_bytes,
// onnx_bytes, and libtorch {p50_ms, p99_ms, batch64_images_per_s}.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "distillery/app/model_specs.h"
#include "distillery/export.h"
#include "distillery/model_size.h"
#include "distillery/models.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_of(const std::function<void()>& work) {
  const auto start = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[at];
}

// "zoo:resnet8x4:3x32x32:100" -> a fresh zoo model saved as `<out_dir>/<name>.pt`.
distillery::SavedModel model_of(const std::string& source, const std::string& pt_path) {
  if (source.rfind("zoo:", 0) != 0) return distillery::load_model(source);
  const auto first = source.find(':', 4), second = source.find(':', first + 1);
  const auto architecture = source.substr(4, first - 4);
  const auto shape = source.substr(first + 1, second - first - 1);
  distillery::InputShape input;
  std::sscanf(shape.c_str(), "%ldx%ldx%ld", &input.channels, &input.height, &input.width);
  const auto classes = std::stoll(source.substr(second + 1));
  const nlohmann::json spec = {{"architecture", architecture}};
  distillery::ModelRecord record = distillery::model_record(spec, input, classes, {});
  const auto model = distillery::build_model(spec, input, classes, "bench");
  distillery::save_model(pt_path, model, record);
  return distillery::load_model(pt_path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_deploy <out_dir> <name> <model.pt | "
                         "zoo:<architecture>:<C>x<H>x<W>:<classes>> [latency_runs] [batch_runs]\n");
    return 2;
  }
  const std::string out_dir = argv[1], name = argv[2], source = argv[3];
  const int latency_runs = argc > 4 ? std::stoi(argv[4]) : 200;
  const int batch_runs = argc > 5 ? std::stoi(argv[5]) : 20;
  std::filesystem::create_directories(out_dir);
  const auto pt_path = source.rfind("zoo:", 0) == 0 ? out_dir + "/" + name + ".pt" : source;
  const auto saved = model_of(source, pt_path);
  const auto onnx_path = out_dir + "/" + name + ".onnx";
  const auto summary = distillery::export_onnx(saved.model, saved.input, onnx_path,
                                               distillery::OnnxExportOptions().info(saved.info));
  torch::set_num_threads(1);
  torch::InferenceMode inference;
  saved.model->eval();
  const auto& in = saved.input;
  const auto one = torch::rand({1, in.channels, in.height, in.width});
  const auto batch = torch::rand({64, in.channels, in.height, in.width});
  for (int i = 0; i < 10; ++i) saved.model.forward(one);
  std::vector<double> latencies;
  for (int i = 0; i < latency_runs; ++i) {
    latencies.push_back(1e3 * seconds_of([&] { saved.model.forward(one); }));
  }
  saved.model.forward(batch);
  const double batch_seconds = seconds_of([&] {
    for (int i = 0; i < batch_runs; ++i) saved.model.forward(batch);
  });
  const nlohmann::json out = {
      {"name", name},
      {"parameters", distillery::count_parameters(*saved.model.ptr())},
      {"multiply_adds", distillery::count_multiply_adds(saved.model, in)},
      {"input", {in.channels, in.height, in.width}},
      {"pt_bytes", std::filesystem::file_size(pt_path)},
      {"onnx_bytes", summary.bytes},
      {"onnx", onnx_path},
      {"libtorch",
       {{"p50_ms", percentile(latencies, 0.5)},
        {"p99_ms", percentile(latencies, 0.99)},
        {"batch64_images_per_s", 64.0 * batch_runs / batch_seconds}}}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
