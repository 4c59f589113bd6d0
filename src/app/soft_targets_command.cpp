// `distillery soft-targets`: the teacher of a config, run once over its transfer set.

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>

#include "distillery/app/experiment.h"
#include "distillery/fingerprint.h"
#include "distillery/app/output_dir.h"
#include "distillery/soft_targets.h"
#include "run_support.h"

namespace distillery {
namespace fs = std::filesystem;
using detail::kSoftTargetsFile;
using detail::Callbacks;
using detail::teacher_files;

namespace {

// Refuses a --output of `soft-targets` that is an input of the run, or that takes the name of
// the teacher or of the directory's own records in out_dir.
void check_soft_targets_output(const std::string& output, const ExperimentConfig& c,
                               const OutputDirectory& out) {
  if (output.empty()) return;
  if (out.is_input(output)) {
    throw ConfigError("--output " + output + " is an input of this run (a teacher, data or "
                      "config file); choose another file");
  }
  std::error_code ec;
  const auto absolute = fs::absolute(output, ec).lexically_normal();
  if (fs::weakly_canonical(absolute.parent_path(), ec) != fs::weakly_canonical(c.out_dir, ec)) {
    return;
  }
  const auto name = absolute.filename().string();
  if (name == "teacher.pt" || name.rfind("teacher_member_", 0) == 0 ||
      name.rfind(".distillery", 0) == 0 || name == ".incomplete" || name == "results.json" ||
      name == "config.json" || name == "metrics.jsonl" || name.rfind("student_", 0) == 0) {
    throw ConfigError("--output " + output + ": " + c.out_dir + " keeps a model, a result or its "
                      "own records under that name; choose another file name");
  }
}

}  // namespace

std::string write_soft_targets(const ExperimentConfig& c, const std::string& output,
                               const Callbacks& callbacks) {
  detail::require_distillation(c);
  // The teacher joins the outputs in out_dir (under its lock), so that `run` reuses it; so
  // does the default file. A file given by --output is the user's: written atomically once
  // the commit succeeded, and never listed as an output that a later run may remove.
  detail::check_input_files(c, /*soft_targets_are_input=*/false);
  OutputDirectory out(c.out_dir);
  detail::protect_inputs(out, c, /*soft_targets_are_input=*/false);
  check_soft_targets_output(output, c, out);
  auto names = teacher_files(c.teacher);
  names.push_back(kSoftTargetsFile);
  out.check_outputs(names);
  const auto path = output.empty() ? out.final_path(kSoftTargetsFile) : output;
  const auto d = load_experiment_data(c.data);
  auto built = detail::build_teacher(c.teacher, d, "teacher", callbacks, &out);
  detail::check_teacher_classes(built, d, torch::Device(c.device));
  detail::save_teacher(built, out, d.train);
  const auto targets = detail::compute_configured_soft_targets(c, built.teacher, d.transfer);
  if (output.empty()) save_soft_targets(out.path(kSoftTargetsFile), targets);
  out.commit(/*remove_stale=*/false);
  if (!output.empty()) save_soft_targets(output, targets);
  spdlog::info("soft targets: {} examples x {} classes x {} member(s), teacher {}, data {} -> {}",
               targets.size(), targets.num_classes(), targets.member_logits.size(0),
               fingerprint_hex(targets.teacher_fingerprint),
               fingerprint_hex(targets.transfer_fingerprint), path);
  return path;
}

namespace detail {

SoftTargets compute_configured_soft_targets(const ExperimentConfig& c, Teacher& teacher,
                                            const data::Dataset& transfer) {
  const auto batch = c.student.training.eval_batch_size();
  const torch::Device device(c.device);
  if (c.distillation.views == 0) return compute_soft_targets(teacher, transfer, batch, device);
  spdlog::info("soft targets: {} augmented views of each image ({})", c.distillation.views,
               describe_augmentation(c.student.training));
  return compute_view_soft_targets(teacher, transfer, c.distillation.views,
                                   c.student.training.augmentation(), c.seed, batch, device);
}

}  // namespace detail

}  // namespace distillery
