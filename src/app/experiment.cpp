#include "distillery/app/experiment.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "distillery/bias_correction.h"
#include "distillery/callbacks.h"
#include "distillery/fingerprint.h"
#include "distillery/io.h"
#include "distillery/app/model_specs.h"
#include "distillery/app/output_dir.h"
#include "distillery/soft_targets.h"
#include "distillery/teacher.h"
#include "run_support.h"

namespace distillery {
namespace fs = std::filesystem;
namespace {

using detail::BuiltTeacher;
using detail::Callbacks;
using detail::build_teacher;
using detail::save_teacher;
using detail::check_teacher_classes;
using detail::report_for;
using detail::shape_of;
using detail::shape_text;
using detail::with_metrics_file;
using detail::kSoftTargetsFile;
using detail::require_distillation;
using detail::teacher_files;


// What the core's StaleSoftTargetsError leaves to the program to say.
constexpr const char* kRecompute = "; recompute it with `distillery soft-targets`";

// Reads a file of stored soft targets given by path (distillation.soft_targets) and checks it
// against the transfer set, before anything trains; nullopt for "auto" and "online".
std::optional<SoftTargets> preload_soft_targets(const ExperimentConfig& c,
                                                const data::Dataset& transfer) {
  if (!c.distillation.soft_targets.is_file()) return std::nullopt;
  const auto& setting = c.distillation.soft_targets.path;
  std::error_code ec;
  if (!fs::exists(setting, ec)) {
    throw std::runtime_error("distillation.soft_targets: " + setting + " does not exist (relative "
                             "paths are resolved against the working directory, " +
                             fs::current_path(ec).string() +
                             "); create it with `distillery soft-targets`");
  }
  try {
    auto stored = load_soft_targets(setting);
    // The teacher is checked once it is built; the data can be checked now.
    check_soft_targets(stored, setting, stored.teacher_fingerprint,
                       fingerprint_transfer_set(transfer));
    return stored;
  } catch (const StaleSoftTargetsError& e) {
    throw std::runtime_error(std::string("distillation.soft_targets: ") + e.what() + kRecompute);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("distillation.soft_targets: ") + e.what());
  }
}

// Refuses reusing soft targets of other views than the config's (count or augmentation).
void check_views(const SoftTargets& stored, const ExperimentConfig& c, const std::string& path) {
  const auto wanted = c.distillation.views == 0 ? 1 : c.distillation.views;
  const auto augmentation = c.distillation.views == 0 ? data::AugmentationOptions()
                                                      : c.student.training.augmentation();
  if (stored.views() != wanted ||
      describe_augmentation(TrainerOptions().augmentation(stored.augmentation)) !=
          describe_augmentation(TrainerOptions().augmentation(augmentation))) {
    throw StaleSoftTargetsError(path + ": made for " + std::to_string(stored.views()) +
                                " view(s) of other augmentation settings");
  }
}

// Resolves distillation.soft_targets into stored soft targets, or nullopt for online.
// `result.soft_targets` says what happened: "stored", "computed" or "online", and
// `result.soft_targets_seconds` how long computing them took. `preloaded` is the file
// given by path (see preload_soft_targets); in "auto" mode the file is read from out_dir, and
// one computed here is staged with the outputs.
std::optional<SoftTargets> obtain_soft_targets(const ExperimentConfig& c, Teacher& teacher,
                                               const data::Dataset& transfer,
                                               std::optional<SoftTargets> preloaded,
                                               OutputDirectory& out, ExperimentResult& result) {
  auto& mode_out = result.soft_targets;
  const auto& source = c.distillation.soft_targets;
  const bool automatic = source.mode == SoftTargetsMode::kAuto;
  if (source.mode == SoftTargetsMode::kOnline ||
      (automatic && !describe_augmentation(c.student.training).empty() &&
       c.distillation.views == 0)) {
    mode_out = "online";
    if (automatic) spdlog::info("soft targets: teacher online (the transfer set is augmented)");
    return std::nullopt;
  }
  const auto& setting = source.path;
  const auto teacher_fp = teacher->fingerprint();
  const auto transfer_fp = fingerprint_transfer_set(transfer);
  mode_out = "stored";
  if (preloaded) {
    try {
      check_soft_targets(*preloaded, setting, teacher_fp, transfer_fp);
    } catch (const StaleSoftTargetsError& e) {
      throw std::runtime_error(std::string("distillation.soft_targets: ") + e.what() + kRecompute);
    }
    spdlog::info("soft targets: read {}", setting);
    return preloaded;
  }
  const std::string path = out.final_path(kSoftTargetsFile);
  if (fs::exists(path)) {
    try {
      auto stored = load_soft_targets(path);
      check_soft_targets(stored, path, teacher_fp, transfer_fp);
      check_views(stored, c, path);
      out.protect(path);  // reused: this run's input, kept as it is
      spdlog::info("soft targets: read {}", path);
      return stored;
    } catch (const std::runtime_error& e) {
      spdlog::warn("soft targets: {}; recomputing", e.what());
    }
  }
  spdlog::info("soft targets: running the teacher over {} transfer-set images", transfer.size());
  SoftTargets computed;
  const auto start = std::chrono::steady_clock::now();
  try {
    computed = detail::compute_configured_soft_targets(c, teacher, transfer);
    result.soft_targets_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("teacher: ") + e.what());
  }
  save_soft_targets(out.path(kSoftTargetsFile), computed);
  mode_out = "computed";
  spdlog::info("soft targets: computed, stored in {} when the run succeeds", path);
  return computed;
}

