#pragma once
/// @file experiment.h
/// Whole experiments as the command-line program runs them: load data, train (or load) the
/// teacher, train the student from scratch on hard labels, distil a second copy of the same
/// student from the teacher (same seed, same epochs), and write the results.
/// Reproduces the comparison of Hinton et al. 2015, §3 (teacher vs small net vs distilled
/// small net).

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "distillery/config.h"
#include "distillery/trainer.h"

namespace distillery {

/// What one model achieved, as written to results.json.
struct ModelReport {
  /// Misclassified test images (out of `test_examples`; 10,000 for the full test set).
  int64_t test_errors = 0;
  /// Size of the test set evaluated.
  int64_t test_examples = 0;
  /// 1 - test_errors / test_examples.
  double test_accuracy = 0.0;
  /// Trainable parameters.
  int64_t parameters = 0;
  /// Multiply-adds of one forward pass for one image.
  int64_t multiply_adds = 0;
  /// Wall time of training, in seconds (0 for a teacher loaded from a checkpoint).
  double train_seconds = 0.0;
};

/// Results of `run_experiment`.
struct ExperimentResult {
  ModelReport teacher;
  ModelReport student_scratch;
  ModelReport student_distilled;
};

/// The JSON of a report: the fields above under their own names.
nlohmann::json to_json(const ModelReport& report);

/// Loads the train and test splits named by `config.data`, cut to the configured limits.
/// Throws std::runtime_error naming the file on missing or malformed data.
std::pair<data::Dataset, data::Dataset> load_data(const DataConfig& config);

/// Runs the experiment of `config` and writes to `config.out_dir`: `results.json` (objects
/// `teacher`, `student_scratch`, `student_distilled`, each a ModelReport, plus the
/// distillation settings), `config.json` (the resolved config), `metrics.jsonl` (one line per
/// epoch and phase), and `teacher.pt`, `student_scratch.pt`, `student_distilled.pt`
/// (`save_model` files). All files are written atomically.
/// `callbacks` receive the progress of every phase (a MetricsJsonl is always added).
/// Throws std::runtime_error (data, I/O, NaN loss) or ConfigError (teacher checkpoint whose
/// class count or input shape does not match the data).
ExperimentResult run_experiment(const ExperimentConfig& config,
                                const std::vector<std::shared_ptr<Callback>>& callbacks = {});

/// Trains one model of `config` (`which` = "teacher" or "student") on hard labels, saves it
/// to `<out_dir>/<which>.pt` and returns its report; also writes the resolved config and
/// metrics.jsonl. Throws as `run_experiment`, and std::invalid_argument for another `which`.
ModelReport train_model(const ExperimentConfig& config, const std::string& which,
                        const std::vector<std::shared_ptr<Callback>>& callbacks = {});

}  // namespace distillery
