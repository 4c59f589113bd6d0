#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
// Internal: what the experiment drivers (experiment.cpp, specialists/pipeline.cpp) share:
// staged outputs, building a teacher or generalist from its config, and model reports.
// Not installed; not part of the public API.

#include <torch/nn/modules/container/sequential.h>

#include <memory>
#include <string>
#include <vector>

#include "distillery/app/config.h"
#include "distillery/app/experiment.h"
#include "distillery/metrics.h"
#include "distillery/app/model_specs.h"
#include "distillery/app/output_dir.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"

namespace distillery::detail {

using Callbacks = std::vector<std::shared_ptr<Callback>>;

// Declares every file the config reads (teacher and generalist files, stored soft targets,
// hand-given subsets, the data directory, the config file) an input of the run: `out` never replaces them.
void protect_inputs(OutputDirectory& out, const ExperimentConfig& config,
                    bool soft_targets_are_input = true);

// Throws ConfigError naming the config file and the dotted key (e.g.
// "exp.json: teacher.members[1].checkpoint: ...") when a file
// the config reads does not exist or is not a regular file, before anything is loaded or
// trained. Relative paths are resolved against the working directory, which the message names.
// `soft_targets_are_input` is false for the commands that write or ignore the stored soft
// targets (`soft-targets`, `train`).
void check_input_files(const ExperimentConfig& config, bool soft_targets_are_input = true);

// The stored soft targets' file in out_dir ("auto" mode and `soft-targets`).
inline constexpr const char* kSoftTargetsFile = "soft_targets.bin";

// `run`, `train` and `soft-targets` need "teacher" and "student": throws ConfigError otherwise.
void require_distillation(const ExperimentConfig& config);

// The soft targets the config asks for: the teacher's logits on the transfer set, or on
// distillation.views augmented views of each image (compute_view_soft_targets, seeded by the
// config's seed). Throws as those.
SoftTargets compute_configured_soft_targets(const ExperimentConfig& c, Teacher& teacher,
                                            const data::Dataset& transfer);

// The files the teacher of `t` is saved as: "teacher.pt", or "teacher_member_<i>.pt" per member.
std::vector<std::string> teacher_files(const TeacherConfig& t);

InputShape shape_of(const data::Dataset& set);
std::string shape_text(InputShape s);

// A teacher with what is needed to report on it and save it.
struct BuiltTeacher {
  Teacher teacher{nullptr};
  std::vector<Model> nets;  // the C++ members (for counting and saving)
  // Parallel to `nets`: the architecture spec; the file it is saved as in out_dir (the phase
  // and ".pt": "teacher.pt", "teacher_member_1.pt", "generalist.pt"); the recipe a teacher
  // trained here was trained from (teacher_recipe; null when it was loaded from a file); and
  // whether it was reused from out_dir (then it is not saved again).
  std::vector<nlohmann::json> specs;
  std::vector<std::string> files;
  std::vector<nlohmann::json> recipes;
  std::vector<bool> reused;
  bool has_torchscript = false;
  double train_seconds = 0.0;
};

// What determines a trained teacher: its config section (architecture, training, seed; not
// threads or device) and a fingerprint of the images and labels it is trained on.
nlohmann::json teacher_recipe(const TeacherConfig& t, const data::Dataset& train);

// Runs `teacher` on the first 64 training images and throws, naming `source` (its file, or ""
// for a teacher trained here) and `phase`, if it cannot run on them, does not return
// [B, classes] logits for the data's classes, or returns NaN or infinite logits.
void probe_teacher(Teacher& teacher, const ExperimentData& d, torch::Device device,
                   const std::string& phase, const std::string& source);

// Trains or loads the teacher `t` (for an ensemble: the members given by files are loaded and
// probed before any member trains), in eval mode. A loaded teacher is probed (probe_teacher).
// With `reuse_from`, a teacher (or member) to train is instead loaded from its file there when
// that file was saved from the same recipe (by an earlier `run` or `soft-targets`); the file
// is then protected as an input.
BuiltTeacher build_teacher(const TeacherConfig& t, const ExperimentData& d,
                           const std::string& phase, const Callbacks& callbacks,
                           OutputDirectory* reuse_from = nullptr);

// Stages every net of `built` that was not reused under its file name, with its recipe and
// what `train` records (model_info_of).
void save_teacher(const BuiltTeacher& built, const OutputDirectory& out,
                  const data::Dataset& train);

// A model's report: its test evaluation, size and training time; with the model itself, also
// its evaluation on the validation split (d.heldout) when there is one.
ModelReport report_for(const EvalResult& test, int64_t parameters, int64_t multiply_adds,
                       double train_seconds);
ModelReport report_for(const Model& model, const ExperimentData& d, const TrainerOptions& o,
                       double train_seconds);
ModelReport report_for(BuiltTeacher& built, const ExperimentData& d, const TrainerOptions& o);

// Throws ConfigError when the teacher's class count differs from the data's.
void check_teacher_classes(BuiltTeacher& built, const ExperimentData& d, torch::Device device);

// `callbacks` plus a MetricsJsonl writing to `path`.
Callbacks with_metrics_file(const std::string& path, Callbacks callbacks);

}  // namespace distillery::detail
