#pragma once
// The `distillery evaluate` command (tools/evaluate.cpp): a model file scored on a data set;
// and the reading of a model file that `evaluate` and `export` share.

#include <cstdint>
#include <string>

#include "distillery/app/model_specs.h"

namespace distillery::tool {

/// The command's flags.
struct EvaluateOptions {
  std::string data_dir;
  bool data_given = false;  // --data on the command line (else the Fashion-MNIST default)
  std::string dataset;      // --dataset, or empty
  std::string split = "test";
  int64_t limit = 0;
  std::string layout = "auto";  // --layout, for .npy data (DataConfig::layout)
  bool as_json = false;
};

/// The model file at `model_path` (load_model); a PyTorch pickle or TorchScript file is refused
/// with a message saying that `distillery <command>` takes a file written by distillery.
/// Throws std::runtime_error naming the file, or what load_model throws.
distillery::SavedModel load_model_file(const std::string& model_path, const std::string& command);

/// Scores the model file at `model_path` on the split of `o.data_dir` that `o` names, printing a
/// line (or JSON with `o.as_json`). Returns the exit code. Throws ConfigError (exit 2) on
/// contradicting flags, std::runtime_error naming the file on unreadable models or data.
int evaluate(const std::string& model_path, const EvaluateOptions& o);

}  // namespace distillery::tool
