#include "run_support.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "config_readers.h"
#include "distillery/callbacks.h"
#include "distillery/fingerprint.h"
#include "distillery/app/model_specs.h"
#include "distillery/state_dict.h"

namespace distillery::detail {

namespace {

void protect_teacher(OutputDirectory& out, const TeacherConfig& t) {
  out.protect(t.weights);
  out.protect(t.checkpoint);
  out.protect(t.torchscript);
  for (const auto& member : t.members) protect_teacher(out, member);
}

void check_file(const std::string& key, const std::string& path, const std::string& hint = "") {
  if (path.empty()) return;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_regular_file(status)) return;
  const std::string where =
      std::filesystem::path(path).is_relative()
          ? " (relative paths are resolved against the working directory, " +
                std::filesystem::current_path(ec).string() + ")"
          : "";
  if (!std::filesystem::exists(status)) {
    throw ConfigError(key + ": " + path + " does not exist" + where + hint);
  }
  throw ConfigError(key + ": " + path + " is not a regular file" + where);
}

void check_teacher_files(const TeacherConfig& t, const std::string& key) {
  check_file(key + ".weights", t.weights);
  check_file(key + ".checkpoint", t.checkpoint);
  check_file(key + ".torchscript", t.torchscript);
  for (std::size_t i = 0; i < t.members.size(); ++i) {
    check_teacher_files(t.members[i], key + ".members[" + std::to_string(i) + "]");
  }
}

}  // namespace

void check_input_files(const ExperimentConfig& c, bool soft_targets_are_input) {
  try {
    if (c.has_distillation) {
      check_teacher_files(c.teacher, "teacher");
      const auto& stored = c.distillation.soft_targets;
      if (soft_targets_are_input && stored.is_file()) {
        check_file("distillation.soft_targets", stored.path,
                   "; create it with `distillery soft-targets`");
      }
    }
    if (c.specialists) check_teacher_files(c.specialists->generalist, "generalist");
  } catch (const ConfigError& e) {
    if (c.config_file.empty()) throw;
    throw ConfigError(c.config_file + ": " + e.what());
  }
}

void protect_inputs(OutputDirectory& out, const ExperimentConfig& c, bool soft_targets_are_input) {
  out.protect(c.config_file);  // e.g. re-running <out_dir>/config.json keeps it as it is
  // The data files themselves, not their directory: out_dir may well lie inside it.
  for (const char* split : {"train", "t10k"}) {
    for (const char* kind : {"-images-idx3-ubyte", "-labels-idx1-ubyte"}) {
      const auto file = (std::filesystem::path(c.data.dir) / (std::string(split) + kind)).string();
      out.protect(file);
      out.protect(file + ".gz");
    }
  }
  if (c.has_distillation) {
    protect_teacher(out, c.teacher);
    const auto& soft = c.distillation.soft_targets;
    if (soft_targets_are_input && soft.is_file()) out.protect(soft.path);
  }
  if (c.specialists) {
    protect_teacher(out, c.specialists->generalist);
    out.protect(c.specialists->subsets_file);
  }
}

void require_distillation(const ExperimentConfig& c) {
  if (!c.has_distillation) {
    throw ConfigError("teacher: required key is missing; this config describes a specialists "
                      "experiment (\"generalist\" and \"specialists\"): run it with "
                      "`distillery specialists`");
  }
}

std::vector<std::string> teacher_files(const TeacherConfig& t) {
  std::vector<std::string> names{"teacher.pt"};
  for (std::size_t i = 0; i < t.members.size(); ++i) {
    names.push_back("teacher_member_" + std::to_string(i) + ".pt");
  }
  return names;
}

InputShape shape_of(const data::Dataset& set) {
  return InputShape{set.images.size(1), set.images.size(2), set.images.size(3)};
}

std::string shape_text(InputShape s) {
  return std::to_string(s.channels) + "x" + std::to_string(s.height) + "x" +
         std::to_string(s.width);
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

ModelReport report_for(const Model& model, const ExperimentData& d, const TrainerOptions& o,
                       double train_seconds) {
  model->eval();
  const LogitsFunction logits = [&](const torch::Tensor& x) { return model(x); };
  const torch::Device device(o.device());
  auto report = report_for(evaluate(logits, d.test, o.eval_batch_size(), device),
                           count_parameters(model.module()),
                           count_multiply_adds(model, shape_of(d.test)), train_seconds);
  if (d.heldout.size() > 0) report.validation = evaluate(logits, d.heldout, o.eval_batch_size(), device);
  return report;
}

ModelReport report_for(BuiltTeacher& built, const ExperimentData& d, const TrainerOptions& o) {
  // An ensemble predicts with its T = 1 distribution.
  const LogitsFunction logits = [&](const torch::Tensor& x) { return built.teacher->logits(x, 1.0); };
  const torch::Device device(o.device());
  const auto& test = d.test;
  const auto result = evaluate(logits, test, o.eval_batch_size(), device);
  // Every member's parameters, TorchScript ones included; the multiply-adds of a TorchScript
  // member cannot be counted from its layers, so the sum is unknown (-1, see ModelReport).
  int64_t multiply_adds = 0;
  for (auto& net : built.nets) multiply_adds += count_multiply_adds(net, shape_of(test));
  if (built.has_torchscript) multiply_adds = -1;
  auto report = report_for(result, built.teacher->parameter_count(), multiply_adds,
                           built.train_seconds);
  if (d.heldout.size() > 0) report.validation = evaluate(logits, d.heldout, o.eval_batch_size(), device);
  return report;
}

void check_teacher_classes(BuiltTeacher& built, const ExperimentData& d, torch::Device device) {
  built.teacher->to(device);
  const auto probe = d.train.inputs(0, 1, device);
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
