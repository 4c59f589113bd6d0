#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file experiment.h
/// Whole experiments as the command-line program runs them: load data, build the teacher
/// (train it, or load a checkpoint, state dict, TorchScript file or ensemble), train the
/// student from scratch on hard labels, distil a second copy of the same student from the
/// teacher (same seed, same epochs), and write the results. Reproduces the comparison of
/// Hinton et al. 2015, §3 (teacher vs small net vs distilled small net), including the
/// omitted-class experiment.

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "distillery/app/config.h"
#include "distillery/app/experiment_data.h"
#include "distillery/trainer.h"

namespace distillery {

/// What one model achieved, as written to results.json.
struct ModelReport {
  /// Misclassified test images (out of `test_examples`; 10,000 for the full test set).
  int64_t test_errors = 0;
  /// Size of the test set evaluated.
  int64_t test_examples = 0;
  /// (test_examples - test_errors) / test_examples, one correctly rounded division.
  double test_accuracy = 0.0;
  /// Trainable parameters (summed over ensemble members).
  int64_t parameters = 0;
  /// Multiply-adds of one forward pass for one image (summed over members); -1 when unknown
  /// (a TorchScript teacher).
  int64_t multiply_adds = 0;
  /// Wall time of training, in seconds (0 for a loaded teacher).
  double train_seconds = 0.0;
  /// Test errors per class, `[C]`.
  std::vector<int64_t> errors_per_class;
  /// The same model on the validation split (the held-out training images, data.heldout),
  /// after the last epoch: the figure to choose settings by, as the test set is reported once.
  /// Absent (null in JSON) when data.heldout is 0.
  std::optional<EvalResult> validation;
};

/// Results of `run_experiment`.
struct ExperimentResult {
  ModelReport teacher;
  /// Absent when the transfer set has no labels (nothing to train a scratch student on) or
  /// the config's `student.scratch` is false.
  std::optional<ModelReport> student_scratch;
  ModelReport student_distilled;
  /// How the soft targets were obtained: "stored" (read from a file), "computed" (computed
  /// and stored), or "online" (teacher run every step).
  std::string soft_targets;
  /// Wall time of computing the soft targets in this run, in seconds ("computed": the
  /// teacher's passes over the transfer set, or over its augmented views); 0 otherwise (the
  /// teacher's online passes are part of the distilled student's train_seconds).
  double soft_targets_seconds = 0.0;
  /// With omitted classes: the distilled student after the §3 bias correction.
  std::optional<ModelReport> student_distilled_corrected;
  /// The bias shift chosen for each omitted class, in the order of `data.omit_classes`.
  std::vector<double> bias_shifts;
  /// The teacher files of out_dir that were reused instead of training the teacher (or a
  /// member) again (written by an earlier run with the same recipe); empty otherwise.
  std::vector<std::string> teacher_reused;
};

/// The JSON of a report: the fields above under their own names.
nlohmann::json to_json(const ModelReport& report);

/// Runs the experiment of `config` and writes to `config.out_dir`: `results.json` (objects
/// `teacher`, `student_scratch`, `student_distilled` — each a ModelReport — plus the
/// distillation settings and, with omitted classes, `student_distilled_corrected` and
/// `bias_shifts`), `config.json` (the resolved config), `metrics.jsonl` (one line per epoch
/// and phase), and the models (`teacher.pt` or `teacher_member_<i>.pt`,
/// `student_scratch.pt`, `student_distilled.pt`). The outputs are written to
/// `<out_dir>/.incomplete/` and moved into `out_dir` only when the run succeeds, so a failed
/// run never replaces the outputs of an earlier one. With `distillation.soft_targets` =
/// "auto", `<out_dir>/soft_targets.bin` is reused when it matches the teacher and data.
/// Throws std::runtime_error (data, I/O, NaN loss, stale soft targets) or ConfigError.
ExperimentResult run_experiment(const ExperimentConfig& config,
                                const std::vector<std::shared_ptr<Callback>>& callbacks = {});

/// Trains one model of `config` (`which` = "teacher" or "student") on hard labels, saves it
/// to `<out_dir>/train-<which>/<which>.pt` and returns its report; also writes the resolved
/// config and metrics.jsonl there (never into the files of `run`). Throws as `run_experiment`, and ConfigError when `which` is "teacher" and
/// the teacher is not a single architecture to train.
ModelReport train_model(const ExperimentConfig& config, const std::string& which,
                        const std::vector<std::shared_ptr<Callback>>& callbacks = {});

/// Builds the teacher of `config` (training it if needed), runs it over the transfer set
/// once and writes the soft targets to `output` (default `<out_dir>/soft_targets.bin`).
/// Returns the path written. Throws as `run_experiment`.
std::string write_soft_targets(const ExperimentConfig& config, const std::string& output = "",
                               const std::vector<std::shared_ptr<Callback>>& callbacks = {});

}  // namespace distillery