bool teacher_needs_training(const TeacherConfig& t) {
  if (!t.members.empty()) {
    return std::any_of(t.members.begin(), t.members.end(), teacher_needs_training);
  }
  return !t.model.is_null() && t.weights.empty();
}

Model fresh_student(const ExperimentConfig& c, InputShape input, int64_t classes) {
  torch::manual_seed(c.seed);
  return build_model(c.student.model, input, classes, "student.model");
}

// What can be checked without training, checked first; returns the stored soft targets given
// by path, read and checked against the transfer set.
std::optional<SoftTargets> check_before_training(const ExperimentConfig& c,
                                                 const ExperimentData& d,
                                                 const data::Dataset& transfer,
                                                 const OutputDirectory& out) {
  if (!d.train.labeled() && teacher_needs_training(c.teacher)) {
    throw ConfigError("teacher: the training images have no labels file, so the teacher cannot "
                      "be trained here; give a \"checkpoint\", \"torchscript\" or \"weights\"");
  }
  auto names = teacher_files(c.teacher);
  names.insert(names.end(), {"config.json", "metrics.jsonl", "results.json", "student_scratch.pt",
                             "student_distilled.pt", "student_distilled_corrected.pt",
                             kSoftTargetsFile});
  out.check_outputs(names);
  return preload_soft_targets(c, transfer);
}

ModelReport train_scratch_student(const ExperimentConfig& c, const ExperimentData& d,
                                  const Callbacks& callbacks, const OutputDirectory& out) {
  const auto input = shape_of(d.train);
  auto scratch = fresh_student(c, input, d.train.num_classes);
  spdlog::info("student: {} ({} parameters)", c.student.model.dump(), count_parameters(scratch.module()));
  const auto run = train_supervised(scratch, d.transfer,
                                    TrainOptions().trainer(c.student.training)
                                        .phase("student_scratch").callbacks(callbacks)
                                        .evaluate_on("test", d.test));
  save_model(out.path("student_scratch.pt"), scratch,
             model_record(c.student.model, input, d.train.num_classes, model_info_of(d.train)));
  return report_for(scratch, d, c.student.training, run.train_seconds);
}

