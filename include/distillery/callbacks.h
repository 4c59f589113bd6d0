#pragma once
/// @file callbacks.h
/// Ready-made training callbacks: evaluation after each epoch, progress display and a
/// per-epoch metrics file.

#include <string>

#include "distillery/trainer.h"

namespace distillery {

/// Evaluates the model being trained on a labeled set after every epoch (in eval mode, in
/// batches of the phase's `eval_batch_size`, on its device) and adds the result to
/// `EpochMetrics::evaluations` under `name`; `TrainResult::evaluation(name)` gives the last.
/// Example: `TrainOptions().callbacks({std::make_shared<Evaluate>("validation", heldout)})`,
/// or the shorthand `TrainOptions().evaluate_on("validation", heldout)`.
class Evaluate : public Callback {
 public:
  /// Throws c10::Error "<name>: the set to evaluate must be labeled" (or "... is empty").
  Evaluate(std::string name, data::Dataset dataset);
  /// Keeps the model, device and batch size of the phase.
  void on_train_begin(const TrainContext& context) override;
  /// Adds `evaluations[name]`. Throws c10::Error if the model's logits do not have one column
  /// per class of the set.
  void on_evaluate(EpochMetrics& metrics) override;

 private:
  std::string name_;
  data::Dataset dataset_;
  TrainContext context_;
};

/// Shows training progress. On a terminal (stderr is a TTY) one line is redrawn in place with
/// phase, epoch, batch, samples/s and ETA; otherwise (a log file, CI) a plain log line is
/// written per epoch. Epoch summaries (loss, and errors and accuracy of each evaluation) go
/// through spdlog at info level either way.
class ProgressLogger : public Callback {
 public:
  /// @param interactive force the redrawn line on (true) or off (false); by default it is on
  /// exactly when stderr is a terminal.
  explicit ProgressLogger(bool interactive);
  /// The redrawn line exactly when stderr is a terminal.
  ProgressLogger();
  /// Redraws the progress line (at most ten times a second) when interactive.
  void on_batch_end(const BatchProgress& progress) override;
  /// Logs the epoch's loss, each evaluation's errors and accuracy, throughput and time at info
  /// level.
  void on_epoch_end(const EpochMetrics& metrics) override;

 private:
  bool interactive_;
  double last_draw_ = -1.0;
};

/// Appends one JSON object per epoch to a JSON Lines file (e.g. `<out_dir>/metrics.jsonl`):
/// `{"phase", "epoch", "epochs", "train_loss", "learning_rate", "seconds",
///   "data_seconds", "samples_per_second"}`, and for each evaluation <name> (see Evaluate)
///   `"<name>_errors", "<name>_examples", "<name>_accuracy", "<name>_nll"`.
/// Throws std::runtime_error naming the file if it cannot be written.
class MetricsJsonl : public Callback {
 public:
  /// @param path file to append to; created with its directories if missing.
  explicit MetricsJsonl(std::string path);
  /// Appends the epoch's line. Throws std::runtime_error naming the file on I/O failure.
  void on_epoch_end(const EpochMetrics& metrics) override;

 private:
  std::string path_;
};

}  // namespace distillery
