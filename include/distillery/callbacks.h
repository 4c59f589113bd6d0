#pragma once
/// @file callbacks.h
/// Ready-made training callbacks: progress display and a per-epoch metrics file.

#include <string>

#include "distillery/trainer.h"

namespace distillery {

/// Shows training progress. On a terminal (stderr is a TTY) one line is redrawn in place with
/// phase, epoch, batch, samples/s and ETA; otherwise (a log file, CI) a plain log line is
/// written per epoch. Epoch summaries (loss, test errors, accuracy) go through spdlog at info
/// level either way.
class ProgressLogger : public Callback {
 public:
  /// @param interactive force the redrawn line on (true) or off (false); by default it is on
  /// exactly when stderr is a terminal.
  explicit ProgressLogger(bool interactive);
  ProgressLogger();
  /// Redraws the progress line (at most ten times a second) when interactive.
  void on_batch_end(const BatchProgress& progress) override;
  /// Logs the epoch's loss, test errors, accuracy, throughput and time at info level.
  void on_epoch_end(const EpochMetrics& metrics) override;

 private:
  bool interactive_;
  double last_draw_ = -1.0;
};

/// Appends one JSON object per epoch to a JSON Lines file (e.g. `<out_dir>/metrics.jsonl`):
/// `{"phase", "epoch", "epochs", "train_loss", "learning_rate", "seconds",
///   "samples_per_second", "test_errors", "test_accuracy", "test_nll"}`.
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
