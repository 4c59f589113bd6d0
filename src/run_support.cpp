#include "run_support.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "distillery/callbacks.h"
#include "distillery/models.h"
#include "distillery/state_dict.h"

namespace distillery::detail {
namespace fs = std::filesystem;

RunOutputs::RunOutputs(std::string out_dir)
    : out_dir_(std::move(out_dir)), staging_((fs::path(out_dir_) / ".incomplete").string()) {
  std::error_code ec;
  if (fs::exists(out_dir_, ec) && !fs::is_directory(out_dir_, ec)) {
    throw std::runtime_error("out_dir " + out_dir_ + " exists and is not a directory; give a "
                             "directory (it is created if missing)");
  }
  fs::remove_all(staging_, ec);
  fs::create_directories(staging_, ec);
  if (ec) throw std::runtime_error("cannot create directory " + staging_ + ": " + ec.message());
}

std::string RunOutputs::path(const std::string& file) const {
  return (fs::path(staging_) / file).string();
}

std::string RunOutputs::final_path(const std::string& file) const {
  return (fs::path(out_dir_) / file).string();
}

void RunOutputs::commit(const std::vector<std::string>& stale_prefixes) const {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(staging_)) files.push_back(entry.path());
  for (const auto& entry : fs::directory_iterator(out_dir_)) {
    const auto name = entry.path().filename().string();
    const bool ours = std::any_of(files.begin(), files.end(),
                                  [&](const fs::path& f) { return f.filename() == name; });
    const bool stale = std::any_of(stale_prefixes.begin(), stale_prefixes.end(),
                                   [&](const std::string& p) { return name.rfind(p, 0) == 0; });
    if (stale && !ours && entry.is_regular_file()) {
      std::error_code ec;
      fs::remove(entry.path(), ec);
    }
  }
  std::stable_partition(files.begin(), files.end(),
                        [](const fs::path& p) { return p.filename() != "results.json"; });
  for (const auto& file : files) {
    std::error_code ec;
    fs::rename(file, fs::path(out_dir_) / file.filename(), ec);
    if (ec) {
      throw std::runtime_error("cannot move " + file.string() + " into " + out_dir_ + ": " +
                               ec.message());
    }
  }
  std::error_code ec;
  fs::remove(staging_, ec);
}

InputShape shape_of(const data::Dataset& set) {
  return InputShape{set.images.size(1), set.images.size(2), set.images.size(3)};
}

std::string shape_text(InputShape s) {
  return std::to_string(s.channels) + "x" + std::to_string(s.height) + "x" +
         std::to_string(s.width);
}