// §3: each omitted class's bias raised by the shift that makes the fewest held-out errors.
void correct_omitted_classes(const ExperimentConfig& c, const ExperimentData& d,
                             const Model& distilled, ExperimentResult& result) {
  for (const auto k : c.data.omit_classes) {
    const auto logits =
        compute_logits([&](const torch::Tensor& x) { return distilled(x); },
                       d.heldout, c.student.training.eval_batch_size(),
                       torch::Device(c.device));
    const auto shift = choose_bias_shift(logits, d.heldout.labels, k, default_bias_candidates());
    shift_class_bias(distilled, k, shift.delta);
    result.bias_shifts.push_back(shift.delta);
    spdlog::info("class {}: bias shift {} (held-out errors {} -> {})", k, shift.delta,
                 shift.errors_before, shift.errors);
  }
}

nlohmann::json results_json(const ExperimentConfig& c, const ExperimentResult& result,
                            const data::Dataset& transfer) {
  const bool labeled_transfer = transfer.labeled();
  nlohmann::json results = {
      {"name", c.name},
      {"dataset", c.data.dataset},
      {"class_names", transfer.class_names},
      {"distillation",
       {{"temperature", c.distillation.loss.temperature()},
        {"alpha", c.distillation.loss.alpha()},
        {"soft_targets", result.soft_targets},
        {"soft_targets_seconds", result.soft_targets_seconds},
        {"views", c.distillation.views},
        {"unlabeled", !labeled_transfer}}},
      {"teacher", to_json(result.teacher)},
      {"teacher_reused", result.teacher_reused},
      {"student_scratch", result.student_scratch ? to_json(*result.student_scratch)
                                                 : nlohmann::json(nullptr)},
      {"student_distilled", to_json(result.student_distilled)}};
  if (result.student_distilled_corrected) {
    results["omit_classes"] = c.data.omit_classes;
    results["bias_shifts"] = result.bias_shifts;
    results["student_distilled_corrected"] = to_json(*result.student_distilled_corrected);
  }
  return results;
}

}  // namespace

nlohmann::json to_json(const ModelReport& r) {
  return {{"test_errors", r.test_errors},     {"test_examples", r.test_examples},
          {"test_accuracy", r.test_accuracy}, {"parameters", r.parameters},
          // -1 means unknown (a TorchScript teacher): null, never a number to add up.
          {"multiply_adds", r.multiply_adds < 0 ? nlohmann::json(nullptr)
                                                : nlohmann::json(r.multiply_adds)},
          {"train_seconds", round_for_json(r.train_seconds)},
          {"errors_per_class", r.errors_per_class},
          {"validation_errors", r.validation ? nlohmann::json(r.validation->errors) : nullptr},
          {"validation_examples", r.validation ? nlohmann::json(r.validation->examples) : nullptr},
          {"validation_accuracy", r.validation ? nlohmann::json(r.validation->accuracy) : nullptr}};
}