BuiltTeacher build_teacher(const TeacherConfig& t, const ExperimentData& d,
                           const std::string& phase, const Callbacks& callbacks) {
  const auto input = shape_of(d.train);
  const int64_t classes = d.train.num_classes;
  BuiltTeacher out;
  if (!t.members.empty()) {
    std::vector<Teacher> members;
    for (std::size_t i = 0; i < t.members.size(); ++i) {
      auto member = build_teacher(t.members[i], d, phase + "_member_" + std::to_string(i), callbacks);
      members.push_back(member.teacher);
      out.nets.insert(out.nets.end(), member.nets.begin(), member.nets.end());
      out.specs.insert(out.specs.end(), member.specs.begin(), member.specs.end());
      out.has_torchscript = out.has_torchscript || member.has_torchscript;
      out.train_seconds += member.train_seconds;
    }
    out.teacher = make_ensemble(members, t.combine, 1.0);
    return out;
  }
  torch::nn::Sequential net{nullptr};
  nlohmann::json spec = t.model;
  if (!t.torchscript.empty()) {
    out.teacher = load_torchscript_teacher(t.torchscript);
    out.has_torchscript = true;
    spdlog::info("{}: loaded TorchScript {}", phase, t.torchscript);
  } else if (!t.checkpoint.empty()) {
    auto saved = load_model(t.checkpoint);
    if (saved.num_classes != classes || shape_text(saved.input) != shape_text(input)) {
      throw ConfigError(t.checkpoint + ": the " + phase + " takes " + shape_text(saved.input) +
                        " images and has " + std::to_string(saved.num_classes) +
                        " classes, but the data has " + shape_text(input) + " images and " +
                        std::to_string(classes) + " classes");
    }
    if (saved.metadata.is_object() && saved.metadata.value("kind", "") == "specialist") {
      throw ConfigError(t.checkpoint + ": this is a specialist (classes " +
                        saved.metadata.at("classes").dump() + " + dustbin), not a whole model; "
                        "give the generalist's or another full model's file");
    }
    net = saved.model;
    spec = saved.spec;
    spdlog::info("{}: loaded {}", phase, t.checkpoint);
  } else {
    torch::manual_seed(t.seed);
    net = build_model(t.model, input, classes, "teacher.model");
    if (!t.weights.empty()) {
      load_state_dict(*net, t.weights);
      spdlog::info("{}: loaded weights {}", phase, t.weights);
    } else {
      spdlog::info("{}: training {} ({} parameters)", phase, t.model.dump(), count_parameters(*net));
      out.train_seconds =
          train_supervised(net, d.train, d.test, t.training, phase, callbacks).train_seconds;
    }
  }
  if (net) {
    net->to(torch::Device(t.training.device()));
    net->eval();
    out.teacher = Teacher(net);
    out.nets.push_back(net);
    out.specs.push_back(spec);
  }
  return out;
}

ModelReport report_for(const EvalResult& test, int64_t parameters, int64_t multiply_adds,
                       double train_seconds) {
  ModelReport r;
  r.test_errors = test.errors;
  r.test_examples = test.examples;
  r.test_accuracy = test.accuracy;
  r.parameters = parameters;
  r.multiply_adds = multiply_adds;
  r.train_seconds = train_seconds;
  r.errors_per_class = test.errors_per_class;
  return r;
}

ModelReport report_for(torch::nn::Sequential& model, const data::Dataset& test,
                       const TrainerOptions& o, double train_seconds) {
  model->eval();
  const auto result = evaluate([&](const torch::Tensor& x) { return model->forward(x); }, test,
                               o.eval_batch_size(), torch::Device(o.device()));
  return report_for(result, count_parameters(*model), count_multiply_adds(model, shape_of(test)),
                    train_seconds);
}

ModelReport report_for(BuiltTeacher& built, const data::Dataset& test, const TrainerOptions& o) {
  built.teacher->set_temperature(1.0);  // an ensemble predicts with its T = 1 distribution
  const auto result =
      evaluate([&](const torch::Tensor& x) { return built.teacher->forward(x); }, test,
               o.eval_batch_size(), torch::Device(o.device()));
  int64_t parameters = 0, multiply_adds = 0;
  for (auto& net : built.nets) {
    parameters += count_parameters(*net);
    multiply_adds += count_multiply_adds(net, shape_of(test));
  }
  if (built.has_torchscript) multiply_adds = -1;
  return report_for(result, parameters, multiply_adds, built.train_seconds);
}

void check_teacher_classes(BuiltTeacher& built, const ExperimentData& d, torch::Device device) {
  built.teacher->to(device);
  const auto probe = d.train.images.narrow(0, 0, 1).to(device);
  const auto classes = built.teacher->forward(probe).size(1);
  if (classes != d.train.num_classes) {
    throw ConfigError("the teacher has " + std::to_string(classes) + " classes but the data has " +
                      std::to_string(d.train.num_classes) +
                      "; the teacher must predict the data's classes");
  }
}

Callbacks with_metrics_file(const std::string& path, Callbacks callbacks) {
  callbacks.push_back(std::make_shared<MetricsJsonl>(path));
  return callbacks;
}

}  // namespace distillery::detail