ExperimentResult run_experiment(const ExperimentConfig& c, const Callbacks& user_callbacks) {
  require_distillation(c);
  detail::check_input_files(c);
  OutputDirectory out(c.out_dir);  // locked before anything is read or written
  detail::protect_inputs(out, c);
  const auto d = load_experiment_data(c.data);
  auto transfer = d.transfer;
  if (c.data.unlabeled) transfer.labels = torch::Tensor();
  auto preloaded = check_before_training(c, d, transfer, out);
  write_file_atomic(out.path("config.json"), to_json(c).dump(2) + "\n");
  const auto callbacks = with_metrics_file(out.path("metrics.jsonl"), user_callbacks);
  ExperimentResult result;

  // 1. The teacher, and its soft targets on the transfer set (before any student trains).
  auto built = build_teacher(c.teacher, d, "teacher", callbacks, &out);
  check_teacher_classes(built, d, torch::Device(c.device));
  result.teacher = report_for(built, d, c.student.training);
  for (std::size_t i = 0; i < built.files.size(); ++i) {
    if (built.reused[i]) result.teacher_reused.push_back(out.final_path(built.files[i]));
  }
  save_teacher(built, out, d.train);
  const auto soft_targets = obtain_soft_targets(c, built.teacher, transfer, std::move(preloaded),
                                                out, result);

  // 2. Student from scratch on the hard labels of the transfer set (when it has labels).
  if (d.transfer.labeled() && c.student.scratch) {
    result.student_scratch = train_scratch_student(c, d, callbacks, out);
  } else if (c.student.scratch) {
    spdlog::info("student: the transfer set has no labels: no scratch student, soft term only");
  }

  // 3. The same student (same initial weights, same batches) distilled from the teacher.
  auto distilled = fresh_student(c, shape_of(d.train), d.train.num_classes);
  const auto options = DistillOptions().trainer(c.student.training).loss(c.distillation.loss)
                           .phase("student_distilled").callbacks(callbacks)
                           .evaluate_on("test", d.test);
  const auto distilled_run = soft_targets ? distill(distilled, *soft_targets, transfer, options)
                                          : distill(distilled, built.teacher, transfer, options);
  result.student_distilled =
      report_for(distilled, d, c.student.training, distilled_run.train_seconds);
  const auto student_record = model_record(c.student.model, shape_of(d.train),
                                           d.train.num_classes, model_info_of(d.train));
  save_model(out.path("student_distilled.pt"), distilled, student_record);

  // 4. §3: raise the bias of each omitted class by the shift that is best on held-out data.
  if (!c.data.omit_classes.empty()) {
    correct_omitted_classes(c, d, distilled, result);
    result.student_distilled_corrected =
        report_for(distilled, d, c.student.training, distilled_run.train_seconds);
    save_model(out.path("student_distilled_corrected.pt"), distilled, student_record);
  }
  write_file_atomic(out.path("results.json"),
                    results_json(c, result, transfer).dump(2) + "\n");
  out.commit();
  return result;
}

ModelReport train_model(const ExperimentConfig& c, const std::string& which,
                        const Callbacks& user_callbacks) {
  if (which != "teacher" && which != "student") {
    throw std::invalid_argument("train: model must be \"teacher\" or \"student\", got \"" +
                                which + "\"");
  }
  require_distillation(c);
  const bool teacher = which == "teacher";
  if (teacher && (c.teacher.model.is_null() || !c.teacher.weights.empty())) {
    throw ConfigError("teacher.model: `train --model teacher` needs a teacher given by "
                      "\"model\" and \"training\" (not a checkpoint, TorchScript file, "
                      "state dict or ensemble)");
  }
  const auto& spec = teacher ? c.teacher.model : c.student.model;
  const auto& training = teacher ? c.teacher.training : c.student.training;
  // Its own directory, so that it never mixes with the outputs of `run` in out_dir.
  detail::check_input_files(c, /*soft_targets_are_input=*/false);
  OutputDirectory out((fs::path(c.out_dir) / ("train-" + which)).string());
  detail::protect_inputs(out, c, /*soft_targets_are_input=*/false);
  out.check_outputs({"config.json", "metrics.jsonl", which + ".pt"});
  const auto d = load_experiment_data(c.data);
  const auto input = shape_of(d.train);
  write_file_atomic(out.path("config.json"), to_json(c).dump(2) + "\n");
  torch::manual_seed(teacher ? c.teacher.seed : c.seed);
  auto net = build_model(spec, input, d.train.num_classes, which + ".model");
  const auto& train_set = teacher ? d.train : d.transfer;
  const auto run = train_supervised(
      net, train_set,
      TrainOptions().trainer(training).phase(which)
          .callbacks(with_metrics_file(out.path("metrics.jsonl"), user_callbacks))
          .evaluate_on("test", d.test));
  save_model(out.path(which + ".pt"), net,
             model_record(spec, input, d.train.num_classes, model_info_of(d.train)));
  auto report = report_for(net, d, training, run.train_seconds);
  out.commit();
  return report;
}

}  // namespace distillery
